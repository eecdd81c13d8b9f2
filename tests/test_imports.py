"""Converting and inspecting import nothing heavy that the notebook does not need.

`import kfp` costs over a second and IPython a few hundred milliseconds, against
a conversion of about a third of a second: kfp belongs to the generated script
and to `nb2pipe run`, IPython only to notebooks with magics, and the notebook's
own libraries are read, never imported. Each case runs `nb2pipe` in a fresh
interpreter, since this one has imported all of them already.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ["IPython", "kfp", "kubernetes", "numpy", "pandas", "sklearn"]
# Runs the CLI with the arguments given, then prints which heavy packages it loaded.
PROBE = f"""
import json, sys
from kalelike.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
loaded = {{name.partition(".")[0] for name in sys.modules}}
print(json.dumps(sorted(loaded & {set(HEAVY)!r})))
"""
CELLS = [
    ("import numpy as np\nimport pandas as pd", ["imports"]),
    ("frame = pd.DataFrame({'x': np.arange(3)})", ["step:load"]),
    ("total = int(frame['x'].sum())", ["step:total", "prev:load"]),
]


def heavy_imports(tmp_path: Path, *args: str) -> list[str]:
    command = [sys.executable, "-c", PROBE, *args]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "args",
    [("convert", "nb.ipynb", "-o", "out.py"), ("inspect", "nb.ipynb")],
    ids=["convert", "inspect"],
)
def test_no_heavy_import(notebook, tmp_path: Path, args: tuple[str, ...]) -> None:
    notebook(CELLS)
    assert heavy_imports(tmp_path, *args) == []


def test_ipython_only_for_magics(notebook, tmp_path: Path) -> None:
    notebook([*CELLS, ("%time total += 1", ["step:timed", "prev:total"])])
    assert heavy_imports(tmp_path, "convert", "nb.ipynb", "-o", "out.py") == ["IPython"]


@pytest.mark.parametrize("command", ["run", "submit"])
def test_a_bad_param_is_refused_before_kfp_is_imported(
    notebook, tmp_path: Path, command: str
) -> None:
    notebook([("N = 3", ["pipeline-parameters"]), *CELLS])
    assert heavy_imports(tmp_path, command, "nb.ipynb", "--param", "N=abc") == []
