"""Notebook text never becomes code, and nb2pipe never loses the user's files.

Payloads that try to break out of every place notebook text reaches the script
(tags, step names, parameter values, metadata, file names, the base image) must
leave the script's shape as the template makes it, and importing or compiling the
script must not run them: each payload would create the file `nb2pipe_pwned`.
Cell code is the user's own and runs, but its text must reach the step exactly.
"""

import ast
import hashlib
import json
import os
import runpy
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from nbmake import code, notebook, shape_problems, step_sources, write

from kalelike import conversion, render
from kalelike.cli import main
from kalelike.errors import UsageError

MARKER = "nb2pipe_pwned"
TOUCH = f'__import__("pathlib").Path("{MARKER}").touch()'
TOUCH1 = f"__import__('pathlib').Path('{MARKER}').touch()"

# Each payload closes whatever quoting or block it might land in, then runs TOUCH.
PAYLOADS = {
    "double quote": f'x"); {TOUCH}; ("',
    "single quote": f"x'); {TOUCH1}; ('",
    "triple double quote": f'x"""); {TOUCH}; ("""',
    "triple single quote": f"x'''); {TOUCH1}; ('''",
    "docstring break": f'x""" + str({TOUCH}) + """',
    "backslash before quote": f'x\\"); {TOUCH}; ("\\',
    "newline": f"x\n{TOUCH}\n#",
    "carriage return": f"x\r{TOUCH}\r#",
    "unicode line separators": f"x\u2028{TOUCH}\u2029\x85{TOUCH}",
    "comment": f'x # "); {TOUCH} #',
    "f-string braces": f"{{{TOUCH}}} {{0}} {{x!r}}",
    "jinja expression": "{{ 'jinja' | upper }}_EVAL {{ cycler.__init__ }}",
    "jinja statement": "{% for x in range(1) %}{{ x }}{% endfor %}{# c #}{% raw %}",
    "bidi controls": f'x\u202e\u2066"); {TOUCH}; ("\u2069\u200f',
    "look-alike quotes": f"x\uff02); {TOUCH}; (\u201c\u2018",
    "control characters": f'x\x00\x1b[31m\x07\x7f"); {TOUCH}',
}


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def _file_name(payload: str) -> str:
    """The payload as a notebook file name: no `/` or NUL, which Linux forbids."""
    return payload.replace("/", "_").replace("\x00", "_")[:200] + ".ipynb"


def _payload_notebook(payload: str) -> dict:
    """The payload in every place that must accept any text."""
    return notebook(
        code(
            f"S = {payload!r}\nL = [{payload!r}, 1]\n"
            f"D = {{{payload!r}: [{payload!r}]}}\n",
            "pipeline-parameters",
        ),
        code(f"s = S + {payload!r}\nitems = L + [D]\n", f"step:{payload}", payload),
        code("n = len(s) + len(items)\n", "step:second"),
        kubeflow_notebook={"pipeline_description": payload},
        title=payload,
    )


def _settings_notebook(payload: str) -> dict:
    """The payload in settings tags and Kale's metadata: refused or quoted."""
    tags = [
        f"image:{payload}",
        f"limit:cpu:{payload}",
        f"limit:memory:{payload}",
        f"annotation:{payload}:{payload}",
        f"label:{payload}:{payload}",
        f"secret:{payload}:{payload}:{payload}",
        f"cache:{payload}",
        f"retry:{payload}",
        f"timeout:{payload}",
    ]
    return notebook(
        code("x = 1\n", "step:first", *tags),
        code("y = x + 1\n", "step:second"),
        kubeflow_notebook={
            "pipeline_name": payload,
            "experiment_name": payload,
            "docker_image": payload,
            "base_image": payload,
            "enable_caching": payload,
            "volumes": [{"name": payload, "mount_point": payload, "type": payload}],
            "steps_defaults": [payload],
        },
    )


