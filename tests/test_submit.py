"""Reaching a cluster: the script's `--run` and `nb2pipe submit` against a fake
KFP server on 127.0.0.1, which answers every request with one status.

What a real Kubeflow cluster adds (auth proxies such as Dex or IAP, multi-user
namespaces, the run actually executing) is not tested here; see the README.
"""

import http.server
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from kalelike import conversion
from kalelike.cli import main

CELLS = [
    ("TEXT = 'hello'\nN = 2", ["pipeline-parameters"]),
    ("words = [TEXT] * N", ["step:make", "limit:cpu:1"]),
]
METADATA = {"pipeline_name": "submitted", "experiment_name": "nightly"}
REASONS = {200: "OK", 401: "Unauthorized", 500: "Internal Server Error"}


class FakeServer(http.server.ThreadingHTTPServer):
    """Answers every request with `status` and `{}`, and keeps what it was sent."""

    status = 200
    requests: list[tuple[str, str, bytes]]


class Handler(http.server.BaseHTTPRequestHandler):
    server: FakeServer

    def answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.requests.append((self.command, self.path, self.rfile.read(length)))
        body = b"{}"
        self.send_response(self.server.status, REASONS[self.server.status])
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer(("127.0.0.1", 0), Handler)
    fake.requests = []
    thread = threading.Thread(target=fake.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.shutdown()
    fake.server_close()


def url(server: http.server.HTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def script(notebook, tmp_path: Path) -> Path:
    path = notebook(CELLS, kubeflow_notebook=METADATA)
    target = tmp_path / "nb_pipeline.py"
    target.write_text(conversion.convert(path).script)
    return target


def run_script(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), "--run", *args],
        capture_output=True,
        text=True,
        cwd=script.parent,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (500, "answered 500 Internal Server Error"),
        (401, "answered 401 Unauthorized; check your credentials"),
    ],
)
def test_an_error_status_is_one_line_and_exit_4(server, script, status, words):
    server.status = status
    started = time.perf_counter()
    done = run_script(script, "--host", url(server))
    assert done.returncode == 4
    assert done.stderr == f"the KFP server at {url(server)} {words}\n"
    assert time.perf_counter() - started < 15  # not kfp's five tries 5 s apart
    assert len(server.requests) == 1


def test_nothing_listening_is_one_line_and_exit_4(script):
    closed = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    address = url(closed)
    closed.server_close()
    done = run_script(script, "--host", address)
    assert done.returncode == 4
    assert done.stderr.startswith(f"cannot reach a KFP server at {address}: ")
    assert "Connection refused" in done.stderr
    assert done.stderr.count("\n") == 1


def test_a_run_sends_the_pipeline_its_parameters_and_experiment(server, script):
    done = run_script(script, "--host", url(server), "--param", "TEXT=bye 'now'")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    sent = {
        (method, path.split("?")[0]): body for method, path, body in server.requests
    }
    experiment = json.loads(sent[("POST", "/apis/v2beta1/experiments")])
    assert experiment["display_name"] == "nightly"
    run = json.loads(sent[("POST", "/apis/v2beta1/runs")])
    assert run["pipeline_spec"]["pipelineInfo"]["name"] == "submitted"
    assert run["runtime_config"]["parameters"] == {"TEXT": "bye 'now'"}


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_submit_refused_by_the_server_exits_4(server, notebook):
    server.status = 401
    path = notebook(CELLS, kubeflow_notebook=METADATA)
    result = invoke("submit", str(path), "--host", url(server))
    assert result.exit_code == 4
    assert result.stdout == ""
    assert result.stderr == (
        f"nb2pipe: the KFP server at {url(server)} answered 401 Unauthorized; "
        "check your credentials\n"
    )


def test_submit_starts_a_run_in_the_experiment_given(server, notebook):
    path = notebook(CELLS, kubeflow_notebook=METADATA)
    result = invoke(
        "submit",
        str(path),
        "--host",
        url(server),
        "--experiment",
        "adhoc",
        "--param",
        "N=5",
    )
    assert result.exit_code == 0, result.stderr
    assert "Run details" in result.stdout
    bodies = {path.split("?")[0]: body for _, path, body in server.requests if body}
    assert json.loads(bodies["/apis/v2beta1/experiments"])["display_name"] == "adhoc"
    run = json.loads(bodies["/apis/v2beta1/runs"])
    assert run["runtime_config"]["parameters"] == {"N": 5}


