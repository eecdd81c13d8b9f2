"""KFP settings a notebook asks for: step tags and the notebook's metadata.

Step tags use Kale's spelling where Kale has one (`limit:cpu:2`, `image:...`,
`annotation:`, `label:`, `cache:`) and add `retry:`, `timeout:` and `secret:`.
Notebook-wide settings live in the metadata under Kale's key `kubeflow_notebook`.
Every value is checked here against the form Kubernetes or KFP accepts, so it
reaches the generated script only as a quoted literal or a validated number.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from kalelike.errors import UsageError
from kalelike.findings import Finding

T = TypeVar("T")
D = TypeVar("D")
METADATA_KEY = "kubeflow_notebook"
DEFAULT_WORKSPACE = "/workspace"

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_NAME = re.compile(rf"^(?=.{{1,253}}$){_DNS_LABEL}(\.{_DNS_LABEL})*$")
_QUALIFIED_NAME = re.compile(
    rf"^((?=[^/]{{1,253}}/){_DNS_LABEL}(\.{_DNS_LABEL})*/)?"
    r"(?=[^/]{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^((?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_IMAGE = re.compile(
    r"^((?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
    r"(?:\.(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]))*(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*"
    r":[0-9a-fA-F]{32,})?$",
    re.ASCII,
)
_CPU = re.compile(r"^([0-9]*\.)?[0-9]+m?$")  # as kfp's set_cpu_limit checks it
_MEMORY = re.compile(r"^[0-9]+(E|Ei|P|Pi|T|Ti|G|Gi|M|Mi|K|Ki)?$")  # and memory
_COUNT = re.compile(r"^[0-9]{1,9}$")
_DURATION = re.compile(r"^([0-9]{1,9})([smhdw])$")
_FACTOR = re.compile(r"^[0-9]{1,6}(\.[0-9]{1,6})?$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_KEY = re.compile(r"^[-._A-Za-z0-9]{1,253}$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

FORMS = {
    "image": "`image:IMAGE` (e.g. `image:python:3.11-slim`)",
    "limit": "`limit:cpu:N` (e.g. 2, 0.5 or 500m), `limit:memory:SIZE` (e.g. 4G or "
    "512Mi), `limit:nvidia.com/gpu:N` or `limit:amd.com/gpu:N`",
    "cache": "`cache:enabled` or `cache:disabled`",
    "retry": "`retry:N` or `retry:N:backoff=DURATION[:factor=F][:max=DURATION]` "
    "(e.g. `retry:3:backoff=30s:factor=2:max=1h`)",
    "timeout": "`timeout:SECONDS` or `timeout:DURATION` (e.g. `timeout:600` or "
    "`timeout:10m`)",
    "annotation": "`annotation:KEY:VALUE` (KEY like `team` or `example.com/team`)",
    "label": "`label:KEY:VALUE` (VALUE: up to 63 letters, digits, `-`, `_`, `.`)",
    "secret": "`secret:NAME:KEY:ENV` (key KEY of Kubernetes secret NAME becomes "
    "environment variable ENV)",
}
# Kale's keys that change nothing in a KFP v2 pipeline (UI state, Rok snapshots,
# Kale's own marshalling); they are accepted without a word.
_KALE_KEYS = {
    "experiment",
    "katib_run",
    "katib_metadata",
    "snapshot_volumes",
    "autosnapshot",
    "abs_working_dir",
    "marshal_volume",
    "marshal_path",
    "storage_class_name",
    "volume_access_mode",
    "notebook_path",
}


Setting = tuple[object, object]  # what a tag sets, and the value


@dataclass(frozen=True)
class Retry:
    count: int
    backoff: str = ""  # a duration kfp accepts, like "30s"
    factor: float | None = None
    max_duration: str = ""


@dataclass(frozen=True)
class Secret:
    name: str  # the Kubernetes secret
    key: str  # its data key
    env: str  # the environment variable the step sees


@dataclass(frozen=True)
class Volume:
    pvc: str  # an existing PersistentVolumeClaim
    mount_point: str


@dataclass(frozen=True)
class StepSettings:
    """What one step asks of KFP; empty values mean KFP's defaults."""

    image: str = ""
    cpu: str = ""
    memory: str = ""
    accelerator: str = ""
    accelerators: int = 0
    caching: bool | None = None
    retry: Retry | None = None
    timeout: int | None = None
    annotations: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    secrets: tuple[Secret, ...] = ()


