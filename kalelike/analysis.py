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
import builtins
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from kalelike import files
from kalelike.files import called_name, dotted_name

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
        # pandas and numpy, returning a new value
        "agg",
        "aggregate",
        "corr",
        "cov",
        "cumsum",
        "cumprod",
        "diff",
        "ewm",
        "expanding",
        "explode",
        "iterrows",
        "itertuples",
        "melt",
        "nlargest",
        "nsmallest",
        "pct_change",
        "pivot",
        "ravel",
        "reshape",
        "resample",
        "rolling",
        "shift",
        "stack",
        "unstack",
        "to_frame",
        "to_string",
        "mode",
        "abs",
        "clip",
        "prod",
        "size",
        "first",
        "last",
        # plots draw a figure, not their data
        "plot",
        "hist",
        "boxplot",
        # logging records, and leaves the logger as it was
        "debug",
        "info",
        "warning",
        "error",
        "exception",
        "critical",
        "log",
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
        "next",
        "at",  # `np.add.at(a, indices, 1)`
    ]
)
# Attributes that hold data, not methods: passing one along changes nothing.
DATA_ATTRIBUTES = frozenset(
    [
        "T",
        "at",
        "axes",
        "classes_",
        "coef_",
        "columns",
        "data",
        "dtype",
        "dtypes",
        "empty",
        "feature_names",
        "iat",
        "iloc",
        "imag",
        "index",
        "intercept_",
        "loc",
        "name",
        "ndim",
        "real",
        "shape",
        "size",
        "target",
        "target_names",
    ]
)
# Calls whose result is an iterator or a random generator: a value whose every use
# (a method call, being passed to a call, `next`, a loop) advances its state.
ITERATOR_CALLS = frozenset(["iter", "enumerate", "zip", "map", "filter", "reversed"])
RNG_CALLS = frozenset(
    [
        "default_rng",
        "RandomState",
        "Generator",
        "Random",
        "SystemRandom",
        "SeedSequence",
        "PCG64",
        "PCG64DXSM",
        "MT19937",
        "Philox",
        "SFC64",
    ]
)
ITERTOOLS = frozenset(
    [
        "accumulate",
        "batched",
        "chain",
        "combinations",
        "combinations_with_replacement",
        "compress",
        "count",
        "cycle",
        "dropwhile",
        "filterfalse",
        "islice",
        "pairwise",
        "permutations",
        "product",
        "repeat",
        "starmap",
        "takewhile",
        "tee",
        "zip_longest",
    ]
)
STATEFUL_CALLS = ITERATOR_CALLS | RNG_CALLS | ITERTOOLS
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
# Library calls that draw from numpy's global random state unless given a
# `random_state`: scikit-learn's splits and estimators, `DataFrame.sample`.
LIBRARY_DRAWS = frozenset(
    ["train_test_split", "sample", "shuffle", "resample", "ShuffleSplit", "permutation"]
    + [
        f"{kind}{task}"
        for kind in ("RandomForest", "ExtraTrees", "GradientBoosting", "DecisionTree")
        + ("HistGradientBoosting", "Bagging", "AdaBoost", "MLP", "SGD")
        for task in ("Classifier", "Regressor")
    ]
    + ["KMeans", "MiniBatchKMeans", "IsolationForest", "TSNE", "GaussianMixture"]
)
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
    # Pickles, but its folder is removed when the step that made it ends.
    "TemporaryDirectory": "temporary directory",
}


# The detail of a file write that is a log record going to a configured file.
LOG_RECORD = "log record"
# Calls whose result does not depend on the order they are given items in.
ORDER_FREE = frozenset(
    ["sum", "all", "any", "max", "min", "len", "set", "frozenset", "sorted", "Counter"]
)
# What IPython's shell holds or does with the notebook's names.
SHELL_NAMESPACE = frozenset(["user_ns", "user_global_ns", "push", "ev", "ex"])
# Names every cell can call without defining them.
NOTEBOOK_BUILTINS = frozenset(dir(builtins)) | {"display", "get_ipython"}


@dataclass(frozen=True)
class Event:
    """One thing a cell does with a module-level name."""

    kind: str  # read, bind, maybe-bind, mutate, delete, import, share
    name: str
    line: int
    col: int
    # import: the statement; bind: an unserializable kind; read: via; share: the
    # name just bound that may share this name's objects
    detail: str = ""


def through(name: str) -> str:
    """The detail of an event on a name that shares objects with `name`, which
    the code used."""
    return f"through {name!r}"


def is_through(event: Event) -> bool:
    return event.detail.startswith("through '")


@dataclass
class Arguments:
    """Some of a function's arguments: by position (after `self` for a method), by
    parameter name, any (its `*args` or `**kwargs`), and its receiver (`self`)."""

    positions: set[int] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    rest: bool = False
    receiver: bool = False

    def __bool__(self) -> bool:
        return bool(self.positions or self.names or self.rest or self.receiver)

    def merge(self, other: "Arguments") -> None:
        self.positions |= other.positions
        self.names |= other.names
        self.rest |= other.rest
        self.receiver |= other.receiver

    def of(self, call: ast.Call) -> list[ast.expr]:
        """The expressions `call` passes for these arguments, its receiver aside."""
        if not (self.positions or self.names or self.rest):
            return []
        every = arguments(call)
        unpacked = any(isinstance(a, ast.Starred) for a in call.args) or any(
            kw.arg is None for kw in call.keywords
        )
        if self.rest or unpacked:  # positions are not known: all of them
            return every
        return [a for i, a in enumerate(call.args) if i in self.positions] + [
            kw.value for kw in call.keywords if kw.arg in self.names
        ]


