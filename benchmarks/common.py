"""What the benchmarks share: generated notebooks, timing, and the tools they run.

Each benchmark runs `nb2pipe` and Python from the environment that runs it, so
`.venv/bin/python benchmarks/NAME.py` measures the project's own virtualenv.
"""

import base64
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
NB2PIPE = str(BIN / "nb2pipe")
PYTHON = sys.executable
MB = 1_000_000


def environment() -> dict[str, str]:
    """The children's environment, with bytecode caching on as users have it.

    Without .pyc files every run compiles nb2pipe's own modules again (about
    40 ms), while nbformat, installed as a wheel, comes precompiled.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run(command: list[str], cwd: Path) -> float:
    """Run a command, quietly; its wall time in seconds. A failure stops the run."""
    start = time.perf_counter()
    done = subprocess.run(
        command, cwd=cwd, env=environment(), capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)}: exit {done.returncode}\n{done.stderr}")
    return seconds


def medians(commands: dict[str, list[str]], cwd: Path, repeat: int) -> dict[str, float]:
    """Median wall time of each command, run in turns so noise hits all alike.

    One unmeasured run of each first: it writes bytecode and fills the disk cache.
    """
    times: dict[str, list[float]] = {name: [] for name in commands}
    for command in commands.values():
        run(command, cwd)
    for _ in range(repeat):
        for name, command in commands.items():
            times[name].append(run(command, cwd))
    return {name: statistics.median(values) for name, values in times.items()}


# Runs a command and prints its exit code and peak memory. Linux counts a child's
# peak from before its exec too, so measuring from this (large) process would
# count this process: the small reporter in between starts the command instead.
REPORTER = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def peak_rss(command: list[str], cwd: Path) -> int:
    """The command's peak resident memory in bytes, as the kernel counts it."""
    done = subprocess.run(
        [PYTHON, "-c", REPORTER, *command],
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
    )
    code, kilobytes = done.stdout.split()
    if code != "0":
        raise SystemExit(f"{' '.join(command)}: exit {code}\n{done.stderr}")
    return int(kilobytes) * 1024


def verdict(name: str, measured: float, target: float, unit: str = "x") -> None:
    """The line each benchmark ends with: measured ratio, target, met or not."""
    word = "met" if measured <= target else "MISSED"
    print(f"{name}: {measured:.2f}{unit} (target <= {target}{unit}): {word}")


def write_notebook(path: Path, cells: list[dict]) -> Path:
    nb = {
        "cells": cells,
        "metadata": {
            "kernelspec": {
                "display_name": "Python 3",
                "language": "python",
                "name": "python3",
            },
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb, indent=1) + "\n", encoding="utf-8")
    return path


def markdown(text: str) -> dict:
    return {
        "cell_type": "markdown",
        "id": _id(),
        "metadata": {},
        "source": _lines(text),
    }


def code(text: str, tags: tuple[str, ...] = (), outputs: tuple = ()) -> dict:
    metadata = {"tags": list(tags)} if tags else {}
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": _id(),
        "metadata": metadata,
        "outputs": list(outputs),
        "source": _lines(text),
    }


def stream(text: str) -> dict:
    return {"name": "stdout", "output_type": "stream", "text": _lines(text)}


