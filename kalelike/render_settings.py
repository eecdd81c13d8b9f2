"""The lines of the generated script that hand a step's settings to KFP.

Each setting becomes one call on the step's task, right after the task is made,
in a fixed order. Values arrive checked by `settings.py` and enter the script
only through `quote` or as integers. The calls are laid out as `ruff format`
lays them out, so the script stays formatted whatever the values' lengths.
"""

from kalelike.model import Pipeline, Step
from kalelike.render import quote
from kalelike.settings import NotebookSettings, StepSettings, Volume

WIDTH = 88
INDENT = 8  # the pipeline function's body
WORKDIR_VARIABLE = "NB2PIPE_WORKDIR"  # read by run_step, see step_runtime.py
_Config = NotebookSettings


def uses_kubernetes(pipeline: Pipeline) -> bool:
    """Whether the script needs `from kfp import kubernetes`."""
    config = pipeline.settings
    if config.volumes or config.workspace:
        return True
    return any(_kubernetes(step.settings) for step in pipeline.steps)


def task_lines(task: str, own: StepSettings, config: _Config) -> list[str]:
    """The calls, one physical line each, indented relative to the body."""
    lines: list[str] = []
    if own.caching is not None:
        lines += _call(f"{task}.set_caching_options", [f"enable_caching={own.caching}"])
    if own.retry is not None:
        lines += _call(f"{task}.set_retry", _retry(own))
    for kind, value in (("cpu", own.cpu), ("memory", own.memory)):
        if value:  # a request as large as the limit: the pod is never squeezed
            lines += _call(f"{task}.set_{kind}_request", [quote(value)])
            lines += _call(f"{task}.set_{kind}_limit", [quote(value)])
    if own.accelerator:
        lines += _call(f"{task}.set_accelerator_type", [quote(own.accelerator)])
        lines += _call(f"{task}.set_accelerator_limit", [str(own.accelerators)])
    return lines + _kubernetes_lines(task, own, config)


def _kubernetes_lines(task: str, own: StepSettings, config: _Config) -> list[str]:
    lines: list[str] = []
    if own.timeout is not None:
        lines += _call("kubernetes.set_timeout", [task, str(own.timeout)])
    for secret in own.secrets:
        mapping = "{" + f"{quote(secret.key)}: {quote(secret.env)}" + "}"
        args = [task, quote(secret.name), mapping]
        lines += _call("kubernetes.use_secret_as_env", args)
    for kind, pairs in (("label", own.labels), ("annotation", own.annotations)):
        for key, value in pairs:
            args = [task, quote(key), quote(value)]
            lines += _call(f"kubernetes.add_pod_{kind}", args)
    volumes = list(config.volumes) + ([config.workspace] if config.workspace else [])
    for volume in volumes:
        lines += _mount(task, volume)
    if config.workspace is not None:
        # Set on a cluster only: a local step has no such mount and keeps the
        # folder it was started in.
        lines.append("if not local:  # the workspace volume exists on a cluster only")
        workdir = [quote(WORKDIR_VARIABLE), quote(config.workspace.mount_point)]
        lines += _call(f"{task}.set_env_variable", workdir, INDENT + 4, "    ")
    return lines


def _kubernetes(own: StepSettings) -> bool:
    return bool(own.timeout is not None or own.secrets or own.labels or own.annotations)


def _retry(own: StepSettings) -> list[str]:
    retry = own.retry
    assert retry is not None
    args = [f"num_retries={retry.count}"]
    if retry.backoff:
        args.append(f"backoff_duration={quote(retry.backoff)}")
    if retry.factor is not None:
        args.append(f"backoff_factor={retry.factor!r}")
    if retry.max_duration:
        args.append(f"backoff_max_duration={quote(retry.max_duration)}")
    return args


def _mount(task: str, volume: Volume) -> list[str]:
    path = quote(volume.mount_point)
    args = [task, f"pvc_name={quote(volume.pvc)}", f"mount_path={path}"]
    return _call("kubernetes.mount_pvc", args)


def _call(
    callee: str, args: list[str], indent: int = INDENT, pad: str = ""
) -> list[str]:
    """A call statement as `ruff format` writes it: one line, the arguments on
    a line of their own, or one argument a line with a trailing comma.
    """
    one = f"{callee}({', '.join(args)})"
    if indent + len(one) <= WIDTH:
        return [pad + one]
    joined = ", ".join(args)
    if indent + 4 + len(joined) <= WIDTH:
        return [f"{pad}{callee}(", f"{pad}    {joined}", f"{pad})"]
    lines = [f"{pad}{callee}("]
    for arg in args:
        lines += _argument(arg, indent + 4, pad + "    ")
    return [*lines, f"{pad})"]


def _argument(arg: str, indent: int, pad: str) -> list[str]:
    # A dict display too long for its line opens up like a call.
    if indent + len(arg) + 1 <= WIDTH or not arg.startswith("{"):
        return [f"{pad}{arg},"]
    return [f"{pad}{{", f"{pad}    {arg[1:-1]},", f"{pad}}},"]


def step_context(task: str, step: Step, pipeline: Pipeline) -> dict[str, object]:
    """What the template needs of one step's settings."""
    image = step.settings.image
    return {
        "settings": task_lines(task, step.settings, pipeline.settings),
        "image": quote(image) if image and image != pipeline.base_image else "",
    }


def pipeline_context(pipeline: Pipeline) -> dict[str, object]:
    """What the template needs of the notebook-wide settings."""
    config = pipeline.settings
    deadline = f"dsl.PipelineConfig(active_deadline_seconds={config.timeout})"
    return {
        "kubernetes": uses_kubernetes(pipeline),
        # Without packages the image must hold kfp too: nothing is installed.
        "install_kfp": "not local" if config.packages else "False",
        "pipeline_config": deadline if config.timeout else "",
        "experiment_literal": quote(config.experiment),
        "host_literal": quote(config.host),
    }