def assert_safe(script_path: Path, steps: int) -> None:
    """The script has the template's shape and importing, building and
    compiling it (in this process, in its folder) runs no payload."""
    script = script_path.read_text(encoding="utf-8")
    assert shape_problems(script, steps) == []
    tree = ast.parse(script)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    attributes = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert "__import__" not in names
    assert not {"touch", "system"} & attributes
    assert "JINJA_EVAL" not in script
    odd = sorted(
        {hex(ord(ch)) for ch in script if not (ch.isprintable() or ch == "\n")}
    )
    assert odd == [], "the script holds invisible or control characters"

    from kfp import compiler

    namespace = runpy.run_path(str(script_path), run_name="nb2pipe_safety")
    yaml = script_path.with_suffix(".yaml")
    compiler.Compiler().compile(namespace["build_pipeline"](), str(yaml))
    namespace["build_pipeline"](local=True)
    assert yaml.exists()
    assert not Path(MARKER).exists(), "a payload ran"


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_payload_in_names_values_metadata_and_file_name_stays_text(
    payload: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path / _file_name(payload), _payload_notebook(payload))
    out = tmp_path / "pipeline.py"

    code_, _, stderr = _cli("convert", str(path), "-o", str(out))

    assert code_ == 0, stderr
    assert_safe(out, steps=2)
    cells = step_sources(out.read_text(encoding="utf-8"))
    assert f"s = S + {payload!r}\nitems = L + [D]\n" in [
        c for cs in cells.values() for c in cs
    ]


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
@pytest.mark.parametrize("base_image", [False, True], ids=["tags", "--base-image"])
def test_payload_in_settings_and_kale_metadata_is_refused_or_quoted(
    payload: str, base_image: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path / "settings.ipynb", _settings_notebook(payload))
    out = tmp_path / "pipeline.py"
    option = ["--base-image", payload] if base_image else []

    code_, _, stderr = _cli("convert", str(path), "-o", str(out), *option)

    assert code_ in (0, 1, 2), stderr
    if code_ == 0:
        assert_safe(out, steps=2)
    else:
        assert not out.exists()
        assert "Traceback" not in stderr


