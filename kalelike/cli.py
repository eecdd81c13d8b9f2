"""The `nb2pipe` command: a thin shell over the library's verbs."""

import functools
import json
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from kalelike import batch
from kalelike import conversion as library
from kalelike.errors import (
    EXIT_CODES,
    FindingsError,
    InternalError,
    Nb2PipeError,
    UsageError,
)
from kalelike.findings import Finding, printable
from kalelike.flow import ENVIRON
from kalelike.model import Pipeline
from kalelike.parameters import as_pairs, parse_arguments
from kalelike.settings import Options

EPILOG = "Exit codes:\n\n" + "\n\n".join(
    f"  {code}  {meaning}" for code, meaning in EXIT_CODES.items()
)


def _report(notebook: str, findings: list[Finding]) -> None:
    for finding in findings:
        click.echo(finding.format(notebook), err=True)


def _say(text: str) -> None:
    """A message on stderr; file names and tags in it cannot drive the terminal."""
    click.echo(printable(text, keep="\n"), err=True)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, unwound as Ctrl-C is, so runs stop and temporary files go."""


def _terminate(signum: int, frame: object) -> None:
    raise _Terminated


def _guarded(func: Callable[..., Any]) -> Callable[..., Any]:
    """Map our exceptions to their exit codes; anything else is our bug."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _terminate)
        try:
            return func(*args, **kwargs)
        except _Terminated:
            click.echo("nb2pipe: terminated", err=True)
            raise SystemExit(143) from None
        except FindingsError as e:
            raise SystemExit(e.exit_code) from None
        except Nb2PipeError as e:
            _say(f"nb2pipe: {e}")
            raise SystemExit(e.exit_code) from None
        except KeyboardInterrupt:
            click.echo("nb2pipe: interrupted", err=True)
            raise SystemExit(130) from None
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as e:  # a bug in nb2pipe: say so, briefly
            error = InternalError(f"internal error: {type(e).__name__}: {e}")
            _say(f"nb2pipe: {error} (please report this bug)")
            raise SystemExit(error.exit_code) from None

    return wrapper


notebook_argument = click.argument(
    "notebook", type=click.Path(path_type=Path, dir_okay=False)
)


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nb2pipe", prog_name="nb2pipe")
def main() -> None:
    """Convert tagged Jupyter notebooks into Kubeflow Pipelines v2 scripts."""


def _setting_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Flags that override the notebook's metadata (see README, Tags and settings)."""
    func = click.option(
        "--no-packages",
        is_flag=True,
        help="Steps install nothing (not even kfp): their image holds every package.",
    )(func)
    func = click.option(
        "--experiment", default="", help="KFP experiment that runs start in."
    )(func)
    return click.option(
        "--pipeline-name", default="", help="The pipeline's name in KFP."
    )(func)


def _options(
    base_image: str, pipeline_name: str, experiment: str, no_packages: bool
) -> Options:
    return Options(base_image, pipeline_name, experiment, packages=not no_packages)


