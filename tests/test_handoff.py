"""Values handed from step to step: standard formats where exact, pickle otherwise.

`run_step` saves an ndarray as .npy and a DataFrame as Arrow IPC (feather) when
that format gives it back exactly, and pickles everything else. Each case hands a
value through a producing and a consuming `run_step` and compares what arrives.
"""

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from kalelike.templates.step_runtime import run_step

from kalelike.conversion import analyze


def hand_on(value: object, folder: Path) -> tuple[object, str, Path]:
    """What the next step receives, the format it travelled in, and its file."""
    artifact = SimpleNamespace(path=str(folder / "value"), metadata={})
    run_step("nb.ipynb", {}, parameters={"value": value}, outputs={"value": artifact})
    received: list[object] = []
    run_step(
        "nb.ipynb",
        {"cell 2": "received.append(value)"},
        parameters={"received": received},
        inputs={"value": artifact},
    )
    return received[0], artifact.metadata["format"], Path(artifact.path)


ARRAYS = {
    "float": np.linspace(0, 1, 12).reshape(3, 4),
    "fortran": np.asfortranarray(np.arange(12).reshape(3, 4)),
    "view": np.arange(20)[::3],
    "scalar": np.array(7, dtype=np.int8),
    "structured": np.array([(1, 2.5)], dtype=[("a", "i4"), ("b", "f8")]),
    "datetime": np.array(["2024-01-01", "NaT"], dtype="datetime64[D]"),
    "text": np.array(["a", "bc"]),
}


@pytest.mark.parametrize("value", ARRAYS.values(), ids=ARRAYS.keys())
def test_array_as_npy(tmp_path: Path, value: np.ndarray) -> None:
    received, fmt, path = hand_on(value, tmp_path)
    assert fmt == "npy"
    assert isinstance(received, np.ndarray)
    assert received.dtype == value.dtype
    assert received.shape == value.shape
    assert np.isfortran(received) == np.isfortran(value)
    np.testing.assert_array_equal(received, value)
    np.testing.assert_array_equal(np.load(path), value)  # usable without nb2pipe


PICKLED_ARRAYS = {
    "objects": np.array([{"a": 1}, None], dtype=object),
    "matrix": np.matrix([[1, 2]]),
    "masked": np.ma.masked_array([1, 2], mask=[0, 1]),
}


@pytest.mark.parametrize("value", PICKLED_ARRAYS.values(), ids=PICKLED_ARRAYS.keys())
def test_other_arrays_pickled(tmp_path: Path, value: np.ndarray) -> None:
    received, fmt, _ = hand_on(value, tmp_path)
    assert fmt == "cloudpickle"
    assert type(received) is type(value)
    assert repr(received) == repr(value)


def exact(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        a,
        b,
        check_exact=True,
        check_column_type=True,
        check_index_type=True,
        check_freq=True,
        check_flags=True,
    )
    assert repr(a.dtypes) == repr(b.dtypes)
    assert repr(a.index) == repr(b.index) and repr(a.columns) == repr(b.columns)
    assert a.attrs == b.attrs


def frame(**columns: object) -> pd.DataFrame:
    return pd.DataFrame(columns or {"x": [1.5, None, 3.0], "n": [1, 2, 3]})


ARROW_FRAMES = {
    "numbers": frame(),
    "strings": frame(s=pd.array(["a", None, "c"], dtype=pd.StringDtype("pyarrow"))),
    "times": frame(t=pd.to_datetime(["2024-01-01", None, "2024-03-01"])),
    "bools": frame(b=[True, False, True], u=np.array([1, 2, 3], dtype=np.uint8)),
    "int index": frame().set_axis(pd.Index([5, 3, 9], name="k")),
    "range index": frame().set_axis(pd.RangeIndex(10, 16, 2, name="r")),
    "named columns": frame().rename_axis(columns="fields"),
}


@pytest.mark.parametrize("value", ARROW_FRAMES.values(), ids=ARROW_FRAMES.keys())
def test_frame_as_arrow(tmp_path: Path, value: pd.DataFrame) -> None:
    received, fmt, path = hand_on(value, tmp_path)
    assert fmt == "feather"
    assert isinstance(received, pd.DataFrame)
    exact(received, value)
    exact(pd.read_feather(path), value)  # usable without nb2pipe


PICKLED_FRAMES = {
    "int column names": pd.DataFrame({0: [1, 2], 1: [3, 4]}),
    "object column": frame(o=pd.Series([[1], "a", None], dtype=object)),
    "repeated names": pd.DataFrame([[1, 2]], columns=["a", "a"]),
    "multi index": frame().set_axis(
        pd.MultiIndex.from_tuples([(1, "a"), (1, "b"), (2, "a")])
    ),
    "datetime index": frame().set_axis(
        pd.date_range("2024-01-01", periods=3, freq="D")
    ),
    "categories": frame(c=pd.Categorical(["a", "b", "a"])),
    "python strings": frame(
        s=pd.array(["a", None, "c"], dtype=pd.StringDtype("python"))
    ),
    "no columns": pd.DataFrame(index=[1, 2]),
}


@pytest.mark.parametrize("value", PICKLED_FRAMES.values(), ids=PICKLED_FRAMES.keys())
def test_other_frames_pickled(tmp_path: Path, value: pd.DataFrame) -> None:
    received, fmt, _ = hand_on(value, tmp_path)
    assert fmt == "cloudpickle"
    exact(received, value)


def test_attrs_pickled(tmp_path: Path) -> None:
    value = frame()
    value.attrs["units"] = ("m", "s")  # Arrow would give back a list
    received, fmt, _ = hand_on(value, tmp_path)
    assert fmt == "cloudpickle"
    exact(received, value)


def test_frame_pickled_without_pyarrow(tmp_path: Path, monkeypatch) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name: None if name == "pyarrow" else find_spec(name),
    )
    received, fmt, _ = hand_on(frame(), tmp_path)
    assert fmt == "cloudpickle"
    exact(received, frame())


def test_arrow_file_without_pyarrow_names_the_fix(tmp_path: Path, monkeypatch) -> None:
    artifact = SimpleNamespace(path=str(tmp_path / "value"), metadata={})
    run_step("nb.ipynb", {}, parameters={"df": frame()}, outputs={"df": artifact})
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.feather", None)
    with pytest.raises(
        ImportError, match="'df' was handed on as an Arrow file.*pyarrow"
    ):
        run_step("nb.ipynb", {}, inputs={"df": artifact})


def test_other_values_pickled(tmp_path: Path) -> None:
    value = {"frame": frame(), "array": np.arange(3), "text": "x"}
    received, fmt, _ = hand_on(value, tmp_path)
    assert fmt == "cloudpickle"
    assert isinstance(received, dict) and received.keys() == value.keys()
    exact(received["frame"], value["frame"])


def test_receiver_of_arrow_file_pins_pyarrow(notebook) -> None:
    path = notebook(
        [
            ("import pandas as pd\nimport pyarrow", ["step:make"]),
            ("df = pd.DataFrame({'x': [1]})", []),
            ("n = len(df)", ["step:use", "prev:make"]),
        ]
    )
    use = analyze(path).steps[1]
    assert any(pin.startswith("pyarrow==") for pin in use.packages)
