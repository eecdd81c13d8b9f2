"""Data flow between steps: from a notebook to the pipeline model.

Cells run in notebook order. Every name a step reads before binding it comes from
the latest earlier producer in notebook order, so the pipeline sees the value the
notebook saw: a step that changes a value in place hands the changed value on, and a
value rebound later wins over an earlier one. Imports are re-run, never pickled.
"""

import ast
import builtins
import re
from dataclasses import dataclass, field
from pathlib import Path

from kalelike import magics, packages, tags
from kalelike.analysis import CellAnalyzer, Defs, Event
from kalelike.findings import Finding
from kalelike.model import CodeCell, Input, Parameter, Pipeline, Step
from kalelike.notebook import Cell, Notebook
from kalelike.parameters import read_metrics, read_parameters

# Names a notebook has without binding them.
KNOWN = frozenset(dir(builtins)) | {"__name__", "__file__", "display", "get_ipython"}


@dataclass(frozen=True)
class Producer:
    kind: str  # step, import, parameter, prelude, deleted
    step: str | None
    cell: int
    line: int
    detail: str = ""


@dataclass
class _StepState:
    step: Step
    bound: set[str] = field(default_factory=set)  # bound on every path so far
    maybe: dict[str, Producer | None] = field(default_factory=dict)
    local_imports: set[str] = field(default_factory=set)


