"""The run manifest: which artifacts belong together, and the checksums that prove it.

Every successful ``kedro run`` ends by recording, in the ``run_manifest`` dataset of the catalog
(``data/06_models/<dataset>/run_manifest.json``), what it wrote: for each persisted output its file, size, sha256
and row count (a SQL table: its row count and a checksum of its content), and for the run its id, times,
pipeline, parameters, release (the ``dataset`` parameter when there is one) and the checksums of the
inputs it read. A run that fails or is killed records nothing, so its partial outputs do not match.

Consumers check before they use anything (:class:`Manifest`):

- ``kedro serve`` loads the model only through :meth:`Manifest.read_verified` (the bytes whose sha256 the
  manifest lists, hashed and unpickled from the same read, so a file swapped in between cannot slip
  through) after :meth:`Manifest.verify_together` (the model and the movies table come from runs that
  agree: the model's run read the movies file that is there now).
- A pipeline run checks, before any node runs, every input that one of the project's pipelines writes
  (``ratings_clean`` for ``--pipelines modeling``, ``recommender`` for ``--nodes recommend``...).

Anything that does not match is refused with a :class:`ManifestError` saying what and which command
re-creates it. The manifest is as trustworthy as the folder it is in: ``data/06_models/`` must be
writable only by whoever runs the pipeline (README, Serving).

Format (``"format": 1``)::

    {"format": 1, "updated_at": "...", "last_run": "<run id>",
     "artifacts": {"<dataset>": {"kind": "file", "path": "data/...", "bytes": 123, "sha256": "...",
                                 "rows": 9430, "run": "<run id>"},
                   "<sql dataset>": {"kind": "table", "table": "...", "rows": 9430, "sha256": "...",
                                     "run": "<run id>"}},
     "runs": {"<run id>": {"started_at": "...", "finished_at": "...", "pipeline": "__default__",
                           "dataset": null, "parameters": {...},
                           "inputs": {"<dataset>": {"sha256": "...", "bytes": 123}},
                           "outputs": ["<dataset>", ...]}}}

Only the runs some artifact still refers to are kept.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from movie_recommender.errors import UserError

FORMAT = 1
MANIFEST_DATASET = "run_manifest"


class ManifestError(UserError):
    """An artifact that does not match the run manifest (or no manifest at all); the message says what to do."""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_fingerprint(path: Path) -> dict[str, Any]:
    """``bytes`` and ``sha256`` of a file, read in 1 MB blocks."""
    digest, size = hashlib.sha256(), 0
    with Path(path).open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return {"bytes": size, "sha256": digest.hexdigest()}


def frame_checksum(frame: pd.DataFrame) -> str:
    """A checksum of a table's columns and values (row order included), independent of its index."""
    digest = hashlib.sha256(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame.reset_index(drop=True), index=False).to_numpy().tobytes())
    return digest.hexdigest()


def rows_of(data: Any) -> int | None:
    """The row count of a saved object that has one (a DataFrame), else None."""
    return int(len(data)) if isinstance(data, pd.DataFrame) else None


def local_path(dataset: Any) -> Path | None:
    """The local file a Kedro dataset reads and writes, or None (SQL, memory, remote storage)."""
    filepath = getattr(dataset, "_filepath", None)
    if filepath is None or getattr(dataset, "_protocol", "file") not in ("file", "local"):
        return None
    if getattr(dataset, "_version", None) is not None:  # versioned: the version it would load
        try:
            filepath = dataset._get_load_path()
        except Exception:
            return None
    return Path(str(filepath))


def display_path(path: Path, root: Path | None = None) -> str:
    """``path`` relative to ``root`` (the project) when it lies inside it, else as it is."""
    try:
        return str(Path(path).resolve().relative_to((root or Path.cwd()).resolve()))
    except ValueError:
        return str(path)