@dataclass
class Summary:
    """What calling a function (or using a class) does to module-level names."""

    reads: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)
    mutates: set[str] = field(default_factory=set)
    calls: set[str] = field(default_factory=set)  # globals it calls
    # globals it may advance if stateful: method receivers, arguments, loops
    handles: set[str] = field(default_factory=set)
    env: set[str] = field(default_factory=set)  # "env-read", "env-set"
    # The global random states it seeds or draws from: ("seed" or "random", module)
    random: set[tuple[str, str]] = field(default_factory=set)
    files: set[tuple[str, str]] = field(default_factory=set)  # (kind, path) touched
    logs: bool = False  # writes log records, to the log files set up when called
    changes: Arguments = field(default_factory=Arguments)  # changed in place
    # What its result may share objects with: arguments, and globals by name.
    returns: Arguments = field(default_factory=Arguments)
    returned: set[str] = field(default_factory=set)
    invokes: Arguments = field(default_factory=Arguments)  # arguments it calls
    generator: bool = False


@dataclass
class Defs:
    """The notebook's functions, classes and methods, by name, as analysed so far."""

    functions: dict[str, Summary] = field(default_factory=dict)
    methods: dict[str, Summary] = field(default_factory=dict)
    classes: set[str] = field(default_factory=set)  # names in `functions` of classes
    memoized: set[str] = field(default_factory=set)  # functions under `lru_cache`
    # name -> names whose objects it may share (`m = models["lr"]`, loop targets)
    aliases: dict[str, set[str]] = field(default_factory=dict)
    aliased_by: dict[str, set[str]] = field(default_factory=dict)  # the reverse
    # Names whose latest binding holds no state when called: builtins, `def`,
    # `class`, imports. Calling any other name may change its value (a closure).
    static: set[str] = field(default_factory=lambda: set(NOTEBOOK_BUILTINS))
    # Names bound to an iterator or a random generator (see `STATEFUL_CALLS`).
    stateful: set[str] = field(default_factory=set)
    growing: set[str] = field(default_factory=set)  # defaultdicts: `d[k]` adds k
    sets: set[str] = field(default_factory=set)  # names bound to a set
    # Names whose latest binding is a string or path literal: the strings they
    # may hold (a parameter's default, `f"{OUT}/x.csv"`), so a touch of the
    # file they name is seen.
    strings: dict[str, set[str]] = field(default_factory=dict)
    # The files `logging.basicConfig(filename=...)` and file handlers send log
    # records to: every later record written is a write of those files.
    log_files: set[str] = field(default_factory=set)

    def sharing(self, name: str) -> set[str]:
        """Every name that may reach an object `name` reaches, both ways."""
        group, todo = {name}, [name]
        while todo:
            current = todo.pop()
            linked = self.aliases.get(current, set()) | self.aliased_by.get(
                current, set()
            )
            todo += sorted(linked - group)
            group |= linked
        return group - {name}

    def rebind(self, name: str, roots: set[str]) -> None:
        for root in self.aliases.pop(name, ()):
            self.aliased_by[root].discard(name)
        if roots - {name}:
            self.aliases[name] = roots - {name}
            for root in roots - {name}:
                self.aliased_by.setdefault(root, set()).add(name)

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
            _merge_globals(total, summary)
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
        "next",
        "min",
        "max",
        "setdefault",
        "pop",
        "popitem",
        # numpy and torch: views of their argument or receiver
        "view",
        "reshape",
        "ravel",
        "transpose",
        "swapaxes",
        "squeeze",
        "diagonal",
        "to_numpy",
        "asarray",
        "asanyarray",
        "atleast_1d",
        "atleast_2d",
        "atleast_3d",
        "broadcast_to",
        "expand_dims",
        "moveaxis",
        "from_numpy",
        "as_tensor",
        "numpy",
        "partial",  # `add = partial(push, buf)` holds `buf`
        "split",
        "array_split",
        "hsplit",
        "vsplit",
        "dsplit",
    ]
)


def alias_roots(node: ast.expr, defs: "Defs | None" = None) -> set[str]:
    """Names whose objects the value of `node` may share (not copy).

    With `defs`, a call of a notebook function shares what that function returns
    of its arguments and globals.
    """
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        return alias_roots(node.value, defs)
    if isinstance(node, ast.NamedExpr):
        return alias_roots(node.value, defs)
    parts: list[ast.expr] = []
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        parts = node.elts
    elif isinstance(node, ast.Dict):
        parts = node.values
    elif isinstance(node, ast.IfExp):  # `a if flag else b`
        parts = [node.body, node.orelse]
    elif isinstance(node, ast.BoolOp):  # `a or b`
        parts = node.values
    elif isinstance(node, ast.Call):
        return _call_shares(node, defs)
    return set().union(*(alias_roots(p, defs) for p in parts))


