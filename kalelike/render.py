"""Rendering the pipeline model as a standalone KFP v2 script.

Every piece of notebook text reaches the script either as a validated identifier
or as a quoted literal made here, never spliced into code: the template holds only
loops and conditionals over what `context` prepares.
"""

import ast
import builtins
import contextlib
import io
import re
import tokenize
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from kalelike.errors import InternalError
from kalelike.findings import Finding
from kalelike.model import CodeCell, Pipeline, Step

if TYPE_CHECKING:
    from jinja2 import BytecodeCache, Template
    from jinja2.bccache import Bucket

WIDTH = 88
# Names the script itself defines; a step named like one of them is renamed.
RESERVED = frozenset(
    [
        "argparse",
        "json",
        "dsl",
        "Artifact",
        "Input",
        "Metrics",
        "Output",
        "NOTEBOOK",
        "BASE_IMAGE",
        "PARAMETERS",
        "run_step",
        "notebook_prelude",
        "build_pipeline",
        "parse_parameters",
        "main",
        "component",
        "pipeline",
        "local",
        "kubernetes",
        "EXPERIMENT",
        "HOST",
        "submit",
    ]
)
BUILTINS = frozenset(dir(builtins))  # the script calls some; a step must not hide them


def script_name(notebook: Path) -> str:
    return f"{notebook.stem}_pipeline.py"


def render(pipeline: Pipeline, script: str) -> tuple[str, dict[str, int]]:
    """The script's text, parsed before it is returned so that it is valid
    Python, and the size in bytes of each of its functions (see `oversized_steps`).

    The step runtime is the same text in every script: it is parsed once a
    process, and a stand-in takes its place in the text parsed here.
    """
    template, runtime = _template()
    text = template.render(runtime=runtime, **context(pipeline, script))
    start = text.index(runtime)
    checked = text[:start] + RUNTIME_STANDIN + text[start + len(runtime) :]
    sizes = _function_sizes(checked, script)
    sizes["run_step"] = _runtime_size()
    return text, sizes


RUNTIME_STANDIN = "def run_step(*args, **kwargs):\n    pass"


@cache
def _runtime_size() -> int:
    return _function_sizes(_template()[1], "step_runtime.py")["run_step"]


def _function_sizes(text: str, filename: str) -> dict[str, int]:
    """The size in bytes of each top-level function of a script, which must parse."""
    try:
        tree = ast.parse(text, filename or "<script>")
    except SyntaxError as e:  # the template and quoting must never allow this
        raise InternalError(f"generated script does not parse: {e}") from None
    # Where each line starts, in bytes, split as ast.get_source_segment splits
    # (which, called per function, split the whole script each time).
    starts = [0] + [m.end() for m in re.finditer(rb"\r\n|\r|\n", text.encode())]
    return {
        node.name: _offset(starts, node.end_lineno, node.end_col_offset)
        - _offset(starts, node.lineno, node.col_offset)
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
    }


# kfp hands a step its code as one command-line argument, which Linux caps at
# 128 KiB; kfp's own lines around the code take about 80 bytes of it.
ARGUMENT_LIMIT = 127 * 1024


def oversized_steps(pipeline: Pipeline, sizes: dict[str, int]) -> list[Finding]:
    """Steps too large for kfp to start, as findings on their largest cell."""
    functions = _function_names(pipeline)
    shared = sizes["run_step"] + sizes.get("notebook_prelude", 0)
    found = []
    for step in pipeline.steps:
        size = shared + sizes[functions[step.name]]
        if size <= ARGUMENT_LIMIT:
            continue
        largest = max(pipeline.prelude + step.code, key=lambda c: len(c.source))
        found.append(
            Finding(
                largest.cell,
                None,
                None,
                "error",
                "step-too-large",
                f"step {step.name!r} is {size // 1024} KiB of code with the "
                f"notebook's imports and functions; kfp passes a step's code as one "
                f"command-line argument, which Linux caps at 128 KiB; read large "
                "data from a file instead of writing it in a cell, or split the step",
                step.name,
            )
        )
    return found


