"""Target: the analysis scales linearly: a notebook with ten times the code takes
at most twelve times as long to analyse.

Generated notebooks (see `common.generated_cells`) are analysed in this process
(`kalelike.conversion.analyze`: read, cells and tags, data flow, packages) after
one unmeasured run, which pays the once-a-process costs. They take turns, and
each time is the best of nine, the least disturbed by other work on the machine.
Ten times the code comes two ways: ten times the steps and cells, and cells ten
times as long. At a larger scale, 5,000 cells against 500: a chain of one-cell
steps, each reading the one before, and 1,666 steps of generated code that all
change one shared dict (the shapes that made step ancestors and producer checks
quadratic). The peak memory of analysing the 5,000-cell notebooks is shown too.
"""

import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import common

from kalelike.conversion import analyze

TARGET = 12.0
REPEAT = 9
BASE = {"steps": 10, "blocks": 2}  # 32 cells, about 1,100 lines
# Each notebook with ten times the code, and the one it is compared with.
RATIOS = {
    "10x steps": "base",
    "10x longer cells": "base",
    "5,000-step chain": "500-step chain",
    "5,000 cells of code": "500 cells of code",
}


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


def peak_memory(path: Path) -> int:
    """Bytes the analysis of one notebook allocates at its peak."""
    tracemalloc.start()
    analyze(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main() -> None:
    cases = {
        "base": common.generated_cells(**BASE),
        "10x steps": common.generated_cells(**{**BASE, "steps": BASE["steps"] * 10}),
        "10x longer cells": common.generated_cells(
            **{**BASE, "blocks": BASE["blocks"] * 10}
        ),
        "500-step chain": common.trivial_cells(500),
        "5,000-step chain": common.trivial_cells(5000),
        "500 cells of code": common.generated_cells(steps=166, blocks=1),
        "5,000 cells of code": common.generated_cells(steps=1666, blocks=1),
    }
    with tempfile.TemporaryDirectory(prefix="nb2pipe-bench-") as name:
        paths, sizes = {}, {}
        for label, cells in cases.items():
            paths[label] = common.write_notebook(
                Path(name) / f"{len(paths)}.ipynb", cells
            )
            sizes[label] = len(cells), sum(len(c["source"]) for c in cells)
        times = best_times(paths)
        peaks = {label: peak_memory(paths[label]) for label in list(RATIOS)[2:]}
    for label, (cells, lines) in sizes.items():
        peak = f" peak {peaks[label] / common.MB:3.0f} MB" if label in peaks else ""
        print(
            f"  {label:19} {cells:4} cells {lines:6} lines "
            f"{times[label] * 1000:7.1f} ms{peak}"
        )
    for label, base in RATIOS.items():
        common.verdict(
            f"analysis time, {label} / {base}", times[label] / times[base], TARGET
        )


if __name__ == "__main__":
    sys.exit(main())
