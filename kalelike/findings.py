"""Findings: problems in a notebook's code, as values with a place."""

from dataclasses import dataclass
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

    def format(self, notebook: str) -> str:
        """Render as `NOTEBOOK:cell N:LINE:COL: message`, cells counted from 1."""
        place = notebook
        if self.cell is not None:
            place += f":cell {self.cell + 1}"
            if self.line is not None:
                place += f":{self.line}:{(self.col or 0) + 1}"
        return f"{place}: {self.severity}: {self.message} [{self.code}]"

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
