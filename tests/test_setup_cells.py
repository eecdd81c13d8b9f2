"""Parameters, imports and functions cells: every step runs them before its own
cells, yet what a step sees must be what the notebook saw at that step's place."""

import json
import subprocess
import sys

import pytest

from kalelike import analyze


def cells(*items):
    """(tags, source) pairs, in notebook order, as the `notebook` fixture wants."""
    return [(source, tags) for tags, source in items]


def errors(pipeline):
    return [
        (f.code, f.name, f.cell) for f in pipeline.findings if f.severity == "error"
    ]


def test_a_functions_cell_below_a_step_wins_for_later_steps(notebook):
    pipeline = analyze(
        notebook(
            cells(
                (["step:one"], "def scale(x):\n    return x * 10\nfirst = scale(1)"),
                (["functions"], "def scale(x):\n    return x * 100"),
                (["step:two"], "second = scale(1)\nprint(first, second)"),
            )
        )
    )
    assert errors(pipeline) == []
    assert sorted(pipeline.step("two").inputs) == ["first"]  # not step one's scale


def test_an_imports_cell_below_a_step_wins_for_later_steps(notebook):
    pipeline = analyze(
        notebook(
            cells(
                (["step:one"], "def sqrt(x):\n    return -1"),
                (["imports"], "from math import sqrt"),
                (["step:two"], "root = sqrt(4)"),
            )
        )
    )
    assert errors(pipeline) == []
    assert pipeline.step("two").inputs == {}


def test_a_parameters_cell_below_a_step_wins_for_later_steps(notebook):
    pipeline = analyze(
        notebook(
            cells(
                (["step:one"], "RATE = 0.5\nx = 1"),
                (["pipeline-parameters"], "RATE = 0.1"),
                (["step:two"], "total = RATE + x"),
            )
        )
    )
    assert errors(pipeline) == []
    two = pipeline.step("two")
    assert (sorted(two.inputs), sorted(two.parameters)) == (["x"], ["RATE"])


def test_a_setup_cell_below_a_step_that_reads_what_it_rebinds_is_refused(notebook):
    pipeline = analyze(
        notebook(
            cells(
                (["functions"], "def scale(x):\n    return x * 10"),
                (["step:one"], "first = scale(1)"),
                (["functions"], "def scale(x):\n    return x * 100"),
                (["step:two"], "second = scale(first)"),
            )
        )
    )
    assert errors(pipeline) == [("setup-cell-order", "scale", 1)]


def test_a_setup_cell_below_a_step_that_changes_what_it_reads_is_refused(notebook):
    pipeline = analyze(
        notebook(
            cells(
                (["functions"], "CONFIG = {'a': 1}\nimport math"),
                (["step:one"], "first = CONFIG['a'] + math.pi"),
                (["functions"], "CONFIG['a'] = 2\nmath.tau = 6"),
                (["step:two"], "second = CONFIG['a'] + first"),
            )
        )
    )
    assert errors(pipeline) == [("setup-cell-order", "CONFIG", 1)]
    assert "below changes it" in pipeline.findings[0].message


def test_a_functions_cell_reading_a_parameter_gives_every_step_that_parameter(
    notebook,
):
    pipeline = analyze(
        notebook(
            cells(
                (["pipeline-parameters"], "RATE = 0.5"),
                (
                    ["functions"],
                    "LIMIT = RATE * 2\n\ndef f(x, k=RATE):\n    return x * k",
                ),
                (["step:a"], "y = f(2) + LIMIT"),
                (["step:b"], "print(y)"),
            )
        )
    )
    assert errors(pipeline) == []
    assert [sorted(s.parameters) for s in pipeline.steps] == [["RATE"], ["RATE"]]


@pytest.mark.parametrize(
    ("source", "code"),
    [
        ("def mul(x, k=K):\n    return x * k", "prelude-reads-step"),
        ("LIMIT = K * 2", "prelude-reads-step"),
        ("LIMIT = UNKNOWN * 2", "undefined-name"),
        ("RATE = 3", "parameter-rebound"),
    ],
)
def test_a_functions_cell_needing_what_no_setup_cell_makes_is_refused(
    notebook, source, code
):
    pipeline = analyze(
        notebook(
            cells(
                (["pipeline-parameters"], "RATE = 0.5"),
                (["step:one"], "K = 3"),
                (["functions"], source),
                (["step:two"], "print(RATE, K)"),
            )
        )
    )
    assert [c for c, _, cell in errors(pipeline) if cell == 2] == [code]


@pytest.mark.slow
def test_setup_cells_in_the_middle_of_a_notebook_run_as_in_the_notebook(notebook):
    path = notebook(
        cells(
            (["imports"], "import json"),
            (["pipeline-parameters"], "RATE = 0.5"),
            (["functions"], "LIMIT = RATE * 2"),
            (["step:one"], "def sqrt(x):\n    return -1\nRATE_SEEN = RATE"),
            (["imports"], "from math import sqrt"),
            (["pipeline-parameters"], "BONUS = 1"),
            (
                ["step:two"],
                "result = [RATE_SEEN, LIMIT, sqrt(4), BONUS]\n"
                "json.dump(result, open('result.json', 'w'))",
            ),
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "kalelike.cli", "run", path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((path.parent / "result.json").read_text()) == [0.5, 1.0, 2.0, 1]
