"""Cell tags, in Kale's dialect, and the notebook's division into steps.

`imports` and `functions` cells run at the start of every step; `pipeline-parameters`
(or papermill's `parameters`) holds the pipeline's parameters; `pipeline-metrics`
names the values logged as metrics; `step:NAME` (or Kale's older `block:NAME`) starts
a step and an untagged code cell continues the step above it; `prev:NAME` adds an
explicit dependency; `skip` leaves a cell out.
"""

import keyword
import re
from dataclasses import dataclass, field

from kalelike.findings import Finding
from kalelike.notebook import Cell, Notebook
from kalelike.settings import FORMS

ROLE_TAGS = {
    "imports": "imports",
    "functions": "functions",
    "pipeline-parameters": "parameters",
    "parameters": "parameters",
    "pipeline-metrics": "metrics",
    "skip": "skip",
}
# Kale writes these; they carry settings a later stage reads, not roles.
SETTING_PREFIXES = tuple(f"{prefix}:" for prefix in FORMS)
# Tags of the form `PREFIX:VALUE`, each with the value's form, as a person writes
# it; with ROLE_TAGS, every tag nb2pipe reads (for the unknown-tag message).
VALUE_TAGS = {
    "step": "NAME",
    "block": "NAME",
    "prev": "NAME",
    "image": "IMAGE",
    "limit": "cpu:N",
    "cache": "enabled",
    "retry": "N",
    "timeout": "SECONDS",
    "annotation": "KEY:VALUE",
    "label": "KEY:VALUE",
    "secret": "NAME:KEY:ENV",
}
KNOWN_TAGS = (
    "`step:NAME` (or `block:NAME`), `prev:NAME`, `imports`, `functions`, "
    "`pipeline-parameters` (or `parameters`), `pipeline-metrics`, `skip`, and the "
    "setting tags " + ", ".join(f"`{p}:{VALUE_TAGS[p]}`" for p in FORMS)
)
FIRST_STEP = "start"


@dataclass
class StepCells:
    """A step: its name and its code cells in notebook order."""

    name: str
    cells: list[Cell] = field(default_factory=list)
    prev: list[tuple[str, int]] = field(default_factory=list)  # (name, cell index)
    tags: list[tuple[str, int]] = field(default_factory=list)  # settings tags


@dataclass
class Layout:
    """The notebook's cells sorted by role."""

    prelude: list[Cell] = field(default_factory=list)  # imports and functions cells
    parameters: list[Cell] = field(default_factory=list)
    metrics: list[Cell] = field(default_factory=list)
    steps: list[StepCells] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def step_name(raw: str) -> str:
    """Normalise a tag's step name to an ASCII Python identifier.

    Kale users write names like `load-data`; KFP and the generated script need
    identifiers, so every other character becomes `_`.
    """
    name = re.sub(r"[^A-Za-z0-9_]+", "_", raw).strip("_")
    if name and name[0].isdigit():
        name = f"step_{name}"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        name += "_"
    return name


def split(nb: Notebook) -> Layout:
    """Sort the notebook's code cells into roles and steps."""
    layout = Layout()
    by_name: dict[str, StepCells] = {}
    current: StepCells | None = None
    leading: list[Cell] = []
    stray: list[tuple[str, Cell]] = []  # settings tags on leading cells
    spelled: dict[str, tuple[str, int]] = {}  # step name -> first tag, its cell
    for cell in nb.cells:
        if cell.kind != "code" or not cell.source.strip():
            continue
        role, name, prev, settings = _read_tags(cell, layout.findings)
        if role == "skip":
            continue
        if role is not None and settings:
            _stray_settings(cell, role, settings, layout.findings)
        if role in ("imports", "functions"):
            layout.prelude.append(cell)
        elif role == "parameters":
            layout.parameters.append(cell)
        elif role == "metrics":
            layout.metrics.append(cell)
        elif name is not None:
            _check_spelling(cell, name, spelled, layout.findings)
            resumed = by_name.get(name)
            if resumed is not None and resumed is not current:
                _resumed(cell, resumed, current, layout.findings)
            current = resumed
            if current is None:
                current = by_name[name] = StepCells(name)
                layout.steps.append(current)
            current.cells.append(cell)
            current.prev += [(p, cell.index) for p in prev]
            current.tags += [(t, cell.index) for t in settings]
        elif current is not None:
            current.cells.append(cell)
            current.tags += [(t, cell.index) for t in settings]
        else:
            leading.append(cell)
            stray += [(t, cell) for t in settings]
    _place_leading(leading, layout, by_name)
    _place_leading_settings(stray, layout)
    _check_prev_order(layout)
    if not layout.steps:
        layout.findings.append(
            Finding(
                None,
                None,
                None,
                "error",
                "no-steps",
                "the notebook has no code to convert outside `imports`, `functions`, "
                "parameter and metric cells; tag the cells that compute "
                "`step:NAME`",
            )
        )
    return layout