def _call_shares(call: ast.Call, defs: "Defs | None") -> set[str]:
    func, called = call.func, called_name(call.func)
    if called in SHARING_CALLS:
        parts = list(call.args)
        if isinstance(func, ast.Attribute):
            parts.append(func.value)
        return set().union(*(alias_roots(p, defs) for p in parts))
    summary = None
    if defs is not None and isinstance(func, ast.Name):
        summary = defs.functions.get(func.id)
    elif defs is not None and isinstance(func, ast.Attribute):
        summary = defs.methods.get(func.attr)
    if summary is None:
        return set()
    parts = summary.returns.of(call)
    if summary.returns.receiver and isinstance(func, ast.Attribute):
        parts.append(func.value)
    shared = set().union(*(alias_roots(p, defs) for p in parts))
    return shared | summary.returned


def target_names(node: ast.AST) -> Iterator[str]:
    """Names bound by an assignment target (tuples and starred included)."""
    if isinstance(node, ast.Name):
        yield node.id
    elif isinstance(node, (ast.Tuple, ast.List)):
        for elt in node.elts:
            yield from target_names(elt)
    elif isinstance(node, ast.Starred):
        yield from target_names(node.value)


_ENV_CALLS = frozenset(
    {
        "os.getenv",
        "os.putenv",
        "os.unsetenv",
        "os.environ.get",
        "os.environ.setdefault",
        "os.environ.pop",
    }
)


def environment_use(node: ast.AST) -> str | None:
    """Whether `node` changes ("env-set") or reads ("env-read") the environment.

    Any method of `os.environ` that is not read-only changes it (`pop`, `update`,
    `clear`, `setdefault`), as do stores and `del` on `os.environ[...]`,
    `os.putenv` and `os.unsetenv`; a started process reads all of it.
    """
    if isinstance(node, ast.Attribute) and dotted_name(node) == "os.environ":
        return "env-read"
    if isinstance(node, ast.Subscript) and dotted_name(node.value) == "os.environ":
        return "env-read" if isinstance(node.ctx, ast.Load) else "env-set"
    if not isinstance(node, ast.Call):
        return None
    dotted = dotted_name(node.func)
    if dotted in ("os.putenv", "os.unsetenv"):
        return "env-set"
    if dotted in ("os.getenv", "os.getenvb") or dotted in SHELL_CALLS:
        return "env-read"
    func = node.func
    if isinstance(func, ast.Attribute) and dotted_name(func.value) == "os.environ":
        return "env-read" if func.attr in READ_ONLY_METHODS else "env-set"
    return None


def _environ_key(node: ast.expr) -> str | None:
    """`X` for `os.environ["X"]`, `os.environ.get("X")` or `os.getenv("X")`."""
    key: ast.expr | None = None
    if isinstance(node, ast.Subscript) and dotted_name(node.value) == "os.environ":
        key = node.slice
    elif (
        isinstance(node, ast.Call)
        and node.args
        and dotted_name(node.func) in _ENV_CALLS
    ):
        key = node.args[0]
    if isinstance(key, ast.Constant) and isinstance(key.value, str):
        return key.value
    return None


# Calls that change a library's settings for the rest of the process.
SETTING_CALL = re.compile(
    r"set_\w+|seterr|setcontext|setlocale|setrecursionlimit|simplefilter"
    r"|filterwarnings|use|basicConfig"
)


def random_use(node: ast.Call) -> list[tuple[str, str]]:
    """("seed" or "random", module) for a call on a global random state."""
    module, _, attr = dotted_name(node.func).rpartition(".")
    if module in GLOBAL_RANDOM:
        kind = "seed" if attr in ("seed", "manual_seed", "set_seed") else "random"
        return [(kind, module)]
    seeded = any(kw.arg == "random_state" for kw in node.keywords)
    if attr in LIBRARY_DRAWS and not seeded:  # they draw from numpy's global state
        return [("random", "np.random"), ("random", "numpy.random")]
    return []


def _inplace(call: ast.Call) -> bool:
    return any(
        kw.arg == "inplace"
        and not (isinstance(kw.value, ast.Constant) and kw.value.value is False)
        for kw in call.keywords
    )


def changed_names(node: ast.expr, static: set[str]) -> set[str]:
    """Names whose objects an in-place change of the value of `node` may change.

    The root of `a.b[c].d`. A receiver with no single root (`(a if f else b)`,
    `list(d.values())[0]`) may be the object of any name it reads, so all of
    them, except the functions it calls, names bound inside it (comprehension
    variables, lambda parameters) and names in `static` (builtins, functions).
    """
    name = root_name(node)
    if name is not None:
        return {name}
    called, inner, read = set(), set(), set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name):
            called.add(id(sub.func))
        elif isinstance(sub, ast.comprehension):
            inner |= set(target_names(sub.target))
        elif isinstance(sub, ast.Lambda):
            inner |= {a.arg for a in _all_args(sub.args)}
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
            read.add(sub)
    return {n.id for n in read if id(n) not in called} - inner - static


def arguments(call: ast.Call) -> list[ast.expr]:
    return [*call.args, *(kw.value for kw in call.keywords)]


