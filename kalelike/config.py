"""Project configuration: the `[tool.nb2pipe]` table of the nearest pyproject.toml.

A setting comes from the most specific layer that holds it: a flag given on the
command line, then the notebook's own metadata (Kale's `kubeflow_notebook`), then
`[tool.nb2pipe]`, then the built-in default. A flag left at its default is not
given: the command line only passes what the user typed.
"""

import sys
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

from kalelike.errors import UsageError
from kalelike.notebook import Notebook

METADATA_KEY = "kubeflow_notebook"
# What a project may set once for all its notebooks, and the TOML type of each.
# All but `output_dir` are `kubeflow_notebook` keys too: a notebook's metadata
# overrides them, and the metadata reader checks their values.
PROJECT_ONLY: dict[str, type] = {"output_dir": str}
NOTEBOOK_DEFAULTS: dict[str, type] = {
    "base_image": str,
    "enable_caching": bool,
    "experiment_name": str,
    "kfp_host": str,
    "steps_defaults": list,
    "timeout": int,
    "volumes": list,
    "workspace": dict,
}
KEYS = {**PROJECT_ONLY, **NOTEBOOK_DEFAULTS}


@dataclass(frozen=True)
class Project:
    """The `[tool.nb2pipe]` settings and the pyproject.toml they come from."""

    path: Path | None  # None when no pyproject.toml was found
    settings: dict[str, object] = field(default_factory=dict)

    @property
    def output_dir(self) -> Path | None:
        """The scripts' folder, relative to the pyproject.toml that names it."""
        value = self.settings.get("output_dir")
        if value is None or self.path is None:
            return None
        return self.path.parent / str(value)

    @property
    def notebook_defaults(self) -> dict[str, object]:
        return {k: v for k, v in self.settings.items() if k in NOTEBOOK_DEFAULTS}


def for_notebook(notebook: Path) -> Project:
    """The project around a notebook: the nearest pyproject.toml above it, else
    the nearest above the current directory (for a notebook outside any project).
    """
    path = nearest(notebook.absolute().parent) or nearest(Path.cwd())
    return load(path) if path is not None else Project(None)


def nearest(folder: Path) -> Path | None:
    for candidate in (folder, *folder.parents):
        if (candidate / "pyproject.toml").is_file():
            return candidate / "pyproject.toml"
    return None


@cache
def load(path: Path) -> Project:
    """Read and check `[tool.nb2pipe]`; a mistake in it is a UsageError."""
    # Imported here: a notebook outside any project does not pay for it (5 ms).
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised only on Python 3.10
        import tomli as tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: not valid TOML: {e}") from None
    table = data.get("tool", {}).get("nb2pipe", {})
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [tool.nb2pipe] must be a table")
    for key, value in table.items():
        _check(path, key, value)
    return Project(path, dict(table))


def _check(path: Path, key: str, value: object) -> None:
    if key not in KEYS:
        import difflib  # deferred: only a mistyped key needs it

        close = difflib.get_close_matches(key.replace("-", "_"), KEYS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UsageError(
            f"{path}: [tool.nb2pipe] has an unknown key {key!r}{hint} "
            f"(known: {', '.join(sorted(KEYS))})"
        )
    kind = KEYS[key]
    # TOML booleans are not integers here, though Python's bool is an int.
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise UsageError(
            f"{path}: [tool.nb2pipe] {key} = {value!r} is not {_NAMES[kind]}"
        )
    if key in NOTEBOOK_DEFAULTS:
        from kalelike.settings import project_problem  # the metadata's own checks

        problem = project_problem(key, value)
        if problem:
            raise UsageError(f"{path}: [tool.nb2pipe] {problem}")


_NAMES = {
    str: "a string",
    bool: "true or false",
    int: "a whole number",
    list: "a list",
    dict: "a table",
}


def layered(*layers: dict[str, object]) -> dict[str, object]:
    """Each key's value from the first layer, most specific first, that has it:
    flags given, then the notebook's metadata, then the project's defaults.

    A key no layer holds is left out, so the reader's built-in default applies.
    """
    merged: dict[str, object] = {}
    for layer in reversed(layers):
        merged.update(layer)
    return merged


def with_project(nb: Notebook, project: Project) -> Notebook:
    """The notebook with the project's defaults under its own metadata settings.

    The base image is left out: it travels as `settings.Options.project_image`,
    so a bad one is reported against pyproject.toml. Metadata that is not a
    mapping is left alone, for the metadata reader to report.
    """
    own = nb.metadata.get(METADATA_KEY, {})
    defaults = project.notebook_defaults
    defaults.pop("base_image", None)
    if not defaults or not isinstance(own, dict):
        return nb
    return replace(nb, metadata={**nb.metadata, METADATA_KEY: layered(own, defaults)})


def display(path: Path) -> Path:
    """A path as a person reads it: relative when it lies under this folder."""
    if not path.is_absolute():
        return path
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path
