"""Findings: problems in a notebook's code, as values with a place."""

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Finding:
    """One problem, located at a notebook cell (0-based index) and line (1-based)."""

    cell: int | None
    line: int | None
    col: int | None
    severity: Severity
    code: str
    message: str
    step: str | None = None
    name: str | None = None
    excerpt: str = field(default="", compare=False)  # the source line, if shown

    def format(self, notebook: str) -> str:
        """Render as `NOTEBOOK:cell N:LINE:COL: message`, cells counted from 1.

        One line, with control characters escaped; a finding that carries its
        source line is followed by that line and a caret under the column.
        """
        place = notebook
        if self.cell is not None:
            place += f":cell {self.cell + 1}"
            if self.line is not None:
                place += f":{self.line}:{(self.col or 0) + 1}"
        text = printable(f"{place}: {self.severity}: {self.message} [{self.code}]")
        if not self.excerpt:
            return text
        shown = printable(self.excerpt.expandtabs(4))
        before = printable(self.excerpt[: self.col or 0].expandtabs(4))
        return f"{text}\n    {shown}\n    {' ' * len(before)}^"

    def as_json(self) -> dict[str, object]:
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "cell": self.cell,
            "line": self.line,
            "step": self.step,
            "name": self.name,
        }


def blocking(findings: list[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)


def syntax_error(cell: int, source: str, error: SyntaxError | ValueError) -> Finding:
    """A cell Python cannot parse, with the line it stops at (shown with a caret).

    Python 3.10 raises ValueError, not SyntaxError, for a NUL in the source.
    """
    lineno = getattr(error, "lineno", None) or 1
    offset = getattr(error, "offset", None) or 1
    message = getattr(error, "msg", None) or str(error)
    lines = source.splitlines()
    excerpt = lines[lineno - 1].rstrip() if 0 < lineno <= len(lines) else ""
    shown = f": `{excerpt.strip()}`" if excerpt.strip() else ""
    return Finding(
        cell,
        lineno,
        offset - 1,
        "error",
        "syntax-error",
        f"syntax error: {message}{shown}",
        excerpt=excerpt,
    )


def printable(text: str, keep: str = "") -> str:
    """Text safe to print on a terminal: control, bidi and line-breaking
    characters (other than those in `keep`) shown as escapes, the way repr does.
    """
    return "".join(
        ch if ch.isprintable() or ch in keep else repr(ch)[1:-1] for ch in text
    )
