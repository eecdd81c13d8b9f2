"""Name-binding analysis of one cell: what it reads, binds and changes, in order.

The analysis turns a cell's module-level code into a list of events (read, bind,
maybe-bind, mutate, delete, import) in the order the code runs them. Function and
class definitions are summarised once (the globals they read, rebind and change,
and which arguments they change) so that a call is charged with what the called
code does when it runs, transitively.

It is conservative where Python is dynamic: a method call on a name changes that
name unless the method is known to be read-only, because a value wrongly re-emitted
costs a little time while a change missed makes the pipeline compute something else.
"""

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

# Methods that never change the object they are called on, for the builtin types,
# numpy arrays, pandas frames and scikit-learn estimators (unless `inplace=True`).
READ_ONLY_METHODS = frozenset(
    [
        "all",
        "any",
        "apply",
        "argmax",
        "argmin",
        "astype",
        "copy",
        "count",
        "describe",
        "dot",
        "drop",
        "drop_duplicates",
        "dropna",
        "endswith",
        "equals",
        "fillna",
        "filter",
        "find",
        "format",
        "get",
        "get_params",
        "groupby",
        "head",
        "idxmax",
        "idxmin",
        "index",
        "isin",
        "isna",
        "isnull",
        "items",
        "join",
        "keys",
        "lower",
        "max",
        "mean",
        "median",
        "merge",
        "min",
        "notna",
        "notnull",
        "nunique",
        "pivot_table",
        "predict",
        "predict_proba",
        "quantile",
        "query",
        "rename",
        "replace",
        "reset_index",
        "round",
        "sample",
        "score",
        "select_dtypes",
        "set_index",
        "sort_index",
        "sort_values",
        "split",
        "startswith",
        "std",
        "strip",
        "sum",
        "tail",
        "to_csv",
        "to_dict",
        "to_json",
        "to_list",
        "to_numpy",
        "to_parquet",
        "tolist",
        "transform",
        "unique",
        "upper",
        "value_counts",
        "values",
        "var",
    ]
)
# Functions that change their first argument in place.
ARG_MUTATORS = frozenset(
    [
        "shuffle",
        "heappush",
        "heappop",
        "heapify",
        "heapreplace",
        "heappushpop",
        "insort",
        "insort_left",
        "insort_right",
        "copyto",
        "fill_diagonal",
        "put",
        "putmask",
        "place",
        "setattr",
        "delattr",
    ]
)
# Calls that write or read a file named by their first argument, by the called name.
FILE_WRITERS = frozenset(
    [
        "to_csv",
        "to_parquet",
        "to_json",
        "to_excel",
        "to_pickle",
        "to_feather",
        "to_hdf",
        "savefig",
        "save",
        "savez",
        "savez_compressed",
        "savetxt",
        "remove",
        "unlink",
        "write_text",
        "write_bytes",
    ]
)
FILE_READERS = frozenset(
    [
        "read_csv",
        "read_parquet",
        "read_json",
        "read_excel",
        "read_pickle",
        "read_feather",
        "read_hdf",
        "load",
        "loadtxt",
        "genfromtxt",
        "read_text",
        "read_bytes",
        "imread",
    ]
)
# Calls that start a process, which inherits the environment.
SHELL_CALLS = frozenset(
    [
        "os.system",
        "os.popen",
        "subprocess.run",
        "subprocess.call",
        "subprocess.check_call",
        "subprocess.check_output",
        "subprocess.Popen",
    ]
)
# Modules whose functions draw from a process-wide random state.
GLOBAL_RANDOM = frozenset({"random", "np.random", "numpy.random", "torch", "tf.random"})
# Calls whose result cannot cross a step boundary, by the called name.
UNSERIALIZABLE_CALLS = {
    "open": "open file",
    "socket": "socket",
    "Lock": "lock",
    "RLock": "lock",
    "Condition": "lock",
    "Semaphore": "lock",
    "connect": "database connection",
    "create_engine": "database engine",
    "Thread": "thread",
    "Popen": "subprocess",
}


