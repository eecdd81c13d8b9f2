"""`nb2pipe verify` against the notebook's own top-to-bottom run."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLES, needs_shared, shared_notebooks

from kalelike.verify import same

NB2PIPE = [sys.executable, "-m", "kalelike.cli"]


def verify(path: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    shutil.copy(path, cwd)
    return subprocess.run(
        [*NB2PIPE, "verify", path.name], cwd=cwd, capture_output=True, text=True
    )


def valid_cases() -> list[Path]:
    import json

    return [
        path
        for path in shared_notebooks()
        if json.loads(path.with_suffix(".expect.json").read_text()).get(
            "valid_pipeline"
        )
    ]


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.ipynb")), ids=lambda p: p.stem)
def test_verify_passes_on_every_sample(path: Path, tmp_path: Path):
    result = verify(path, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "DIFFERS" not in result.stdout
    assert "result.json" in result.stdout


@needs_shared
@pytest.mark.slow
@pytest.mark.parametrize("path", valid_cases(), ids=lambda p: p.stem)
def test_verify_passes_on_every_valid_hard_case(path: Path, tmp_path: Path):
    result = verify(path, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_verify_reports_a_difference(notebook, tmp_path: Path):
    # A `skip` cell runs in the notebook but not in the pipeline.
    path = notebook(
        [
            ("import json", ["imports"]),
            ("items = [1, 2]", ["step:make"]),
            ("items.append(3)", ["skip"]),
            ("json.dump(items, open('out.json', 'w'))", ["step:save"]),
        ]
    )
    work = tmp_path / "work"
    work.mkdir()
    result = verify(path, work)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("out.json") and "DIFFERS" in line for line in lines)
    assert any(line.startswith("items") and "equal" in line for line in lines)


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        ([1, {"a": 2.0}], [1, {"a": 2.0}], True),
        ([1, 2], [1, 3], False),
        (float("nan"), float("nan"), True),
        ((1, 2), [1, 2], False),
    ],
)
def test_same_compares_plain_values(a, b, equal):
    assert same(a, b) is equal


def test_same_compares_arrays_frames_and_objects():
    import numpy as np
    import pandas as pd

    class Box:
        def __init__(self, label):
            self.label = label

    assert same(np.array([1.0, np.nan]), np.array([1.0, np.nan]))
    assert not same(np.array([1, 2]), np.array([1, 3]))
    assert same(pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [1]}))
    assert not same(pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [2]}))
    assert same(Box("x"), Box("x")) and not same(Box("x"), Box("y"))
