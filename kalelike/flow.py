"""Data flow between steps: from a notebook to the pipeline model.

Cells run in notebook order. Every name a step reads before binding it comes from
the latest earlier producer in notebook order, so the pipeline sees the value the
notebook saw: a step that changes a value in place hands the changed value on, and a
value rebound later wins over an earlier one. Imports are re-run, never pickled.
"""

import ast
import bisect
import builtins
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

from kalelike import files, magics, packages, settings, tags
from kalelike.analysis import LOG_RECORD, CellAnalyzer, Defs, Event, is_through
from kalelike.findings import Finding, syntax_error
from kalelike.model import CodeCell, Input, Parameter, Pipeline, Step
from kalelike.notebook import Cell, Notebook
from kalelike.parameters import read_metrics, read_parameters
from kalelike.star_imports import star_names

# The process environment, handed on like a value by the steps that change it.
ENVIRON = "os.environ"
# A `$name` in a shell command: IPython expands it from the namespace when bound
# there, else leaves it for the shell, which reads the environment variable.
SHELL_READ = "in a shell command"

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
    # Names it receives only because another name may share their objects: it
    # need not have them unless it hands them on.
    implied: set[str] = field(default_factory=set)
    used: set[str] = field(default_factory=set)  # names its code uses itself


class _Flow:
    """Walks the notebook's step cells in order, resolving each name read."""

    def __init__(
        self,
        nb: Notebook,
        parameters: list[Parameter],
        carried: frozenset[tuple[int, int, str]] = frozenset(),
    ) -> None:
        self.nb = nb
        # Bindings (cell, line, name) whose step hands on, with the new name, every
        # value it may share objects with, so that they arrive together.
        self.carried = carried
        # Every binding that may share objects, by (cell, line, name): its step
        # and the names it may share with.
        self.sharings: dict[tuple[int, int, str], tuple[str, set[str]]] = {}
        self.changed: dict[str, dict[str, int]] = {}  # name -> step -> last cell
        self.log_configs: dict[str, str] = {}  # log file -> the step configuring it
        self.defs = Defs()
        self.parameters = {p.name for p in parameters}
        self.history: dict[str, list[Producer]] = {}
        self.findings: list[Finding] = []
        self.unserializable: dict[tuple[str, str], tuple[str, int, int]] = {}
        self.magics: dict[int, list[magics.Magic]] = {}
        # Every file touch in notebook order: (path, step, kind, cell, line).
        self.files: list[tuple[str, str, str, int, int]] = []
        self.seeded: dict[str, Producer] = {}  # random module -> the step seeding it
        self.first_draw: dict[str, str] = {}  # random module -> first step drawing
        self.packages: dict[str, str] = {}  # imported name -> its top-level package
        # Memoized functions with side effects: name -> the steps using them.
        self.memoized_uses: dict[str, list[tuple[str, int, Event]]] = {}
        # Library settings a step changes: (step, cell, event), module in its name.
        self.library_settings: list[tuple[str, int, Event]] = []
        self.warned: set[tuple[str, str]] = set()
        # Parameters the imports and functions cells read, so every step has them.
        self.prelude_parameters: set[str] = set()
        # Reads resolved to a parameter or the prelude: name -> (step, cell, event).
        self.setup_reads: dict[str, list[tuple[str, int, Event]]] = {}

    def produce(self, name: str, producer: Producer) -> None:
        self.history.setdefault(name, []).append(producer)

    def outside(self, name: str, step: str | None) -> Producer | None:
        """The latest producer of `name` other than `step` itself."""
        for producer in reversed(self.history.get(name, [])):
            if producer.step != step or producer.step is None:
                return producer
        return None

    def finding(
        self,
        cell: int,
        event: Event | None,
        code: str,
        message: str,
        step: str | None = None,
        severity: str = "error",
    ) -> None:
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
        except (SyntaxError, ValueError) as e:  # ValueError: a NUL in the cell
            self.findings.append(syntax_error(cell.index, source, e))
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
                        cell.index,
                        magic.line,
                        0,
                        "error",
                        "magic-refused",
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

    def prelude_cell(self, cell: Cell) -> CodeCell | None:
        """An imports or functions cell, which every step runs before its own."""
        result = self.events(cell)
        if result is None:
            return None
        events, ipython = result
        for event in events:
            names = [event.name]
            if event.kind == "read":
                self.prelude_read(cell.index, event)
                continue
            if event.kind == "seed":
                self.seeded[event.name] = Producer("prelude", None, cell.index, 0)
                self.first_draw.pop(event.name, None)
                continue
            if event.kind == "star-import":
                names = list(star_names(event.name) or ())
                if not names:
                    self.finding(
                        cell.index,
                        event,
                        "star-import",
                        f"`{event.detail}`: the names it binds cannot be known "
                        "without running your code; import them by name",
                    )
            elif event.kind == "mutate":  # the prelude's own values only
                made = self.history.get(event.name)
                if made and made[-1].kind == "prelude" and made[-1].detail != "import":
                    self.produce(
                        event.name,
                        Producer("prelude", None, cell.index, event.line, "change"),
                    )
                continue
            elif event.kind not in ("bind", "maybe-bind", "import"):
                continue
            detail = "import" if "import" in event.kind else ""
            if event.kind == "import":
                self.packages[event.name] = _package(event.detail)
            for name in names:
                if name in self.parameters:
                    self.finding(
                        cell.index,
                        event,
                        "parameter-rebound",
                        f"{name!r} is a pipeline parameter; every step runs this "
                        "cell, so it would replace the parameter's value in all of "
                        "them; rename one of the two",
                    )
                self.produce(
                    name, Producer("prelude", None, cell.index, event.line, detail)
                )
        return self.code_cell(cell, ipython)

    def prelude_read(self, cell: int, event: Event) -> None:
        """A name an imports or functions cell reads as it runs, before any step."""
        producer = self.outside(event.name, None)
        if producer is None or producer.kind == "deleted":
            if event.name not in KNOWN:
                self.finding(
                    cell,
                    event,
                    "undefined-name",
                    f"{event.name!r} is used here but no earlier parameter, import "
                    "or function defines it",
                )
        elif producer.kind == "parameter":
            self.prelude_parameters.add(event.name)
        elif producer.kind != "prelude":
            self.finding(
                cell,
                event,
                "prelude-reads-step",
                f"{event.name!r} is made by step {producer.step!r} (cell "
                f"{producer.cell + 1}), but the imports and functions cells run "
                "before every step, where it does not exist yet; define it in this "
                "cell, or pass it to the functions that use it",
            )

    def code_cell(self, cell: Cell, ipython: bool) -> CodeCell:
        skip = []
        for magic in self.magics.get(cell.index, []):
            if magic.policy not in ("ignore", "install"):
                continue
            if magic.kind == "shell":
                skip.append("!" + magics.magic_line(magic).strip())
            else:
                skip += [
                    magic.name,
                    *(["pinfo", "pinfo2"] if magic.kind == "help" else []),
                ]
        return CodeCell(cell.index, cell.source, ipython, tuple(sorted(set(skip))))

    def step_cell(self, state: _StepState, cell: Cell) -> None:
        result = self.events(cell)
        if result is None:
            return
        events, ipython = result
        state.step.code.append(self.code_cell(cell, ipython))
        for magic in self.magics.get(cell.index, []):
            for extra in _magic_events(magic):
                at = next(
                    (i for i, e in enumerate(events) if e.line > extra.line), None
                )
                events.insert(len(events) if at is None else at, extra)
        # Libraries read the environment unseen (`expanduser` reads HOME), so once
        # a step has set variables, every later step starts with them.
        self.apply(state, cell.index, Event("read", ENVIRON, 1, 0))
        for event in events:
            self.apply(state, cell.index, event)

    def apply(self, state: _StepState, cell: int, event: Event) -> None:
        name, step = event.name, state.step.name
        here = Producer("step", step, cell, event.line, event.detail)
        if event.kind == "read" and name in self.defs.memoized:
            summary = self.defs.functions[name]
            if summary.mutates or summary.writes or "env-set" in summary.env:
                self.memoized_uses.setdefault(name, []).append((step, cell, event))
        if event.kind in ("read", "mutate", "delete"):
            if is_through(event):
                state.implied.add(name)
            else:
                state.used.add(name)
            if name not in state.bound and name not in state.local_imports:
                self.resolve(state, cell, event)
            if event.kind == "mutate" and name not in state.local_imports:
                if not self.is_module(name, step):
                    self.changed.setdefault(name, {})[step] = cell
                    state.maybe.setdefault(name, None)
                    # A change keeps the value's kind: an advanced generator is
                    # still a generator.
                    made = self.history.get(name, [])
                    kind = made[-1].detail if made and made[-1].kind == "step" else ""
                    self.produce(name, Producer("step", step, cell, event.line, kind))
            elif event.kind == "delete":
                state.bound.discard(name)
                state.maybe.pop(name, None)
                self.produce(name, Producer("deleted", step, cell, event.line))
        elif event.kind == "unbind":
            state.bound.discard(name)
            state.maybe.pop(name, None)
            while self.history.get(name) and self.history[name][-1].step == step:
                self.history[name].pop()
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
            self.packages[name] = _package(event.detail)
        elif event.kind in ("file-write", "file-read", "file-touch"):
            kind = event.kind.removeprefix("file-")
            self.files.append((name, step, kind, cell, event.line))
            configured = self.log_configs.get(name)
            if event.detail == LOG_RECORD and configured not in (None, step):
                self.log_elsewhere(state, cell, event, str(configured))
        elif event.kind == "log-config":
            self.log_configs[name] = step
        elif event.kind == "seed":
            self.seeded[name] = here
        elif event.kind == "random":
            self.hidden_random(step, cell, event)
        elif event.kind == "setting":
            if self.is_module(name, step):
                self.library_settings.append((step, cell, event))
        elif event.kind == "chdir":
            self.finding(
                cell,
                event,
                "hidden-state",
                "`os.chdir` changes the working directory of this step only; later "
                "steps start in the original directory; use absolute paths instead",
                step,
                severity="warning",
            )
        elif event.kind == "dynamic":
            self.finding(
                cell,
                event,
                "dynamic-names",
                f"`{name}()` reads or binds names the analysis cannot see; values it "
                "binds are handed on only if another line names them",
                step,
                severity="warning",
            )
        elif event.kind in ("env-set", "env-read"):
            # The environment travels like a value, so a step sees the variables
            # that earlier steps set, as the notebook's one process did.
            kind = "mutate" if event.kind == "env-set" else "read"
            self.apply(state, cell, Event(kind, ENVIRON, event.line, event.col))
        elif event.kind == "star-import":
            self.star_import(state, cell, event)
        elif event.kind == "share":
            self.share(state, cell, event)
        elif event.kind == "iterate" and name in state.step.inputs:
            self.set_order(state, cell, event)

    def set_order(self, state: _StepState, cell: int, event: Event) -> None:
        """A set handed on is rebuilt, and may iterate in another order."""
        name, step = event.name, state.step.name
        if (name, step) in self.warned:
            return
        self.warned.add((name, step))
        producer = state.step.inputs[name].producer
        self.finding(
            cell,
            event,
            "set-order",
            f"{name!r} is a set made in step {producer!r}, and a set handed on is "
            "rebuilt, so the order it iterates in here may differ from the "
            f"notebook's; iterate `sorted({name})` where the order matters",
            step,
            severity="warning",
        )

    def log_elsewhere(
        self, state: _StepState, cell: int, event: Event, configured: str
    ) -> None:
        """Logging configured in one step is not in the next step's process."""
        if (event.name, state.step.name) in self.warned:
            return
        self.warned.add((event.name, state.step.name))
        self.finding(
            cell,
            event,
            "hidden-state",
            f"logging was configured in step {configured!r} to write "
            f"{event.name!r}, but a step runs in a process of its own, so the "
            "records this step logs do not reach that file; configure logging in "
            "an `imports` cell, which every step runs",
            state.step.name,
            severity="warning",
        )

    def share(self, state: _StepState, cell: int, event: Event) -> None:
        """`event.detail`, just bound, may share the objects of `event.name`.

        Handed on apart, the two would arrive as copies, and a later step changing
        one would not change the other. When a later step changes either, this
        step hands both on, so they travel together (see `carry`).
        """
        key = (cell, event.line, event.detail)
        step, names = self.sharings.setdefault(key, (state.step.name, set()))
        names.add(event.name)
        made = self.history.get(event.name)
        if key not in self.carried or not made or made[-1].step == step:
            return
        latest = made[-1]
        # The prelude's imports and functions are the same in every step; its data
        # and classes (a class attribute `params` shares) are values like any.
        prelude_value = latest.kind == "prelude" and (
            latest.detail != "import"
            and (event.name not in self.defs.static or event.name in self.defs.classes)
        )
        value = latest.kind in ("step", "parameter") or prelude_value
        if event.name in state.bound or not value:
            return
        state.implied.add(event.name)
        self.resolve(state, cell, Event("read", event.name, event.line, event.col))
        detail = latest.detail if latest.kind == "step" else ""
        self.produce(event.name, Producer("step", step, cell, event.line, detail))

    def carry(self) -> frozenset[tuple[int, int, str]]:
        """The bindings whose shared values a later step changes (see `share`)."""
        return frozenset(
            key
            for key, (step, names) in self.sharings.items()
            if any(
                cell > key[0] and other != step
                for name in names | {key[2]}
                for other, cell in self.changed.get(name, {}).items()
            )
        )

    def star_import(self, state: _StepState, cell: int, event: Event) -> None:
        """Bind what `from m import *` binds, or refuse when it cannot be known."""
        names = star_names(event.name)
        if names is None:
            self.finding(
                cell,
                event,
                "star-import",
                f"`{event.detail}`: the names it binds cannot be known without "
                "running your code; import the names you use by name",
                state.step.name,
            )
            return
        for name in names:
            self.apply(state, cell, Event("import", name, event.line, 0, event.detail))

    def hidden_random(self, step: str, cell: int, event: Event) -> None:
        """The global random state seeded in one step does not reach the next."""
        seeder = self.seeded.get(event.name)
        if seeder is None or seeder.step == step or (event.name, step) in self.warned:
            return
        if seeder.kind == "prelude":
            self.prelude_random(step, cell, event, seeder)
            return
        self.warned.add((event.name, step))
        self.finding(
            cell,
            event,
            "hidden-state",
            f"`{event.name}` was seeded in step {seeder.step!r} (cell "
            f"{seeder.cell + 1}) but the random state does not carry to step "
            f"{step!r}, which draws from it here; seed it again in this step, or "
            "use a generator object (`np.random.default_rng(seed)`) and hand it on",
            step,
            severity="warning",
        )

    def prelude_random(
        self, step: str, cell: int, event: Event, seeder: Producer
    ) -> None:
        """Seeded in a cell every step runs: each step draws from the seed anew."""
        first = self.first_draw.setdefault(event.name, step)
        if first == step:
            return
        self.warned.add((event.name, step))
        self.finding(
            cell,
            event,
            "hidden-state",
            f"`{event.name}` is seeded in cell {seeder.cell + 1}, which every step "
            f"runs first, so step {step!r} draws from the seed again here, where "
            f"the notebook went on after step {first!r}'s draws; seed it in each "
            "step that draws, or use a generator object "
            "(`np.random.default_rng(seed)`) and hand it on",
            step,
            severity="warning",
        )

    def is_module(self, name: str, step: str) -> bool:
        """Bound by an import: changing it changes process state, not a value."""
        producer = self.outside(name, step)
        return producer is not None and "import" in (producer.kind, producer.detail)

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
            if event.name in KNOWN or event.name == ENVIRON:
                return
            if event.detail == SHELL_READ:  # IPython leaves it to the shell
                return
            self.undefined(step.name, cell, event, producer)
            return
        if producer.kind in ("parameter", "prelude"):
            reads = self.setup_reads.setdefault(event.name, [])
            reads.append((step.name, cell, event))
        if producer.kind == "parameter":
            step.parameters.add(event.name)
        elif producer.kind == "import":
            step.reimports.setdefault(event.name, (producer.cell, producer.detail))
        elif producer.kind == "step" and producer.step is not None:
            step.inputs.setdefault(event.name, Input(event.name, producer.step))
            if producer.detail:
                key = (producer.step, event.name)
                self.unserializable.setdefault(
                    key, (producer.detail, producer.cell, producer.line)
                )

    def check_setup_order(self) -> None:
        """Every step runs the parameters, imports and functions cells before its
        own, so one of them placed below a step must not change what it reads."""
        for name, reads in self.setup_reads.items():
            late = [p for p in self.history[name] if p.kind in ("parameter", "prelude")]
            for step, cell, event in reads:
                later = next((p for p in late if p.cell > cell), None)
                if later is None:
                    continue
                self.finding(
                    cell,
                    event,
                    "setup-cell-order",
                    f"{name!r} is read here, but cell {later.cell + 1} below "
                    f"{'changes' if later.detail == 'change' else 'rebinds'} it, and "
                    "every step runs the parameters, imports and functions "
                    f"cells first, so step {step!r} would see that later value; move "
                    "that cell above this step",
                    step,
                )

    def undefined(
        self, step: str, cell: int, event: Event, producer: Producer | None
    ) -> None:
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