@dataclass(frozen=True)
class Event:
    """One thing a cell does with a module-level name."""

    kind: str  # read, bind, maybe-bind, mutate, delete, import
    name: str
    line: int
    col: int
    detail: str = ""  # import: the statement; bind: an unserializable kind; read: via


@dataclass
class Summary:
    """What calling a function (or using a class) does to module-level names."""

    reads: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)
    mutates: set[str] = field(default_factory=set)
    mutated_params: set[int] = field(default_factory=set)
    generator: bool = False


@dataclass
class Defs:
    """The notebook's functions, classes and methods, by name, as analysed so far."""

    functions: dict[str, Summary] = field(default_factory=dict)
    methods: dict[str, Summary] = field(default_factory=dict)
    # name -> names whose objects it may share (`m = models["lr"]`, loop targets)
    aliases: dict[str, set[str]] = field(default_factory=dict)

    def sharing(self, name: str) -> set[str]:
        """Every name that may reach an object `name` reaches, both ways."""
        group, todo = {name}, [name]
        while todo:
            current = todo.pop()
            linked = self.aliases.get(current, set()) | {
                other for other, roots in self.aliases.items() if current in roots
            }
            todo += sorted(linked - group)
            group |= linked
        return group - {name}

    def rebind(self, name: str, roots: set[str]) -> None:
        self.aliases.pop(name, None)
        if roots - {name}:
            self.aliases[name] = roots - {name}

    def expand(self, name: str) -> Summary:
        """The transitive summary of using `name`, following the names it reads."""
        total = Summary()
        seen: set[str] = set()
        todo = [name]
        while todo:
            current = todo.pop()
            if current in seen or current not in self.functions:
                continue
            seen.add(current)
            summary = self.functions[current]
            total.reads |= summary.reads
            total.writes |= summary.writes
            total.mutates |= summary.mutates
            todo += sorted(summary.reads | summary.mutates)
        total.reads -= seen - {name}
        return total


def root_name(node: ast.expr) -> str | None:
    """The name at the root of `a.b[c].d(...)`, if there is one."""
    while True:
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            node = node.func.value  # `a.reshape(2, 3).fill(0)` may change `a`
        else:  # a plain call's result is a new object, not a name's
            return None


# Calls whose result holds the very objects of their argument or receiver.
SHARING_CALLS = frozenset(
    [
        "values",
        "items",
        "keys",
        "get",
        "enumerate",
        "zip",
        "reversed",
        "iter",
        "list",
        "tuple",
        "sorted",
    ]
)


def alias_roots(node: ast.expr) -> set[str]:
    """Names whose objects the value of `node` may share (not copy)."""
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        return alias_roots(node.value)
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return set().union(*(alias_roots(e) for e in node.elts))
    if isinstance(node, ast.Dict):
        return set().union(*(alias_roots(v) for v in node.values))
    if isinstance(node, ast.Call) and _called_name(node.func) in SHARING_CALLS:
        parts = [alias_roots(a) for a in node.args]
        if isinstance(node.func, ast.Attribute):
            parts.append(alias_roots(node.func.value))
        return set().union(*parts)
    return set()


def target_names(node: ast.AST) -> Iterator[str]:
    """Names bound by an assignment target (tuples and starred included)."""
    if isinstance(node, ast.Name):
        yield node.id
    elif isinstance(node, (ast.Tuple, ast.List)):
        for elt in node.elts:
            yield from target_names(elt)
    elif isinstance(node, ast.Starred):
        yield from target_names(node.value)


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


_ENV_CALLS = frozenset(
    {
        "os.getenv",
        "os.putenv",
        "os.environ.get",
        "os.environ.setdefault",
        "os.environ.pop",
    }
)


def _environ_key(node: ast.expr) -> str | None:
    """`X` for `os.environ["X"]`, `os.environ.get("X")` or `os.getenv("X")`."""
    key: ast.expr | None = None
    if isinstance(node, ast.Subscript) and _dotted(node.value) == "os.environ":
        key = node.slice
    elif isinstance(node, ast.Call) and node.args and _dotted(node.func) in _ENV_CALLS:
        key = node.args[0]
    if isinstance(key, ast.Constant) and isinstance(key.value, str):
        return key.value
    return None


