"""Cells nested too deeply to analyse.

Python's parser and nb2pipe's analysis both recurse over a cell's syntax tree, so
an expression thousands of levels deep (`1 + 1 + ... + 1`) exhausts the stack
although Python can still run the cell. Such a cell is refused with a finding
that names it, rather than failing as an internal error.
"""

import ast

from kalelike.findings import Finding
from kalelike.model import Pipeline
from kalelike.notebook import Notebook

UNPARSABLE = 1 << 30  # the depth of a cell the parser itself gives up on


def refusal(nb: Notebook) -> Pipeline | None:
    """A pipeline holding the finding for the deepest cell, or None if none is deep."""
    deepest, depth = None, 0
    for cell in nb.cells:
        if cell.kind != "code":
            continue
        found = _depth(cell.source)
        if found > depth:
            deepest, depth = cell, found
    if deepest is None or depth < 100:
        return None
    levels = (
        "more levels than Python can parse"
        if depth == UNPARSABLE
        else f"{depth} levels"
    )
    finding = Finding(
        deepest.index,
        None,
        None,
        "error",
        "too-deep",
        f"the cell's code is nested too deeply to analyse ({levels}); "
        "split its longest expression into smaller ones",
    )
    return Pipeline(nb.name, "", "", [], [], [finding])


def _depth(source: str) -> int:
    """How deep the cell's syntax tree goes, found without recursion."""
    try:
        tree = ast.parse(source)
    except (RecursionError, MemoryError):  # the parser's own guard against depth
        return UNPARSABLE
    except (SyntaxError, ValueError):
        return 0
    deepest = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack += [(child, depth + 1) for child in ast.iter_child_nodes(node)]
    return deepest
