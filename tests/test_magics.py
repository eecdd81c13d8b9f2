"""Snippet tests for kalelike.magics: cell sources in, Python and magics out."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kalelike.magics import (
    MAGIC_POLICY,
    POLICIES,
    Magic,
    cell_magic_body,
    has_ipython_syntax,
    line_magic_statement,
    magic_line,
    pip_packages,
    to_python,
)

ROOT = Path(__file__).resolve().parents[1]

PLAIN_CELLS = [
    "x = 1\ny = x + 2\n",
    "import os\n\n\ndef f(a):\n    return a % 3\n",
    "s = '%s' % name\n",
    "if x != y:\n    print(x)\n",
    "total = (a\n         + b)\n",
    'text = """\nnot %a magic\n"""\n',
    "",
]

# An escape counts only at the start of a line: IPython leaves these alone, and
# compiling them is a syntax error for the caller to report.
MISPLACED_ESCAPES = ["x = 1; !ls\n", "for i in y: !echo\n"]

# Cells IPython leaves alone although they look like IPython syntax.
LOOKALIKE_CELLS = [
    "x = 1  # why?\n",
    "s = 'a = %s' % 1\n",
    'print(f"{x=!r}")\n',
    "total = (a\n         // b)\n",
]

IPYTHON_CELLS = [
    "%time x = f()",
    "x = !ls",
    "x=!ls",
    "x = %env",
    "df?",
    "?df",
    "%%time\nx = 1",
    "\n\n%%capture\nx = 1",
    "if x:\n    !echo hi",
    "y = 1 + \\\n    2\n!echo",
    "x = \\\n  !ls",
    "/print 1",
    ">>> x = 1",
    "In [1]: x = 1",
    "  x = 1\n  y = 2",
]


def magics_of(source: str) -> list[Magic]:
    return to_python(source)[1]


def only_magic(source: str) -> Magic:
    [magic] = magics_of(source)
    return magic


def bound_names(code: str) -> set[str]:
    tree = ast.parse(code)
    return {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
    }


# --- plain Python and the pre-check -------------------------------------------


@pytest.mark.parametrize("source", PLAIN_CELLS)
def test_plain_python_is_returned_unchanged(source: str) -> None:
    assert not has_ipython_syntax(source)
    assert to_python(source) == (source, [])


def test_plain_cell_does_not_import_ipython() -> None:
    script = (
        "import sys\n"
        "from kalelike.magics import to_python\n"
        "assert to_python('x = 1\\nprint(x)\\n') == ('x = 1\\nprint(x)\\n', [])\n"
        "print('IPython' in sys.modules)\n"
        "to_python('!ls')\n"
        "print('IPython' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]


@pytest.mark.parametrize("source", IPYTHON_CELLS)
def test_precheck_flags_ipython_syntax(source: str) -> None:
    assert has_ipython_syntax(source)


def sample_cells() -> list[str]:
    cells = []
    for path in sorted((ROOT / "sample_notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text())
        cells += ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    return cells


@pytest.mark.parametrize(
    "source",
    PLAIN_CELLS + MISPLACED_ESCAPES + IPYTHON_CELLS + LOOKALIKE_CELLS + sample_cells(),
)
def test_precheck_has_no_false_negatives(source: str) -> None:
    # Wherever the pre-check says "plain", IPython must agree that it is.
    from IPython.core.inputtransformer2 import TransformerManager

    transformed = TransformerManager().transform_cell(source)
    if not has_ipython_syntax(source):
        assert transformed.strip() == source.strip()


@pytest.mark.parametrize("source", LOOKALIKE_CELLS)
def test_precheck_may_flag_plain_python(source: str) -> None:
    # A false positive only costs the import: IPython then changes nothing.
    assert has_ipython_syntax(source)
    assert to_python(source) == (source, [])


# --- line magics ----------------------------------------------------------------


def test_time_runs_a_statement_that_binds() -> None:
    code, magics = to_python("%time x = f()\ny = x")
    assert magics == [Magic(1, "time", "line", "run", "%time x = f()")]
    assert code.splitlines()[0] == "get_ipython().run_line_magic('time', 'x = f()')"
    # IPython hides the binding in a string; the statement brings it back.
    assert bound_names(code) == {"y"}
    statement = line_magic_statement(magics[0])
    assert statement == "x = f()"
    assert bound_names(statement) == {"x"}


@pytest.mark.parametrize(
    ("source", "statement"),
    [
        ("%timeit -n 10 -r 3 x = f(-1)", "x = f(-1)"),
        ("%prun -s cumulative run(a)", "run(a)"),
        ("%time --no-raise-error y = g()", "y = g()"),
        ("x = %time f()", "x = f()"),
        ("if ok:\n    best: int = %timeit -o fit()", "best: int = fit()"),
    ],
)
def test_statement_loses_the_magic_options(source: str, statement: str) -> None:
    assert line_magic_statement(only_magic(source)) == statement


def test_statement_only_for_magics_that_run_python() -> None:
    assert line_magic_statement(only_magic("%env A=B")) is None
    assert line_magic_statement(only_magic("!time ls")) is None


def test_env() -> None:
    magic = only_magic("%env A=B")
    assert (magic.name, magic.kind, magic.policy) == ("env", "line", "run")
    assert magic_line(magic) == "A=B"


def test_matplotlib_is_ignored() -> None:
    magic = only_magic("%matplotlib inline\nimport numpy as np")
    assert (magic.line, magic.name, magic.policy) == (1, "matplotlib", "ignore")


@pytest.mark.parametrize(
    ("source", "policy"),
    [
        ("%load_ext autoreload", "ignore"),
        ("%autoreload 2", "ignore"),
        ("%load_ext sql", "run"),
        ("%cd data", "refuse"),
        ("%store df", "refuse"),
        ("%run other.ipynb", "refuse"),
        ("%pwd", "ignore"),
        ("here = %pwd", "refuse"),  # its value would come from the step's kernel
        ("%frobnicate 3", "refuse"),
    ],
)
def test_policy(source: str, policy: str) -> None:
    assert only_magic(source).policy == policy


@pytest.mark.parametrize(
    ("source", "name", "kind", "policy"),
    [
        (
            "get_ipython().run_line_magic('matplotlib', 'inline')",
            "matplotlib",
            "line",
            "ignore",
        ),
        ("get_ipython().run_line_magic('cd', 'data')", "cd", "line", "refuse"),
        ("get_ipython().system('ls')", "!", "shell", "run"),
        ("files = get_ipython().getoutput('ls')", "!", "shell-assign", "run"),
    ],
)
def test_a_magic_spelled_out_as_a_call_has_the_magics_policy(
    source: str, name: str, kind: str, policy: str
) -> None:
    magic = only_magic("import os\n" + source)
    assert (magic.line, magic.name, magic.kind, magic.policy) == (2, name, kind, policy)


def test_every_policy_is_explained() -> None:
    assert set(MAGIC_POLICY.values()) <= set(POLICIES)
    assert "frobnicate" not in MAGIC_POLICY


@pytest.mark.parametrize(
    ("source", "name"), [("df?", "?"), ("df??", "??"), ("?df", "?")]
)
def test_help_is_ignored(source: str, name: str) -> None:
    magic = only_magic(source)
    assert (magic.name, magic.kind, magic.policy) == (name, "help", "ignore")


# --- shell escapes ----------------------------------------------------------------


def test_shell_escape() -> None:
    code, magics = to_python("!echo hi > f.txt")
    assert code == "get_ipython().system('echo hi > f.txt')\n"
    assert magics == [Magic(1, "!", "shell", "run", "!echo hi > f.txt")]
    assert magic_line(magics[0]) == "echo hi > f.txt"


def test_shell_assign_binds_the_name() -> None:
    code, magics = to_python("x = !ls -l\nprint(x)")
    assert bound_names(code) == {"x"}
    assert magics == [Magic(1, "!", "shell-assign", "run", "x = !ls -l")]


# --- installs -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "packages"),
    [
        ("%pip install pandas==2.0 -q", ["pandas==2.0"]),
        ("!pip install 'numpy>=1.26' scipy -U", ["numpy>=1.26", "scipy"]),
        ("!{sys.executable} -m pip install tqdm", ["tqdm"]),
        ("%conda install -y xgboost", ["xgboost"]),
    ],
)
def test_install(source: str, packages: list[str]) -> None:
    magic = only_magic(source)
    assert magic.policy == "install"
    assert pip_packages(magic) == packages


@pytest.mark.parametrize(
    "source",
    [
        "%pip install -r requirements.txt",  # the packages are in a file
        "%pip install --index-url https://example.org/simple a",
        "!pip install $pkg",  # IPython expands $pkg from the namespace
        "out = !pip install a",  # the output is kept as a value
        "%pip list",
    ],
)
def test_installs_we_cannot_plan_run_in_the_step(source: str) -> None:
    magic = only_magic(source)
    assert magic.policy == "run"
    assert pip_packages(magic) == []


# --- cell magics ----------------------------------------------------------------


def test_time_cell_body() -> None:
    source = "%%time\ntotal = sum(squares)\nwords = text.split()\n"
    code, magics = to_python(source)
    assert magics == [Magic(1, "time", "cell", "run", "%%time")]
    assert len(code.splitlines()) == len(source.splitlines())
    assert bound_names(code) == set()  # the body is a string to run_cell_magic
    name, body, offset = cell_magic_body(source) or ("", "", 0)
    assert name == "time"
    assert bound_names(body) == {"total", "words"}
    words = next(n for n in ast.walk(ast.parse(body)) if isinstance(n, ast.Assign))
    assert words.lineno + offset == 2


def test_writefile_body_after_blank_lines() -> None:
    source = "\n\n%%writefile helper.py\nimport os\nprint(os.sep)\n"
    magic = only_magic(source)
    assert (magic.line, magic.name, magic.policy) == (3, "writefile", "run")
    assert magic_line(magic) == "helper.py"
    assert cell_magic_body(source) == ("writefile", "import os\nprint(os.sep)\n", 3)


def test_bash_cell() -> None:
    source = "%%bash\necho hi\n"
    assert only_magic(source) == Magic(1, "bash", "cell", "run", "%%bash")
    assert cell_magic_body(source) == ("bash", "echo hi\n", 1)


def test_no_body_without_a_cell_magic() -> None:
    assert cell_magic_body("x = 1\n") is None
    assert cell_magic_body("%time x = 1\n") is None
    # %% below the first line is not a cell magic, as in the kernel.
    assert cell_magic_body("x = 1\n%%time\ny = 2\n") is None


# --- line numbers ---------------------------------------------------------------


def assert_lines_kept(source: str) -> str:
    code, magics = to_python(source)
    assert len(code.splitlines()) == len(source.splitlines())
    lines = code.splitlines()
    for magic in magics:
        assert "get_ipython()" in lines[magic.line - 1]
        assert magic.text.splitlines()[0] in source.splitlines()[magic.line - 1]
    ast.parse(code)
    return code


def test_magics_inside_blocks_keep_indentation() -> None:
    source = "if x:\n    !echo hi\n    %time y = 1\nelse:\n    y = 2\n"
    code = assert_lines_kept(source)
    assert [m.line for m in magics_of(source)] == [2, 3]
    assert code.splitlines()[1] == "    get_ipython().system('echo hi')"


def test_line_numbers_after_multiline_statements() -> None:
    source = 'a = (1,\n     2)\ns = """\n!not a shell escape\n"""\n!echo hi\n%env A=1'
    assert_lines_kept(source)
    assert [(m.line, m.name) for m in magics_of(source)] == [(6, "!"), (7, "env")]


def test_continued_magic_keeps_later_line_numbers() -> None:
    # IPython joins a backslash-continued magic into one line; we pad it back.
    source = "%time x = \\\n    f()\nq = 1\n!ls"
    code = assert_lines_kept(source)
    [time, shell] = magics_of(source)
    assert (time.line, time.text) == (1, "%time x = \\\n    f()")
    assert shell.line == 4
    q = next(n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Assign))
    assert q.lineno == 3
    assert line_magic_statement(time) == "x = f()"


def test_continued_python_before_a_magic() -> None:
    source = "total = 1 + \\\n    2\n!echo $total"
    assert_lines_kept(source)
    assert only_magic(source).line == 3


def test_leading_blank_lines_are_kept() -> None:
    # IPython drops them; the line numbers must not move.
    source = "\n\n%time x = 1\ny = 2\n"
    code = assert_lines_kept(source)
    assert code.startswith("\n\n")
    assert only_magic(source).line == 3


def test_autocall_escape_is_python_not_a_magic() -> None:
    code, magics = to_python("/print 1\n!ls")
    assert code.splitlines()[0] == "print(1)"
    assert [m.line for m in magics] == [2]
