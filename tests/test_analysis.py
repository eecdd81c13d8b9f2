"""Snippet tests: cells in, each step's inputs, outputs and findings out."""

import ast

import pytest

from kalelike import analysis, analyze


def flow(notebook, *cells):
    """Analyse cells given as (tags, source); return {step: (inputs, outputs)}."""
    pipeline = analyze(notebook([(source, tags) for tags, source in cells]))
    steps = {s.name: (sorted(s.inputs), sorted(s.outputs)) for s in pipeline.steps}
    return steps, pipeline


def errors(pipeline):
    return [(f.code, f.name) for f in pipeline.findings if f.severity == "error"]


@pytest.mark.parametrize(
    ("change", "target"),
    [
        ("df.dropna(inplace=True)", "df"),
        ("items.append(1)", "items"),
        ("d['k'] = 1", "d"),
        ("obj.attr = 1", "obj"),
        ("x += 1", "x"),
        ("items.sort()", "items"),
        ("model.fit(items, items)", "model"),
        ("del d['k']", "d"),
        ("random.shuffle(items)", "items"),
        ("obj.inner.items[0] = 2", "obj"),
    ],
)
def test_in_place_change_is_an_output_and_the_reader_gets_it(notebook, change, target):
    steps, pipeline = flow(
        notebook,
        (["imports"], "import random"),
        (["step:a"], "df = d = obj = x = model = items = None"),
        (["step:b"], change),
        (["step:c"], f"print({target})"),
    )
    assert target in steps["b"][0] and target in steps["b"][1]
    assert pipeline.step("c").inputs[target].producer == "b"


def test_read_only_methods_do_not_make_outputs(notebook):
    steps, _ = flow(
        notebook,
        (["step:a"], "df = {'a': 1}"),
        (["step:b"], "n = len(df.keys())\nv = df.get('a')"),
        (["step:c"], "print(df, n, v)"),
    )
    assert steps["b"] == (["df"], ["n", "v"])
    assert steps["a"] == ([], ["df"])


def test_latest_writer_in_notebook_order_wins(notebook):
    _, pipeline = flow(
        notebook,
        (["step:first"], "data = [1]\nunit = 'm'"),
        (["step:second"], "data = [d * 10 for d in data]\nunit = unit.upper()"),
        (["step:third"], "data = data + [99]"),
        (["step:final"], "print(data, unit)"),
    )
    final = pipeline.step("final")
    assert {n: i.producer for n, i in final.inputs.items()} == {
        "data": "third",
        "unit": "second",
    }


def test_function_reads_its_globals_when_called(notebook):
    steps, pipeline = flow(
        notebook,
        (["functions"], "def scaled(x):\n    return x * SCALE + OFFSET"),
        (["pipeline-parameters"], "SCALE = 2.0"),
        (["step:setup"], "OFFSET = 1.0"),
        (["step:use"], "y = scaled(3)"),
    )
    assert steps["use"][0] == ["OFFSET"]
    assert pipeline.step("use").parameters == {"SCALE"}


def test_function_globals_are_followed_transitively(notebook):
    steps, _ = flow(
        notebook,
        (
            ["functions"],
            "def inner():\n    return K\n\ndef outer():\n    return inner()",
        ),
        (["step:a"], "K = 1"),
        (["step:b"], "v = outer()"),
    )
    assert steps["b"][0] == ["K"]


def test_name_bound_before_the_call_is_not_an_input(notebook):
    steps, _ = flow(
        notebook,
        (["functions"], "def f():\n    return K"),
        (["step:a"], "K = 1"),
        (["step:b"], "K = 2\nv = f()"),
    )
    assert steps["b"][0] == []


def test_method_of_a_notebook_class_reads_its_globals(notebook):
    steps, pipeline = flow(
        notebook,
        (["functions"], "class Acc:\n    def push(self, x):\n        return x < LIMIT"),
        (["pipeline-parameters"], "LIMIT = 3"),
        (["step:a"], "acc = Acc()"),
        (["step:b"], "ok = acc.push(1)"),
    )
    assert pipeline.step("b").parameters == {"LIMIT"}
    assert steps["b"] == (["acc"], [])


def test_function_changing_its_argument_changes_the_callers_value(notebook):
    steps, _ = flow(
        notebook,
        (["functions"], "def clean(frame):\n    frame.dropna(inplace=True)"),
        (["step:a"], "df = 1"),
        (["step:b"], "clean(df)"),
        (["step:c"], "print(df)"),
    )
    assert steps["b"] == (["df"], ["df"])


def test_global_statement_rebinds_a_module_name(notebook):
    steps, _ = flow(
        notebook,
        (["functions"], "def bump():\n    global counter\n    counter += 1"),
        (["step:a"], "counter = 0"),
        (["step:b"], "bump()"),
        (["step:c"], "print(counter)"),
    )
    assert steps["b"] == (["counter"], ["counter"])


def test_comprehension_variables_do_not_leak_but_walrus_does(notebook):
    steps, pipeline = flow(
        notebook,
        (
            ["step:a"],
            "data = [1, 5]\nx = 'outer'\nsq = [x * x for x in data]\n"
            "flags = [(big := v) > 3 for v in data]",
        ),
        (["step:b"], "print(x, sq, flags, big)"),
    )
    assert steps["b"][0] == ["big", "flags", "sq", "x"]
    assert errors(pipeline) == []


def test_comprehension_variable_read_later_is_undefined(notebook):
    _, pipeline = flow(
        notebook,
        (["step:a"], "sq = [v * v for v in range(3)]"),
        (["step:b"], "print(v)"),
    )
    assert errors(pipeline) == [("undefined-name", "v")]


def test_loop_variables_and_unpacking_bind(notebook):
    steps, pipeline = flow(
        notebook,
        (
            ["step:a"],
            "for i, (n, w) in enumerate([('a', 1)]):\n    pass\n"
            "head, *mid, tail = range(5)\n(p, q), r = (1, 2), 3",
        ),
        (["step:b"], "print(i, n, w, head, mid, tail, p, q, r)"),
    )
    assert steps["b"][0] == sorted(
        ["i", "n", "w", "head", "mid", "tail", "p", "q", "r"]
    )
    assert errors(pipeline) == []


