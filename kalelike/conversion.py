"""The library's verbs: analyse a notebook, convert it, write the script."""

import contextlib
import gc
import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from kalelike import config, flow, nesting, notebook, render, settings
from kalelike.errors import FindingsError, UsageError
from kalelike.findings import Finding, blocking
from kalelike.model import Pipeline


@dataclass(frozen=True)
class Conversion:
    pipeline: Pipeline
    script: str  # the generated script's text

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.pipeline.findings if f.severity == "warning"]


def analyze(
    path: Path, base_image: str = "", options: settings.Options | None = None
) -> Pipeline:
    """Read a notebook and analyse it; findings are in the result, not raised.

    `base_image` is a command-line flag, "" when not given: the notebook's
    metadata, then the project's `[tool.nb2pipe]`, fill in what it leaves out.
    """
    with _without_cycle_collection():
        return _analyze(path, base_image, options)


def _analyze(path: Path, base_image: str, options: settings.Options | None) -> Pipeline:
    project = config.for_notebook(path)
    nb = config.with_project(notebook.read(path), project)
    options = replace(
        options or settings.Options(),
        project_image=str(project.notebook_defaults.get("base_image") or ""),
    )
    if base_image:
        options = replace(options, base_image=base_image)
    settings.check_options(options)
    try:
        return flow.build(nb, options)
    except (RecursionError, MemoryError):
        refusal = nesting.refusal(nb)
        if refusal is None:
            raise
        return refusal


@contextlib.contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """The analysis makes many objects and few cycles; the cycle collector's
    passes over a heap that grows with the notebook would make it quadratic."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def convert(
    path: Path,
    base_image: str = "",
    script_name: str = "",
    options: settings.Options | None = None,
) -> Conversion:
    """Analyse and render; raises FindingsError when a finding blocks conversion."""
    pipeline = analyze(path, base_image, options)
    if blocking(pipeline.findings):
        raise FindingsError(pipeline.findings)
    script, sizes = render.render(pipeline, script_name or render.script_name(path))
    too_large = render.oversized_steps(pipeline, sizes)
    if too_large:
        raise FindingsError(pipeline.findings + too_large)
    return Conversion(pipeline, script)


def write_atomically(path: Path, text: str) -> None:
    """Write beside the target and rename, so a failure leaves no partial file.

    The script gets the mode the file it replaces had, else the mode any new
    file gets under the umask (mkstemp's own 0600 would hide it from the team).
    """
    if not path.parent.is_dir():
        raise UsageError(f"{path}: cannot write: no such folder {path.parent}")
    mode = _mode(path)
    try:
        fd, temp = tempfile.mkstemp(".tmp", f".{path.name}.", path.parent)
    except OSError as e:
        raise UsageError(f"{path}: cannot write: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException as e:
        Path(temp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise UsageError(f"{path}: cannot write: {e.strerror or e}") from None
        raise


def _mode(path: Path) -> int:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        umask = os.umask(0)  # reading the umask means setting it, then back
        os.umask(umask)
        return 0o666 & ~umask


def output_path(source: Path, output: Path | None) -> Path:
    target = (
        output if output is not None else source.with_name(render.script_name(source))
    )
    if target.resolve() == source.resolve() or _same_file(target, source):
        raise UsageError(f"{target}: refusing to overwrite the input notebook")
    if target.is_symlink():  # write through the link, which stays a link
        target = Path(os.path.realpath(target))
    if target.exists() and not target.is_file():
        raise UsageError(
            f"{target}: not a regular file; name a file to write, or `-o -` to "
            "print the script"
        )
    return target


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths are one file, hard links included."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # either does not exist yet
        return False
