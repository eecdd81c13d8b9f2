"""Notebook semantics inside a step, checked by running pipelines locally."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def run(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kalelike.cli", "run", path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )


def result(path: Path) -> dict:
    return json.loads((path.parent / "result.json").read_text())


WRITE = "import json\njson.dump(result, open('result.json', 'w'))"


def test_notebook_classes_keep_their_identity_across_steps(notebook):
    path = notebook(
        [
            ("import json", ["imports"]),
            (
                "class Box:\n    def __init__(self):\n        self.items = []",
                ["functions"],
            ),
            ("box = Box()\nbox.items.append(1)", ["step:make"]),
            (
                "result = {'isinstance': isinstance(box, Box), 'items': box.items}\n"
                + WRITE,
                ["step:check"],
            ),
        ]
    )
    ran = run(path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert result(path) == {"isinstance": True, "items": [1]}


def test_global_statements_await_and_name_guard_behave_as_at_top_level(notebook):
    path = notebook(
        [
            ("import asyncio", ["imports"]),
            (
                "counter = 0\n\ndef bump():\n    global counter\n    counter += 1\n\n"
                "bump()\nbump()",
                ["step:count"],
            ),
            (
                "async def twice(x):\n    await asyncio.sleep(0)\n    return 2 * x\n\n"
                "doubled = await twice(counter)\n"
                "guarded = __name__ == '__main__'",
                ["step:use"],
            ),
            (
                "result = {'counter': counter, 'doubled': doubled,"
                " 'guarded': guarded}\n" + WRITE,
                ["step:report"],
            ),
        ]
    )
    ran = run(path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert result(path) == {"counter": 2, "doubled": 4, "guarded": True}


def test_a_function_from_an_earlier_step_reads_the_later_steps_globals(notebook):
    path = notebook(
        [
            ("import json", ["imports"]),
            ("K = 1\n\ndef scaled(x):\n    return x * K", ["step:define"]),
            ("K = 10\nresult = {'scaled': scaled(2)}\n" + WRITE, ["step:use"]),
        ]
    )
    ran = run(path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert result(path) == {"scaled": 20}


def test_a_failing_step_names_its_notebook_cell_and_line(notebook):
    path = notebook(
        [
            ("x = 1", ["step:ok"]),
            ("y = x + 1\nz = y / 0", ["step:broken"]),
        ]
    )
    ran = run(path)
    assert ran.returncode == 3
    assert "step 'broken' failed at nb.ipynb:cell 2:2: ZeroDivisionError" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_environment_set_in_one_step_reaches_a_later_one(notebook):
    path = notebook(
        [
            ("import json\nimport os", ["imports"]),
            ("%env MODE=fast\nos.environ['LEVEL'] = '3'", ["step:configure"]),
            ("x = 1", ["step:middle"]),
            (
                "result = {'mode': os.environ.get('MODE'),"
                " 'level': os.getenv('LEVEL')}\n" + WRITE,
                ["step:report"],
            ),
        ]
    )
    ran = run(path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert result(path) == {"mode": "fast", "level": "3"}


def test_figures_close_at_the_end_of_each_cell_as_in_jupyter(notebook):
    """Jupyter's inline backend closes pyplot's figures after every cell, so a
    cell drawing on the current figure never sees an earlier cell's plot."""
    pytest.importorskip("matplotlib")
    from tests.test_end_to_end import run_with_nbclient

    path = notebook(
        [
            ("import json\nimport matplotlib.pyplot as plt", ["imports"]),
            ("plt.plot([1, 2, 3])", ["step:draw"]),
            ("drawn = len(plt.gca().lines)", []),
            (
                "result = {'drawn': drawn, 'later': len(plt.gca().lines)}\n" + WRITE,
                ["step:report"],
            ),
        ]
    )
    ran = run(path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert result(path) == {"drawn": 0, "later": 0}
    assert run_with_nbclient(path, path.parent) == {"drawn": 0, "later": 0}


UNSEEN_CHANGES = [
    # (step a, step b: a change the analysis does not follow, the changed name)
    (
        "lst = [[0]]",
        "import operator\nx = operator.itemgetter(0)(lst)\nx += [1]",
        "lst",
    ),
    ("d = {'k': [1]}", "x = d.copy()\nx['k'].append(2)", "d"),
    (
        "import collections\ncounts = collections.Counter('a')",
        "tally = {'add': collections.Counter.update}\ntally['add'](counts, 'b')",
        "counts",
    ),
    (
        "import numpy as np\narr = np.zeros(2)",
        "import operator\nv = operator.itemgetter(slice(1))(arr)\nv += 1",
        "arr",
    ),
    (
        "import pandas as pd\ndf = pd.DataFrame({'a': [1.0, None]})",
        "kw = {'inplace': True}\ndf.fillna(0, **kw)",
        "df",
    ),
]


@pytest.mark.parametrize(("make", "change", "name"), UNSEEN_CHANGES)
def test_a_change_the_analysis_misses_fails_the_step_not_the_result(
    notebook, make, change, name
):
    path = notebook(
        [
            (make, ["step:a"]),
            (change, ["step:b"]),
            (f"result = repr({name})\n" + WRITE, ["step:c"]),
        ]
    )
    ran = run(path)
    assert ran.returncode == 3, ran.stdout + ran.stderr
    assert f"step 'b' failed: RuntimeError: nb.ipynb: this step changed {name!r}" in (
        ran.stderr
    )
    assert "step 'c' would read it as it was before" in ran.stderr
    assert f"`{name} = {name}`" in ran.stderr


def test_the_line_the_unseen_change_message_suggests_hands_the_value_on(notebook):
    path = notebook(
        [
            ("lst = [0]", ["step:a"]),
            ("x = lst\nx += [1]\nlst = lst", ["step:b"]),
            ("result = lst\n" + WRITE, ["step:c"]),
        ]
    )
    ran = run(path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert result(path) == [0, 1]


def test_state_of_the_functions_cells_a_step_changes_unseen_fails_it(notebook):
    path = notebook(
        [
            (
                "calls = []\n\ndef track(f):\n    def wrapper(*a):\n"
                "        calls.append(f.__name__)\n        return f(*a)\n"
                "    return wrapper\n\n@track\ndef square(x):\n    return x * x",
                ["functions"],
            ),
            ("y = square(3)", ["step:a"]),
            ("result = calls\n" + WRITE, ["step:b"]),
        ]
    )
    ran = run(path)
    assert ran.returncode == 3, ran.stdout + ran.stderr
    assert "this step changed 'calls'" in ran.stderr


def test_list_and_dict_parameters_keep_their_ints(notebook):
    path = notebook(
        [
            ("import json", ["imports"]),
            (
                "LAYERS = [64, 32]\n"
                "CFG = {'depth': 3, 'name': 'x', 'rate': 1.0, 'sizes': [1, 2.5]}",
                ["pipeline-parameters"],
            ),
            (
                "result = [json.dumps(LAYERS), json.dumps(CFG, sort_keys=True), "
                "list(range(CFG['depth']))]\n" + WRITE,
                ["step:a"],
            ),
        ]
    )
    ran = run(path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert result(path) == [
        "[64, 32]",
        '{"depth": 3, "name": "x", "rate": 1.0, "sizes": [1, 2.5]}',
        [0, 1, 2],
    ]


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("float('nan')", "is nan, which KFP cannot record"),
        ("float('-inf')", "is -inf, which KFP cannot record"),
        ("'high'", "is 'high' (a str), not a number"),
    ],
)
def test_a_metric_kfp_cannot_record_fails_its_step(notebook, value, said):
    path = notebook([(f"score = {value}", ["step:a"]), ("score", ["pipeline-metrics"])])
    ran = run(path)
    assert ran.returncode == 3, ran.stdout + ran.stderr
    assert "step 'a' failed" in ran.stderr
    assert f"the metric 'score' {said}" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_a_delete_on_some_paths_reaches_later_steps_as_it_went(notebook):
    path = notebook(
        [
            ("FLAG = True", ["pipeline-parameters"]),
            ("v = 1", ["step:a"]),
            ("if FLAG:\n    del v", ["step:b"]),
            (
                "try:\n    result = v\nexcept NameError:\n    result = 'gone'\n"
                + WRITE,
                ["step:c"],
            ),
        ]
    )
    ran = run(path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert result(path) == "gone"


@pytest.mark.parametrize(
    ("cell", "read", "want"),
    [
        ("%%capture cap\nprint('hi')", "cap.stdout", "hi\n"),
        (
            "%%bash --out out --err err\necho hi\necho no >&2",
            "[out, err]",
            ["hi\n", "no\n"],
        ),
    ],
)
def test_what_a_cell_magic_caught_reaches_a_later_step(notebook, cell, read, want):
    path = notebook(
        [
            (cell, ["step:a"]),
            (f"result = {read}\n" + WRITE, ["step:b"]),
        ]
    )
    ran = run(path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert result(path) == want


# -- shared objects and caches --


def test_a_function_passed_to_a_notebook_function_that_calls_it_counts(notebook):
    path = notebook(
        [
            (
                "def run_all(callbacks):\n    for call in callbacks:\n        call()",
                ["functions"],
            ),
            (
                "STATUS = 'pending'\ndef on_done():\n    global STATUS\n"
                "    STATUS = 'done'\ncallbacks = [on_done]",
                ["step:a"],
            ),
            ("run_all(callbacks)", ["step:b"]),
            ("result = STATUS\n" + WRITE, ["step:c"]),
        ]
    )
    ran = run(path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert result(path) == "done"


def test_a_sentinel_of_the_functions_cells_keeps_its_identity(notebook):
    path = notebook(
        [
            ("MISSING = object()", ["functions"]),
            ("v = {'k': MISSING}", ["step:a"]),
            ("result = v['k'] is MISSING\n" + WRITE, ["step:b"]),
        ]
    )
    ran = run(path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert result(path) is True


def test_a_dict_view_stays_a_view_of_its_dict(notebook):
    path = notebook(
        [
            ("cfg = {'a': 1}\nkeys = cfg.keys()", ["step:a"]),
            ("cfg['b'] = 2", ["step:b"]),
            ("result = list(keys)\n" + WRITE, ["step:c"]),
        ]
    )
    ran = run(path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert result(path) == ["a", "b"]


def test_two_names_for_one_object_stay_one_object(notebook):
    path = notebook(
        [
            ("d = {'k': [1]}\nx = d['k']\nother = [0]", ["step:a"]),
            ("x.append(2)\nother.append(1)", ["step:b"]),
            ("result = [d, x is d['k'], other]\n" + WRITE, ["step:c"]),
        ]
    )
    ran = run(path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert result(path) == [{"k": [1, 2]}, True, [0, 1]]
    formats = {}
    for meta in (path.parent / "nb2pipe_runs").rglob("executor_output.json"):
        for name, artifacts in (
            json.loads(meta.read_text()).get("artifacts", {}).items()
        ):
            formats[name] = artifacts["artifacts"][0]["metadata"]["format"]
    assert formats["d_out"] == formats["x_out"] == "cloudpickle-group"
    assert formats["other_out"] == "cloudpickle"


@pytest.mark.parametrize(
    ("cells", "want"),
    [
        pytest.param(
            ["z = [0]", "z2 = z", "z2.append(1)", "result = z"], [0, 1], id="name"
        ),
        pytest.param(
            ["z = [0]", "z2 = z", "z3 = z2", "z3.append(1)", "result = [z, z2]"],
            [[0, 1], [0, 1]],
            id="alias-of-alias",
        ),
        pytest.param(
            ["z = [0]", "z2 = z", "z.append(5)", "z2.append(1)", "result = [z, z2]"],
            [[0, 5, 1], [0, 5, 1]],
            id="original-changed-between",
        ),
        pytest.param(
            ["a = b = []", "a.append(1)", "result = b"], [1], id="chained-assignment"
        ),
        pytest.param(
            [
                "pair = ([0], [1])",
                "first, _ = pair",
                "first.append(9)",
                "result = pair",
            ],
            [[0, 9], [1]],
            id="unpacking",
        ),
        pytest.param(
            ["rows = [[0]]", "last = rows[-1]", "last.append(1)", "result = rows"],
            [[0, 1]],
            id="subscript",
        ),
        pytest.param(
            ["rows = [[0]]", "if w := rows[0]:\n    w", "w.append(1)", "result = rows"],
            [[0, 1]],
            id="walrus",
        ),
        pytest.param(
            ["import numpy as np\na = np.zeros(2)", "b = a", "b += 1", "result = [*a]"],
            [1.0, 1.0],
            id="augmented",
        ),
        pytest.param(
            [
                "import numpy as np\na = np.zeros(4)",
                "v = a.reshape(2, 2)",
                "v[0, 0] = 7",
                "result = list(a)",
            ],
            [7.0, 0.0, 0.0, 0.0],
            id="view-method",
        ),
        pytest.param(
            [
                "import numpy as np\na = np.zeros(2)",
                "v = np.asarray(a)",
                "v[0] = 3",
                "result = list(a)",
            ],
            [3.0, 0.0],
            id="view-function",
        ),
        pytest.param(
            [
                "def pick(d):\n    return d['k']",
                "d = {'k': [1]}",
                "x = pick(d)",
                "x.append(2)",
                "result = d",
            ],
            {"k": [1, 2]},
            id="returned-argument",
        ),
        pytest.param(
            ["h = []\nstate = {'h': h}", "h.append(0.5)", "result = state"],
            {"h": [0.5]},
            id="empty-container",
        ),
        pytest.param(
            ["log = []\nadd = log.append", "add(1)", "result = log"],
            [1],
            id="bound-method",
        ),
        pytest.param(
            [
                "import collections\nq = collections.deque([1])\nheld = {'q': q}",
                "q.append(2)",
                "result = list(held['q'])",
            ],
            [1, 2],
            id="deque",
        ),
        pytest.param(
            [
                "import numpy as np\ndata = np.arange(4.)\nhead, _ = np.split(data, 2)",
                "head -= 1",
                "result = [*data]",
            ],
            [-1.0, 0.0, 2.0, 3.0],
            id="split-views",
        ),
        pytest.param(
            [
                "def make():\n    box = []\n    return box, {'box': box}",
                "a, b = make()",
                "a.append(1)",
                "result = b",
            ],
            {"box": [1]},
            id="parts-of-one-result",
        ),
        pytest.param(
            ["grid = [[0], [1]]", "[r.append(9) for r in grid]", "result = grid"],
            [[0, 9], [1, 9]],
            id="comprehension-variable",
        ),
        pytest.param(
            [
                "import numpy as np\na = np.zeros(3)",
                "np.add.at(a, [0, 0], 1)",
                "result = [*a]",
            ],
            [2.0, 0.0, 0.0],
            id="ufunc-at",
        ),
        pytest.param(
            [
                "MODE = None\nclass Cfg:\n    @property\n    def mode(self):\n"
                "        return MODE\n    @mode.setter\n    def mode(self, value):\n"
                "        global MODE\n        MODE = value\ncfg = Cfg()",
                "cfg.mode = 'train'",
                "result = MODE",
            ],
            "train",
            id="property-setter",
        ),
        pytest.param(
            ["OFFSET = 10\ng = lambda x: x + OFFSET", "result = g(1)"],
            11,
            id="lambda-globals",
        ),
    ],
)
def test_an_alias_made_in_one_step_and_changed_in_another_changes_the_original(
    notebook, cells, want
):
    path = notebook(
        [(src, [f"step:s{i}"]) for i, src in enumerate(cells[:-1])]
        + [(cells[-1] + "\n" + WRITE, ["step:last"])]
    )
    ran = run(path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert result(path) == want


def test_logging_configured_in_the_imports_cell_writes_its_file(notebook):
    path = notebook(
        [
            (
                "import logging\nlogging.basicConfig(filename='run.log', level='INFO')",
                ["imports"],
            ),
            ("logging.info('trained')", ["step:train"]),
            ("result = open('run.log').read().splitlines()\n" + WRITE, ["step:report"]),
        ]
    )
    ran = run(path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert result(path) == ["INFO:root:trained"]


def test_string_hashes_agree_between_steps(notebook):
    path = notebook(
        [
            ("bucket = hash('nb2pipe') % 1000", ["step:a"]),
            ("result = bucket == hash('nb2pipe') % 1000\n" + WRITE, ["step:b"]),
        ]
    )
    ran = run(path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert result(path) is True


def test_a_display_magic_spelled_out_as_a_call_is_skipped_as_the_magic(notebook):
    path = notebook(
        [
            ("get_ipython().run_line_magic('matplotlib', 'inline')", ["imports"]),
            ("x = 1", ["step:a"]),
            ("result = x\n" + WRITE, ["step:b"]),
        ]
    )
    ran = run(path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert result(path) == 1


def test_an_exception_whose_init_takes_other_arguments_crosses_steps(notebook):
    path = notebook(
        [
            (
                "class FetchError(Exception):\n    def __init__(self, url, code):\n"
                "        super().__init__(f'{url}: {code}')\n        self.code = code",
                ["functions"],
            ),
            ("errors = [FetchError('a', 404), KeyError('k')]", ["step:a"]),
            (
                "result = [errors[0].code, str(errors[0]), repr(errors[1])]\n" + WRITE,
                ["step:b"],
            ),
        ]
    )
    ran = run(path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert result(path) == [404, "a: 404", "KeyError('k')"]


def test_an_alias_of_a_parameter_changed_in_another_step_changes_the_parameter(
    notebook,
):
    path = notebook(
        [
            ("p = [1]", ["pipeline-parameters"]),
            ("x = p", ["step:alias"]),
            ("x.append(2)", ["step:change"]),
            ("result = p\n" + WRITE, ["step:report"]),
        ]
    )
    ran = run(path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert result(path) == [1, 2]


def test_fitting_a_pipeline_fails_the_step_that_changes_the_estimator_in_it(
    notebook,
):
    path = notebook(
        [
            (
                "from sklearn.pipeline import make_pipeline\n"
                "from sklearn.preprocessing import StandardScaler\n"
                "from sklearn.linear_model import LinearRegression",
                ["imports"],
            ),
            (
                "scaler = StandardScaler()\n"
                "model = make_pipeline(scaler, LinearRegression())",
                ["step:make"],
            ),
            ("model.fit([[0.0], [1.0], [2.0]], [0.0, 1.0, 2.0])", ["step:fit"]),
            ("result = hasattr(scaler, 'mean_')\n" + WRITE, ["step:report"]),
        ]
    )
    ran = run(path)
    assert ran.returncode == 3, ran.stdout + ran.stderr
    assert "step 'fit' failed" in ran.stderr
    assert "this step changed 'scaler'" in ran.stderr


def test_a_cache_with_side_effects_used_by_two_steps_is_refused(notebook):
    path = notebook(
        [
            (
                "from functools import lru_cache\nLOG = []\n\n@lru_cache\n"
                "def slow(x):\n    LOG.append(x)\n    return x",
                ["functions"],
            ),
            ("slow(1)", ["step:a"]),
            ("slow(1)\nresult = LOG\n" + WRITE, ["step:b"]),
        ]
    )
    ran = run(path)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "nb.ipynb:cell 3:1:1: error: `slow` keeps a cache" in ran.stderr
    assert "[memoized-side-effects]" in ran.stderr


def test_reading_values_whose_state_caches_a_read_does_not_fail_the_step(notebook):
    """Caches filled by a read (a search tree's counters, sklearn's id of its stop
    words, pandas' lazily computed attributes, a figure's callback ids, a
    `cached_property`) are not changes; nor are pandas display options."""
    path = notebook(
        [
            (
                "import json\nfrom functools import cached_property\n"
                "import matplotlib\nmatplotlib.use('Agg')\n"
                "import matplotlib.pyplot as plt\nimport pandas as pd\n"
                "from sklearn.feature_extraction.text import TfidfVectorizer\n"
                "from sklearn.neighbors import KNeighborsClassifier",
                ["imports"],
            ),
            (
                "class Box:\n    def __init__(self, values):\n"
                "        self.values = values\n\n    @cached_property\n"
                "    def total(self):\n        return sum(self.values)",
                ["functions"],
            ),
            (
                "knn = KNeighborsClassifier(1).fit([[0], [1], [2]], [0, 1, 1])\n"
                "vec = TfidfVectorizer().fit(['good film', 'bad film'])\n"
                "fig, ax = plt.subplots()\nax.plot([1, 2])\n"
                "box = Box([1, 2])\n"
                "dates = pd.date_range('2024-01-01', periods=3)\n"
                "frames = {'a': pd.DataFrame({'t': dates, 'x': [1.0, 2.0, 3.0]})}\n"
                "by = frames['a'].groupby('x')",
                ["step:make"],
            ),
            (
                "pd.set_option('display.width', 200)\n"
                "seen = [knn.score([[0]], [0]), vec.transform(['good']).nnz, "
                "len(fig.axes), box.total, str(dates[0]), "
                "str(frames['a'].values[-1, 0]), len(by['x'].count())]",
                ["step:use"],
            ),
            (
                "result = [seen, knn.predict([[2]]).tolist(), box.total, len(dates)]\n"
                "by['x'].count()\nfig.savefig('figure.png')\n" + WRITE,
                ["step:report"],
            ),
        ]
    )
    ran = run(path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert result(path) == [
        [1.0, 1, 1, 3, "2024-01-01 00:00:00", "2024-01-03 00:00:00", 3],
        [1],
        3,
        3,
    ]


def run_with(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kalelike.cli", *args, path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )


# KFP's Struct holds a dict's keys in no fixed order; many keys make a shuffle
# that happens to leave them in order unlikely.
ORDERED = "{'k6': 1, 'k2': 'x', 'k9': {'z': 1, 'a': 2, 'm': 3}, 'k1': 0.5, 'k4': 4}"


@pytest.mark.parametrize(
    ("given", "keys"),
    [
        (None, ["k6", "k2", "k9", "k1", "k4"]),
        # The default's keys in its order, then those it lacks as they came.
        (
            '{"k4": 0, "new": 1, "k9": {"a": 0, "m": 0, "z": 0}, "k6": 0}',
            ["k6", "k9", "k4", "new"],
        ),
    ],
)
def test_dict_parameters_keep_the_key_order_of_the_default(notebook, given, keys):
    path = notebook(
        [
            (f"CFG = {ORDERED}\nRECS = [{ORDERED}]", ["pipeline-parameters"]),
            (
                "result = [list(CFG), list(CFG['k9']), list(RECS[0]), "
                "list(RECS[0]['k9'])]\n" + WRITE,
                ["step:a"],
            ),
        ]
    )
    param = ["--param", f"CFG={given}"] if given else []
    ran = run_with(path, "run", *param)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    cfg, inner, rec, rec_inner = result(path)
    assert cfg == keys and inner == ["z", "a", "m"]
    assert rec == ["k6", "k2", "k9", "k1", "k4"] and rec_inner == ["z", "a", "m"]


@pytest.mark.parametrize(
    "pair", ["SEED=12345678901234567", "IDS=[1, 12345678901234567]"]
)
def test_an_int_kfp_would_round_fails_the_step_given_it(notebook, pair):
    path = notebook(
        [
            ("SEED = 1\nIDS = [1, 2]", ["pipeline-parameters"]),
            ("result = [SEED, IDS]\n" + WRITE, ["step:a"]),
        ]
    )
    assert run_with(path, "convert").returncode == 0
    # The script's own `--param` checks forms only; the step sees the rounding.
    script = path.with_name("nb_pipeline.py")
    ran = subprocess.run(
        [sys.executable, script.name, "--local", "--param", pair],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode != 0
    name = pair.partition("=")[0]
    assert f"parameter {name!r} holds 12345678901234568, which may not be the int " in (
        ran.stdout + ran.stderr
    )
    assert not (path.parent / "result.json").exists()


def test_files_named_through_parameters_functions_and_imports_order_steps(notebook):
    path = notebook(
        [
            ("import json, sqlite3", ["imports"]),
            ("DB = 'exp.db'", ["pipeline-parameters"]),
            (
                "def save(rows):\n    con = sqlite3.connect(DB)\n"
                "    con.execute('create table t (i int)')\n"
                "    con.executemany('insert into t values (?)', rows)\n"
                "    con.commit()\n    con.close()",
                ["functions"],
            ),
            ("%%writefile helper_mod.py\nVALUE = 42", ["step:module"]),
            ("save([(1,), (2,)])", ["step:write"]),
            (
                "import helper_mod\ncon = sqlite3.connect(DB)\n"
                "got = [r[0] for r in con.execute('select i from t order by i')]\n"
                "con.close()\nresult = {'got': got, 'value': helper_mod.VALUE}\n"
                + WRITE,
                ["step:read"],
            ),
        ]
    )
    ran = run(path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert result(path) == {"got": [1, 2], "value": 42}
    assert "file 'exp.db' is written by step 'write' and read by step" in ran.stderr
