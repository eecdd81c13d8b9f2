"""Property-based tests: generated notebooks never crash nb2pipe.

Notebooks are built from random cell kinds, tags from Kale's vocabulary and
random text, code from a small grammar of what the analysis handles, and random
metadata. On each, nb2pipe either refuses (findings, exit 1; unreadable input,
exit 2) or writes a script of the template's shape; compiling a sample of those
with the KFP compiler must work too. Exit 70, or any exception, is a failure.
"""

import ast
import json
import runpy
import tempfile
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from nbmake import code, notebook, shape_problems, write

from kalelike import conversion, slim
from kalelike.cli import main
from kalelike.errors import FindingsError, UsageError
from kalelike.findings import Finding, printable
from kalelike.render import _plain, cell_literal, quote

FAST = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
COMPILED = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- a small grammar of the code the analysis handles -------------------------

NAMES = ["x", "y", "data", "total", "items", "model", "df", "n", "result", "acc"]
ODD_NAMES = ["_x", "café", "Output", "run_step", "metrics", "int", "print", "match"]
MODULES = ["math", "json", "os", "collections", "itertools", "statistics"]

names = st.sampled_from(NAMES) | st.sampled_from(ODD_NAMES)
literals = st.one_of(
    st.integers(-5, 100).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
    st.text(max_size=8).map(repr),
    st.just("[1, 2, 3]"),
    st.just("{'a': 1}"),
    st.just("None"),
)


@st.composite
def expressions(draw: st.DrawFn) -> str:
    a, b = draw(names), draw(names)
    return draw(
        st.sampled_from(
            [
                draw(literals),
                a,
                f"{a} + {b}",
                f"len({a})",
                f"{a}.copy()",
                f"{a}[0]",
                f"[v for v in range({draw(st.integers(0, 4))})]",
                f"{{k: {a} for k in 'ab'}}",
                f"f({a})",
                f"(w := {a})",
                f"{a} if {b} else None",
                f"f'{{{a}}}'",
            ]
        )
    )


@st.composite
def statements(draw: st.DrawFn, friendly: bool = False) -> str:
    """A statement; `friendly` ones read only bound names and are never refused."""
    a, b = draw(names), draw(names)
    expr = draw(expressions())
    module = draw(st.sampled_from(MODULES))
    safe = [
        f"{a} = {expr}",
        f"{a} += {expr}",
        f"{a}.append({expr})",
        f"{a}[0] = {expr}",
        f"{a}.fit({b})",
        f"for v in range(3):\n    {a} = v",
        f"{a} = [v * 2 for v in {b}]",
        f"def f(arg):\n    return arg + {a}",
        f"class C:\n    size = {expr}",
        f"import {module}",
        f"print({a})",
        f"if {a}:\n    {b} = {expr}",
        f"try:\n    {a} = {expr}\nexcept Exception as {b}:\n    pass",
        f"{a}, *{b} = {expr}",
        f"%time {a} = {expr}",
        "%matplotlib inline",
    ]
    risky = [  # refused, or hard to hand on, or broken
        f"from {module} import *",
        f"import {module} as {a}",
        f"del {a}",
        f"with open('f.txt', 'w') as {a}:\n    {a}.write('x')",
        f"global {a}",
        f"!echo {a}",
        f"{a} = !ls",
        "x = (",
        "\tx = 1",
        "%%bash\necho hi",
        f"%%writefile out.txt\n{a}",
        f"%%time\n{a} = {expr}",
        f"{a}?",
        "%cd /tmp",
        f"await {a}",
        f"if __name__ == '__main__':\n    {a} = 1",
        f"exec('{a} = 1')",
        f"globals()['{a}'] = 1",
        f"{a} = lambda: {b}",
        f"{a} = (v for v in {b})",
        f"match {a}:\n    case [p, *q]:\n        {b} = p",
        f"{a}: int",
        f"nonlocal {a}",
        f"return {a}",
    ]
    return draw(st.sampled_from(safe if friendly else safe + risky))


cell_code = st.lists(statements(), max_size=5).map(lambda s: "\n".join(s) + "\n")
parameter_code = st.lists(
    st.tuples(names, literals | st.sampled_from(["1e999", "(1, 2)", "{1: 2}", "f(1)"])),
    max_size=4,
).map(lambda pairs: "".join(f"{n} = {v}\n" for n, v in pairs))
metric_code = st.lists(names, max_size=3).map(lambda ns: "".join(f"{n}\n" for n in ns))

