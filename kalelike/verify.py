"""`nb2pipe verify`: prove a conversion by running both and comparing values.

The notebook runs top to bottom with nbclient in one temporary directory, with a
cell added after each step's last cell that saves the values the step hands on; the
pipeline runs with kfp.local in another. Every value that crosses a step boundary,
what each last step (one no other step follows) binds, and every file both runs
leave behind, are compared.
"""

import ast
import io
import json
import math
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import types
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kalelike import render
from kalelike.analysis import assigned_names
from kalelike.conversion import Conversion
from kalelike.errors import RunFailed
from kalelike.flow import ENVIRON
from kalelike.model import Step
from kalelike.run import _stop, run_local

SAVED = ".nb2pipe_values"
GROUP = b"NB2GRP"  # the start of a file holding values saved together
FINAL = ".nb2pipe_final"  # what last steps bind, in both runs
RUNS = "nb2pipe_runs"
FINAL_VARIABLE = "NB2PIPE_VERIFY_FINAL"  # read by run_step, see step_runtime.py
# Floats this close count as equal: a value computed from a copy laid out
# differently in memory (a frame read back from Arrow) may differ in its last bits.
RTOL = 1e-12


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
    # A Ctrl-C may leave a kernel writing here for a moment: clean up regardless.
    with tempfile.TemporaryDirectory(
        prefix="nb2pipe-verify-", ignore_cleanup_errors=True
    ) as folder:
        notebook_dir, pipeline_dir = Path(folder, "notebook"), Path(folder, "pipeline")
        notebook_dir.mkdir()
        pipeline_dir.mkdir()
        shutil.copy(path, notebook_dir / path.name)
        shutil.copy(path, pipeline_dir / path.name)
        finals = last_steps(conversion)
        echo("running the notebook top to bottom ...")
        _run_notebook(conversion, notebook_dir / path.name, finals, Path(folder))
        echo("running the pipeline with kfp.local ...")
        request = {
            "folder": str(pipeline_dir / FINAL),
            "steps": {
                f"cell {cell + 1}": {"step": step.name, "names": names}
                for step, names in finals
                for cell in step.cells
            },
        }
        environment = {**os.environ, FINAL_VARIABLE: json.dumps(request)}
        run_local(
            conversion, pipeline_dir / RUNS, [], echo, cwd=pipeline_dir, env=environment
        )
        rows = _compare_values(conversion, notebook_dir / SAVED, pipeline_dir / RUNS)
        rows += _compare_finals(finals, notebook_dir / FINAL, pipeline_dir / FINAL)
        return rows + _compare_files(notebook_dir, pipeline_dir, path.name)


def last_steps(conversion: Conversion) -> list[tuple[Step, list[str]]]:
    """Each step no other step follows, with the names its cells bind."""
    steps = conversion.pipeline.steps
    followed = {before for step in steps for before in step.after}
    return [(s, _binds(s)) for s in steps if s.name not in followed]


def _binds(step: Step) -> list[str]:
    """Names the step's cells bind at their top level, imports left out."""
    names: set[str] = set()
    for cell in step.code:
        source = cell.source
        try:
            if cell.ipython:
                from IPython.core.inputtransformer2 import TransformerManager

                source = TransformerManager().transform_cell(source)
            names |= assigned_names(ast.parse(source))
        except (SyntaxError, ValueError):
            continue
    return sorted(n for n in names if not n.startswith("__nb2pipe"))


_CHILD = """
import sys
import nbclient, nbformat
path, cwd = sys.argv[1], sys.argv[2]
nb = nbformat.read(path, as_version=4)
client = nbclient.NotebookClient(nb, timeout=600, resources={"metadata": {"path": cwd}})
try:
    client.execute()
except nbclient.exceptions.CellExecutionError as e:
    print(f"NB2PIPE-FAILED {e.ename}: {e.evalue}", file=sys.stderr)
    sys.exit(1)
"""