def passed_changers(call: ast.Call) -> list[ast.expr]:
    """Arguments a call changes whatever it is: `out=` targets, bound methods.

    A method taken without calling it (`map(log.append, xs)`) may be called by
    the callee, so it changes its object unless it is read-only or data.
    """
    found = [kw.value for kw in call.keywords if kw.arg == "out"]
    # `np.nan_to_num(a, copy=False)` works on `a` itself.
    if any(
        kw.arg == "copy" and isinstance(kw.value, ast.Constant) and not kw.value.value
        for kw in call.keywords
    ):
        found += call.args[:1]
    for arg in arguments(call):
        if (
            isinstance(arg, ast.Attribute)
            and arg.attr not in READ_ONLY_METHODS
            and arg.attr not in DATA_ATTRIBUTES
            and not arg.attr.endswith("_")  # fitted `feature_importances_`: data
        ):
            found.append(arg.value)
    return found


def is_stateful_value(value: ast.expr | None, defs: Defs) -> bool:
    """Whether a value is evidently an iterator or a random generator."""
    if isinstance(value, ast.GeneratorExp):
        return True
    if isinstance(value, ast.Name):
        return value.id in defs.stateful
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    if isinstance(func, ast.Name):
        summary = defs.functions.get(func.id)
        return func.id in STATEFUL_CALLS or summary is not None and summary.generator
    if isinstance(func, ast.Attribute):
        return func.attr in RNG_CALLS or dotted_name(func.value) == "itertools"
    return False