def test_augmented_assignment_reads_and_writes_and_del_unbinds(notebook):
    steps, _ = flow(
        notebook,
        (["step:a"], "total = 0\nscratch = 'x'"),
        (["step:b"], "total += 100\ndel scratch"),
        (["step:c"], "print(total, 'scratch' in globals())"),
    )
    assert steps["b"] == (["scratch", "total"], ["total"])
    assert steps["c"][0] == ["total"]


def test_reading_a_deleted_name_is_a_finding(notebook):
    _, pipeline = flow(
        notebook,
        (["step:a"], "x = 1"),
        (["step:b"], "del x"),
        (["step:c"], "print(x)"),
    )
    assert errors(pipeline) == [("undefined-name", "x")]


def test_undefined_name_names_cell_line_and_name(notebook):
    _, pipeline = flow(notebook, (["step:a"], "x = 1\ny = missing + x"))
    [finding] = [f for f in pipeline.findings if f.severity == "error"]
    assert (finding.cell, finding.line, finding.name) == (0, 2, "missing")
    assert finding.format("nb.ipynb").startswith("nb.ipynb:cell 1:2:5: error:")


def test_imports_are_reimported_never_handed_on(notebook):
    steps, pipeline = flow(
        notebook,
        (["step:a"], "import json as j\nfrom os import path"),
        (["step:b"], "print(j.dumps(1), path.sep)"),
    )
    assert steps["a"] == ([], [])
    assert set(pipeline.step("b").reimports) == {"j", "path"}


def test_conditional_binding_keeps_the_earlier_value_when_handed_on(notebook):
    steps, _ = flow(
        notebook,
        (["step:a"], "best = 0"),
        (["step:b"], "for v in [3, 1]:\n    if v > 2:\n        best = v"),
        (["step:c"], "print(best)"),
    )
    assert steps["b"] == (["best"], ["best"])


def test_parameter_rebound_in_a_step_is_handed_on(notebook):
    steps, pipeline = flow(
        notebook,
        (["pipeline-parameters"], "RATE = 0.5"),
        (["step:a"], "RATE = RATE / 2"),
        (["step:b"], "print(RATE)"),
    )
    assert pipeline.step("a").parameters == {"RATE"}
    assert steps["b"][0] == ["RATE"]
    assert pipeline.step("b").parameters == set()


def test_names_in_strings_and_fstrings(notebook):
    steps, _ = flow(
        notebook,
        (["step:a"], "a = 1\nb = 2"),
        (["step:b"], "print('a', f'{b}')"),
    )
    assert steps["b"][0] == ["b"]


def test_with_and_except_bindings(notebook):
    steps, pipeline = flow(
        notebook,
        (
            ["step:a"],
            "with open(__file__ if False else 'x', 'w') as fh:\n    n = 1\n"
            "try:\n    1 / 0\nexcept ZeroDivisionError as err:\n    m = 2",
        ),
        (["step:b"], "print(n, m)"),
    )
    assert steps["b"][0] == ["m", "n"]
    assert errors(pipeline) == []


def test_what_a_suppressing_with_binds_may_stay_unbound(notebook):
    _, pipeline = flow(
        notebook,
        (["imports"], "from contextlib import suppress"),
        (["step:a"], "val = 'default'"),
        (["step:b"], "with suppress(KeyError):\n    val = {}['missing']"),
        (["step:c"], "print(val)"),
    )
    assert pipeline.step("b").inputs["val"].producer == "a"
    assert pipeline.step("c").inputs["val"].producer == "b"


def test_reading_a_missing_key_of_a_defaultdict_changes_it(notebook):
    _, pipeline = flow(
        notebook,
        (["imports"], "from collections import defaultdict"),
        (["step:a"], "groups = defaultdict(list)\nplain = {'y': []}"),
        (["step:b"], "n = len(groups['y']) + len(plain['y'])"),
        (["step:c"], "print(sorted(groups), plain, n)"),
    )
    assert pipeline.step("c").inputs["groups"].producer == "b"
    assert pipeline.step("c").inputs["plain"].producer == "a"


def test_names_the_shell_namespace_binds_are_warned_about(notebook):
    _, pipeline = flow(
        notebook,
        (["step:a"], "get_ipython().user_ns['base'] = 5\nget_ipython().push({'x': 1})"),
    )
    found = [(f.code, f.line) for f in pipeline.findings]
    assert found == [("dynamic-names", 1), ("dynamic-names", 2)]


def test_match_captures_bind(notebook):
    steps, pipeline = flow(
        notebook,
        (["step:a"], "match (1, 2):\n    case (first, *rest):\n        pass"),
        (["step:b"], "print(first, rest)"),
    )
    assert steps["b"][0] == ["first", "rest"]
    assert errors(pipeline) == []


def test_parallel_producers_resolve_by_notebook_order_with_a_warning(notebook):
    _, pipeline = flow(
        notebook,
        (["step:base"], "base = [1]"),
        (["step:a", "prev:base"], "score = sum(base)"),
        (["step:b", "prev:base"], "score = max(base)"),
        (["step:join", "prev:a", "prev:b"], "print(score)"),
    )
    assert pipeline.step("join").inputs["score"].producer == "b"
    assert [f.code for f in pipeline.findings] == ["ambiguous-producer"]


def test_prev_cycle_and_unknown_prev_are_findings(notebook):
    _, pipeline = flow(
        notebook,
        (["step:alpha", "prev:gamma"], "a = 1"),
        (["step:beta"], "b = a"),
        (["step:gamma", "prev:nowhere"], "c = b"),
    )
    codes = {f.code for f in pipeline.findings if f.severity == "error"}
    assert {"dependency-cycle", "unknown-step"} <= codes


def test_generator_crossing_steps_is_refused(notebook):
    _, pipeline = flow(
        notebook,
        (
            ["step:a"],
            "import tempfile\nstream = (i for i in range(3))\nhandle = open('f', 'w')\n"
            "scratch = tempfile.TemporaryDirectory()",
        ),
        (["step:b"], "print(next(stream), scratch.name)\nhandle.close()"),
    )
    assert sorted(errors(pipeline)) == [
        ("not-serializable", "handle"),
        ("not-serializable", "scratch"),
        ("not-serializable", "stream"),
    ]


