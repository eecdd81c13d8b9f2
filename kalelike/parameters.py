"""The `pipeline-parameters` and `pipeline-metrics` cells."""

import ast

from kalelike.findings import Finding
from kalelike.model import Parameter
from kalelike.notebook import Cell

TYPES = (bool, int, float, str, list, dict)  # bool first: it is an int too


def read_parameters(cells: list[Cell]) -> tuple[list[Parameter], list[Finding]]:
    """Parameters are literal assignments: `NAME = 0.5`, one name each."""
    found: dict[str, Parameter] = {}
    findings: list[Finding] = []
    for cell in cells:
        try:
            body = ast.parse(cell.source).body
        except SyntaxError as e:
            findings.append(_syntax(cell, e))
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
            cell.index, stmt.lineno, stmt.col_offset, "error",
            "parameter-not-literal", message, name=name,
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
    try:
        value = ast.literal_eval(value_node)
    except ValueError:
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
    return Parameter(name, kind.__name__, value, cell.index)


def read_metrics(cells: list[Cell]) -> tuple[list[tuple[str, int, int]], list[Finding]]:
    """Metrics are bare names, one a line, or `print(name)` as Kale writes them."""
    metrics: list[tuple[str, int, int]] = []
    findings: list[Finding] = []
    for cell in cells:
        try:
            body = ast.parse(cell.source).body
        except SyntaxError as e:
            findings.append(_syntax(cell, e))
            continue
        for stmt in body:
            name = _metric_name(stmt)
            if name is None:
                findings.append(
                    Finding(
                        cell.index, stmt.lineno, stmt.col_offset, "error",
                        "metric-not-name",
                        "a pipeline-metrics cell lists variable names, one a line "
                        f"(or `print(name)`), not `{ast.unparse(stmt)}`",
                    )
                )
            else:
                metrics.append((name, cell.index, stmt.lineno))
    return metrics, findings


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


def _syntax(cell: Cell, e: SyntaxError) -> Finding:
    return Finding(
        cell.index, e.lineno, (e.offset or 1) - 1, "error", "syntax-error",
        f"syntax error: {e.msg}",
    )
