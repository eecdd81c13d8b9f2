"""`nb2pipe convert` as CI and pre-commit call it: many notebooks, --check, --diff,
--output-dir, --yaml, and the hooks in .pre-commit-hooks.yaml."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kalelike import batch
from kalelike.cli import main
from kalelike.errors import EXIT_CODES
from tests.conftest import ROOT, SAMPLES, make_notebook

CELLS = [
    ("import json", ["imports"]),
    ("N = 3", ["pipeline-parameters"]),
    ("data = list(range(N))", ["step:load"]),
    ("total = sum(data)", ["step:total"]),
]
REFUSED = [("x = missing", ["step:a"])]
BIN = Path(sys.executable).parent


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Notebooks in nested folders, with a Jupyter checkpoint copy to ignore."""
    make_notebook(tmp_path / "a.ipynb", CELLS)
    (tmp_path / "deep" / "er").mkdir(parents=True)
    make_notebook(tmp_path / "deep" / "b.ipynb", CELLS)
    make_notebook(tmp_path / "deep" / "er" / "c.ipynb", CELLS)
    (tmp_path / "deep" / ".ipynb_checkpoints").mkdir()
    make_notebook(
        tmp_path / "deep" / ".ipynb_checkpoints" / "b-checkpoint.ipynb", CELLS
    )
    return tmp_path


def test_folders_are_searched_and_each_script_lands_beside_its_notebook(project):
    result = invoke("convert", project / "deep", project / "a.ipynb")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    written = sorted(p.relative_to(project) for p in project.rglob("*_pipeline.py"))
    assert [str(p) for p in written] == [
        "a_pipeline.py",
        "deep/b_pipeline.py",
        "deep/er/c_pipeline.py",
    ]
    assert "checkpoint" not in result.stderr


def test_output_dir_holds_every_script(project, tmp_path):
    out = tmp_path / "out"
    result = invoke("convert", project, "--output-dir", out)
    assert result.exit_code == 0, result.output
    assert sorted(tree(out)) == ["a_pipeline.py", "b_pipeline.py", "c_pipeline.py"]
    assert not list((project / "deep").glob("*_pipeline.py"))


def test_two_notebooks_of_one_name_into_one_folder_is_a_usage_error(tmp_path):
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        make_notebook(tmp_path / folder / "nb.ipynb", CELLS)
    result = invoke("convert", tmp_path, "--output-dir", tmp_path / "out")
    assert result.exit_code == 2
    assert "would both write" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-o", "out.py"], "-o/--output takes one notebook, not 3"),
        (["-o", "-"], "-o/--output takes one notebook"),
    ],
)
def test_dash_o_is_for_one_notebook_only(project, extra, message):
    result = invoke("convert", project, *extra)
    assert result.exit_code == 2
    assert message in result.stderr


@pytest.mark.parametrize("mode", ["--check", "--diff"])
def test_check_and_diff_need_files_not_stdout(project, mode):
    result = invoke("convert", mode, project / "a.ipynb", "-o", "-")
    assert result.exit_code == 2
    assert f"{mode} compares files on disk" in result.stderr
    assert result.stdout == ""


def test_dash_o_and_output_dir_exclude_each_other(project):
    result = invoke("convert", project / "a.ipynb", "-o", "x.py", "--output-dir", "d")
    assert result.exit_code == 2
    assert "exclude each other" in result.stderr


def test_a_missing_path_is_a_usage_error(tmp_path):
    result = invoke("convert", tmp_path / "nope.ipynb")
    assert result.exit_code == 2
    assert "nope.ipynb: no such file or folder" in result.stderr


def test_each_notebook_reports_and_the_exit_code_is_the_worst(tmp_path):
    good = make_notebook(tmp_path / "good.ipynb", CELLS)
    refused = make_notebook(tmp_path / "refused.ipynb", REFUSED)
    result = invoke("convert", good, refused)
    assert result.exit_code == 1
    assert f"{refused}:cell 1:1:5: error: 'missing'" in result.stderr
    assert good.with_name("good_pipeline.py").exists()
    assert not refused.with_name("refused_pipeline.py").exists()

    (tmp_path / "broken.ipynb").write_text("{not json")
    result = invoke("convert", good, refused, tmp_path / "broken.ipynb")
    assert result.exit_code == 2
    assert "broken.ipynb: not valid JSON" in result.stderr
    assert "'missing'" in result.stderr


def test_an_unchanged_script_is_not_rewritten(tmp_path):
    path = make_notebook(tmp_path / "nb.ipynb", CELLS)
    assert invoke("convert", path).exit_code == 0
    script = path.with_name("nb_pipeline.py")
    os.utime(script, (1, 1))
    result = invoke("convert", path)
    assert result.exit_code == 0
    assert script.stat().st_mtime == 1
    assert f"{script} is current" in result.stderr


def test_check_passes_when_every_script_is_current_and_writes_nothing(project):
    assert invoke("convert", project).exit_code == 0
    before = tree(project)
    result = invoke("convert", "--check", project)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "0 of 3 files stale or missing" in result.stderr
    assert tree(project) == before