class CellAnalyzer:
    """Walks a cell's module-level statements and records events in run order."""

    def __init__(self, defs: Defs) -> None:
        self.defs = defs
        self.events: list[Event] = []
        self.conditional = 0  # > 0 inside branches and loops: binds are maybe-binds
        self.source = ""
        # A comprehension's variables -> module-level names whose objects they
        # may be: changing `r` in `[r.append(1) for r in rows]` changes `rows`.
        self.scoped: dict[str, set[str]] = {}
        # Comprehensions whose order does not matter (`sum(...)`), by id, and
        # how many of them the walk is inside.
        self.unordered: set[int] = set()
        self.order_free = 0

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
        if kind == "mutate":
            self.mutate_aliases(name, node)

    def mutate_aliases(self, name: str, node: ast.AST) -> None:
        """A change through one name shows through every name sharing its objects."""
        line, col = getattr(node, "lineno", 1), getattr(node, "col_offset", 0)
        for alias in sorted(self.defs.sharing(name)):
            self.events.append(Event("mutate", alias, line, col, through(name)))

    def bind(self, name: str, node: ast.AST, detail: str = "") -> None:
        self.emit("maybe-bind" if self.conditional else "bind", name, node, detail)
        self.defs.static.discard(name)
        if not self.conditional:  # its string, if any, is set after (`remember`)
            self.defs.strings.pop(name, None)
            self.defs.stateful.discard(name)

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
            self.defs.static.discard(name)
        for name in sorted(summary.calls - self.defs.static):
            self.emit("mutate", name, node, via)  # a closure may keep state
        for name in sorted(summary.handles & self.defs.stateful):
            self.emit("mutate", name, node, via)
        for kind in sorted(summary.env):
            self.emit(kind, "*", node, via)
        for kind, module in sorted(summary.random):
            self.emit(kind, module, node, via)
        for kind, path in sorted(summary.files):
            self.emit(f"file-{kind}", path, node, via)
        for path in sorted(self.defs.log_files if summary.logs else ()):
            self.emit("file-write", path, node, via)

    def charge_passed(self, passed: list[ast.expr], node: ast.AST, via: str) -> None:
        """A function that calls what it is given runs the notebook's functions
        passed to it, or held in what is passed (`run_all([on_done])`)."""
        for expr in passed:
            names = alias_roots(expr, self.defs)
            for name in sorted(
                names | {n for r in names for n in self.defs.sharing(r)}
            ):
                if name in self.defs.functions and name != via:
                    self.charge(self.defs.expand(name), node, f"through {via}()")

    def mutate(
        self,
        target: ast.expr,
        node: ast.AST,
        local: set[str] | frozenset[str] = frozenset(),
    ) -> None:
        """Record an in-place change of the value of `target`."""
        changed = changed_names(target, self.defs.static)
        for name in sorted(changed & set(local)):
            changed |= self.scoped.get(name, set())
        for name in sorted(changed - set(local)):
            self.emit("mutate", name, node)

    def consume(self, value: ast.expr, local: set[str] | frozenset[str]) -> None:
        """Iterating over an iterator or a generator advances it; over a set, it
        follows an order that a set handed on may not keep."""
        name = root_name(value)
        if name in self.defs.stateful and name not in local:
            self.emit("mutate", name, value)
        ordered = isinstance(value, ast.Name) and not self.order_free
        if ordered and name in self.defs.sets and name not in local:
            self.emit("iterate", name, value)

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
        shared = roots or set()
        if value is not None:
            shared = shared | alias_roots(value, self.defs)
        if isinstance(target, ast.Name):
            self.bind(target.id, target, self.value_kind(value))
            self.link(target.id, shared, target)
            if isinstance(value, ast.Lambda):  # called later, it reads its globals
                self.defs.functions[target.id] = summarize(
                    _as_def(target.id, value), self.defs
                )
        elif isinstance(target, (ast.Tuple, ast.List)):
            # `first, rest = rows`: each may share `rows`; `fig, ax = subplots()`:
            # the parts of one value may share objects with one another.
            opaque = value is not None and not isinstance(value, (ast.Tuple, ast.List))
            for elt in target.elts:
                self.assign_target(elt, None, shared)
                if opaque:
                    shared = shared | set(target_names(elt))
        elif isinstance(target, ast.Starred):
            self.assign_target(target.value, None, shared)
        else:  # attribute or subscript store: changes the object in place
            self.expr(target)
            self.mutate(target, target)
            if isinstance(target, ast.Attribute) and target.attr in self.defs.methods:
                setter = self.defs.methods[target.attr]  # a property's setter runs
                self.charge(setter, target, f"through .{target.attr}")
            root = root_name(target)
            # A module's, `pd.options.display.width = 100`; the environment is
            # carried between steps (see flow.ENVIRON).
            if root is not None and environment_use(target) is None:
                self.emit("setting", root, target, ast.unparse(target))
        if is_stateful_value(value, self.defs):  # `a, b = tee(it)` included
            self.defs.stateful.update(target_names(target))
        if not isinstance(target, ast.Name):
            return
        called = called_name(value.func) if isinstance(value, ast.Call) else None
        if called == "defaultdict":
            self.defs.growing.add(target.id)
        else:
            self.defs.growing.discard(target.id)
        if isinstance(value, (ast.Set, ast.SetComp)) or called in ("set", "frozenset"):
            self.defs.sets.add(target.id)
        else:
            self.defs.sets.discard(target.id)

    def link(self, name: str, roots: set[str], node: ast.AST) -> None:
        """`name` now may share the objects of `roots`; name all that it shares."""
        self.defs.rebind(name, roots)
        if roots - {name}:
            for other in sorted(self.defs.sharing(name)):
                self.emit("share", other, node, name)

    def stmt_Assign(self, node: ast.Assign) -> None:
        self.expr(node.value)
        found = files.strings(node.value, self.defs.strings)
        bound: set[str] = set()
        for target in node.targets:  # `a = b = []`: one object under both names
            self.assign_target(target, node.value, bound)
            bound = bound | set(target_names(target))
        for target in node.targets:
            self.remember(target, found)

    def remember(self, target: ast.expr, found: set[str] | None) -> None:
        """Note the strings a name bound to a literal path now may hold."""
        if isinstance(target, ast.Name) and found is not None:
            if self.conditional:  # or what it held before
                found = found | self.defs.strings.get(target.id, set())
            self.defs.strings[target.id] = found

    def stmt_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.simple:  # module-level annotations are evaluated
            self.expr(node.annotation)
        if node.value is not None:
            self.expr(node.value)
            found = files.strings(node.value, self.defs.strings)
            self.assign_target(node.target, node.value)
            self.remember(node.target, found)

    def stmt_AugAssign(self, node: ast.AugAssign) -> None:
        self.expr(node.value)
        if isinstance(node.target, ast.Name):
            name = node.target.id
            self.read(name, node.target)
            self.mutate_aliases(name, node.target)  # in place on a list or array
            self.bind(name, node.target)
        else:
            self.expr(node.target)
            self.mutate(node.target, node.target)

    def stmt_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            for name in target_names(target):
                self.read(name, target)
                # Deleted on some paths only: later steps get the value or its
                # absence, as the run went, as from any change.
                self.emit("mutate" if self.conditional else "delete", name, target)
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
            self.defs.static.add(name)
            self.defs.stateful.discard(name)
        # A module beside the notebook, maybe written by `%%writefile` in an
        # earlier step, is read by importing it.
        modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            modules = [node.module]
        for module in modules:
            for path in files.import_paths(module):
                self.emit("file-read", path, node)

    stmt_ImportFrom = stmt_Import

    def stmt_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for expr in self.definition_time_exprs(node):
            self.expr(expr)
        self.defs.functions[node.name] = summarize(node, self.defs)
        self.bind(node.name, node, "")
        self.defs.static.add(node.name)
        memoized = any(
            dotted_name(d.func if isinstance(d, ast.Call) else d).rpartition(".")[2]
            in ("cache", "lru_cache")
            for d in node.decorator_list
        )
        if memoized:
            self.defs.memoized.add(node.name)
        else:
            self.defs.memoized.discard(node.name)

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
                method = summarize(stmt, self.defs, method=True)
                self.defs.methods.setdefault(stmt.name, Summary())
                _merge(self.defs.methods[stmt.name], method)
                if stmt.name == "__init__":  # calling the class calls it
                    _merge(summary, method)
                    summary.changes.receiver = False
                    summary.returns.receiver = False
                else:
                    _merge_globals(summary, method)
                class_locals.add(stmt.name)
            else:  # the class body runs now, in its own scope
                for expr in _exprs(stmt):
                    self.expr_in_scope(expr, class_locals)
                class_locals |= set(_stored_names(stmt))
        self.defs.functions[node.name] = summary
        self.defs.classes.add(node.name)
        self.bind(node.name, node)
        self.defs.static.add(node.name)

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
        self.consume(node.iter, frozenset())
        self.conditional += 1
        self.assign_target(node.target, None, alias_roots(node.iter, self.defs))
        self.remember(node.target, files.strings(node.iter, self.defs.strings))
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
        # `with suppress(KeyError):` may leave its body at any line.
        swallows = any(
            isinstance(item.context_expr, ast.Call)
            and called_name(item.context_expr.func) == "suppress"
            for item in node.items
        )
        self.block(node.body, conditional=swallows)

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
        environment = environment_use(node)
        if environment is not None:
            self.emit(environment, _environ_key(node) or "*", node)
        if isinstance(node, ast.NamedExpr):
            self.expr_in_scope(node.value, local)
            self.conditional += 1  # it may sit in a comprehension or a condition
            self.bind(node.target.id, node.target, self.value_kind(node.value))
            self.link(
                node.target.id, alias_roots(node.value, self.defs) - local, node.target
            )
            self.conditional -= 1
        elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
            # `sum(len(w) for w in vocab)`, `{w.lower() for w in vocab}`: in any order
            free = isinstance(node, ast.SetComp) or id(node) in self.unordered
            self.order_free += free
            self.comprehension(node.generators, [node.elt], local)
            self.order_free -= free
        elif isinstance(node, ast.DictComp):
            self.comprehension(node.generators, [node.key, node.value], local)
        elif isinstance(node, ast.Lambda):
            for expr in self.definition_time_exprs(node):
                self.expr_in_scope(expr, local)
            params = {a.arg for a in _all_args(node.args)}
            self.expr_in_scope(node.body, local | params)
        else:
            if isinstance(node, ast.Call) and called_name(node.func) in ORDER_FREE:
                self.unordered.update(id(arg) for arg in node.args)
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.expr):
                    self.expr_in_scope(child, local)
                elif isinstance(child, ast.keyword):
                    self.expr_in_scope(child.value, local)
            if isinstance(node, ast.Call):
                self.call(node, local)
                self.files(node)
                self.hidden_state(node)
            elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
                name = node.value.id  # reading `d[k]` of a defaultdict adds k
                if name in self.defs.growing and name not in local:
                    self.emit("mutate", name, node)
            elif (
                isinstance(node, ast.Attribute)
                and node.attr in SHELL_NAMESPACE
                and isinstance(node.value, ast.Call)
                and dotted_name(node.value.func) == "get_ipython"
            ):
                self.emit("dynamic", "get_ipython", node)

    def comprehension(
        self,
        generators: list[ast.comprehension],
        results: list[ast.expr],
        local: set[str] | frozenset[str],
    ) -> None:
        inner = set(local)
        outer = dict(self.scoped)
        for i, gen in enumerate(generators):
            # The first iterable is evaluated in the enclosing scope.
            self.expr_in_scope(gen.iter, local if i == 0 else inner)
            self.consume(gen.iter, local if i == 0 else inner)
            roots = set()
            for root in alias_roots(gen.iter, self.defs):
                roots |= self.scoped.get(root, set()) if root in inner else {root}
            inner |= set(target_names(gen.target))
            self.scoped.update(dict.fromkeys(target_names(gen.target), roots))
            for cond in gen.ifs:
                self.expr_in_scope(cond, inner)
        for result in results:
            self.expr_in_scope(result, inner)
        self.scoped = outer

    def call(self, node: ast.Call, local: set[str] | frozenset[str]) -> None:
        """Charge a call with the in-place changes it makes."""
        func = node.func
        changed: list[ast.expr] = []  # expressions whose objects the call changes
        if isinstance(func, ast.Attribute):
            stateful = root_name(func.value) in self.defs.stateful
            if func.attr not in READ_ONLY_METHODS or _inplace(node) or stateful:
                changed.append(func.value)
            method = self.defs.methods.get(func.attr)
            if method is not None:
                self.charge(method, node, f"through .{func.attr}()")
                changed += method.changes.of(node)
                if method.changes.receiver:
                    changed.append(func.value)
        elif isinstance(func, ast.Name) and func.id not in local:
            # `for step in [clean, scale]: step(df)`: each function it may be.
            held = sorted(self.defs.sharing(func.id) & self.defs.functions.keys())
            for name in [func.id] if func.id in self.defs.functions else held:
                called = self.defs.functions[name]
                changed += called.changes.of(node)
                self.charge_passed(called.invokes.of(node), node, name)
                if name != func.id:
                    self.charge(self.defs.expand(name), node, f"through {name}()")
            if func.id not in self.defs.static:  # a closure may keep state
                self.emit("mutate", func.id, node)
        elif isinstance(func, ast.Subscript):  # `handlers[key](x)`: the same
            changed.append(func)
        if called_name(func) in ARG_MUTATORS and node.args:
            changed.append(node.args[0])
        if called_name(func) in ("list", "tuple", "enumerate", "zip", "join"):
            for arg in node.args:  # in the order the set iterates
                self.consume(arg, local)
        changed += passed_changers(node)
        changed += [a for a in arguments(node) if self.holds_state(a)]
        for expr in changed:
            self.mutate(expr, expr, local)

    def holds_state(self, value: ast.expr) -> bool:
        """Whether `value` is reached from an iterator or a random generator."""
        return root_name(value) in self.defs.stateful

    def hidden_state(self, node: ast.Call) -> None:
        """Record calls touching process state that a step boundary drops."""
        dotted = dotted_name(node.func)
        random = random_use(node)
        for kind, module in random:
            self.emit(kind, module, node)
        if random:
            return
        if dotted in ("os.chdir", "chdir"):
            self.emit("chdir", "os.chdir", node)
        elif dotted in ("exec", "eval", "globals", "locals", "vars") and (
            dotted in ("exec", "eval") or not node.args
        ):
            self.emit("dynamic", dotted, node)
        elif SETTING_CALL.fullmatch(dotted.rpartition(".")[2]):
            # `np.set_printoptions(...)`, `sklearn.set_config(...)`: the flow
            # keeps those whose root is a module.
            root = dotted.partition(".")[0]
            self.emit("setting", root, node, ast.unparse(node.func))

    def files(self, node: ast.Call) -> None:
        """Record the files a call touches, by the literal paths it names."""
        for kind, path in files.touches(node, self.defs.strings):
            self.emit(f"file-{kind}", path, node)
        # A step's log records go to the file its `basicConfig` named, and the
        # notebook's later cells keep writing there: order them.
        if files.logs(node):
            for path in sorted(self.defs.log_files):
                self.emit("file-write", path, node, LOG_RECORD)
        configured = files.log_files(node, self.defs.strings)
        for path in sorted(configured):
            self.emit("log-config", path, node)
        self.defs.log_files |= configured

    def value_kind(self, value: ast.expr | None) -> str:
        """Name the kind of a value that evidently cannot be serialized."""
        if isinstance(value, ast.GeneratorExp):
            return "generator"
        if isinstance(value, ast.Call):
            called = called_name(value.func)
            if called in UNSERIALIZABLE_CALLS:
                return UNSERIALIZABLE_CALLS[called]
            summary = self.defs.functions.get(called or "")
            if isinstance(value.func, ast.Name) and summary and summary.generator:
                return "generator"
        return ""


