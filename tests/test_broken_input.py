"""Broken, odd and huge notebooks: a one-line message and an exit code, never a
traceback; and the odd-but-valid ones convert.

Unreadable input is exit 2 with `nb2pipe: FILE: reason`; a notebook whose code
cannot be converted is exit 1 with findings naming the file, cell and line.
"""

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbmake import code, markdown, notebook, shape_problems, write

from kalelike import conversion
from kalelike.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
COMMANDS = ["convert", "inspect", "run"]


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def _valid() -> dict:
    return notebook(code("x = 1\n", "step:a"), code("y = x + 1\n", "step:b"))


def _without(key: str) -> dict:
    nb = _valid()
    del nb[key]
    return nb


def _cell_change(**change: object) -> dict:
    nb = _valid()
    nb["cells"][0].update(change)
    return nb


def _same_ids() -> dict:
    nb = _valid()
    nb["cells"][1]["id"] = nb["cells"][0]["id"]
    return nb


def _kernel(language: str) -> dict:
    nb = _valid()
    nb["metadata"]["kernelspec"] = {
        "name": "ir",
        "display_name": "R",
        "language": language,
    }
    return nb


def _text(nb: dict) -> bytes:
    return json.dumps(nb).encode()


# name: (file content, what the one-line message says after `FILE: `)
UNREADABLE = {
    "empty file": (b"", "the file is empty, not a notebook"),
    "only whitespace": (b" \n\t\n", "the file is empty, not a notebook"),
    "not JSON": (b"print('hello')\n", "not valid JSON (line 1, column 1"),
    "truncated JSON": (_text(_valid())[:60], "not valid JSON (line 1, column"),
    "UTF-8 byte order mark": (
        b"\xef\xbb\xbf" + _text(_valid()),
        "not valid JSON (line 1, column 1: Unexpected UTF-8 BOM",
    ),
    "Latin-1 bytes": (
        _text(_valid()).replace(b"x = 1", "x = 'caf\xe9'".encode("latin-1")),
        "not UTF-8 text (byte",
    ),
    "UTF-16": (_text(_valid()).decode().encode("utf-16"), "not UTF-8 text (byte 0)"),
    "a JSON list": (b"[1, 2, 3]", "JSON, but not a notebook"),
    "a JSON string": (b'"cells"', "JSON, but not a notebook"),
    "JSON without cells": (b'{"name": "x"}', "JSON, but not a notebook"),
    "JSON nested too deeply": (b"[" * 100_000 + b"]" * 100_000, "JSON nested too deep"),
    "a 5,000-digit number": (
        b'{"cells": [], "n": ' + b"7" * 5000 + b"}",
        "unreadable JSON: Exceeds the limit (4300 digits)",
    ),
    "no metadata": (_text(_without("metadata")), "not a valid notebook: no key"),
    "cells not a list": (
        _text({**_valid(), "cells": 3}),
        "not a valid notebook:",
    ),
    "a cell without source": (
        _text({**_valid(), "cells": [{"cell_type": "code", "metadata": {}}]}),
        "not a valid notebook:",
    ),
    "tags not a list": (
        _text(_cell_change(metadata={"tags": "step:a"})),
        "not a valid notebook: cell 1, metadata.tags: 'step:a' is not of type 'array'",
    ),
    "an empty tag": (
        _text(_cell_change(metadata={"tags": ["step:a", ""]})),
        "not a valid notebook: cell 1, metadata.tags.1: '' does not match",
    ),
    "a cell type that does not exist": (
        _text(_cell_change(cell_type="sql")),
        "not a valid notebook:",
    ),
    "duplicate cell ids": (
        _text(_same_ids()),
        "not a valid notebook: cells 1 and 2 have the same id 'cell-0'",
    ),
    "nbformat 5": (
        _text({**_valid(), "nbformat": 5}),
        "not a valid notebook: unsupported nbformat version 5",
    ),
    "nbformat 2": (_text({**_valid(), "nbformat": 2}), "not a valid notebook"),
    "an R kernel": (
        _text(_kernel("R")),
        "the notebook's kernel language is 'R'; nb2pipe converts Python notebooks only",
    ),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("content", "reason"), UNREADABLE.values(), ids=UNREADABLE.keys()
)
def test_unreadable_notebook_is_one_line_and_exit_2(
    command: str, content: bytes, reason: str, tmp_path: Path
) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_bytes(content)

    code_, stdout, stderr = _cli(command, str(path))

    assert code_ == 2, stderr
    assert stdout == ""
    assert len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith(f"nb2pipe: {path}: {reason}"), stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.ipynb"]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_missing_file_is_exit_2(command: str, tmp_path: Path) -> None:
    path = tmp_path / "missing.ipynb"

    code_, _, stderr = _cli(command, str(path))

    assert code_ == 2
    assert stderr.startswith(f"nb2pipe: {path}: no such file"), stderr
    assert len(stderr.splitlines()) == 1


