"""IPython syntax in a cell: plain Python for the analysis, and the magics it uses.

IPython's own input transformer does the conversion, so a cell means what it means
in the kernel; on top, the code keeps the cell's line numbers and each magic gets a
policy. IPython takes about 0.3 s to import, so only a cell that could hold IPython
syntax pays for it; most cells are plain Python and pass through untouched.
"""

from __future__ import annotations

import ast
import re
import shlex
from dataclasses import dataclass
from functools import partial
from types import SimpleNamespace
from typing import Any, NamedTuple

POLICIES: dict[str, str] = {
    "run": "runs in the step through IPython, as in the notebook",
    "ignore": "display-only; has no effect on values (e.g. %matplotlib inline)",
    "install": "installs packages, which become the step's packages instead",
    "refuse": "cannot run faithfully outside the notebook's interactive kernel",
}

# Same effect in a step's IPython as in the kernel: timing and capture wrappers,
# environment variables, files and shell commands, installs we cannot plan ahead.
_RUN = (
    "time timeit prun capture env set_env writefile file bash sh script perl ruby "
    "python python2 python3 pypy system sx ! pip conda mamba micromamba uv "
    "load_ext reload_ext unload_ext alias unalias alias_magic rehashx "
    "cat cp ldir lf lk ll ls lx mkdir mv rm rmdir"
)
# Change only how things look, or only print: the step can skip them.
_IGNORE = (
    "matplotlib config xmode precision colors pprint autoreload aimport gui tb "
    "who whos who_ls pwd dirs dhist history hist lsmagic magic quickref page pycat "
    "pinfo pinfo2 pdef pdoc pfile psource psearch ? ?? doctest_mode logstate "
    "html HTML javascript js latex markdown svg SVG"
)
# Kernel state a step cannot see or recreate: the working directory, names
# defined by another file or session, deleted names, changed parsing rules,
# interactive debuggers, the kernel's input history.
_REFUSE = (
    "cd pushd popd bookmark run load loadpy store reset reset_selective xdel "
    "pylab debug pdb autocall automagic autoawait code_wrap macro recall rerun rep "
    "save edit ed notebook logstart logon logoff logstop sc killbgscripts sql"
)
MAGIC_POLICY: dict[str, str] = {
    **dict.fromkeys(_RUN.split(), "run"),
    **dict.fromkeys(_IGNORE.split(), "ignore"),
    **dict.fromkeys(_REFUSE.split(), "refuse"),
}

# How %timeit and %prun split their options from the statement, as in
# IPython.core.magics.execution, so the statement is the one the magic runs.
_OPTIONS: dict[str, tuple[str, dict[str, bool]]] = {
    "timeit": (
        "n:r:tcp:qov:",
        {"posix": False, "strict": False, "preserve_non_opts": True},
    ),
    "prun": ("D:l:rs:T:q", {"list_all": True, "posix": False}),
}
_HELP = {"pinfo": "?", "pinfo2": "??"}
_INSTALLERS = frozenset({"pip", "pip3", "conda", "mamba", "micromamba"})
_QUIETS = frozenset({"-q", "-qq", "--quiet", "-U", "--upgrade", "-y", "--yes"})

# A line that starts with an escape (%, !, ?, and the autocall , ; /), ends in a
# help ?, assigns from % or !, carries a prompt, or an indented first line
# (IPython dedents the cell). False positives only cost the IPython import.
_HINT = re.compile(
    r"^[ \t]*(?:[%!?,;/]|>>>|\.{3,}:|(?:\[(?:nav|ins)\] )?In \[\d+\]: )"
    r"|\?[ \t]*$"
    r"|=[ \t]*(?:\\\r?\n[ \t]*)*[%!]"
    r"|\bget_ipython\(",  # a magic spelled out, as nbconvert and jupytext write it
    re.MULTILINE,
)


@dataclass(frozen=True)
class Magic:
    line: int  # 1-based line in the original cell source
    name: str  # "time" for %time and %%time, "!" for shell escapes, "?" for help
    kind: str  # "line", "cell", "shell", "shell-assign" or "help"
    policy: str  # a key of POLICIES
    text: str  # the original line (with its continuation lines), stripped


class _Call(NamedTuple):
    method: str  # run_line_magic, run_cell_magic, system or getoutput
    args: list[str]
    assigned: bool


