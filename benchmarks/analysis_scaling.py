"""Target: the analysis scales linearly: a notebook with ten times the code takes
at most twelve times as long to analyse.

Generated notebooks (see `common.generated_cells`) are analysed in this process
(`kalelike.conversion.analyze`: read, cells and tags, data flow, packages) after
one unmeasured run, which pays the once-a-process costs. They take turns, and
each time is the best of nine, the least disturbed by other work on the machine.
Ten times the code comes two ways: ten times the steps and cells, and cells ten
times as long.
"""

import sys
import tempfile
import time
from pathlib import Path

import common

from kalelike.conversion import analyze

TARGET = 12.0
REPEAT = 9
BASE = {"steps": 10, "blocks": 2}  # 31 cells, about 900 lines


def best_times(paths: dict[str, Path]) -> dict[str, float]:
    """Each notebook's best analysis time, the notebooks taking turns."""
    times: dict[str, list[float]] = {label: [] for label in paths}
    for path in paths.values():
        analyze(path)
    for _ in range(REPEAT):
        for label, path in paths.items():
            start = time.perf_counter()
            analyze(path)
            times[label].append(time.perf_counter() - start)
    return {label: min(values) for label, values in times.items()}


def main() -> None:
    cases = {
        "base": BASE,
        "10x steps": {**BASE, "steps": BASE["steps"] * 10},
        "10x longer cells": {**BASE, "blocks": BASE["blocks"] * 10},
    }
    with tempfile.TemporaryDirectory(prefix="nb2pipe-bench-") as name:
        paths, sizes = {}, {}
        for label, shape in cases.items():
            cells = common.generated_cells(**shape)
            paths[label] = common.write_notebook(
                Path(name) / f"{len(paths)}.ipynb", cells
            )
            sizes[label] = len(cells), sum(len(c["source"]) for c in cells)
        times = best_times(paths)
    for label, (cells, lines) in sizes.items():
        print(
            f"  {label:17} {cells:4} cells {lines:6} lines "
            f"{times[label] * 1000:7.1f} ms"
        )
    for label in ("10x steps", "10x longer cells"):
        common.verdict(
            f"analysis time, {label} / base", times[label] / times["base"], TARGET
        )


if __name__ == "__main__":
    sys.exit(main())
