"""Running a converted pipeline on this machine with kfp.local."""

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kalelike import render
from kalelike.conversion import Conversion
from kalelike.errors import RunFailed, UsageError

ANSI = re.compile(r"\x1b\[[0-9;]*m")
STARTED = re.compile(r"Executing task '([^']+)'")
FINISHED = re.compile(r"Task '([^']+)' finished with status (\w+)")
CELL_FRAME = re.compile(r'File "(?P<file>.+), cell (?P<cell>\d+)", line (?P<line>\d+)')


@dataclass
class StepLog:
    name: str
    started: float
    lines: list[str] = field(default_factory=list)
    seconds: float = 0.0
    status: str = ""


def run_local(
    conversion: Conversion,
    pipeline_root: Path,
    arguments: list[str],
    echo: Callable[[str], None],
    verbose: bool = False,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> list[StepLog]:
    """Run every step in a subprocess of this Python; one line a finished step."""
    try:
        pipeline_root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=pipeline_root):
            pass
    except OSError as e:
        reason = e.strerror or str(e)
        raise UsageError(
            f"cannot write the run's folder {pipeline_root}: {reason}; "
            "run from a folder you can write to, or give --pipeline-root"
        ) from None
    with tempfile.TemporaryDirectory(prefix="nb2pipe-") as folder:
        script = Path(folder) / "pipeline.py"
        script.write_text(conversion.script, encoding="utf-8")
        command = [sys.executable, str(script), "--local"]
        command += ["--pipeline-root", str(pipeline_root)]
        for pair in arguments:
            command += ["--param", pair]
        notebook = conversion.pipeline.notebook
        names = render.task_names(conversion.pipeline)
        return _follow(command, echo, verbose, notebook, names, cwd, env)


def _follow(
    command: list[str],
    echo: Callable[[str], None],
    verbose: bool,
    notebook: str,
    names: dict[str, str],
    cwd: Path | None,
    env: dict[str, str] | None = None,
) -> list[StepLog]:
    steps: list[StepLog] = []
    current: StepLog | None = None
    tail: list[str] = []
    # A session of its own: the steps kfp starts die with the run when it stops,
    # and a Ctrl-C reaches nb2pipe alone, which then ends them all.
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
        start_new_session=True,
    ) as child:
        try:
            assert child.stdout is not None
            for raw in child.stdout:
                line = ANSI.sub("", raw.rstrip("\n"))
                if verbose:
                    echo(line)
                tail = (tail + [line])[-40:]
                if m := STARTED.search(line):
                    name = names.get(m.group(1), m.group(1))
                    current = StepLog(name, time.perf_counter())
                    steps.append(current)
                elif (m := FINISHED.search(line)) and current is not None:
                    current.seconds = time.perf_counter() - current.started
                    current.status = m.group(2)
                    if not verbose:
                        word = "done" if current.status == "SUCCESS" else "FAILED"
                        echo(f"{current.name}: {word} in {current.seconds:.2f} s")
                elif current is not None and not current.status:
                    current.lines.append(line)  # the step's own log, not kfp's after
            child.wait()
        except BaseException:
            _stop(child)
            raise
    failed = next((s for s in steps if s.status not in ("SUCCESS", "")), None)
    if failed is not None:
        hint = "" if verbose else "; run with -v for the full log"
        raise RunFailed(_failure(failed, notebook) + hint)
    if child.returncode != 0 or not steps:
        detail = "\n".join(tail[-15:])
        raise RunFailed(
            f"the pipeline did not run (exit {child.returncode}):\n{detail}"
        )
    return steps


def _stop(child: subprocess.Popen[Any]) -> None:
    """End the run and every step process it started: asked first, then forced."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(5.0)


def _failure(step: StepLog, notebook: str) -> str:
    """Name the failed step, the notebook cell and line, and the error."""
    # kfp indents the step's log by four spaces; a traceback's own indentation
    # then tells frames and code (indented) from the exception line (not).
    lines = [line.removeprefix("    ") for line in step.lines]
    where, error, last_frame = "", "", -1
    for i, line in enumerate(lines):
        if m := CELL_FRAME.search(line):
            where = f" at {notebook}:cell {m.group('cell')}:{m.group('line')}"
            last_frame = i
    if last_frame < 0:  # failed outside the cells: take the traceback's end
        last_frame = max(
            (i for i, x in enumerate(lines) if x.startswith("Traceback")),
            default=len(lines),
        )
    if last_frame < len(lines):
        error = next(
            (x for x in lines[last_frame + 1 :] if x.strip() and not x[0].isspace()), ""
        )
    message = f"step {step.name!r} failed{where}"
    return message + (f": {error}" if error else "")