class _Found(NamedTuple):
    start: int  # 0-based line where the transformed statement begins
    consumed: int  # how many original lines it replaced
    code: str  # the statement IPython wrote there


def has_ipython_syntax(source: str) -> bool:
    """Whether IPython might read the cell differently from plain Python."""
    first = next((line for line in source.splitlines() if line.strip()), "")
    return first[:1].isspace() or _HINT.search(source) is not None


def to_python(source: str) -> tuple[str, list[Magic]]:
    """Return the cell as plain Python (IPython's transform) and the magics it uses."""
    if not has_ipython_syntax(source):
        return source, []

    lines = source.splitlines(keepends=True)
    lead = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
    found: list[_Found] = []
    code = _manager(found).transform_cell("".join(lines[lead:]))

    magics = [_magic(item, lines, lead) for item in found]
    return "".join(lines[:lead]) + code, sorted(
        [m for m in magics if m is not None] + _spelled_out(lines, found, lead),
        key=lambda m: m.line,
    )


def _spelled_out(lines: list[str], found: list[_Found], lead: int) -> list[Magic]:
    """Magics written as the calls IPython makes of them, one a line:
    `get_ipython().run_line_magic('matplotlib', 'inline')`, `.system('ls')`."""
    made = {lead + f.start + k for f in found for k in range(f.consumed)}
    spelled = []
    for i, line in enumerate(lines):
        if i in made or "get_ipython()." not in line:
            continue
        call = _call_in(line.strip())
        if call is None or call.method not in ("run_line_magic", "system", "getoutput"):
            continue
        name, kind = _name_and_kind(call, line.strip())
        spelled.append(
            Magic(i + 1, name, kind, _policy(name, kind, call), line.strip())
        )
    return spelled


def cell_magic_body(source: str) -> tuple[str, str, int] | None:
    """(name, body, offset) when the cell is a %%magic cell, else None.

    The body is what IPython hands the magic; body line n is cell line n + offset.
    %%time and %%capture run the body through IPython again, so pass it to
    to_python before analysing it.
    """
    code, magics = to_python(source)
    if not magics or magics[0].kind != "cell":
        return None
    call = _call_in(code)
    return None if call is None else (magics[0].name, call.args[2], magics[0].line)


def line_magic_statement(magic: Magic) -> str | None:
    """The Python a %time, %timeit or %prun line stands for, e.g. "x = f()".

    It replaces the whole line: `x = %time f()` gives "x = f()". IPython transforms
    the statement again, so pass it to to_python. %timeit runs it inside a
    function: its reads are the cell's, its assignments do not last.
    """
    if magic.kind != "line" or magic.name not in ("time", *_OPTIONS):
        return None
    statement = _statement(magic.name, magic_line(magic))
    if statement is None:
        return None
    code = to_python(magic.text)[0].strip()
    return code[: code.index("get_ipython()")] + statement  # keep the x = of x = %time


def magic_line(magic: Magic) -> str:
    """What IPython hands the magic: "A=B" for %env A=B, the command for !cmd."""
    call = _reparse(magic)
    if call is None or not call.args:
        return ""
    return call.args[0] if call.method in ("system", "getoutput") else call.args[1]


def pip_packages(magic: Magic) -> list[str]:
    """The requirements a plain `pip install` (or conda) magic or shell line names."""
    call = _reparse(magic)
    return [] if call is None else _packages(magic.name, magic.kind, call)


def _manager(found: list[_Found]) -> Any:
    """IPython's transformer, with every step made to keep the line count."""
    from IPython.core import inputtransformer2 as it2

    manager: Any = it2.TransformerManager()
    manager.line_transforms = [
        partial(_keep_lines, step, 0, found) for step in manager.line_transforms
    ]
    manager.token_transformers = [
        SimpleNamespace(find=partial(_find, cls, found))
        for cls in manager.token_transformers
    ]
    return manager


def _find(cls: Any, found: list[_Found], tokens_by_line: Any) -> Any:
    # Token transformers are found before they run, and only then is the start
    # line known; shadow this one's transform with a line-keeping wrapper.
    step = cls.find(tokens_by_line)
    if step is not None:
        step.transform = partial(_keep_lines, step.transform, step.start_line, found)
    return step


