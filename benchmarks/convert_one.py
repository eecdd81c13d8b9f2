"""Target: `nb2pipe convert` of a typical notebook costs at most 1.5 times what
reading it with nbformat costs (`python -c "import nbformat; nbformat.read(...)"`).

Both run as fresh processes on the same 45-cell notebook, in turns, and the
medians are compared.
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
        read = f"import nbformat; nbformat.read({nb.name!r}, as_version=4)"
        times = common.medians(
            {
                "nbformat.read": [common.PYTHON, "-c", read],
                "nb2pipe convert": [common.NB2PIPE, "convert", nb.name, "-o", "out.py"],
            },
            cwd,
            REPEAT,
        )
    size = nb.stat().st_size if nb.exists() else 0
    print(f"notebook: {len(cells)} cells, {REPEAT} runs each, medians")
    for name, seconds in times.items():
        print(f"  {name:16} {seconds:.3f} s")
    del size
    common.verdict(
        "convert / nbformat.read",
        times["nb2pipe convert"] / times["nbformat.read"],
        TARGET,
    )


if __name__ == "__main__":
    sys.exit(main())
