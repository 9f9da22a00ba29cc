"""Model work of ``kedro serve`` in worker processes, off the serving process and its GIL.

The serving process answers ``/health``, title search, similar movies and the published top-N lists on
its event loop. Everything that runs the model itself is sent to one of ``serving.fold_in_workers``
processes (:class:`ModelWorkers`): ``POST /recommendations`` (fold-in) and ``GET
/users/{id}/recommendations`` for more movies than the pipeline published. Python's GIL is per
process, so a fold-in that holds it (a model's pure-Python loop, a long regex...) delays no other
request: the serving process only waits for bytes on a pipe.

Each worker loads the model itself: from the file the run manifest lists, hashed and unpickled from the
same read and refused unless its sha256 is the one the serving process verified (so a file replaced in
between is never unpickled), or, for a model that lives only in memory (tests, notebooks), from the
serving process's own pickle of it. It builds its own :class:`~movie_recommender.api.state.ServingState`
and answers with the JSON body, which the serving process caches. A reload (``--watch``) starts a new
pool for the new model and retires the old one once its running requests are answered; a worker that
dies is started again on the next request. Workers run ``serving.fold_in_worker_nice`` steps below the
server's CPU priority, so that on a busy machine the event loop gets a core before model work does. They
are started with ``spawn`` (no ``fork`` of a process running an event loop and threads) and ignore
Ctrl-C: the serving process stops them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import multiprocessing
import os
import pickle
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

logger = logging.getLogger(__name__)

START_TIMEOUT = 600.0  # seconds a worker may take to load the model (ML-32M on a busy machine: minutes)


class WorkerError(RuntimeError):
    """A worker could not start (its message says why) or died while answering."""


@dataclass(frozen=True)
class WorkerSource:
    """What a worker builds its :class:`ServingState` from (pickled to the worker when it starts).

    Either ``model_path`` and ``sha256`` (the file the run manifest lists, checked by the serving
    process) or ``model_bytes`` (a pickle the serving process made of its own in-memory model).
    """

    movies: pd.DataFrame
    info: dict[str, Any]
    fold_in: bool
    reveal_ratings: bool
    nice: int = 0
    model_path: str | None = None
    sha256: str | None = None
    model_bytes: bytes | None = field(default=None, repr=False)

    def load_model(self) -> Any:
        if self.model_bytes is not None:
            return pickle.loads(self.model_bytes)  # noqa: S301 - the serving process's own model
        data = Path(self.model_path).read_bytes()
        seen = hashlib.sha256(data).hexdigest()
        if seen != self.sha256:
            raise WorkerError(
                f"{self.model_path} changed since the server checked it (sha256 {seen[:12]}, expected "
                f"{self.sha256[:12]}): not loading it; the server reloads the new model when the run manifest lists it."
            )
        return pickle.loads(data)  # noqa: S301 - the bytes whose sha256 the run manifest lists


# ---------------------------------------------------------------------------- in the worker process
def _state(source: WorkerSource):
    from movie_recommender.api.state import ServingState, supports_fold_in

    model = source.load_model()
    if source.fold_in:  # the first fold-in of a process loads compiled kernels: not in a request's time
        supports_fold_in(model)
    return ServingState(
        model,
        source.movies,
        model_info=source.info,
        precompute=False,
        reveal_ratings=source.reveal_ratings,
        fold_in=source.fold_in,
    )


def _answer(state, kind: str, args: tuple) -> tuple[str, Any]:
    from movie_recommender.api.state import UnknownError

    try:
        if kind == "fold_in":
            return "ok", orjson.dumps(state.recommend_new(*args))
        if kind == "user":
            return "ok", state.user_response(*args)
        return "failed", f"unknown task {kind!r}"
    except UnknownError as error:
        return "unknown", str(error)
    except Exception as error:  # reported to the serving process, which answers 500 with its name
        logger.exception("worker task %s failed", kind)
        return "failed", f"{type(error).__name__}: {error}"


def _worker_main(conn, source: WorkerSource) -> None:
    """A worker: load the model, say ``ready``, then answer tasks until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the server stops us
    os.nice(source.nice)  # lower priority than the server: its event loop gets a core first
    try:
        state = _state(source)
    except BaseException as error:  # noqa: BLE001 - whatever it is, the serving process says it
        with contextlib.suppress(OSError):
            conn.send(("error", f"{type(error).__name__}: {error}"))
        return
    with contextlib.suppress(OSError):
        conn.send(("ready", os.getpid()))
    while True:
        try:
            kind, args = conn.recv()
            answer = _answer(state, kind, args)
            conn.send(answer)
        except (EOFError, OSError):  # the serving process closed the pipe or is gone
            return


