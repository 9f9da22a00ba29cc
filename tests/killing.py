"""Kill a real `kedro run` at a chosen moment: after a given log line, or in the middle of writing a file.

The run is a subprocess with a ``sitecustomize`` on its path that, when asked through the environment,
stalls the process at that moment and says so on stderr; the test then sends SIGKILL. This makes
"kill -9 during the save of ratings_clean" deterministic, whatever the speed of the machine.

- ``at_log="Running node: publish"``: stall right after a log record whose message contains the text.
- ``mid_write="ratings_clean.csv"``: stall after writing the first half of the bytes of a file whose path
  contains the text (CSV/JSON through fsspec, pickles through ``pickle.dump``, the project's own writers
  through ``pathlib.Path.open``: at their first write), flushed to disk.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

MARKER = "KILL-TEST-STALLED"

SITECUSTOMIZE = '''
import os, sys, time

def _stall(what):
    sys.stderr.write("%s %s\\n" % (MARKER, what))
    sys.stderr.flush()
    time.sleep(600)

_at_log = os.environ.get("KILL_TEST_AT_LOG")
if _at_log:
    import logging
    _handle = logging.Logger.handle
    def handle(self, record):
        _handle(self, record)
        if _at_log in record.getMessage():
            _stall(record.getMessage())
    logging.Logger.handle = handle

_mid_write = os.environ.get("KILL_TEST_MID_WRITE")
if _mid_write:
    import io, pickle
    def _half_then_stall(stream, path, data):
        stream.write(data[: len(data) // 2])
        stream.flush()
        os.fsync(stream.fileno())
        _stall(path)
    import pathlib
    class _Stalling:  # a stream opened by pathlib (the project's save_atomically): stalls at its first write
        def __init__(self, stream, name):
            self._stream, self._name = stream, name
        def write(self, data):
            if len(data) > 1:
                _half_then_stall(self._stream, self._name, bytes(data))
            return self._stream.write(data)
        def __getattr__(self, attr):
            return getattr(self._stream, attr)
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            return self._stream.__exit__(*exc)
    _path_open = pathlib.Path.open
    def path_open(self, mode="r", *args, **kwargs):
        stream = _path_open(self, mode, *args, **kwargs)
        if _mid_write in str(self) and any(m in mode for m in "wxa"):
            return _Stalling(stream, str(self))
        return stream
    pathlib.Path.open = path_open
    _dump = pickle.dump
    def dump(obj, file, *args, **kwargs):
        name = str(getattr(file, "name", ""))
        if _mid_write not in name or isinstance(file, _Stalling):
            return _dump(obj, file, *args, **kwargs)
        buffer = io.BytesIO()
        _dump(obj, buffer, *args, **kwargs)
        _half_then_stall(file, name, buffer.getvalue())
    pickle.dump = dump
    from fsspec.implementations.local import LocalFileOpener
    _write = LocalFileOpener.write
    def write(self, data, *args, **kwargs):
        if _mid_write in str(self.path) and len(data) > 1:
            _half_then_stall(self.f, str(self.path), data)
        return _write(self, data, *args, **kwargs)
    LocalFileOpener.write = write
'''.replace("MARKER", repr(MARKER))


def kedro_env(tmp: Path, archive: Path | None = None, **stall: str) -> dict[str, str]:
    hooks = tmp / "kill_test_site"
    hooks.mkdir(exist_ok=True)
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1", "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(hooks), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("MOVIELENS_100K", None)
    env.pop("KILL_TEST_AT_LOG", None)
    env.pop("KILL_TEST_MID_WRITE", None)
    if archive:
        env["MOVIELENS_100K"] = str(archive)
    if stall.get("at_log"):
        env["KILL_TEST_AT_LOG"] = stall["at_log"]
    if stall.get("mid_write"):
        env["KILL_TEST_MID_WRITE"] = stall["mid_write"]
    return env


def run_and_kill(root: Path, *args: str, archive: Path | None = None, timeout: float = 180, **stall: str) -> str:
    """Start `kedro run *args` in ``root``, SIGKILL it when it stalls at the chosen moment; its output so far.

    Fails the test when the run ends (or times out) without reaching that moment.
    """
    env = kedro_env(root.parent, archive, **stall)
    process = subprocess.Popen(
        [sys.executable, "-m", "kedro", "run", *args],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines = []
    deadline = time.monotonic() + timeout
    try:
        for line in process.stderr:
            lines.append(line)
            if line.startswith(MARKER):
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
                return "".join(lines)
            if time.monotonic() > deadline:
                break
        raise AssertionError(f"the run never reached {stall}:\n" + "".join(lines[-60:]))
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        process.stderr.close()
