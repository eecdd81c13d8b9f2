"""Starting a run of a converted pipeline on a KFP server.

The generated script does the submitting (`--run`), so `nb2pipe submit` and the
script reach a cluster through the same code; this module runs the script and
turns its exit code into ours.
"""

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

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
        if line.strip() not in KFP_NOISE:
            echo(line)
    if done.returncode != 0:
        where = host or conversion.pipeline.settings.host
        raise _failure(done.returncode, done.stderr, where)


# What kfp.Client prints on stdout, not stderr, when it finds no kube config:
# true of every machine outside a cluster, and no news to the user.
KFP_NOISE = frozenset({"Failed to load kube config."})
_REFUSED = re.compile(r"[A-Za-z]*Connection\(host=[^)]*\): [^:]*: \[Errno \d+\] ")


def check_host(host: str) -> None:
    """`--host` is the server's address: http:// or https://, then a host."""
    if not host:
        return
    parts = urlsplit(host) if host.isprintable() and " " not in host else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(
            f"--host {host!r} is not an http:// or https:// address; give the KFP "
            "server's URL, like http://localhost:8080"
        )


def _failure(code: int, stderr: str, host: str = "") -> Exception:
    last = (stderr.strip().splitlines() or [f"exit code {code}"])[-1]
    if code == SubmitFailed.exit_code:
        last = _REFUSED.sub("", last)  # urllib3's repr of its connection object
        if not host and not os.environ.get("KF_PIPELINES_ENDPOINT"):
            last += (
                " (no --host, no kfp_host in the notebook, no $KF_PIPELINES_ENDPOINT);"
                " pass --host URL"
            )
        return SubmitFailed(last)
    if code in (1, 2):  # a bad --param, as the script's own parser says
        return UsageError(last)
    return InternalError(f"the generated script failed to submit: {last}")