@cache
def _template() -> tuple["Template", str]:
    """The script's template and the step runtime, loaded once a process."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    folder = files("kalelike.templates")
    env = Environment(
        loader=FileSystemLoader(str(folder)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        bytecode_cache=_bytecode_cache(),
    )
    runtime = (folder / "step_runtime.py").read_text().rstrip("\n")
    return env.get_template("pipeline.py.j2"), runtime


def _bytecode_cache() -> "BytecodeCache | None":
    """Jinja's cache of compiled templates, in its private folder under /tmp.

    Compiling the template costs three times what rendering it does (15 ms); the
    cache keeps the compiled code while the template's text is unchanged. Where no
    safe folder can be had, or written, there is simply no cache.
    """
    from jinja2 import FileSystemBytecodeCache

    class QuietCache(FileSystemBytecodeCache):
        def dump_bytecode(self, bucket: "Bucket") -> None:
            with contextlib.suppress(OSError):
                super().dump_bytecode(bucket)

    try:
        return QuietCache()
    except (OSError, RuntimeError):  # jinja2 raises RuntimeError for an unsafe folder
        return None


def context(pipeline: Pipeline, script: str) -> dict[str, object]:
    functions = _function_names(pipeline)
    types = {p.name: p.type for p in pipeline.parameters}
    arguments = {step.name: _arguments(step, types) for step in pipeline.steps}
    steps = [_step(step, functions, arguments, pipeline) for step in pipeline.steps]
    from kalelike import render_settings  # deferred: it uses `quote` from here

    used = {a for step in pipeline.steps for a in step.after}
    for step, item in zip(pipeline.steps, steps, strict=True):
        item.update(render_settings.step_context(str(item["task"]), step, pipeline))
        # `task.after(...)` and the settings lines need the task by name.
        named = step.name in used or item["settings"] or item["after"]
        item["assign"] = f"{item['task']} = " if named else ""
    return {
        **render_settings.pipeline_context(pipeline),
        "dsl_names": _dsl_names(pipeline),
        "version_note": "",
        "notebook_comment": _plain(pipeline.notebook),
        "name_comment": _plain(pipeline.name),
        "script_comment": _plain(script),
        "notebook_literal": quote(pipeline.notebook),
        "name_literal": quote(pipeline.name),
        "description_literal": quote(pipeline.description),
        "base_image_literal": quote(pipeline.base_image),
        "yaml_literal": quote(Path(script).stem + ".yaml"),
        "parameter_types": _dict_literal(
            [(quote(p.name), quote(p.type)) for p in pipeline.parameters],
            0,
            "PARAMETERS = ",
        ),
        "prelude": [_cell(c, indent=8) for c in pipeline.prelude],
        "parameters": [
            _parameter(p.name, p.type, p.default) for p in pipeline.parameters
        ],
        "steps": steps,
    }


def _dsl_names(pipeline: Pipeline) -> str:
    names = set()
    for step in pipeline.steps:
        names |= {"Artifact", "Input"} if step.inputs else set()
        names |= {"Artifact", "Output"} if step.outputs else set()
        names |= {"Metrics", "Output"} if step.metrics else set()
    return ", ".join(sorted(names))


def _offset(starts: list[int], line: int | None, column: int | None) -> int:
    """A byte offset into the script from an AST position (set by `ast.parse`)."""
    return starts[(line or 1) - 1] + (column or 0)


def task_names(pipeline: Pipeline) -> dict[str, str]:
    """Step names by the names kfp gives their tasks (`load_data` runs as
    `load-data`), so run logs can speak of steps as the notebook names them."""
    return {
        re.sub(r"[^-0-9a-z]+", "-", function.lower()).strip("-"): step
        for step, function in _function_names(pipeline).items()
    }


def _function_names(pipeline: Pipeline) -> dict[str, str]:
    """A function name per step, renamed where it would shadow a name the script
    uses: a builtin, its own names, another step's `NAME_op` and `NAME_task`
    variables, or a pipeline parameter in the pipeline function.
    """
    parameters = {p.name for p in pipeline.parameters}
    taken = set(RESERVED | BUILTINS)
    names: dict[str, str] = {}
    for step in pipeline.steps:
        name = step.name
        while name in taken or any(
            n in taken or n in parameters for n in (f"{name}_op", f"{name}_task")
        ):
            name += "_step"
        taken.update((name, f"{name}_op", f"{name}_task"))
        names[step.name] = name
    return names


# Arguments, input and output names, the metrics argument (or ""), and the
# parameters' argument names.
Arguments = tuple[list[str], dict[str, str], dict[str, str], str, dict[str, str]]


def _step(
    step: Step,
    functions: dict[str, str],
    arguments: dict[str, Arguments],
    pipeline: Pipeline,
) -> dict[str, object]:
    args, inputs, outputs, metrics, params = arguments[step.name]
    call_args = [f"{params[p]}={p}" for p in sorted(params)]
    for name in sorted(step.inputs):
        producer = step.inputs[name].producer
        key = arguments[producer][2][name]
        call_args.append(
            f"{inputs[name]}={functions[producer]}_task.outputs[{quote(key)}]"
        )
    data_edges = {i.producer for i in step.inputs.values()}
    after = sorted(step.after - data_edges)
    return {
        "function": functions[step.name],
        "task": f"{functions[step.name]}_task",
        "signature": _signature(functions[step.name], args),
        "doc_summary": _doc_summary(step),
        "doc_lines": _doc_lines(step),
        "reimports": [_reimport(cell, text) for cell, text in _reimports(step)],
        "code": [_cell(c) for c in step.code],
        "parameters": _dict_literal(
            [(quote(p), params[p]) for p in sorted(params)], 8, "parameters="
        ),
        "inputs": _dict_literal(
            [(quote(n), inputs[n]) for n in sorted(inputs)], 8, "inputs="
        ),
        "outputs": _dict_literal(
            [(quote(n), outputs[n]) for n in sorted(outputs)], 8, "outputs="
        ),
        "metrics": _metrics(metrics, step.metrics),
        "numbers": _numbers(
            [(p.name, p.default) for p in pipeline.parameters if p.name in params]
        ),
        "guards": _dict_literal(
            [(quote(n), quote(r)) for n, r in sorted(step.guards.items())],
            8,
            "guards=",
        ),
        "ipython": any(c.ipython for c in pipeline.prelude + step.code),
        "skip": _tuple_literal(
            sorted({s for c in pipeline.prelude + step.code for s in c.skip}), "skip="
        ),
        "together": _tuple_literal(sorted(step.together), "together="),
        "packages": [quote(p) for p in step.packages],
        "call_args": call_args,
        "after": ", ".join(f"{functions[a]}_task" for a in after),
    }


def _reimports(step: Step) -> list[tuple[int, str]]:
    by_cell: dict[int, list[str]] = {}
    for cell, statement in sorted(step.reimports.values()):
        if statement not in by_cell.setdefault(cell, []):
            by_cell[cell].append(statement)
    return [(cell, "\n".join(lines) + "\n") for cell, lines in sorted(by_cell.items())]


def _reimport(cell: int, statement: str) -> dict[str, str]:
    return _entry(f"imports from cell {cell + 1}", statement)


def _cell(cell: CodeCell, indent: int = 12) -> dict[str, str]:
    return _entry(f"cell {cell.cell + 1}", cell.source, indent)


def _entry(label: str, source: str, indent: int = 12) -> dict[str, str]:
    """One `"label": literal,` item of a dict of cells, written at `indent`."""
    key = quote(label)
    width = WIDTH - indent - len(key) - 3
    return {"label": key, "literal": cell_literal(source, width)}


def _arguments(step: Step, types: dict[str, str]) -> Arguments:
    """The component's arguments: parameters, inputs, outputs, then metrics.

    Parameters keep their names and inputs too; outputs get `_out`. A clash
    (an input `x_out` beside an output `x`, the `run_step` the body calls, the
    `Output` KFP reserves) is resolved with more underscores.
    """
    taken: set[str] = {"run_step", "Output"}

    def unique(name: str) -> str:
        while name in taken:
            name += "_"
        taken.add(name)
        return name

    params = {p: unique(p) for p in sorted(step.parameters)}
    args = [f"{params[p]}: {types[p]}" for p in sorted(params)]
    inputs = {
        n: unique(n if n.isidentifier() else _kfp_name(n)) for n in sorted(step.inputs)
    }
    args += [f"{inputs[n]}: Input[Artifact]" for n in sorted(inputs)]
    outputs = {n: unique(_kfp_name(f"{n}_out")) for n in sorted(step.outputs)}
    args += [f"{outputs[n]}: Output[Artifact]" for n in sorted(outputs)]
    metrics = unique("metrics") if step.metrics else ""
    if metrics:
        args.append(f"{metrics}: Output[Metrics]")
    return args, inputs, outputs, metrics, params


def _kfp_name(name: str) -> str:
    """The name as KFP takes an output's: an ASCII letter, then ASCII letters,
    digits and `_` (a variable `_tmp` or `café` is a valid identifier, not that).
    """
    plain = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return plain if plain[0].isalpha() else f"v{plain}"


def _signature(function: str, args: list[str]) -> str:
    """The `def` line, on one line when it fits, else one argument a line."""
    one = f"def {function}({', '.join(args)}):"
    if len(one) <= WIDTH:
        return one
    return f"def {function}(\n" + "".join(f"    {a},\n" for a in args) + "):"


def _metrics(argument: str, names: list[str]) -> str:
    """`(metrics, [names])` for run_step, broken over lines as ruff would."""
    if not names:
        return ""
    listed = "[" + ", ".join(quote(m) for m in names) + "]"
    one = f"({argument}, {listed})"
    if len("        metrics=") + len(one) + 1 <= WIDTH:
        return one
    if 12 + len(listed) + 1 > WIDTH:
        items = "".join(f"{' ' * 16}{quote(m)},\n" for m in names)
        listed = "[\n" + items + " " * 12 + "]"
    return f"(\n{' ' * 12}{argument},\n{' ' * 12}{listed},\n{' ' * 8})"


def _doc_summary(step: Step) -> str:
    cells = ", ".join(str(c + 1) for c in step.cells)
    label = "cell" if len(step.cells) == 1 else "cells"
    return f"Step {step.name}: notebook {label} {cells}."


def _doc_lines(step: Step) -> list[str]:
    lines = []
    if step.inputs:
        by_producer: dict[str, list[str]] = {}
        for inp in step.inputs.values():
            by_producer.setdefault(inp.producer, []).append(inp.name)
        parts = [
            f"{', '.join(sorted(names))} from {producer}"
            for producer, names in sorted(by_producer.items())
        ]
        lines.append("Receives " + "; ".join(parts) + ".")
    if step.parameters:
        lines.append("Parameters: " + ", ".join(sorted(step.parameters)) + ".")
    if step.outputs:
        lines.append("Hands on " + ", ".join(sorted(step.outputs)) + ".")
    if step.metrics:
        lines.append("Logs metrics " + ", ".join(step.metrics) + ".")
    return [_wrap(line, 4) for line in lines]


def _wrap(text: str, indent: int) -> str:
    import textwrap

    return ("\n" + " " * indent).join(textwrap.wrap(text, WIDTH - indent))


def _plain(text: str) -> str:
    """Text safe inside a comment or docstring: no quotes, escapes or line breaks."""
    return re.sub(r"[^A-Za-z0-9 ._()+-]", "_", text)


def quote(text: str) -> str:
    """A Python string literal for any text, in the quotes ruff's formatter keeps:
    double quotes unless they would need more escapes than single ones.
    """
    literal = repr(text)
    if literal.startswith("'") and text.count('"') <= text.count("'"):
        body = literal[1:-1].replace("\\'", "'").replace('"', '\\"')
        literal = '"' + body + '"'
    return literal


def quote_value(value: object) -> str:
    """A literal for a parameter value (str, number, bool, list or dict)."""
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, (list, dict)):
        return _json_literal(value)
    return repr(value)


def _parameter(name: str, kind: str, default: object) -> str:
    """One argument line of the pipeline function, laid out as `ruff format` would.

    KFP reads a parameter's default from the signature, so a list or dict default
    has to stay there, marked as meant for the linter."""
    line = f"{name}: {kind} = "
    if not isinstance(default, (list, dict)):
        return line + quote_value(default) + ","
    literal = _fitted(default, PARAMETER_INDENT, len(line), ",")
    head, newline, rest = literal.partition("\n")
    if not newline:
        return f"{line}{literal},  # noqa: B006"
    return f"{line}{head}  # noqa: B006\n{rest},"


PARAMETER_INDENT = 8  # where the template puts the pipeline function's arguments
LINE_LENGTH = 88  # ruff's and black's default


def _fitted(value: object, indent: int, before: int, after: str) -> str:
    """`value` as a literal on one line if it fits, else one element per line.

    `before` and `after` count the text sharing the first and last lines."""
    flat = _json_literal(value)
    if isinstance(value, dict):
        items = [(f"{quote(str(key))}: ", item) for key, item in value.items()]
    else:
        items = [("", item) for item in value] if isinstance(value, list) else []
    if indent + before + len(flat) + len(after) <= LINE_LENGTH or not items:
        return flat
    inner = indent + 4
    lines = [
        " " * inner + prefix + _fitted(item, inner, len(prefix), ",") + ","
        for prefix, item in items
    ]
    opening, closing = "{}" if isinstance(value, dict) else "[]"
    return opening + "\n" + "\n".join(lines) + "\n" + " " * indent + closing


def _numbers(defaults: list[tuple[str, object]]) -> str:
    """The `numbers=` dict: the list and dict defaults KFP would hand back
    changed, laid out as `ruff format` would."""
    pairs = [(quote(name), value) for name, value in defaults if _changed_by_kfp(value)]
    one = _dict_literal([(k, _json_literal(v)) for k, v in pairs], 8, "numbers=")
    if "\n" not in one:
        return one
    body = "".join(
        f"{' ' * 12}{k}: {_fitted(v, 12, len(k) + 2, ',')},\n" for k, v in pairs
    )
    return "{\n" + body + " " * 8 + "}"


def _changed_by_kfp(value: object) -> bool:
    """A list or dict holding an int, which KFP hands over as a float, or a dict
    of several keys, which it hands over in another order."""
    if isinstance(value, dict):
        if len(value) > 1:
            return True
        value = list(value.values())
    return isinstance(value, list) and any(
        type(v) is int or _changed_by_kfp(v) for v in value
    )


def _json_literal(value: object) -> str:
    if isinstance(value, dict):
        items = ", ".join(
            f"{quote(str(k))}: {_json_literal(v)}" for k, v in value.items()
        )
        return "{" + items + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_json_literal(v) for v in value) + "]"
    if isinstance(value, str):
        return quote(value)
    return repr(value)  # None, bool, int or float: Python's own literal


def _tuple_literal(items: list[str], prefix: str, indent: int = 8) -> str:
    """A tuple of strings on one line when it fits, else one item a line."""
    if not items:
        return ""
    quoted = [quote(i) for i in items]
    one = "(" + ", ".join(quoted) + ("," if len(items) == 1 else "") + ")"
    if indent + len(prefix) + len(one) + 1 <= WIDTH:
        return one
    pad = " " * (indent + 4)
    return "(\n" + "".join(f"{pad}{q},\n" for q in quoted) + " " * indent + ")"


def _dict_literal(pairs: list[tuple[str, str]], indent: int, prefix: str) -> str:
    """A dict display on one line when it fits, else one entry a line."""
    if not pairs:
        return "{}" if not indent else ""
    one = "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
    if indent + len(prefix) + len(one) + 1 <= WIDTH:
        return one
    pad = " " * (indent + 4)
    body = "".join(f"{pad}{k}: {v},\n" for k, v in pairs)
    return "{\n" + body + " " * indent + "}"


def cell_literal(source: str, room: int = WIDTH) -> str:
    """Cell code as a string literal that reads like the cell itself.

    A raw triple-quoted string shows the code verbatim; it opens with a newline
    (which `run_step` drops) so the code starts at column 0. Where that form cannot
    hold the text exactly (triple quotes, a trailing backslash, invisible or
    control characters, blank lines with spaces inside a string, which kfp's
    dedent would strip), each line becomes a quoted literal of its own, or the
    whole cell one literal when it fits in `room` columns (as ruff would join it).
    """
    text = source if source.endswith("\n") else source + "\n"
    shown = _strip_blank_line_spaces(text)
    if shown is not None and _printable(shown):
        for quotes in ('"""', "'''"):
            literal = f"r{quotes}\n{shown}{quotes}"
            if quotes not in shown and _round_trips(literal, "\n" + shown):
                return literal
    if text.startswith("\n"):  # run_step drops one leading newline
        text = "\n" + text
    if len(quote(text)) <= room:
        return quote(text)
    lines = "".join(f"{' ' * 16}{quote(line)}\n" for line in text.splitlines(True))
    return "(\n" + lines + " " * 12 + ")"