def image(size: int, seed: int) -> dict:
    """A PNG-sized display output: `size` bytes of base64, as Jupyter stores images."""
    raw = random.Random(seed).randbytes(size * 3 // 4)
    return {
        "data": {
            "image/png": base64.b64encode(raw).decode("ascii") + "\n",
            "text/plain": ["<Figure size 640x480 with 1 Axes>"],
        },
        "metadata": {},
        "output_type": "display_data",
    }


_ids = itertools.count()


def _id() -> str:
    return f"cell-{next(_ids):06d}"


def _lines(text: str) -> list[str]:
    return text.strip("\n").splitlines(True)


def typical_cells(
    seed: int = 0, steps: int = 8, image_size: int = 25_000
) -> list[dict]:
    """A typical data-science notebook: 40 cells, for eight steps.

    Imports, parameters and helper functions; then per step a heading, the step's
    pandas work, a summary, and a printed result with its output and a plot of
    `image_size` bytes (a matplotlib figure is 20 to 40 KB); then a model.
    """
    cells = [
        markdown(f"# Churn model {seed}\n\nSynthetic customers, features, a model."),
        code(
            "import json\nimport math\n\nimport numpy as np\nimport pandas as pd\n"
            "from sklearn.linear_model import LogisticRegression\n"
            "from sklearn.model_selection import train_test_split",
            ("imports",),
        ),
        markdown("Parameters a run can override."),
        code(
            f'N_ROWS = {1000 + seed}\nSEED = {seed}\nALPHA = 0.5\nTARGET = "churn"',
            ("pipeline-parameters",),
        ),
        code(
            'def scale(values, factor):\n    """Centre and scale a column."""\n'
            "    spread = values.std() or 1.0\n"
            "    return (values - values.mean()) / spread * factor\n\n\n"
            "def summary(frame):\n"
            "    return {c: round(float(frame[c].mean()), 4) for c in frame.columns}",
            ("functions",),
        ),
    ]
    for k in range(steps):
        tags = (f"step:stage_{k}",) + ((f"prev:stage_{k - 1}",) if k else ())
        if k == 0:
            body = (
                "rng = np.random.default_rng(SEED)\n"
                'frame_0 = pd.DataFrame({"x": rng.normal(size=N_ROWS),\n'
                '                        "y": rng.normal(size=N_ROWS)})\n'
                'frame_0[TARGET] = (frame_0["x"] + frame_0["y"] > 0).astype(int)'
            )
        else:
            body = (
                f"frame_{k} = frame_{k - 1}.copy()\n"
                f'frame_{k}["feature_{k}"] = scale(frame_{k}["x"], {k}) + '
                f'frame_{k}["y"] ** 2\n'
                f'frame_{k} = frame_{k}[frame_{k}["feature_{k}"].notna()]'
            )
        cells += [
            markdown(f"## Stage {k}\n\nDerive stage {k}'s table from the one before."),
            code(body, tags),
            code(
                f"summary_{k} = summary(frame_{k})\nrows_{k} = len(frame_{k})\n"
                f"ratio_{k} = math.log1p(rows_{k}) / (1 + len(summary_{k}))"
            ),
            code(
                f"print(rows_{k}, json.dumps(summary_{k}))\n"
                f'frame_{k}.plot.scatter(x="x", y="y")',
                outputs=(
                    stream(f'{1000 + seed} {{"x": 0.01}}\n'),
                    image(image_size, seed * 100 + k),
                ),
            ),
        ]
    last = f"frame_{steps - 1}"
    cells += [
        markdown("## Model"),
        code(
            f"features = sorted(c for c in {last}.columns if c != TARGET)\n"
            f"X_train, X_test, y_train, y_test = train_test_split(\n"
            f"    {last}[features], {last}[TARGET], random_state=SEED)\n"
            "model = LogisticRegression(C=1 / ALPHA).fit(X_train, y_train)\n"
            "accuracy = float(model.score(X_test, y_test))",
            ("step:model", f"prev:stage_{steps - 1}"),
        ),
        code("accuracy", ("pipeline-metrics",)),
    ]
    return cells


def trivial_cells(steps: int) -> list[dict]:
    """A chain of steps that each add one to the value the step before handed on."""
    cells = [code("value_0 = 0", ("step:step_0",))]
    for k in range(1, steps):
        cells.append(
            code(
                f"value_{k} = value_{k - 1} + 1",
                (f"step:step_{k}", f"prev:step_{k - 1}"),
            )
        )
    return cells


def generated_cells(steps: int, blocks: int) -> list[dict]:
    """Generated code: `steps` steps of three cells, each `blocks` blocks long.

    A block (14 lines) defines a function with a loop and comprehensions and a
    class, calls them on what the step before handed on, and changes a shared
    dict in place: the constructs the analysis tracks.
    """
    cells = [
        code("import math\nimport json", ("imports",)),
        code(
            "rows_0 = [{'a': i, 'b': i * 2} for i in range(10)]\nstats = {}",
            ("step:step_0",),
        ),
    ]
    for k in range(1, steps + 1):
        for j in range(3):
            text = "\n".join(_block(k, j, m) for m in range(blocks))
            tags = (f"step:step_{k}", f"prev:step_{k - 1}") if j == 0 else ()
            cells.append(code(text, tags))
    return cells


def _block(k: int, j: int, m: int) -> str:
    name = f"{k}_{j}_{m}"
    source = f"rows_{k - 1}" if j == 0 and m == 0 else f"rows_{k}"
    return f"""
def transform_{name}(rows, factor={m + 1}):
    out = []
    for i, row in enumerate(rows):
        if i % 2:
            out.append({{key: value * factor for key, value in row.items()}})
        else:
            out.append(dict(row, extra=math.sqrt(i)))
    return out


class Holder_{name}:
    def total(self, rows):
        return sum(len(json.dumps(r)) for r in rows)


rows_{k} = transform_{name}({source})
stats["{name}"] = Holder_{name}().total(rows_{k})
"""