@dataclass(frozen=True)
class NotebookSettings:
    """The notebook's metadata settings, with command-line options applied."""

    pipeline_name: str = ""
    description: str = ""
    experiment: str = ""
    base_image: str = ""
    enable_caching: bool | None = None
    volumes: tuple[Volume, ...] = ()
    workspace: Volume | None = None
    steps_defaults: tuple[Setting, ...] = ()  # parsed from tags, checked once
    timeout: int = 0  # the whole run's deadline in seconds; 0: none
    host: str = ""
    packages: bool = True  # False: the steps install nothing, the image has it all


_Config = NotebookSettings


@dataclass(frozen=True)
class Options:
    """Settings from outside the notebook.

    The command line's win over the notebook's metadata; the project's base image
    (`[tool.nb2pipe]`) is used only where neither names one.
    """

    base_image: str = ""
    pipeline_name: str = ""
    experiment: str = ""
    packages: bool = True
    project_image: str = ""


class _BadTag(Exception):
    """A malformed setting; becomes a finding naming the cell and the tag."""


# -- step tags -----------------------------------------------------------------


def read_step(
    tags: list[tuple[str, int]],
    config: NotebookSettings,
    step: str,
    findings: list[Finding],
) -> StepSettings:
    """A step's settings: the notebook's defaults, then the step's own tags."""
    values: dict[object, object] = {}
    if config.enable_caching is not None:
        values["caching"] = config.enable_caching
    values.update(config.steps_defaults)
    values.update(_layer(tags, step, findings))
    return _settings(values)


def _layer(
    tags: Sequence[tuple[str, int | None]], step: str | None, findings: list[Finding]
) -> dict[object, object]:
    """Parse tags that apply together; two values for one setting conflict."""
    values: dict[object, object] = {}
    origin: dict[object, str] = {}
    for tag, cell in tags:
        try:
            parsed = _parse(tag)
        except _BadTag as e:
            prefix = tag.partition(":")[0]
            message = f"tag {tag!r}: {e}; accepted: {FORMS[prefix]}"
            findings.append(_error(cell, "bad-setting", message, step))
            continue
        for key, value in parsed:
            if key in values and values[key] != value:
                message = f"tag {tag!r} contradicts {origin[key]!r}"
                findings.append(_error(cell, "conflicting-setting", message, step))
            values[key], origin[key] = value, tag
    return values


def _error(cell: int | None, code: str, message: str, step: str | None) -> Finding:
    where = "" if cell is not None else f"{METADATA_KEY}.steps_defaults: "
    return Finding(cell, None, None, "error", code, where + message, step)


def _parse(tag: str) -> list[tuple[object, object]]:
    """The (setting, value) pairs one tag sets; raises _BadTag if malformed."""
    prefix, _, rest = tag.partition(":")
    if prefix == "image":
        return [("image", _image(rest))]
    if prefix == "limit":
        return _limit(rest)
    if prefix == "cache":
        if rest not in ("enabled", "disabled"):
            raise _BadTag(f"{rest!r} is neither `enabled` nor `disabled`")
        return [("caching", rest == "enabled")]
    if prefix == "retry":
        return [("retry", _retry(rest))]
    if prefix == "timeout":
        return [("timeout", _seconds(rest))]
    if prefix == "secret":
        secret = _secret(rest)
        return [(("secret", secret.env), secret)]
    key, sep, value = rest.partition(":")
    if not sep or not _QUALIFIED_NAME.fullmatch(key):
        raise _BadTag(f"{key!r} is not a Kubernetes {prefix} key")
    if prefix == "label" and not _LABEL_VALUE.fullmatch(value):
        raise _BadTag(f"{value!r} is not a Kubernetes label value")
    if not value.isprintable():
        raise _BadTag("the value holds line breaks or invisible characters")
    return [((prefix, key), value)]


def _image(text: str) -> str:
    if not _IMAGE.fullmatch(text):
        raise _BadTag(f"{text!r} is not an image reference")
    return text


