"""Model versions: each complete run's model and published recommendations, kept in a folder of their own.

The catalog entry ``model_versions`` (:class:`ModelVersions`) names the folder,
``data/06_models/<dataset>/versions/``::

    versions/
      2026-12-01T03.00.02.117Z/       one version, named after the run that made it (Kedro's session id)
        recommender.pkl               the run's outputs (hard links, or copies across file systems)...
        recommendations.csv
        all_recommendations.csv
        movies.csv                    ...and the inputs that serving the model needs, as the run left them
        movie_rating_counts.csv
        manifest.json                 written last: the run manifest of these files (sha256, rows, the run)
      current.json                    the version `kedro serve` serves (a run or `kedro model rollback` sets it)
      .serving/<host>.<pid>.json      one per running `kedro serve` process: the version it serves

A successful run that wrote every one of ``outputs`` (the model and its published recommendations, the SQL
table included) makes a version at its end: the files are linked into a hidden temporary folder, checked
against the run manifest, ``manifest.json`` is written, and the folder is renamed into place in one step,
so a version folder is either whole or absent (a run killed meanwhile leaves a hidden temporary folder,
removed later). Then ``current.json`` is replaced atomically to name it, and versions beyond ``keep`` are
pruned: never the current one, nor one a running server serves (``.serving``).

A version is *complete* when its ``manifest.json`` lists every artifact of ``outputs`` and ``inputs`` and
every file it lists is there with the size it lists (:meth:`ModelVersions.versions`); serving one also checks
every sha256, and the model is unpickled only from bytes whose sha256 the manifest lists (:mod:`.manifest`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from movie_recommender.datasets.atomic import _fsync_directory, _running, save_atomically
from movie_recommender.datasets.manifest import FORMAT, Manifest, ManifestError, display_path, file_fingerprint, now
from movie_recommender.errors import UserError

logger = logging.getLogger(__name__)

VERSIONS_DATASET = "model_versions"
VERSION_MANIFEST = "manifest.json"
POINTER = "current.json"
LEASES = ".serving"
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}")
_TEMPORARY = re.compile(r"\.(?P<id>.+)\.(?P<pid>\d+)\.[0-9a-f]+\.tmp")
# what to do about a version with a changed file: for `kedro model rollback`, a pinned and an unpinned `kedro serve`
ROLLBACK_REMEDY = "roll back to another version (`kedro model list` shows them) or run `kedro run` to make a new one"
PINNED_REMEDY = "serve another version (`kedro model list` shows them) or run `kedro run` to make a new one"
CURRENT_REMEDY = "roll back to another version (`kedro model rollback`) or run `kedro run` to make a new one"


class VersionError(UserError):
    """A version that does not exist or is not complete, or nothing to roll back to; the message says what to do."""


@dataclass(frozen=True)
class Version:
    """One version folder: its id, path, manifest (None when unreadable) and why it is incomplete (None: complete)."""

    id: str
    path: Path
    manifest: dict[str, Any] | None
    problem: str | None = None

    @property
    def complete(self) -> bool:
        return self.problem is None

    @property
    def files(self) -> dict[str, str]:
        """Artifact name -> file name in the folder."""
        return dict((self.manifest or {}).get("version", {}).get("files", {}))

    def file(self, name: str) -> Path:
        return self.path / self.files[name]

    @property
    def run(self) -> dict[str, Any]:
        """The record of the run that made it (parameters, times, release)."""
        content = self.manifest or {}
        return dict(content.get("runs", {}).get(content.get("version", {}).get("run"), {}))

    @property
    def created_at(self) -> str:
        return str((self.manifest or {}).get("version", {}).get("created_at", ""))

    def manifest_of(self, where: str | None = None) -> Manifest:
        """The version's manifest as a :class:`Manifest` (a file no longer matching it is named with the version)."""
        return Manifest(self.manifest, where or display_path(self.path / VERSION_MANIFEST), version=self.id)

    def checked(self, where: str | None = None, remedy: str = ROLLBACK_REMEDY) -> Manifest:
        """The version's manifest as a :class:`Manifest`, every file's sha256 checked; VersionError if one differs."""
        if not self.complete:
            raise VersionError(f"version {self.id} is not complete ({self.problem}): {remedy}.")
        manifest = self.manifest_of(where)
        for name in self.files:
            try:
                manifest.verify_file(name, self.file(name), remedy)
            except ManifestError as error:
                raise VersionError(str(error)) from None
        return manifest