@pytest.mark.parametrize(
    "source",
    ["x = [1] + y", "def f(:\n  pass"],
)
def test_parameters_must_be_literals(notebook, source):
    _, pipeline = flow(
        notebook, (["pipeline-parameters"], source), (["step:a"], "print(1)")
    )
    assert errors(pipeline)[0][0] in {"parameter-not-literal", "syntax-error"}


def test_a_refused_parameter_is_named_once_not_again_at_each_use(notebook):
    _, pipeline = flow(
        notebook,
        (["pipeline-parameters"], "LR = 0.1 * 2\nSEED = 12345678901234567"),
        (["step:a"], "print(LR, SEED)"),
    )
    assert errors(pipeline) == [
        ("parameter-not-literal", "LR"),
        ("parameter-not-literal", "SEED"),
    ]


@pytest.mark.parametrize(
    ("use", "warned"),
    [
        ("for w in vocab:\n    pass", True),
        ("index = [w for w in vocab]", True),
        ("index = list(enumerate(vocab))", True),
        ("text = ' '.join(vocab)", True),
        ("index = sorted(vocab)", False),
        ("n = sum(len(w) for w in vocab)", False),
        ("lower = {w.lower() for w in vocab}", False),
        ("longest = max([w for w in vocab], key=len)", False),
        ("found = 'fox' in vocab", False),
    ],
)
def test_iterating_a_set_from_another_step_is_warned_about(notebook, use, warned):
    _, pipeline = flow(
        notebook,
        (["step:a"], "vocab = set('the quick fox'.split())"),
        (["step:b"], use),
    )
    assert warnings(pipeline) == ([("set-order", "b")] if warned else [])


def test_logging_configured_in_one_step_warns_where_another_logs(notebook):
    _, pipeline = flow(
        notebook,
        (["imports"], "import logging"),
        (
            ["step:setup"],
            "logging.basicConfig(filename='train.log')\nlog = logging.getLogger()",
        ),
        (["step:fit"], "log.info('fitted')"),
    )
    # The setting does not carry, and so the records do not reach the file.
    assert warnings(pipeline) == [("hidden-state", "setup"), ("hidden-state", "fit")]


@pytest.mark.parametrize(
    "use",
    [
        "df.groupby('address.city').size()",
        "df.replace('N/A', None)",
        "plt.ylabel('km/h')",
        "log = logging.getLogger('project.training')\nlog.info('fit')",
        "imp = pd.Series(model.feature_importances_)",
        "c = df.corr()\nr = df.rolling(2).mean()",
    ],
)
def test_parallel_branches_that_only_read_stay_parallel(notebook, use):
    _, pipeline = flow(
        notebook,
        (
            ["imports"],
            "import logging\nimport pandas as pd\nimport matplotlib.pyplot as plt",
        ),
        (["step:load"], "df = pd.DataFrame({'a': [1]})\nmodel = None"),
        (["step:one", "prev:load"], use),
        (["step:two", "prev:load"], use.replace("log.info('fit')", "log.info('two')")),
        (["step:both", "prev:one", "prev:two"], "print(df, model)"),
    )
    assert pipeline.step("two").after == {"load"}
    assert pipeline.step("both").inputs["df"].producer == "load"
    assert [f for f in pipeline.findings if f.code == "file-dependency"] == []


def test_a_loop_over_notebook_functions_calls_each(notebook):
    _, pipeline = flow(
        notebook,
        (
            ["functions"],
            "def scale(f):\n    f['a'] = 1\n\ndef shift(f):\n    f['b'] = 2",
        ),
        (["step:load"], "df = {}"),
        (["step:fe"], "for fn in [scale, shift]:\n    fn(df)"),
        (["step:out"], "print(df)"),
    )
    assert pipeline.step("out").inputs["df"].producer == "fe"


def test_metrics_are_logged_by_their_producer(notebook):
    _, pipeline = flow(
        notebook,
        (["step:a"], "loss = 0.5"),
        (["step:b"], "acc = 0.9"),
        (["pipeline-metrics"], "loss\nprint(acc)"),
    )
    assert pipeline.step("a").metrics == ["loss"]
    assert pipeline.step("b").metrics == ["acc"]


def test_magics_bind_through_ipython_syntax(notebook):
    steps, pipeline = flow(
        notebook,
        (["step:a"], "%time squares = [i for i in range(3)]\nout = !echo hi"),
        (["step:b"], "%%time\ntotal = sum(squares)\nw = out[0]"),
        (["step:c"], "print(total, w)"),
    )
    assert steps["b"] == (["out", "squares"], ["total", "w"])
    assert errors(pipeline) == []


def test_refused_magic_is_a_finding(notebook):
    _, pipeline = flow(notebook, (["step:a"], "%cd /tmp\nx = 1"))
    assert errors(pipeline) == [("magic-refused", None)]


def warnings(pipeline):
    return [(f.code, f.step) for f in pipeline.findings if f.severity == "warning"]


def test_file_written_then_read_orders_the_steps_and_warns(notebook):
    _, pipeline = flow(
        notebook,
        (["imports"], "import numpy as np"),
        (
            ["step:write"],
            "np.save('a.npy', [1])\nwith open('b.txt', 'w') as f:\n    f.write('x')",
        ),
        (["step:read"], "arr = np.load('a.npy')\ntext = open('b.txt').read()"),
    )
    assert pipeline.step("read").after == {"write"}
    assert warnings(pipeline) == [("file-dependency", "read")] * 2


def file_warnings(pipeline):
    return [f.message for f in pipeline.findings if f.code == "file-dependency"]