def test_submit_with_a_bad_parameter_is_a_usage_error(server, notebook):
    path = notebook(CELLS, kubeflow_notebook=METADATA)
    result = invoke("submit", str(path), "--host", url(server), "--param", "MISSING=1")
    assert result.exit_code == 2
    assert "--param 'MISSING=1'" in result.stderr
    assert server.requests == []


@pytest.mark.parametrize(
    ("pair", "words"),
    [
        ("FLAG=flase", "FLAG is a bool parameter; give true or false"),
        ("N=abc", "N is an int parameter; give a whole number"),
        ("N=2.5", "N is an int parameter; give a whole number"),
        ("VALUES={}", "VALUES is a list parameter; give a JSON list"),
        ("MISSING=1", "expected NAME=VALUE, NAME one of ['FLAG', 'N', 'VALUES']"),
    ],
)
def test_the_scripts_own_parser_refuses_a_bad_param_with_exit_2(
    notebook, tmp_path: Path, pair, words
):
    path = notebook(
        [
            ("FLAG = True\nN = 2\nVALUES = [1]", ["pipeline-parameters"]),
            ("out = [FLAG, N, VALUES]", ["step:use"]),
        ]
    )
    script = tmp_path / "nb_pipeline.py"
    script.write_text(conversion.convert(path).script)
    done = subprocess.run(
        [sys.executable, str(script), "--param", pair, "--output", "x.yaml"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"nb_pipeline.py: error: --param {pair!r}: {words}")
    assert done.stderr.count("\n") == 1
    assert not (tmp_path / "x.yaml").exists()


def test_the_scripts_own_parser_reads_every_type(notebook, tmp_path: Path):
    path = notebook(
        [
            (
                "FLAG = True\nN = 2\nRATE = 0.5\nVALUES = [1]\nOPTIONS = {}\nNAME = ''",
                ["pipeline-parameters"],
            ),
            ("out = [FLAG, N, RATE, VALUES, OPTIONS, NAME]", ["step:use"]),
        ]
    )
    (tmp_path / "script.py").write_text(conversion.convert(path).script)
    pairs = ["FLAG=False", "N=-3", "RATE=2", 'VALUES=["a"]']
    pairs += ['OPTIONS={"k": [true]}', "NAME=a=b"]
    code = "import json, sys, script\n"
    code += "print(json.dumps(script.parse_parameters(sys.argv[1:])))"
    done = subprocess.run(
        [sys.executable, "-c", code, *pairs],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout) == {
        "FLAG": False,
        "N": -3,
        "RATE": 2.0,
        "VALUES": ["a"],
        "OPTIONS": {"k": [True]},
        "NAME": "a=b",
    }


def test_submit_without_a_host_is_one_clean_line(notebook, monkeypatch, tmp_path):
    monkeypatch.delenv("KF_PIPELINES_ENDPOINT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config to find
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    path = notebook(CELLS)
    result = invoke("submit", str(path))
    assert result.exit_code == 4, result.output
    assert "kube config" not in result.output
    assert result.stdout == ""
    assert result.stderr.startswith("nb2pipe: ")
    assert result.stderr.count("\n") == 1
    assert "pass --host URL" in result.stderr


@pytest.mark.parametrize("host", ["localhost:8080", "ftp://server", "http://", "x y"])
def test_submit_refuses_a_host_that_is_no_url(notebook, host):
    result = invoke("submit", str(notebook(CELLS)), "--host", host)
    assert result.exit_code == 2
    assert result.stderr == (
        f"nb2pipe: --host {host!r} is not an http:// or https:// address; give the "
        "KFP server's URL, like http://localhost:8080\n"
    )


@pytest.mark.parametrize("host", ["localhost:8080", "ftp://server"])
def test_the_script_refuses_a_host_that_is_no_url(script, host):
    done = run_script(script, "--host", host)
    assert done.returncode == 2, done.stderr
    assert done.stderr.endswith(
        f"error: --host {host!r} is not an http:// or https:// address\n"
    )
