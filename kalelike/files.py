"""Which files a call touches, by the paths it names, and which paths meet.

Each step runs in a process of its own, so a file one step writes and a later
step reads orders the two steps (see `flow`). The rule is general rather than a
list of functions: a call that passes a path-like string, or a name bound to
one, touches that file. The called name says whether it writes, reads or both
(`to_csv`, `joblib.load`, `sqlite3.connect`); any other call is a touch of
unknown kind, which orders the steps as a write would, because a needless edge
costs only parallelism while a missing one reads a stale file.

A path that is not a literal and cannot be resolved is no touch: the analysis
does not invent edges it cannot name a file for.
"""

import ast
import fnmatch
import posixpath
import re
from collections.abc import Iterator, Mapping, Set
from itertools import product

Strings = Mapping[str, Set[str]]  # a name -> the strings it may hold
Touch = tuple[str, str]  # (kind, path); kind is "write", "read" or "touch"

WRITERS = frozenset(
    {
        "to_csv",
        "to_parquet",
        "to_json",
        "to_excel",
        "to_pickle",
        "to_feather",
        "to_hdf",
        "to_netcdf",
        "to_sql",
        "to_file",
        "savefig",
        "save",
        "save_model",
        "save_pretrained",
        "savez",
        "savez_compressed",
        "savetxt",
        "dump",
        "imwrite",
        "write_text",
        "write_bytes",
        "touch",
        "mkdir",
        "makedirs",
        "remove",
        "unlink",
        "rmdir",
        "rmtree",
        "basicConfig",
        *("FileHandler", "RotatingFileHandler", "TimedRotatingFileHandler"),
    }
)
READERS = frozenset(
    {
        "read_csv",
        "read_parquet",
        "read_json",
        "read_excel",
        "read_pickle",
        "read_feather",
        "read_hdf",
        "read_table",
        "read_fwf",
        "read_sql",
        "load",
        "load_model",
        "from_pretrained",
        "loadtxt",
        "genfromtxt",
        "fromfile",
        "read_text",
        "read_bytes",
        "imread",
        "exists",
        "isfile",
        "isdir",
        "getsize",
        "getmtime",
        "stat",
        "listdir",
        "scandir",
        "walk",
        "glob",
        "iglob",
        "rglob",
        "iterdir",
    }
)
# Both: a database file is read and written through its connection.
UPDATERS = frozenset({"connect", "create_engine", "File", "shelve.open"})
# Calls that read their first path and write the others: (name, whether the
# first path is removed, which is a write).
COPIERS = {
    "copy": False,
    "copy2": False,
    "copyfile": False,
    "copytree": False,
    "copyfileobj": False,
    "symlink": False,
    "move": True,
    "rename": True,
    "replace": True,
}
# Calls that build a path from their arguments without touching it.
BUILDERS = frozenset(
    {
        "Path",
        "PurePath",
        "PosixPath",
        "str",
        "fspath",
        "join",
        "joinpath",
        "abspath",
        "normpath",
        "realpath",
        "expanduser",
        "basename",
        "dirname",
        "splitext",
        "with_suffix",
        "with_name",
    }
)
# Keyword arguments that name the file a call touches.
PATH_KEYWORDS = frozenset(
    {
        "path",
        "fname",
        "file",
        "filename",
        "filepath",
        "filepath_or_buffer",
        "path_or_buf",
        "database",
        "src",
        "dst",
    }
)
# Methods a logger writes to its file handlers with.
LOG_METHODS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}
)
_MATH_MODULES = frozenset({"math", "np", "numpy", "torch", "tf", "jnp", "cmath"})
_MAX_STRINGS = 16  # beyond this, a formatted path is not followed
# What a data science notebook's files are called, a kind a line.
_EXTENSIONS = """
    csv tsv txt json jsonl ndjson xml yaml yml toml ini cfg sql md html htm log
    parquet pq feather arrow orc avro h5 hdf5 hdf nc npy npz mat xls xlsx ods
    pkl pickle joblib dill db sqlite sqlite3 pt pth ckpt onnx pb keras safetensors
    bin model py ipynb pdf png jpg jpeg gif bmp svg tif tiff webp wav mp3 mp4
    zip gz bz2 xz tar tgz zst
"""
FILE_EXTENSIONS = frozenset(_EXTENSIONS.split())
_SQLITE_URL = "sqlite:///"


