"""Cutting outputs out of notebook JSON before parsing: exact, or nothing cut.

The cut must give the JSON a parser would give with each cell's `outputs` and
`attachments` emptied, whatever the strings hold (quotes, backslashes, brackets,
any Unicode), and must leave data it cannot read unchanged for the parser to judge.
"""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalelike.slim import without_outputs

TEXT = st.text(alphabet=st.sampled_from('ab"\\[]{}:, \n\té€😀'), max_size=12)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | TEXT,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            (st.sampled_from(["outputs", "attachments", "x"]) | TEXT), inner
        )
    ),
    max_leaves=8,
)
CELLS = st.fixed_dictionaries(
    {"cell_type": st.just("code"), "source": st.lists(TEXT, max_size=3)},
    optional={
        "outputs": st.lists(VALUES, max_size=3),
        "attachments": VALUES,
        "metadata": VALUES,
    },
)
NOTEBOOKS = st.fixed_dictionaries(
    {"cells": st.lists(CELLS, max_size=4), "metadata": VALUES, "nbformat": st.just(4)}
)


def dumps(nb: dict, indent: int | None, ascii_only: bool) -> bytes:
    return json.dumps(nb, indent=indent, ensure_ascii=ascii_only).encode("utf-8")


@settings(max_examples=100, deadline=None)
@given(NOTEBOOKS, st.sampled_from([None, 1]), st.booleans())
def test_cut_equals_parse_then_empty(nb: dict, indent: int | None, ascii_only: bool):
    data = dumps(nb, indent, ascii_only)
    expected = json.loads(data)
    for cell in expected["cells"]:
        for key in ("outputs", "attachments"):
            if isinstance(cell.get(key), (list, dict)):
                cell[key] = type(cell[key])()
    assert json.loads(without_outputs(data)) == expected


@settings(max_examples=100, deadline=None)
@given(NOTEBOOKS, st.data())
def test_broken_json_stays_broken(nb: dict, data: st.DataObject):
    text = dumps(nb, 1, False)
    broken = text[: data.draw(st.integers(1, len(text) - 1))]  # a file cut short
    with pytest.raises(ValueError):
        json.loads(without_outputs(broken))


def test_nbformat_3_worksheets():
    nb = {"worksheets": [{"cells": [{"outputs": [{"png": "AAAA"}], "input": "x"}]}]}
    data = json.dumps(nb).encode()
    assert json.loads(without_outputs(data)) == {
        "worksheets": [{"cells": [{"outputs": [], "input": "x"}]}]
    }


def test_other_places_untouched():
    nb = {
        "cells": [{"metadata": {"outputs": [1]}, "source": '"outputs": [1]'}],
        "metadata": {"outputs": [2], "cells": [{"outputs": [3]}]},
    }
    data = json.dumps(nb).encode()
    assert without_outputs(data) is data


def test_unreadable_data_unchanged():
    for data in (b"", b"  ", b'{"cells": [{"outputs": ["x]}]}', b'{"cells": [}'):
        assert without_outputs(data) is data