class Manifest:
    """The manifest's content (a dict, as stored in JSON) and the checks consumers run against it.

    Args:
        content: the loaded JSON, or None when there is no manifest yet.
        where: where it is stored, for messages.
        version: the model version whose manifest it is (``versions/<id>/manifest.json``), for messages: a
            file that no longer matches it changed after its run made the version.
    """

    def __init__(
        self, content: Mapping[str, Any] | None, where: str = MANIFEST_DATASET, version: str | None = None
    ) -> None:
        if content is not None and (not isinstance(content, Mapping) or content.get("format") != FORMAT):
            raise ManifestError(
                f"the run manifest {where} is not in a format this version reads: "
                "run `kedro run` to write a new one."
            )
        self.content: dict[str, Any] = dict(content or {"format": FORMAT, "artifacts": {}, "runs": {}})
        self.exists = content is not None
        self.where = where
        self.version = version

    @property
    def artifacts(self) -> dict[str, dict[str, Any]]:
        return self.content.setdefault("artifacts", {})

    @property
    def runs(self) -> dict[str, dict[str, Any]]:
        return self.content.setdefault("runs", {})

    def run_of(self, name: str) -> dict[str, Any]:
        """The record of the run that wrote artifact ``name`` ({} when unknown)."""
        return self.runs.get(self.artifacts.get(name, {}).get("run"), {})

    # ------------------------------------------------------------------ checks
    def entry(self, name: str, remedy: str) -> dict[str, Any]:
        """The manifest's entry for ``name``; ManifestError when there is none."""
        if not self.exists:
            raise ManifestError(
                f"there is no run manifest ({self.where}), so nothing proves that {name} was written by a "
                f"run that finished: {remedy}."
            )
        found = self.artifacts.get(name)
        if found is None:
            raise ManifestError(f"{name} is not in the run manifest ({self.where}): {remedy}.")
        return found

    def verify_file(self, name: str, path: Path, remedy: str = "re-create it with `kedro run`") -> dict[str, Any]:
        """Check that ``path`` is the file the manifest lists for ``name``; its fingerprint, or ManifestError."""
        entry = self.entry(name, remedy)
        try:
            seen = file_fingerprint(path)
        except FileNotFoundError:
            raise ManifestError(f"{name} ({path}) is missing: {remedy}.") from None
        self._compare(name, path, entry, seen, remedy)
        return seen

    def read_verified(self, name: str, path: Path, remedy: str = "re-create it with `kedro run`") -> bytes:
        """The bytes of ``path``, read once and checked against the manifest's sha256 for ``name``."""
        entry = self.entry(name, remedy)
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise ManifestError(f"{name} ({path}) is missing: {remedy}.") from None
        self._compare(name, path, entry, {"bytes": len(data), "sha256": sha256_bytes(data)}, remedy)
        return data

    def load_pickle(self, name: str, path: Path, remedy: str = "re-create it with `kedro run`") -> Any:
        """Unpickle ``path`` only if its bytes are the ones the manifest lists (never anything else)."""
        return pickle.loads(self.read_verified(name, path, remedy))  # noqa: S301 - checked against the manifest

    def _compare(self, name: str, path: Path, entry: dict, seen: dict, remedy: str) -> None:
        if seen["sha256"] == entry.get("sha256"):
            return
        if self.version is not None:
            raise ManifestError(
                f"version {self.version}: {display_path(path)} changed after its run made the version (sha256 "
                f"{seen['sha256'][:12]}, its manifest lists {str(entry.get('sha256'))[:12]}). Refusing it; {remedy}."
            )
        run = self.runs.get(entry.get("run"), {})
        raise ManifestError(
            f"{name} ({path}) is not the file the run manifest lists (sha256 {seen['sha256'][:12]}, expected "
            f"{str(entry.get('sha256'))[:12]} from run {entry.get('run')} of {run.get('finished_at', '?')}): it "
            f"was written by a run that did not finish, or changed since. Refusing it; {remedy}."
        )

    def verify_together(self, paths: Mapping[str, Path], remedy: str = "run `kedro run`") -> dict[str, dict]:
        """Check every file against the manifest, and that each run read the very files now beside its output.

        E.g. the model and the movies table: the run that trained the model read a ``movies`` whose sha256
        must be that of the movies file present now. Returns each file's fingerprint.
        """
        seen = {name: self.verify_file(name, path, remedy) for name, path in paths.items()}
        for name in paths:
            run_id = self.artifacts[name].get("run")
            for other, read in self.runs.get(run_id, {}).get("inputs", {}).items():
                if other in seen and read.get("sha256") != seen[other]["sha256"]:
                    raise ManifestError(
                        f"{name} and {other} do not belong together: {name} was made by run {run_id} from "
                        f"another {other} than the one in {paths[other]}. Refusing them; {remedy}."
                    )
        return seen

    # ------------------------------------------------------------------ recording
    def record_run(
        self,
        run_id: str,
        run: dict[str, Any],
        outputs: Mapping[str, dict[str, Any]],
    ) -> Manifest:
        """A new manifest with ``outputs`` (name -> entry) written by run ``run_id`` (its record ``run``)."""
        content = {
            "format": FORMAT,
            "updated_at": now(),
            "last_run": run_id,
            "artifacts": {**self.artifacts, **{name: {**entry, "run": run_id} for name, entry in outputs.items()}},
            "runs": {**self.runs, run_id: {**run, "outputs": sorted(outputs)}},
        }
        used = {entry.get("run") for entry in content["artifacts"].values()}
        content["runs"] = {key: value for key, value in content["runs"].items() if key in used}
        return Manifest(content, self.where)


def jsonable(value: Any) -> Any:
    """Parameters as JSON values (numpy scalars, tuples, paths become plain values)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def project_outputs(pipelines: Iterable[Any]) -> set[str]:
    """Every dataset some pipeline of the project writes (the inputs a run must find in the manifest)."""
    names: set[str] = set()
    for pipeline in pipelines:
        names |= set(pipeline.all_outputs())
    return names


def catalog_dataset(catalog: Any, name: str) -> Any:
    """The persisted dataset ``name`` of a Kedro catalog, or None (undeclared, or in memory only)."""
    from kedro.io import MemoryDataset

    try:
        dataset = catalog.get(name)
    except Exception:
        return None
    return None if dataset is None or isinstance(dataset, MemoryDataset) else dataset


def load_manifest(catalog: Any) -> Manifest | None:
    """The run manifest of the catalog's ``run_manifest`` entry (None when the catalog declares none)."""
    dataset = catalog_dataset(catalog, MANIFEST_DATASET)
    if dataset is None:
        return None
    path = local_path(dataset)
    where = display_path(path) if path else MANIFEST_DATASET
    return Manifest(catalog.load(MANIFEST_DATASET) if dataset.exists() else None, where)
