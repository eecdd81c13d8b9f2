"""Target: `nb2pipe run` adds at most 0.5 s a step to the time the steps' own code
takes, with the packages already installed.

A chain of ten trivial steps (each adds one to what the step before handed on) runs
with `nb2pipe run`; the time its cells take run top to bottom in this process is
subtracted, and the rest divided by the steps. A one-step run splits that cost into
the part paid once (converting, starting the script, importing kfp) and the part
each further step adds.
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

import common

TARGET = 0.5  # seconds a step
STEPS = 10
REPEAT = 3


def own_seconds(cells: list[dict]) -> float:
    """The notebook's own run: its cells, top to bottom, in one namespace."""
    namespace: dict[str, object] = {}
    start = time.perf_counter()
    for cell in cells:
        exec("".join(cell["source"]), namespace)  # noqa: S102 - timing the notebook
    return time.perf_counter() - start


def run_seconds(cells: list[dict], cwd: Path) -> float:
    nb = common.write_notebook(cwd / f"chain{len(cells)}.ipynb", cells)
    runs = [common.run([common.NB2PIPE, "run", nb.name], cwd) for _ in range(REPEAT)]
    return statistics.median(runs)


def main() -> None:
    chain, single = common.trivial_cells(STEPS), common.trivial_cells(1)
    with tempfile.TemporaryDirectory(prefix="nb2pipe-bench-") as name:
        cwd = Path(name)
        total, once = run_seconds(chain, cwd), run_seconds(single, cwd)
    own = own_seconds(chain)
    print(f"{STEPS} trivial steps, median of {REPEAT} runs")
    print(f"  nb2pipe run        {total:.2f} s")
    print(f"  the cells' own run {own * 1000:.2f} ms")
    print(f"  one-step run       {once:.2f} s (paid once)")
    print(f"  each further step  {(total - once) / (STEPS - 1):.2f} s")
    common.verdict(
        "run time above the code's own, a step", (total - own) / STEPS, TARGET, " s"
    )


if __name__ == "__main__":
    sys.exit(main())