def _limit(rest: str) -> list[tuple[object, object]]:
    resource, _, amount = rest.rpartition(":")
    if resource == "cpu" and _CPU.fullmatch(amount) and float(amount.rstrip("m")) > 0:
        return [("cpu", amount)]
    if (
        resource == "memory"
        and _MEMORY.fullmatch(amount)
        and int(amount.rstrip("EPTGMKi"))
    ):
        return [("memory", amount)]
    if resource in ("cpu", "memory"):
        raise _BadTag(f"{amount!r} is not a {resource} amount KFP accepts")
    if "/" not in resource or not _QUALIFIED_NAME.fullmatch(resource):
        raise _BadTag(f"{resource!r} is not cpu, memory or an accelerator")
    if not _COUNT.fullmatch(amount) or int(amount) == 0:
        raise _BadTag(f"{amount!r} is not a whole number of accelerators")
    return [("accelerator", (resource, int(amount)))]


def _retry(rest: str) -> Retry:
    count, *options = rest.split(":")
    if not _COUNT.fullmatch(count):
        raise _BadTag(f"{count!r} is not a number of retries")
    fields: dict[str, str] = {}
    for option in options:
        name, sep, value = option.partition("=")
        if not sep or name not in ("backoff", "factor", "max") or name in fields:
            raise _BadTag(f"{option!r} is not one of backoff=, factor=, max=")
        if name == "factor" and not _FACTOR.fullmatch(value):
            raise _BadTag(f"{value!r} is not a backoff factor")
        if name != "factor" and not _DURATION.fullmatch(value):
            raise _BadTag(f"{value!r} is not a duration like 30s, 5m or 1h")
        fields[name] = value
    factor = float(fields["factor"]) if "factor" in fields else None
    return Retry(int(count), fields.get("backoff", ""), factor, fields.get("max", ""))


def _seconds(text: str) -> int:
    if _COUNT.fullmatch(text):
        return int(text)
    match = _DURATION.fullmatch(text)
    if match is None:
        raise _BadTag(f"{text!r} is not a number of seconds or a duration")
    return int(match.group(1)) * _SECONDS[match.group(2)]


def _secret(rest: str) -> Secret:
    parts = rest.split(":")
    if len(parts) != 3:
        raise _BadTag("a secret tag has three parts after `secret:`")
    name, key, env = parts
    if not _DNS_NAME.fullmatch(name):
        raise _BadTag(f"{name!r} is not a Kubernetes secret name")
    if not _SECRET_KEY.fullmatch(key):
        raise _BadTag(f"{key!r} is not a secret key")
    if not _ENV.fullmatch(env):
        raise _BadTag(f"{env!r} is not an environment variable name")
    return Secret(name, key, env)


def _settings(values: dict[object, object]) -> StepSettings:
    """The typed settings, from what the tags set."""
    resource, count = _get(values, "accelerator", tuple, ("", 0))
    keyed = sorted((k, v) for k, v in values.items() if isinstance(k, tuple))
    return StepSettings(
        image=_get(values, "image", str, ""),
        cpu=_get(values, "cpu", str, ""),
        memory=_get(values, "memory", str, ""),
        accelerator=str(resource),
        accelerators=int(count),
        caching=_get(values, "caching", bool, None),
        retry=_get(values, "retry", Retry, None),
        timeout=_get(values, "timeout", int, None),
        annotations=tuple((k[1], str(v)) for k, v in keyed if k[0] == "annotation"),
        labels=tuple((k[1], str(v)) for k, v in keyed if k[0] == "label"),
        secrets=tuple(v for k, v in keyed if isinstance(v, Secret)),
    )


def _get(values: dict[object, object], key: str, kind: type[T], default: D) -> T | D:
    value = values.get(key)
    return value if isinstance(value, kind) else default


# -- notebook metadata ---------------------------------------------------------


def read_notebook(
    metadata: dict[str, object], options: Options
) -> tuple[NotebookSettings, list[Finding]]:
    """The `kubeflow_notebook` metadata, checked, with the options applied."""
    raw = metadata.get(METADATA_KEY) or {}
    findings: list[Finding] = []
    if not isinstance(raw, dict):
        findings.append(_meta_error("", f"is a {type(raw).__name__}, not a mapping"))
        raw = {}
    config = NotebookSettings()
    for key in sorted(raw):
        reader = _READERS.get(key)
        if reader is not None:
            config = reader(config, raw[key], _Place(key, findings))
        elif key == "katib_run" and raw[key]:
            findings.append(_meta(key, "Katib tuning is not converted", "warning"))
        elif key not in _KALE_KEYS:
            message = f"unknown key {key!r} is ignored; known keys: " + ", ".join(
                sorted(_READERS)
            )
            findings.append(_meta("", message, "warning", "unknown-metadata"))
    config = _experiment_fallback(config, raw.get("experiment"))
    return _apply(config, options), findings