@pytest.mark.parametrize("command", COMMANDS)
def test_a_folder_without_notebooks_is_exit_2(command: str, tmp_path: Path) -> None:
    code_, _, stderr = _cli(command, str(tmp_path))

    assert code_ == 2
    assert str(tmp_path) in stderr
    assert "Traceback" not in stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads unreadable files")
def test_an_unreadable_file_is_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path / "nb.ipynb", _valid())
    path.chmod(0)

    code_, _, stderr = _cli("convert", str(path))

    assert code_ == 2
    assert stderr == f"nb2pipe: {path}: cannot read: Permission denied\n"


# -- notebooks that read but cannot be converted: findings, exit 1 ------------

# name: (cells, the finding's place and code, as printed)
REFUSED = {
    "no cells": ([], ": error: the notebook has no code", "[no-steps]"),
    "only markdown": (
        [markdown("# Title\n"), markdown("text\n")],
        ": error: the notebook has no code",
        "[no-steps]",
    ),
    "only empty code cells": (
        [code(""), code("  \n\n")],
        ": error: the notebook has no code",
        "[no-steps]",
    ),
    "only imports and parameters": (
        [code("import os\n"), code("N = 1\n", "pipeline-parameters")],
        ": error: the notebook has no code",
        "[no-steps]",
    ),
    "a step name used twice, apart": (
        [
            code("x = [1]\n", "step:a"),
            code("y = len(x)\n", "step:b"),
            code("x.append(2)\n", "step:a"),
        ],
        ":cell 3: error: step 'a' (cell 1) is tagged again here, after step 'b'",
        "[step-resumed]",
    ),
    "two spellings of one step, apart": (
        [
            code("x = 1\n", "step:load-data"),
            code("y = x\n", "step:b"),
            code("z = 2\n", "step:load_data"),
        ],
        ":cell 3: error: step 'load_data' (cell 1) is tagged again here",
        "[step-resumed]",
    ),
    "prev: naming a later step": (
        [
            code("x = 1\n", "step:a", "prev:b"),
            code("y = 2\n", "step:b"),
        ],
        ":cell 1: error: `prev:b` names a step that comes later in the notebook",
        "[prev-later]",
    ),
    "prev: naming no step": (
        [code("x = 1\n", "step:a", "prev:nowhere")],
        ":cell 1: error: `prev:nowhere` names no step",
        "[unknown-step]",
    ),
    "a NUL character in a cell": (
        [code("x = 1\x00\n", "step:a")],
        ":cell 1:1:1: error: syntax error: source code string cannot contain null",
        "[syntax-error]",
    ),
    "code nested too deeply": (
        [code("x = " + "+".join(["1"] * 3000) + "\n", "step:a")],
        ":cell 1: error: the cell's code is nested too deeply to analyse",
        "[too-deep]",
    ),
    "a parameter with an unhashable key": (
        [code("D = {[1]: 2}\n", "pipeline-parameters"), code("y = D\n", "step:a")],
        ":cell 1:1:1: error: parameter 'D' must be a literal",
        "[parameter-not-literal]",
    ),
    "a parameter that is not literal": (
        [code("N = len('abc')\n", "pipeline-parameters"), code("y = N\n", "step:a")],
        ":cell 1:1:1: error: parameter 'N' must be a literal",
        "[parameter-not-literal]",
    ),
}


