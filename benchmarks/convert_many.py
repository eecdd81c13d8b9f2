"""Target: `nb2pipe convert DIR` on a folder of 200 notebooks takes at most 8 times
as long as converting one of them.

The folder holds 200 variants of the typical notebook of `convert_one.py`. One
call converts the folder into a fresh output folder; a single conversion of one of
its notebooks is the unit. Both run as fresh processes, in turns.
"""

import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import common

TARGET = 8.0
NOTEBOOKS = 200
REPEAT = 3


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="nb2pipe-bench-") as name:
        cwd = Path(name)
        folder = cwd / "notebooks"
        folder.mkdir()
        for seed in range(NOTEBOOKS):
            common.write_notebook(
                folder / f"churn_{seed:03}.ipynb", common.typical_cells(seed=seed)
            )
        one = [common.NB2PIPE, "convert", "notebooks/churn_000.ipynb", "-o", "one.py"]
        many = [common.NB2PIPE, "convert", "notebooks", "--output-dir", "out"]
        singles, batches = [], []
        common.run(one, cwd)  # writes bytecode, fills the disk cache
        for _ in range(REPEAT):
            shutil.rmtree(cwd / "out", ignore_errors=True)
            batches.append(common.run(many, cwd))
            singles.append(common.run(one, cwd))
            written = len(list((cwd / "out").glob("*.py")))
        assert written == NOTEBOOKS, f"{written} scripts written"
    single, batch = statistics.median(singles), statistics.median(batches)
    print(f"{NOTEBOOKS} notebooks in one call, medians of {REPEAT} runs")
    print(f"  one notebook      {single:.2f} s")
    print(
        f"  {NOTEBOOKS} notebooks     {batch:.2f} s "
        f"({batch / NOTEBOOKS * 1000:.0f} ms a notebook)"
    )
    common.verdict(f"{NOTEBOOKS} notebooks / one", batch / single, TARGET)


if __name__ == "__main__":
    sys.exit(main())