def _run_notebook(
    conversion: Conversion,
    path: Path,
    finals: list[tuple[Step, list[str]]],
    scratch: Path,
) -> None:
    """Run the notebook with savers added, in a process and session of its own.

    The kernel's and nbclient's own messages go to a log; a Ctrl-C reaches nb2pipe
    alone, which then stops the run (nbclient shuts its kernel down).
    """
    import nbformat

    nb = nbformat.read(path, as_version=4)
    savers: dict[int, list[str]] = {}
    for step in conversion.pipeline.steps:
        if step.outputs:
            folder = str(path.parent / SAVED / step.name)
            savers.setdefault(max(step.cells), []).append(
                _saver(sorted(step.outputs), folder)
            )
    for step, names in finals:
        if names:
            folder = str(path.parent / FINAL / step.name)
            savers.setdefault(max(step.cells), []).append(
                _saver(names, folder, final=True)
            )
    for index in sorted(savers, reverse=True):
        source = "".join(savers[index])
        nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
    run_copy = scratch / "notebook-with-savers.ipynb"
    nbformat.write(nb, run_copy)
    log = scratch / "notebook.log"
    command = [sys.executable, "-c", _CHILD, str(run_copy), str(path.parent)]
    with (
        open(log, "w", encoding="utf-8") as out,
        subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        ) as child,
    ):
        try:
            child.wait()
        except BaseException:
            _stop(child)
            raise
    if child.returncode != 0:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        failed = [x for x in lines if x.startswith("NB2PIPE-FAILED ")]
        detail = failed[-1].removeprefix("NB2PIPE-FAILED ") if failed else ""
        detail = detail or "\n".join(lines[-15:])
        raise RunFailed(f"the notebook's own run failed: {detail}")


def _saver(names: list[str], folder: str, final: bool = False) -> str:
    # The environment is saved whole; the comparison takes the variables the
    # pipeline carried. A last step's value that does not pickle leaves an empty
    # file, which is not compared.
    return (
        "def __nb2pipe_save(names, folder, final):\n"
        "    import copyreg, os, cloudpickle\n"
        "    class Pickler(cloudpickle.Pickler):\n"
        "        def reducer_override(self, obj):  # as the step runtime does\n"
        "            if isinstance(obj, BaseException):\n"
        "                made = (type(obj), *obj.args)\n"
        "                return copyreg.__newobj__, made, vars(obj) or None\n"
        "            return super().reducer_override(obj)\n"
        "    os.makedirs(folder, exist_ok=True)\n"
        "    for name in names:\n"
        "        if name == 'os.environ':\n"
        "            value = dict(os.environ)\n"
        "        elif name in globals():\n"
        "            value = globals()[name]\n"
        "        else:\n"
        "            continue\n"
        "        path = os.path.join(folder, name)\n"
        "        try:\n"
        "            with open(path, 'wb') as f:\n"
        "                Pickler(f).dump(value)\n"
        "        except Exception:\n"
        "            if not final:\n"
        "                raise\n"
        "            open(path, 'wb').close()\n"
        f"__nb2pipe_save({names!r}, {folder!r}, {final!r})\n"
        "del __nb2pipe_save\n"
    )


def _compare_values(conversion: Conversion, saved: Path, runs: Path) -> list[Row]:
    [run] = [p for p in runs.iterdir() if p.is_dir()]
    rows = []
    folders = render.artifact_folders(conversion.pipeline)
    order = {s.name: i for i, s in enumerate(conversion.pipeline.steps)}
    in_notebook_order = sorted(folders.items(), key=lambda i: (order[i[0][0]], i[0]))
    for (step, name), (task, output) in in_notebook_order:
        mine, theirs = saved / step / name, run / task / output
        b = load(theirs, name) if theirs.exists() else None
        if b is UNBOUND:  # bound on some paths only, and not on the path taken
            equal = not mine.exists()
            rows.append(Row(name, step, equal, "" if equal else "unbound in pipeline"))
            continue
        if not mine.exists() or not theirs.exists():
            missing = "notebook" if not mine.exists() else "pipeline"
            rows.append(Row(name, step, False, f"no value in the {missing} run"))
            continue
        a = load(mine)
        if name == ENVIRON and isinstance(a, dict) and isinstance(b, dict):
            # The variables the pipeline carried, against the notebook's.
            a = {key: a.get(key) for key in b}
        equal = same(a, b)
        rows.append(Row(name, step, equal, "" if equal else _diff(a, b)))
    return rows