def _literal_path(call: ast.Call) -> str | None:
    """The file a call names: a string literal first argument, or `Path("...")`."""
    candidates = list(call.args[:1]) + [
        k.value for k in call.keywords if k.arg in ("path", "fname", "file")
    ]
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call):
        inner = func.value  # Path("x").read_text()
        if _called_name(inner.func) == "Path" and inner.args:
            candidates = [inner.args[0]]
    for node in candidates:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
    return None


def _dotted(node: ast.expr) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _inplace(call: ast.Call) -> bool:
    return any(
        kw.arg == "inplace"
        and not (isinstance(kw.value, ast.Constant) and kw.value.value is False)
        for kw in call.keywords
    )


class CellAnalyzer:
    """Walks a cell's module-level statements and records events in run order."""

    def __init__(self, defs: Defs) -> None:
        self.defs = defs
        self.events: list[Event] = []
        self.conditional = 0  # > 0 inside branches and loops: binds are maybe-binds
        self.source = ""

    def analyze(self, tree: ast.Module, source: str) -> list[Event]:
        self.source = source
        self.events = []
        self.statements(tree.body)
        return self.events

    # -- recording ------------------------------------------------------------

    def emit(self, kind: str, name: str, node: ast.AST, detail: str = "") -> None:
        line = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0)
        self.events.append(Event(kind, name, line, col, detail))
        if kind == "mutate":  # a change through one name shows through its aliases
            for alias in sorted(self.defs.sharing(name)):
                self.events.append(Event(kind, alias, line, col, f"through {name!r}"))

    def bind(self, name: str, node: ast.AST, detail: str = "") -> None:
        self.emit("maybe-bind" if self.conditional else "bind", name, node, detail)

    def read(self, name: str, node: ast.AST) -> None:
        self.emit("read", name, node)
        if name in self.defs.functions:
            self.charge(self.defs.expand(name), node, f"through {name}()")

    def charge(self, summary: Summary, node: ast.AST, via: str) -> None:
        """Record what running a function does, at the place it is called."""
        for name in sorted(summary.reads):
            self.emit("read", name, node, via)
        for name in sorted(summary.mutates):
            self.emit("mutate", name, node, via)
        for name in sorted(summary.writes):  # a bind's detail names a value's kind
            self.emit("maybe-bind", name, node)

    def mutate(self, target: ast.expr, node: ast.AST) -> None:
        name = root_name(target)
        if name is not None:
            self.emit("mutate", name, node)

    # -- statements -----------------------------------------------------------

    def statements(self, body: Iterable[ast.stmt]) -> None:
        for stmt in body:
            self.statement(stmt)

    def statement(self, node: ast.stmt) -> None:
        handler = getattr(self, f"stmt_{type(node).__name__}", None)
        if handler is not None:
            handler(node)
        else:  # Expr, Return, Raise, Assert and the like only read
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.expr):
                    self.expr(child)

    def assign_target(
        self, target: ast.expr, value: ast.expr | None, roots: set[str] | None = None
    ) -> None:
        if isinstance(target, ast.Name):
            self.bind(target.id, target, self.value_kind(value))
            shared = alias_roots(value) if value is not None else set()
            self.defs.rebind(target.id, shared | (roots or set()))
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self.assign_target(elt, None, roots)
        elif isinstance(target, ast.Starred):
            self.assign_target(target.value, None, roots)
        else:  # attribute or subscript store: changes the object in place
            key = _environ_key(target)
            if key is not None:
                self.emit("env-set", key, target)
            self.expr(target)
            self.mutate(target, target)

    def stmt_Assign(self, node: ast.Assign) -> None:
        self.expr(node.value)
        for target in node.targets:
            self.assign_target(target, node.value)

    def stmt_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.simple:  # module-level annotations are evaluated
            self.expr(node.annotation)
        if node.value is not None:
            self.expr(node.value)
            self.assign_target(node.target, node.value)

    def stmt_AugAssign(self, node: ast.AugAssign) -> None:
        self.expr(node.value)
        if isinstance(node.target, ast.Name):
            self.read(node.target.id, node.target)
            self.bind(node.target.id, node.target)
        else:
            self.expr(node.target)
            self.mutate(node.target, node.target)

    def stmt_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            for name in target_names(target):
                self.read(name, target)
                self.emit("delete", name, target)
            if isinstance(target, (ast.Attribute, ast.Subscript)):
                self.expr(target)
                self.mutate(target, target)

    def stmt_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name == "*":
                module = getattr(node, "module", "") or ""
                self.emit("star-import", module, node, ast.unparse(node))
                continue
            name = alias.asname or alias.name.split(".")[0]
            one = type(node)(**{**node.__dict__, "names": [alias]})
            statement = ast.unparse(one)
            self.emit("import", name, node, statement)

    stmt_ImportFrom = stmt_Import

    def stmt_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for expr in self.definition_time_exprs(node):
            self.expr(expr)
        self.defs.functions[node.name] = summarize(node, self.defs)
        self.bind(node.name, node, "")

    stmt_AsyncFunctionDef = stmt_FunctionDef

    def stmt_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in [*node.decorator_list, *node.bases]:
            self.expr(expr)
        for kw in node.keywords:
            self.expr(kw.value)
        summary = Summary()
        class_locals: set[str] = set()
        for stmt in node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for expr in self.definition_time_exprs(stmt):
                    self.expr_in_scope(expr, class_locals)
                method = summarize(stmt, self.defs)
                self.defs.methods.setdefault(stmt.name, Summary())
                _merge(self.defs.methods[stmt.name], method)
                _merge(summary, method)
                class_locals.add(stmt.name)
            else:  # the class body runs now, in its own scope
                for expr in _exprs(stmt):
                    self.expr_in_scope(expr, class_locals)
                class_locals |= set(_stored_names(stmt))
        summary.mutated_params.clear()
        self.defs.functions[node.name] = summary
        self.bind(node.name, node)

    @staticmethod
    def definition_time_exprs(
        node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda,
    ) -> list[ast.expr]:
        """Decorators, defaults and annotations: evaluated when `def` runs."""
        args = node.args
        exprs: list[ast.expr] = [*args.defaults, *filter(None, args.kw_defaults)]
        if not isinstance(node, ast.Lambda):
            exprs[:0] = node.decorator_list
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
            every += [a for a in (args.vararg, args.kwarg) if a is not None]
            exprs += [a.annotation for a in every if a.annotation is not None]
            if node.returns is not None:
                exprs.append(node.returns)
        return exprs

    def block(self, body: list[ast.stmt], conditional: bool = True) -> None:
        self.conditional += conditional
        self.statements(body)
        self.conditional -= conditional

    def stmt_If(self, node: ast.If) -> None:
        self.expr(node.test)
        self.block(node.body)
        self.block(node.orelse)
        if not self.conditional:
            both = _definitely_bound(node.body) & _definitely_bound(node.orelse)
            for name in sorted(both):
                self.emit("bind", name, node)

    def loop(self, node: ast.For | ast.AsyncFor | ast.While) -> None:
        # A name bound late in the body may be read early in the next pass.
        for name in sorted(_bound_in(node.body)):
            self.emit("maybe-bind", name, node)
        self.block(node.body)
        self.block(node.orelse)

    def stmt_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.expr(node.iter)
        self.conditional += 1
        self.assign_target(node.target, None, alias_roots(node.iter))
        self.conditional -= 1
        self.loop(node)

    stmt_AsyncFor = stmt_For

    def stmt_While(self, node: ast.While) -> None:
        self.expr(node.test)
        self.loop(node)

    def stmt_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.expr(item.context_expr)
            if item.optional_vars is not None:
                self.assign_target(item.optional_vars, item.context_expr)
        self.statements(node.body)

    stmt_AsyncWith = stmt_With

    def stmt_Try(self, node: ast.Try | ast.TryStar) -> None:
        self.block(node.body)
        for handler in node.handlers:
            if handler.type is not None:
                self.expr(handler.type)
            if handler.name:
                self.conditional += 1
                self.bind(handler.name, handler)
                self.conditional -= 1
            self.block(handler.body)
            if handler.name:  # Python deletes the name when the handler ends
                self.emit("unbind", handler.name, handler)
        self.block(node.orelse)
        self.statements(node.finalbody)

    stmt_TryStar = stmt_Try

    def stmt_Match(self, node: ast.Match) -> None:
        self.expr(node.subject)
        for case in node.cases:
            self.conditional += 1
            for sub in ast.walk(case.pattern):
                if isinstance(sub, ast.MatchValue):
                    self.expr(sub.value)
                elif isinstance(sub, ast.MatchClass):
                    self.expr(sub.cls)
                name = getattr(sub, "name", None) or getattr(sub, "rest", None)
                if isinstance(name, str):
                    self.bind(name, sub)
            if case.guard is not None:
                self.expr(case.guard)
            self.statements(case.body)
            self.conditional -= 1

    def stmt_Global(self, node: ast.Global | ast.Nonlocal) -> None:
        """Meaningless at module level."""

    stmt_Nonlocal = stmt_Global

    # -- expressions ----------------------------------------------------------

    def expr(self, node: ast.expr) -> None:
        self.expr_in_scope(node, frozenset())

    def expr_in_scope(self, node: ast.expr, local: set[str] | frozenset[str]) -> None:
        """Record the reads (and in-place changes) of an expression.

        `local` holds names bound by an enclosing comprehension or class body,
        which are not module-level names.
        """
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load) and node.id not in local:
                self.read(node.id, node)
            return
        if isinstance(node, ast.Attribute) and _dotted(node) == "os.environ":
            self.emit("env-read", "*", node)
        key = _environ_key(node)
        if key is not None:
            setting = isinstance(node, ast.Call) and _dotted(node.func) in (
                "os.putenv",
                "os.environ.setdefault",
            )
            self.emit("env-set" if setting else "env-read", key, node)
        if isinstance(node, ast.NamedExpr):
            self.expr_in_scope(node.value, local)
            self.conditional += 1  # it may sit in a comprehension or a condition
            self.bind(node.target.id, node.target, self.value_kind(node.value))
            self.conditional -= 1
        elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
            self.comprehension(node.generators, [node.elt], local)
        elif isinstance(node, ast.DictComp):
            self.comprehension(node.generators, [node.key, node.value], local)
        elif isinstance(node, ast.Lambda):
            for expr in self.definition_time_exprs(node):
                self.expr_in_scope(expr, local)
            params = {a.arg for a in _all_args(node.args)}
            self.expr_in_scope(node.body, local | params)
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.expr):
                    self.expr_in_scope(child, local)
                elif isinstance(child, ast.keyword):
                    self.expr_in_scope(child.value, local)
            if isinstance(node, ast.Call):
                self.call(node, local)
                self.files(node)
                self.hidden_state(node)

    def comprehension(
        self,
        generators: list[ast.comprehension],
        results: list[ast.expr],
        local: set[str] | frozenset[str],
    ) -> None:
        inner = set(local)
        for i, gen in enumerate(generators):
            # The first iterable is evaluated in the enclosing scope.
            self.expr_in_scope(gen.iter, local if i == 0 else inner)
            inner |= set(target_names(gen.target))
            for cond in gen.ifs:
                self.expr_in_scope(cond, inner)
        for result in results:
            self.expr_in_scope(result, inner)

    def call(self, node: ast.Call, local: set[str] | frozenset[str]) -> None:
        """Charge a call with the in-place changes it makes."""
        func = node.func
        if isinstance(func, ast.Attribute):
            if func.attr not in READ_ONLY_METHODS or _inplace(node):
                name = root_name(func.value)
                if name is not None and name not in local:
                    self.emit("mutate", name, node)
            if func.attr in self.defs.methods:
                self.charge(
                    self.defs.methods[func.attr], node, f"through .{func.attr}()"
                )
        called = _called_name(func)
        changed: set[int] = set()
        if isinstance(func, ast.Name) and func.id in self.defs.functions:
            changed = self.defs.functions[func.id].mutated_params
        if called in ARG_MUTATORS:
            changed = changed | {0}
        for i, arg in enumerate(node.args):
            name = root_name(arg)
            if i in changed and name is not None and name not in local:
                self.emit("mutate", name, arg)

    def hidden_state(self, node: ast.Call) -> None:
        """Record calls touching process state that a step boundary drops."""
        dotted = _dotted(node.func)
        module, _, attr = dotted.rpartition(".")
        if module in GLOBAL_RANDOM:
            kind = "seed" if attr in ("seed", "manual_seed", "set_seed") else "random"
            self.emit(kind, module, node)
        elif dotted in SHELL_CALLS:
            self.emit("env-read", "*", node)  # a child process sees the environment
        elif dotted in ("os.chdir", "chdir"):
            self.emit("chdir", "os.chdir", node)
        elif dotted in ("exec", "eval", "globals", "locals", "vars") and (
            dotted in ("exec", "eval") or not node.args
        ):
            self.emit("dynamic", dotted, node)

    def files(self, node: ast.Call) -> None:
        """Record literal file paths a call writes or reads."""
        called = _called_name(node.func)
        path = _literal_path(node)
        if called is None or path is None:
            return
        if called == "open":
            mode = node.args[1] if len(node.args) > 1 else None
            mode = next((k.value for k in node.keywords if k.arg == "mode"), mode)
            text = mode.value if isinstance(mode, ast.Constant) else "r"
            writes = isinstance(text, str) and any(c in text for c in "wax+")
            self.emit("file-write" if writes else "file-read", path, node)
        elif called in FILE_WRITERS:
            self.emit("file-write", path, node)
        elif called in FILE_READERS:
            self.emit("file-read", path, node)

    def value_kind(self, value: ast.expr | None) -> str:
        """Name the kind of a value that evidently cannot be serialized."""
        if isinstance(value, ast.GeneratorExp):
            return "generator"
        if isinstance(value, ast.Call):
            called = _called_name(value.func)
            if called in UNSERIALIZABLE_CALLS:
                return UNSERIALIZABLE_CALLS[called]
            summary = self.defs.functions.get(called or "")
            if isinstance(value.func, ast.Name) and summary and summary.generator:
                return "generator"
        return ""


