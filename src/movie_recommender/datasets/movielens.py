"""Kedro dataset for the MovieLens 100k archive: find it locally or download it once, then verify it.

This is the only place in the project that touches the network. Nodes get the archive's
member files as ``{"u.data": b"...", "u.item": b"...", ...}`` and stay pure.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import TablePreview

from movie_recommender.errors import UserError
from movie_recommender.recsys.movielens import MovieLensFormatError, parse_genres, parse_movies, parse_ratings

logger = logging.getLogger(__name__)


class MovieLensArchiveError(DatasetError, UserError):
    """The archive is missing, unreadable or not MovieLens 100k; the message says how to fix it."""

REQUIRED_MEMBERS = ("u.data", "u.item", "u.genre")
# The data files of MovieLens 100k: u.data, u.item, ..., u1.base ... ub.test (not README or scripts).
_MEMBER_NAME = re.compile(r"^u\w*\.\w+$")
_CHUNK = 1 << 16


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class MovieLensArchiveDataset(AbstractDataset[None, dict[str, bytes]]):
    """The MovieLens 100k archive, loaded as a mapping of member file name to bytes.

    Where the data comes from, first match wins:

    1. ``source``, or the environment variable named by ``source_env`` (default
       ``MOVIELENS_100K``), which overrides it: a local ``ml-100k.zip`` or an extracted
       ``ml-100k/`` folder. Nothing is copied or downloaded.
    2. The cached archive at ``filepath``.
    3. A download from ``url`` into ``filepath``: streamed to a temporary file beside it,
       with progress logged, checked against ``md5``, and renamed into place only when
       complete and verified. A failed download leaves nothing behind.

    A local or cached copy is accepted when its bytes match ``md5``, else when its member
    files match ``member_md5`` (a re-pack of the official files), else when it passes the
    format checks of the MovieLens readers, with a warning. Anything else is an error that
    says what failed and how to fix it.

    Example catalog entry::

        ml100k_archive:
          type: movie_recommender.datasets.MovieLensArchiveDataset
          filepath: data/01_raw/ml-100k.zip
          url: https://files.grouplens.org/datasets/movielens/ml-100k.zip
          md5: 0e33842e24a9c977be4e0107933c0723
    """

    def __init__(  # noqa: PLR0913
        self,
        *,
        filepath: str,
        url: str,
        md5: str,
        member_md5: dict[str, str] | None = None,
        source: str | None = None,
        source_env: str = "MOVIELENS_100K",
        timeout: float = 60.0,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._filepath = Path(filepath)
        self._url = url
        self._md5 = md5.lower()
        self._member_md5 = {name: value.lower() for name, value in (member_md5 or {}).items()}
        self._source = source
        self._source_env = source_env
        self._timeout = timeout
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "url": self._url, "md5": self._md5, "source": self._local_source()}

    def _exists(self) -> bool:
        path, is_source = self._where()
        return path.exists() if is_source else path.is_file()

    def save(self, data: dict[str, bytes]) -> None:
        raise DatasetError("MovieLensArchiveDataset is read-only: it downloads or reads the archive, never writes it.")

    def _local_source(self) -> str | None:
        return os.environ.get(self._source_env) or self._source

    def _where(self) -> tuple[Path, bool]:
        """The path load() reads, and whether it is a local source (rather than the cached download)."""
        source = self._local_source()
        return (Path(source).expanduser(), True) if source else (self._filepath, False)

    def _origin(self, path: Path, is_source: bool) -> str:
        return f"{path} (from {self._source_env})" if is_source and os.environ.get(self._source_env) else str(path)

    def _how_to_fix(self) -> str:
        return (
            f"To work offline, copy ml-100k.zip (the official archive, or a re-pack of its files) to "
            f"{self._filepath}, where every later run finds it; or set {self._source_env}=/path/to/ml-100k.zip "
            "(or to an extracted ml-100k/ folder) for one command."
        )

    # ------------------------------------------------------------------ loading
    def load(self) -> dict[str, bytes]:
        path, is_source = self._where()
        origin = self._origin(path, is_source)
        if is_source and not path.exists():
            raise MovieLensArchiveError(
                f"The MovieLens 100k source {origin} does not exist. Point it at ml-100k.zip or an "
                f"extracted ml-100k/ folder, or unset it to use {self._filepath} (downloaded when missing)."
            )
        if not is_source and not path.is_file():
            self._download()
        if path.is_dir():
            return self._accept(self._read_folder(path, origin), archive_md5=None, origin=origin)
        return self._accept(self._read_zip(path, origin), archive_md5=_file_md5(path), origin=origin)

    def preview(self) -> TablePreview:
        """The archive's files with size and md5, for kedro-viz; read from a local copy, never downloaded."""
        path, is_source = self._where()
        origin = self._origin(path, is_source)
        if not path.exists():
            note = f"{origin} does not exist." if is_source else f"{origin} is not there yet: kedro run downloads it."
            return TablePreview(pd.DataFrame({"note": [note]}).to_dict(orient="split"))
        members = self._read_folder(path, origin) if path.is_dir() else self._read_zip(path, origin)
        table = pd.DataFrame(
            [(name, len(content), _md5(content)) for name, content in sorted(members.items())],
            columns=["file", "bytes", "md5"],
        )
        return TablePreview(table.to_dict(orient="split"))

    def _read_zip(self, path: Path, origin: str) -> dict[str, bytes]:
        fix = (
            "Delete it and run again to download a fresh copy, or replace it with the official archive (or a re-pack of its files)."
            if path == self._filepath
            else "Replace it with the official archive (or a re-pack of its files)."
        )
        try:
            with zipfile.ZipFile(path) as archive:
                members = {}
                for info in archive.infolist():
                    name = PurePosixPath(info.filename)
                    if not info.is_dir() and name.parent.name in ("ml-100k", "") and _MEMBER_NAME.match(name.name):
                        members.setdefault(name.name, archive.read(info))
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise MovieLensArchiveError(
                f"{origin} is not a readable zip archive ({exc}); it is truncated or corrupt. {fix}"
            ) from None
        return self._require_members(members, origin, fix)

    def _read_folder(self, path: Path, origin: str) -> dict[str, bytes]:
        if not (path / "u.data").exists() and (path / "ml-100k").is_dir():
            path = path / "ml-100k"
        members = {
            child.name: child.read_bytes()
            for child in path.iterdir()
            if _MEMBER_NAME.match(child.name) and child.is_file()
        }
        return self._require_members(members, origin, "Point it at the extracted ml-100k/ folder.")

    @staticmethod
    def _require_members(members: dict[str, bytes], origin: str, fix: str) -> dict[str, bytes]:
        missing = [name for name in REQUIRED_MEMBERS if name not in members]
        if missing:
            raise MovieLensArchiveError(
                f"{origin} has no {', '.join(missing)}: it is not (or not all of) MovieLens 100k, "
                f"which holds {', '.join(REQUIRED_MEMBERS)} among others. {fix}"
            )
        return members

    def _accept(self, members: dict[str, bytes], archive_md5: str | None, origin: str) -> dict[str, bytes]:
        if archive_md5 == self._md5:
            return members
        differing = [
            f"{name} md5 {_md5(members[name]) if name in members else 'missing'} != {expected}"
            for name, expected in self._member_md5.items()
            if name not in members or _md5(members[name]) != expected
        ]
        if self._member_md5 and not differing:
            logger.info("%s is a re-pack whose files match the official MovieLens 100k contents.", origin)
            return members
        try:
            parse_movies(members["u.item"], parse_genres(members["u.genre"]))
            parse_ratings(members["u.data"])
        except MovieLensFormatError as exc:
            raise MovieLensArchiveError(f"{origin} is not a valid MovieLens 100k copy: {exc}") from None
        logger.warning(
            "%s is not the official MovieLens 100k (%s). It passed the format checks and will be used, but "
            "results may differ from published ones: use the official archive for reproducible runs.",
            origin,
            "; ".join(differing)
            or (
                f"archive md5 {archive_md5} != {self._md5}" if archive_md5 else "a folder, with no checksums to compare"
            ),
        )
        return members

    # -------------------------------------------------------------- downloading
    def _download(self) -> None:
        target = self._filepath
        target.parent.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", suffix=".part", delete=False)
        partial = Path(handle.name)
        try:
            with handle:
                digest, size, expected = self._stream(handle)
            if expected is not None and size != expected:
                raise MovieLensArchiveError(
                    f"The download from {self._url} stopped after {size:,} of {expected:,} bytes. "
                    f"Run again to retry. {self._how_to_fix()}"
                )
            if digest != self._md5:
                raise MovieLensArchiveError(
                    f"The archive downloaded from {self._url} failed its checksum: md5 {digest}, expected "
                    f"{self._md5} ({size:,} bytes). It is corrupt or not the official file. Run again to "
                    f"retry. {self._how_to_fix()}"
                )
            umask = os.umask(0)
            os.umask(umask)
            partial.chmod(0o666 & ~umask)  # temporary files are private; the archive is an ordinary file
            os.replace(partial, target)
            logger.info("Saved verified MovieLens 100k archive to %s.", target)
        finally:
            partial.unlink(missing_ok=True)

    def _stream(self, handle) -> tuple[str, int, int | None]:
        logger.info("Downloading MovieLens 100k from %s to %s ...", self._url, self._filepath)
        digest = hashlib.md5(usedforsecurity=False)
        size, next_report = 0, 0.1
        try:
            with urllib.request.urlopen(self._url, timeout=self._timeout) as response:  # noqa: S310
                length = response.headers.get("Content-Length")
                expected = int(length) if length and length.isdigit() else None
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    handle.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    if expected and size / expected >= next_report:
                        logger.info("  %5.1f of %.1f MB (%d%%)", size / 1e6, expected / 1e6, 100 * size // expected)
                        next_report += 0.1
                    elif not expected and size >= next_report * 1e7:  # size unknown: every 1 MB
                        logger.info("  %5.1f MB", size / 1e6)
                        next_report += 0.1
        except http.client.IncompleteRead:
            raise MovieLensArchiveError(
                f"The download from {self._url} was cut off after {size:,} bytes. Run again to retry. "
                f"{self._how_to_fix()}"
            ) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise MovieLensArchiveError(
                f"Could not download MovieLens 100k from {self._url}: {reason}. {self._how_to_fix()}"
            ) from None
        return digest.hexdigest(), size, expected
