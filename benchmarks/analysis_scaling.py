"""Target: the analysis scales linearly: a notebook with ten times the code takes
at most twelve times as long to analyse.

Generated notebooks (see `common.generated_cells`) are analysed in this process
(`kalelike.conversion.analyze`: read, cells and tags, data flow, packages) after
one unmeasured run, which pays the once-a-process costs. Ten times the code comes
two ways: ten times the steps and cells, and cells ten times as long.
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

import common

from kalelike.conversion import analyze

TARGET = 12.0
REPEAT = 7
BASE = {"steps": 10, "blocks": 2}  # 31 cells, about 900 lines


def seconds(path: Path) -> float:
    analyze(path)
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        analyze(path)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    cases = {
        "base": BASE,
        "10x steps": {**BASE, "steps": BASE["steps"] * 10},
        "10x longer cells": {**BASE, "blocks": BASE["blocks"] * 10},
    }
    with tempfile.TemporaryDirectory(prefix="nb2pipe-bench-") as name:
        times = {}
        for label, shape in cases.items():
            cells = common.generated_cells(**shape)
            path = common.write_notebook(Path(name) / f"{len(times)}.ipynb", cells)
            lines = sum(len(c["source"]) for c in cells)
            times[label] = seconds(path)
            print(
                f"  {label:17} {len(cells):4} cells {lines:6} lines "
                f"{times[label] * 1000:7.1f} ms"
            )
    for label in ("10x steps", "10x longer cells"):
        common.verdict(
            f"analysis time, {label} / base", times[label] / times["base"], TARGET
        )


if __name__ == "__main__":
    sys.exit(main())