@main.command(epilog=EPILOG)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write the script of the one NOTEBOOK ('-' for stdout). "
    "Default: NOTEBOOK_STEM_pipeline.py beside the notebook.",
)
@click.option(
    "--output-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write every script into this folder instead of beside its notebook.",
)
@click.option("--base-image", default="", help="Image every step runs in.")
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 when a script is stale or missing, with its diff.",
)
@click.option(
    "--diff", is_flag=True, help="Write nothing; print how the scripts would change."
)
@click.option(
    "--fail-on-change",
    is_flag=True,
    help="Exit 1 when a file was written (for pre-commit, which misses new files).",
)
@click.option(
    "--yaml",
    "with_yaml",
    is_flag=True,
    help="Also compile each pipeline to NOTEBOOK_STEM_pipeline.yaml beside its script.",
)
@_setting_options
@_guarded
def convert(
    paths: tuple[Path, ...],
    output: Path | None,
    output_dir: Path | None,
    base_image: str,
    check: bool,
    diff: bool,
    fail_on_change: bool,
    with_yaml: bool,
    pipeline_name: str,
    experiment: str,
    no_packages: bool,
) -> None:
    """Write a standalone KFP pipeline script for each notebook.

    PATHS are notebooks, and folders searched for *.ipynb (not inside folders
    whose names start with a dot, such as .ipynb_checkpoints). Settings come from,
    most specific first: a flag given here, the notebook's metadata, [tool.nb2pipe]
    in the nearest pyproject.toml, the built-in default.
    """
    image = base_image if _given("base_image") else ""
    options = _options(image, pipeline_name, experiment, no_packages)
    notebooks = batch.find_notebooks(paths)
    jobs = batch.plan(notebooks, output, output_dir, options, with_yaml)
    mode: batch.Mode = "check" if check else "diff" if diff else "write"
    if mode != "write" and output is not None and str(output) == "-":
        raise UsageError(f"--{mode} compares files on disk; -o - names none")
    echo_out = functools.partial(click.echo, nl=False)
    echo_err = _say
    raise SystemExit(batch.process(jobs, mode, echo_out, echo_err, fail_on_change))


def _given(name: str) -> bool:
    """Whether the user typed the option: its default never counts as given."""
    source = click.get_current_context().get_parameter_source(name)
    return source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


@main.command(epilog=EPILOG)
@notebook_argument
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "mermaid"]),
    default="text",
    show_default=True,
)
@_guarded
def inspect(notebook: Path, fmt: str) -> None:
    """Show the steps, their data flow and the findings for NOTEBOOK."""
    pipeline = library.analyze(notebook)
    if fmt == "json":
        click.echo(json.dumps(as_json(pipeline), indent=2))
    elif fmt == "mermaid":
        click.echo(as_mermaid(pipeline))
    else:
        click.echo(as_text(pipeline))
        _report(notebook.name, pipeline.findings)
    if any(f.severity == "error" for f in pipeline.findings):
        raise SystemExit(FindingsError.exit_code)


@main.command(epilog=EPILOG)
@notebook_argument
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a pipeline parameter (repeatable).",
)
@click.option(
    "--pipeline-root",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("nb2pipe_runs"),
    show_default=True,
    help="Where the steps' outputs are kept.",
)
@click.option("-v", "--verbose", is_flag=True, help="Show kfp's full logs.")
@_guarded
def run(
    notebook: Path, params: tuple[str, ...], pipeline_root: Path, verbose: bool
) -> None:
    """Convert NOTEBOOK and run the pipeline here with kfp.local."""
    from kalelike.run import run_local

    try:
        result = library.convert(notebook)
    except FindingsError as e:
        _report(notebook.name, e.findings)
        raise
    _report(notebook.name, result.warnings)
    arguments = _arguments(params, result.pipeline)
    steps = run_local(result, pipeline_root.absolute(), arguments, click.echo, verbose)
    total = sum(s.seconds for s in steps)
    click.echo(
        f"pipeline {result.pipeline.name!r}: {len(steps)} steps done in {total:.2f} s"
    )


@main.command(epilog=EPILOG)
@notebook_argument
@click.option(
    "--host",
    default="",
    help="The KFP server, e.g. http://localhost:8080. Default: the notebook's "
    "kfp_host, else $KF_PIPELINES_ENDPOINT, else kfp's in-cluster address.",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a pipeline parameter (repeatable).",
)
@click.option("--base-image", default="", help="Image every step runs in.")
@_setting_options
@_guarded
def submit(
    notebook: Path,
    host: str,
    params: tuple[str, ...],
    base_image: str,
    pipeline_name: str,
    experiment: str,
    no_packages: bool,
) -> None:
    """Convert NOTEBOOK and start a run of it on a KFP server."""
    from kalelike.submit import check_host
    from kalelike.submit import submit as start

    options = _options(base_image, pipeline_name, experiment, no_packages)
    check_host(host)
    try:
        result = library.convert(notebook, options=options)
    except FindingsError as e:
        _report(notebook.name, e.findings)
        raise
    _report(notebook.name, result.warnings)
    start(result, host, _arguments(params, result.pipeline), click.echo)


