"""The library's verbs: analyse a notebook, convert it, write the script."""

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kalelike import flow, notebook, render
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


def analyze(path: Path, base_image: str = "") -> Pipeline:
    """Read a notebook and analyse it; findings are in the result, not raised."""
    return flow.build(notebook.read(path), base_image=base_image)


def convert(path: Path, base_image: str = "", script_name: str = "") -> Conversion:
    """Analyse and render; raises FindingsError when a finding blocks conversion."""
    pipeline = analyze(path, base_image)
    if blocking(pipeline.findings):
        raise FindingsError(pipeline.findings)
    script = render.render(pipeline, script_name or render.script_name(path))
    return Conversion(pipeline, script)


def write_atomically(path: Path, text: str) -> None:
    """Write beside the target and rename, so a failure leaves no partial file."""
    folder = path.parent if str(path.parent) else Path(".")
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def output_path(source: Path, output: Path | None) -> Path:
    target = output if output is not None else source.with_name(render.script_name(source))
    if target.resolve() == source.resolve():
        raise UsageError(f"{target}: refusing to overwrite the input notebook")
    return target