def _keep_lines(
    step: Any, start: int, found: list[_Found], lines: list[str]
) -> list[str]:
    new: list[str] = step(lines)
    if new == lines:
        return new
    consumed = len(lines) - len(new) + 1
    found.append(_Found(start, consumed, new[start]))
    return new[: start + 1] + ["\n"] * (consumed - 1) + new[start + 1 :]


def _magic(item: _Found, lines: list[str], lead: int) -> Magic | None:
    call = _call_in(item.code.strip())
    if call is None:
        return None  # an autocall escape (/f x) became plain Python

    first = lead + item.start
    # A cell magic replaced the whole cell; its text is the %%name line alone.
    last = first + (1 if call.method == "run_cell_magic" else item.consumed)
    text = "".join(lines[first:last]).strip()
    name, kind = _name_and_kind(call, text)
    return Magic(first + 1, name, kind, _policy(name, kind, call), text)


def _call_in(code: str) -> _Call | None:
    """The first get_ipython().method('...') call in code, if any."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if ast.unparse(node.func.value) == "get_ipython()":
            args = [a.value for a in node.args if isinstance(a, ast.Constant)]
            assigned = isinstance(tree.body[0], ast.Assign | ast.AnnAssign)
            return _Call(node.func.attr, [str(a) for a in args], assigned)
    return None


def _reparse(magic: Magic) -> _Call | None:
    # The text of one magic is a cell of its own, so IPython can read it again;
    # that spares Magic a field for IPython's internal arguments.
    return _call_in(to_python(magic.text)[0])


def _name_and_kind(call: _Call, text: str) -> tuple[str, str]:
    if call.method == "run_cell_magic":
        return call.args[0], "cell"
    if call.method == "system":
        return "!", "shell"
    if call.method == "getoutput":
        return "!", "shell-assign" if call.assigned else "shell"
    help_name = _HELP.get(call.args[0])
    if help_name and "?" in (text[:1], text[-1:]):  # x? or ?x, but not %pinfo x
        return help_name, "help"
    return call.args[0], "line"


def _policy(name: str, kind: str, call: _Call) -> str:
    if _packages(name, kind, call):
        return "install"
    if name in ("load_ext", "reload_ext") and call.args[1].strip() == "autoreload":
        return "ignore"
    policy = MAGIC_POLICY.get(name, "refuse")
    # A display-only magic whose value is kept (p = %pwd) no longer only displays,
    # and the step's kernel would give it a different value.
    return "refuse" if policy == "ignore" and call.assigned else policy


def _packages(name: str, kind: str, call: _Call) -> list[str]:
    if call.assigned or kind not in ("line", "shell"):
        return []  # the output of x = !pip install ... is a value
    command = call.args[0] if kind == "shell" else f"{name} {call.args[1]}"
    try:
        words = shlex.split(command)
    except ValueError:
        return []
    if words[1:3] == ["-m", "pip"]:  # python -m pip, {sys.executable} -m pip
        words = words[2:]
    rest = words[2:]
    if not rest or words[0] not in _INSTALLERS or words[1] != "install":
        return []

    # Options that change what gets installed (an index, a requirements file, an
    # editable checkout) and $var or {expr} expansion leave the install to the step.
    if any(_unplannable(word) for word in rest):
        return []
    return [word for word in rest if word[:1] != "-"]


def _unplannable(word: str) -> bool:
    return "$" in word or "{" in word or (word[:1] == "-" and word not in _QUIETS)


def _statement(name: str, line: str) -> str | None:
    # Split the options off as the magic itself does, so the statement is the one
    # it runs.
    from IPython.core.error import UsageError
    from IPython.core.magic_arguments import parse_argstring
    from IPython.core.magics.execution import ExecutionMagics

    try:
        if name == "time" and not hasattr(ExecutionMagics.time, "parser"):
            return line  # an older IPython: %time took no options
        if name == "time":
            _, extra = parse_argstring(ExecutionMagics.time, line, partial=True)
            return " ".join(extra)
        spec, options = _OPTIONS[name]
        magics = ExecutionMagics(None)
        return str(magics.parse_options(line, spec, **options)[1])
    except (UsageError, ValueError):
        return None  # the notebook fails on this line too