def build(nb: Notebook, options: settings.Options | None = None) -> Pipeline:
    """Analyse a notebook into the pipeline model; findings say what blocks it."""
    layout = tags.split(nb)
    parameters, findings = read_parameters(layout.parameters)
    metrics, metric_findings = read_metrics(layout.metrics)
    findings += layout.findings + metric_findings
    flow, states, prelude = _walk(nb, layout, parameters, metrics)
    carried = flow.carry()
    if carried:  # rare: walk again, handing shared values on together
        flow, states, prelude = _walk(nb, layout, parameters, metrics, carried)
    flow.check_setup_order()
    steps = [states[s.name].step for s in layout.steps]
    for step in steps:
        step.parameters |= flow.prelude_parameters
    _close_maybe_inputs(states)
    _outputs(steps)
    _drop_implied_inputs(states)
    carried_names = {
        name for key in carried for name in flow.sharings[key][1] | {key[2]}
    }
    for step in steps:
        together = step.outputs & carried_names
        step.together = together if len(together) > 1 else set()
    _edges(layout, steps, flow)
    _check_unserializable(flow, steps)
    _guard(flow, steps, {p.name for p in parameters if p.type in ("list", "dict")})
    _check_library_settings(flow, steps)
    _check_memoized(flow)
    _check_parallel_producers(flow, steps)
    config, config_findings = settings.read_notebook(
        nb.metadata, options or settings.Options()
    )
    for cells, step in zip(layout.steps, steps, strict=True):
        step.settings = settings.read_step(cells.tags, config, step.name, flow.findings)
        if config.packages:
            pins = packages.for_step(step, prelude, nb.path.parent, flow.findings)
            installs = _installs(flow, prelude + step.code)
            step.packages = packages.with_installs(pins, installs)
    if config.packages:  # a receiver must load what it gets: its producers' pins
        packages.with_producers(steps, frozenset({ENVIRON}))
    # A parameter refused has its finding; its uses need no more.
    refused = {f.name for f in findings if f.code == "parameter-not-literal"}
    uses = [
        f for f in flow.findings if f.code == "undefined-name" and f.name in refused
    ]
    findings += [f for f in flow.findings if f not in uses] + config_findings
    return Pipeline(
        notebook=nb.name,
        name=config.pipeline_name or _pipeline_name(nb.path),
        description=config.description or f"Converted from {nb.name}",
        parameters=parameters,
        steps=steps,
        findings=sorted(set(findings), key=_finding_order),
        base_image=config.base_image or packages.default_image(),
        settings=config,
        prelude=prelude,
        magics=[
            {
                "cell": cell,
                "line": m.line,
                "magic": m.text,
                "policy": m.policy,
                "meaning": magics.POLICIES[m.policy],
            }
            for cell, used in sorted(flow.magics.items())
            for m in used
        ],
    )


