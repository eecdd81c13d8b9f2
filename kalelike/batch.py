"""Many notebooks in one call: find them, decide where each script goes, convert
them (on every core when there are many), and write or check the results.

Conversions run first and touch nothing; writing, checking and diffing are
decided afterwards from each conversion's text, so `--check` writes nothing.
"""

import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kalelike import config, conversion, render, settings
from kalelike.errors import (
    FindingsError,
    InternalError,
    Nb2PipeError,
    StaleScripts,
    UsageError,
)
from kalelike.findings import Finding

Mode = Literal["write", "check", "diff"]
Echo = Callable[[str], None]

# Up to this many notebooks convert in this process: starting worker processes
# costs more than it saves.
HANDFUL = 4
COMPILE_TIMEOUT = 600  # seconds; compiling imports kfp, about 2 s


@dataclass(frozen=True)
class Job:
    """One notebook to convert, and where its script goes (None: stdout)."""

    notebook: Path
    target: Path | None
    options: settings.Options = settings.Options()  # the flags given
    yaml: bool = False  # also compile the pipeline YAML


@dataclass(frozen=True)
class Outcome:
    """What converting one notebook gave: texts to write, or why not."""

    job: Job
    exit_code: int
    script: str = ""
    yaml: str = ""
    findings: tuple[Finding, ...] = ()
    error: str = ""  # a usage or internal error's message


def find_notebooks(paths: Iterable[Path]) -> list[Path]:
    """The notebooks named, and the `*.ipynb` under the folders named, each once.

    Folders whose names start with a dot (`.ipynb_checkpoints`, `.git`, `.venv`)
    are not searched: they hold copies and other people's notebooks.
    """
    found: dict[Path, Path] = {}
    for path in paths:
        if path.is_dir():
            notebooks = _walk(path)
            if not notebooks:
                raise UsageError(f"{path}: a folder with no notebooks (*.ipynb) in it")
        elif path.exists():
            notebooks = [path]
        else:
            raise UsageError(f"{path}: no such file or folder")
        for nb in notebooks:
            found.setdefault(nb.resolve(), nb)
    return list(found.values())


def _walk(folder: Path) -> list[Path]:
    notebooks = []
    for root, folders, files in os.walk(folder):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        notebooks += [Path(root) / f for f in sorted(files) if f.endswith(".ipynb")]
    return notebooks


def plan(
    notebooks: list[Path],
    output: Path | None = None,
    output_dir: Path | None = None,
    options: settings.Options | None = None,
    yaml: bool = False,
) -> list[Job]:
    """A job per notebook; `output` is `-o` (one notebook only, '-' for stdout)."""
    if output is not None and output_dir is not None:
        raise UsageError("-o/--output and --output-dir exclude each other")
    if output is not None and len(notebooks) != 1:
        raise UsageError(
            f"-o/--output takes one notebook, not {len(notebooks)}; "
            "use --output-dir for several"
        )
    jobs = [
        Job(nb, _target(nb, output, output_dir), options or settings.Options(), yaml)
        for nb in notebooks
    ]
    if yaml and any(job.target is None for job in jobs):
        raise UsageError("--yaml needs a script file, not -o -")
    _refuse_collisions(jobs)
    return jobs


def _target(nb: Path, output: Path | None, output_dir: Path | None) -> Path | None:
    """Where the script goes: -o, --output-dir, [tool.nb2pipe], else beside."""
    if output is not None:
        return None if str(output) == "-" else conversion.output_path(nb, output)
    folder = output_dir or config.for_notebook(nb).output_dir
    if folder is None:
        return conversion.output_path(nb, None)
    return conversion.output_path(nb, config.display(folder) / render.script_name(nb))


def _refuse_collisions(jobs: list[Job]) -> None:
    """Two notebooks of one name converted into one folder would overwrite."""
    seen: dict[Path, Path] = {}
    for job in jobs:
        if job.target is None:
            continue
        other = seen.setdefault(job.target.resolve(), job.notebook)
        if other != job.notebook:
            raise UsageError(
                f"{other} and {job.notebook} would both write {job.target}; "
                "convert them into different folders"
            )


def convert_one(job: Job) -> Outcome:
    """Convert one notebook; every problem becomes the outcome's exit code."""
    name = job.target.name if job.target is not None else ""
    try:
        result = conversion.convert(job.notebook, script_name=name, options=job.options)
        yaml = compile_yaml(result.script, name) if job.yaml else ""
    except FindingsError as e:
        return Outcome(job, e.exit_code, findings=tuple(e.findings))
    except Nb2PipeError as e:
        return Outcome(job, e.exit_code, error=str(e))
    except Exception as e:  # a bug in nb2pipe: this notebook fails, not the rest
        message = f"{job.notebook}: internal error: {type(e).__name__}: {e}"
        return Outcome(job, InternalError.exit_code, error=message)
    return Outcome(job, 0, result.script, yaml, tuple(result.warnings))