class _Flow:
    """Walks the notebook's step cells in order, resolving each name read."""

    def __init__(self, nb: Notebook, parameters: list[Parameter]) -> None:
        self.nb = nb
        self.defs = Defs()
        self.history: dict[str, list[Producer]] = {}
        self.findings: list[Finding] = []
        self.unserializable: dict[tuple[str, str], tuple[str, int, int]] = {}
        self.magics: dict[int, list[magics.Magic]] = {}
        self.environment: dict[str, Producer] = {}  # variable -> the step that set it
        for p in parameters:
            self.produce(p.name, Producer("parameter", None, p.cell, 1))

    def produce(self, name: str, producer: Producer) -> None:
        self.history.setdefault(name, []).append(producer)

    def outside(self, name: str, step: str | None) -> Producer | None:
        """The latest producer of `name` other than `step` itself."""
        for producer in reversed(self.history.get(name, [])):
            if producer.step != step or producer.step is None:
                return producer
        return None

    def finding(self, cell: int, event: Event | None, code: str, message: str,
                step: str | None = None, severity: str = "error") -> None:
        line = event.line if event else None
        col = event.col if event else None
        name = event.name if event else None
        self.findings.append(
            Finding(cell, line, col, severity, code, message, step, name)  # type: ignore[arg-type]
        )

    # -- cells ----------------------------------------------------------------

    def events(self, cell: Cell) -> tuple[list[Event], bool] | None:
        """Analyse one cell; None when it cannot be parsed (a finding says why)."""
        source, ipython = self.python_source(cell)
        if source is None:
            return None
        try:
            tree = ast.parse(source)
        except SyntaxError as e:
            line = (e.lineno or 1)
            text = source.splitlines()[line - 1].strip() if source.strip() else ""
            self.findings.append(
                Finding(
                    cell.index, line, (e.offset or 1) - 1, "error", "syntax-error",
                    f"syntax error: {e.msg}: `{text}`",
                )
            )
            return None
        return CellAnalyzer(self.defs).analyze(tree, source), ipython

    def python_source(self, cell: Cell) -> tuple[str | None, bool]:
        """The cell as Python for the analysis, and whether it needs IPython."""
        if not magics.has_ipython_syntax(cell.source):
            return cell.source, False
        python, used = magics.to_python(cell.source)
        self.magics[cell.index] = used
        for magic in used:
            if magic.policy == "refuse":
                self.findings.append(
                    Finding(
                        cell.index, magic.line, 0, "error", "magic-refused",
                        f"`{magic.text}`: {magics.POLICIES['refuse']}; "
                        "replace it with Python code",
                    )
                )
        if any(m.policy == "refuse" for m in used):
            return None, True
        body = magics.cell_magic_body(cell.source)
        if body is not None:
            name, text, offset = body
            if magics.MAGIC_POLICY.get(name) == "run" and name in ("time", "capture"):
                return "\n" * offset + text, True
            return "", True
        lines = python.splitlines()
        for magic in used:
            statement = magics.line_magic_statement(magic)
            if statement is not None and magic.line <= len(lines):
                old = lines[magic.line - 1]
                indent = old[: len(old) - len(old.lstrip())]
                lines[magic.line - 1] = indent + statement
        return "\n".join(lines) + "\n", True

    def prelude(self, cells: list[Cell]) -> list[CodeCell]:
        code = []
        for cell in cells:
            result = self.events(cell)
            if result is None:
                continue
            events, ipython = result
            for event in events:
                if event.kind in ("bind", "maybe-bind", "import"):
                    self.produce(event.name, Producer("prelude", None, cell.index, event.line))
            code.append(self.code_cell(cell, ipython))
        return code

    def code_cell(self, cell: Cell, ipython: bool) -> CodeCell:
        skip = []
        for magic in self.magics.get(cell.index, []):
            if magic.policy not in ("ignore", "install"):
                continue
            if magic.kind == "shell":
                skip.append("!" + magics.magic_line(magic).strip())
            else:
                skip += [magic.name, *(["pinfo", "pinfo2"] if magic.kind == "help" else [])]
        return CodeCell(cell.index, cell.source, ipython, tuple(sorted(set(skip))))

    def step_cell(self, state: _StepState, cell: Cell) -> None:
        result = self.events(cell)
        if result is None:
            return
        events, ipython = result
        state.step.code.append(self.code_cell(cell, ipython))
        for magic in self.magics.get(cell.index, []):
            if magic.name in ("env", "set_env") and "=" in magics.magic_line(magic):
                key = re.split(r"[=\s]", magics.magic_line(magic).strip(), maxsplit=1)[0]
                events.append(Event("env-set", key, magic.line, 0, "%env"))
        for event in events:
            self.apply(state, cell.index, event)

    def apply(self, state: _StepState, cell: int, event: Event) -> None:
        name, step = event.name, state.step.name
        here = Producer("step", step, cell, event.line, event.detail)
        if event.kind in ("read", "mutate", "delete"):
            if name not in state.bound and name not in state.local_imports:
                self.resolve(state, cell, event)
            if event.kind == "mutate" and name not in state.local_imports:
                if not self.is_module(name, step):
                    state.maybe.setdefault(name, None)
                    self.produce(name, Producer("step", step, cell, event.line))
            elif event.kind == "delete":
                state.bound.discard(name)
                state.maybe.pop(name, None)
                self.produce(name, Producer("deleted", step, cell, event.line))
        elif event.kind == "bind":
            state.bound.add(name)
            state.local_imports.discard(name)
            self.produce(name, here)
        elif event.kind == "maybe-bind":
            if name not in state.bound and name not in state.maybe:
                state.maybe[name] = self.outside(name, step)
            self.produce(name, here)
        elif event.kind == "import":
            state.bound.add(name)
            state.local_imports.add(name)
            self.produce(name, Producer("import", step, cell, event.line, event.detail))
        elif event.kind == "env-set":
            self.environment[name] = here
        elif event.kind == "env-read":
            self.hidden_environment(step, cell, event)
        elif event.kind == "star-import":
            self.finding(
                cell, event, "star-import",
                f"`from {name} import *` hides which names it binds; "
                "import the names you use explicitly",
                step,
            )

    def hidden_environment(self, step: str, cell: int, event: Event) -> None:
        """Each step is a fresh process: an environment variable does not carry."""
        setter = self.environment.get(event.name)
        if setter is None or setter.step == step:
            return
        self.finding(
            cell, event, "hidden-state",
            f"environment variable {event.name!r} is set in step {setter.step!r} "
            f"(cell {setter.cell + 1}, line {setter.line}) but each step runs in a "
            f"fresh process, so step {step!r} will not see it; set it in step "
            f"{step!r} too, or in the `imports` cell",
            step, severity="warning",
        )

    def is_module(self, name: str, step: str) -> bool:
        producer = self.outside(name, step)
        return producer is not None and producer.kind in ("import", "prelude") and (
            producer.kind == "import" or name in self.prelude_imports
        )

    prelude_imports: set[str] = set()

    def resolve(self, state: _StepState, cell: int, event: Event) -> None:
        """Find where a name read by a step comes from."""
        step = state.step
        if event.name in state.maybe:
            # Bound on some paths only: where it is not, the earlier value shows.
            producer = state.maybe[event.name]
            if producer is None:
                return
        else:
            producer = self.outside(event.name, step.name)
        if producer is None or producer.kind == "deleted":
            if event.name in KNOWN:
                return
            self.undefined(step.name, cell, event, producer)
        elif producer.kind == "parameter":
            step.parameters.add(event.name)
        elif producer.kind == "import":
            step.reimports.setdefault(event.name, (producer.cell, producer.detail))
        elif producer.kind == "step" and producer.step is not None:
            step.inputs.setdefault(event.name, Input(event.name, producer.step))
            if producer.detail:
                key = (producer.step, event.name)
                self.unserializable.setdefault(key, (producer.detail, producer.cell, producer.line))

    def undefined(self, step: str, cell: int, event: Event, producer: Producer | None) -> None:
        via = f" (read {event.detail})" if event.detail else ""
        if producer is not None:
            message = (
                f"{event.name!r} is used here{via} but step {producer.step!r} deleted "
                f"it (cell {producer.cell + 1}, line {producer.line})"
            )
        else:
            message = (
                f"{event.name!r} is used here{via} but no earlier step, parameter, "
                "import or function defines it"
            )
        self.finding(cell, event, "undefined-name", message, step)