def _merge(into: Summary, other: Summary) -> None:
    _merge_globals(into, other)
    into.changes.merge(other.changes)
    into.returns.merge(other.returns)
    into.returned |= other.returned
    into.invokes.merge(other.invokes)


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


def assigned_names(tree: ast.Module) -> set[str]:
    """Names a module binds in its own scope other than by import: the values a
    cell leaves behind (comprehension variables are not among them)."""
    imported = {
        alias.asname or alias.name.split(".")[0]
        for stmt in tree.body
        for sub in _walk_scope(stmt)
        if isinstance(sub, (ast.Import, ast.ImportFrom))
        for alias in sub.names
    }
    return _bound_in(tree.body) - imported


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
    if isinstance(node, scoped):
        return  # its name, not its body
    for child in ast.iter_child_nodes(node):
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


def summarize(
    node: ast.FunctionDef | ast.AsyncFunctionDef, defs: Defs, method: bool = False
) -> Summary:
    """What calling this function does to module-level names and its arguments.

    A method's argument positions count from after `self` (or `cls`): it is
    called bound, `obj.method(a, b)`.
    """
    summary = Summary()
    _Summarizer(defs, summary, node, method).function(node, frozenset())
    summary.generator = any(
        isinstance(sub, (ast.Yield, ast.YieldFrom))
        for stmt in node.body
        for sub in _walk_scope(stmt)
    )
    return summary


