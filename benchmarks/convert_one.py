"""Target: `nb2pipe convert` of a typical notebook costs at most 1.5 times what
reading it with nbformat costs (`python -c "import nbformat; nbformat.read(...)"`).

Both run as fresh processes on the same notebook (`common.typical_cells`: 40 cells,
eight steps, a 25 KB plot after each), in turns, and the medians are compared.
"""

import sys
import tempfile
from pathlib import Path

import common

TARGET = 1.5
REPEAT = 15


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="nb2pipe-bench-") as folder:
        cwd = Path(folder)
        cells = common.typical_cells()
        nb = common.write_notebook(cwd / "churn.ipynb", cells)
        size = nb.stat().st_size
        read = f"import nbformat; nbformat.read({nb.name!r}, as_version=4)"
        times = common.medians(
            {
                "nbformat.read": [common.PYTHON, "-c", read],
                "nb2pipe convert": [common.NB2PIPE, "convert", nb.name, "-o", "out.py"],
            },
            cwd,
            REPEAT,
        )
    print(
        f"notebook: {len(cells)} cells, {size // 1000} KB; {REPEAT} runs each, medians"
    )
    for name, seconds in times.items():
        print(f"  {name:16} {seconds:.3f} s")
    common.verdict(
        "convert / nbformat.read",
        times["nb2pipe convert"] / times["nbformat.read"],
        TARGET,
    )


if __name__ == "__main__":
    sys.exit(main())