@pytest.mark.parametrize(
    ("write", "read"),
    [
        ("joblib.dump(m, 'models/lr.joblib')", "m2 = joblib.load('models/lr.joblib')"),
        (
            "pickle.dump(m, open('m.pkl', 'wb'))",
            "m2 = pickle.load(open('m.pkl', 'rb'))",
        ),
        ("shutil.copy('raw.txt', 'final.txt')", "t = open('final.txt').read()"),
        ("shutil.move('raw.txt', 'final.txt')", "t = Path('final.txt').read_text()"),
        ("c = sqlite3.connect('exp.db')\nc.close()", "c2 = sqlite3.connect('exp.db')"),
        ("Path('out/x.txt').write_text('x')", "t = Path('out/x.txt').read_text()"),
        ("(Path('out') / 'x.txt').write_text('x')", "t = open('out/x.txt').read()"),
        ("joblib.dump(m, 'models/lr.joblib')", "found = glob.glob('models/*.joblib')"),
        ("joblib.dump(m, 'models/lr.joblib')", "found = os.listdir('models')"),
        ("os.makedirs('out')", "found = os.listdir('out')"),
        (
            "m.to_csv(sqlite3.connect('exp.db'))",
            "t = pd.read_sql('q', 'sqlite:///exp.db')",
        ),
        ("save_it(m, 'x.bin')", "m2 = restore('x.bin')"),  # unknown kind: either
        ("!cp raw.txt final.txt", "t = open('final.txt').read()"),
        ("!echo hi > seen.txt", "t = open('seen.txt').read()"),
        ("%%writefile helpers_mod.py\nX = 1", "import helpers_mod"),
        ("%%writefile helpers_mod.py\nX = 1", "from helpers_mod import X"),
    ],
)
def test_any_call_naming_a_file_orders_its_writer_and_reader(notebook, write, read):
    _, pipeline = flow(
        notebook,
        (
            ["imports"],
            "import glob, joblib, os, pickle, shutil, sqlite3\n"
            "import pandas as pd\nfrom pathlib import Path",
        ),
        (
            ["functions"],
            "def save_it(obj, path):\n    pass\n\ndef restore(path):\n    pass",
        ),
        (["step:model"], "m = pd.DataFrame()"),
        (["step:write"], write),
        (["step:read"], read),
    )
    assert "write" in pipeline.step("read").after
    assert len(file_warnings(pipeline)) == 1


@pytest.mark.parametrize(
    ("setup", "write", "read"),
    [
        (
            (["step:names"], "DATA = 'clean.csv'"),
            "df.to_csv(DATA)",
            "pd.read_csv(DATA)",
        ),
        (
            (["pipeline-parameters"], "DATA = 'clean.csv'"),
            "df.to_csv(DATA)",
            "pd.read_csv('clean.csv')",
        ),
        (
            (["pipeline-parameters"], "OUT = 'out'"),
            "df.to_csv(f'{OUT}/x.csv')",
            "pd.read_csv('out/x.csv')",
        ),
        (
            (["step:names"], "P = Path('out') / 'x.csv'"),
            "df.to_csv(P)",
            "pd.read_csv(str(P))",
        ),
        (
            (["step:names"], "names = ['a.csv', 'b.csv']"),
            "for n in names:\n    df.to_csv(n)",
            "pd.read_csv('b.csv')",
        ),
        (
            (["functions"], "def save(df):\n    df.to_csv('clean.csv')"),
            "save(df)",
            "pd.read_csv('clean.csv')",
        ),
        (
            (
                ["functions"],
                "def load(path='clean.csv'):\n    return pd.read_csv(path)",
            ),
            "df.to_csv('clean.csv')",
            "load()",
        ),
        (
            (["pipeline-parameters"], "DATA = 'clean.csv'"),
            "df.to_csv('clean.csv')",
            "pd.read_csv(os.path.join('.', DATA))",
        ),
    ],
)
def test_a_path_held_in_a_name_or_a_function_is_resolved(notebook, setup, write, read):
    _, pipeline = flow(
        notebook,
        (["imports"], "import os\nimport pandas as pd\nfrom pathlib import Path"),
        setup,
        (["step:frame"], "df = pd.DataFrame()"),
        (["step:write"], write),
        (["step:read"], f"back = {read}"),
    )
    assert "write" in pipeline.step("read").after
    assert [f.step for f in pipeline.findings if f.code == "file-dependency"] == [
        "read"
    ]


def test_file_warning_names_the_file_the_glob_and_both_steps(notebook):
    _, pipeline = flow(
        notebook,
        (["imports"], "import glob, joblib, os"),
        (["step:a"], "m = 1"),
        (["step:b"], "os.makedirs('models')\njoblib.dump(m, 'models/lr.joblib')"),
        (["step:c"], "found = glob.glob('models/*.joblib')"),
    )
    assert pipeline.step("c").after == {"b"}
    assert file_warnings(pipeline) == [
        "file 'models/lr.joblib' is written by step 'b' and read by step 'c' as "
        "'models/*.joblib': they run in that order, and on a cluster they need a "
        "shared volume (see README)"
    ]


def test_steps_that_only_read_a_file_stay_parallel(notebook):
    _, pipeline = flow(
        notebook,
        (["imports"], "import pandas as pd\nfrom pathlib import Path"),
        (["step:a"], "x = pd.read_csv('in.csv')\np = Path('in.csv').exists()"),
        (["step:b"], "y = pd.read_csv('in.csv')\nt = Path('in.csv').read_text()"),
        (["step:c"], "print('in.csv')\nprint(['x'], 'a b.csv')"),  # touches 'in.csv'
    )
    assert pipeline.step("b").after == set()
    assert pipeline.step("c").after == {"a", "b"}


@pytest.mark.parametrize(
    "path",
    [
        "make_path()",
        "f'{make_path()}/x.csv'",
        "name",
        "'%s.csv' % name",
        "Path(make_path()) / 'x.csv'",
    ],
)
def test_a_path_that_cannot_be_resolved_makes_no_edge(notebook, path):
    _, pipeline = flow(
        notebook,
        (["imports"], "import pandas as pd\nfrom pathlib import Path"),
        (["functions"], "def make_path():\n    return 'x'"),
        (["step:a"], "name = make_path()\ndf = pd.DataFrame()"),
        (["step:write"], f"df.to_csv({path})"),
        (["step:read"], "back = pd.read_csv('x.csv')\nz = pd.read_csv('x/x.csv')"),
    )
    assert "write" not in pipeline.step("read").after
    assert file_warnings(pipeline) == []


def test_a_log_file_orders_every_later_step_that_logs(notebook):
    _, pipeline = flow(
        notebook,
        (["imports"], "import logging"),
        (
            ["step:a"],
            "logging.basicConfig(filename='run.log')\nlog = logging.getLogger()",
        ),
        (["step:b"], "log.info('trained')"),
        (["step:c"], "n = 1\nlogging.warning('done')"),
        (["step:d"], "text = open('run.log').read()"),
    )
    assert pipeline.step("c").after == {"a", "b"}
    assert pipeline.step("d").after == {"a", "b", "c"}


