"""The exceptions nb2pipe raises, each carrying the exit code the CLI returns.

Problems in a notebook's code are findings (see `findings.py`), not exceptions:
only unreadable input, bad options, failed runs and our own bugs raise.
"""

from kalelike.findings import Finding


class Nb2PipeError(Exception):
    """Base class: a one-line message for the user and an exit code."""

    exit_code = 70


class FindingsError(Nb2PipeError):
    """The notebook cannot be converted faithfully; the findings say why."""

    exit_code = 1

    def __init__(self, findings: list[Finding]) -> None:
        errors = [f for f in findings if f.severity == "error"]
        super().__init__(f"{len(errors)} finding(s) block the conversion")
        self.findings = findings


class StaleScripts(Nb2PipeError):
    """A script (or its YAML) was stale or missing: `convert --check` found it, or
    `convert --fail-on-change` wrote it."""

    exit_code = 1


class UsageError(Nb2PipeError):
    """Bad command-line usage or an unreadable input file."""

    exit_code = 2


class RunFailed(Nb2PipeError):
    """A pipeline step failed while running locally."""

    exit_code = 3


class SubmitFailed(Nb2PipeError):
    """The KFP server could not be reached, or refused the run."""

    exit_code = 4


class InternalError(Nb2PipeError):
    """A bug in nb2pipe itself."""

    exit_code = 70


EXIT_CODES = {
    0: "success",
    1: "findings block the conversion, or a script was stale or missing "
    "(--check, --fail-on-change)",
    2: "bad usage or unreadable input",
    3: "a pipeline step failed in a local run",
    4: "the KFP server could not be reached or refused the run (submit)",
    70: "internal error in nb2pipe (please report it)",
    130: "interrupted (Ctrl-C)",
    143: "terminated (SIGTERM, as a cancelled CI job or `timeout` sends)",
}