def _printable(text: str) -> bool:
    return text.replace("\n", "").replace("\t", "").isprintable()


def _round_trips(literal: str, text: str) -> bool:
    try:
        return bool(ast.literal_eval(literal) == text)
    except (SyntaxError, ValueError):
        return False


def _strip_blank_line_spaces(text: str) -> str | None:
    """Drop spaces on blank lines, unless a blank line lies inside a string."""
    if not re.search(r"^[ \t]+$", text, re.MULTILINE):
        return text
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return None
    inside = set()
    for tok in tokens:
        if tok.type == tokenize.STRING or tok.type == getattr(
            tokenize, "FSTRING_MIDDLE", -1
        ):
            inside |= set(range(tok.start[0] + 1, tok.end[0]))
    lines = text.splitlines(True)
    for i, line in enumerate(lines, start=1):
        if not line.strip() and line != "\n":
            if i in inside:
                return None
            lines[i - 1] = "\n"
    return "".join(lines)


def artifact_folders(pipeline: Pipeline) -> dict[tuple[str, str], tuple[str, str]]:
    """Where a local run keeps each handed-on value: (step, name) -> (task, output).

    kfp names a task after its component, lower-cased with `-` for `_`.
    """
    functions = _function_names(pipeline)
    types = {p.name: p.type for p in pipeline.parameters}
    folders = {}
    for step in pipeline.steps:
        task = re.sub(r"[^a-z0-9]+", "-", functions[step.name].lower()).strip("-")
        outputs = _arguments(step, types)[2]
        for name, output in outputs.items():
            folders[(step.name, name)] = (task, output)
    return folders
