"""Datasets whose readers never see a half-written result.

- :class:`AtomicPickleDataset`: pickles to a temporary file in the target directory, fsyncs it and
  ``os.replace``-s it over the old file. A crash mid-write leaves the previous file intact (plus, at
  worst, a stray ``.<name>.<pid>.*.tmp`` file, removed by the next save of the same file once its
  process is gone); a reader opens either the old or the new file, never a partial one.
- :class:`AtomicCSVDataset`, :class:`AtomicJSONDataset`, :class:`AtomicMatplotlibDataset`: kedro-datasets'
  CSV, JSON and Matplotlib datasets (same arguments, same previews in kedro-viz) whose local saves go
  through the same temporary file and rename (tables of plain numbers: a faster writer, the same bytes).
- :class:`AtomicSQLTableDataset`: kedro-datasets' ``pandas.SQLTableDataset`` whose table is a view over
  versioned rows: a save adds the new version and points the view at it in one transaction of plain row
  changes (SQLite or PostgreSQL), so readers at any isolation level see one whole version.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import secrets
import time
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from kedro_datasets.json import JSONDataset
from kedro_datasets.matplotlib import MatplotlibDataset
from kedro_datasets.pandas import CSVDataset, SQLTableDataset
from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from .csv_writer import numeric_csv_writer

VERSION_COLUMN = "_publish_version"  # AtomicSQLTableDataset: the version each stored row belongs to
LOCK_ERRORS = {"55P03", "40P01"}  # PostgreSQL: lock_not_available (lock_timeout), deadlock_detected


class AtomicPickleDataset(AbstractDataset[Any, Any]):
    """A pickle file written with write-then-rename, so it is never read half-written.

    Args:
        filepath: local path of the pickle file; its directory is created if needed.
        protocol: pickle protocol (default: ``pickle.HIGHEST_PROTOCOL``).
    """

    def __init__(self, *, filepath: str, protocol: int | None = None, metadata: dict | None = None) -> None:
        self._filepath = Path(filepath)
        self._pickle_protocol = pickle.HIGHEST_PROTOCOL if protocol is None else protocol
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "protocol": self._pickle_protocol}

    def load(self) -> Any:
        with self._filepath.open("rb") as stream:
            return pickle.load(stream)  # noqa: S301 - our own artifact

    def save(self, data: Any) -> None:
        save_atomically(self._filepath, lambda stream: pickle.dump(data, stream, protocol=self._pickle_protocol))

    def _exists(self) -> bool:
        return self._filepath.is_file()


def temporary_path(path: Path) -> Path:
    """A fresh temporary name beside ``path``: ``.<name>.<pid>.<random>.tmp`` (hidden, and ours by its pid)."""
    return path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove the temporary files that saves of ``path`` killed mid-write left behind.

    A temporary file is stale when the process named in it (``.<name>.<pid>.*.tmp``) is no longer running
    on this machine; files of the older ``.<name>.<random>.tmp`` form carry no pid and are always stale.
    Temporary files of running processes (a concurrent save) and of other files are never touched.
    """
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?:(\d+)\.)?[A-Za-z0-9_]+\.tmp")
    removed = []
    try:
        candidates = list(path.parent.iterdir())
    except OSError:
        return removed
    for candidate in candidates:
        match = pattern.fullmatch(candidate.name)
        if match is None or (match.group(1) and _running(int(match.group(1)))):
            continue
        try:
            candidate.unlink()
        except OSError:  # gone already, or not ours to remove
            continue
        removed.append(candidate)
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OverflowError:
        return False
    return True


