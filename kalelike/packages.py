"""Which pip distributions a step needs, pinned to what is installed here."""

import ast
import sys
from functools import cache
from pathlib import Path

from kalelike.findings import Finding
from kalelike.model import Step

SERIALIZER = "cloudpickle"


def default_image() -> str:
    """The converting Python's version, so values pickled in one step load in the next."""
    return f"python:{sys.version_info.major}.{sys.version_info.minor}"


def imported_modules(source: str) -> set[str]:
    """Top-level modules a cell imports, anywhere in its code."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module.split(".")[0])
    return modules


@cache
def _distributions() -> dict[str, list[str]]:
    import importlib.metadata

    return importlib.metadata.packages_distributions()


@cache
def _version(dist: str) -> str:
    import importlib.metadata

    return importlib.metadata.version(dist)


def for_step(step: Step, folder: Path, findings: list[Finding]) -> list[str]:
    """The step's pinned requirements; modules beside the notebook are findings."""
    sources = [c.source for c in step.prelude + step.code]
    sources += [statement for _, statement in step.reimports.values()]
    modules = set().union(*(imported_modules(s) for s in sources))
    wanted = {SERIALIZER}
    for module in sorted(modules - set(sys.stdlib_module_names)):
        dists = _distributions().get(module)
        if dists:
            wanted.add(sorted(dists)[0])
        elif (folder / f"{module}.py").exists() or (folder / module).is_dir():
            findings.append(
                Finding(
                    step.cells[0], None, None, "warning", "local-module",
                    f"step {step.name!r} imports {module!r}, a module beside the "
                    "notebook, not a pip package: it must be in the step's image",
                    step.name, module,
                )
            )
    return sorted(f"{d}=={_version(d)}" for d in wanted)