@pytest.mark.parametrize(
    ("cells", "finding", "code_"), REFUSED.values(), ids=REFUSED.keys()
)
def test_unconvertible_notebook_is_a_finding_and_exit_1(
    cells: list, finding: str, code_: str, tmp_path: Path
) -> None:
    path = write(tmp_path / "nb.ipynb", notebook(*cells))

    exit_code, stdout, stderr = _cli("convert", str(path))

    assert exit_code == 1, stderr
    assert stdout == ""
    line = next(x for x in stderr.splitlines() if code_ in x)
    assert line.startswith(f"{path}{finding}"), stderr
    assert "Traceback" not in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nb.ipynb"]


def test_a_syntax_error_shows_cell_line_and_a_caret(tmp_path: Path) -> None:
    source = "x = 1\nif x:\n    y = (x +\n\tz = 2\n"
    path = write(
        tmp_path / "nb.ipynb", notebook(code("a = 0\n", "step:a"), code(source))
    )

    exit_code, _, stderr = _cli("convert", str(path))

    assert exit_code == 1
    assert stderr.splitlines() == [
        f"{path}:cell 2:3:9: error: syntax error: '(' was never closed: `y = (x +`"
        " [syntax-error]",
        "        y = (x +",
        "            ^",
    ]


def test_control_characters_in_a_bad_line_are_escaped(tmp_path: Path) -> None:
    source = "x = '\x1b[2J' +\u202e (\n"
    path = write(tmp_path / "nb.ipynb", notebook(code(source, "step:a")))

    exit_code, _, stderr = _cli("convert", str(path))

    assert exit_code == 1
    assert "\\x1b[2J" in stderr
    assert "\\u202e" in stderr
    assert not {"\x1b", "\u202e"} & set(stderr)


# -- odd but valid notebooks convert ------------------------------------------


def test_nbformat_3_converts_like_its_nbformat_4_form(tmp_path: Path) -> None:
    """tests/fixtures/nbformat_v3.ipynb: IPython 2's format, with Kale tags."""
    v3 = FIXTURES / "nbformat_v3.ipynb"
    as_v4 = nbformat.convert(nbformat.read(v3, as_version=nbformat.NO_CONVERT), 4)
    (tmp_path / "v4").mkdir()
    v4 = tmp_path / "v4" / v3.name
    nbformat.write(as_v4, v4)

    script = conversion.convert(v3).script

    assert script == conversion.convert(v4).script
    assert shape_problems(script, 2) == []
    code_, _, stderr = _cli("convert", str(v3), "-o", str(tmp_path / "out.py"))
    assert code_ == 0, stderr


@pytest.mark.parametrize("minor", [0, 4, 5])
def test_notebooks_without_cell_ids_convert_quietly(minor: int, tmp_path: Path) -> None:
    nb = _valid()
    nb["nbformat_minor"] = minor
    for cell in nb["cells"]:
        del cell["id"]
    path = write(tmp_path / "nb.ipynb", nb)

    code_, _, stderr = _cli("convert", str(path))

    assert code_ == 0, stderr
    assert stderr == f"wrote {tmp_path / 'nb_pipeline.py'}\n"


def test_a_notebook_without_tags_is_one_step_with_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path / "nb.ipynb", notebook(code("x = 1\n"), code("y = x\n")))

    code_, _, stderr = _cli("convert", str(path))

    assert code_ == 0, stderr
    assert (
        "the notebook has no step tags, so all its code is one step 'start'" in stderr
    )
    script = (tmp_path / "nb_pipeline.py").read_text()
    assert shape_problems(script, 1) == []