def compile_yaml(script: str, name: str) -> str:
    """The pipeline YAML, from running the script's own compile in a subprocess.

    A subprocess keeps kfp (1.4 s to import) out of nb2pipe itself, and compiles
    exactly what a user who runs the script gets.
    """
    import subprocess  # deferred, as difflib below: most runs need neither

    with tempfile.TemporaryDirectory(prefix="nb2pipe-") as folder:
        path = Path(folder) / name
        path.write_text(script, encoding="utf-8")
        yaml_path = path.with_suffix(".yaml")
        done = subprocess.run(
            [sys.executable, str(path), "--output", str(yaml_path)],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=COMPILE_TIMEOUT,
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise InternalError(f"the generated script {name} did not compile: {last}")
        return yaml_path.read_text(encoding="utf-8")


def convert_all(jobs: list[Job]) -> Iterator[Outcome]:
    """Convert every job, in order; on all cores when there are more than a few."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    threshold = 1 if any(job.yaml for job in jobs) else HANDFUL
    if len(jobs) <= threshold or cores < 2:
        yield from map(convert_one, jobs)
        return
    from concurrent.futures import ProcessPoolExecutor

    import nbformat  # noqa: F401 - imported once here; forked workers inherit it

    workers = min(cores, len(jobs))
    chunk = max(1, len(jobs) // (workers * 4))
    with ProcessPoolExecutor(workers) as pool:
        yield from pool.map(convert_one, jobs, chunksize=chunk)


def texts(outcome: Outcome) -> list[tuple[Path, str]]:
    """The files a successful conversion makes: the script, and its YAML."""
    target = outcome.job.target
    assert target is not None and outcome.exit_code == 0
    files = [(target, outcome.script)]
    if outcome.job.yaml:
        files.append((target.with_suffix(".yaml"), outcome.yaml))
    return files


def unified_diff(path: Path, text: str) -> str:
    """How the file on disk differs from `text`; "" when it is current."""
    old = _on_disk(path)
    if old == text:
        return ""
    import difflib

    lines = difflib.unified_diff(
        (old or "").splitlines(True),
        text.splitlines(True),
        fromfile=f"{path} (on disk)" if old is not None else f"{path} (missing)",
        tofile=f"{path} (from the notebook)",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _on_disk(path: Path) -> str | None:
    """The file's text, None when there is no file to read (a folder counts as
    none: writing onto it then fails with a message)."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def process(
    jobs: list[Job], mode: Mode, out: Echo, err: Echo, fail_on_change: bool = False
) -> int:
    """Convert every job, then write, check or diff; returns the worst exit code.

    `out` gets the payload (a script for `-o -`, diffs), `err` the rest. With
    `fail_on_change`, writing a file fails like --check: pre-commit notices a
    hook that changes a committed file, but not one that adds a file.
    """
    worst = 0
    stale = compared = 0
    for outcome in convert_all(jobs):
        worst = max(worst, outcome.exit_code)
        for finding in outcome.findings:
            err(finding.format(str(outcome.job.notebook)))
        if outcome.error:
            err(f"nb2pipe: {outcome.error}")
        if outcome.exit_code:
            continue
        if outcome.job.target is None:
            out(outcome.script)
            continue
        for path, text in texts(outcome):
            stale += _settle(path, text, outcome.job.notebook, mode, out, err)
            compared += 1
    if stale and (mode == "check" or fail_on_change):
        worst = max(worst, StaleScripts.exit_code)
    if mode == "write" and fail_on_change and stale:
        err(f"{stale} of {compared} files were stale or missing and are written now")
    if mode != "write" and compared:
        hint = f"; the same command without --{mode} updates them" if stale else ""
        err(f"{stale} of {compared} files stale or missing{hint}")
    return worst


def _settle(
    path: Path, text: str, notebook: Path, mode: Mode, out: Echo, err: Echo
) -> int:
    """Write or report one file; 1 when it was stale or missing, else 0."""
    diff = unified_diff(path, text)
    if not diff:
        if mode == "write":
            err(f"{path} is current")
        return 0
    if mode == "write":
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(
                f"{path}: cannot write: cannot make the folder {e.filename}: "
                f"{e.strerror}"
            ) from None
        conversion.write_atomically(path, text)
        err(f"wrote {path}")
    else:
        out(diff)
        state = "stale" if path.exists() else "missing"
        err(f"{path} is {state} (from {notebook})")
    return 1