def _walk(
    nb: Notebook,
    layout: tags.Layout,
    parameters: list[Parameter],
    metrics: list[tuple[str, int, int]],
    carried: frozenset[tuple[int, int, str]] = frozenset(),
) -> tuple[_Flow, dict[str, _StepState], list[CodeCell]]:
    """Run through the cells in notebook order, resolving every name they use."""
    flow = _Flow(nb, parameters, carried)
    states = {
        s.name: _StepState(Step(s.name, [c.index for c in s.cells]))
        for s in layout.steps
    }
    # Notebook order, so the latest producer of a name is the one the notebook
    # saw, whichever kind of cell it is in.
    order: list[tuple[int, str, Cell | Parameter]] = sorted(
        [(c.index, s.name, c) for s in layout.steps for c in s.cells]
        + [(c.index, "", c) for c in layout.prelude]
        + [(p.cell, "", p) for p in parameters],
        key=lambda item: item[0],
    )
    prelude: list[CodeCell] = []
    pending_metrics = sorted(metrics, key=lambda m: (m[1], m[2]))
    for index, name, item in order:
        while pending_metrics and pending_metrics[0][1] < index:
            _place_metric(flow, states, pending_metrics.pop(0))
        if isinstance(item, Parameter):
            flow.produce(item.name, Producer("parameter", None, item.cell, 1))
            # Its default names the file a step touches through it (a value
            # given at run time may name another, which no analysis can see).
            if isinstance(item.default, str):
                flow.defs.strings[item.name] = {item.default}
            else:
                flow.defs.strings.pop(item.name, None)
        elif name:
            flow.step_cell(states[name], item)
        else:
            code = flow.prelude_cell(item)
            prelude += [code] if code else []
    for metric in pending_metrics:
        _place_metric(flow, states, metric)
    return flow, states, prelude


