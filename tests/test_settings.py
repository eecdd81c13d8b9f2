"""KFP settings from tags and metadata: parsed strictly, and present in the YAML.

The compile tests run the generated script as a user would (`python script.py
--output x.yaml`) and read what kfp wrote: the pipeline in the first YAML
document, kfp-kubernetes settings in the second.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kalelike import conversion, settings
from kalelike.cli import main
from kalelike.settings import Options, Retry, Secret, Volume

FIXTURES = Path(__file__).parent / "fixtures"


def step_settings(tags: list[str], **metadata: object) -> tuple[object, list]:
    """The settings `read_step` makes of one step's tags, and the findings."""
    config, findings = settings.read_notebook(
        {"kubeflow_notebook": metadata}, Options()
    )
    tagged = [(tag, 3) for tag in tags]
    return settings.read_step(tagged, config, "train", findings), findings


# -- step tags -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "field", "value"),
    [
        ("image:python:3.11-slim", "image", "python:3.11-slim"),
        (
            "image:ghcr.io/org/img@sha256:" + "a" * 64,
            "image",
            "ghcr.io/org/img@sha256:" + "a" * 64,
        ),
        ("image:localhost:5000/team/img:v1.2", "image", "localhost:5000/team/img:v1.2"),
        ("limit:cpu:2", "cpu", "2"),
        ("limit:cpu:0.5", "cpu", "0.5"),
        ("limit:cpu:500m", "cpu", "500m"),
        ("limit:memory:4G", "memory", "4G"),
        ("limit:memory:512Mi", "memory", "512Mi"),
        ("limit:nvidia.com/gpu:2", "accelerator", "nvidia.com/gpu"),
        ("limit:amd.com/gpu:1", "accelerator", "amd.com/gpu"),
        ("cache:disabled", "caching", False),
        ("cache:enabled", "caching", True),
        ("retry:3", "retry", Retry(3)),
        ("retry:3:backoff=30s:factor=2:max=1h", "retry", Retry(3, "30s", 2.0, "1h")),
        ("retry:0", "retry", Retry(0)),
        ("timeout:600", "timeout", 600),
        ("timeout:10m", "timeout", 600),
        (
            "secret:db-creds:password:DB_PASSWORD",
            "secrets",
            (Secret("db-creds", "password", "DB_PASSWORD"),),
        ),
        ("label:team:ml", "labels", (("team", "ml"),)),
        (
            "label:app.kubernetes.io/part-of:",
            "labels",
            (("app.kubernetes.io/part-of", ""),),
        ),
        (
            "annotation:example.com/note:a: b 'c'",
            "annotations",
            (("example.com/note", "a: b 'c'"),),
        ),
    ],
)
def test_each_tag_sets_its_setting(tag, field, value):
    result, findings = step_settings([tag])
    assert findings == []
    assert getattr(result, field) == value


@pytest.mark.parametrize(
    ("tag", "accepted"),
    [
        ("image:Not An Image", "image:IMAGE"),
        ("image:python:3.11\nRUN evil", "image:IMAGE"),
        ("image:python:3.11\n", "image:IMAGE"),
        ("image:python:3.11\u00e9", "image:IMAGE"),
        ("annotation:note:line\nbreak", "annotation:KEY:VALUE"),
        ("annotation:note:x\ud800", "annotation:KEY:VALUE"),
        ("limit:cpu:two", "limit:cpu:N"),
        ("limit:cpu:0", "limit:cpu:N"),
        ("limit:memory:1.5Gi", "limit:memory:SIZE"),
        ("limit:memory:4gb", "limit:memory:SIZE"),
        ("limit:disk:10", "limit:cpu:N"),
        ("limit:nvidia.com/gpu:0", "limit:nvidia.com/gpu:N"),
        ("limit:nvidia.com/gpu:1.5", "limit:nvidia.com/gpu:N"),
        ("cache:off", "cache:enabled"),
        ("retry:three", "retry:N"),
        ("retry:3:backoff=30", "backoff=DURATION"),
        ("retry:3:wait=30s", "backoff=DURATION"),
        ("retry:3:factor=x", "factor=F"),
        ("timeout:ten", "timeout:SECONDS"),
        ("timeout:-5", "timeout:SECONDS"),
        ("secret:db:password", "secret:NAME:KEY:ENV"),
        ("secret:DB_Creds:password:PW", "secret:NAME:KEY:ENV"),
        ("secret:db:pass word:PW", "secret:NAME:KEY:ENV"),
        ("secret:db:password:1PW", "secret:NAME:KEY:ENV"),
        ('secret:db:password:PW"); import os; ("', "secret:NAME:KEY:ENV"),
        ("label:team:not ok", "label:KEY:VALUE"),
        ("label:team", "label:KEY:VALUE"),
        ("label:-team:ml", "label:KEY:VALUE"),
        ("annotation:bad key:x", "annotation:KEY:VALUE"),
    ],
)
def test_a_malformed_tag_is_an_error_naming_cell_tag_and_forms(tag, accepted):
    result, findings = step_settings([tag])
    assert [f.code for f in findings] == ["bad-setting"]
    finding = findings[0]
    assert (finding.severity, finding.cell, finding.step) == ("error", 3, "train")
    assert repr(tag) in finding.message
    assert accepted in finding.message
    assert result == settings.StepSettings()