def test_lone_surrogates_are_refused_or_carried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Text JSON allows but UTF-8 cannot encode never breaks the script or YAML."""
    monkeypatch.chdir(tmp_path)
    odd = "x\ud800y\udfff"
    nb = notebook(
        code(f"s = {odd!r}\n", "step:a", odd),
        code("t = s\n", "step:b"),
        kubeflow_notebook={"pipeline_description": odd},
    )
    path = write(tmp_path / "nb.ipynb", nb)
    out = tmp_path / "out.py"

    code_, _, stderr = _cli("convert", str(path), "-o", str(out))

    assert code_ in (0, 1), stderr
    if code_ == 0:
        assert_safe(out, steps=2)
    assert "Traceback" not in stderr


def test_a_lone_surrogate_in_a_parameter_is_refused(tmp_path: Path) -> None:
    nb = notebook(
        code("S = 'x\\ud800'\n", "pipeline-parameters"), code("t = S\n", "step:a")
    )
    path = write(tmp_path / "nb.ipynb", nb)

    code_, _, stderr = _cli("convert", str(path), "-o", str(tmp_path / "out.py"))

    assert code_ == 1
    assert "parameter 'S' would not survive KFP" in stderr


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_payload_in_prev_tag_is_refused(payload: str, tmp_path: Path) -> None:
    path = write(
        tmp_path / "prev.ipynb",
        notebook(
            code("x = 1\n", "step:first"), code("y = 2\n", "step:b", f"prev:{payload}")
        ),
    )

    code_, _, stderr = _cli("convert", str(path), "-o", str(tmp_path / "out.py"))

    assert code_ == 1, stderr
    assert stderr.count("\n") == len(stderr.splitlines())


def test_all_payloads_together_compile_in_a_subprocess(tmp_path: Path) -> None:
    """`python script.py --output x.yaml`, as a user runs it, runs no payload."""
    cells = [
        code(
            "".join(f"P{i} = {p!r}\n" for i, p in enumerate(PAYLOADS.values())),
            "pipeline-parameters",
        ),
        *(
            code(f"v{i} = P{i} + {p!r}\n", f"step:s{i}{p}", p)
            for i, p in enumerate(PAYLOADS.values())
        ),
    ]
    name = "".join(PAYLOADS.values())
    nb = notebook(*cells, kubeflow_notebook={"pipeline_description": name})
    path = write(tmp_path / _file_name(PAYLOADS["docstring break"]), nb)
    out = tmp_path / render.script_name(path)

    code_, _, stderr = _cli("convert", str(path))

    assert code_ == 0, stderr
    assert shape_problems(out.read_text(encoding="utf-8"), len(PAYLOADS)) == []
    done = subprocess.run(
        [sys.executable, out.name, "--output", "x.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "x.yaml").exists()
    assert not (tmp_path / MARKER).exists()


def test_warnings_print_tags_escaped(tmp_path: Path) -> None:
    """An unknown tag is echoed with its control characters escaped."""
    tag = "evil\x1b[2J\u202e\r\n"
    path = write(tmp_path / "nb.ipynb", notebook(code("x = 1\n", "step:a", tag)))

    code_, _, stderr = _cli("convert", str(path), "-o", str(tmp_path / "out.py"))

    assert code_ == 0, stderr
    assert "\\x1b[2J\\u202e" in stderr
    assert not {"\x1b", "\u202e", "\r"} & set(stderr)


# -- names the script uses itself -------------------------------------------

# Parameter names that are also names in the script or its kfp world.
CLASHING_PARAMETERS = [
    "run_step",
    "metrics",
    "dsl",
    "Input",
    "Artifact",
    "Metrics",
    "component",
    "pipeline",
    "json",
    "argparse",
    "NOTEBOOK",
    "PARAMETERS",
    "BASE_IMAGE",
    "EXPERIMENT",
    "HOST",
    "submit",
    "build_pipeline",
    "parse_parameters",
    "main",
    "print",
    "sorted",
    "first_op",
    "first_task",
    "second",
    "match",
    "case",
    "type",
]
# Step names that are builtins the script calls, or names it defines.
CLASHING_STEPS = ["int", "sorted", "run_step", "first_op", "main", "json"]


def _clashing_notebook() -> dict:
    params = "".join(f"{name} = {i}\n" for i, name in enumerate(CLASHING_PARAMETERS))
    total = " + ".join(CLASHING_PARAMETERS)
    return notebook(
        code(params, "pipeline-parameters"),
        code(
            f"total = {total}\nrun_step_value = total\n"
            "_hidden, café, Output, x_out, x = total, 1, 2, 3, 4\n",
            "step:first",
        ),
        code("second = total * 2\nmetrics = second\n", "step:int"),
        *(
            code(f"metrics = metrics + 1\n{name}_value = metrics\n", f"step:{name}")
            for name in CLASHING_STEPS[1:]
        ),
        code(
            "import json\n"
            "crossing = [_hidden, café, Output, x_out, x]\n"
            "result = {'total': total, 'metrics': metrics, 'crossing': crossing}\n"
            "with open('result.json', 'w') as f:\n"
            "    json.dump(result, f)\n",
            "step:report",
        ),
        code("metrics\nsecond\n", "pipeline-metrics"),
    )


def test_names_the_script_uses_are_renamed_and_compile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path / "clash.ipynb", _clashing_notebook())
    out = tmp_path / "clash_pipeline.py"

    code_, _, stderr = _cli("convert", str(path), "-o", str(out))

    assert code_ == 0, stderr
    assert_safe(out, steps=len(CLASHING_STEPS) + 2)


@pytest.mark.parametrize("name", ["local", "kubernetes", "Output", "_", "_x", "café"])
def test_parameter_names_kfp_cannot_take_are_refused(name: str, tmp_path: Path) -> None:
    nb = notebook(
        code(f"{name} = 1\n", "pipeline-parameters"), code("x = 1\n", "step:a")
    )
    path = write(tmp_path / "nb.ipynb", nb)

    code_, _, stderr = _cli("convert", str(path), "-o", str(tmp_path / "out.py"))

    assert code_ == 1
    assert f"parameter {name!r} " in stderr
    assert "rename the parameter [parameter-not-literal]" in stderr


@pytest.mark.slow
def test_names_the_script_uses_run_as_in_the_notebook(tmp_path: Path) -> None:
    path = write(tmp_path / "clash.ipynb", _clashing_notebook())

    done = subprocess.run(
        [sys.executable, "-m", "kalelike.cli", "run", path.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    total = sum(range(len(CLASHING_PARAMETERS)))
    metrics = total * 2 + len(CLASHING_STEPS) - 1
    result = json.loads((tmp_path / "result.json").read_text())
    crossing = [total, 1, 2, 3, 4]
    assert result == {"total": total, "metrics": metrics, "crossing": crossing}


# -- cell text is carried verbatim -------------------------------------------

# Each cell binds `s`; the step must bind the same value as running the cell.
CELLS = {
    "triple double quotes": 's = """a\n"b"\n"""\n',
    "triple single quotes": "s = '''a\n'b'\n'''\n",
    "both kinds of triple quotes": "s = \"\"\"x'''y\"\"\" + '''\"\"\"'''\n",
    "backslash at the end of a line": "s = 'a\\\\' + \\\n    'b'\n",
    "backslash at the very end": "s = 'tail'  # ends with \\",
    "raw string with backslashes": "s = r'C:\\new\\table' + '\\\\'\n",
    "windows line endings": "s = 'a'\r\ns += 'b\\r'\r\n",
    "lone carriage return": "s = 'a'\rs += 'b'\r",
    "blank lines with spaces inside a string": 's = """a\n    \n\t\n  b"""\n',
    "blank lines with spaces outside strings": "s = 'a'\n    \n\t\ns += 'b'\n",
    "tabs": "if True:\n\ts = 'tab\\there'\n",
    "template directives": 's = """\n{% endfor %}\n{{ x }}\n{# c #}\n"""\n',
    "template directive as code": "x = {1: 2}\ns = str({1: {2: 3}})\n",
    "control characters in a string": "s = 'a\x0b\x0c\x1b[0m\x07\x7fb'\n",
    "bidi controls in a string": "s = 'abc\u202edef\u2066'  # \u202e comment\n",
    "unicode line separators": "s = 'a\u2028b\u2029c\x85d'\n",
    "no final newline": "s = 'last'",
    "percent and braces": "s = '%s {0} %%' % ('x',)\n",
    "kfp dedent trap": "def f():\n    return '''\n    \n        x\n    '''\ns = f()\n",
    "long line": "s = '" + "a" * 3000 + "'\n",
    "non-ascii": "café = 'naïve ☃ 𝔘'\ns = café\n",
}