def _compare_finals(
    finals: list[tuple[Step, list[str]]], mine_dir: Path, theirs_dir: Path
) -> list[Row]:
    """What each last step binds; a value one run cannot pickle is left out."""
    rows = []
    for step, names in finals:
        for name in names:
            mine, theirs = mine_dir / step.name / name, theirs_dir / step.name / name
            if not mine.exists() and not theirs.exists():
                continue  # unbound in both
            if not mine.exists() or not theirs.exists():
                missing = "notebook" if not mine.exists() else "pipeline"
                rows.append(
                    Row(name, step.name, False, f"unbound in the {missing} run")
                )
                continue
            if mine.stat().st_size == 0 or theirs.stat().st_size == 0:
                continue
            try:
                a, b = load(mine), load(theirs)
            except Exception:  # noqa: BLE001 - a value we cannot read back
                continue
            equal = same(a, b)
            rows.append(Row(name, step.name, equal, "" if equal else _diff(a, b)))
    return rows


def _compare_files(notebook_dir: Path, pipeline_dir: Path, notebook: str) -> list[Row]:
    def files(root: Path) -> dict[str, bytes]:
        found = {}
        for p in root.rglob("*"):
            rel = p.relative_to(root).as_posix()
            if (
                p.is_file()
                and rel != notebook
                and not rel.startswith((SAVED, FINAL, RUNS))
            ):
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


def load(path: Path, name: str = "") -> object:
    """Read a value as either run saved it: .npy, Arrow, parquet or a pickle;
    `name` picks the value out of values a step saved together."""
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
        if head.startswith(GROUP):  # see save_together in the step runtime
            f.readline()
            values = _Unpickler(f).load()
            assert isinstance(values, dict)
            return values[name]
        return _Unpickler(f).load()


class _Unpickler(pickle.Unpickler):
    """Stands a same-named class in for a notebook class saved by name.

    A step saves instances of its `functions` cells' classes by name (the next
    step defines them); outside a step, a stand-in with that name lets `same`
    compare such instances by their attributes.
    """

    def persistent_load(self, pid: Any) -> object:
        if pid == "nb2pipe:unbound":
            return UNBOUND
        if pid == "nb2pipe:function":  # a notebook function, given empty globals
            return _rebuild
        if pid == "nb2pipe:restore":
            return _restore
        if str(pid).startswith("nb2pipe:object:"):  # a prelude's `object()`
            return object()
        return type(str(pid), (_StandIn,), {})


class _StandIn:
    def __new__(cls, *args: object) -> "_StandIn":  # an exception's arguments
        return object.__new__(cls)


class _Unbound:
    """A name a step hands on but left unbound (bound on some paths only)."""

    def __repr__(self) -> str:
        return "<unbound>"


UNBOUND = _Unbound()


def _rebuild(
    code: types.CodeType, name: str, keys: tuple[object, ...] = ()
) -> types.FunctionType:
    cells = tuple(types.CellType() for _ in keys) or None
    return types.FunctionType(code, {}, name, None, cells)


def _restore(
    function: types.FunctionType, state: tuple[dict[int, object], dict[str, object]]
) -> None:
    cells, attributes = state
    for i, value in cells.items():
        function.__closure__[i].cell_contents = value  # type: ignore[index]
    for attribute, value in attributes.items():
        setattr(function, attribute, value)


Pairs = list[tuple[object, object]]

# Bound methods, whose own `==` asks whether they are bound to the very same object.
_BOUND = (types.MethodType, types.BuiltinMethodType, types.MethodWrapperType)


def same(a: object, b: object) -> bool:
    """Equal values, with numpy arrays, pandas objects and plain objects in mind.

    Objects are compared through their parts as graphs, cycles and all: a pair
    met again while being compared counts as equal, so the answer is whether
    any pair of parts differs. A list of pairs to compare, not recursion, keeps
    a deep or cyclic value from reaching Python's recursion limit.
    """
    pending: Pairs = [(a, b)]
    seen: dict[tuple[int, int], tuple[object, object]] = {}
    while pending:
        x, y = pending.pop()
        if (id(x), id(y)) in seen:
            continue
        seen[id(x), id(y)] = (x, y)  # held, so that no other object takes their ids
        parts = _parts(x, y)
        if parts is None:
            return False
        pending += parts
    return True


def _untimed(value: object) -> dict[str, object]:
    """An object's attributes, but for the wall-clock timings scikit-learn keeps
    (`refit_time_`, `cv_results_["mean_fit_time"]`), which no two runs share."""
    state = vars(value)
    if not type(value).__module__.startswith("sklearn."):
        return state
    kept = {k: v for k, v in state.items() if not k.endswith("_time_")}
    results = kept.get("cv_results_")
    if isinstance(results, dict):
        kept["cv_results_"] = {
            k: v for k, v in results.items() if not k.endswith("_time")
        }
    return kept