def test_two_values_for_one_setting_conflict():
    _, findings = step_settings(
        ["limit:cpu:1", "limit:cpu:2", "label:a:x", "label:a:x"]
    )
    assert [f.code for f in findings] == ["conflicting-setting"]
    assert "'limit:cpu:2' contradicts 'limit:cpu:1'" in findings[0].message


def test_step_tags_win_over_steps_defaults_over_enable_caching():
    defaults = ["limit:cpu:1", "label:team:ml", "label:tier:gold", "cache:enabled"]
    result, findings = step_settings(
        ["limit:cpu:4", "label:tier:silver"],
        steps_defaults=defaults,
        enable_caching=False,
    )
    assert findings == []
    assert result.cpu == "4"
    assert result.labels == (("team", "ml"), ("tier", "silver"))
    assert result.caching is True
    alone, _ = step_settings([], enable_caching=False)
    assert alone.caching is False


def test_a_bad_default_is_reported_once_for_the_notebook():
    config, findings = settings.read_notebook(
        {"kubeflow_notebook": {"steps_defaults": ["limit:cpu:lots", "step:x"]}},
        Options(),
    )
    assert [(f.cell, f.code) for f in findings] == [
        (None, "bad-metadata"),
        (None, "bad-setting"),
    ]
    assert config.steps_defaults == ()


# -- notebook metadata ---------------------------------------------------------


def read(metadata: dict, options: Options | None = None):
    return settings.read_notebook({"kubeflow_notebook": metadata}, options or Options())


def test_kale_metadata_is_read():
    config, findings = read(
        {
            "pipeline_name": "my-pipeline",
            "pipeline_description": "Line one.\nLine two.",
            "experiment": {"id": "new", "name": "from-ui"},
            "docker_image": "python:3.11-slim",
            "volumes": [
                {
                    "name": "data",
                    "mount_point": "/data",
                    "type": "pvc",
                    "size": 1,
                    "size_type": "Gi",
                    "annotations": [],
                    "snapshot": False,
                }
            ],
            "katib_run": False,
            "snapshot_volumes": False,
            "timeout": 3600,
            "kfp_host": "http://localhost:8080",
        }
    )
    assert findings == []
    assert config.pipeline_name == "my-pipeline"
    assert config.experiment == "from-ui"
    assert config.base_image == "python:3.11-slim"
    assert config.volumes == (Volume("data", "/data"),)
    assert (config.timeout, config.host) == (3600, "http://localhost:8080")


def test_base_image_wins_over_kales_older_docker_image():
    config, _ = read({"docker_image": "old:1", "base_image": "new:2"})
    assert config.base_image == "new:2"


def test_an_unknown_key_is_a_warning_not_a_failure():
    config, findings = read({"pipeline_name": "ok", "colour": "blue"})
    assert [(f.severity, f.code) for f in findings] == [("warning", "unknown-metadata")]
    assert "'colour'" in findings[0].message
    assert config.pipeline_name == "ok"


