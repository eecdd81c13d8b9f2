"""`nb2pipe verify` against the notebook's own top-to-bottom run."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLES, needs_shared, shared_notebooks

from kalelike.verify import same

NB2PIPE = [sys.executable, "-m", "kalelike.cli"]


def verify(path: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    shutil.copy(path, cwd)
    return subprocess.run(
        [*NB2PIPE, "verify", path.name], cwd=cwd, capture_output=True, text=True
    )


def results(table: str) -> dict[tuple[str, str], str]:
    """The verify table's result column by (variable, step)."""
    rows = [line.split(maxsplit=2) for line in table.splitlines()[1:]]
    return {(name, step): result for name, step, result in rows}


def valid_cases() -> list[Path]:
    import json

    return [
        path
        for path in shared_notebooks()
        if json.loads(path.with_suffix(".expect.json").read_text()).get(
            "valid_pipeline"
        )
    ]


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.ipynb")), ids=lambda p: p.stem)
def test_verify_passes_on_every_sample(path: Path, tmp_path: Path):
    result = verify(path, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "DIFFERS" not in result.stdout
    assert "result.json" in result.stdout


@needs_shared
@pytest.mark.slow
@pytest.mark.parametrize("path", valid_cases(), ids=lambda p: p.stem)
def test_verify_passes_on_every_valid_hard_case(path: Path, tmp_path: Path):
    result = verify(path, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_verify_reports_a_difference(notebook, tmp_path: Path):
    # A `skip` cell runs in the notebook but not in the pipeline.
    path = notebook(
        [
            ("import json", ["imports"]),
            ("items = [1, 2]", ["step:make"]),
            ("items.append(3)", ["skip"]),
            ("json.dump(items, open('out.json', 'w'))", ["step:save"]),
        ]
    )
    work = tmp_path / "work"
    work.mkdir()
    result = verify(path, work)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("out.json") and "DIFFERS" in line for line in lines)
    assert any(line.startswith("items") and "equal" in line for line in lines)


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        ([1, {"a": 2.0}], [1, {"a": 2.0}], True),
        ([1, 2], [1, 3], False),
        (float("nan"), float("nan"), True),
        ((1, 2), [1, 2], False),
    ],
)
def test_same_compares_plain_values(a, b, equal):
    assert same(a, b) is equal


def test_same_compares_arrays_frames_and_objects():
    import numpy as np
    import pandas as pd

    class Box:
        def __init__(self, label):
            self.label = label

    assert same(np.array([1.0, np.nan]), np.array([1.0, np.nan]))
    assert not same(np.array([1, 2]), np.array([1, 3]))
    assert same(pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [1]}))
    assert not same(pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [2]}))
    assert same(Box("x"), Box("x")) and not same(Box("x"), Box("y"))


NODE = """\
class Node:
    def __init__(self, name, parent=None):
        self.name = name
        self.parent = parent
        self.children = []
        if parent is not None:
            parent.children.append(self)
"""


@pytest.mark.slow
def test_verify_compares_cyclic_values_and_bound_methods(notebook, tmp_path: Path):
    # `root` and `leaf` point at each other; `add`'s repr holds an address.
    path = notebook(
        [
            ("import json", ["imports"]),
            (NODE, ["functions"]),
            ("root = Node('root')\nleaf = Node('leaf', root)", ["step:tree"]),
            ("log = []\nadd = log.append", ["step:log"]),
            ("add(leaf.parent is root)", ["step:use"]),
            ("json.dump(log, open('out.json', 'w'))", ["step:save"]),
        ]
    )
    work = tmp_path / "work"
    work.mkdir()
    result = verify(path, work)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = results(result.stdout)
    assert rows[("root", "tree")] == rows[("leaf", "tree")] == "equal"
    assert rows[("add", "log")] == "equal"


@pytest.mark.slow
def test_verify_reports_a_cyclic_value_that_differs(notebook, tmp_path: Path):
    # The `skip` cell renames the leaf in the notebook only.
    path = notebook(
        [
            (NODE, ["functions"]),
            ("root = Node('root')\nleaf = Node('leaf', root)", ["step:tree"]),
            ("leaf.name = 'renamed'", ["skip"]),
            ("Node('extra', root)", ["step:grow"]),
            ("names = [child.name for child in root.children]", ["step:names"]),
        ]
    )
    work = tmp_path / "work"
    work.mkdir()
    result = verify(path, work)
    assert result.returncode == 1, result.stdout + result.stderr
    rows = results(result.stdout)
    assert rows[("root", "tree")] == "equal"
    assert rows[("root", "grow")].startswith("DIFFERS")


class Node:
    def __init__(self, name: str, parent: "Node | None" = None):
        self.name = name
        self.parent = parent
        self.children: list[Node] = []
        if parent is not None:
            parent.children.append(self)


def test_same_compares_object_graphs_with_cycles():
    def tree(leaf: str) -> Node:
        root = Node("root")
        Node(leaf, root)
        return root

    looped: list[object] = []
    looped.append(looped)
    other: list[object] = []
    other.append(other)
    assert same(tree("leaf"), tree("leaf"))
    assert not same(tree("leaf"), tree("other"))
    assert same(looped, other)
    assert not same(tree("leaf"), tree("leaf").children[0])


def test_same_follows_values_deeper_than_the_recursion_limit():
    a: list[object] = []
    b: list[object] = []
    for _ in range(sys.getrecursionlimit() * 10):
        a, b = [a], [b]
    assert same(a, b)
    assert not same(a, [b])


def test_same_compares_methods_functions_and_bare_objects():
    def counter(start: int):
        def get() -> int:
            return start

        return get

    assert same([].append, [].append)
    assert not same([1].append, [2].append)
    assert not same([].append, [].pop)
    assert same(Node("x").__init__, Node("x").__init__)
    assert same(counter(1), counter(1)) and not same(counter(1), counter(2))
    assert same(object(), object())


def test_same_compares_figures_by_what_they_draw():
    import pickle

    from matplotlib.figure import Figure

    figure = Figure()
    figure.add_subplot().plot([1, 2], [3, 4])
    before = pickle.loads(pickle.dumps(figure))
    figure.axes[0].set_title("loss")
    after = pickle.loads(pickle.dumps(figure))
    assert same(before, pickle.loads(pickle.dumps(before)))
    assert same(before.axes[0], pickle.loads(pickle.dumps(before)).axes[0])
    assert not same(before, after)


def test_same_leaves_out_timings_and_last_bits_of_floats():
    np = pytest.importorskip("numpy")
    model_selection = pytest.importorskip("sklearn.model_selection")
    from sklearn.linear_model import LogisticRegression

    x = np.arange(40.0).reshape(20, 2)
    y = np.arange(20) % 2

    def search():
        grid = {"C": [0.1, 1.0]}
        return model_selection.GridSearchCV(LogisticRegression(), grid, cv=2).fit(x, y)

    assert same(search(), search())
    values = np.array([0.1, 0.2, 0.3])
    assert same(values.sum(), values[::-1].sum())
    assert same(values, values + 1e-17)
    assert not same(values, values + 1e-9)
    assert not same(0.3, 0.30001)
