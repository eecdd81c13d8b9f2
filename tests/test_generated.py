"""The generated script as a reviewer and CI see it: the same bytes everywhere,
lint-clean, little plumbing, and a one-line cell edit is a one-line diff."""

import ast
import difflib
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from kalelike import __version__, conversion
from kalelike.errors import FindingsError
from tests.conftest import SAMPLES, make_notebook, shared_notebooks

NB2PIPE = Path(sys.executable).parent / "nb2pipe"
RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which(
    "ruff"
)
NOTEBOOKS = sorted(SAMPLES.glob("*.ipynb")) + shared_notebooks()


def converted() -> dict[str, str]:
    """Script text by notebook name, for every notebook that converts."""
    scripts = {}
    for path in NOTEBOOKS:
        try:
            scripts[path.name] = conversion.convert(path).script
        except FindingsError:
            continue
    return scripts


def test_same_bytes_under_any_hash_seed_folder_and_working_directory(tmp_path):
    runs = []
    for i, seed in enumerate(["0", "1", "2718281", "random"]):
        folder = tmp_path / f"copy{i}" / ("sub/" * i) / "notebooks"
        folder.mkdir(parents=True)
        for path in NOTEBOOKS:
            shutil.copy(path, folder)
        cwd = folder if i % 2 else tmp_path  # relative and absolute paths both
        out = tmp_path / f"out{i}"
        subprocess.run(
            [NB2PIPE, "convert", "--output-dir", out, os.path.relpath(folder, cwd)],
            cwd=cwd,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
        )
        runs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert len(runs[0]) >= len(list(SAMPLES.glob("*.ipynb")))
    for run in runs[1:]:
        assert run == runs[0]


def test_no_version_or_path_in_the_script():
    for name, script in converted().items():
        assert str(SAMPLES.parent) not in script, name
        assert str(Path.home()) not in script, name
        assert __version__ not in script, name  # nb2pipe's: one header line at most


def test_compiling_twice_gives_the_same_yaml(tmp_path):
    """Two `convert --yaml` runs, other folders and hash seeds; then --check."""
    yamls = []
    for i, seed in enumerate(["0", "99"]):
        folder = tmp_path / f"run{i}"
        folder.mkdir()
        shutil.copy(SAMPLES / "kale_example.ipynb", folder)
        done = subprocess.run(
            [NB2PIPE, "convert", "--yaml", "kale_example.ipynb"],
            cwd=folder,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        yamls.append((folder / "kale_example_pipeline.yaml").read_bytes())
    assert yamls[0] == yamls[1]
    assert b"\n# Name: kale-example\n" in yamls[0]

    check = [NB2PIPE, "convert", "--check", "--yaml", "kale_example.ipynb"]
    assert subprocess.run(check, cwd=tmp_path / "run0").returncode == 0
    yaml_path = tmp_path / "run0" / "kale_example_pipeline.yaml"
    yaml_path.write_bytes(yamls[0].replace(b"kale-example", b"renamed"))
    stale = subprocess.run(check, cwd=tmp_path / "run0", capture_output=True, text=True)
    assert stale.returncode == 1
    assert f"{yaml_path.name} is stale" in stale.stderr


@pytest.mark.skipif(RUFF is None, reason="ruff is not installed")
def test_every_generated_script_passes_ruff_with_default_settings(tmp_path):
    for name, script in converted().items():
        (tmp_path / name.replace(".ipynb", "_pipeline.py")).write_text(script)
    for command in (["check"], ["format", "--check"]):
        done = subprocess.run(
            [RUFF, *command, "--isolated", "--no-cache", "."],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(RUFF is None, reason="ruff is not installed")
def test_the_project_source_passes_its_own_ruff_settings():
    root = Path(__file__).resolve().parents[1]
    for command in (["check"], ["format", "--check"]):
        done = subprocess.run(
            [RUFF, *command, "--no-cache", "."],
            cwd=root,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_package_passes_mypy_strict(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path)],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def edit(path: Path, target: Path, cell: int, old: str, new: str) -> Path:
    """A copy of the notebook with one line of one cell changed."""
    nb = json.loads(path.read_text())
    source = "".join(nb["cells"][cell]["source"])
    assert source.count(old) == 1
    nb["cells"][cell]["source"] = source.replace(old, new)
    target.write_text(json.dumps(nb))
    return target


def changed_lines(before: str, after: str) -> list[str]:
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), n=0)
    return [
        line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]