@pytest.mark.slow
def test_a_notebook_without_tags_runs_end_to_end(tmp_path: Path) -> None:
    cells = [
        markdown("# No tags at all\n"),
        code("import json\n"),
        code("values = [n * n for n in range(5)]\n"),
        code("with open('result.json', 'w') as f:\n    json.dump(values, f)\n"),
    ]
    path = write(tmp_path / "plain.ipynb", notebook(*cells))

    done = subprocess.run(
        [sys.executable, "-m", "kalelike.cli", "run", path.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((tmp_path / "result.json").read_text()) == [0, 1, 4, 9, 16]


def _big_step(kilobytes: int) -> dict:
    """A step whose cell writes about `kilobytes` KiB of data as a literal."""
    numbers = ", ".join(str(100_000 + n) for n in range(kilobytes * 1024 // 8))
    return notebook(
        code("import json\n", "imports"),
        code(f"values = [{numbers}]\ntotal = sum(values)\n", "step:load"),
        code(
            "with open('result.json', 'w') as f:\n    json.dump(total, f)\n", "step:b"
        ),
    )


def test_a_step_too_large_for_kfp_to_start_is_a_finding(tmp_path: Path) -> None:
    path = write(tmp_path / "big.ipynb", _big_step(140))

    code_, _, stderr = _cli("convert", str(path))

    assert code_ == 1
    assert "big.ipynb:cell 2: error: step 'load' is 1" in stderr
    assert "Linux caps at 128 KiB" in stderr
    assert not (tmp_path / "big_pipeline.py").exists()


@pytest.mark.slow
def test_a_step_just_under_the_limit_runs(tmp_path: Path) -> None:
    path = write(tmp_path / "big.ipynb", _big_step(95))

    done = subprocess.run(
        [sys.executable, "-m", "kalelike.cli", "run", path.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((tmp_path / "result.json").read_text()) > 0


def _many_cells(count: int, every: int) -> dict:
    """`count` cells in a chain, a new step every `every` cells."""
    cells = [code("x0 = 0\n", "step:s0")]
    for i in range(1, count):
        tags = [f"step:s{i}"] if i % every == 0 else []
        cells.append(code(f"x{i} = x{i - 1} + 1\n", *tags))
    return notebook(*cells)


def test_5000_cells_convert_in_bounded_time(tmp_path: Path) -> None:
    path = write(tmp_path / "many.ipynb", _many_cells(5000, 10))

    started = time.perf_counter()
    script = conversion.convert(path).script
    seconds = time.perf_counter() - started

    assert shape_problems(script, 500) == []
    assert seconds < 20, f"{seconds:.1f} s"


def _image_notebook(path: Path, megabytes: int) -> None:
    """`megabytes` MiB of PNG outputs over 50 cells, written as it goes."""
    blob = base64.b64encode(os.urandom(megabytes * 2**20 * 3 // 4 // 50)).decode()
    with path.open("w") as f:
        f.write('{"cells": [')
        for i in range(50):
            cell = code(f"x{i} = {i}\n", *([f"step:s{i}"] if i % 10 == 0 else []))
            cell["id"] = f"c{i}"
            cell["outputs"] = [
                {
                    "output_type": "display_data",
                    "data": {"image/png": blob, "text/plain": ["<Figure>"]},
                    "metadata": {},
                }
            ]
            f.write(("," if i else "") + json.dumps(cell))
        meta = {
            "kernelspec": {"name": "python3", "display_name": "P", "language": "python"}
        }
        f.write(
            f'], "metadata": {json.dumps(meta)}, "nbformat": 4, "nbformat_minor": 5}}'
        )


MEASURE = """
import resource, sys
from kalelike.cli import main
try:
    main(sys.argv[1:])
except SystemExit as e:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(e.code, peak)
"""


def _peak_megabytes(*args: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    code_, peak = done.stdout.split()
    assert code_ == "0", done.stderr
    return int(peak)


@pytest.mark.slow
def test_a_100_mb_notebook_of_images_converts_in_bounded_memory(tmp_path: Path) -> None:
    """Peak memory stays within the file's size plus 60 MB over a small notebook's."""
    big = tmp_path / "images.ipynb"
    _image_notebook(big, 100)
    small = write(tmp_path / "small.ipynb", _valid())
    size = big.stat().st_size // 2**20
    assert size >= 99

    started = time.perf_counter()
    peak = _peak_megabytes("convert", str(big))
    seconds = time.perf_counter() - started
    baseline = _peak_megabytes("convert", str(small))

    assert peak - baseline < size + 60, (peak, baseline, size)
    assert seconds < 20, f"{seconds:.1f} s"
    assert shape_problems((tmp_path / "images_pipeline.py").read_text(), 5) == []
