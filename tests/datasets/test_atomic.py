"""Atomic writes: files and the SQL table are never seen half-written."""

from __future__ import annotations

import json
import os
import pickle
import threading
import time
import uuid

import pandas as pd
import pytest
from kedro.io import DatasetError
from sqlalchemy import create_engine, inspect, text

from movie_recommender.datasets import (
    AtomicCSVDataset,
    AtomicJSONDataset,
    AtomicMatplotlibDataset,
    AtomicPickleDataset,
    AtomicSQLTableDataset,
)

POSTGRES_ENV = "MOVIE_RECOMMENDER_TEST_POSTGRES_URL"


# ------------------------------------------------------------------ pickle
def test_pickle_round_trip(tmp_path):
    dataset = AtomicPickleDataset(filepath=str(tmp_path / "models" / "model.pkl"))
    assert not dataset.exists()
    dataset.save({"a": 1})
    assert dataset.exists() and dataset.load() == {"a": 1}
    dataset.save({"a": 2})
    assert dataset.load() == {"a": 2}
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["model.pkl"]  # no temp files left


class Exploding:
    """Pickles half of a large payload, then fails: a crash in the middle of the write."""

    def __reduce__(self):
        raise RuntimeError("crash while pickling")


def test_pickle_crash_mid_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "model.pkl"
    dataset = AtomicPickleDataset(filepath=str(path))
    dataset.save("old model")
    before = path.read_bytes()
    with pytest.raises(DatasetError, match="crash while pickling"):
        dataset.save(["x" * 1_000_000, Exploding()])  # the first element is already written when it fails
    assert path.read_bytes() == before and dataset.load() == "old model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pkl"]