def strings(node: ast.expr, known: Strings) -> set[str] | None:
    """The strings an expression may evaluate to, or None when unknown.

    Literals, names bound to them, f-strings and `+` of such, `Path(...)`,
    `os.path.join(...)` and `/` on paths; a loop over a literal list gives each.
    """
    if isinstance(node, ast.Constant):
        return {node.value} if isinstance(node.value, str) else None
    if isinstance(node, ast.Name):
        found = known.get(node.id)
        return set(found) if found else None
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):  # `for p in [...]`
        return _union([strings(e, known) for e in node.elts])
    if isinstance(node, ast.JoinedStr):
        parts: list[set[str] | None] = []
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                plain = value.format_spec is None and value.conversion in (-1, 115)
                parts.append(strings(value.value, known) if plain else None)
            else:
                parts.append(strings(value, known))
        return _concat(parts, "")
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Div)):
        sep = "/" if isinstance(node.op, ast.Div) else ""
        return _concat([strings(node.left, known), strings(node.right, known)], sep)
    if isinstance(node, ast.Call) and called_name(node.func) in ("Path", "str", "join"):
        if (
            called_name(node.func) == "join"
            and dotted_name(node.func) != "os.path.join"
        ):
            return None  # `", ".join(...)`
        if node.args and not node.keywords:
            args = [strings(a, known) for a in node.args]
            return _concat(args, "/")
    return None


def touches(call: ast.Call, known: Strings) -> Iterator[Touch]:
    """The files a call writes, reads or touches, by the paths it names."""
    called, dotted = called_name(call.func) or "", dotted_name(call.func)
    if called in BUILDERS:
        return
    kind = _kind(call, called, dotted, known)
    receiver = _receiver_paths(call, known) if kind != "touch" else set()
    # `Path("x").open("w")`: the receiver is the file, the arguments are not.
    primary = None if receiver else _primary(call, called)
    paths: list[str] = sorted(receiver)
    for arg in [*call.args, *(kw.value for kw in call.keywords)]:
        # A known call's file argument may be any name (`os.makedirs("out")`);
        # elsewhere only what evidently names a file counts.
        loose = kind != "touch" and (arg is primary or kind == "copy")
        for value in sorted(strings(arg, known) or ()):
            path = normalize(value)
            if path is not None and (is_path_like(path) or loose):
                paths.append(path)
    if called in COPIERS and kind != "touch" and paths:
        yield ("write" if COPIERS[called] else "read"), paths[0]
        for path in paths[1:]:
            yield "write", path
        return
    for path in paths:
        if kind == "both":
            yield "write", path
            yield "read", path
        else:
            yield kind, path


def log_files(call: ast.Call, known: Strings) -> set[str]:
    """The files later log records may go to: `logging.basicConfig(filename=...)`,
    `logging.FileHandler(path)`."""
    called = called_name(call.func) or ""
    if called != "basicConfig" and not called.endswith("FileHandler"):
        return set()
    return {path for kind, path in touches(call, known) if kind == "write"}


def logs(call: ast.Call) -> bool:
    """Whether a call may write a log record (`log.info(...)`, `logging.error`)."""
    func = call.func
    if not isinstance(func, ast.Attribute) or func.attr not in LOG_METHODS:
        return False
    return not (func.attr == "log" and dotted_name(func.value) in _MATH_MODULES)


def import_paths(module: str) -> list[str]:
    """The files `import module` reads when the module sits beside the notebook."""
    top = module.partition(".")[0]
    return [f"{top}.py", top] if top else []


def shell_touches(command: str) -> Iterator[Touch]:
    """Files a shell command names: `> out` writes, `< in` reads, the rest either."""
    words = re.findall(r"(\d?>>?|<)\s*([^\s|;&<>]+)|([^\s|;&<>]+)", command)
    for redirect, target, word in words:
        word = word.partition("=")[2] if word.startswith("-") else word
        path = normalize((target or word).strip("\"'"))
        if path is None:
            continue
        if redirect:
            yield ("read" if redirect == "<" else "write"), path
        elif is_path_like(path) and not path.startswith("-"):
            yield "touch", path


def normalize(value: str) -> str | None:
    """The path a string names, spelled one way; None when it names no file."""
    if value.startswith(_SQLITE_URL):
        value = value[len(_SQLITE_URL) :]
    text = value.strip()
    if not text or text != value or any(c in text for c in "\n\r\t"):
        return None
    if "://" in text or text == ":memory:" or not any(c.isalnum() for c in text):
        return None
    if any(c in text for c in "%{}<>|\"'"):
        return None  # a format template, not a path
    return text if text.startswith("~") else posixpath.normpath(text)


