"""`[tool.nb2pipe]` in pyproject.toml, and which layer wins: a flag given, then the
notebook's metadata, then the project, then the built-in default."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from kalelike import config, settings
from kalelike.cli import main
from kalelike.conversion import analyze
from kalelike.packages import default_image
from tests.conftest import make_notebook

CELLS = [("N = 3", ["pipeline-parameters"]), ("data = list(range(N))", ["step:load"])]


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def pyproject(folder: Path, table: str) -> Path:
    path = folder / "pyproject.toml"
    path.write_text(f'[project]\nname = "demo"\n\n[tool.nb2pipe]\n{table}\n')
    config.load.cache_clear()
    return path


def base_image(script: Path) -> str:
    line = next(
        x for x in script.read_text().splitlines() if x.startswith("BASE_IMAGE")
    )
    return line.split(" = ")[1].strip('"')


def test_layers_win_most_specific_first():
    merged = config.layered(
        {"a": "flag"},
        {"a": "metadata", "b": "metadata"},
        {"a": "project", "b": "project", "c": "project"},
    )
    assert merged == {"a": "flag", "b": "metadata", "c": "project"}


@pytest.mark.parametrize(
    ("flag", "metadata", "project", "expected"),
    [
        (None, None, None, default_image()),
        (None, None, "project:1", "project:1"),
        (None, "metadata:1", "project:1", "metadata:1"),
        ("flag:1", "metadata:1", "project:1", "flag:1"),
        ("flag:1", None, None, "flag:1"),
    ],
)
def test_base_image_precedence_on_the_command_line(
    tmp_path, flag, metadata, project, expected
):
    if project:
        pyproject(tmp_path, f'base_image = "{project}"')
    meta = {"kubeflow_notebook": {"base_image": metadata}} if metadata else {}
    path = make_notebook(tmp_path / "nb.ipynb", CELLS, **meta)
    result = invoke("convert", path, *(["--base-image", flag] if flag else []))
    assert result.exit_code == 0, result.output
    assert base_image(tmp_path / "nb_pipeline.py") == expected


def test_a_flag_left_at_its_default_is_not_given(tmp_path, monkeypatch):
    """`--base-image` defaults to "", which must not hide the project's image."""
    pyproject(tmp_path, 'base_image = "project:1"')
    path = make_notebook(tmp_path / "nb.ipynb", CELLS)
    monkeypatch.chdir(tmp_path)
    assert invoke("convert", path.name).exit_code == 0
    assert base_image(tmp_path / "nb_pipeline.py") == "project:1"


def test_project_defaults_sit_under_the_notebook_metadata(tmp_path):
    pyproject(tmp_path, "enable_caching = false\ntimeout = 600")
    plain = make_notebook(tmp_path / "plain.ipynb", CELLS)
    own = make_notebook(
        tmp_path / "own.ipynb", CELLS, kubeflow_notebook={"enable_caching": True}
    )
    assert analyze(plain).settings.enable_caching is False
    assert analyze(own).settings.enable_caching is True
    assert analyze(own).settings.timeout == 600


def test_every_project_default_is_a_setting_the_metadata_reader_knows():
    assert set(config.NOTEBOOK_DEFAULTS) <= set(settings._READERS)


def test_the_nearest_pyproject_above_the_notebook_is_used(tmp_path):
    pyproject(tmp_path, 'base_image = "outer:1"')
    inner = tmp_path / "sub"
    inner.mkdir()
    (inner / "pyproject.toml").write_text('[project]\nname = "inner"\n')
    path = make_notebook(inner / "nb.ipynb", CELLS)
    assert config.for_notebook(path).path == inner / "pyproject.toml"
    assert analyze(path).base_image == default_image()


def test_output_dir_is_relative_to_the_pyproject_and_a_flag_beats_it(tmp_path):
    pyproject(tmp_path, 'output_dir = "pipelines"')
    (tmp_path / "notebooks").mkdir()
    path = make_notebook(tmp_path / "notebooks" / "nb.ipynb", CELLS)
    assert invoke("convert", path).exit_code == 0
    assert (tmp_path / "pipelines" / "nb_pipeline.py").exists()
    assert invoke("convert", path, "--output-dir", tmp_path / "flag").exit_code == 0
    assert (tmp_path / "flag" / "nb_pipeline.py").exists()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('base-image = "x:1"', "unknown key 'base-image'; did you mean 'base_image'?"),
        ('pipeline_name = "x"', "unknown key 'pipeline_name'"),
        ("base_image = 3", "base_image = 3 is not a string"),
        ('enable_caching = "no"', "enable_caching = 'no' is not true or false"),
        ("timeout = true", "timeout = True is not a whole number"),
        ('base_image = "not an image!"', "not an image reference"),
        ("base_image = ", "not valid TOML"),
    ],
)
def test_a_mistake_in_the_table_is_a_usage_error_naming_the_file(
    tmp_path, table, message
):
    toml = pyproject(tmp_path, table)
    path = make_notebook(tmp_path / "nb.ipynb", CELLS)
    result = invoke("convert", path)
    assert result.exit_code == 2
    assert message in result.stderr
    assert str(toml) in result.stderr or "[tool.nb2pipe]" in result.stderr
    assert not (tmp_path / "nb_pipeline.py").exists()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            'steps_defaults = ["retry:two"]',
            "[tool.nb2pipe] steps_defaults: tag 'retry:two': 'two' is not a number "
            "of retries; accepted: `retry:N`",
        ),
        (
            'steps_defaults = ["cahce:disabled"]',
            "[tool.nb2pipe] steps_defaults: 'cahce:disabled' is not a setting tag "
            "(did you mean `cache:disabled`?)",
        ),
        (
            'workspace = {name = "Bad_PVC"}',
            "[tool.nb2pipe] workspace: 'Bad_PVC' is not the name of a "
            "PersistentVolumeClaim",
        ),
        (
            'volumes = [{name = "data", mount_point = "data"}]',
            "[tool.nb2pipe] volumes[0]: mount point 'data' is not an absolute path",
        ),
        ('kfp_host = "cluster"', "[tool.nb2pipe] kfp_host: 'cluster' is not an http"),
        ("timeout = -1", "[tool.nb2pipe] timeout: -1 is not a whole number"),
    ],
)
def test_a_bad_setting_value_in_the_table_names_the_file_and_key(
    tmp_path, table, message
):
    toml = pyproject(tmp_path, table)
    path = make_notebook(tmp_path / "nb.ipynb", CELLS)
    result = invoke("convert", path)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"nb2pipe: {toml}: ")
    assert message in result.stderr
    assert "kubeflow_notebook" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "nb_pipeline.py").exists()


def test_good_setting_values_in_the_table_still_apply(tmp_path):
    pyproject(
        tmp_path,
        'steps_defaults = ["retry:2", "cache:disabled"]\n'
        'workspace = {name = "shared-pvc"}',
    )
    path = make_notebook(tmp_path / "nb.ipynb", CELLS)
    pipeline = analyze(path)
    assert pipeline.steps[0].settings.retry == settings.Retry(2)
    assert pipeline.settings.workspace == settings.Volume("shared-pvc", "/workspace")