def _check_spelling(
    cell: Cell,
    name: str,
    spelled: dict[str, tuple[str, int]],
    findings: list[Finding],
) -> None:
    """Two different step tags that normalise to one name are one step: say so."""
    tags = [t.strip() for t in cell.tags]
    tag = next(
        t
        for t in tags
        if t.startswith(("step:", "block:")) and step_name(t.split(":", 1)[1]) == name
    )
    first, where = spelled.setdefault(name, (tag, cell.index))
    if first.split(":", 1)[1] == tag.split(":", 1)[1]:
        return
    findings.append(
        Finding(
            cell.index,
            None,
            None,
            "warning",
            "step-name-clash",
            f"`{tag}` and `{first}` (cell {where + 1}) both name step {name!r}, as "
            "step names become Python identifiers; rename one if they are meant "
            "as two steps",
            name,
        )
    )


def _resumed(
    cell: Cell, step: StepCells, between: StepCells | None, findings: list[Finding]
) -> None:
    # One step runs all its cells together, so the step tagged in between would
    # see what the later cells do: refused rather than run out of order.
    other = f"step {between.name!r}" if between is not None else "another step"
    findings.append(
        Finding(
            cell.index,
            None,
            None,
            "error",
            "step-resumed",
            f"step {step.name!r} (cell {step.cells[0].index + 1}) is tagged again "
            f"here, after {other}; a step's cells must be contiguous: name this one "
            f"`step:{step.name}_2`, or move the cell",
            step.name,
        )
    )


def _check_prev_order(layout: Layout) -> None:
    """`prev:` names an earlier step: a later one would run the notebook backwards."""
    order = {step.name: i for i, step in enumerate(layout.steps)}
    for i, step in enumerate(layout.steps):
        for prev, cell in step.prev:
            if prev == step.name:
                layout.findings.append(
                    Finding(
                        cell,
                        None,
                        None,
                        "error",
                        "prev-self",
                        f"`prev:{prev}` is on a cell of step {prev!r} itself, and a "
                        "step cannot run after itself; name the step it follows",
                        step.name,
                    )
                )
            elif order.get(prev, -1) > i:
                layout.findings.append(
                    Finding(
                        cell,
                        None,
                        None,
                        "error",
                        "prev-later",
                        f"`prev:{prev}` names a step that comes later in the "
                        f"notebook, so step {step.name!r} would run after it, out of "
                        "notebook order; remove the tag, or move the cells",
                        step.name,
                    )
                )


def _place_leading_settings(stray: list[tuple[str, Cell]], layout: Layout) -> None:
    """Settings on untagged leading cells go with those cells, step or prelude."""
    for tag, cell in stray:
        owner = next((s for s in layout.steps if cell in s.cells), None)
        if owner is not None:
            owner.tags.append((tag, cell.index))
        else:
            _stray_settings(cell, "imports", [tag], layout.findings)


def _stray_settings(
    cell: Cell, role: str, settings: list[str], findings: list[Finding]
) -> None:
    # A setting on a cell that belongs to no step would reach no task.
    for tag in settings:
        findings.append(
            Finding(
                cell.index,
                None,
                None,
                "error",
                "setting-outside-step",
                f"tag {tag!r} is on a{'n' if role[0] in 'aeiou' else ''} {role} cell, "
                "which belongs to no step; put it on a cell of the step it is for, "
                "or in the notebook metadata's kubeflow_notebook.steps_defaults",
            )
        )


