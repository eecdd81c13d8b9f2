"""The `pipeline-parameters` and `pipeline-metrics` cells."""

import ast
import json
import math
import re

from kalelike.errors import UsageError
from kalelike.findings import Finding, syntax_error
from kalelike.model import Parameter
from kalelike.notebook import Cell

# KFP's rule for metric names: a letter, then up to 63 letters, digits, - or _,
# ending in a letter or digit.
METRIC_NAME = re.compile(r"^[a-zA-Z]([-_a-zA-Z0-9]{0,62}[a-zA-Z0-9])?$")
TYPES = (bool, int, float, str, list, dict)  # bool first: it is an int too
# Names a parameter cannot have: KFP reserves `Output`, and the generated
# pipeline function reads `kubernetes` and `local` besides its parameters.
SCRIPT_NAMES = frozenset({"Output", "kubernetes", "local"})
# KFP's rule for the names of pipeline inputs (its "channels").
KFP_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
# KFP passes every number as a 64-bit float, an int parameter's too: only ints
# smaller than this in size are sure to arrive as the int sent, not a neighbour.
EXACT_INTS = 2**53
INEXACT = "KFP passes numbers as 64-bit floats, exact for ints only below 2**53 in size"


def read_parameters(cells: list[Cell]) -> tuple[list[Parameter], list[Finding]]:
    """Parameters are literal assignments: `NAME = 0.5`, one name each."""
    found: dict[str, Parameter] = {}
    findings: list[Finding] = []
    for cell in cells:
        try:
            body = ast.parse(cell.source).body
        except (SyntaxError, ValueError) as e:
            findings.append(syntax_error(cell.index, cell.source, e))
            continue
        for stmt in body:
            parameter = _parameter(cell, stmt)
            if isinstance(parameter, Finding):
                findings.append(parameter)
            else:
                found[parameter.name] = parameter
    return list(found.values()), findings


def _parameter(cell: Cell, stmt: ast.stmt) -> Parameter | Finding:
    def refuse(message: str, name: str | None = None) -> Finding:
        return Finding(
            cell.index,
            stmt.lineno,
            stmt.col_offset,
            "error",
            "parameter-not-literal",
            message,
            name=name,
        )

    value_node = getattr(stmt, "value", None)
    targets = getattr(stmt, "targets", None) or [getattr(stmt, "target", None)]
    if not isinstance(stmt, (ast.Assign, ast.AnnAssign)) or value_node is None:
        return refuse(
            "a pipeline-parameters cell holds only assignments of literal values, "
            "like `RATE = 0.5`; move other code to a step"
        )
    if len(targets) != 1 or not isinstance(targets[0], ast.Name):
        return refuse("assign one parameter per line, like `RATE = 0.5`")
    name = targets[0].id
    if name in SCRIPT_NAMES:
        return refuse(
            f"parameter {name!r} has a name KFP or the generated pipeline function "
            "uses itself; rename the parameter",
            name,
        )
    if not KFP_NAME.match(name):
        return refuse(
            f"parameter {name!r} must start with an ASCII letter and hold only ASCII "
            "letters, digits and `_`, as KFP requires; rename the parameter",
            name,
        )
    try:
        value = ast.literal_eval(value_node)
    except (ValueError, TypeError, MemoryError, RecursionError):  # {[1]: 2}, too deep
        return refuse(
            f"parameter {name!r} must be a literal (int, float, str, bool, list or "
            f"dict), not `{ast.unparse(value_node)}`; compute it in a step instead",
            name,
        )
    kind = next((t for t in TYPES if type(value) is t), None)
    if kind is None:
        return refuse(
            f"parameter {name!r} is a {type(value).__name__}; pipeline parameters "
            "are int, float, str, bool, list or dict",
            name,
        )
    if not _json_safe(value):
        return refuse(
            f"parameter {name!r} would not survive KFP, which passes it as JSON "
            "and refuses None: use str, int, finite float, bool, lists and dicts "
            "with str keys",
            name,
        )
    big = _inexact_int(value)
    if big is not None:
        return refuse(
            f"parameter {name!r} holds {big}, which would not arrive exactly: "
            f"{INEXACT}; make it a str and convert it with int() in a step",
            name,
        )
    return Parameter(name, kind.__name__, value, cell.index)