# ---------------------------------------------------------------------------- in the serving process
@contextlib.contextmanager
def _this_code_first():
    """sys.path with this very package's folder first while a worker is spawned (the worker starts with a
    copy of it): the worker runs the server's code (and its compiled-kernel cache), not another copy of
    the project that bootstrapping a Kedro project put first on the path."""
    import sys

    import movie_recommender

    here = str(Path(movie_recommender.__file__).resolve().parents[1])
    sys.path.insert(0, here)
    try:
        yield
    finally:
        sys.path.remove(here)  # the first occurrence: the one inserted above


class _Worker:
    """One worker process and its pipe; started on demand, started again after it died."""

    def __init__(self, context, source: WorkerSource, name: str) -> None:
        self.context, self.source, self.name = context, source, name
        self.process = self.conn = None
        self._ready: asyncio.Task | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self) -> asyncio.Task:
        """Start the process (if it is not running) and a task that waits for it to say ready."""
        if self._ready is not None and self.alive():
            return self._ready
        self.stop()
        parent, child = self.context.Pipe()
        self.process = self.context.Process(target=_worker_main, args=(child, self.source), name=self.name, daemon=True)
        with _this_code_first():
            self.process.start()
        child.close()  # only the worker holds its end: its exit closes the pipe (EOFError here)
        self.conn = parent
        self._ready = asyncio.ensure_future(self._wait_ready(parent))
        return self._ready

    async def _wait_ready(self, conn) -> int:
        try:
            status, detail = await asyncio.wait_for(asyncio.to_thread(conn.recv), START_TIMEOUT)
        except (EOFError, OSError, TimeoutError):
            self._kill()
            raise WorkerError(f"the model worker {self.name} exited before it was ready") from None
        if status != "ready":
            self._kill()
            raise WorkerError(f"the model worker {self.name} could not load the model: {detail}")
        return detail

    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    async def call(self, kind: str, args: tuple) -> tuple[str, Any]:
        await self.start()
        conn = self.conn
        try:
            conn.send((kind, args))
            return await asyncio.to_thread(conn.recv)
        except (EOFError, OSError, BrokenPipeError):
            code = self.process.exitcode if self.process is not None else None
            self._kill()
            raise WorkerError(f"the model worker {self.name} died (exit code {code})") from None

    def stop(self) -> None:
        """Stop the process now (whatever it is doing) and close the pipe."""
        if self._ready is not None and not self._ready.done():
            self._ready.cancel()
        self._ready = None
        self._kill()

    def _kill(self) -> None:
        if self.process is not None:  # first: its exit ends a recv() waiting in a thread (EOF)
            if self.process.is_alive():
                self.process.kill()
            self.process.join(5)
            self.process = None
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class ModelWorkers:
    """A pool of ``size`` worker processes answering model requests for one :class:`ServingState`.

    Create it on the event loop that uses it; :meth:`start` starts every worker in the background
    (the first requests wait for one to be ready); :meth:`run` sends a task to an idle worker (waiting
    for one: the caller bounds how many wait) and returns its JSON body; :meth:`retire` stops the pool
    once the requests sent to it are answered.
    """

    def __init__(self, source: WorkerSource, size: int, name: str = "model-worker") -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        context = multiprocessing.get_context("spawn")
        self.workers = [_Worker(context, source, f"{name}-{k + 1}") for k in range(size)]
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        for worker in self.workers:
            self._idle.put_nowait(worker)
        self._users = 0  # requests waiting for or using a worker
        self._retired = False

    def start(self) -> None:
        """Start every worker now, in the background (loading the model takes a while on large data)."""
        for worker in self.workers:
            worker.start().add_done_callback(_log_start)

    @property
    def pids(self) -> list[int]:
        return [worker.pid for worker in self.workers if worker.alive()]

    async def run(self, kind: str, *args) -> bytes:
        """The body a worker answers for ``kind`` (``fold_in``: ratings, n; ``user``: user id, n).

        Raises :class:`~movie_recommender.api.state.UnknownError` as the worker did, :class:`WorkerError`
        when no worker could answer (failed to start, died) and RuntimeError for a failure in the model.
        """
        from movie_recommender.api.state import UnknownError

        self._users += 1  # before any await: a pool retired from now on waits for this request
        try:
            worker = await self._idle.get()
            try:
                status, payload = await worker.call(kind, args)
            finally:
                self._idle.put_nowait(worker)
        finally:
            self._users -= 1
            if self._retired and self._users == 0:
                self.close()
        if status == "ok":
            return payload
        if status == "unknown":
            raise UnknownError(payload)
        raise RuntimeError(payload)

    async def ready(self) -> None:
        """Wait until every worker has loaded the model (WorkerError if one cannot)."""
        await asyncio.gather(*(worker.start() for worker in self.workers))

    def retire(self) -> None:
        """Stop the workers once the requests already sent to this pool are answered (a reload drops none)."""
        self._retired = True
        if self._users == 0:
            self.close()

    def close(self) -> None:
        """Stop every worker now."""
        self._retired = True
        for worker in self.workers:
            worker.stop()


def _log_start(task: asyncio.Task) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        logger.error("%s", error)