def test_check_lists_stale_and_missing_scripts_with_diffs(project):
    assert invoke("convert", project).exit_code == 0
    stale = project / "a_pipeline.py"
    stale.write_text(stale.read_text().replace("data = list(range(N))", "data = []"))
    missing = project / "deep" / "b_pipeline.py"
    missing.unlink()
    before = tree(project)

    result = invoke("convert", "--check", project)

    assert result.exit_code == 1
    assert tree(project) == before
    assert f"{stale} is stale (from {project / 'a.ipynb'})" in result.stderr
    assert f"{missing} is missing" in result.stderr
    assert "2 of 3 files stale or missing" in result.stderr
    assert f"--- {stale} (on disk)\n+++ {stale} (from the notebook)\n" in result.stdout
    assert "\n-data = []\n+data = list(range(N))\n" in result.stdout
    assert f"--- {missing} (missing)" in result.stdout


def test_diff_alone_prints_the_diff_without_failing(project):
    result = invoke("convert", "--diff", project / "a.ipynb")
    assert result.exit_code == 0
    assert "+++ " in result.stdout and "+data = list(range(N))" in result.stdout
    assert not (project / "a_pipeline.py").exists()


def test_fail_on_change_writes_and_fails_only_when_a_file_changed(tmp_path):
    path = make_notebook(tmp_path / "nb.ipynb", CELLS)
    first = invoke("convert", "--fail-on-change", path)
    assert first.exit_code == 1
    assert path.with_name("nb_pipeline.py").exists()
    assert "1 of 1 files were stale or missing and are written now" in first.stderr
    assert invoke("convert", "--fail-on-change", path).exit_code == 0


def test_check_of_a_refused_notebook_fails_with_its_findings(tmp_path):
    path = make_notebook(tmp_path / "nb.ipynb", REFUSED)
    result = invoke("convert", "--check", path)
    assert result.exit_code == 1
    assert "'missing' is used here" in result.stderr


def test_many_notebooks_convert_in_worker_processes_to_the_same_bytes(tmp_path):
    paths = [make_notebook(tmp_path / f"nb{i}.ipynb", CELLS) for i in range(6)]
    jobs = batch.plan(paths, output_dir=tmp_path / "out")
    assert len(jobs) > batch.HANDFUL
    in_workers = [o.script for o in batch.convert_all(jobs)]
    here = [batch.convert_one(job).script for job in jobs]
    assert in_workers == here and all(here)


def test_converting_many_notebooks_never_imports_kfp(tmp_path):
    for i in range(batch.HANDFUL + 2):
        make_notebook(tmp_path / f"nb{i}.ipynb", CELLS)
    code = (
        "import sys; from kalelike.cli import main\n"
        "try:\n    main(['convert', sys.argv[1]])\n"
        "except SystemExit as e:\n    assert e.code == 0, e.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'kfp'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"
    assert len(list(tmp_path.glob("*_pipeline.py"))) == batch.HANDFUL + 2


def test_exit_codes_are_documented_in_help_and_readme():
    help_text = invoke("convert", "--help").stdout
    words = " ".join(help_text.split())
    readme = (ROOT / "README.md").read_text()
    for code, meaning in EXIT_CODES.items():
        assert f"{code} {meaning}" in words
        assert re.search(rf"^\| {code} \|", readme, re.MULTILINE), code
    assert "--check" in help_text and "--diff" in help_text


# -- pre-commit -------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    )
    return done.stdout


def run_hook(repo: Path, hook_id: str) -> subprocess.CompletedProcess[str]:
    """Run a hook as pre-commit does: its entry, then the staged files it matches."""
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == hook_id)
    staged = git(repo, "diff", "--cached", "--name-only").split()
    files = [
        f
        for f in staged
        if re.search(hook["files"], f) and not re.search(hook["exclude"], f)
    ]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [*shlex.split(hook["entry"]), *files],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_pre_commit_hooks_regenerate_and_check_scripts(tmp_path):
    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    git(repo, "init", "-q")
    notebook = repo / "notebooks" / "kale_example.ipynb"
    shutil.copy(SAMPLES / "kale_example.ipynb", notebook)
    (repo / "notebooks" / ".ipynb_checkpoints").mkdir()
    shutil.copy(notebook, repo / "notebooks" / ".ipynb_checkpoints" / "a.ipynb")
    (repo / "README.md").write_text("a file the hooks must not receive\n")
    git(repo, "add", "-A")

    check = run_hook(repo, "nb2pipe-check")
    assert check.returncode == 1
    assert "notebooks/kale_example_pipeline.py is missing" in check.stderr

    # pre-commit misses a new file, so the hook fails itself when it writes one.
    convert = run_hook(repo, "nb2pipe-convert")
    assert convert.returncode == 1, convert.stderr
    assert "wrote notebooks/kale_example_pipeline.py" in convert.stderr
    assert git(repo, "status", "--short", "--untracked-files=all").split() == [
        "A", "README.md",
        "A", "notebooks/.ipynb_checkpoints/a.ipynb",
        "A", "notebooks/kale_example.ipynb",
        "??", "notebooks/kale_example_pipeline.py",
    ]  # fmt: skip
    git(repo, "add", "-A")
    assert run_hook(repo, "nb2pipe-convert").returncode == 0
    assert run_hook(repo, "nb2pipe-check").returncode == 0

    text = notebook.read_text().replace(
        "print(X.shape, np.bincount(y))", "print(X.shape)"
    )
    notebook.write_text(text)
    git(repo, "add", "-A")
    stale = run_hook(repo, "nb2pipe-check")
    assert stale.returncode == 1
    assert "kale_example_pipeline.py is stale" in stale.stderr
    changed = [line for line in stale.stdout.splitlines() if line[:1] in "+-"]
    assert changed[2:] == ["-print(X.shape, np.bincount(y))", "+print(X.shape)"]