def save_atomically(path: Path, write) -> None:
    """Call ``write(stream)`` on a temporary file beside ``path``, fsync, then ``os.replace`` it over ``path``.

    Stale temporary files of ``path`` (left by killed saves) are removed first.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = temporary_path(path)
    try:
        with tmp.open("xb") as stream:  # a new file (never someone else's), with the usual permissions
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def replace_atomically(path: Path, write_to) -> None:
    """Like :func:`save_atomically` for writers that open the file themselves: ``write_to(tmp_path)``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = temporary_path(path)
    try:
        write_to(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (best effort: some file systems refuse)."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


class AtomicFileMixin:
    """Makes a kedro-datasets file dataset save to a temporary file that is renamed into place.

    The dataset's own ``save`` writes to the path ``_get_save_path`` returns; while saving, that is a
    temporary file beside the target (local files only: other protocols are saved as the parent does).
    """

    _atomic_tmp: PurePosixPath | None = None

    def _get_save_path(self):
        return self._atomic_tmp if self._atomic_tmp is not None else super()._get_save_path()

    def save(self, data: Any) -> None:
        if getattr(self, "_protocol", "file") not in ("file", "local") or self._atomic_tmp is not None:
            return super().save(data)
        target = Path(str(super()._get_save_path()))

        def write_to(tmp: Path) -> None:
            self._atomic_tmp = PurePosixPath(tmp)
            try:
                super(AtomicFileMixin, self).save(data)
            finally:
                self._atomic_tmp = None

        replace_atomically(target, write_to)


class AtomicCSVDataset(AtomicFileMixin, CSVDataset):
    """``pandas.CSVDataset`` saved to a temporary file and renamed into place.

    A local, unversioned table of plain numbers saved with ``index: false`` only (the ratings tables) is
    written by :func:`~movie_recommender.datasets.csv_writer.numeric_csv_writer`: the bytes ``to_csv``
    writes, about ten times faster.
    """

    def save(self, data: pd.DataFrame) -> None:
        write = None
        if (
            isinstance(data, pd.DataFrame)
            and getattr(self, "_protocol", "file") in ("file", "local")
            and self._version is None
            and self._atomic_tmp is None
        ):
            write = numeric_csv_writer(data, self._save_args)
        if write is None:
            return super().save(data)
        save_atomically(Path(str(self._get_save_path())), write)
        self._invalidate_cache()


class AtomicJSONDataset(AtomicFileMixin, JSONDataset):
    """``json.JSONDataset`` saved to a temporary file and renamed into place."""


class AtomicMatplotlibDataset(AtomicFileMixin, MatplotlibDataset):
    """``matplotlib.MatplotlibDataset`` saved to a temporary file and renamed into place (a single figure;
    a list or dict of figures is a folder of files, saved as the parent class does)."""

    def save(self, data: Any) -> None:
        if isinstance(data, list | dict):
            return MatplotlibDataset.save(self, data)
        return super().save(data)


def _sqlite_transactional_ddl(engine: Engine) -> None:
    """Let pysqlite run CREATE/ALTER/DROP inside our transaction (it otherwise autocommits DDL).

    The SQLAlchemy recipe: disable the driver's own transaction handling and emit BEGIN ourselves.
    WAL mode lets readers keep reading the last committed table while a write is in progress.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class AtomicSQLTableDataset(SQLTableDataset):
    """``pandas.SQLTableDataset`` whose save replaces the table atomically, for readers at any isolation level.

    ``table_name`` is a view over two tables of its own:

    - ``<table>__rows``: the rows of the current version (and, inside a save, of the next), each tagged
      with its version in a ``_publish_version`` column;
    - ``<table>__current``: one row, the current version (and the columns and types it has).

    ``CREATE VIEW <table> AS SELECT <columns> FROM <table>__rows WHERE _publish_version =
    (SELECT version FROM <table>__current)``. A save inserts the new version's rows, points
    ``<table>__current`` at it and deletes the old rows, in one transaction: plain row changes, no DDL,
    so MVCC applies. A READ COMMITTED statement sees the whole old version or the whole new one; a
    REPEATABLE READ or SERIALIZABLE transaction sees the version of its snapshot for as long as it lasts
    (the deleted rows stay visible to it). No reader blocks a save and a save blocks no reader.

    The first save, a save whose columns or types differ from the current ones, and the first save over a
    plain table of that name (earlier versions of this dataset) rebuild the three objects in one
    transaction with DDL: that waits for the transactions reading the table, and a REPEATABLE READ or
    SERIALIZABLE transaction whose snapshot predates it sees it empty if it first reads it afterwards.

    Every save sets ``lock_timeout`` (PostgreSQL; SQLite waits through its busy timeout): a lock not
    granted within ``lock_timeout`` seconds (a concurrent save, or a reader during a rebuild) aborts the
    attempt, which is retried ``lock_retries`` times with a growing pause, then fails with a message. A
    failed save rolls back: the previous version stays.

    ``save_args`` are passed to ``to_sql`` except ``if_exists`` and ``name``. ``indexes``: columns to
    index (``(_publish_version, column)`` each, so that lookups through the view use them).
    """

    engines: dict[str, Engine] = {}  # separate from SQLTableDataset's: our SQLite engines are set up differently

    def __init__(
        self,
        *,
        indexes: list[str] | None = None,
        lock_timeout: float = 2.0,
        lock_retries: int = 5,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if "%" in self.table_name:  # PostgreSQL's driver would read it as a parameter marker in the DDL
            raise DatasetError(f"table_name {self.table_name!r} may not contain '%'; choose another name.")
        if not lock_timeout > 0 or int(lock_retries) != lock_retries or lock_retries < 0:
            raise DatasetError(f"lock_timeout must be > 0 seconds and lock_retries a count >= 0 ({self.table_name}).")
        self._indexes = list(indexes or [])
        self._lock_timeout, self._lock_retries = float(lock_timeout), int(lock_retries)
        self._save_args.pop("if_exists", None)
        self._schema = self._save_args.get("schema") or self._load_args.get("schema")

    @classmethod
    def create_connection(cls, connection_str: str, connection_args: dict | None = None) -> None:
        try:
            engine = create_engine(connection_str, **(connection_args or {}))
        except Exception as error:  # missing driver, bad URL
            raise DatasetError(f"Cannot connect to {_redact(connection_str)}: {error}") from error
        if engine.dialect.name == "sqlite":
            _sqlite_transactional_ddl(engine)
        cls.engines[connection_str] = engine

    @property
    def table_name(self) -> str:
        return self._save_args["name"]

    def _qualified(self, conn: Connection, name: str) -> str:
        quote = _quoter(conn)
        return f"{quote(self._schema)}.{quote(name)}" if self._schema else quote(name)

    def _check_names(self, conn: Connection, *names: str) -> None:
        """The names of our tables must fit the database's identifiers (PostgreSQL: 63 bytes), else it
        would silently truncate them, to the same name when the table name is long."""
        limit = conn.dialect.max_identifier_length
        too_long = [n for n in names if len(n.encode()) > limit]
        if too_long:
            raise DatasetError(
                f"table_name {self.table_name!r} is too long: {too_long[0]!r} exceeds the {limit}-byte "
                f"identifier limit of {conn.dialect.name}; use a shorter table_name."
            )

    def save(self, data: pd.DataFrame) -> None:
        if VERSION_COLUMN in data.columns:
            raise DatasetError(f"{self.table_name}: the column name {VERSION_COLUMN!r} is reserved; rename it.")
        for attempt in range(self._lock_retries + 1):
            try:
                with self.engine.begin() as conn:
                    if conn.dialect.name == "postgresql":  # bound every lock wait of this transaction
                        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {max(1, round(self._lock_timeout * 1000))}")
                    self._replace(conn, data)
                return
            except OperationalError as error:
                if getattr(error.orig, "sqlstate", None) not in LOCK_ERRORS:
                    raise
                if attempt == self._lock_retries:
                    raise DatasetError(
                        f"Could not replace {self.table_name}: a lock it needs was held by another transaction "
                        f"for more than {self._lock_timeout:g} s, {attempt + 1} times (a concurrent save, or a long "
                        "transaction reading it while its columns change). Nothing was changed; run again "
                        "later, or end that transaction."
                    ) from error
                time.sleep(min(0.1 * 2**attempt, 2.0))

    def _replace(self, conn: Connection, data: pd.DataFrame) -> None:
        table = self.table_name
        rows, current = f"{table}__rows", f"{table}__current"
        self._check_names(conn, rows, current)
        q = _quoter(conn)
        save_args = {k: v for k, v in self._save_args.items() if k != "name"}
        columns = json.dumps([[str(name), str(dtype)] for name, dtype in data.dtypes.items()])
        state = None
        if inspect(conn).has_table(current, schema=self._schema):
            lock = " FOR UPDATE" if conn.dialect.name == "postgresql" else ""  # one save at a time
            state = conn.execute(text(f"SELECT version, columns FROM {self._qualified(conn, current)}{lock}")).first()
        if state is not None and state.columns == columns and table in inspect(conn).get_view_names(self._schema):
            version = state.version + 1
            data.assign(**{VERSION_COLUMN: version}).to_sql(name=rows, con=conn, if_exists="append", **save_args)
            conn.execute(text(f"UPDATE {self._qualified(conn, current)} SET version = :v"), {"v": version})
            conn.execute(text(f"DELETE FROM {self._qualified(conn, rows)} WHERE {q(VERSION_COLUMN)} <> :v"), {"v": version})
            return
        # (re)build: the first save, other columns, or a plain table left by earlier versions of this dataset
        if table in inspect(conn).get_view_names(self._schema):
            conn.execute(text(f"DROP VIEW {self._qualified(conn, table)}"))
        for name in (table, rows, current, f"{table}__staging", f"{table}__old"):
            conn.execute(text(f"DROP TABLE IF EXISTS {self._qualified(conn, name)}"))
        data.assign(**{VERSION_COLUMN: 1}).to_sql(name=rows, con=conn, if_exists="fail", **save_args)
        for column in self._indexes:  # index names are unique per schema/database: a fresh one each time
            # (cut to the identifier limit before the unique suffix: a truncated name would not be unique)
            prefix = f"ix_{table}_{column}".lower().encode()[: conn.dialect.max_identifier_length - 9]
            index = q(f"{prefix.decode(errors='ignore')}_{uuid.uuid4().hex[:8]}")
            conn.execute(
                text(f"CREATE INDEX {index} ON {self._qualified(conn, rows)} ({q(VERSION_COLUMN)}, {q(column)})")
            )
        conn.execute(text(f"CREATE TABLE {self._qualified(conn, current)} (version BIGINT NOT NULL, columns TEXT)"))
        conn.execute(text(f"INSERT INTO {self._qualified(conn, current)} VALUES (1, :c)"), {"c": columns})
        select = ", ".join(q(str(name)) for name in data.columns)
        conn.execute(
            text(
                f"CREATE VIEW {self._qualified(conn, table)} AS SELECT {select} FROM {self._qualified(conn, rows)} "
                f"WHERE {q(VERSION_COLUMN)} = (SELECT version FROM {self._qualified(conn, current)})"
            )
        )


def _quoter(conn: Connection):
    """The dialect's identifier quoting, made safe for ``text()``: a colon would start a bind parameter."""
    quote = conn.dialect.identifier_preparer.quote
    return lambda name: quote(name).replace(":", "\\:")


def _redact(url: str) -> str:
    """The connection URL without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<connection string>"