def test_global_random_seed_does_not_carry_and_warns(notebook):
    _, pipeline = flow(
        notebook,
        (["imports"], "import random"),
        (["step:a"], "random.seed(0)"),
        (["step:b"], "x = random.random()\ny = random.random()"),
    )
    assert warnings(pipeline) == [("hidden-state", "b")]


@pytest.mark.parametrize(
    ("setup", "draw"),
    [
        ((["imports"], "import random\nrandom.seed(0)"), "random.random()"),
        (
            (
                ["functions"],
                "import random\nrandom.seed(0)\ndef draw():\n"
                "    return random.random()",
            ),
            "draw()",
        ),
    ],
    ids=["imports-cell", "through-a-function"],
)
def test_a_seed_in_a_cell_every_step_runs_warns_from_the_second_drawer(
    notebook, setup, draw
):
    _, pipeline = flow(
        notebook,
        setup,
        (["step:a"], f"x = {draw}"),
        (["step:b"], f"y = {draw}"),
        (["step:c"], f"z = {draw}"),
    )
    assert warnings(pipeline) == [("hidden-state", "b"), ("hidden-state", "c")]


@pytest.mark.parametrize(
    ("draw", "warned"),
    [
        ("train_test_split(data)", True),
        ("df.sample(2)", True),
        ("df.sample(2, random_state=0)", False),
        ("RandomForestClassifier(n_estimators=3)", True),
        ("KMeans(3, random_state=1)", False),
    ],
)
def test_library_calls_drawing_from_numpys_global_state_are_draws(
    notebook, draw, warned
):
    _, pipeline = flow(
        notebook,
        (
            ["imports"],
            "import numpy as np\nfrom sklearn.model_selection import train_test_split",
        ),
        (["step:a"], "np.random.seed(0)\ndata = df = None"),
        (["step:b"], f"parts = {draw}"),
    )
    assert warnings(pipeline) == ([("hidden-state", "b")] if warned else [])


def test_a_draw_through_a_function_is_a_draw(notebook):
    _, pipeline = flow(
        notebook,
        (["functions"], "import random\ndef draw():\n    return random.random()"),
        (["step:a"], "random.seed(0)"),
        (["step:b"], "y = draw()"),
    )
    assert warnings(pipeline) == [("hidden-state", "b")]


def test_a_delete_on_some_paths_hands_on_the_value_or_its_absence(notebook):
    steps, pipeline = flow(
        notebook,
        (["pipeline-parameters"], "FLAG = False"),
        (["step:a"], "v = 1\nu = 2"),
        (
            ["step:b"],
            "if FLAG:\n    del v\ntry:\n    del u\nexcept NameError:\n    pass",
        ),
        (["step:c"], "print(v, u)"),
    )
    assert errors(pipeline) == []
    assert steps["b"] == (["u", "v"], ["u", "v"])
    assert {n: i.producer for n, i in pipeline.step("c").inputs.items()} == {
        "u": "b",
        "v": "b",
    }


def test_a_delete_on_every_path_is_still_refused_for_a_later_reader(notebook):
    _, pipeline = flow(
        notebook, (["step:a"], "v = 1"), (["step:b"], "del v"), (["step:c"], "v")
    )
    assert ("undefined-name", "v") in errors(pipeline)


def test_a_shell_variable_no_step_binds_is_left_to_the_shell(notebook):
    steps, pipeline = flow(
        notebook,
        (["step:a"], "home = !echo $HOME\nuser = 'me'"),
        (["step:b"], "!echo $user $PATH"),
    )
    assert errors(pipeline) == []
    assert steps["b"][0] == ["user"]


def test_capture_binds_its_name(notebook):
    steps, pipeline = flow(
        notebook,
        (["step:a"], "%%capture --no-stderr cap\nprint('hi')"),
        (["step:b"], "out = cap.stdout"),
    )
    assert errors(pipeline) == []
    assert steps["b"][0] == ["cap"]


@pytest.mark.parametrize(
    ("imports", "setting", "use"),
    [
        ("import numpy as np", "np.set_printoptions(precision=2)", "print(np.ones(1))"),
        ("import pandas as pd", "pd.options.display.precision = 1", "pd.Series([1])"),
        (
            "import sklearn\nfrom sklearn.preprocessing import StandardScaler",
            "sklearn.set_config(transform_output='pandas')",
            "StandardScaler()",
        ),
        ("import decimal", "decimal.getcontext().prec = 3", "decimal.Decimal(1)"),
        (
            "import numpy as np",
            "np.set_printoptions(precision=2)\narr = np.ones(1) / 3",
            "text = str(arr)",
        ),
    ],
)
def test_a_library_setting_a_later_step_would_miss_is_warned(
    notebook, imports, setting, use
):
    _, pipeline = flow(
        notebook, (["imports"], imports), (["step:a"], setting), (["step:b"], use)
    )
    assert warnings(pipeline) == [("hidden-state", "a")]
    (found,) = pipeline.findings
    assert f"step 'b', which uses {imports.split()[1]}" in found.message


@pytest.mark.parametrize(
    ("setting", "use"),
    [
        ("np.set_printoptions(precision=2)\nprint(np.ones(1))", "x = 1"),
        ("df = pd.DataFrame()\ndf.attrs['a'] = 1\ndf = df.set_index([])", "df"),
        ("os.environ['A'] = '1'", "os.environ['A']"),
    ],
)
def test_settings_no_later_step_misses_are_not_warned(notebook, setting, use):
    _, pipeline = flow(
        notebook,
        (["imports"], "import os\nimport numpy as np\nimport pandas as pd"),
        (["step:a"], setting),
        (["step:b"], use),
    )
    assert warnings(pipeline) == []


def test_a_pure_cached_function_may_serve_many_steps(notebook):
    _, pipeline = flow(
        notebook,
        (
            ["functions"],
            "import functools\n\n@functools.lru_cache(maxsize=None)\ndef fib(n):\n"
            "    return n if n < 2 else fib(n - 1) + fib(n - 2)",
        ),
        (["step:a"], "x = fib(10)"),
        (["step:b"], "y = fib(12)"),
    )
    assert pipeline.findings == []


