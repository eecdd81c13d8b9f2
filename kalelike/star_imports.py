"""Resolving `from module import *` to the names it binds."""

import importlib
import importlib.util
import sysconfig
from functools import cache
from pathlib import Path


@cache
def star_names(module: str) -> tuple[str, ...] | None:
    """The names `from module import *` binds, or None when we cannot know them.

    Only the standard library and installed packages are imported to find out:
    a module beside the notebook is the user's code, and converting a notebook
    must never run it.
    """
    if not module or module.startswith("."):
        return None
    top = module.split(".")[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None or not _installed(spec.origin):
        return None
    try:
        imported = importlib.import_module(module)
    except Exception:  # noqa: BLE001 - any failure means "cannot know"
        return None
    names = getattr(imported, "__all__", None)
    if names is None:
        names = [n for n in vars(imported) if not n.startswith("_")]
    return tuple(sorted(str(n) for n in names))


def _installed(origin: str | None) -> bool:
    if origin in (None, "built-in", "frozen"):
        return origin is not None
    roots = {
        sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")
    }
    path = Path(origin).resolve()
    return any(path.is_relative_to(Path(root).resolve()) for root in roots)