def test_katib_is_a_warning():
    _, findings = read({"katib_run": True})
    assert [(f.severity, f.message) for f in findings] == [
        ("warning", "kubeflow_notebook.katib_run: Katib tuning is not converted")
    ]


@pytest.mark.parametrize(
    ("metadata", "words"),
    [
        ({"pipeline_name": ["a"]}, "not text"),
        ({"pipeline_name": "__"}, "no letters or digits"),
        ({"pipeline_name": "x" * 129}, "longer than the 128 characters"),
        ({"pipeline_description": "x\ud800"}, "UTF-8 cannot encode"),
        ({"base_image": "not an image"}, "not an image reference"),
        ({"enable_caching": "yes"}, "not true or false"),
        ({"timeout": "1h"}, "whole number of seconds"),
        ({"steps_defaults": "limit:cpu:1"}, "list of step tags"),
        (
            {"volumes": [{"name": "x", "mount_point": "/x", "type": "new_pvc"}]},
            "volume type 'new_pvc' is not supported",
        ),
        (
            {"volumes": [{"name": "x", "mount_point": "/x", "type": "clone"}]},
            "volume type 'clone' is not supported",
        ),
        (
            {"volumes": [{"name": "Bad_Name", "mount_point": "/x", "type": "pvc"}]},
            "not the name of a PersistentVolumeClaim",
        ),
        (
            {"volumes": [{"name": "x", "mount_point": "relative", "type": "pvc"}]},
            "not an absolute path",
        ),
        (
            {"workspace": {"name": "ws", "mount_point": "/a/../b"}},
            "not an absolute path",
        ),
        ({"kfp_host": "localhost:8080"}, "http:// or https://"),
    ],
)
def test_bad_metadata_is_an_error_with_its_key(metadata, words):
    _, findings = read(metadata)
    assert [f.severity for f in findings] == ["error"]
    assert findings[0].message.startswith(f"kubeflow_notebook.{next(iter(metadata))}")
    assert words in findings[0].message


def test_workspace_mounts_at_workspace_by_default():
    config, findings = read({"workspace": {"name": "team-ws"}})
    assert findings == []
    assert config.workspace == Volume("team-ws", "/workspace")


def test_options_override_the_metadata_and_empty_options_do_not():
    metadata = {
        "pipeline_name": "meta",
        "experiment_name": "meta-exp",
        "base_image": "meta:1",
    }
    kept, _ = read(metadata, Options(project_image="project:1"))
    assert (kept.pipeline_name, kept.experiment, kept.base_image) == (
        "meta",
        "meta-exp",
        "meta:1",
    )
    given, _ = read(metadata, Options("flag:1", "flag", "flag-exp", packages=False))
    assert (given.pipeline_name, given.experiment, given.base_image) == (
        "flag",
        "flag-exp",
        "flag:1",
    )
    assert given.packages is False
    project, _ = read({}, Options(project_image="project:1"))
    assert project.base_image == "project:1"


# -- through the CLI -----------------------------------------------------------


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_bad_tags_stop_convert_with_exit_1(notebook):
    path = notebook([("x = 1", ["step:a", "limit:cpu:lots"]), ("y = x", ["step:b"])])
    result = invoke("convert", str(path), "-o", "-")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "nb.ipynb:cell 1: error: tag 'limit:cpu:lots':" in result.stderr
    assert "[bad-setting]" in result.stderr


def test_a_setting_outside_any_step_is_an_error(notebook):
    path = notebook([("import os", ["imports", "limit:cpu:2"]), ("x = 1", ["step:a"])])
    result = invoke("convert", str(path), "-o", "-")
    assert result.exit_code == 1
    assert "cell 1: error: tag 'limit:cpu:2' is on an imports cell" in result.stderr


def test_a_setting_on_a_continuation_cell_applies_to_its_step(notebook):
    path = notebook([("x = 1", ["step:a"]), ("y = x", ["timeout:60"])])
    pipeline = conversion.analyze(path)
    assert pipeline.step("a").settings.timeout == 60