def _place_leading(
    leading: list[Cell], layout: Layout, by_name: dict[str, StepCells]
) -> None:
    """Keep untagged code before the first step: never drop it silently.

    Cells holding only imports join the prelude, as if tagged `imports`; any
    other code becomes a first step of its own, named `start`.
    """
    if not leading:
        return
    if all(_only_imports(c.source) for c in leading):
        layout.prelude[:0] = leading
        return
    name = FIRST_STEP
    while name in by_name:
        name += "_"
    layout.steps.insert(0, StepCells(name, cells=list(leading)))
    cells = ", ".join(str(c.index + 1) for c in leading)
    message = (
        f"untagged code before the first step (cells {cells}) forms step {name!r}; "
        "tag it `step:NAME` to name it, or `skip` to leave it out"
    )
    if not any(step.name != name for step in layout.steps):
        message = (
            f"the notebook has no step tags, so all its code is one step {name!r}; "
            "tag cells `step:NAME` to split it"
        )
    layout.findings.append(
        Finding(leading[0].index, None, None, "warning", "untagged-code", message, name)
    )


def _only_imports(source: str) -> bool:
    import ast

    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    return bool(body) and all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in body)


def _read_tags(
    cell: Cell, findings: list[Finding]
) -> tuple[str | None, str | None, list[str], list[str]]:
    """Return the cell's role, step name, `prev:` names and settings tags."""
    role: str | None = None
    name: str | None = None
    prev: list[str] = []
    settings: list[str] = []
    for tag in cell.tags:
        tag = tag.strip()
        head, _, rest = tag.partition(":")
        if tag in ROLE_TAGS:
            role = "skip" if "skip" in (role, tag) else ROLE_TAGS[tag]
        elif head in ("step", "block") and rest:
            name = _checked_name(cell, rest, findings)
        elif head == "prev" and rest:
            prev_name = _checked_name(cell, rest, findings)
            if prev_name:
                prev.append(prev_name)
        elif tag.startswith(SETTING_PREFIXES):
            settings.append(tag)
        else:
            findings.append(
                Finding(
                    cell.index,
                    None,
                    None,
                    "warning",
                    "unknown-tag",
                    f"unknown tag {tag!r} is ignored{did_you_mean(tag)}; "
                    f"known tags: {KNOWN_TAGS}",
                )
            )
    return role, name, prev, settings


def _checked_name(cell: Cell, raw: str, findings: list[Finding]) -> str | None:
    name = step_name(raw)
    if not name:
        findings.append(
            Finding(
                cell.index,
                None,
                None,
                "error",
                "bad-step-name",
                f"step name {raw!r} has no letters or digits; "
                "use a name like `step:load_data`",
            )
        )
        return None
    return name


def did_you_mean(tag: str, prefixes: tuple[str, ...] = ()) -> str:
    """` (did you mean `step:train`?)` for a mistyped tag, else "".

    The tag is compared, without regard to case, with every tag nb2pipe reads, or
    only with `prefixes` (such as the setting tags); a prefix keeps the value.
    """
    import difflib  # deferred: only a mistyped tag needs it

    words = list(prefixes) or [*ROLE_TAGS, *VALUE_TAGS]
    head, sep, rest = tag.partition(":")
    if not sep:  # `step train`, `step=train`: a prefix and a value, mistyped
        match = re.match(r"([A-Za-z]+)[\s=_/.-]+(\S.*)", tag)
        if match and match.group(1).lower() in VALUE_TAGS:
            head, rest = match.groups()
    close = difflib.get_close_matches(head.lower(), words, n=1, cutoff=0.7)
    if not close:
        return ""
    word = close[0]
    value = rest or VALUE_TAGS.get(word, "")
    suggestion = f"{word}:{value}" if word in VALUE_TAGS else word
    return "" if suggestion == tag else f" (did you mean `{suggestion}`?)"
