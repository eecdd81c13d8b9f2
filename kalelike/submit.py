"""Starting a run of a converted pipeline on a KFP server.

The generated script does the submitting (`--run`), so `nb2pipe submit` and the
script reach a cluster through the same code; this module runs the script and
turns its exit code into ours.
"""

import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from kalelike.conversion import Conversion
from kalelike.errors import InternalError, SubmitFailed, UsageError


def submit(
    conversion: Conversion,
    host: str,
    arguments: list[str],
    echo: Callable[[str], None],
) -> None:
    """Start one run; the script's output (the run's address) goes to `echo`.

    The experiment is the script's own default, set when it was converted.
    """
    with tempfile.TemporaryDirectory(prefix="nb2pipe-") as folder:
        script = Path(folder) / "pipeline.py"
        script.write_text(conversion.script, encoding="utf-8")
        command = [sys.executable, str(script), "--run"]
        command += ["--host", host] if host else []
        for pair in arguments:
            command += ["--param", pair]
        done = subprocess.run(
            command, capture_output=True, text=True, encoding="utf-8", cwd=folder
        )
    for line in done.stdout.splitlines():
        echo(line)
    if done.returncode != 0:
        raise _failure(done.returncode, done.stderr)


def _failure(code: int, stderr: str) -> Exception:
    last = (stderr.strip().splitlines() or [f"exit code {code}"])[-1]
    if code == SubmitFailed.exit_code:
        return SubmitFailed(last)
    if code in (1, 2):  # a bad --param, as the script's own parser says
        return UsageError(last)
    return InternalError(f"the generated script failed to submit: {last}")