def relocated(dataset: AbstractDataset, name: str, filepath: Path) -> AbstractDataset:
    """A copy of a catalog file dataset (same type, load and save arguments) reading ``filepath`` instead."""
    config = dataset._init_config()
    kwargs = dict(config.get("kwargs", {}))
    kwargs.pop("metadata", None)
    return AbstractDataset.from_config(name, {"type": config["type"], **kwargs, "filepath": str(filepath)})


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link (no space used; every writer of this project replaces files, never rewrites them), or a
    copy, fsynced, when the two are on different file systems."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
        with target.open("rb") as stream:
            os.fsync(stream.fileno())


def _temporary(root: Path, name: str) -> Path:
    return root / f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"


def _remove_tree(path: Path) -> None:
    """Rename ``path`` to a hidden temporary name first, so a half-removed folder never looks like a version."""
    doomed = _temporary(path.parent, path.name)
    os.rename(path, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


class ModelVersions(AbstractDataset[Mapping[str, Any], list[Version]]):
    """The versions folder of a release (see the module's description); ``load()`` lists its versions.

    Args:
        path: the folder, e.g. ``data/06_models/${_dataset}/versions``.
        outputs: datasets a run must have written, all of them, to make a version (files are linked into it,
            SQL tables are recorded by their checksum).
        inputs: datasets linked into each version as they are at the end of that run (what serving needs
            beside the model: movies, rating counts).
    """

    def __init__(
        self,
        *,
        path: str,
        outputs: Iterable[str],
        inputs: Iterable[str] = (),
        metadata: dict | None = None,
    ) -> None:
        self.path = Path(path)
        self.outputs = tuple(outputs)
        self.inputs = tuple(inputs)
        if not self.outputs:
            raise DatasetError("model_versions: outputs must name at least one dataset (the model).")
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self.path), "outputs": list(self.outputs), "inputs": list(self.inputs)}

    def _exists(self) -> bool:
        return self.path.is_dir()

    def load(self) -> list[Version]:
        return self.versions()

    def save(self, data: Mapping[str, Any]) -> None:
        """Make a version: ``{"id": run id, "files": {name: path}, "manifest": Manifest}`` (see :meth:`snapshot`)."""
        self.snapshot(data["id"], data["files"], data["manifest"])

    # ------------------------------------------------------------------ reading
    def versions(self) -> list[Version]:
        """Every version folder, oldest first, each checked for completeness (files present, sizes as listed)."""
        try:
            entries = sorted(p for p in self.path.iterdir() if p.is_dir() and not p.name.startswith("."))
        except FileNotFoundError:
            return []
        found = [self._read(entry) for entry in entries]
        return sorted(found, key=lambda v: (v.created_at or "~", v.id))

    def complete(self) -> list[Version]:
        return [version for version in self.versions() if version.complete]

    def get(self, version_id: str) -> Version:
        """The version named ``version_id``; VersionError listing the complete ones when there is none."""
        if _ID.fullmatch(str(version_id)) and (self.path / version_id).is_dir():
            return self._read(self.path / version_id)
        known = ", ".join(v.id for v in self.complete()) or "none yet: run `kedro run`"
        raise VersionError(
            f"there is no version {version_id!r} in {display_path(self.path)} (complete versions: {known})."
        )

    def _read(self, folder: Path) -> Version:
        try:
            content = json.loads((folder / VERSION_MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return Version(folder.name, folder, None, f"no {VERSION_MANIFEST}")
        except (OSError, ValueError) as error:
            return Version(folder.name, folder, None, f"{VERSION_MANIFEST} unreadable: {error}")
        if not isinstance(content, dict) or content.get("format") != FORMAT or "version" not in content:
            return Version(folder.name, folder, None, f"{VERSION_MANIFEST} is not a version manifest")
        version = Version(folder.name, folder, content)
        listed = set(content.get("artifacts", {}))
        missing = [name for name in (*self.outputs, *self.inputs) if name not in listed]
        if missing:
            return Version(folder.name, folder, content, f"{', '.join(missing)} not in it")
        for name, file_name in version.files.items():
            try:
                size = (folder / file_name).stat().st_size
            except OSError:
                return Version(folder.name, folder, content, f"{file_name} missing")
            listed = content["artifacts"].get(name, {}).get("bytes")
            if size != listed:
                problem = f"{file_name} changed after its run: {size} bytes, its {VERSION_MANIFEST} lists {listed}"
                return Version(folder.name, folder, content, problem)
        return version

    def current_id(self) -> str | None:
        """The version ``current.json`` names (None when there is none, or it is unreadable)."""
        try:
            value = json.loads((self.path / POINTER).read_text(encoding="utf-8")).get("version")
        except (OSError, ValueError, AttributeError):
            return None
        return str(value) if value else None

    def resolve(self, pinned: str | None = None, remedy: str = PINNED_REMEDY) -> Version | None:
        """What ``kedro serve`` serves: ``pinned`` (which must be complete; else VersionError ending with
        ``remedy``), else the current version when it is complete, else the newest complete one (None when
        there is no complete version at all)."""
        if pinned:
            version = self.get(pinned)
            if not version.complete:
                raise VersionError(f"version {pinned} is not complete ({version.problem}): {remedy}.")
            return version
        complete = self.complete()
        current = self.current_id()
        for version in complete:
            if version.id == current:
                return version
        if current:
            logger.warning("The current version %s is missing or incomplete: serving the newest complete one.", current)
        return complete[-1] if complete else None

    # ------------------------------------------------------------------ writing
    def snapshot(self, version_id: str, files: Mapping[str, Path], manifest: Manifest) -> Version:
        """Make version ``version_id`` of the artifacts the run manifest lists, and make it the current one.

        ``files``: the local file of each file artifact among ``outputs`` and ``inputs`` (the others must be
        tables). Each linked file is checked against its sha256 in the manifest before the folder is renamed
        into place, so a file replaced meanwhile by another run is never recorded under this run.
        """
        if not _ID.fullmatch(version_id):
            raise DatasetError(f"cannot name a version {version_id!r}: letters, digits and . _ : + - only.")
        target = self.path / version_id
        if target.exists():
            existing = self._read(target)
            if existing.complete:
                self.set_current(version_id, "run")
                return existing
            _remove_tree(target)
        self.path.mkdir(parents=True, exist_ok=True)
        self.remove_stale_temporaries()
        work = _temporary(self.path, version_id)
        work.mkdir()
        try:
            artifacts, names = {}, {}
            for name in (*self.outputs, *self.inputs):
                entry = dict(manifest.entry(name, "run `kedro run`"))
                if entry.get("kind") == "file":
                    source = files[name]
                    names[name] = f"{name}{source.suffix}"
                    _link_or_copy(source, work / names[name])
                    seen = file_fingerprint(work / names[name])
                    if seen["sha256"] != entry.get("sha256"):
                        raise DatasetError(
                            f"{name} ({source}) changed after run {version_id} recorded it (another run?): "
                            "no version made of it."
                        )
                    entry["path"] = display_path(target / names[name])
                artifacts[name] = entry
            runs = {entry["run"] for entry in artifacts.values() if entry.get("run")}
            content = {
                "format": FORMAT,
                "version": {
                    "id": version_id,
                    "run": version_id,
                    "created_at": now(),
                    "dataset": manifest.runs.get(version_id, {}).get("dataset"),
                    "files": names,
                },
                "artifacts": artifacts,
                "runs": {run: manifest.runs[run] for run in sorted(runs) if run in manifest.runs},
            }
            save_atomically(
                work / VERSION_MANIFEST, lambda stream: stream.write(json.dumps(content, indent=2).encode())
            )
            _fsync_directory(work)
            os.rename(work, target)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        _fsync_directory(self.path)
        self.set_current(version_id, "run")
        return self._read(target)

    def set_current(self, version_id: str, by: str) -> None:
        """Point ``current.json`` at ``version_id`` (replaced atomically: a server sees the old or the new one)."""
        record = {"version": version_id, "set_at": now(), "by": by}
        save_atomically(self.path / POINTER, lambda stream: stream.write(json.dumps(record, indent=2).encode()))

    def remove_stale_temporaries(self) -> list[Path]:
        """Remove hidden temporary folders left by killed snapshots and prunes (their process is gone)."""
        removed = []
        try:
            candidates = list(self.path.iterdir())
        except FileNotFoundError:
            return removed
        for candidate in candidates:
            match = _TEMPORARY.fullmatch(candidate.name)
            if match and candidate.is_dir() and not _running(int(match["pid"])):
                shutil.rmtree(candidate, ignore_errors=True)
                removed.append(candidate)
        return removed

    # ------------------------------------------------------------------ servers
    def _lease_file(self, pid: int | None = None) -> Path:
        return self.path / LEASES / f"{socket.gethostname()}.{pid or os.getpid()}.json"

    def lease(self, version_id: str, pinned: bool) -> None:
        """Record that this process serves ``version_id`` (so that retention never prunes it)."""
        record = {
            "version": version_id,
            "pinned": pinned,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": now(),
        }
        save_atomically(self._lease_file(), lambda stream: stream.write(json.dumps(record).encode()))

    def release(self) -> None:
        self._lease_file().unlink(missing_ok=True)

    def leases(self) -> list[dict[str, Any]]:
        """The servers running now (a record whose process is gone on this host is removed), each with its version.

        Records from other hosts cannot be checked and count as running."""
        found = []
        try:
            records = sorted((self.path / LEASES).glob("*.json"))
        except OSError:
            return found
        host = socket.gethostname()
        for record in records:
            try:
                lease = json.loads(record.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if lease.get("host") == host and not _running(int(lease.get("pid", 0))):
                record.unlink(missing_ok=True)
                continue
            found.append(lease)
        return found

    # ------------------------------------------------------------------ retention
    def protected(self) -> set[str]:
        """Versions that are never pruned: the current one and every one a running server serves."""
        return {self.current_id(), *(lease.get("version") for lease in self.leases())} - {None}

    def prune(self, keep: int) -> list[str]:
        """Delete every version but the ``keep`` newest complete ones and the protected ones; the ids deleted."""
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise VersionError(f"versions.keep must be a whole number >= 1, got {keep!r}.")
        self.remove_stale_temporaries()
        versions = self.versions()
        kept = {v.id for v in [v for v in versions if v.complete][-keep:]} | self.protected()
        removed = []
        for version in versions:
            if version.id in kept:
                continue
            try:
                _remove_tree(version.path)
            except OSError as error:
                logger.warning("Could not remove version %s: %s", version.id, error)
                continue
            removed.append(version.id)
        if removed:
            logger.info(
                "Removed %d old version(s) of the model (versions.keep: %d): %s", len(removed), keep, ", ".join(removed)
            )
        return removed


# ---------------------------------------------------------------------- rollback
def rollback_target(versions: ModelVersions, version_id: str | None = None) -> tuple[Version | None, Version]:
    """(the version served now, the one to switch to): ``version_id``, or the newest complete version older
    than the current one. VersionError when that is not a complete version, or there is none."""
    current = versions.resolve()
    if version_id:
        target = versions.resolve(version_id, ROLLBACK_REMEDY)
    else:
        if current is None:
            raise VersionError(f"there is no complete version in {versions.path} to roll back from: run `kedro run`.")
        complete = versions.complete()
        older = complete[: [v.id for v in complete].index(current.id)]
        if not older:
            raise VersionError(
                f"version {current.id} is the oldest complete version: there is none to roll back to "
                "(kedro model list shows them)."
            )
        target = older[-1]
    return current, target


def restore(catalog: Any, versions: ModelVersions, target: Version) -> Manifest:
    """Make ``target`` the current version: every sha256 checked, then its outputs back in their catalog places
    (files hard-linked and renamed into place, SQL tables republished by the node that writes them, from the
    version's files), the run manifest updated to list them, and ``current.json`` switched last.

    A failure before the switch leaves ``current.json`` as it was, so ``kedro serve`` keeps serving the same
    version (run the command again). Returns the updated run manifest.
    """
    from movie_recommender.datasets.atomic import temporary_path
    from movie_recommender.datasets.manifest import (
        MANIFEST_DATASET,
        catalog_dataset,
        frame_checksum,
        load_manifest,
        local_path,
    )
    from movie_recommender.hooks import all_pipelines

    checked = target.checked()
    live = load_manifest(catalog)
    if live is None:
        raise VersionError("the catalog declares no run_manifest: cannot record the rollback.")
    outputs = {}
    for name in versions.outputs:
        entry = dict(checked.artifacts[name])
        if entry.get("kind") == "file":
            path = local_path(catalog_dataset(catalog, name))
            if path is None:
                raise VersionError(f"{name} is not a local file in the catalog: cannot restore it.")
            path.parent.mkdir(parents=True, exist_ok=True)
            staged = temporary_path(path)
            _link_or_copy(target.file(name), staged)
            os.replace(staged, path)
            _fsync_directory(path.parent)
            entry["path"] = display_path(path)
        else:  # a table: published again by the node that writes it, from the version's own files
            makers = [n for p in all_pipelines().values() for n in p.nodes if name in n.outputs]
            if not makers:
                raise VersionError(f"no node writes {name}: cannot publish it again.")
            node = makers[0]
            parameters = target.run.get("parameters", {})
            inputs = {}
            for source in node.inputs:
                if source.startswith("params:"):
                    inputs[source] = parameters[source.removeprefix("params:")]
                elif source in target.files:
                    inputs[source] = relocated(catalog_dataset(catalog, source), source, target.file(source)).load()
                else:
                    raise VersionError(f"{name} is made from {source}, which version {target.id} does not hold.")
            data = node.run(inputs)[name]
            catalog.save(name, data)
            checksum = frame_checksum(data)
            if checksum != entry.get("sha256"):
                logger.warning("%s republished from version %s differs from what its run published.", name, target.id)
            entry.update(rows=len(data), sha256=checksum)
        outputs[name] = entry
    updated = live.record_run(target.id, target.run, outputs)
    catalog.save(MANIFEST_DATASET, updated.content)
    versions.set_current(target.id, "rollback")
    return updated
