"""Golden files: the script every sample and hard-case notebook converts to.

A difference is a change in what users get. When it is meant, rewrite the files
and review their diff like any other change:

    .venv/bin/python -m pytest tests/test_golden.py --regen-golden
    (or NB2PIPE_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py)

A notebook that nb2pipe refuses has no golden file; regenerating removes it.
"""

import difflib
import re
from pathlib import Path

import pytest

from kalelike import conversion, render
from kalelike.errors import FindingsError
from kalelike.packages import default_image
from tests.conftest import SAMPLES, needs_shared, shared_notebooks

GOLDEN = Path(__file__).parent / "golden"
# Pins and the default image follow the converting environment: the golden files
# hold placeholders, so a new numpy or another Python leaves them alone.
PIN = re.compile(r'"([A-Za-z0-9][A-Za-z0-9._-]*(?:\[[A-Za-z0-9_,.-]+\])?)==[^"\s]+"')


def normalized(script: str) -> str:
    script = PIN.sub(r'"\1==VERSION"', script)
    return script.replace(f'"{default_image()}"', '"python:DEFAULT"')


def check(path: Path, regen: bool) -> None:
    golden = GOLDEN / render.script_name(path)
    try:
        script = normalized(conversion.convert(path).script)
    except FindingsError:
        if regen:
            golden.unlink(missing_ok=True)
        assert regen or not golden.exists(), f"{path.name} is refused now"
        return
    if regen:
        GOLDEN.mkdir(exist_ok=True)
        golden.write_text(script, encoding="utf-8")
        return
    assert golden.exists(), f"no {golden.name}: run with --regen-golden"
    expected = golden.read_text(encoding="utf-8")
    if script != expected:
        diff = difflib.unified_diff(
            expected.splitlines(True), script.splitlines(True), "golden", "now"
        )
        pytest.fail("".join(list(diff)[:80]) + "\n(--regen-golden if intended)")


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.ipynb")), ids=lambda p: p.stem)
def test_sample_notebook_script_matches_its_golden_file(path, regen_golden):
    check(path, regen_golden)


@needs_shared
@pytest.mark.parametrize("path", shared_notebooks(), ids=lambda p: p.stem)
def test_hard_case_script_matches_its_golden_file(path, regen_golden):
    check(path, regen_golden)


@needs_shared
def test_every_golden_file_belongs_to_a_notebook():
    names = {
        render.script_name(p) for p in [*SAMPLES.glob("*.ipynb"), *shared_notebooks()]
    }
    orphans = sorted(p.name for p in GOLDEN.glob("*.py") if p.name not in names)
    assert not orphans, f"delete {orphans}: no notebook makes them"
