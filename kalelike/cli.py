"""The `nb2pipe` command: a thin shell over the library's verbs."""

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from kalelike import conversion as library
from kalelike.errors import EXIT_CODES, FindingsError, InternalError, Nb2PipeError
from kalelike.findings import Finding
from kalelike.model import Pipeline

EPILOG = "Exit codes:\n\n" + "\n\n".join(
    f"  {code}  {meaning}" for code, meaning in EXIT_CODES.items()
)


def _report(notebook: str, findings: list[Finding]) -> None:
    for finding in findings:
        click.echo(finding.format(notebook), err=True)


def _guarded(func: Callable[..., Any]) -> Callable[..., Any]:
    """Map our exceptions to their exit codes; anything else is our bug."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FindingsError as e:
            raise SystemExit(e.exit_code) from None
        except Nb2PipeError as e:
            click.echo(f"nb2pipe: {e}", err=True)
            raise SystemExit(e.exit_code) from None
        except KeyboardInterrupt:
            click.echo("nb2pipe: interrupted", err=True)
            raise SystemExit(130) from None
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as e:  # a bug in nb2pipe: say so, briefly
            error = InternalError(f"internal error: {type(e).__name__}: {e}")
            click.echo(f"nb2pipe: {error} (please report this bug)", err=True)
            raise SystemExit(error.exit_code) from None

    return wrapper


notebook_argument = click.argument(
    "notebook", type=click.Path(path_type=Path, dir_okay=False)
)


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nb2pipe", prog_name="nb2pipe")
def main() -> None:
    """Convert tagged Jupyter notebooks into Kubeflow Pipelines v2 scripts."""


@main.command(epilog=EPILOG)
@notebook_argument
@click.option(
    "-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write the script ('-' for stdout). "
    "Default: NOTEBOOK_STEM_pipeline.py beside the notebook.",
)
@click.option("--base-image", default="", help="Image every step runs in.")
@_guarded
def convert(notebook: Path, output: Path | None, base_image: str) -> None:
    """Write a standalone KFP pipeline script for NOTEBOOK."""
    to_stdout = output is not None and str(output) == "-"
    target = None if to_stdout else library.output_path(notebook, output)
    name = target.name if target is not None else ""
    try:
        result = library.convert(notebook, base_image, name)
    except FindingsError as e:
        _report(notebook.name, e.findings)
        raise
    _report(notebook.name, result.warnings)
    if target is None:
        click.echo(result.script, nl=False)
    else:
        library.write_atomically(target, result.script)
        click.echo(f"wrote {target}", err=True)


@main.command(epilog=EPILOG)
@notebook_argument
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "mermaid"]), default="text",
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
    "--param", "params", multiple=True, metavar="NAME=VALUE",
    help="Override a pipeline parameter (repeatable).",
)
@click.option(
    "--pipeline-root", type=click.Path(path_type=Path, file_okay=False),
    default=Path("nb2pipe_runs"), show_default=True,
    help="Where the steps' outputs are kept.",
)
@click.option("-v", "--verbose", is_flag=True, help="Show kfp's full logs.")
@_guarded
def run(notebook: Path, params: tuple[str, ...], pipeline_root: Path, verbose: bool) -> None:
    """Convert NOTEBOOK and run the pipeline here with kfp.local."""
    from kalelike.run import run_local

    try:
        result = library.convert(notebook)
    except FindingsError as e:
        _report(notebook.name, e.findings)
        raise
    _report(notebook.name, result.warnings)
    steps = run_local(result, pipeline_root.absolute(), list(params), click.echo, verbose)
    total = sum(s.seconds for s in steps)
    click.echo(f"pipeline {result.pipeline.name!r}: {len(steps)} steps done in {total:.2f} s")


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
                "inputs": sorted(step.inputs),
                "outputs": sorted(step.outputs),
                "parameters": sorted(step.parameters),
                "metrics": sorted(step.metrics),
            }
            for step in pipeline.steps
        ],
        "findings": [f.as_json() for f in pipeline.findings],
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
            ("inputs", [f"{i.name} <- {i.producer}" for i in
                        sorted(step.inputs.values(), key=lambda i: i.name)]),
            ("parameters", sorted(step.parameters)),
            ("outputs", sorted(step.outputs)),
            ("metrics", step.metrics),
        ]
        lines += [f"  {label}: {', '.join(values)}" for label, values in rows if values]
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