def _installs(flow: _Flow, cells: list[CodeCell]) -> list[str]:
    """What the cells' `%pip install` lines ask for; a local path is a finding."""
    requested = []
    for cell in cells:
        for magic in flow.magics.get(cell.cell, []):
            if magic.policy != "install":
                continue
            for requirement in magics.pip_packages(magic):
                if packages.is_local_path(requirement):
                    flow.findings.append(
                        Finding(
                            cell.cell,
                            magic.line,
                            0,
                            "warning",
                            "local-package",
                            f"`{magic.text}` installs {requirement!r} from a local "
                            "path, which a cluster step cannot see: it must be in "
                            "the step's image",
                            None,
                            requirement,  # no step: prelude cells are in all
                        )
                    )
                else:
                    requested.append(requirement)
    return requested


def _magic_events(magic: magics.Magic) -> list[Event]:
    """What a magic's own text does: names it expands, files, environment."""
    text = magics.magic_line(magic)
    found = []
    if magic.kind in ("shell", "shell-assign") or magic.policy == "run":
        # IPython expands `$name` and `{expression}` from the namespace.
        for name in re.findall(r"(?<!\$)\$([A-Za-z_]\w*)", text):
            found.append(Event("read", name, magic.line, 0, SHELL_READ))
        for expression in re.findall(r"\{([^{}]+)\}", text):
            try:
                tree = ast.parse(expression.strip(), mode="eval")
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Name):
                    found.append(Event("read", node.id, magic.line, 0, "in a magic"))
    if magic.kind in ("shell", "shell-assign") or magic.name in (
        "bash",
        "sh",
        "script",
    ):
        found.append(Event("env-read", "*", magic.line, 0))  # the command sees it
    if magic.kind in ("shell", "shell-assign"):
        for kind, path in files.shell_touches(text):
            found.append(Event(f"file-{kind}", path, magic.line, 0))
    if magic.kind == "cell" and magic.name in ("writefile", "file"):
        words = [word for word in text.split() if not word.startswith("-")]
        written = files.normalize(words[-1]) if words else None
        if written is not None:
            found.append(Event("file-write", written, magic.line, 0))
    if magic.kind == "cell" and magic.name == "capture":
        names = [word for word in text.split() if not word.startswith("-")]
        if names and names[0].isidentifier():
            found.append(Event("bind", names[0], magic.line, 0))
    if magic.kind == "cell":  # `%%bash --out name`: the script's output, bound
        for bound in re.findall(r"--(?:out|err|proc)[=\s]+([A-Za-z_]\w*)", text):
            found.append(Event("bind", bound, magic.line, 0))
    if magic.name in ("env", "set_env") and "=" in text:
        key = re.split(r"[=\s]", text.strip(), maxsplit=1)[0]
        found.append(Event("env-set", key, magic.line, 0, "%env"))
    return found