def build(nb: Notebook, base_image: str = "") -> Pipeline:
    """Analyse a notebook into the pipeline model; findings say what blocks it."""
    layout = tags.split(nb)
    parameters, findings = read_parameters(layout.parameters)
    metrics, metric_findings = read_metrics(layout.metrics)
    findings += layout.findings + metric_findings
    flow = _Flow(nb, parameters)
    prelude = flow.prelude(layout.prelude)
    flow.prelude_imports = {
        name
        for cell in layout.prelude
        for name in _import_names(cell.source)
    }
    states = {s.name: _StepState(Step(s.name, [c.index for c in s.cells])) for s in layout.steps}
    order = sorted((c.index, s.name, c) for s in layout.steps for c in s.cells)
    metric_cells = {index for _, index, _ in metrics}
    pending_metrics = sorted(metrics, key=lambda m: (m[1], m[2]))
    for index, name, cell in order:
        while pending_metrics and pending_metrics[0][1] < index:
            _place_metric(flow, states, pending_metrics.pop(0))
        flow.step_cell(states[name], cell)
    for metric in pending_metrics:
        _place_metric(flow, states, metric)
    del metric_cells
    steps = [states[s.name].step for s in layout.steps]
    for step in steps:
        step.prelude = list(prelude)
    _close_maybe_inputs(states)
    _outputs(steps)
    _edges(layout, steps, flow)
    _check_unserializable(flow, steps)
    _check_parallel_producers(flow, steps)
    for step in steps:
        step.packages = packages.for_step(step, nb.path.parent, flow.findings)
    findings += flow.findings
    meta = nb.metadata.get("kubeflow_notebook") or {}
    meta = meta if isinstance(meta, dict) else {}
    name = str(meta.get("pipeline_name") or _pipeline_name(nb.path))
    return Pipeline(
        notebook=nb.name,
        name=name,
        description=str(meta.get("pipeline_description") or f"Converted from {nb.name}"),
        parameters=parameters,
        steps=steps,
        findings=sorted(set(findings), key=_finding_order),
        base_image=base_image or packages.default_image(),
    )


def _finding_order(f: Finding) -> tuple[int, int, int, str, str]:
    return (f.cell if f.cell is not None else -1, f.line or 0, f.col or 0, f.code, f.message)


def _pipeline_name(path: Path) -> str:
    import re

    return re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-") or "pipeline"


def _import_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {a.asname or a.name.split(".")[0] for a in node.names}
    return names


def _place_metric(flow: _Flow, states: dict[str, _StepState], metric: tuple[str, int, int]) -> None:
    """A metric is logged by the step that produced its value last."""
    name, cell, line = metric
    producer = flow.outside(name, None)
    if producer is not None and producer.kind == "step" and producer.step:
        if name not in states[producer.step].step.metrics:
            states[producer.step].step.metrics.append(name)
        return
    flow.findings.append(
        Finding(
            cell, line, 0, "error", "metric-without-step",
            f"metric {name!r} is not computed by any step before this cell",
            name=name,
        )
    )