def test_a_pipeline_name_kfp_cannot_use_is_a_usage_error(notebook):
    path = notebook([("x = 1", ["step:a"])])
    result = invoke("convert", str(path), "-o", "-", "--pipeline-name", "!!!")
    assert result.exit_code == 2
    assert "--pipeline-name '!!!' has no letters or digits" in result.stderr


def test_a_bad_base_image_flag_is_a_usage_error(notebook):
    path = notebook([("x = 1", ["step:a"])])
    result = invoke("convert", str(path), "-o", "-", "--base-image", "bad image")
    assert result.exit_code == 2
    assert (
        result.stderr == "nb2pipe: --base-image 'bad image': not an image reference\n"
    )


def test_flags_override_the_metadata_in_the_script(notebook):
    path = notebook(
        [("x = 1", ["step:a"])],
        kubeflow_notebook={"pipeline_name": "meta", "experiment_name": "meta-exp"},
    )
    result = invoke(
        "convert", str(path), "-o", "-", "--pipeline-name", "flag", "--experiment", "e2"
    )
    assert result.exit_code == 0, result.stderr
    assert 'name="flag",' in result.stdout
    assert 'EXPERIMENT = "e2"' in result.stdout
    kept = invoke("convert", str(path), "-o", "-")
    assert 'name="meta",' in kept.stdout
    assert 'EXPERIMENT = "meta-exp"' in kept.stdout


# -- packages ------------------------------------------------------------------


def test_pip_install_lines_become_the_steps_packages(notebook):
    path = notebook(
        [
            ("%pip install requests 'click>=8'\nimport json", ["step:a"]),
            ("!pip install -q ./vendored/lib\nx = 1", ["step:b"]),
        ]
    )
    pipeline = conversion.analyze(path)
    from importlib.metadata import version

    assert f"requests=={version('requests')}" in pipeline.step("a").packages
    assert "click>=8" in pipeline.step("a").packages
    assert not any(p.startswith("click==") for p in pipeline.step("a").packages)
    assert not any("vendored" in p for p in pipeline.step("b").packages)
    local = [f for f in pipeline.findings if f.code == "local-package"]
    assert [(f.cell, f.severity) for f in local] == [(1, "warning")]


def test_no_packages_installs_nothing(notebook, tmp_path: Path):
    path = notebook([("%pip install requests\nimport yaml\nx = 1", ["step:a"])])
    script = conversion.convert(path, options=Options(packages=False)).script
    assert "install_kfp_package=False," in script
    assert "        [],\n" in script
    spec, *_ = compile_yaml(script, tmp_path)
    shell = executor(spec, "a")["command"][2]  # what runs before the step's code
    assert "pip" not in shell
    assert "python3 -m kfp.dsl.executor_main" in shell


def test_metric_names_kfp_refuses_are_warned_about(notebook):
    path = notebook(
        [("_loss = 0.5\nacc = 1.0", ["step:a"]), ("_loss\nacc", ["pipeline-metrics"])]
    )
    findings = [f for f in conversion.analyze(path).findings if f.code == "metric-name"]
    assert [(f.name, f.severity) for f in findings] == [("_loss", "warning")]


# -- compiled YAML -------------------------------------------------------------

EVERY_SETTING = [
    ("import json", ["imports"]),
    ("N = 3", ["pipeline-parameters"]),
    (
        "x = list(range(N))",
        [
            "step:load",
            "limit:cpu:2",
            "limit:memory:4G",
            "limit:nvidia.com/gpu:1",
            "retry:3:backoff=30s:factor=2:max=1h",
            "timeout:600",
            "cache:disabled",
            "image:python:3.11-slim",
            "secret:db-creds:password:DB_PASSWORD",
            "label:team:ml",
            "annotation:example.com/owner:data team",
        ],
    ),
    ("%pip install requests\ny = sum(x)", ["step:total", "limit:amd.com/gpu:2"]),
]
METADATA = {
    "pipeline_name": "Every Setting",
    "base_image": "python:3.11",
    "volumes": [{"name": "team-data", "mount_point": "/data", "type": "pvc"}],
    "workspace": {"name": "shared-ws"},
    "timeout": 7200,
}