def _finding_order(f: Finding) -> tuple[int, int, int, str, str]:
    return (
        f.cell if f.cell is not None else -1,
        f.line or 0,
        f.col or 0,
        f.code,
        f.message,
    )


def _pipeline_name(path: Path) -> str:
    name = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-")
    return name[:128].rstrip("-") or "pipeline"  # kfp allows 128 characters


def _place_metric(
    flow: _Flow, states: dict[str, _StepState], metric: tuple[str, int, int]
) -> None:
    """A metric is logged by the step that produced its value last."""
    name, cell, line = metric
    producer = flow.outside(name, None)
    if producer is not None and producer.kind == "step" and producer.step:
        if name not in states[producer.step].step.metrics:
            states[producer.step].step.metrics.append(name)
        return
    flow.findings.append(
        Finding(
            cell,
            line,
            0,
            "error",
            "metric-without-step",
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
                if producer is None:
                    continue
                if producer.kind == "step" and producer.step:
                    state.step.inputs[var] = Input(var, producer.step)
                    changed = True
                elif producer.kind == "parameter":
                    state.step.parameters.add(var)


def _outputs(steps: list[Step]) -> None:
    by_name = {s.name: s for s in steps}
    for step in steps:
        step.outputs.clear()
    for step in steps:
        for inp in step.inputs.values():
            by_name[inp.producer].outputs.add(inp.name)


def _drop_implied_inputs(states: dict[str, _StepState]) -> None:
    """A step changes a value through another name for it, but neither uses nor
    hands on that value: it need not receive it. Last step first, so what a
    step hands on is known when it is looked at."""
    steps = [state.step for state in states.values()]
    for state in reversed(states.values()):
        step = state.step
        unused = (state.implied - state.used) & step.inputs.keys() - step.outputs
        for name in unused:
            del step.inputs[name]
        if unused:
            _outputs(steps)


def _guard(flow: _Flow, steps: list[Step], mutable: set[str]) -> None:
    """Name, for each step, the values it could change without the analysis
    seeing it, and a later step that would then read a stale copy.

    A step reaches what it receives (and what its producers hand on with it, when
    the values share objects), its list and dict parameters, and the values of
    the imports and functions cells (classes, with their class attributes, and a
    function only if it changes its arguments, and so perhaps its own defaults).
    A later step reads one of them as it was before when it gets it from an
    earlier producer, as a parameter, or from the prelude.
    """
    position = {s.name: i for i, s in enumerate(steps)}

    def stateful(name: str) -> bool:
        summary = flow.defs.functions.get(name)
        return summary is None or name in flow.defs.classes or bool(summary.changes)

    prelude = {
        name
        for name in flow.setup_reads
        if (made := flow.history.get(name))
        and made[-1].kind == "prelude"
        and made[-1].detail != "import"
        and stateful(name)
    }
    # name -> (reader's position, reader, its producer's position or -1)
    readers: dict[str, list[tuple[int, str, int]]] = {}
    for i, step in enumerate(steps):
        for name, inp in step.inputs.items():
            readers.setdefault(name, []).append((i, step.name, position[inp.producer]))
        for name in step.parameters & mutable:
            readers.setdefault(name, []).append((i, step.name, -1))
    for name in prelude:
        for i in sorted({position[reader] for reader, _, _ in flow.setup_reads[name]}):
            readers.setdefault(name, []).append((i, steps[i].name, -1))
    for found in readers.values():
        found.sort()
    by_name = {s.name: s for s in steps}
    for i, step in enumerate(steps):
        # What its producers hand on besides: loaded with a received value it
        # shares objects with (see save_together in the step runtime).
        beside = {
            name
            for inp in step.inputs.values()
            for name in by_name[inp.producer].outputs
        }
        reachable = set(step.inputs) | beside | (step.parameters & mutable) | prelude
        for name in sorted(reachable - step.outputs - {ENVIRON}):
            found = readers.get(name, [])
            after = bisect.bisect_right(found, (i, "\uffff"))  # the first past step i
            later = itertools.islice(found, after, None)
            reader = next((r for _, r, made in later if made < i), None)
            if reader is not None:
                step.guards[name] = reader


def _check_memoized(flow: _Flow) -> None:
    """A memoized function's cache starts empty in every step: where it has side
    effects, a second step calling it runs them again, which the notebook did not."""
    for name, uses in sorted(flow.memoized_uses.items()):
        first = uses[0][0]
        again = next((use for use in uses if use[0] != first), None)
        if again is None:
            continue
        step, cell, event = again
        summary = flow.defs.functions[name]
        effects = (
            ", ".join(sorted(summary.mutates | summary.writes)) or "the environment"
        )
        flow.findings.append(
            Finding(
                cell,
                event.line,
                event.col,
                "error",
                "memoized-side-effects",
                f"`{name}` keeps a cache (`lru_cache`) and changes {effects} when it "
                f"runs; each step starts with an empty cache, so step {step!r} runs "
                f"it again where the notebook used the result step {first!r} cached; "
                "call it in one step, or keep the changes out of the cached function",
                step,
                name,
            )
        )


def _check_library_settings(flow: _Flow, steps: list[Step]) -> None:
    """A library setting a step makes stays in that step's process: say so when
    a later step uses the library (any name imported from it, or a value made by
    a step using it)."""
    position = {s.name: i for i, s in enumerate(steps)}
    package = flow.packages
    users: dict[str, set[str]] = {}  # package -> steps using a name from it
    for name, reads in flow.setup_reads.items():
        users.setdefault(package.get(name, ""), set()).update(s for s, _, _ in reads)
    for each in steps:
        for name in each.reimports:
            users.setdefault(package.get(name, ""), set()).add(each.name)
    for name, made in flow.history.items():
        for p in made:
            if p.kind == "import" and p.step:
                users.setdefault(package.get(name, ""), set()).add(p.step)
    # A value a library made is still its own in the step receiving it (printing
    # an array follows numpy's print options): that step uses it too.
    for each in steps:
        for using in users.values():
            if any(i.producer in using for i in each.inputs.values()):
                using.add(each.name)
    warned = set()
    for step, cell, event in flow.library_settings:
        library = package.get(event.name, "")
        later = sorted(
            (u for u in users.get(library, ()) if position[u] > position[step]),
            key=lambda u: position[u],
        )
        if not library or not later or (step, event.detail) in warned:
            continue
        warned.add((step, event.detail))
        flow.findings.append(
            Finding(
                cell,
                event.line,
                event.col,
                "warning",
                "hidden-state",
                f"`{event.detail}` changes a setting of {library} in step {step!r} "
                f"only: step {later[0]!r}, which uses {library}, starts from its "
                "defaults; make the setting in an `imports` cell, which every step "
                "runs",
                step,
                event.detail,
            )
        )


def _package(statement: str) -> str:
    """The top-level package an import statement imports from."""
    try:
        node = ast.parse(statement).body[0]
    except (SyntaxError, IndexError):
        return ""
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").partition(".")[0] if not node.level else ""
    if isinstance(node, ast.Import):
        return node.names[0].name.partition(".")[0]
    return ""


def _file_edges(steps: list[Step], flow: _Flow) -> dict[str, set[str]]:
    """Steps touching one file keep notebook order unless both only read it.

    Two paths are one file when equal, when one is a folder holding the other,
    or when one is a glob matching the other (see `files.related`). A touch of
    unknown kind counts as a read and a write: the order costs parallelism only.
    """
    after: dict[str, set[str]] = {s.name: set() for s in steps}
    # (writer, reader) -> (written, its kind, read, its kind, cell, line)
    handed: dict[tuple[str, str], list[tuple[str, str, str, str, int, int]]] = {}
    for i, (path, step, kind, cell, line) in enumerate(flow.files):
        for earlier_path, earlier, earlier_kind, _, _ in flow.files[:i]:
            if earlier == step or kind == earlier_kind == "read":
                continue
            if not files.related(path, earlier_path):
                continue
            after[step].add(earlier)
            if earlier_kind != "read" and kind != "write":
                handed.setdefault((earlier, step), []).append(
                    (earlier_path, earlier_kind, path, kind, cell, line)
                )
    for (earlier, step), touches in handed.items():
        _warn_file_dependency(flow, earlier, step, touches)
    return after


def _warn_file_dependency(
    flow: _Flow,
    earlier: str,
    step: str,
    touches: list[tuple[str, str, str, str, int, int]],
) -> None:
    """One warning per file step `earlier` writes and step `step` reads: the
    read of that very path if there is one, and a folder only when no file in
    it is named (`os.makedirs("out")` before `out/x.csv` is one file)."""
    written = list(dict.fromkeys(w for w, _, _, _, _, _ in touches))
    for path in written:
        if any(other.startswith(path.rstrip("/") + "/") for other in written):
            continue
        mine = [t for t in touches if t[0] == path]
        chosen = next((t for t in mine if t[2] == path), mine[0])
        _, earlier_kind, read, kind, cell, line = chosen
        message = _file_dependency(path, earlier, earlier_kind, read, step, kind)
        flow.findings.append(
            Finding(cell, line, 0, "warning", "file-dependency", message, step, read)
        )


def _file_dependency(
    earlier_path: str, earlier: str, earlier_kind: str, path: str, step: str, kind: str
) -> str:
    """The warning for a file one step may write and a later one may read."""
    written = "is written" if earlier_kind == "write" else "may be written"
    read = "read" if kind == "read" else "may be read"
    through = f" as {path!r}" if path != earlier_path else ""
    return (
        f"file {earlier_path!r} {written} by step {earlier!r} and {read} by step "
        f"{step!r}{through}: they run in that order, and on a cluster they need "
        "a shared volume (see README)"
    )


def _edges(layout: tags.Layout, steps: list[Step], flow: _Flow) -> None:
    names = {s.name for s in steps}
    by_files = _file_edges(steps, flow)
    for cells, step in zip(layout.steps, steps, strict=True):
        step.after = {inp.producer for inp in step.inputs.values()}
        step.after |= by_files[step.name]
        for prev, cell in cells.prev:
            if prev == step.name:
                continue
            if prev not in names:
                flow.findings.append(
                    Finding(
                        cell,
                        None,
                        None,
                        "error",
                        "unknown-step",
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
                first.cells[0],
                None,
                None,
                "error",
                "dependency-cycle",
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
                cycle = stack[stack.index(dep) :]
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


def ancestors(steps: list[Step]) -> dict[str, int]:
    """Each step's ancestors, as a bit mask: bit i stands for `steps[i]`.

    A mask keeps the closure small (5,000 steps in a chain: 3 MB, where sets of
    names took 700 MB) and a union costs one machine word per 64 steps.
    """
    bit = {s.name: 1 << i for i, s in enumerate(steps)}
    after = {s.name: s.after for s in steps}
    result: dict[str, int] = {}

    def visit(name: str, seen: set[str]) -> int:
        if name in result:
            return result[name]
        if name in seen:
            return 0
        seen.add(name)
        found = 0
        for dep in after.get(name, ()):
            found |= bit[dep] | visit(dep, seen)
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
            article = "an" if kind[0] in "aeiou" else "a"
            flow.findings.append(
                Finding(
                    cell,
                    line,
                    0,
                    "error",
                    "not-serializable",
                    f"{inp.name!r} ({kind}) is made in step {inp.producer!r} and "
                    f"used by step {step.name!r}, but {article} {kind} cannot be "
                    "handed from one step to another; create it in the step that "
                    "uses it, or in a `functions` cell",
                    inp.producer,
                    inp.name,
                )
            )


def _check_parallel_producers(flow: _Flow, steps: list[Step]) -> None:
    """Warn where notebook order alone decides which of two producers wins."""
    above = ancestors(steps)
    bit = {s.name: 1 << i for i, s in enumerate(steps)}
    made: dict[str, int] = {}  # name -> mask of the steps that produce it
    for name, producers in flow.history.items():
        for p in producers:
            if p.kind == "step" and p.step is not None:
                made[name] = made.get(name, 0) | bit[p.step]
    for step in steps:
        for inp in sorted(step.inputs.values(), key=lambda i: i.name):
            # Other producers above this step that run neither before nor after
            # the producer it receives from.
            mine = bit[inp.producer]
            others = made.get(inp.name, 0) & above[step.name]
            others &= ~(mine | bit[step.name] | above[inp.producer])
            for other in sorted(_names(others, steps)):
                if above[other] & mine:
                    continue
                flow.findings.append(
                    Finding(
                        step.cells[0],
                        None,
                        None,
                        "warning",
                        "ambiguous-producer",
                        f"{inp.name!r} is produced by steps {other!r} and "
                        f"{inp.producer!r}, which may run in parallel; step "
                        f"{step.name!r} receives {inp.producer!r}'s value, the later "
                        "in notebook order, as the notebook does",
                        step.name,
                        inp.name,
                    )
                )


def _names(mask: int, steps: list[Step]) -> list[str]:
    """The names of the steps whose bits are set in `mask`."""
    names = []
    while mask:
        low = mask & -mask
        names.append(steps[low.bit_length() - 1].name)
        mask ^= low
    return names