def _arguments(params: tuple[str, ...], pipeline: Pipeline) -> list[str]:
    """`--param` values checked against the notebook's parameters before any run:
    a bad one is a UsageError (exit 2) naming the parameter, its type and form."""
    values = parse_arguments(list(params), pipeline.parameters)
    return as_pairs(values)


@main.command(epilog=EPILOG)
@notebook_argument
@_guarded
def verify(notebook: Path) -> None:
    """Run NOTEBOOK and its pipeline, and compare every value handed between steps."""
    from kalelike.verify import table
    from kalelike.verify import verify as compare

    try:
        result = library.convert(notebook)
    except FindingsError as e:
        _report(notebook.name, e.findings)
        raise
    rows = compare(result, notebook, lambda line: click.echo(line, err=True))
    click.echo(table(rows))
    differing = [r for r in rows if not r.equal]
    if differing:
        click.echo(f"{len(differing)} of {len(rows)} values differ", err=True)
        raise SystemExit(FindingsError.exit_code)
    click.echo(f"all {len(rows)} values and files are equal", err=True)


def as_json(pipeline: Pipeline) -> dict[str, object]:
    return {
        "notebook": pipeline.notebook,
        "pipeline": {
            "name": pipeline.name,
            "parameters": [
                {"name": p.name, "type": p.type, "default": p.default}
                for p in sorted(pipeline.parameters, key=lambda p: p.name)
            ],
        },
        "steps": [
            {
                "name": step.name,
                "cells": sorted(step.cells),
                "after": sorted(step.after),
                "inputs": sorted(n for n in step.inputs if n != ENVIRON),
                "outputs": sorted(n for n in step.outputs if n != ENVIRON),
                "parameters": sorted(step.parameters),
                "metrics": sorted(step.metrics),
            }
            for step in pipeline.steps
        ],
        "findings": [f.as_json() for f in pipeline.findings],
        "magics": pipeline.magics,
    }


def as_text(pipeline: Pipeline) -> str:
    lines = [f"pipeline {pipeline.name!r} from {pipeline.notebook}"]
    for p in pipeline.parameters:
        lines.append(f"  parameter {p.name}: {p.type} = {p.default!r}")
    for step in pipeline.steps:
        cells = ", ".join(str(c + 1) for c in step.cells)
        lines.append(f"step {step.name} (cells {cells})")
        rows = [
            ("after", sorted(step.after)),
            (
                "inputs",
                [
                    f"{i.name} <- {i.producer}"
                    for i in sorted(step.inputs.values(), key=lambda i: i.name)
                ],
            ),
            ("parameters", sorted(step.parameters)),
            ("outputs", sorted(step.outputs)),
            ("metrics", step.metrics),
        ]
        lines += [f"  {label}: {', '.join(values)}" for label, values in rows if values]
    for m in pipeline.magics:
        lines.append(f"magic `{m['magic']}` (cell {m['cell'] + 1}): {m['meaning']}")
    return "\n".join(lines)


def as_mermaid(pipeline: Pipeline) -> str:
    lines = ["flowchart TD"]
    for step in pipeline.steps:
        lines.append(f"    {step.name}[{step.name}]")
    for step in pipeline.steps:
        names: dict[str, list[str]] = {}
        for inp in step.inputs.values():
            names.setdefault(inp.producer, []).append(inp.name)
        for before in sorted(step.after):
            label = ", ".join(sorted(names.get(before, [])))
            arrow = f" -->|{label}| " if label else " --> "
            lines.append(f"    {before}{arrow}{step.name}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
