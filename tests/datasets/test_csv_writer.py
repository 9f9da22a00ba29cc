"""The fast CSV writer of tables of plain numbers: the very bytes ``to_csv`` writes, atomically."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow.csv
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from kedro.io import DatasetError

from movie_recommender.datasets import AtomicCSVDataset
from movie_recommender.datasets import csv_writer
from movie_recommender.datasets.csv_writer import numeric_csv_writer


def fast_bytes(frame: pd.DataFrame) -> bytes:
    write = numeric_csv_writer(frame, {"index": False})
    assert write is not None, "the fast path should apply to this table"
    stream = io.BytesIO()
    write(stream)
    return stream.getvalue()


def pandas_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def ratings_table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "userId": rng.integers(1, 200_000, n).astype("int32"),
            "movieId": rng.integers(1, 300_000, n).astype("int32"),
            "rating": (rng.integers(1, 11, n) / 2).astype("float32"),
            "timestamp": rng.integers(789_652_009, 1_700_000_000, n).astype("int64"),
        }
    )


def test_ratings_table_has_the_bytes_of_to_csv_across_batches(monkeypatch):
    monkeypatch.setattr(csv_writer, "_BATCH_ROWS", 1000)  # several batches, the last one partial
    frame = ratings_table(4321)
    assert fast_bytes(frame) == pandas_bytes(frame)
    assert fast_bytes(frame.iloc[:0]) == pandas_bytes(frame.iloc[:0]) == b"userId,movieId,rating,timestamp\n"


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # 1e20 as float16: inf
def test_awkward_floats_and_integers_are_written_as_pandas_writes_them():
    floats = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e20, 1e-7, 1 / 3, 3.7, 123456789.125, 5e-324, -2.5]
    frame = pd.DataFrame(
        {
            "f64": np.array(floats, dtype="float64"),
            "f32": np.array(floats, dtype="float32"),
            "f16": np.array(floats, dtype="float16"),
            "i8": np.arange(-6, 6, dtype="int8"),
            "u64": np.array([2**64 - 1] * 6 + [0] * 6, dtype="uint64"),
            "i64": np.array([-(2**63), 2**63 - 1] * 6, dtype="int64"),
            "dup": np.ones(12, dtype="int16"),
        }
    )
    frame.columns = ["f64", "f32", "f16", "i8", "u64", "i64", "i64"]  # a repeated name is written twice
    assert fast_bytes(frame) == pandas_bytes(frame)
    assert b"-0.0" in fast_bytes(frame) and b"0.33333334" in fast_bytes(frame)  # float32's own shortest text


column_strategy = st.one_of(
    *(hnp.arrays(dtype, 40, elements=hnp.from_dtype(np.dtype(dtype))) for dtype in ("float32", "float64")),
    *(hnp.arrays(dtype, 40) for dtype in ("int32", "int64", "uint8", "float16")),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(column_strategy, min_size=1, max_size=4))
def test_any_numeric_table_has_the_bytes_of_to_csv(columns):
    frame = pd.DataFrame({f"c{i}": column for i, column in enumerate(columns)})
    if len(columns) == 1 and columns[0].dtype.kind == "f" and np.isnan(columns[0]).any():
        # the one numeric table left to pandas: a NaN alone on its row, which to_csv writes "" and pyarrow
        # cannot write without quoting
        assert numeric_csv_writer(frame, {"index": False}) is None
    else:
        assert fast_bytes(frame) == pandas_bytes(frame)


@pytest.mark.parametrize(
    ("frame", "save_args"),
    [
        (pd.DataFrame({"title": ["Heat"], "year": [1995]}), {"index": False}),  # text
        (pd.DataFrame({"year": pd.array([1995, None], "Int64")}), {"index": False}),  # nullable
        (pd.DataFrame({"ok": [True, False]}), {"index": False}),  # booleans
        (pd.DataFrame({"score": [0.123456]}), {"index": False, "float_format": "%.4f"}),  # any other setting
        (pd.DataFrame({"score": [0.5]}), {"index": True}),
        (pd.DataFrame({"Größe": [1]}), {"index": False}),  # a header that is not ASCII
        (pd.DataFrame({"rating": [1.5, np.nan]}), {"index": False}),  # a NaN alone on its row: to_csv writes ""
        (pd.DataFrame(index=range(3)), {"index": False}),  # no columns
    ],
)
def test_other_tables_and_settings_are_left_to_pandas(frame, save_args):
    assert numeric_csv_writer(frame, save_args) is None


def test_a_float_column_with_many_distinct_values_is_left_to_pandas(monkeypatch):
    monkeypatch.setattr(csv_writer, "MAX_DISTINCT_FLOATS", 100)
    scores = pd.DataFrame({"score": np.linspace(0, 1, 101)})
    assert numeric_csv_writer(scores, {"index": False}) is None
    assert numeric_csv_writer(scores.iloc[:100], {"index": False}) is not None


def test_dataset_writes_numbers_with_the_fast_writer_and_text_with_pandas(tmp_path, monkeypatch):
    used = []
    real = pyarrow.csv.CSVWriter

    def spy(*args, **kwargs):
        used.append(True)
        return real(*args, **kwargs)

    monkeypatch.setattr(pyarrow.csv, "CSVWriter", spy)
    ratings = ratings_table(2000, seed=1)
    dataset = AtomicCSVDataset(filepath=str(tmp_path / "ratings.csv"), save_args={"index": False})
    dataset.save(ratings)
    assert used and (tmp_path / "ratings.csv").read_bytes() == pandas_bytes(ratings)
    loaded = AtomicCSVDataset(
        filepath=str(tmp_path / "ratings.csv"), load_args={"dtype": {"userId": "int32", "movieId": "int32", "rating": "float32"}}
    ).load()
    pd.testing.assert_frame_equal(loaded, ratings)

    used.clear()
    movies = pd.DataFrame({"movieId": [1, 2], "title": ['Heat, "the"', "Babe"]})
    AtomicCSVDataset(filepath=str(tmp_path / "movies.csv")).save(movies)
    assert not used and (tmp_path / "movies.csv").read_bytes() == pandas_bytes(movies)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["movies.csv", "ratings.csv"]  # no temporary files


def test_a_crash_in_the_fast_writer_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ratings.csv"
    dataset = AtomicCSVDataset(filepath=str(path))
    dataset.save(ratings_table(10))
    before = path.read_bytes()
    monkeypatch.setattr(csv_writer, "_BATCH_ROWS", 100)
    real = pyarrow.csv.CSVWriter

    class Failing(real):
        batches = 0

        def write_batch(self, batch, *args, **kwargs):
            super().write_batch(batch, *args, **kwargs)
            Failing.batches += 1
            if Failing.batches == 2:
                raise RuntimeError("crash mid-write")

    monkeypatch.setattr(pyarrow.csv, "CSVWriter", Failing)
    with pytest.raises(DatasetError, match="crash mid-write"):
        dataset.save(ratings_table(1000))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ratings.csv"]
