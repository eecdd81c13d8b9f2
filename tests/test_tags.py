from pathlib import Path

import pytest

from kalelike import notebook, tags


def layout_of(build, cells):
    return tags.split(notebook.read(build(cells)))


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("load", "load"),
        ("load-data", "load_data"),
        ("Load Data!", "Load_Data"),
        ("2nd", "step_2nd"),
        ("class", "class_"),
        ("données", "donn_es"),
        ("---", ""),
    ],
)
def test_step_names_are_normalised_to_ascii_identifiers(raw, name):
    assert tags.step_name(raw) == name


def test_roles_and_steps_follow_kale_tags(notebook):
    layout = layout_of(
        notebook,
        [
            ("import os", ["imports"]),
            ("def f(): pass", ["functions"]),
            ("A = 1", ["pipeline-parameters"]),
            ("x = A", ["block:load"]),
            ("y = x", []),
            ("print('skipped')", ["skip"]),
            ("z = y", ["step:train", "prev:load"]),
            ("z", ["pipeline-metrics"]),
        ],
    )
    assert [c.index for c in layout.prelude] == [0, 1]
    assert [c.index for c in layout.parameters] == [2]
    assert [c.index for c in layout.metrics] == [7]
    assert [(s.name, [c.index for c in s.cells]) for s in layout.steps] == [
        ("load", [3, 4]),
        ("train", [6]),
    ]
    assert layout.steps[1].prev == [("load", 6)]
    assert layout.findings == []


def test_papermill_parameters_tag_is_accepted(notebook):
    layout = layout_of(notebook, [("A = 1", ["parameters"]), ("b = A", ["step:s"])])
    assert [c.index for c in layout.parameters] == [0]


def test_same_step_name_joins_one_step(notebook):
    layout = layout_of(notebook, [("a = 1", ["step:s"]), ("b = a", ["step:s"])])
    assert [(s.name, len(s.cells)) for s in layout.steps] == [("s", 2)]


def test_leading_imports_join_the_prelude(notebook):
    layout = layout_of(notebook, [("import os", []), ("a = 1", ["step:s"])])
    assert [c.index for c in layout.prelude] == [0]
    assert layout.findings == []


def test_leading_code_becomes_a_first_step_with_a_warning(notebook):
    layout = layout_of(notebook, [("a = 1", []), ("b = a", ["step:s"])])
    assert [s.name for s in layout.steps] == ["start", "s"]
    [finding] = layout.findings
    assert finding.severity == "warning" and finding.code == "untagged-code"


def test_no_tags_at_all_is_one_step(notebook):
    layout = layout_of(notebook, [("a = 1", []), ("b = a", [])])
    assert [(s.name, len(s.cells)) for s in layout.steps] == [("start", 2)]
    assert "no step tags" in layout.findings[0].message


def test_unknown_tag_is_a_warning_not_a_failure(notebook):
    layout = layout_of(notebook, [("a = 1", ["step:s", "colour:blue"])])
    assert [f.code for f in layout.findings] == ["unknown-tag"]
    assert layout.findings[0].severity == "warning"


def test_markdown_and_empty_cells_are_ignored(tmp_path: Path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# title"),
        nbformat.v4.new_code_cell("   \n"),
        nbformat.v4.new_code_cell("a = 1", metadata={"tags": ["step:s"]}),
    ]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    layout = tags.split(notebook.read(path))
    assert [c.index for c in layout.steps[0].cells] == [2]


@pytest.mark.parametrize(
    ("tag", "suggestion"),
    [
        ("setp:train", "step:train"),
        ("Step:train", "step:train"),
        ("step train", "step:train"),
        ("blok:train", "block:train"),
        ("cahce:disabled", "cache:disabled"),
        ("limits:cpu:2", "limit:cpu:2"),
        ("pipeline-metric", "pipeline-metrics"),
        ("pipeline_parameters", "pipeline-parameters"),
        ("imprts", "imports"),
        ("functon", "functions"),
        ("skp", "skip"),
        ("step:", "step:NAME"),
    ],
)
def test_a_mistyped_tag_warns_with_a_suggestion(notebook, tag, suggestion):
    layout = layout_of(notebook, [("a = 1", ["step:s"]), ("b = a", [tag])])
    [finding] = layout.findings
    assert (finding.code, finding.severity) == ("unknown-tag", "warning")
    assert f"(did you mean `{suggestion}`?)" in finding.message
    # ignored, as Kale ignores it: the cell continues step s
    assert [len(s.cells) for s in layout.steps] == [2]


def test_the_unknown_tag_message_lists_every_tag(notebook):
    layout = layout_of(notebook, [("a = 1", ["step:s", "colour:blue"])])
    message = layout.findings[0].message
    assert "did you mean" not in message
    for known in [
        "`step:NAME`",
        "`block:NAME`",
        "`prev:NAME`",
        "`imports`",
        "`functions`",
        "`pipeline-parameters`",
        "`parameters`",
        "`pipeline-metrics`",
        "`skip`",
        "`image:IMAGE`",
        "`limit:",
        "`cache:",
        "`retry:",
        "`timeout:",
        "`annotation:",
        "`label:",
        "`secret:",
    ]:
        assert known in message


def test_every_setting_tag_is_in_the_vocabulary():
    from kalelike import settings

    assert set(settings.FORMS) <= set(tags.VALUE_TAGS)
    assert tuple(f"{p}:" for p in settings.FORMS) == tags.SETTING_PREFIXES


def test_two_spellings_of_one_step_name_are_warned_about(notebook):
    layout = layout_of(
        notebook,
        [
            ("a = 1", ["step:train-v1"]),
            ("b = 2", ["step:train.v1"]),
            ("c = 3", ["block:train-v1"]),
        ],
    )
    assert [s.name for s in layout.steps] == ["train_v1"]
    clashes = [f for f in layout.findings if f.code == "step-name-clash"]
    assert [(f.severity, f.cell) for f in clashes] == [("warning", 1)]
    assert "`step:train.v1` and `step:train-v1` (cell 1)" in clashes[0].message


def test_a_step_that_names_itself_in_prev_is_refused(notebook):
    layout = layout_of(
        notebook, [("a = 1", ["step:a"]), ("b = 2", ["step:b", "prev:b"])]
    )
    assert [(f.code, f.severity, f.cell) for f in layout.findings] == [
        ("prev-self", "error", 1)
    ]