def _parts(a: object, b: object) -> Pairs | None:
    """The pairs of parts `a` and `b` are equal through, or None if they differ."""
    if type(a).__qualname__ != type(b).__qualname__:
        return None
    if isinstance(a, dict) and isinstance(b, dict):
        return [(a[k], b[k]) for k in a] if a.keys() == b.keys() else None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(zip(a, b, strict=True)) if len(a) == len(b) else None
    if isinstance(a, weakref.ref) and isinstance(b, weakref.ref):
        return [(a(), b())]
    if isinstance(a, _BOUND) and isinstance(b, _BOUND):
        if a.__name__ != b.__name__:
            return None
        func = getattr(a, "__func__", None), getattr(b, "__func__", None)
        return [(a.__self__, b.__self__), func]
    verdict = _equal(a, b)
    if verdict is not None:
        return [] if verdict else None
    # Functions and classes are told apart by name: the two runs' copies of one
    # are never the same object.
    if isinstance(a, type) and isinstance(b, type):
        return [] if a.__qualname__ == b.__qualname__ else None
    if isinstance(a, types.FunctionType) and isinstance(b, types.FunctionType):
        if a.__qualname__ != b.__qualname__:
            return None
        return [(vars(a), vars(b)), (_closed_over(a), _closed_over(b))]
    if hasattr(a, "__dict__") and hasattr(b, "__dict__"):
        return [(_untimed(a), _untimed(b))]
    try:  # the state pickle saves: slots, or nothing at all for `object()`
        return [(a.__reduce_ex__(4), b.__reduce_ex__(4))]
    except Exception:  # noqa: BLE001 - nothing left to compare them by
        return None


def _equal(a: object, b: object) -> bool | None:
    """Whether `a` and `b` are equal as wholes; None when only their parts tell."""
    try:
        if hasattr(a, "equals") and callable(a.equals):  # pandas
            return bool(a.equals(b))
        if type(a).__module__ == "numpy" and hasattr(a, "shape"):
            import numpy

            x: Any = a  # an ndarray, and `b` one of the same type
            y: Any = b
            if x.dtype.kind in "fc" and x.shape == y.shape:
                return bool(numpy.allclose(x, y, rtol=RTOL, atol=0, equal_nan=True))
            return bool(numpy.array_equal(x, y))
        drawings = _drawing(a), _drawing(b)
        if drawings != (None, None):
            return drawings[0] == drawings[1]
        if isinstance(a, float) and isinstance(b, float):
            return (a != a and b != b) or math.isclose(a, b, rel_tol=RTOL)  # NaN
        result = a == b
    except Exception:  # noqa: BLE001 - an `==` that raises is not an answer
        return None
    if not isinstance(result, bool):
        return None
    # The `==` every object inherits only asks whether `a` is `b`, and an object
    # with attributes may be told apart from its copy by where it lives: a False
    # from either is no answer, their parts decide.
    inherited = type(a).__eq__ is object.__eq__
    if not result and (inherited or hasattr(a, "__dict__")):
        return None
    return result


def _drawing(value: object) -> bytes | None:
    """A matplotlib artist's figure drawn to pixels, None for anything else.

    A figure's state holds ids and callback numbers of the process that made
    it, so two runs' figures are compared by what they draw.
    """
    artist = sys.modules.get("matplotlib.artist")
    if artist is None or not isinstance(value, artist.Artist):
        return None
    figure = value.get_figure()
    if figure is None:
        return None
    pixels = io.BytesIO()
    figure.savefig(pixels, format="rgba")
    return pixels.getvalue()


def _closed_over(function: types.FunctionType) -> list[object]:
    def contents(cell: types.CellType) -> object:
        try:
            return cell.cell_contents
        except ValueError:  # an empty cell
            return UNBOUND

    return [contents(cell) for cell in function.__closure__ or ()]


def _diff(a: object, b: object) -> str:
    def short(value: object) -> str:
        try:
            text = " ".join(repr(value).split())
        except Exception:  # noqa: BLE001 - a __repr__ that fails, or recurses
            text = f"<{type(value).__qualname__}>"
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
