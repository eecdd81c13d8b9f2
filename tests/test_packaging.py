"""A non-editable install carries the templates inside the package."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLES

pytestmark = pytest.mark.slow


def test_a_built_wheel_converts_with_its_own_templates(tmp_path: Path):
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
    for name in ("kalelike", "templates"):
        shutil.copytree(
            ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "-w", tmp_path / "dist", source], check=True
    )
    (wheel,) = (tmp_path / "dist").glob("nb2pipe-*.whl")
    shipped = zipfile.ZipFile(wheel).namelist()
    assert "kalelike/templates/pipeline.py.j2" in shipped
    assert "kalelike/templates/step_runtime.py" in shipped

    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", site, wheel], check=True)
    shutil.rmtree(source)  # nothing may come from the source tree
    notebook = shutil.copy(SAMPLES / "kale_example.ipynb", tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, kalelike, kalelike.cli;"
            "print(kalelike.__file__, file=sys.stderr);"
            "kalelike.cli.main(['convert', sys.argv[1], '-o', '-'])",
            notebook,
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith(str(site)), done.stderr
    assert "def build_pipeline(" in done.stdout
