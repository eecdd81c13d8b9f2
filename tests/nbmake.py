"""Small notebooks built in tests, and the shape every generated script must have.

Shared by the safety, broken-input and fuzz tests: a notebook is a plain dict in
nbformat 4.5, written with `write`; `shape_problems` checks a script's top-level
statements against the fixed set the template makes.
"""

import ast
import json
from pathlib import Path

KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}


def code(source: str, *tags: str) -> dict:
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"tags": list(tags)} if tags else {},
        "outputs": [],
        "source": source,
    }


def markdown(source: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": source}


def notebook(*cells: dict, **metadata: object) -> dict:
    """A valid nbformat 4.5 notebook; cell ids are their positions."""
    numbered = [{"id": f"cell-{i}", **cell} for i, cell in enumerate(cells)]
    return {
        "cells": numbered,
        "metadata": {"kernelspec": KERNEL, **metadata},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def write(path: Path, nb: dict) -> Path:
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return path


# The script's own top-level definitions, besides one function per step.
FUNCTIONS = {"run_step", "build_pipeline", "parse_parameters", "submit", "main"}
PRELUDE = "notebook_prelude"  # defined when the notebook has imports or functions
CONSTANTS = {"NOTEBOOK", "BASE_IMAGE", "EXPERIMENT", "HOST", "PARAMETERS"}
IMPORTS = {"argparse", "json"}


def shape_problems(script: str, steps: int) -> list[str]:
    """What in the script's top level differs from the template's fixed shape.

    The shape: a docstring, imports of argparse, json and kfp, the constants
    (NOTEBOOK, PARAMETERS, ...) holding literals, the fixed functions, one
    function per step whose body is a docstring and one `run_step(...)` call with
    literal or name arguments, and the `if __name__ == "__main__": main()` block.
    """
    body = ast.parse(script).body
    problems = []
    if body and _is_docstring(body[0]):
        body = body[1:]
    else:
        problems.append("no module docstring")
    defined: list[str] = []
    for node in body:
        problem = _statement_problem(node)
        if problem:
            problems.append(f"line {node.lineno}: {problem}")
        if isinstance(node, ast.FunctionDef):
            defined.append(node.name)
    missing = FUNCTIONS - set(defined)
    if missing:
        problems.append(f"missing functions {sorted(missing)}")
    if len(defined) != len(set(defined)):
        problems.append(f"a function is defined twice: {defined}")
    step_functions = set(defined) - FUNCTIONS - {PRELUDE}
    if len(step_functions) != steps:
        problems.append(f"{len(step_functions)} step functions, not {steps}")
    return problems


def _statement_problem(node: ast.stmt) -> str:
    if isinstance(node, ast.Import):
        names = {alias.name for alias in node.names}
        return "" if names <= IMPORTS else f"imports {sorted(names)}"
    if isinstance(node, ast.ImportFrom):
        module = node.module or ""
        return "" if module.split(".")[0] == "kfp" else f"imports from {module!r}"
    if isinstance(node, ast.Assign):
        return _constant_problem(node)
    if isinstance(node, ast.FunctionDef):
        if node.decorator_list:
            return f"decorated function {node.name}"
        if node.name == PRELUDE:
            return _prelude_problem(node)
        return "" if node.name in FUNCTIONS else _step_problem(node)
    if isinstance(node, ast.If):
        return "" if _is_main_block(node) else "an `if` other than the main block"
    return f"unexpected {type(node).__name__}"


def _constant_problem(node: ast.Assign) -> str:
    target = node.targets[0] if len(node.targets) == 1 else None
    if not isinstance(target, ast.Name) or target.id not in CONSTANTS:
        return f"assigns {ast.unparse(node.targets[0])}"
    try:
        ast.literal_eval(node.value)
    except ValueError:
        return f"{target.id} is not a literal"
    return ""


def _prelude_problem(node: ast.FunctionDef) -> str:
    rest = node.body[1:] if _is_docstring(node.body[0]) else node.body
    if len(rest) != 1 or not isinstance(rest[0], ast.Return):
        return f"{PRELUDE} does more than return its cells"
    try:
        cells = ast.literal_eval(rest[0].value)
    except ValueError:
        return f"{PRELUDE} returns an expression"
    return "" if all(isinstance(c, str) for c in cells.values()) else "not cells"


def _step_problem(node: ast.FunctionDef) -> str:
    if not node.name.isascii() or not node.name.isidentifier():
        return f"step function name {node.name!r}"
    rest = node.body[1:] if _is_docstring(node.body[0]) else node.body
    if len(rest) != 1 or not isinstance(rest[0], ast.Expr):
        return f"step {node.name} does more than call run_step"
    call = rest[0].value
    if not (isinstance(call, ast.Call) and _name(call.func) == "run_step"):
        return f"step {node.name} does more than call run_step"
    values = call.args + [k.value for k in call.keywords]
    if not all(_inert(v) for v in values):
        return f"step {node.name} passes run_step an expression"
    return ""


def _inert(node: ast.expr) -> bool:
    """A literal, a name, or displays and tuples of them: nothing that runs."""
    if isinstance(node, (ast.Constant, ast.Name)):
        return True
    if isinstance(node, (ast.Tuple, ast.List)):
        return all(_inert(e) for e in node.elts)
    if isinstance(node, ast.Dict):  # `**notebook_prelude()` has no key
        return all(
            _inert(v) if k is not None else _is_prelude(v)
            for k, v in zip(node.keys, node.values, strict=True)
        ) and all(k is None or _inert(k) for k in node.keys)
    return _is_prelude(node)


def _is_prelude(node: ast.expr) -> bool:
    return ast.dump(node) == ast.dump(ast.parse(f"{PRELUDE}()", mode="eval").body)


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _is_main_block(node: ast.If) -> bool:
    expected = ast.parse('if __name__ == "__main__":\n    main()').body[0]
    return ast.dump(node) == ast.dump(expected)


def _name(node: ast.expr) -> str:
    return node.id if isinstance(node, ast.Name) else ""


def step_sources(script: str) -> dict[str, list[str]]:
    """Each step function's cell texts, as the script hands them to run_step."""
    found = {}
    for node in ast.parse(script).body:
        if isinstance(node, ast.FunctionDef) and node.name not in FUNCTIONS | {PRELUDE}:
            call = node.body[-1].value  # type: ignore[attr-defined]
            cells = next(k.value for k in call.keywords if k.arg == "cells")
            texts = [ast.literal_eval(v) for v in cells.values]
            # run_step drops the newline that opens a raw triple-quoted cell
            found[node.name] = [t.removeprefix("\n") for t in texts]
    return found