def project_problem(key: str, value: object) -> str:
    """Why a `[tool.nb2pipe]` default for metadata key `key` is refused, or "".

    The same checks as the notebook's own metadata; the message starts with the
    key (`steps_defaults: tag 'retry:two': ...`), for the caller to name the file.
    """
    reader = _READERS.get(key)
    if reader is None:
        return ""
    findings: list[Finding] = []
    reader(NotebookSettings(), value, _Place(key, findings))
    errors = [f.message for f in findings if f.severity == "error"]
    return errors[0].removeprefix(f"{METADATA_KEY}.") if errors else ""


def check_options(options: Options) -> None:
    """Bad command-line values are usage errors, not findings."""
    for where, image in [
        ("--base-image", options.base_image),
        ("[tool.nb2pipe] base_image", options.project_image),
    ]:
        if image and not _IMAGE.fullmatch(image):
            raise UsageError(f"{where} {image!r}: not an image reference")
    problem = name_problem(options.pipeline_name) if options.pipeline_name else ""
    if problem:
        raise UsageError(f"--pipeline-name {problem}")


def _apply(config: NotebookSettings, options: Options) -> NotebookSettings:
    return replace(
        config,
        base_image=options.base_image or config.base_image or options.project_image,
        pipeline_name=options.pipeline_name or config.pipeline_name,
        experiment=options.experiment or config.experiment,
        packages=options.packages,
    )


def _experiment_fallback(
    config: NotebookSettings, experiment: object
) -> NotebookSettings:
    # Kale's UI writes both `experiment_name` and `experiment: {id, name}`.
    if config.experiment or not isinstance(experiment, dict):
        return config
    name = experiment.get("name")
    return replace(config, experiment=name) if isinstance(name, str) else config


@dataclass(frozen=True)
class _Place:
    """Where a metadata value sits, and where its findings go."""

    key: str
    findings: list[Finding]

    def error(self, message: str) -> None:
        self.findings.append(_meta_error(self.key, message))


def _meta(key: str, message: str, severity: str, code: str = "metadata") -> Finding:
    where = f"{METADATA_KEY}.{key}" if key else METADATA_KEY
    return Finding(None, None, None, severity, code, f"{where}: {message}")  # type: ignore[arg-type]


def _meta_error(key: str, message: str) -> Finding:
    return _meta(key, message, "error", "bad-metadata")


def _text(value: object, place: _Place) -> str | None:
    if isinstance(value, str) and value.isprintable():
        return value
    place.error(f"{value!r} is not a line of text")
    return None


# Names and the description are any text: they reach the script quoted, and kfp
# turns the pipeline name into one Kubernetes accepts (`My model` -> `my-model`).
def _read_name(config: _Config, value: object, place: _Place) -> _Config:
    name = _any_text(value, place)
    problem = name_problem(name) if name else ""
    if problem:
        place.error(problem)
        return config
    return replace(config, pipeline_name=name)


def name_problem(name: str) -> str:
    """Why kfp would refuse a pipeline name, or "" when it takes it."""
    kept = re.sub("-+", "-", re.sub("[^-0-9a-z]+", "-", name.lower())).strip("-")
    if not kept:
        return f"{name!r} has no letters or digits for kfp to make a name of"
    if len(kept) > 128:
        return f"{name!r} is longer than the 128 characters kfp allows"
    return ""


def _read_description(config: _Config, value: object, place: _Place) -> _Config:
    return replace(config, description=_any_text(value, place))


def _read_experiment(config: _Config, value: object, place: _Place) -> _Config:
    return replace(config, experiment=_any_text(value, place))