def _run_cell(source: str) -> str:
    namespace: dict[str, object] = {}
    exec(compile(source, "cell", "exec"), namespace)  # noqa: S102 - the test's own cells
    value = namespace["s"]
    assert isinstance(value, str)
    return value


@pytest.mark.parametrize("source", CELLS.values(), ids=CELLS.keys())
def test_cell_text_reaches_the_step_unchanged(source: str, tmp_path: Path) -> None:
    path = write(tmp_path / "cells.ipynb", notebook(code(source, "step:only")))

    script = conversion.convert(path).script

    [carried] = step_sources(script)["only"]
    assert _run_cell(carried) == _run_cell(source)
    assert carried in (source, source + "\n") or ast.dump(
        ast.parse(carried)
    ) == ast.dump(ast.parse(source))
    assert shape_problems(script, 1) == []


@pytest.mark.slow
def test_cell_text_runs_unchanged_in_a_local_run(tmp_path: Path) -> None:
    """kfp reads, dedents and ships each step's source: the cells survive it."""
    cells = []
    for i, source in enumerate(CELLS.values()):
        cells.append(code(source, f"step:case{i}"))
        cells.append(
            code(
                "import json\n"
                f"with open('case{i}.json', 'w') as f:\n"
                "    json.dump(s, f)\n"
            )
        )
    path = write(tmp_path / "cells.ipynb", notebook(*cells))

    done = subprocess.run(
        [sys.executable, "-m", "kalelike.cli", "run", path.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    for i, source in enumerate(CELLS.values()):
        got = json.loads((tmp_path / f"case{i}.json").read_text())
        assert got == _run_cell(source), list(CELLS)[i]


# -- nothing lost ------------------------------------------------------------


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "cells",
    [
        [code("x = 1\n", "step:a"), code("y = x\n", "step:b")],
        [code("x = (\n", "step:a")],
        [code("y = undefined_name\n", "step:a")],
    ],
    ids=["converts", "syntax error", "finding"],
)
@pytest.mark.parametrize("command", ["convert", "inspect"])
def test_the_notebook_is_never_written(
    cells: list, command: str, tmp_path: Path
) -> None:
    path = write(tmp_path / "nb.ipynb", notebook(*cells))
    before, mtime = _digest(path), path.stat().st_mtime_ns

    _cli(command, str(path))

    assert _digest(path) == before
    assert path.stat().st_mtime_ns == mtime


def test_output_onto_the_notebook_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "nb.ipynb", notebook(code("x = 1\n", "step:a")))
    before = _digest(path)
    (tmp_path / "link.py").symlink_to(path)
    os.link(path, tmp_path / "hard.py")

    for target in (
        path,
        tmp_path / "link.py",
        tmp_path / "hard.py",
        tmp_path / "." / "nb.ipynb",
    ):
        code_, _, stderr = _cli("convert", str(path), "-o", str(target))
        assert code_ == 2, target
        assert "refusing to overwrite the input notebook" in stderr
    assert _digest(path) == before