def compile_yaml(script_text: str, folder: Path) -> list[dict]:
    script = folder / "pipeline.py"
    script.write_text(script_text)
    out = folder / "pipeline.yaml"
    subprocess.run(
        [sys.executable, str(script), "--output", str(out)],
        check=True,
        capture_output=True,
        text=True,
        cwd=folder,
    )
    return list(yaml.safe_load_all(out.read_text()))


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> tuple[dict, dict, str]:
    from conftest import make_notebook

    folder = tmp_path_factory.mktemp("every")
    path = make_notebook(
        folder / "every.ipynb", EVERY_SETTING, kubeflow_notebook=METADATA
    )
    script = conversion.convert(path).script
    spec, platform = compile_yaml(script, folder)
    return spec, platform["platforms"]["kubernetes"], script


def executor(spec: dict, step: str) -> dict:
    return spec["deploymentSpec"]["executors"][f"exec-{step}"]["container"]


def test_the_script_with_every_setting_is_formatted(compiled, tmp_path: Path):
    script = tmp_path / "every_pipeline.py"
    script.write_text(compiled[2])
    assert ruff_problems(script) == ""


def ruff_problems(script: Path) -> str:
    problems = ""
    for command in (["check"], ["format", "--check"]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--isolated", str(script)],
            capture_output=True,
            text=True,
        )
        problems += done.stdout + done.stderr if done.returncode else ""
    return problems


def test_settings_with_long_values_stay_formatted(notebook, tmp_path: Path):
    tags = [
        "step:train_the_model",
        "image:registry.example.com:5000/team/" + "long-image-name/" * 4 + "img:v1",
        f"secret:{'s' * 100}:{'k' * 100}:{'E' * 100}",
        f"secret:db:{'k' * 50}:ENV_{'X' * 30}",
        f"label:{'p' * 60}.example.com/{'n' * 60}:{'v' * 63}",
        f"annotation:{'p' * 60}.example.com/{'n' * 60}:{'v' * 300}",
        "retry:12345:backoff=99999s:factor=12.5:max=99999h",
    ]
    metadata = {
        "volumes": [{"name": "p" * 100, "mount_point": "/" + "m" * 100, "type": "pvc"}],
        "workspace": {"name": "w" * 60, "mount_point": "/" + "q" * 90},
    }
    path = notebook(
        [("x = 1", tags), ("y = x", ["step:b"])], kubeflow_notebook=metadata
    )
    script = tmp_path / "long_pipeline.py"
    script.write_text(conversion.convert(path).script)
    assert ruff_problems(script) == ""


def test_list_and_dict_parameter_defaults_stay_formatted_and_compile(
    notebook, tmp_path: Path
):
    parameters = (
        "short = [1, 2]\n"
        "empty = {}\n"
        f"features = {['feature_number_' + str(i) for i in range(8)]!r}\n"
        "nested = {'model': {'layers': [64, 128, 256, 512, 1024, 2048, 4096, 8192],"
        f" 'name': 'a long model name: {'x' * 40}'}}, 'seeds': [[1, 2], [3, 4]]}}\n"
    )
    path = notebook(
        [
            (parameters, ["pipeline-parameters"]),
            ("n = len(short) + len(empty) + len(features) + len(nested)", ["step:a"]),
        ]
    )
    script = tmp_path / "defaults_pipeline.py"
    script.write_text(conversion.convert(path).script)
    assert ruff_problems(script) == ""
    spec = compile_yaml(script.read_text(), tmp_path)[0]
    defaults = {
        name: value["defaultValue"]
        for name, value in spec["root"]["inputDefinitions"]["parameters"].items()
    }
    assert defaults["features"] == [f"feature_number_{i}" for i in range(8)]
    assert defaults["nested"]["model"]["name"] == "a long model name: " + "x" * 40
    assert defaults["nested"]["seeds"] == [[1, 2], [3, 4]]
    assert defaults["empty"] == {}