def dead_pid() -> int:
    """The pid of a process that has exited."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_save_removes_stale_temporary_files_of_its_own_file_only(tmp_path):
    path = tmp_path / "model.pkl"
    dead = dead_pid()
    stale = [tmp_path / f".model.pkl.{dead}.ab12cd34.tmp", tmp_path / ".model.pkl.k3j2h4xz.tmp"]  # and the old form
    kept = [
        tmp_path / f".model.pkl.{os.getppid()}.ab12cd34.tmp",  # a live process: maybe a concurrent save
        tmp_path / f".other.pkl.{dead}.ab12cd34.tmp",  # another file's
        tmp_path / "model.pkl.tmp",  # not a temporary file of ours
    ]
    for file in stale + kept:
        file.write_bytes(b"partial")
    AtomicPickleDataset(filepath=str(path)).save({"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["model.pkl", *(k.name for k in kept)])


def test_saved_files_get_the_usual_permissions(tmp_path):
    AtomicPickleDataset(filepath=str(tmp_path / "model.pkl")).save(1)
    AtomicCSVDataset(filepath=str(tmp_path / "table.csv")).save(pd.DataFrame({"a": [1]}))
    umask = os.umask(0o022)
    os.umask(umask)
    for name in ("model.pkl", "table.csv"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask


def half_then_fail(write_half):
    """A writer that puts part of its output in the file, then fails (a crash mid-write)."""

    def fail(*args, **kwargs):
        write_half(*args, **kwargs)
        raise RuntimeError("crash mid-write")

    return fail


def test_csv_json_and_plot_saves_are_atomic(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, other = plt.figure(), plt.figure()
    figure.gca().plot([1, 2], [3, 4])
    other.gca().plot([1, 2], [4, 3])
    cases = [
        # text: written by to_csv (a table of plain numbers has its own writer, tested in test_csv_writer.py)
        (AtomicCSVDataset, "t.csv", pd.DataFrame({"a": ["x"] * 1000}), pd.DataFrame({"a": ["y"] * 5}), pd.DataFrame,
         "to_csv", lambda self, path_or_buf=None, **kw: path_or_buf.write("a\nx\n")),
        (AtomicJSONDataset, "t.json", {"a": list(range(1000))}, {"a": 1}, json, "dump",
         lambda data, stream, **kw: stream.write('{"a": [1, ')),
        (AtomicMatplotlibDataset, "t.png", figure, other, type(figure), "savefig",
         lambda self, stream, **kw: stream.write(b"\x89PNG")),
    ]
    for dataset_class, name, old, new, owner, method, write_half in cases:
        path = tmp_path / name
        dataset = dataset_class(filepath=str(path))
        dataset.save(old)
        before = path.read_bytes()
        with monkeypatch.context() as patch:
            patch.setattr(owner, method, half_then_fail(write_half))
            with pytest.raises(DatasetError, match="crash mid-write"):
                dataset.save(new)
        assert path.read_bytes() == before, name  # the old file, whole
        dataset.save(new)
        assert path.read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.json", "t.png"]  # no temporary files left


def test_pickle_reader_never_sees_partial_file(tmp_path):
    path = tmp_path / "model.pkl"
    dataset = AtomicPickleDataset(filepath=str(path))
    payloads = [list(range(200_000)), list(range(300_000))]
    dataset.save(payloads[0])
    stop, seen, errors = threading.Event(), set(), []

    def reader():
        while not stop.is_set():
            try:
                with path.open("rb") as stream:
                    seen.add(len(pickle.load(stream)))
            except Exception as error:  # a partial file would raise here
                errors.append(error)

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(20):
        dataset.save(payloads[i % 2])
    stop.set()
    thread.join()
    assert not errors and seen <= {200_000, 300_000}


# ------------------------------------------------------------------ SQL
def _postgres_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"no PostgreSQL server: set {POSTGRES_ENV} (.ci/run starts one and sets it)")
    try:
        with create_engine(url).connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as error:
        pytest.skip(f"PostgreSQL at {POSTGRES_ENV} does not answer: {type(error).__name__}: {error}")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'recommendations.db'}"
    return _postgres_url()


@pytest.fixture
def table_name():
    return f"recs_{uuid.uuid4().hex[:10]}"  # a fresh table per test, so PostgreSQL runs don't collide


def frame(version: int, rows: int) -> pd.DataFrame:
    return pd.DataFrame({"userId": range(rows), "rank": 1, "movieId": version, "score": float(version)})


def test_sql_save_load_replace(sql_url, table_name):
    dataset = AtomicSQLTableDataset(table_name=table_name, credentials={"con": sql_url}, indexes=["userId"])
    assert not dataset.exists()
    dataset.save(frame(1, 5))
    pd.testing.assert_frame_equal(dataset.load(), frame(1, 5), check_dtype=False)
    dataset.save(frame(2, 4))  # the same columns: a new version of the rows
    pd.testing.assert_frame_equal(dataset.load(), frame(2, 4), check_dtype=False)
    dataset.save(frame(3, 3).assign(extra="new column"))  # a new schema is fine: the table is rebuilt
    loaded = dataset.load()
    assert len(loaded) == 3 and set(loaded.movieId) == {3} and "extra" in loaded.columns
    assert table_name in inspect(dataset.engine).get_view_names()
    tables = {t for t in inspect(dataset.engine).get_table_names() if t.startswith(table_name)}
    assert tables == {f"{table_name}__rows", f"{table_name}__current"}
    with dataset.engine.connect() as conn:  # only the current version's rows are kept
        assert conn.execute(text(f'SELECT count(*) FROM "{table_name}__rows"')).scalar() == 3
    indexes = inspect(dataset.engine).get_indexes(f"{table_name}__rows")
    assert [index["column_names"] for index in indexes] == [["_publish_version", "userId"]]  # one, the new one's


@pytest.mark.parametrize("suffix", ['"; DROP TABLE victim; --', " :evil"])
def test_sql_table_names_are_quoted_never_injected(sql_url, table_name, suffix):
    victim = f"victim_{table_name}"
    with create_engine(sql_url).begin() as conn:
        conn.execute(text(f"CREATE TABLE {victim} (a INTEGER)"))
    dataset = AtomicSQLTableDataset(table_name=table_name + suffix, credentials={"con": sql_url}, indexes=["userId"])
    dataset.save(frame(1, 5))
    dataset.save(frame(2, 3))
    assert len(dataset.load()) == 3
    tables = set(inspect(dataset.engine).get_table_names())
    assert victim in tables and table_name + suffix in inspect(dataset.engine).get_view_names()
    assert {t for t in tables if t.startswith(table_name)} == {f"{table_name}{suffix}__{x}" for x in ("rows", "current")}


def test_sql_table_name_with_a_percent_sign_is_refused(sql_url, table_name):
    with pytest.raises(DatasetError, match="may not contain '%'"):
        AtomicSQLTableDataset(table_name=table_name + "%s%(x)s", credentials={"con": sql_url})


def test_sql_table_name_too_long_for_the_database_is_refused(sql_url, table_name):
    dataset = AtomicSQLTableDataset(table_name=table_name, credentials={"con": sql_url})
    limit = dataset.engine.dialect.max_identifier_length
    dataset = AtomicSQLTableDataset(table_name="t" * (limit - 3), credentials={"con": sql_url})
    with pytest.raises(DatasetError, match="too long"):
        dataset.save(frame(1, 5))


def test_sql_failed_save_keeps_the_old_table(sql_url, table_name, monkeypatch):
    dataset = AtomicSQLTableDataset(table_name=table_name, credentials={"con": sql_url})
    dataset.save(frame(1, 50))

    def to_sql_then_crash(self, *args, **kwargs):
        original_to_sql(self, *args, **kwargs)  # the staging table is fully written...
        raise RuntimeError("crash before the swap")  # ...then the process dies

    original_to_sql = pd.DataFrame.to_sql
    monkeypatch.setattr(pd.DataFrame, "to_sql", to_sql_then_crash)
    with pytest.raises(DatasetError, match="crash before the swap"):
        dataset.save(frame(2, 10))
    monkeypatch.undo()
    loaded = dataset.load()
    assert len(loaded) == 50 and set(loaded.movieId) == {1}
    assert f"{table_name}__staging" not in inspect(dataset.engine).get_table_names()  # rolled back


def test_sql_concurrent_reader_sees_old_or_new_never_partial(sql_url, table_name):
    """A reader on its own connection, polling during repeated replaces, sees only complete versions."""
    writer = AtomicSQLTableDataset(table_name=table_name, credentials={"con": sql_url})
    sizes = {1: 3000, 2: 5000}
    writer.save(frame(1, sizes[1]))
    reader_engine = create_engine(sql_url)
    stop, seen, problems = threading.Event(), [], []

    def reader():
        with reader_engine.connect() as conn:
            while not stop.is_set():
                try:
                    rows = conn.execute(text(f'SELECT count(*), min("movieId"), max("movieId") FROM "{table_name}"'))
                    count, low, high = rows.one()
                    conn.commit()
                except Exception as error:  # a missing table would land here
                    problems.append(f"{type(error).__name__}: {error}")
                    conn.rollback()
                    continue
                if low != high or count != sizes.get(low):
                    problems.append(f"partial read: {count} rows of versions {low}-{high}")
                seen.append(low)

    thread = threading.Thread(target=reader)
    thread.start()
    deadline = time.monotonic() + 1.5
    version = 1
    while time.monotonic() < deadline:
        version = 3 - version
        writer.save(frame(version, sizes[version]))
    stop.set()
    thread.join()
    reader_engine.dispose()
    assert not problems, problems[:5]
    assert set(seen) <= {1, 2} and len(seen) > 10


def test_catalog_entry_switches_to_postgresql_with_a_credentials_key(table_name):
    """The README's recipe: the base entry, overridden with `credentials: recommendations_db`."""
    import yaml
    from kedro.io import DataCatalog

    from tests.conftest import PROJECT_ROOT

    url = _postgres_url()
    entry = yaml.safe_load((PROJECT_ROOT / "conf/base/catalog.yml").read_text())["all_recommendations_table"]
    entry = {**entry, "table_name": table_name, "credentials": "recommendations_db"}
    catalog = DataCatalog.from_config({"all_recommendations_table": entry}, {"recommendations_db": {"con": url}})
    catalog.save("all_recommendations_table", frame(3, 7))
    loaded = catalog.load("all_recommendations_table")
    assert len(loaded) == 7 and set(loaded.movieId) == {3}


