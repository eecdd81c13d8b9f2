"""Which pip distributions a step needs, pinned to what is installed here."""

import ast
import re
import sys
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from kalelike.findings import Finding
from kalelike.model import CodeCell, Step

if TYPE_CHECKING:
    from importlib.metadata import Distribution

SERIALIZER = "cloudpickle"
# Name and version among the headers of a distribution's METADATA, read without
# the email parser importlib.metadata uses (ten times slower): both are one line.
HEADER = re.compile(r"^(Name|Version):[ \t]*(\S+)[ \t]*$", re.MULTILINE)


def default_image() -> str:
    """The converting Python's version: values pickled in one step load in the next."""
    return f"python:{sys.version_info.major}.{sys.version_info.minor}"


@cache  # the prelude's cells are in every step
def imported_modules(source: str) -> frozenset[str]:
    """Top-level modules a cell imports, anywhere in its code."""
    if "import" not in source:  # most cells: no need to parse them again
        return frozenset()
    source = _as_python(source)
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return frozenset()
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module.split(".")[0])
    return frozenset(modules)


def _as_python(source: str) -> str:
    """The cell as the step runs it: IPython's transform of `%magic` and `!cmd`
    lines (which do not parse as written), and the body of a `%%time` or
    `%%capture` cell, which IPython runs as code."""
    from kalelike import magics  # imports IPython only for a cell with its syntax

    if not magics.has_ipython_syntax(source):
        return source
    body = magics.cell_magic_body(source)
    if body is not None:
        name, text, _ = body
        return _as_python(text) if name in ("time", "capture", "timeit") else ""
    return magics.to_python(source)[0]


@cache
def _providers(module: str) -> list[str]:
    """Pins of the installed distributions that provide a top-level module."""
    # A RECORD line that makes the module: a package folder, a .py file or an
    # extension module.
    name = re.escape(module)
    record_line = re.compile(rf'\n"?{name}(?:/|\.py,|\.[^/,\n]*\.(?:so|pyd),)')
    pins = []
    for dist, declared, record in _installed():
        if module in declared if declared else record_line.search(record):
            text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
            fields = dict(HEADER.findall(text.partition("\n\n")[0]))
            if "Name" in fields and "Version" in fields:
                pins.append((fields["Name"], fields["Version"]))
    # By name only: the same name twice keeps the one found first, as pip would.
    return [f"{n}=={v}" for n, v in sorted(pins, key=lambda pin: pin[0])]


@cache
def _installed() -> list[tuple["Distribution", list[str], str]]:
    """Each installed distribution, with its top_level.txt names or else its RECORD.

    importlib.metadata.packages_distributions() answers for every module at once,
    in 230 ms here, against 10 for the few a notebook imports: it parses each
    distribution's metadata and makes a path object of every file it installed.
    Here a lookup is one text search in each RECORD, and only the metadata of the
    distributions found is read.
    """
    import importlib.metadata

    installed = []
    for dist in importlib.metadata.distributions():
        declared = (dist.read_text("top_level.txt") or "").split()
        record = "" if declared else "\n" + (dist.read_text("RECORD") or "")
        installed.append((dist, declared, record))
    return installed


def for_step(
    step: Step, prelude: list[CodeCell], folder: Path, findings: list[Finding]
) -> list[str]:
    """The step's pinned requirements; modules beside the notebook are findings."""
    sources = [c.source for c in prelude + step.code]
    sources += [statement for _, statement in step.reimports.values()]
    modules = set().union(*(imported_modules(s) for s in sources))
    wanted = {_providers(SERIALIZER)[0]}
    if any(c.ipython for c in prelude + step.code) and _providers("IPython"):
        wanted.add(_providers("IPython")[0])  # the step runs its magics through it
    for module in sorted(modules - set(sys.stdlib_module_names)):
        pins = _providers(module)
        if pins:
            wanted.add(pins[0])
        elif (folder / f"{module}.py").exists() or (folder / module).is_dir():
            findings.append(
                Finding(
                    step.cells[0],
                    None,
                    None,
                    "warning",
                    "local-module",
                    f"step {step.name!r} imports {module!r}, a module beside the "
                    "notebook, not a pip package: it must be in the step's image",
                    step.name,
                    module,
                )
            )
    return sorted(wanted)


_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")


def with_installs(pins: list[str], requested: list[str]) -> list[str]:
    """Add what the step's `%pip install` lines ask for to its pinned imports.

    The notebook's own request wins over the pin found from an import of the same
    distribution; a bare name installed here is pinned to the version installed,
    the one the notebook ran with. Anything else (a URL, a path) stays verbatim.
    """
    by_name = {_canonical(pin): pin for pin in pins}
    for requirement in requested:
        bare = _NAME.fullmatch(requirement) is not None
        pin = _installed_pin(requirement) if bare else ""
        by_name[_canonical(requirement) or requirement] = pin or requirement
    return sorted(by_name.values())


def is_local_path(requirement: str) -> bool:
    """Whether pip would install from a folder or file on this machine."""
    if "://" in requirement:
        return False
    return requirement.startswith((".", "/", "~")) or "/" in requirement


def _canonical(requirement: str) -> str:
    """The PEP 503 name a requirement starts with; "" for a URL or a path."""
    match = _NAME.match(requirement)
    if match is None or requirement[match.end() : match.end() + 1] in ("/", ":"):
        return ""
    return re.sub(r"[-_.]+", "-", match.group()).lower()


def _installed_pin(name: str) -> str:
    import importlib.metadata

    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return ""
    return f"{dist.metadata['Name']}=={dist.metadata['Version']}"


def with_producers(steps: list[Step], skip: frozenset[str] = frozenset()) -> None:
    """Give each step also the packages of the steps whose values it receives.

    A value loads only where its classes can be imported: a DataFrame that a
    step importing pandas hands on needs pandas (and pyarrow, for an Arrow file)
    in the step that receives it. The producers' own packages include what they
    received in turn, so this reaches back through every step a value came by.
    A step's own requirement for a distribution wins over a producer's. Inputs
    named in `skip` (the environment variables) carry plain strings only.
    """
    by_name = {step.name: step for step in steps}
    for step in steps:  # notebook order: producers come first
        own = {_canonical(p) or p: p for p in step.packages}
        for producer in sorted(
            {i.producer for n, i in step.inputs.items() if n not in skip}
        ):
            source = by_name.get(producer)
            for pin in source.packages if source is not None else ():
                own.setdefault(_canonical(pin) or pin, pin)
        step.packages = sorted(own.values())