def test_yaml_has_cpu_memory_and_accelerator(compiled):
    resources = executor(compiled[0], "load")["resources"]
    assert resources["resourceCpuRequest"] == resources["resourceCpuLimit"] == "2"
    assert (
        resources["resourceMemoryRequest"] == resources["resourceMemoryLimit"] == "4G"
    )
    assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert resources["accelerator"]["resourceCount"] == "1"
    other = executor(compiled[0], "total")["resources"]["accelerator"]
    assert (other["resourceType"], other["resourceCount"]) == ("amd.com/gpu", "2")


def test_kfp_makes_the_pipeline_name_one_kubernetes_accepts(compiled):
    assert compiled[0]["pipelineInfo"]["name"] == "every-setting"


def test_yaml_has_retry_and_caching(compiled):
    tasks = compiled[0]["root"]["dag"]["tasks"]
    assert tasks["load"]["retryPolicy"] == {
        "backoffDuration": "30s",
        "backoffFactor": 2.0,
        "backoffMaxDuration": "3600s",
        "maxRetryCount": 3,
    }
    assert not tasks["load"]["cachingOptions"].get("enableCache")
    assert tasks["total"]["cachingOptions"]["enableCache"] is True


def test_yaml_has_images_and_packages(compiled):
    load, total = executor(compiled[0], "load"), executor(compiled[0], "total")
    assert (load["image"], total["image"]) == ("python:3.11-slim", "python:3.11")
    from importlib.metadata import version

    installs = " ".join(total["command"])
    assert f"requests=={version('requests')}" in installs
    assert f"cloudpickle=={version('cloudpickle')}" in installs


def test_yaml_has_timeout_secret_labels_and_annotations(compiled):
    load = compiled[1]["deploymentSpec"]["executors"]["exec-load"]
    assert load["activeDeadlineSeconds"] == "600"
    assert load["secretAsEnv"][0]["secretName"] == "db-creds"
    assert load["secretAsEnv"][0]["keyToEnv"] == [
        {"envVar": "DB_PASSWORD", "secretKey": "password"}
    ]
    assert load["podMetadata"] == {
        "annotations": {"example.com/owner": "data team"},
        "labels": {"team": "ml"},
    }


def test_yaml_mounts_volumes_and_starts_steps_in_the_workspace(compiled):
    for step in ("load", "total"):
        mounts = compiled[1]["deploymentSpec"]["executors"][f"exec-{step}"]["pvcMount"]
        assert [(m["constant"], m["mountPath"]) for m in mounts] == [
            ("team-data", "/data"),
            ("shared-ws", "/workspace"),
        ]
        env = executor(compiled[0], step)["env"]
        assert env == [
            {"name": "PYTHONHASHSEED", "value": "0"},
            {"name": "NB2PIPE_WORKDIR", "value": "/workspace"},
        ]
    assert compiled[1]["pipelineConfig"] == {"activeDeadlineSeconds": 7200}


def test_kubernetes_is_imported_only_when_used(notebook):
    script = conversion.convert(notebook([("x = 1", ["step:a", "limit:cpu:1"])])).script
    assert "from kfp import dsl\n" in script
    assert "kubernetes" not in script


def test_the_kale_fixture_converts_with_its_settings(tmp_path: Path):
    """tests/fixtures/kale_settings.ipynb is saved as Kale's extension saves."""
    result = conversion.convert(FIXTURES / "kale_settings.ipynb")
    assert result.warnings == []
    spec, platform = compile_yaml(result.script, tmp_path)
    assert spec["pipelineInfo"]["name"] == "kale-settings"
    assert 'EXPERIMENT = "kale-settings"' in result.script
    assert executor(spec, "load")["resources"]["resourceMemoryLimit"] == "1Gi"
    assert executor(spec, "train")["image"] == "python:3.11-slim"
    assert executor(spec, "report")["image"] == "python:3.11"
    assert executor(spec, "train")["resources"]["accelerator"]["resourceCount"] == "1"
    assert spec["root"]["dag"]["tasks"]["train"]["retryPolicy"]["maxRetryCount"] == 2
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert executors["exec-train"]["activeDeadlineSeconds"] == "900"
    assert executors["exec-report"]["podMetadata"]["labels"] == {
        "stage": "report",
        "team": "data",
    }
    for name in ("load", "train", "report"):
        assert executors[f"exec-{name}"]["podMetadata"]["annotations"] == {
            "owner": "data-team"
        }
        assert (
            executors[f"exec-{name}"]["pvcMount"][0]["mountPath"] == "/home/jovyan/data"
        )


