"""Loading a notebook file: the one place that touches nbformat."""

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

from kalelike import slim
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

    raw = _parse(path, _read_bytes(path))
    if not isinstance(raw, dict) or "cells" not in raw and "worksheets" not in raw:
        raise UsageError(
            f"{path}: JSON, but not a notebook (no 'cells'){_suffix_hint(path)}"
        )
    try:
        # nbformat.reads, minus its second parse of the JSON
        major, minor = nbformat.reader.get_version(raw)
        if major not in nbformat.versions:
            raise nbformat.NBFormatError(f"unsupported nbformat version {major}")
        nb = nbformat.versions[major].to_notebook_json(raw, minor=minor)
        nb = nbformat.convert(nb, 4)
        _check_ids(nb.cells)
        with warnings.catch_warnings():
            # nbformat warns of cell ids it fills in; they do not matter here
            warnings.simplefilter("ignore")
            nbformat.validate(nb)
    except (AttributeError, KeyError) as e:  # how nbformat meets a missing key
        key = e.args[0] if e.args else ""
        raise UsageError(f"{path}: not a valid notebook: no key {key!r}") from None
    except Exception as e:  # nbformat raises several unrelated types
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if isinstance(e, nbformat.ValidationError):
            reason = _where(list(getattr(e, "absolute_path", []))) + e.message
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


def _where(keys: list[object]) -> str:
    """Where in the notebook a schema error is, as a person counts cells."""
    if len(keys) >= 2 and keys[0] == "cells" and isinstance(keys[1], int):
        inner = ".".join(str(k) for k in keys[2:])
        return f"cell {keys[1] + 1}" + (f", {inner}" if inner else "") + ": "
    return ".".join(str(k) for k in keys) + ": " if keys else ""


def _check_ids(cells: list[dict[str, object]]) -> None:
    """Refuse cells sharing an id, which nbformat would quietly renumber."""
    seen: dict[object, int] = {}
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict) or "id" not in cell:
            continue
        first = seen.setdefault(cell["id"], i)
        if first != i:
            raise ValueError(
                f"cells {first + 1} and {i + 1} have the same id {cell['id']!r}"
            )


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not a notebook") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot read: {e.strerror}") from None


def _parse(path: Path, data: bytes) -> object:
    """The notebook's JSON, parsed once, without the outputs nb2pipe never reads."""
    try:
        return json.loads(slim.without_outputs(data).decode("utf-8"))
    except (ValueError, RecursionError):
        pass  # parse the whole file again, to name the error's place in it
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(
            f"{path}: not UTF-8 text (byte {e.start}); notebooks are UTF-8 JSON"
            f"{_suffix_hint(path)}"
        ) from None
    if not text.strip():
        raise UsageError(
            f"{path}: the file is empty, not a notebook{_suffix_hint(path)}"
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(
            f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})"
            f"{_suffix_hint(path)}"
        ) from None
    except RecursionError:
        raise UsageError(f"{path}: JSON nested too deeply to be a notebook") from None
    except ValueError as e:  # JSON, but not for Python: a 5,000-digit number
        raise UsageError(f"{path}: unreadable JSON: {str(e).split(';')[0]}") from None


def _suffix_hint(path: Path) -> str:
    """For a file that is not a notebook by its name: what nb2pipe reads."""
    if path.suffix.lower() == ".ipynb":
        return ""
    return "; nb2pipe reads Jupyter notebooks (.ipynb)"


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