def _merge(into: Summary, other: Summary) -> None:
    _merge_globals(into, other)
    into.mutated_params |= other.mutated_params


def _all_args(args: ast.arguments) -> list[ast.arg]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    return every + [a for a in (args.vararg, args.kwarg) if a is not None]


def _exprs(stmt: ast.stmt) -> Iterator[ast.expr]:
    """The expressions directly under a statement, nested blocks included."""
    for child in ast.iter_child_nodes(stmt):
        if isinstance(child, ast.expr):
            yield child
        elif isinstance(child, ast.stmt):
            yield from _exprs(child)


def _stored_names(node: ast.AST) -> Iterator[str]:
    """Names a statement binds in its own scope (not inside nested functions)."""
    for sub in _walk_scope(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
            yield sub.id
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield sub.name
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            for alias in sub.names:
                if alias.name != "*":
                    yield alias.asname or alias.name.split(".")[0]
        elif (
            isinstance(sub, ast.ExceptHandler)
            and sub.name
            or isinstance(sub, (ast.MatchAs, ast.MatchStar))
            and sub.name
        ):
            yield sub.name
        elif isinstance(sub, ast.MatchMapping) and sub.rest:
            yield sub.rest


def _bound_in(body: list[ast.stmt]) -> set[str]:
    names: set[str] = set()
    for stmt in body:
        names |= set(_stored_names(stmt))
    return names


def _walk_scope(node: ast.AST) -> Iterator[ast.AST]:
    """Walk a node without entering nested function, lambda or class bodies.

    Comprehension targets are skipped too, but a walrus inside a comprehension
    binds in the enclosing scope, so comprehensions are entered for those.
    """
    yield node
    scoped = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
    for child in ast.iter_child_nodes(node):
        if isinstance(child, scoped):
            yield child  # its name, not its body
            continue
        if isinstance(child, ast.comprehension):
            yield from _walk_scope(child.iter)
            for cond in child.ifs:
                yield from _walk_scope(cond)
            continue
        yield from _walk_scope(child)


def _definitely_bound(body: list[ast.stmt]) -> set[str]:
    """Names a block binds on every path through it, short of an exception."""
    names: set[str] = set()
    for stmt in body:
        if isinstance(stmt, ast.If):
            names |= _definitely_bound(stmt.body) & _definitely_bound(stmt.orelse)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)) or not isinstance(
            stmt, (ast.For, ast.AsyncFor, ast.While, ast.Try, ast.TryStar, ast.Match)
        ):
            names |= _bound_in([stmt])
    return names