# -- local runs ----------------------------------------------------------------


@pytest.mark.slow
def test_a_notebook_with_settings_still_runs_locally(monkeypatch, tmp_path: Path):
    from conftest import make_notebook

    monkeypatch.chdir(tmp_path)
    result = invoke("run", str(FIXTURES / "kale_settings.ipynb"))
    assert result.exit_code == 0, result.output
    assert "pipeline 'kale-settings': 3 steps done" in result.stdout

    # Every setting, the workspace too: a local step stays in this folder.
    where = ("import os\nopen('cwd.txt', 'w').write(os.getcwd())", ["step:where"])
    cells = [*EVERY_SETTING, where]
    path = make_notebook(tmp_path / "every.ipynb", cells, kubeflow_notebook=METADATA)
    result = invoke("run", str(path))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cwd.txt").read_text() == str(tmp_path)


@pytest.mark.slow
def test_a_step_starts_in_the_workspace_the_cluster_mounts(
    notebook, monkeypatch, tmp_path: Path
):
    # On a cluster the task's environment names the mounted workspace; set it
    # here by hand, as the pod would, and the step writes its file there.
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    path = notebook(
        [
            ("from pathlib import Path", ["imports"]),
            ("Path('handoff.txt').write_text('from a')", ["step:a"]),
            ("assert Path('handoff.txt').read_text() == 'from a'", ["step:b"]),
        ]
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NB2PIPE_WORKDIR", str(workspace))
    result = invoke("run", str(path))
    assert result.exit_code == 0, result.output
    assert (workspace / "handoff.txt").read_text() == "from a"
    assert not (tmp_path / "handoff.txt").exists()


PARAMETER_CELLS = [
    ("import json", ["imports"]),
    (
        "TEXT = 'say \"hi\"\\\\n it\\'s a \\\\ path\\nsecond line'\n"
        "LAYERS = [16, 'x', [1.5, True]]\n"
        "CONFIG = {'lr': 0.1, 'nested': {'k': [1, 2]}, 'quote': '\"'}\n"
        "UNUSED = 1",
        ["pipeline-parameters"],
    ),
    (
        "with open('received.json', 'w') as f:\n"
        "    json.dump({'TEXT': TEXT, 'LAYERS': LAYERS, 'CONFIG': CONFIG}, f)",
        ["step:record"],
    ),
]


@pytest.mark.parametrize("value", ["[1, None]", "{1: 'a'}", "{'a': [1e999]}", "-1e999"])
def test_parameters_kfp_cannot_pass_intact_are_refused(notebook, value):
    path = notebook([(f"P = {value}", ["pipeline-parameters"]), ("x = P", ["step:a"])])
    findings = conversion.analyze(path).findings
    refused = [f for f in findings if f.code == "parameter-not-literal"]
    assert [(f.cell, f.name) for f in refused] == [(0, "P")]
    assert "would not survive KFP" in refused[0].message


@pytest.mark.slow
def test_parameters_arrive_intact_in_a_local_run(notebook, monkeypatch, tmp_path: Path):
    import json

    path = notebook(PARAMETER_CELLS)
    pipeline = conversion.analyze(path)
    assert pipeline.step("record").parameters == {"TEXT", "LAYERS", "CONFIG"}
    defaults = {p.name: p.default for p in pipeline.parameters}
    assert defaults["TEXT"] == 'say "hi"\\n it\'s a \\ path\nsecond line'
    monkeypatch.chdir(tmp_path)

    result = invoke("run", str(path))
    assert result.exit_code == 0, result.output
    received = json.loads((tmp_path / "received.json").read_text())
    assert received == {k: defaults[k] for k in ("TEXT", "LAYERS", "CONFIG")}

    given = {"TEXT": "a\\b \"c\" 'd'\ne", "LAYERS": [], "CONFIG": {"x": {"y": False}}}
    result = invoke(
        "run",
        str(path),
        "--param",
        f"TEXT={given['TEXT']}",
        "--param",
        "LAYERS=[]",
        "--param",
        'CONFIG={"x": {"y": false}}',
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "received.json").read_text()) == given