def _close_maybe_inputs(states: dict[str, _StepState]) -> None:
    """A name a step may or may not bind must arrive from before when handed on."""
    changed = True
    steps = {name: state.step for name, state in states.items()}
    while changed:
        changed = False
        wanted: dict[str, set[str]] = {}
        for step in steps.values():
            for inp in step.inputs.values():
                wanted.setdefault(inp.producer, set()).add(inp.name)
        for name, state in states.items():
            for var, producer in state.maybe.items():
                if var not in wanted.get(name, set()) or var in state.step.inputs:
                    continue
                if producer is not None and producer.kind == "step" and producer.step:
                    state.step.inputs[var] = Input(var, producer.step)
                    changed = True


def _outputs(steps: list[Step]) -> None:
    by_name = {s.name: s for s in steps}
    for step in steps:
        for inp in step.inputs.values():
            by_name[inp.producer].outputs.add(inp.name)


def _edges(layout: tags.Layout, steps: list[Step], flow: _Flow) -> None:
    names = {s.name for s in steps}
    for cells, step in zip(layout.steps, steps):
        step.after = {inp.producer for inp in step.inputs.values()}
        for prev, cell in cells.prev:
            if prev == step.name:
                continue
            if prev not in names:
                flow.findings.append(
                    Finding(
                        cell, None, None, "error", "unknown-step",
                        f"`prev:{prev}` names no step; the steps are "
                        + ", ".join(sorted(names)),
                        step.name,
                    )
                )
            else:
                step.after.add(prev)
    cycle = _find_cycle(steps)
    if cycle:
        path = " -> ".join([*cycle, cycle[0]])
        first = next(s for s in steps if s.name == cycle[0])
        flow.findings.append(
            Finding(
                first.cells[0], None, None, "error", "dependency-cycle",
                f"steps depend on each other in a cycle: {path}; "
                "remove one of the `prev:` tags that close it",
                cycle[0],
            )
        )


def _find_cycle(steps: list[Step]) -> list[str]:
    after = {s.name: sorted(s.after) for s in steps}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> list[str]:
        state[name] = 1
        stack.append(name)
        for dep in after.get(name, []):
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep):]
                return list(reversed(cycle))
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[name] = 2
        return []

    for step in steps:
        if step.name not in state:
            found = visit(step.name)
            if found:
                return found
    return []


def ancestors(steps: list[Step]) -> dict[str, set[str]]:
    after = {s.name: s.after for s in steps}
    result: dict[str, set[str]] = {}

    def visit(name: str, seen: set[str]) -> set[str]:
        if name in result:
            return result[name]
        if name in seen:
            return set()
        seen.add(name)
        found: set[str] = set()
        for dep in after.get(name, ()):
            found |= {dep} | visit(dep, seen)
        result[name] = found
        return found

    for step in steps:
        visit(step.name, set())
    return result


def _check_unserializable(flow: _Flow, steps: list[Step]) -> None:
    for step in steps:
        for inp in sorted(step.inputs.values(), key=lambda i: i.name):
            known = flow.unserializable.get((inp.producer, inp.name))
            if known is None:
                continue
            kind, cell, line = known
            flow.findings.append(
                Finding(
                    cell, line, 0, "error", "not-serializable",
                    f"{inp.name!r} ({kind}) is made in step {inp.producer!r} and used "
                    f"by step {step.name!r}, but a {kind} cannot be handed from one step "
                    "to another; create it in the step that uses it, or in a "
                    "`functions` cell",
                    inp.producer, inp.name,
                )
            )


def _check_parallel_producers(flow: _Flow, steps: list[Step]) -> None:
    """Warn where notebook order alone decides which of two producers wins."""
    above = ancestors(steps)
    for step in steps:
        for inp in sorted(step.inputs.values(), key=lambda i: i.name):
            others = {
                p.step
                for p in flow.history.get(inp.name, [])
                if p.kind == "step" and p.step not in (None, inp.producer, step.name)
                and p.step in above.get(step.name, set())
            }
            for other in sorted(o for o in others if o is not None):
                ordered = other in above.get(inp.producer, set()) or inp.producer in above.get(other, set())
                if ordered:
                    continue
                flow.findings.append(
                    Finding(
                        step.cells[0], None, None, "warning", "ambiguous-producer",
                        f"{inp.name!r} is produced by steps {other!r} and "
                        f"{inp.producer!r}, which may run in parallel; step "
                        f"{step.name!r} receives {inp.producer!r}'s value, the later in "
                        "notebook order, as the notebook does",
                        step.name, inp.name,
                    )
                )