def _json_safe(value: object) -> bool:
    """Whether KFP takes the value and hands it back equal, of the same types."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_json_safe(v) for v in value)
    if isinstance(value, dict):
        return all(
            isinstance(k, str) and _json_safe(k) and _json_safe(v)
            for k, v in value.items()
        )
    if isinstance(value, str):  # a lone surrogate has no UTF-8 form to send
        return not any("\ud800" <= ch <= "\udfff" for ch in value)
    return isinstance(value, (int, bool))


def _inexact_int(value: object) -> int | None:
    """The first int in the value that a 64-bit float may not carry exactly."""
    if isinstance(value, (list, dict)):
        items = value.values() if isinstance(value, dict) else value
        return next((n for n in map(_inexact_int, items) if n is not None), None)
    if type(value) is int and abs(value) >= EXACT_INTS:
        return value
    return None


def read_metrics(cells: list[Cell]) -> tuple[list[tuple[str, int, int]], list[Finding]]:
    """Metrics are bare names, one a line, or `print(name)` as Kale writes them."""
    metrics: list[tuple[str, int, int]] = []
    findings: list[Finding] = []
    for cell in cells:
        try:
            body = ast.parse(cell.source).body
        except (SyntaxError, ValueError) as e:
            findings.append(syntax_error(cell.index, cell.source, e))
            continue
        for stmt in body:
            name = _metric_name(stmt)
            if name is None:
                findings.append(
                    Finding(
                        cell.index,
                        stmt.lineno,
                        stmt.col_offset,
                        "error",
                        "metric-not-name",
                        "a pipeline-metrics cell lists variable names, one a line "
                        f"(or `print(name)`), not `{ast.unparse(stmt)}`",
                    )
                )
            else:
                metrics.append((name, cell.index, stmt.lineno))
                if not METRIC_NAME.match(name):
                    findings.append(_metric_name_finding(cell, stmt, name))
    return metrics, findings


def _metric_name_finding(cell: Cell, stmt: ast.stmt, name: str) -> Finding:
    # KFP v2 logs any name, but its API's metric rule (v1 runs, some UIs)
    # refuses these; a rename in the notebook is the whole fix.
    return Finding(
        cell.index,
        stmt.lineno,
        stmt.col_offset,
        "warning",
        "metric-name",
        f"metric {name!r} is not a valid KFP metric name (a letter first, a letter "
        "or digit last, at most 64 characters); rename the variable",
        name=name,
    )


def _metric_name(stmt: ast.stmt) -> str | None:
    if not isinstance(stmt, ast.Expr):
        return None
    value = stmt.value
    if (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id == "print"
        and len(value.args) == 1
        and not value.keywords
    ):
        value = value.args[0]
    return value.id if isinstance(value, ast.Name) else None


# -- `--param NAME=VALUE` on the command line -----------------------------------

# The form `--param` takes for each parameter type, as error messages say it.
ACCEPTED = {
    "int": "a whole number, like 3 or -2",
    "float": "a finite number, like 0.5, 3 or 1e-3",
    "bool": "true or false (any case), or 1 or 0",
    "str": "any text",
    "list": 'a JSON list, like [1, 2] or ["a", "b"]',
    "dict": 'a JSON object, like {"key": 1}',
}
_BOOLS = {"true": True, "1": True, "false": False, "0": False}


def parse_arguments(pairs: list[str], parameters: list[Parameter]) -> dict[str, object]:
    """Check `NAME=VALUE` strings against the notebook's parameters and type them.

    A bad one is a UsageError of one line naming the parameter, its type and the
    form it takes, raised before anything runs. The later of two for one name wins.
    """
    kinds = {p.name: p.type for p in parameters}
    values: dict[str, object] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        shown = repr(_shorten(pair))
        if not sep or not name:
            raise UsageError(f"--param {shown}: expected NAME=VALUE")
        if name not in kinds:
            raise UsageError(f"--param {shown}: {_unknown(name, kinds)}")
        kind = kinds[name]
        try:
            values[name] = _typed(kind, text)
        except ValueError:
            raise UsageError(
                f"--param {shown}: parameter {name} is {_article(kind)} {kind}; "
                f"give {ACCEPTED[kind]}"
            ) from None
        big = _inexact_int(values[name])
        if big is not None:
            raise UsageError(
                f"--param {shown}: {_shorten(str(big))} would not arrive "
                f"exactly: {INEXACT}; make {name} a str parameter in the notebook"
            )
    return values


def as_pairs(values: dict[str, object]) -> list[str]:
    """Checked values as the `NAME=VALUE` strings the generated script reads."""
    pairs = []
    for name, value in values.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (list, dict)):
            text = json.dumps(value, ensure_ascii=False)
        elif isinstance(value, float):
            text = repr(value)
        else:
            text = str(value)
        pairs.append(f"{name}={text}")
    return pairs


def _typed(kind: str, text: str) -> object:
    """The value `text` stands for as a `kind` parameter; ValueError if none."""
    if kind == "str":
        return text
    if kind == "bool":
        try:
            return _BOOLS[text.strip().lower()]
        except KeyError:
            raise ValueError(text) from None
    if kind == "int":
        return int(text)
    if kind == "float":
        number = float(text)
        if not math.isfinite(number):
            raise ValueError(text)
        return number
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError(text) from None
    if type(value).__name__ != kind or not _json_safe(value):
        raise ValueError(text)
    return value


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a value KFP passes")  # NaN, Infinity


def _unknown(name: str, kinds: dict[str, str]) -> str:
    if not kinds:
        return (
            f"the notebook has no pipeline parameters, so none named {name!r}; "
            "parameters are assignments in a cell tagged `pipeline-parameters`"
        )
    import difflib  # deferred: only a mistyped name needs it

    close = difflib.get_close_matches(name, kinds, n=1)
    if not close:
        close = [k for k in kinds if k.lower() == name.lower()]
    hint = f" (did you mean {close[0]}?)" if close else ""
    known = ", ".join(f"{k} ({kinds[k]})" for k in sorted(kinds))
    return f"the notebook has no parameter {name!r}{hint}; its parameters: {known}"


def _article(kind: str) -> str:
    return "an" if kind == "int" else "a"


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