def test_a_one_line_cell_edit_changes_one_line_of_the_script(tmp_path):
    original = tmp_path / "kale_example.ipynb"
    shutil.copy(SAMPLES / "kale_example.ipynb", original)
    before = conversion.convert(original).script
    old, new = "print(X.shape, np.bincount(y))", "print(X.shape)"
    after = conversion.convert(edit(original, original, 5, old, new)).script
    assert changed_lines(before, after) == [f"-{old}", f"+{new}"]


def test_a_one_line_prelude_edit_changes_one_line_of_the_script(tmp_path):
    """The imports and functions cells run in every step but appear once."""
    original = tmp_path / "kale_example.ipynb"
    shutil.copy(SAMPLES / "kale_example.ipynb", original)
    before = conversion.convert(original)
    old = '"""Save the run summary as stable, sorted JSON."""'
    new = '"""Save the run summary as sorted JSON."""'
    after = conversion.convert(edit(original, original, 3, old, new)).script
    assert changed_lines(before.script, after) == [f"-    {old}", f"+    {new}"]


def plumbing(script: str) -> dict[str, tuple[int, int, int]]:
    """Per step function: lines that are not cell text, values passed in or out,
    and cells run.

    Cell text is the inside of each multi-line string literal in the `run_step`
    call; a value is a parameter, input, output or metrics argument.
    """
    counts = {}
    for node in ast.parse(script).body:
        if not isinstance(node, ast.FunctionDef) or node.name == "run_step":
            continue
        calls = [
            n
            for n in ast.walk(node)
            if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "run_step"
        ]
        if not calls:
            continue
        call = calls[0]
        cells = sum(
            len(k.value.keys)
            for k in call.keywords
            if k.arg in ("prelude", "cells") and isinstance(k.value, ast.Dict)
        )
        text: set[int] = set()
        for n in ast.walk(call):
            if isinstance(n, ast.Constant) and isinstance(n.value, str):
                text |= set(range(n.lineno + 1, n.end_lineno or n.lineno))
        lines = set(range(node.lineno, (node.end_lineno or node.lineno) + 1))
        counts[node.name] = (len(lines - text), len(node.args.args), cells)
    return counts


def test_each_step_has_little_plumbing():
    """Besides its cells' text, a step is a dozen lines or so of header and call,
    at most two lines per value it passes (in its signature and in the call; the
    header names them too) and two per cell (its marker and closing quotes)."""
    fixed = []
    for name, script in converted().items():
        for step, (lines, values, cells) in plumbing(script).items():
            fixed.append(lines - 2 * values - 2 * cells)
            assert fixed[-1] <= 22, (name, step, lines, values, cells)
    assert statistics.median(fixed) <= 14


@pytest.mark.skipif(RUFF is None, reason="ruff is not installed")
def test_cells_a_raw_string_cannot_hold_stay_exact_and_ruff_clean(tmp_path):
    """Cells with both kinds of triple quotes or control characters are written
    a quoted line at a time, or as one literal where ruff would join the lines."""
    both = "a = '''x'''\nb = \"\"\"y\"\"\"\n"
    cells = {
        "short": "x = '\x0c'\n",
        "long": both * 4,
        "blank first": "\n" + both,
    }
    source = [("import json", ["imports"])]
    source += [(text, [f"step:s{i}"]) for i, text in enumerate(cells.values())]
    path = make_notebook(tmp_path / "nb.ipynb", source)
    script = conversion.convert(path).script

    run_steps = [
        n
        for n in ast.walk(ast.parse(script))
        if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "run_step"
    ]
    ran = []
    for call in run_steps:
        [code] = [k.value for k in call.keywords if k.arg == "cells"]
        ran += [ast.literal_eval(v).removeprefix("\n") for v in code.values]
    assert ran == list(cells.values())
    (tmp_path / "nb_pipeline.py").write_text(script)
    for command in (["check"], ["format", "--check"]):
        done = subprocess.run(
            [RUFF, *command, "--isolated", "--no-cache", "nb_pipeline.py"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr
