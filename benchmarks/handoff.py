"""Target: handing a 200 MB DataFrame and a 500 MB ndarray from one step to the next
runs at no less than half the throughput of writing and reading as many bytes with
plain file I/O.

It calls `run_step`, the function every generated step calls, as kfp runs it: the
producing step saves the value (given to it as a parameter, so making the value is
not timed) and the consuming step loads it. Plain I/O writes the same number of
bytes from memory to a file and reads them back. The two take turns.
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
from common import MB, verdict
from kalelike.templates.step_runtime import run_step

TARGET = 0.5  # the hand-off's throughput, as a share of plain I/O's
REPEAT = 5


def frame() -> pd.DataFrame:
    """About 200 MB: eight numeric columns and one of short strings."""
    rng = np.random.default_rng(0)
    rows = 2_500_000
    data = {f"x{i}": rng.normal(size=rows) for i in range(7)}
    data["count"] = rng.integers(0, 1000, rows)
    data["label"] = pd.Series(rng.integers(0, 1000, rows)).map("item-{}".format)
    return pd.DataFrame(data)


def array() -> np.ndarray:
    """500 MB of float64."""
    return np.random.default_rng(1).random(62_500_000)


def handoff(value: object, folder: Path) -> tuple[float, str]:
    """Seconds to save the value in one step and load it in the next; the format."""
    artifact = SimpleNamespace(path=str(folder / "value"), metadata={})
    received: list[object] = []
    start = time.perf_counter()
    run_step(
        "bench.ipynb", {}, parameters={"value": value}, outputs={"value": artifact}
    )
    run_step(
        "bench.ipynb",
        {"cell 2": "received.append(value)"},
        parameters={"received": received},
        inputs={"value": artifact},
    )
    seconds = time.perf_counter() - start
    assert type(received[0]) is type(value)
    Path(artifact.path).unlink()
    return seconds, artifact.metadata["format"]


def plain(size: int, folder: Path) -> float:
    """Seconds to write `size` bytes held in memory to a file and read them back."""
    data = np.ones(size, dtype=np.uint8)
    path = folder / "plain"
    start = time.perf_counter()
    with open(path, "wb") as f:
        f.write(memoryview(data))
    with open(path, "rb") as f:
        f.read()
    seconds = time.perf_counter() - start
    path.unlink()
    return seconds


def measure(name: str, value: object, size: int, folder: Path) -> None:
    handoffs, plains = [], []
    for _ in range(REPEAT):
        seconds, fmt = handoff(value, folder)
        handoffs.append(seconds)
        plains.append(plain(size, folder))
    hand, io = statistics.median(handoffs), statistics.median(plains)
    print(f"{name}: {size / MB:.0f} MB in memory, handed on as {fmt}")
    print(f"  hand-off   {hand:.2f} s  {size / MB / hand:6.0f} MB/s")
    print(f"  plain I/O  {io:.2f} s  {size / MB / io:6.0f} MB/s")
    share = io / hand
    # Verdict on the inverse, so that "at most" reads right: time / plain time.
    verdict(f"{name} hand-off time / plain I/O time", 1 / share, 1 / TARGET)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="nb2pipe-bench-") as name:
        folder = Path(name)
        df = frame()
        measure("DataFrame", df, int(df.memory_usage(deep=True).sum()), folder)
        del df
        values = array()
        measure("ndarray", values, values.nbytes, folder)


if __name__ == "__main__":
    sys.exit(main())