def _bindings(node: ast.AST) -> list[tuple[ast.expr, ast.expr]]:
    """Every (target, value) a function binds, wherever in its body."""
    pairs: list[tuple[ast.expr, ast.expr]] = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Assign):
            pairs += [(target, sub.value) for target in sub.targets]
        elif isinstance(sub, (ast.AnnAssign, ast.NamedExpr)) and sub.value is not None:
            pairs.append((sub.target, sub.value))
        elif isinstance(sub, (ast.For, ast.AsyncFor, ast.comprehension)):
            pairs.append((sub.target, sub.iter))
        elif isinstance(sub, ast.withitem) and sub.optional_vars is not None:
            pairs.append((sub.optional_vars, sub.context_expr))
    return pairs


def _local_aliases(pairs: list[tuple[ast.expr, ast.expr]]) -> dict[str, set[str]]:
    """In a function: each local name -> the names whose objects it may share."""
    aliases: dict[str, set[str]] = {}
    for target, value in pairs:
        roots = alias_roots(value)
        for name in target_names(target):
            aliases.setdefault(name, set()).update(roots)
    return aliases


def _as_def(name: str, node: ast.Lambda) -> ast.FunctionDef:
    """A lambda as the function it is, for its summary."""
    body: list[ast.stmt] = [ast.copy_location(ast.Return(node.body), node.body)]
    function = ast.FunctionDef(name=name, args=node.args, body=body, decorator_list=[])
    return ast.copy_location(function, node)