def _existing_output(tmp_path: Path) -> tuple[Path, Path]:
    path = write(tmp_path / "nb.ipynb", notebook(code("x = 1\n", "step:a")))
    out = tmp_path / "out.py"
    out.write_text("# the user's previous script\n")
    return path, out


def test_a_failed_render_leaves_no_file_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, out = _existing_output(tmp_path)

    def broken(*args: object) -> str:
        raise RuntimeError("render failed")

    monkeypatch.setattr(render, "render", broken)
    code_, _, stderr = _cli("convert", str(path), "-o", str(out))
    fresh = tmp_path / "fresh.py"
    code2, _, _ = _cli("convert", str(path), "-o", str(fresh))

    assert (code_, code2) == (70, 70), stderr
    assert out.read_text() == "# the user's previous script\n"
    assert not fresh.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nb.ipynb", "out.py"]


def test_a_failed_write_leaves_the_old_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, out = _existing_output(tmp_path)
    real_replace = os.replace

    def fail_after_writing(src: str, dst: str) -> None:
        assert Path(src).read_text().startswith("# Generated by nb2pipe")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail_after_writing)
    code_, _, stderr = _cli("convert", str(path), "-o", str(out))
    monkeypatch.setattr(os, "replace", real_replace)

    assert code_ == 2
    assert stderr.strip() == f"nb2pipe: {out}: cannot write: No space left on device"
    assert out.read_text() == "# the user's previous script\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nb.ipynb", "out.py"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path / "nb.ipynb", notebook(code("x = 1\n", "step:a")))
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        code_, _, stderr = _cli("convert", str(path), "-o", str(folder / "out.py"))
    finally:
        folder.chmod(0o700)

    assert code_ == 2
    assert stderr.startswith(f"nb2pipe: {folder / 'out.py'}: cannot write")
    assert list(folder.iterdir()) == []


