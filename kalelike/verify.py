"""`nb2pipe verify`: prove a conversion by running both and comparing values.

The notebook runs top to bottom with nbclient in one temporary directory, with a
cell added after each step's last cell that saves the values the step hands on; the
pipeline runs with kfp.local in another. Every value that crosses a step boundary,
and every file both runs leave behind, is compared.
"""

import pickle
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kalelike import render
from kalelike.conversion import Conversion
from kalelike.run import run_local

SAVED = ".nb2pipe_values"
RUNS = "nb2pipe_runs"


@dataclass(frozen=True)
class Row:
    name: str  # a variable, or a file path
    step: str  # the producing step, or "(file)"
    equal: bool
    diff: str = ""


def verify(
    conversion: Conversion, path: Path, echo: Callable[[str], None]
) -> list[Row]:
    """Run notebook and pipeline side by side; one row a compared value or file."""
    with tempfile.TemporaryDirectory(prefix="nb2pipe-verify-") as folder:
        notebook_dir, pipeline_dir = Path(folder, "notebook"), Path(folder, "pipeline")
        notebook_dir.mkdir()
        pipeline_dir.mkdir()
        shutil.copy(path, notebook_dir / path.name)
        shutil.copy(path, pipeline_dir / path.name)
        echo("running the notebook top to bottom ...")
        _run_notebook(conversion, notebook_dir / path.name)
        echo("running the pipeline with kfp.local ...")
        run_local(conversion, pipeline_dir / RUNS, [], echo, cwd=pipeline_dir)
        rows = _compare_values(conversion, notebook_dir / SAVED, pipeline_dir / RUNS)
        return rows + _compare_files(notebook_dir, pipeline_dir, path.name)


def _run_notebook(conversion: Conversion, path: Path) -> None:
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    last_cell = {}
    for step in conversion.pipeline.steps:
        if step.outputs:
            last_cell[max(step.cells)] = step
    for index in sorted(last_cell, reverse=True):
        step = last_cell[index]
        folder = str(path.parent / SAVED / step.name)
        nb.cells.insert(
            index + 1, nbformat.v4.new_code_cell(_saver(sorted(step.outputs), folder))
        )
    client = nbclient.NotebookClient(
        nb, timeout=600, resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()


def _saver(names: list[str], folder: str) -> str:
    return (
        "def __nb2pipe_save(names, folder):\n"
        "    import os, cloudpickle\n"
        "    os.makedirs(folder, exist_ok=True)\n"
        "    for name in names:\n"
        "        if name in globals():\n"
        "            with open(os.path.join(folder, name), 'wb') as f:\n"
        "                cloudpickle.dump(globals()[name], f)\n"
        f"__nb2pipe_save({names!r}, {folder!r})\n"
        "del __nb2pipe_save\n"
    )


def _compare_values(conversion: Conversion, saved: Path, runs: Path) -> list[Row]:
    [run] = [p for p in runs.iterdir() if p.is_dir()]
    rows = []
    folders = render.artifact_folders(conversion.pipeline)
    for (step, name), (task, output) in sorted(folders.items()):
        mine, theirs = saved / step / name, run / task / output
        if not mine.exists() or not theirs.exists():
            missing = "notebook" if not mine.exists() else "pipeline"
            rows.append(Row(name, step, False, f"no value in the {missing} run"))
            continue
        a, b = load(mine), load(theirs)
        rows.append(Row(name, step, same(a, b), "" if same(a, b) else _diff(a, b)))
    return rows


def _compare_files(notebook_dir: Path, pipeline_dir: Path, notebook: str) -> list[Row]:
    def files(root: Path) -> dict[str, bytes]:
        found = {}
        for p in root.rglob("*"):
            rel = p.relative_to(root).as_posix()
            if p.is_file() and rel != notebook and not rel.startswith((SAVED, RUNS)):
                found[rel] = p.read_bytes()
        return found

    mine, theirs = files(notebook_dir), files(pipeline_dir)
    rows = []
    for rel in sorted(mine.keys() | theirs.keys()):
        if rel not in mine or rel not in theirs:
            where = "pipeline" if rel not in theirs else "notebook"
            rows.append(Row(rel, "(file)", False, f"not written by the {where} run"))
        else:
            equal = mine[rel] == theirs[rel]
            rows.append(Row(rel, "(file)", equal, "" if equal else "contents differ"))
    return rows


def load(path: Path) -> object:
    """Read a value as either run saved it: .npy, Arrow, parquet or a pickle."""
    head = path.read_bytes()[:8]
    if head.startswith(b"\x93NUMPY"):
        import numpy

        return numpy.load(path, allow_pickle=False)
    if head.startswith((b"ARROW1", b"PAR1")):
        import pandas

        reader = (
            pandas.read_feather if head.startswith(b"ARROW1") else pandas.read_parquet
        )
        return reader(path)
    with open(path, "rb") as f:
        return _Unpickler(f).load()


class _Unpickler(pickle.Unpickler):
    """Stands a same-named class in for a notebook class saved by name.

    A step saves instances of its `functions` cells' classes by name (the next
    step defines them); outside a step, a stand-in with that name lets `same`
    compare such instances by their attributes.
    """

    def persistent_load(self, pid: Any) -> object:
        return type(str(pid), (), {})


def same(a: object, b: object) -> bool:
    """Equal values, with numpy arrays, pandas objects and plain objects in mind."""
    if type(a).__qualname__ != type(b).__qualname__:
        return False
    if hasattr(a, "equals") and callable(a.equals):  # pandas
        return bool(a.equals(b))
    if type(a).__module__ == "numpy" and hasattr(a, "shape"):
        import numpy

        return bool(numpy.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))  # type: ignore[attr-defined]
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True  # both NaN
    try:
        result = a == b
        if isinstance(result, bool) and (result or not hasattr(a, "__dict__")):
            return result
    except Exception:  # an __eq__ that raises is not an answer
        pass
    if hasattr(a, "__dict__") and hasattr(b, "__dict__"):
        return same(vars(a), vars(b))
    import cloudpickle

    return bool(cloudpickle.dumps(a) == cloudpickle.dumps(b))


def _diff(a: object, b: object) -> str:
    def short(value: object) -> str:
        text = " ".join(repr(value).split())
        return text if len(text) <= 60 else text[:57] + "..."

    return f"notebook {short(a)} != pipeline {short(b)}"


def table(rows: list[Row]) -> str:
    width = max([len(r.name) for r in rows] + [8])
    step_width = max([len(r.step) for r in rows] + [4])
    lines = [f"{'variable':<{width}}  {'step':<{step_width}}  result"]
    for r in rows:
        verdict = "equal" if r.equal else f"DIFFERS: {r.diff}"
        lines.append(f"{r.name:<{width}}  {r.step:<{step_width}}  {verdict}")
    return "\n".join(lines)