# -- packages: magics, IPython, and what a step receives -------------------------


CELLS_AB = [("a = [1]", ["step:a"]), ("b = len(a)", ["step:b"])]


def _pins(step) -> set[str]:
    return {pin.split("==")[0].lower() for pin in step.packages}


@pytest.mark.parametrize(
    "source",
    [
        "%matplotlib inline\nimport yaml",
        "!ls\nimport yaml",
        "%pip install requests\nimport yaml",
        "files = !ls\nimport yaml",
        "%%time\nimport yaml",
    ],
)
def test_imports_in_a_cell_with_magics_are_pinned(notebook, source):
    path = notebook([(source, ["step:a"])])
    step = conversion.analyze(path).step("a")
    assert "pyyaml" in _pins(step)


def test_a_step_that_runs_magics_pins_ipython(notebook):
    path = notebook(
        [
            ("x = 1", ["step:plain"]),
            ("%time y = x + 1", ["step:magic"]),
        ]
    )
    pipeline = conversion.analyze(path)
    assert "ipython" in _pins(pipeline.step("magic"))
    assert "ipython" not in _pins(pipeline.step("plain"))


def test_a_magic_in_the_prelude_pins_ipython_in_every_step(notebook):
    path = notebook([("%matplotlib inline\nimport json", ["imports"])] + CELLS_AB)
    pipeline = conversion.analyze(path)
    assert all("ipython" in _pins(step) for step in pipeline.steps)


def test_a_receiver_pins_what_its_producers_pin_transitively(notebook):
    path = notebook(
        [
            ("import yaml\ndoc = yaml.safe_load('x: 1')", ["step:make"]),
            ("import requests\nsame = doc", ["step:relay"]),
            ("n = len(same)", ["step:use"]),
            ("m = 1", ["step:alone"]),
        ]
    )
    pipeline = conversion.analyze(path)
    assert {"pyyaml", "requests"} <= _pins(pipeline.step("relay"))
    assert {"pyyaml", "requests"} <= _pins(pipeline.step("use"))
    assert _pins(pipeline.step("alone")) == {"cloudpickle"}


def test_a_receivers_own_requirement_wins_over_its_producers(notebook):
    path = notebook(
        [
            ("import yaml\ndoc = {}", ["step:make"]),
            ("%pip install 'pyyaml>=5'\nn = len(doc)", ["step:use"]),
        ]
    )
    packages = conversion.analyze(path).step("use").packages
    assert "pyyaml>=5" in packages
    assert not any(p.lower().startswith("pyyaml==") for p in packages)


def test_environment_variables_carry_no_packages(notebook):
    path = notebook(
        [
            ("import yaml\nimport os\nos.environ['A'] = '1'", ["step:make"]),
            ("import os\nprint(os.environ['A'])", ["step:use"]),
        ]
    )
    assert "pyyaml" not in _pins(conversion.analyze(path).step("use"))


def test_no_packages_stays_empty_with_inputs(notebook):
    path = notebook([("import yaml\na = 1", ["step:a"]), ("b = a", ["step:b"])])
    pipeline = conversion.analyze(path, options=Options(packages=False))
    assert [s.packages for s in pipeline.steps] == [[], []]


# -- settings in [tool.nb2pipe] and mistyped setting tags ------------------------


def test_a_mistyped_steps_default_suggests_the_setting(notebook):
    path = notebook(CELLS_AB, kubeflow_notebook={"steps_defaults": ["retyr:2"]})
    findings = conversion.analyze(path).findings
    [bad] = [f for f in findings if f.code == "bad-metadata"]
    assert "'retyr:2' is not a setting tag (did you mean `retry:2`?)" in bad.message
    assert "`secret:`" in bad.message