def test_exec_and_globals_are_reported(notebook):
    _, pipeline = flow(notebook, (["step:a"], "exec('z = 1')\nn = len(globals())"))
    assert warnings(pipeline) == [("dynamic-names", "a")] * 2


def test_star_import_of_an_installed_module_binds_its_names(notebook):
    steps, pipeline = flow(
        notebook,
        (["step:a"], "from math import *\nx = sqrt(4)"),
        (["step:b"], "y = floor(x)"),
    )
    assert errors(pipeline) == []
    assert set(pipeline.step("b").reimports) == {"floor"}
    assert steps["b"][0] == ["x"]


def test_star_import_of_a_local_module_is_refused(notebook, tmp_path):
    (tmp_path / "helpers.py").write_text("open('ran', 'w')\n")
    _, pipeline = flow(notebook, (["step:a"], "from helpers import *\nx = f()"))
    assert ("star-import", "helpers") in errors(pipeline)
    assert not (tmp_path / "ran").exists()


def test_except_name_is_unbound_after_the_handler(notebook):
    steps, pipeline = flow(
        notebook,
        (["step:a"], "err = 'before'"),
        (["step:b"], "try:\n    1 / 0\nexcept ZeroDivisionError as err:\n    pass"),
        (["step:c"], "print(err)"),
    )
    assert pipeline.step("c").inputs["err"].producer == "a"


def test_functions_cell_state_changed_by_a_step_is_handed_on(notebook):
    steps, _ = flow(
        notebook,
        (["functions"], "cache = {}\n\ndef remember(k, v):\n    cache[k] = v"),
        (["step:a"], "remember('x', 1)"),
        (["step:b"], "print(cache)"),
    )
    assert steps["a"] == ([], ["cache"])
    assert steps["b"] == (["cache"], [])


def test_name_guard_and_top_level_await(notebook):
    _, pipeline = flow(
        notebook,
        (["imports"], "import asyncio"),
        (["step:a"], "if __name__ == '__main__':\n    x = 1\nawait asyncio.sleep(0)"),
        (["step:b"], "print(x)"),
    )
    assert errors(pipeline) == []
    assert pipeline.step("b").inputs["x"].producer == "a"


def test_names_expanded_in_shell_commands_are_read(notebook):
    steps, _ = flow(
        notebook,
        (["step:a"], "name = 'x'\nsize = 3"),
        (["step:b"], "!echo $name {size + 1}"),
    )
    assert steps["b"][0] == ["name", "size"]


def test_change_through_a_loop_variable_changes_the_container(notebook):
    steps, _ = flow(
        notebook,
        (["step:a"], "lr, rf = [1], [2]\nmodels = {'lr': lr, 'rf': rf}"),
        (["step:b"], "for name, m in models.items():\n    m.append(name)"),
        (["step:c"], "print(models)"),
    )
    assert "models" in steps["b"][1]
    assert steps["c"][0] == ["models"]


def test_change_through_an_alias_changes_the_original(notebook):
    steps, _ = flow(
        notebook,
        (["step:a"], "models = {'lr': [1]}"),
        (["step:b"], "lr = models['lr']\nlr.append(2)"),
        (["step:c"], "print(models)"),
    )
    assert steps["b"] == (["models"], ["models"])


def test_an_alias_a_later_step_changes_hands_the_original_on_with_it(notebook):
    _, pipeline = flow(
        notebook,
        (["step:a"], "z = [0]"),
        (["step:b"], "z2 = z"),
        (["step:c"], "z2.append(1)"),
        (["step:d"], "print(z)"),
    )
    assert pipeline.step("b").outputs == {"z", "z2"}
    assert {n: i.producer for n, i in pipeline.step("c").inputs.items()} == {
        "z": "b",
        "z2": "b",
    }
    assert pipeline.step("d").inputs["z"].producer == "c"


@pytest.mark.parametrize(
    ("functions", "alias"),
    [
        ("def pick(d):\n    return d['k']", "x = pick(d)"),
        ("def pick(d, key):\n    found = d[key]\n    return found", "x = pick(d, 'k')"),
        ("def pick(*args):\n    return args[0]", "x = pick(d)"),
        ("def pick(d=None):\n    return d", "x = pick(d=d)"),
        (
            "class Box:\n    def __init__(self):\n        self.d = {}\n"
            "    def same(self):\n        return self",
            "x = d.same()",
        ),
        ("", "x = d if d else None"),
        ("", "x = d or {}"),
        ("", "x = d.setdefault('k', [])"),
        ("import numpy as np", "x = np.asarray(d)"),
    ],
)
def test_a_value_that_may_share_an_argument_is_an_alias_of_it(
    notebook, functions, alias
):
    _, pipeline = flow(
        notebook,
        (["functions"], functions or "pass"),
        (["step:a"], "d = {'k': [1]}"),
        (["step:b"], alias),
        (["step:c"], "x.append(2)"),
        (["step:d"], "print(d)"),
    )
    assert pipeline.step("c").inputs["d"].producer == "b"
    assert pipeline.step("d").inputs["d"].producer == "c"


def test_an_alias_changed_but_not_used_later_is_not_received(notebook):
    steps, _ = flow(
        notebook,
        (["step:a"], "values = [[3], [5]]\nfor v in values:\n    pass"),
        (["step:b"], "values += [[11]]"),
        (["step:c"], "print(values)"),
    )
    assert steps["b"] == (["values"], ["values"])


def test_a_function_returning_a_new_value_makes_no_alias(notebook):
    _, pipeline = flow(
        notebook,
        (["functions"], "def pick(d):\n    return list(d) + [d['k']]"),
        (["step:a"], "d = {'k': [1]}"),
        (["step:b"], "x = pick(d).copy()"),
        (["step:c"], "x.append(2)"),
        (["step:d"], "print(d)"),
    )
    assert "d" not in pipeline.step("c").inputs
    assert pipeline.step("d").inputs["d"].producer == "a"


