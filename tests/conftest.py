"""Shared fixtures: notebook builders and the shared hard-case folder."""

import os
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_notebooks"
SHARED = ROOT.parent / "shared" / "notebooks"


def make_notebook(path: Path, cells: list[tuple[str, list[str]]], **metadata) -> Path:
    """Write a notebook of code cells, each given as (source, tags)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata.update(
        {
            "kernelspec": {
                "name": "python3",
                "language": "python",
                "display_name": "Python 3",
            }
        }
    )
    nb.metadata.update(metadata)
    for i, (source, tags) in enumerate(cells):
        cell = nbformat.v4.new_code_cell(
            source, metadata={"tags": tags} if tags else {}
        )
        cell.id = f"cell-{i}"
        nb.cells.append(cell)
    nbformat.write(nb, path)
    return path


@pytest.fixture
def notebook(tmp_path: Path):
    def build(
        cells: list[tuple[str, list[str]]], name: str = "nb.ipynb", **metadata
    ) -> Path:
        return make_notebook(tmp_path / name, cells, **metadata)

    return build


def shared_notebooks() -> list[Path]:
    return sorted(SHARED.glob("*.ipynb")) if SHARED.is_dir() else []


needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason="../shared/notebooks is not beside this checkout"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--regen-golden",
        action="store_true",
        help="rewrite tests/golden/ from the output (or NB2PIPE_REGEN_GOLDEN=1)",
    )


@pytest.fixture
def regen_golden(request: pytest.FixtureRequest) -> bool:
    """Whether golden-file tests rewrite their files instead of comparing."""
    flag = request.config.getoption("--regen-golden")
    return bool(flag) or os.environ.get("NB2PIPE_REGEN_GOLDEN") == "1"