def test_a_folder_we_may_not_write_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the read-only folder test, for root too: the temporary file is refused."""
    path, out = _existing_output(tmp_path)

    def refused(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    code_, _, stderr = _cli("convert", str(path), "-o", str(out))

    assert code_ == 2
    assert stderr == f"nb2pipe: {out}: cannot write: Permission denied\n"
    assert out.read_text() == "# the user's previous script\n"


def test_writing_into_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "out.py"

    with pytest.raises(UsageError) as raised:
        conversion.write_atomically(target, "x = 1\n")

    assert (
        str(raised.value) == f"{target}: cannot write: no such folder {target.parent}"
    )
    assert not (tmp_path / "no").exists()


def test_an_output_folder_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path / "nb.ipynb", notebook(code("x = 1\n", "step:a")))
    (tmp_path / "file").write_text("not a folder\n")
    target = tmp_path / "file" / "out.py"

    code_, _, stderr = _cli("convert", str(path), "-o", str(target))

    assert code_ == 2, stderr
    assert stderr.startswith(f"nb2pipe: {target}: cannot write")
    assert len(stderr.splitlines()) == 1
    assert (tmp_path / "file").read_text() == "not a folder\n"


def test_the_script_gets_ordinary_permissions(tmp_path: Path) -> None:
    """mkstemp makes 0600 files; the script is as readable as any other file."""
    path = write(tmp_path / "nb.ipynb", notebook(code("x = 1\n", "step:a")))
    old = os.umask(0o022)
    try:
        _cli("convert", str(path), "-o", str(tmp_path / "new.py"))
        kept = tmp_path / "kept.py"
        kept.write_text("")
        kept.chmod(0o755)
        _cli("convert", str(path), "-o", str(kept))
    finally:
        os.umask(old)

    assert stat.S_IMODE((tmp_path / "new.py").stat().st_mode) == 0o644
    assert stat.S_IMODE(kept.stat().st_mode) == 0o755


# -- interrupting a run -------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "exit_code", "said"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
    ids=["ctrl-c", "sigterm"],
)
def test_a_signal_stops_a_run_cleans_up_and_exits(
    tmp_path: Path, sig: int, exit_code: int, said: str
) -> None:
    path = write(
        tmp_path / "slow.ipynb",
        notebook(
            code("import time\n", "imports"),
            code("open('started', 'w').close()\ntime.sleep(60)\nx = 1\n", "step:slow"),
            code("open('finished', 'w').close()\nprint(x)\n", "step:after"),
        ),
    )
    temp = tmp_path / "tmp"  # the run's own temporary folder, watched alone
    temp.mkdir()
    child = subprocess.Popen(
        [sys.executable, "-m", "kalelike.cli", "run", path.name],
        cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(temp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (tmp_path / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (tmp_path / "started").exists(), "the step never started"
    assert list(temp.glob("nb2pipe-*")) != []
    started = time.monotonic()

    child.send_signal(sig)
    _, stderr = child.communicate(timeout=30)

    assert child.returncode == exit_code, stderr
    assert time.monotonic() - started < 10
    assert stderr.splitlines()[-1] == f"nb2pipe: {said}"
    assert "Traceback" not in stderr
    assert list(temp.glob("nb2pipe-*")) == []
    time.sleep(0.5)
    assert not (tmp_path / "finished").exists()
    assert _processes_in(tmp_path) == [], "a step process outlived the run"


def _processes_in(folder: Path) -> list[str]:
    """Processes whose working directory is `folder`: the run's steps."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if Path(os.readlink(proc / "cwd")) == folder:
                found.append((proc / "cmdline").read_text().replace("\0", " ")[:80])
        except OSError:
            continue
    return found