def test_an_alias_nobody_changes_later_leaves_the_original_with_its_producer(
    notebook,
):
    _, pipeline = flow(
        notebook,
        (["step:load"], "rows = [[0], [1]]"),
        (["step:loop", "prev:load"], "for row in rows:\n    pass"),
        (["step:report", "prev:load"], "print(rows, row)"),
    )
    assert pipeline.step("report").inputs["rows"].producer == "load"
    assert pipeline.step("loop").outputs == {"row"}


def test_calling_a_method_on_a_call_result_changes_no_name(notebook):
    steps, pipeline = flow(
        notebook,
        (["step:a"], "open('f.txt', 'w').write('x')"),
        (["step:b"], "text = open('f.txt').read()"),
        (["step:c"], "print(text, open)"),
    )
    assert steps["a"] == ([], [])
    assert steps["c"][0] == ["text"]


def test_environment_travels_from_the_step_that_sets_it(notebook):
    steps, pipeline = flow(
        notebook,
        (["imports"], "import os, subprocess"),
        (["step:first"], "x = 0"),
        (["step:a"], "%env FLAG=on"),
        (["step:b"], "os.environ['OTHER'] = '1'"),
        (["step:c"], "flag = os.environ.get('FLAG')"),
        (["step:d"], "subprocess.run(['env'])"),
        (["step:e"], "x = 1"),
    )
    assert pipeline.step("b").inputs["os.environ"].producer == "a"
    assert pipeline.step("c").inputs["os.environ"].producer == "b"
    assert pipeline.step("d").inputs["os.environ"].producer == "b"
    # Read unseen too: `os.path.expanduser` reads HOME.
    assert pipeline.step("e").inputs["os.environ"].producer == "b"
    assert "os.environ" not in pipeline.step("first").inputs


def test_parameter_rebound_on_some_paths_still_reaches_the_step(notebook):
    _, pipeline = flow(
        notebook,
        (["pipeline-parameters"], "RATE = 0.5\nFAST = False"),
        (["step:a"], "if FAST:\n    RATE = 0.1"),
        (["step:b"], "print(RATE)"),
    )
    assert pipeline.step("a").parameters == {"FAST", "RATE"}
    assert pipeline.step("b").inputs["RATE"].producer == "a"


def changed_by(notebook, change, setup="a, b, flag, items, groups = 1, 2, 3, 4, 5"):
    """Steps: a binds, b makes `change`, c reads everything; b's outputs."""
    steps, pipeline = flow(
        notebook,
        (["imports"], "import os\nimport random\nimport numpy as np"),
        (["step:a"], setup),
        (["step:b"], change),
        (["step:c"], "print(a, b, flag, items, groups)"),
    )
    assert errors(pipeline) == []
    return set(steps["b"][1])


@pytest.mark.parametrize(
    ("change", "changed"),
    [
        ("list(groups.values())[0].append(100)", {"groups"}),
        ("(a if flag else b).append(100)", {"a", "b", "flag"}),
        ("list(groups.values())[0][0] = 5", {"groups"}),
        ("[v for v in groups][0].sort()", {"groups"}),
        ("max(a, b, key=len).append(1)", {"a", "b"}),
    ],
)
def test_change_through_a_receiver_without_one_root_changes_every_name_in_it(
    notebook, change, changed
):
    assert changed_by(notebook, change) == changed


def test_unresolved_receiver_does_not_charge_builtins_or_called_functions(notebook):
    steps, pipeline = flow(
        notebook,
        (["functions"], "def make(x):\n    return [x]"),
        (["step:a"], "n = 1"),
        (["step:b"], "make(n).append(2)\nsorted(range(n)).reverse()"),
        (["step:c"], "print(n, make, sorted)"),
    )
    assert steps["b"] == (["n"], ["n"])
    assert pipeline.step("c").inputs.keys() == {"n"}


@pytest.mark.parametrize(
    ("functions", "call"),
    [
        ("def add_to(target, x):\n    target.append(x)", "add_to(x=2, target=items)"),
        ("def add_to(*, target):\n    target.append(1)", "add_to(target=items)"),
        ("def add_to(*targets):\n    targets[0].append(1)", "add_to(items)"),
        ("def add_to(target, x):\n    target.append(x)", "add_to(*[items, 2])"),
        (
            "def add_one(lst):\n    target = lst\n    target.append(1)",
            "add_one(items)",
        ),
        (
            "def add_one(lst):\n    for t in [lst]:\n        t.append(1)",
            "add_one(items)",
        ),
        (
            "class Helper:\n    def add_to(self, target, x):\n"
            "        target.append(x)\nh = Helper()",
            "h.add_to(items, 2)",
        ),
        (
            "class Helper:\n    @staticmethod\n    def add_to(target):\n"
            "        target.append(1)\nh = Helper()",
            "h.add_to(items)",
        ),
        (
            "class Box:\n    def __init__(self, target):\n        target.append(self)",
            "box = Box(items)",
        ),
    ],
)
def test_notebook_function_changing_an_argument_however_passed(
    notebook, functions, call
):
    steps, _ = flow(
        notebook,
        (["functions"], functions),
        (["step:a"], "items = [1]"),
        (["step:b"], call),
        (["step:c"], "print(items)"),
    )
    assert "items" in steps["b"][1]


def test_method_argument_positions_skip_self(notebook):
    steps, _ = flow(
        notebook,
        (
            ["functions"],
            "class Helper:\n    def add_to(self, target, x):\n"
            "        target.append(x)\nh = Helper()",
        ),
        (["step:a"], "items = [1]\nother = [2]"),
        (["step:b"], "h.add_to(items, other)"),
        (["step:c"], "print(items, other)"),
    )
    assert steps["b"][1] == ["items"]


def test_method_changing_self_changes_the_receiver_even_if_read_only_by_name(
    notebook,
):
    steps, _ = flow(
        notebook,
        (
            ["functions"],
            "class Counter:\n    def get(self):\n        self.n = 1\n"
            "        return self.n",
        ),
        (["step:a"], "c = Counter()"),
        (["step:b"], "v = c.get()"),
        (["step:c"], "print(c, v)"),
    )
    assert steps["b"][1] == ["c", "v"]