# ------------------------------------------------------------------ PostgreSQL: readers at every isolation level
def count_versions(conn, table):
    return tuple(conn.execute(text(f'SELECT count(*), min("movieId"), max("movieId") FROM "{table}"')).one())


@pytest.mark.parametrize("isolation", ["READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE"])
def test_postgres_readers_see_a_whole_version_at_every_isolation_level(isolation, table_name):
    """A reader whose transaction began before a save sees one whole version; the save does not wait for it."""
    url = _postgres_url()
    writer = AtomicSQLTableDataset(table_name=table_name, credentials={"con": url}, lock_timeout=1, lock_retries=0)
    writer.save(frame(1, 300))
    reader_engine, other_engine = create_engine(url, isolation_level=isolation), create_engine(url)
    try:
        with reader_engine.connect() as reader, other_engine.connect() as other:
            reader.execute(text("SELECT 1"))  # the transaction's snapshot is taken before the save
            writer.save(frame(2, 200))
            first = count_versions(reader, table_name)  # reads the table only now
            started = time.monotonic()
            writer.save(frame(3, 100))  # while the reader's transaction holds the table: no wait
            saved_in = time.monotonic() - started
            started = time.monotonic()
            assert count_versions(other, table_name) == (100, 3, 3)  # a new reader is not queued behind anything
            other_in = time.monotonic() - started
            second = count_versions(reader, table_name)
            reader.commit()
            after = count_versions(reader, table_name)
    finally:
        reader_engine.dispose()
        other_engine.dispose()
    if isolation == "READ COMMITTED":  # each statement: the version committed when it starts
        assert (first, second) == ((200, 2, 2), (100, 3, 3))
    else:  # the whole transaction: the version of its snapshot, though two saves committed since
        assert first == second == (300, 1, 1)
    assert after == (100, 3, 3)
    assert saved_in < 2.0 and other_in < 2.0  # (a save that waited 1 s for a lock would have failed)