def is_path_like(path: str) -> bool:
    """Whether a string passed to an unknown call evidently names a file: a path
    written as one (`./out`, `~/data`, `/tmp/x`) or a name with a file extension
    (`model.joblib`, `data/raw.csv`). Not `N/A`, `km/h`, `01/02/2020`, `a.b`."""
    if any(c.isspace() for c in path):
        return False
    if path.startswith(("./", "../", "~/", "/")) and len(path) > 1:
        return True
    suffix = path.rpartition("/")[2].rpartition(".")
    return bool(suffix[0]) and suffix[2].lower() in FILE_EXTENSIONS


def related(a: str, b: str) -> bool:
    """Whether two touched paths may be one file: equal, one a folder holding the
    other (the working folder holds every relative path), or a glob matching."""
    if a == b:
        return True
    for outer, inner in ((a, b), (b, a)):
        if outer == "." and not inner.startswith(("/", "~")):
            return True
        if inner.startswith(outer.rstrip("/") + "/"):
            return True
        if any(c in outer for c in "*?[") and fnmatch.fnmatchcase(inner, outer):
            return True
    return False


def _kind(call: ast.Call, called: str, dotted: str, known: Strings) -> str:
    if called == "open" or dotted.endswith(".open"):
        if dotted == "shelve.open":
            return "both"
        func = call.func  # `Path("x").open("w")`: the mode comes first
        on_path = isinstance(func, ast.Attribute) and _is_path_expr(func.value, known)
        return _open_mode(call, 0 if on_path else 1)
    if called in UPDATERS or dotted in UPDATERS:
        return "both"
    if called in COPIERS:
        # `str.replace` and `df.rename` are no copies: only `os`, `shutil` or
        # a path's own method.
        module = dotted.partition(".")[0]
        is_path = isinstance(call.func, ast.Attribute) and _is_path_expr(
            call.func.value, known
        )
        return "copy" if module in ("os", "shutil") or is_path else "touch"
    if called in WRITERS:
        return "write"
    if called in READERS:
        return "read"
    return "touch"


def _open_mode(call: ast.Call, position: int) -> str:
    mode = call.args[position] if len(call.args) > position else None
    mode = next((k.value for k in call.keywords if k.arg == "mode"), mode)
    if mode is None:
        return "read"
    if not isinstance(mode, ast.Constant) or not isinstance(mode.value, str):
        return "touch"  # a mode we cannot read may write
    if "+" in mode.value:
        return "both"
    return "write" if any(c in mode.value for c in "wax") else "read"


def _primary(call: ast.Call, called: str) -> ast.expr | None:
    """The argument that names the file of a known call: a path keyword, or the
    first argument (the second for `dump(obj, path)`)."""
    for kw in call.keywords:
        if kw.arg in PATH_KEYWORDS:
            return kw.value
    position = 1 if called == "dump" else 0
    return call.args[position] if len(call.args) > position else None


def _receiver_paths(call: ast.Call, known: Strings) -> set[str]:
    """`Path("x").write_text(...)`, `p.read_text()`: the path a method is on."""
    func = call.func
    if not isinstance(func, ast.Attribute) or not _is_path_expr(func.value, known):
        return set()
    found = set()
    for value in strings(func.value, known) or ():
        path = normalize(value)
        found |= {path} if path else set()
    return found


def _is_path_expr(node: ast.expr, known: Strings | None = None) -> bool:
    """A `Path(...)` call, a `/` of one, or a name bound to a string or path."""
    if isinstance(node, ast.Call):
        return called_name(node.func) in ("Path", "PurePath", "PosixPath")
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return _is_path_expr(node.left, known)
    return isinstance(node, ast.Name) and known is not None and node.id in known


def _concat(parts: list[set[str] | None], sep: str) -> set[str] | None:
    if any(p is None for p in parts):
        return None
    choices = [sorted(p) for p in parts if p is not None]
    size = 1
    for choice in choices:
        size *= len(choice)
    if size > _MAX_STRINGS:
        return None
    return {sep.join(combo) for combo in product(*choices)}


def _union(parts: list[set[str] | None]) -> set[str] | None:
    found: set[str] = set()
    for part in parts:
        if part is None:
            return None
        found |= part
    return found if len(found) <= _MAX_STRINGS else None


def called_name(func: ast.expr) -> str | None:
    """The name a call is by: `f` of `f(x)` and of `m.f(x)`."""
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def dotted_name(node: ast.expr) -> str:
    """`a.b.c` as written, or "" for anything not a dotted name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))
