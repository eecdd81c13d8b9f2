"""Loading a notebook file: the one place that touches nbformat."""

import json
from dataclasses import dataclass
from pathlib import Path

from kalelike.errors import UsageError


@dataclass(frozen=True)
class Cell:
    """A notebook cell as the rest of nb2pipe sees it."""

    index: int  # position in the notebook's cell list, from 0
    kind: str  # "code", "markdown" or "raw"
    source: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Notebook:
    path: Path
    cells: tuple[Cell, ...]
    metadata: dict[str, object]

    @property
    def name(self) -> str:
        return self.path.name


def read(path: Path) -> Notebook:
    """Read and validate an .ipynb file; any problem is one UsageError line."""
    import nbformat  # deferred: importing it is most of a conversion's cost

    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not a notebook") from None
    except UnicodeDecodeError as e:
        raise UsageError(
            f"{path}: not UTF-8 text (byte {e.start}); notebooks are UTF-8 JSON"
        ) from None
    except OSError as e:
        raise UsageError(f"{path}: cannot read: {e.strerror}") from None
    if not text.strip():
        raise UsageError(f"{path}: the file is empty, not a notebook")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(
            f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})"
        ) from None
    if not isinstance(raw, dict) or "cells" not in raw and "worksheets" not in raw:
        raise UsageError(f"{path}: JSON, but not a notebook (no 'cells')")
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as e:  # nbformat raises several unrelated types
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"{path}: not a valid notebook: {reason}") from None
    _check_kernel(path, nb.metadata)
    cells = tuple(
        Cell(
            index=i,
            kind=cell.cell_type,
            source=cell.source,
            tags=tuple(str(t) for t in cell.get("metadata", {}).get("tags", [])),
        )
        for i, cell in enumerate(nb.cells)
    )
    return Notebook(path=path, cells=cells, metadata=dict(nb.metadata))


def _check_kernel(path: Path, metadata: dict[str, object]) -> None:
    kernelspec = metadata.get("kernelspec") or {}
    language_info = metadata.get("language_info") or {}
    language = ""
    if isinstance(kernelspec, dict):
        language = str(kernelspec.get("language") or "")
    if not language and isinstance(language_info, dict):
        language = str(language_info.get("name") or "")
    if language and language.lower() != "python":
        raise UsageError(
            f"{path}: the notebook's kernel language is {language!r}; "
            "nb2pipe converts Python notebooks only"
        )