# -- tags and metadata --------------------------------------------------------

step_names = st.sampled_from(["load", "train", "eval", "load-data", "2nd", "int"])
random_text = st.text(max_size=12).filter(lambda t: "," not in t)
vocabulary = st.one_of(
    step_names.map(lambda n: f"step:{n}"),
    step_names.map(lambda n: f"block:{n}"),
    step_names.map(lambda n: f"prev:{n}"),
    st.sampled_from(
        [
            "imports",
            "functions",
            "skip",
            "pipeline-metrics",
            "limit:cpu:1",
            "limit:memory:1Gi",
            "image:python:3.11",
            "cache:disabled",
            "retry:2",
            "timeout:60",
            "annotation:team:ml",
            "label:tier:gold",
        ]
    ),
    random_text.map(lambda t: f"step:{t}"),
    st.tuples(
        st.sampled_from(
            ["limit:", "image:", "annotation:", "label:", "secret:", "retry:"]
        ),
        random_text,
    ).map("".join),
    random_text,
)


@st.composite
def cells(draw: st.DrawFn) -> dict:
    kind = draw(
        st.sampled_from(["code", "code", "code", "parameters", "markdown", "raw"])
    )
    if kind in ("markdown", "raw"):
        return {"cell_type": kind, "metadata": {}, "source": draw(st.text())}
    tags = draw(st.lists(vocabulary, max_size=3, unique=True))
    if draw(st.integers(0, 9)) == 0:  # any text at all, as a user may paste
        return code(draw(st.text()), *tags)
    if kind == "parameters":
        return code(draw(parameter_code), "pipeline-parameters", *tags)
    source = draw(metric_code if "pipeline-metrics" in tags else cell_code)
    return code(source, *tags)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
kale_keys = st.sampled_from(
    [
        "pipeline_name",
        "pipeline_description",
        "experiment_name",
        "docker_image",
        "base_image",
        "enable_caching",
        "volumes",
        "steps_defaults",
        "unknown_key",
    ]
)
kale_metadata = st.dictionaries(
    kale_keys, json_values | st.sampled_from(["my-pipeline", "python:3.11"]), max_size=3
)


@st.composite
def notebooks(draw: st.DrawFn) -> dict:
    nb = notebook(*draw(st.lists(cells(), max_size=8)))
    if draw(st.booleans()):
        nb["metadata"]["kubeflow_notebook"] = draw(kale_metadata)
    return nb


# Statements that read only names bound before them: most such notebooks convert.
SETUP = "".join(f"{name} = [1, 2]\n" for name in NAMES + ODD_NAMES)
friendly_statements = statements(friendly=True)


@st.composite
def convertible_notebooks(draw: st.DrawFn) -> dict:
    """Steps in order, each a few cells of statements over names set up first."""
    nb_cells = [
        code("def f(arg):\n    return arg\n", "functions"),
        code(SETUP, "step:s0"),
    ]
    for i in range(1, draw(st.integers(1, 5)) + 1):
        for j in range(draw(st.integers(1, 3))):
            source = "\n".join(
                draw(st.lists(friendly_statements, min_size=1, max_size=4))
            )
            tags = [f"step:s{i}"] if j == 0 else []
            if j == 0 and draw(st.booleans()):
                tags.append(f"prev:s{draw(st.integers(0, i - 1))}")
            nb_cells.append(code(source + "\n", *tags))
    return notebook(*nb_cells)


@st.composite
def perturbed_notebooks(draw: st.DrawFn) -> dict:
    """A convertible notebook with random tags and Kale metadata added."""
    nb = draw(convertible_notebooks())
    for cell in nb["cells"]:
        if draw(st.integers(0, 3)) == 0:
            tags = cell["metadata"].get("tags", []) + draw(
                st.lists(vocabulary, max_size=2)
            )
            cell["metadata"]["tags"] = list(dict.fromkeys(tags))
    if draw(st.booleans()):
        nb["metadata"]["kubeflow_notebook"] = draw(kale_metadata)
    return nb


# -- the properties -----------------------------------------------------------


def _library(path: Path) -> conversion.Conversion | None:
    """Convert; None when nb2pipe refuses, which must come with a reason."""
    try:
        return conversion.convert(path)
    except FindingsError as e:
        assert any(f.severity == "error" for f in e.findings)
    except UsageError as e:
        assert str(e)
    return None