def _any_text(value: object, place: _Place) -> str:
    if not isinstance(value, str):
        place.error(f"{value!r} is not text")
        return ""
    try:
        value.encode("utf-8")  # the compiled YAML is UTF-8
    except UnicodeEncodeError:
        place.error(f"{value!r} holds characters UTF-8 cannot encode")
        return ""
    return value


def _read_image(config: _Config, value: object, place: _Place) -> _Config:
    if value == "" or config.base_image and place.key == "docker_image":
        return config  # Kale's newer `base_image` wins over its older `docker_image`
    if not isinstance(value, str) or not _IMAGE.fullmatch(value):
        place.error(f"{value!r} is not an image reference")
        return config
    return replace(config, base_image=value)


def _read_caching(config: _Config, value: object, place: _Place) -> _Config:
    if not isinstance(value, bool):
        place.error(f"{value!r} is not true or false")
        return config
    return replace(config, enable_caching=value)


def _read_defaults(config: _Config, value: object, place: _Place) -> _Config:
    prefixes = tuple(f"{p}:" for p in FORMS)
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        place.error('is a list of step tags, like ["limit:cpu:1"]')
        return config
    for tag in value:
        if not tag.strip().startswith(prefixes):
            from kalelike.tags import did_you_mean  # deferred: tags imports FORMS

            hint = did_you_mean(tag.strip(), tuple(FORMS))
            known = ", ".join(f"`{p}`" for p in prefixes)
            place.error(
                f"{tag!r} is not a setting tag{hint}; settings start with {known}"
            )
    tags = [(t.strip(), None) for t in value if t.strip().startswith(prefixes)]
    defaults = _layer(tags, None, place.findings)
    return replace(config, steps_defaults=tuple(defaults.items()))


def _read_volumes(config: _Config, value: object, place: _Place) -> _Config:
    if not isinstance(value, list):
        place.error(
            'is a list of volumes like {"name": PVC, "mount_point": PATH, '
            '"type": "pvc"}'
        )
        return config
    volumes = []
    for i, entry in enumerate(value):
        item = _Place(f"{place.key}[{i}]", place.findings)
        kind = entry.get("type", "pvc") if isinstance(entry, dict) else None
        if kind != "pvc":
            item.error(
                f"volume type {kind!r} is not supported: nb2pipe mounts existing "
                'PersistentVolumeClaims (type "pvc"); create the volume first'
            )
            continue
        volume = _volume(entry, "", item)
        if volume is not None:
            volumes.append(volume)
    return replace(config, volumes=tuple(volumes))


def _read_workspace(config: _Config, value: object, place: _Place) -> _Config:
    workspace = _volume(value, DEFAULT_WORKSPACE, place)
    return replace(config, workspace=workspace) if workspace else config


def _volume(entry: object, mount_point: str, place: _Place) -> Volume | None:
    if not isinstance(entry, dict):
        place.error(f"{entry!r} is not a mapping with `name` and `mount_point`")
        return None
    name, path = entry.get("name"), entry.get("mount_point", mount_point)
    if not isinstance(name, str) or not _DNS_NAME.fullmatch(name):
        place.error(f"{name!r} is not the name of a PersistentVolumeClaim")
        return None
    if not _mount_path(path):
        place.error(f"mount point {path!r} is not an absolute path")
        return None
    return Volume(name, str(path))


def _mount_path(path: object) -> bool:
    if not isinstance(path, str) or not path.startswith("/") or path == "/":
        return False
    return path.isprintable() and ".." not in path.split("/")


def _read_timeout(config: _Config, value: object, place: _Place) -> _Config:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        place.error(f"{value!r} is not a whole number of seconds")
        return config
    return replace(config, timeout=value)


def _read_host(config: _Config, value: object, place: _Place) -> _Config:
    text = _text(value, place)
    if text is not None and not re.fullmatch(r"https?://[^\s\"'\\]+", text):
        place.error(f"{text!r} is not an http:// or https:// address")
        return config
    return replace(config, host=text or "")


_READERS = {
    "pipeline_name": _read_name,
    "pipeline_description": _read_description,
    "experiment_name": _read_experiment,
    "base_image": _read_image,
    "docker_image": _read_image,
    "enable_caching": _read_caching,
    "steps_defaults": _read_defaults,
    "volumes": _read_volumes,
    "workspace": _read_workspace,
    "timeout": _read_timeout,
    "kfp_host": _read_host,
}
