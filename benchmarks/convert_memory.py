"""Target: converting a 100 MB notebook (large image outputs) peaks at no more than
2.5 times the file's size in resident memory.

The notebook is the typical one of `convert_one.py` with a 12 MB plot after each
step. Peak memory is the kernel's count for the `nb2pipe convert` process. For
comparison: the same conversion of the notebook without its plots, and reading
the large one with nbformat.
"""

import sys
import tempfile
from pathlib import Path

import common

TARGET = 2.5
PLOT = 12_500_000  # bytes of base64 per plot; eight plots


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="nb2pipe-bench-") as name:
        cwd = Path(name)
        big = common.write_notebook(
            cwd / "big.ipynb", common.typical_cells(image_size=PLOT)
        )
        small = common.write_notebook(
            cwd / "small.ipynb", common.typical_cells(image_size=0)
        )
        size = big.stat().st_size
        convert = [common.NB2PIPE, "convert", "-o", "out.py"]
        read = "import nbformat, sys; nbformat.read(sys.argv[1], as_version=4)"
        peaks = {
            "nb2pipe convert, 100 MB notebook": common.peak_rss(
                convert + [big.name], cwd
            ),
            "nb2pipe convert, same without plots": common.peak_rss(
                convert + [small.name], cwd
            ),
            "nbformat.read, 100 MB notebook": common.peak_rss(
                [common.PYTHON, "-c", read, big.name], cwd
            ),
        }
    print(f"notebook: {size / common.MB:.0f} MB")
    for label, peak in peaks.items():
        print(f"  {label:36} peak {peak / common.MB:5.0f} MB")
    common.verdict(
        "convert peak memory / file size",
        peaks["nb2pipe convert, 100 MB notebook"] / size,
        TARGET,
    )


if __name__ == "__main__":
    sys.exit(main())