def test_postgres_save_waits_a_bounded_time_for_a_lock_then_retries_or_says_why(table_name):
    url = _postgres_url()
    writer = AtomicSQLTableDataset(table_name=table_name, credentials={"con": url}, lock_timeout=0.2, lock_retries=1)
    writer.save(frame(1, 5))
    blocker_engine = create_engine(url)
    try:
        with blocker_engine.connect() as blocker:  # e.g. a long maintenance transaction on our tables
            blocker.execute(text(f'LOCK TABLE "{table_name}__current" IN ACCESS EXCLUSIVE MODE'))
            started = time.monotonic()
            with pytest.raises(DatasetError, match="held by another transaction for more than 0.2 s, 2 times"):
                writer.save(frame(2, 5))
            assert time.monotonic() - started < 2.0  # 2 attempts of 0.2 s and a 0.1 s pause, not forever
            release = threading.Timer(0.3, blocker.rollback)
            release.start()
            patient = AtomicSQLTableDataset(
                table_name=table_name, credentials={"con": url}, lock_timeout=0.2, lock_retries=5
            )
            patient.save(frame(3, 5))  # the lock is released during its retries
            release.join()
    finally:
        blocker_engine.dispose()
    assert set(writer.load().movieId) == {3}


def test_sql_replaces_a_table_left_by_the_previous_dataset(sql_url, table_name):
    """Databases written by earlier versions hold a plain table under the name: the first save replaces it."""
    engine = create_engine(sql_url)
    frame(1, 4).to_sql(table_name, engine, index=False)
    dataset = AtomicSQLTableDataset(table_name=table_name, credentials={"con": sql_url})
    dataset.save(frame(2, 3))
    assert set(dataset.load().movieId) == {2} and table_name in inspect(dataset.engine).get_view_names()
    engine.dispose()