def test_function_changing_a_global_through_a_local_alias(notebook):
    steps, _ = flow(
        notebook,
        (["functions"], "def remember(k):\n    d = CACHE\n    d[k] = 1"),
        (["step:a"], "CACHE = {}"),
        (["step:b"], "remember('x')"),
        (["step:c"], "print(CACHE)"),
    )
    assert steps["b"] == (["CACHE"], ["CACHE"])


@pytest.mark.parametrize(
    ("setup", "change", "changed"),
    [
        ("items = iter([1, 2])", "first = next(items)", {"items"}),
        ("items = zip([1], [2])", "for pair in items:\n    pass", {"items"}),
        ("items = enumerate('ab')", "pairs = dict(items)", {"items"}),
        ("items = map(str, [1])", "n = [x for x in items]", {"items"}),
        ("a = np.random.default_rng(0)", "part = sorted([3, 1], key=a.random)", {"a"}),
        ("a = np.random.default_rng(0)", "part = b.sample(5, random_state=a)", {"a"}),
        ("a = random.Random(0)", "s = a.sample(range(100), 3)", {"a"}),
        ("a = np.arange(3.0)", "np.add(a, 1, out=a)", {"a"}),
        ("a = np.arange(3.0)", "np.add(a, 1, out=(b,))", {"b"}),
        ("items = []", "list(map(items.append, [1, 2]))", {"items"}),
        ("a = [1].append", "a(2)", {"a"}),
        ("groups = {'f': [].append}", "groups['f'](1)", {"groups"}),
    ],
)
def test_values_whose_use_changes_them(notebook, setup, change, changed):
    setup = "a = b = flag = items = groups = None\n" + setup
    assert changed <= changed_by(notebook, change, setup)


def test_stateful_global_used_in_a_function_is_changed_by_the_call(notebook):
    steps, _ = flow(
        notebook,
        (["imports"], "import random"),
        (["functions"], "def draw():\n    return rng.sample(range(9), 2)"),
        (["step:a"], "rng = random.Random(0)"),
        (["step:b"], "s = draw()"),
        (["step:c"], "t = draw()"),
    )
    assert steps["b"] == (["rng"], ["rng"])


def test_closure_called_from_a_function_is_changed_by_the_call(notebook):
    steps, _ = flow(
        notebook,
        (["functions"], "def use():\n    return counter()"),
        (["step:a"], "import itertools\ncounter = itertools.count().__next__"),
        (["step:b"], "n1 = use()"),
        (["step:c"], "n2 = use()"),
    )
    assert steps["b"] == (["counter"], ["counter"])


def test_calling_a_value_from_a_step_changes_it(notebook):
    steps, _ = flow(
        notebook,
        (
            ["step:load"],
            "def make():\n    state = []\n    def add(x):\n        state.append(x)\n"
            "        return len(state)\n    return add\nadder = make()",
        ),
        (["step:one"], "n1 = adder(5)"),
        (["step:two"], "n2 = adder(6)"),
    )
    assert steps["one"] == (["adder"], ["adder"])


def test_calling_defs_classes_imports_and_builtins_changes_nothing(notebook):
    steps, pipeline = flow(
        notebook,
        (["imports"], "from math import sqrt"),
        (["functions"], "def f(x):\n    return x\n\nclass K:\n    pass"),
        (["step:a"], "def g(x):\n    return x\nitems = [1]"),
        (["step:b"], "v = [f(1), K(), sqrt(4), g(2), len(items), display(1)]"),
        (["step:c"], "print(v, f, K, g, items, len, display)"),
    )
    assert steps["b"] == (["g", "items"], ["v"])
    assert {n: i.producer for n, i in pipeline.step("c").inputs.items()} == {
        "g": "a",
        "items": "a",
        "v": "b",
    }


@pytest.mark.parametrize(
    "change",
    [
        "os.environ.pop('MODE')",
        "del os.environ['MODE']",
        "os.environ.update({'MODE': 'x'})",
        "os.environ.clear()",
        "os.unsetenv('MODE')",
        "os.putenv(key, 'x')",
    ],
)
def test_every_change_of_the_environment_is_handed_on(notebook, change):
    _, pipeline = flow(
        notebook,
        (["imports"], "import os"),
        (["step:a"], "os.environ['MODE'] = 'prod'\nkey = 'MODE'"),
        (["step:b"], change),
        (["step:c"], "mode = os.getenv('MODE', 'none')"),
    )
    assert pipeline.step("c").inputs["os.environ"].producer == "b"


def test_environment_read_in_a_function_is_charged_to_the_caller(notebook):
    _, pipeline = flow(
        notebook,
        (["imports"], "import os, subprocess"),
        (
            ["functions"],
            "def mode():\n    return os.environ.get('MODE', 'dev')\n\n"
            "def shell():\n    subprocess.run(['env'])\n\n"
            "def set_mode():\n    os.environ['MODE'] = 'x'",
        ),
        (["step:a"], "os.environ['MODE'] = 'prod'"),
        (["step:b"], "m = mode()"),
        (["step:c"], "shell()"),
        (["step:d"], "set_mode()"),
        (["step:e"], "m = mode()"),
    )
    assert pipeline.step("b").inputs["os.environ"].producer == "a"
    assert pipeline.step("c").inputs["os.environ"].producer == "a"
    assert pipeline.step("e").inputs["os.environ"].producer == "d"


def test_assigned_names_are_what_a_cell_leaves_behind():
    tree = ast.parse(
        "import os\n"
        "from math import sqrt as root\n"
        "coverage = {w: 1 for w, _ in pairs}\n"
        "total = sum(y for x in xs if (y := x * 2))\n"
        "for i, (a, *rest) in enumerate(rows):\n"
        "    pass\n"
        "def f(local):\n"
        "    inner = local\n"
        "class C:\n"
        "    attribute = 1\n"
    )
    assert analysis.assigned_names(tree) == {
        "coverage",
        "total",
        "y",
        "i",
        "a",
        "rest",
        "f",
        "C",
    }


def test_a_generator_advanced_where_it_is_made_is_still_refused(notebook):
    _, pipeline = flow(
        notebook,
        (["functions"], "def count_up():\n    yield 1\n    yield 2"),
        (["step:a"], "g = count_up()\nnext(g)"),
        (["step:b"], "v = next(g)"),
    )
    assert errors(pipeline) == [("not-serializable", "g")]