def _function_strings(
    node: ast.FunctionDef | ast.AsyncFunctionDef,
    known: dict[str, set[str]],
    bindings: list[tuple[ast.expr, ast.expr]],
) -> dict[str, set[str]]:
    """The strings the names a function uses may hold: the module's for its
    globals, and for its locals every literal path bound to them (defaults,
    assignments, loops over literal lists), wherever in the body."""
    args = node.args
    local = {a.arg for a in _all_args(args)} | _bound_in(node.body)
    strings = {name: set(v) for name, v in known.items() if name not in local}
    positional = [*args.posonlyargs, *args.args]
    pairs: list[tuple[ast.expr, ast.expr]] = []
    for arg, default in [
        *zip(
            positional[len(positional) - len(args.defaults) :],
            args.defaults,
            strict=True,
        ),
        *zip(args.kwonlyargs, args.kw_defaults, strict=True),
    ]:
        if default is not None:
            pairs.append((ast.Name(arg.arg, ast.Store()), default))
    for target, value in pairs + bindings:
        found = files.strings(value, strings)
        if isinstance(target, ast.Name) and found:
            strings.setdefault(target.id, set()).update(found)
    return strings


def _is_static(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(called_name(d) == "staticmethod" for d in node.decorator_list)


class _Summarizer:
    """Walks a function body, scope by scope, filling its summary."""

    def __init__(
        self,
        defs: Defs,
        summary: Summary,
        node: ast.FunctionDef | ast.AsyncFunctionDef,
        method: bool,
    ) -> None:
        self.defs = defs
        self.summary = summary
        args = node.args
        self.positional = [a.arg for a in [*args.posonlyargs, *args.args]]
        self.receiver = None  # `self` or `cls`: the object a method is called on
        if method and self.positional and not _is_static(node):
            self.receiver = self.positional.pop(0)
        self.named = set(self.positional) | {a.arg for a in args.kwonlyargs}
        self.rest = {a.arg for a in (args.vararg, args.kwarg) if a is not None}
        bindings = _bindings(node)
        self.aliases = _local_aliases(bindings)
        self.strings = _function_strings(node, defs.strings, bindings)

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
        environment = environment_use(node)
        if environment is not None:
            self.summary.env.add(environment)
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
        elif isinstance(node, ast.Return) and node.value is not None:
            self.returned(node.value, scope)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            self.handle(node.iter, scope)
        elif isinstance(node, ast.Call):
            self.summary.random.update(random_use(node))
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
            self.handle(gen.iter, scope if i == 0 else inner)
            for cond in gen.ifs:
                self.visit(cond, inner, declared)
        results = (
            [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        )
        for result in results:
            self.visit(result, inner, declared)

    def call(self, node: ast.Call, scope: frozenset[str]) -> None:
        self.summary.files.update(files.touches(node, self.strings))
        self.summary.logs |= files.logs(node)
        func = node.func
        changed: list[ast.expr] = []  # expressions whose objects the call changes
        if isinstance(func, ast.Attribute):
            if func.attr not in READ_ONLY_METHODS or _inplace(node):
                changed.append(func.value)
            self.handle(func.value, scope)
            method = self.defs.methods.get(func.attr)
            if method is not None:
                _merge_globals(self.summary, method)
                changed += method.changes.of(node)
                if method.changes.receiver:
                    changed.append(func.value)
        elif isinstance(func, ast.Name):
            if func.id in self.defs.functions:
                changed += self.defs.functions[func.id].changes.of(node)
            if func.id not in scope:
                self.summary.calls.add(func.id)
            # `for call in callbacks: call()`: the caller's functions run.
            self.classify(self.sharing({func.id}), scope, self.summary.invokes)
        elif isinstance(func, ast.Subscript):
            changed.append(func)
        if called_name(func) in ARG_MUTATORS and node.args:
            changed.append(node.args[0])
        changed += passed_changers(node)
        for arg in arguments(node):
            self.handle(arg, scope)
        for expr in changed:
            self.changed(expr, scope)

    def handle(self, value: ast.expr, scope: frozenset[str]) -> None:
        """A global used in a way that advances it, if it is an iterator."""
        name = root_name(value)
        if name is not None and name not in scope:
            self.summary.handles.add(name)

    def sharing(self, names: set[str]) -> set[str]:
        """`names` and the names whose objects their local values may share."""
        group, todo = set(names), sorted(names)
        while todo:
            for other in self.aliases.get(todo.pop(), ()):
                if other not in group:
                    group.add(other)
                    todo.append(other)
        return group

    def changed(self, target: ast.expr, scope: frozenset[str]) -> None:
        names = self.sharing(changed_names(target, self.defs.static))
        self.summary.mutates |= self.classify(names, scope, self.summary.changes)

    def returned(self, value: ast.expr, scope: frozenset[str]) -> None:
        names = self.sharing(alias_roots(value, self.defs))
        self.summary.returned |= self.classify(names, scope, self.summary.returns)

    def classify(
        self, names: set[str], scope: frozenset[str], into: Arguments
    ) -> set[str]:
        """Record which of `names` are arguments in `into`; return the globals."""
        found = set()
        for name in names:
            if name == self.receiver:
                into.receiver = True
            elif name in self.named:
                into.names.add(name)
                if name in self.positional:
                    into.positions.add(self.positional.index(name))
            elif name in self.rest:
                into.rest = True
            elif name not in scope:
                found.add(name)
        return found


def _merge_globals(into: Summary, other: Summary) -> None:
    into.reads |= other.reads
    into.writes |= other.writes
    into.mutates |= other.mutates
    into.calls |= other.calls
    into.handles |= other.handles
    into.env |= other.env
    into.random |= other.random
    into.files |= other.files
    into.logs |= other.logs