@FAST
@given(nb=st.one_of(notebooks(), convertible_notebooks(), perturbed_notebooks()))
def test_generated_notebooks_convert_or_are_refused(nb: dict) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder) / "fuzz.ipynb", nb)
        out = Path(folder) / "fuzz_pipeline.py"

        result = _library(path)
        cli = CliRunner().invoke(main, ["convert", str(path), "-o", str(out)])
        inspect = CliRunner().invoke(main, ["inspect", "--format", "json", str(path)])

        event(f"convert exit {cli.exit_code}")
        assert cli.exit_code == 0 if result else cli.exit_code in (1, 2), cli.stderr
        assert inspect.exit_code in (0, 1, 2), inspect.stderr
        assert "Traceback" not in cli.stderr + inspect.stderr
        if result is None:
            assert not out.exists()
            return
        script = out.read_text(encoding="utf-8")
        assert script == result.script
        assert shape_problems(script, len(result.pipeline.steps)) == []
        json.loads(inspect.stdout)


@COMPILED
@given(nb=st.one_of(notebooks(), convertible_notebooks(), perturbed_notebooks()))
def test_generated_scripts_compile_with_kfp(nb: dict) -> None:
    from kfp import compiler

    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder) / "fuzz.ipynb", nb)
        result = _library(path)
        event("converted" if result else "refused")
        if result is None:
            return
        script = Path(folder) / "fuzz_pipeline.py"
        script.write_text(result.script, encoding="utf-8")
        namespace = runpy.run_path(str(script), run_name="fuzz")
        compiler.Compiler().compile(
            namespace["build_pipeline"](), str(script.with_suffix(".yaml"))
        )
        namespace["build_pipeline"](local=True)


# -- the pieces that put notebook text into scripts and onto terminals --------


@FAST
@given(text=st.text())
def test_quote_round_trips_any_text(text: str) -> None:
    literal = quote(text)
    assert ast.literal_eval(literal) == text
    assert "\n" not in literal


@FAST
@given(text=st.text())
def test_plain_text_cannot_leave_a_comment_or_docstring(text: str) -> None:
    assert set(_plain(text)) <= set(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._()+-"
    )


@FAST
@given(source=st.text() | cell_code)
def test_cell_literal_carries_the_cell(source: str) -> None:
    literal = cell_literal(source)
    carried = ast.literal_eval(literal).removeprefix("\n")
    if carried not in (source, source + "\n"):
        # Only whitespace-only lines outside strings may change: the same code.
        assert ast.dump(ast.parse(carried)) == ast.dump(ast.parse(source))
    assert all(ch.isprintable() or ch in "\n\t" for ch in literal)


@FAST
@given(message=st.text(), excerpt=st.text(), col=st.integers(0, 50))
def test_findings_print_as_plain_lines(message: str, excerpt: str, col: int) -> None:
    finding = Finding(0, 1, col, "error", "code", message, excerpt=excerpt)
    lines = finding.format(printable("nb\n.ipynb")).split("\n")
    assert all(line.isprintable() for line in lines)
    assert len(lines) == (3 if excerpt else 1)


cell_json = st.fixed_dictionaries(
    {
        "cell_type": st.sampled_from(["code", "markdown"]),
        "metadata": st.dictionaries(
            st.sampled_from(["tags", "outputs", "x"]), json_values
        ),
        "source": st.text(max_size=20),
        "outputs": st.lists(json_values, max_size=3),
        "attachments": json_values,
    }
)


@FAST
@given(
    cells=st.lists(cell_json, max_size=4),
    extra=json_values,
    indent=st.none() | st.integers(0, 2),
)
def test_slim_drops_exactly_the_outputs(
    cells: list, extra: object, indent: int | None
) -> None:
    nb = {"cells": cells, "metadata": {"outputs": extra}, "nbformat": 4}
    data = json.dumps(nb, indent=indent, ensure_ascii=False).encode()

    slimmed = json.loads(slim.without_outputs(data))

    expected = json.loads(data)
    for cell in expected["cells"]:
        for key in ("outputs", "attachments"):
            if isinstance(cell[key], (list, dict)):
                cell[key] = type(cell[key])()
    assert slimmed == expected


@FAST
@given(data=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_slim_never_breaks_on_odd_bytes(data: bytes) -> None:
    slimmed = slim.without_outputs(data)
    if slimmed != data:
        json.loads(slimmed)