def summarize(node: ast.FunctionDef | ast.AsyncFunctionDef, defs: Defs) -> Summary:
    """What calling this function does to module-level names."""
    summary = Summary()
    positional = [a.arg for a in [*node.args.posonlyargs, *node.args.args]]
    _Summarizer(defs, summary, positional).function(node, frozenset())
    summary.generator = any(
        isinstance(sub, (ast.Yield, ast.YieldFrom))
        for stmt in node.body
        for sub in _walk_scope(stmt)
    )
    return summary


class _Summarizer:
    """Walks a function body, scope by scope, filling its summary."""

    def __init__(self, defs: Defs, summary: Summary, positional: list[str]) -> None:
        self.defs = defs
        self.summary = summary
        self.positional = positional

    def function(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, visible: frozenset[str]
    ) -> None:
        declared = {
            name
            for stmt in node.body
            for sub in _walk_scope(stmt)
            if isinstance(sub, ast.Global)
            for name in sub.names
        }
        params = {a.arg for a in _all_args(node.args)}
        scope = visible | ((params | _bound_in(node.body)) - declared)
        for stmt in node.body:
            self.visit(stmt, scope, declared)

    def visit(self, node: ast.AST, scope: frozenset[str], declared: set[str]) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for expr in CellAnalyzer.definition_time_exprs(node):
                self.visit(expr, scope, declared)
            self.function(node, scope)
            return
        if isinstance(node, ast.Lambda):
            for expr in CellAnalyzer.definition_time_exprs(node):
                self.visit(expr, scope, declared)
            args = frozenset(a.arg for a in _all_args(node.args))
            self.visit(node.body, scope | args, declared)
            return
        if isinstance(
            node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
        ):
            self.comprehension(node, scope, declared)
            return
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load) and node.id not in scope:
                self.summary.reads.add(node.id)
            elif node.id in declared:
                self.summary.writes.add(node.id)
        elif isinstance(node, (ast.Attribute, ast.Subscript)):
            if isinstance(node.ctx, (ast.Store, ast.Del)):
                self.changed(node, scope)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            if node.target.id in declared:
                self.summary.reads.add(node.target.id)
        elif isinstance(node, ast.Call):
            self.call(node, scope)
        for child in ast.iter_child_nodes(node):
            self.visit(child, scope, declared)

    def comprehension(
        self,
        node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp,
        scope: frozenset[str],
        declared: set[str],
    ) -> None:
        inner = scope | {n for g in node.generators for n in target_names(g.target)}
        for i, gen in enumerate(node.generators):
            self.visit(gen.iter, scope if i == 0 else inner, declared)
            for cond in gen.ifs:
                self.visit(cond, inner, declared)
        results = (
            [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        )
        for result in results:
            self.visit(result, inner, declared)

    def call(self, node: ast.Call, scope: frozenset[str]) -> None:
        func = node.func
        if isinstance(func, ast.Attribute):
            if func.attr not in READ_ONLY_METHODS or _inplace(node):
                self.changed(func.value, scope)
            if func.attr in self.defs.methods:
                _merge_globals(self.summary, self.defs.methods[func.attr])
        if _called_name(func) in ARG_MUTATORS and node.args:
            self.changed(node.args[0], scope)
        if isinstance(func, ast.Name) and func.id in self.defs.functions:
            for i in self.defs.functions[func.id].mutated_params:
                if i < len(node.args):
                    self.changed(node.args[i], scope)

    def changed(self, target: ast.expr, scope: frozenset[str]) -> None:
        name = root_name(target)
        if name is None:
            return
        if name in self.positional:
            self.summary.mutated_params.add(self.positional.index(name))
        elif name not in scope:
            self.summary.mutates.add(name)


def _merge_globals(into: Summary, other: Summary) -> None:
    into.reads |= other.reads
    into.writes |= other.writes
    into.mutates |= other.mutates
