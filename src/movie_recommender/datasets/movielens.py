"""Kedro dataset for a MovieLens archive (any release) or a user's own ratings: find it locally or
download it once, then verify it.

This is the only place in the project that touches the network. Nodes get a
:class:`MovieLensFiles`: a read-only mapping of member file name to bytes
(``{"u.data": b"...", ...}``) that also opens a member as a stream (``files.open("ratings.csv")``),
so a 32M-line file is parsed straight from the zip, and says which release it holds
(``files.release``). Nodes stay pure.
"""

from __future__ import annotations

import csv
import hashlib
import http.client
import io
import logging
import os
import re
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import TablePreview

from movie_recommender.errors import UserError
from movie_recommender.recsys.movielens import MovieLensFormatError, parse_genres, parse_movies, parse_ratings
from movie_recommender.recsys.releases import DEFAULT_DATASET, RELEASES, Release, UnknownDatasetError, get_release

logger = logging.getLogger(__name__)


class MovieLensArchiveError(DatasetError, UserError):
    """The archive is missing, unreadable or not the release asked for; the message says how to fix it."""


# The data files of MovieLens 100k: u.data, u.item, ..., u1.base ... ub.test (not README or scripts);
# of the other releases: ratings, movies, tags, links, users (.dat or .csv) and the 25M genome files.
_MEMBER_NAME = {"ml100k": re.compile(r"^u\w*\.\w+$"), "dat": re.compile(r"^\w+\.dat$"), "csv": re.compile(r"^[\w-]+\.csv$")}
_CHUNK = 1 << 16
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError)


class _Member(io.RawIOBase):
    """A member of a zip opened for reading; a damaged member raises a message saying what to do."""

    def __init__(self, path: Path, name: str, fix: str) -> None:
        self._archive = zipfile.ZipFile(path)
        self._stream = self._archive.open(name)
        self._where = f"{path} (member {name})"
        self._fix = fix

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self._stream.read(len(buffer))
        except _ZIP_ERRORS as exc:
            raise MovieLensFormatError(f"{self._where} is corrupt ({exc}). {self._fix}") from None
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
            self._archive.close()
        super().close()


class MovieLensFiles(Mapping[str, bytes]):
    """The member files of one release: ``files["u.data"]`` reads a member, ``files.open(name)`` streams it.

    ``release`` is the :class:`~movie_recommender.recsys.releases.Release` they belong to and
    ``origin`` where they were read from. Equal to a dict of the same names and bytes.
    """

    def __init__(self, release: Release, openers: Mapping[str, Callable[[], IO[bytes]]], origin: str) -> None:
        self.release = release
        self.origin = origin
        self._openers = dict(openers)

    def open(self, name: str) -> IO[bytes]:
        if name not in self._openers:
            raise KeyError(name)
        return io.BufferedReader(self._openers[name](), buffer_size=1 << 20)

    def opener(self, name: str) -> Callable[[], IO[bytes]]:
        return lambda: self.open(name)

    def __getitem__(self, name: str) -> bytes:
        with self.open(name) as stream:
            return stream.read()

    def __contains__(self, name: object) -> bool:  # Mapping's would read the member (700 MB for 25M)
        return name in self._openers

    def __iter__(self) -> Iterator[str]:
        return iter(self._openers)

    def __len__(self) -> int:
        return len(self._openers)

    def __repr__(self) -> str:
        return f"MovieLensFiles({self.release.name!r}, {sorted(self._openers)}, origin={self.origin!r})"


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class MovieLensArchiveDataset(AbstractDataset[None, MovieLensFiles]):
    """A MovieLens archive (``dataset``: ml-100k, ml-1m, ..., ml-32m, ml-latest) or a user's own ratings.

    Loads a :class:`MovieLensFiles`. Where the data comes from, first match wins:

    1. ``source``, or the environment variable named by ``source_env`` (default
       ``MOVIELENS_100K`` for ml-100k, ``MOVIELENS_1M`` for ml-1m, ...), which overrides it: a
       local zip or an extracted folder. Nothing is copied or downloaded. A custom dataset's
       ``path`` (``custom_datasets``) is its source; by default ``data/01_raw/<name>/``.
    2. The cached archive at ``filepath`` (default ``data/01_raw/<dataset>.zip``).
    3. A download from ``url`` (default GroupLens') into ``filepath``: streamed to a temporary
       file beside it, with progress logged, checked against ``md5`` (default: the release's
       published md5, else the ``<url>.md5`` file GroupLens publishes beside the archive), and
       renamed into place only when complete and verified. A failed download leaves nothing.

    A local or cached copy is accepted when its bytes match ``md5``, else (100k) when its member
    files match ``member_md5`` (a re-pack of the official files), else when it passes the format
    checks, with a warning. Anything else is an error that says what failed and how to fix it.

    Example catalog entry::

        movielens_archive:
          type: movie_recommender.datasets.MovieLensArchiveDataset
          dataset: ${runtime_params:dataset,ml-100k}
          filepath: data/01_raw/${runtime_params:dataset,ml-100k}.zip
          custom_datasets: ${globals:custom_datasets}
    """

    def __init__(  # noqa: PLR0913
        self,
        *,
        dataset: str = DEFAULT_DATASET,
        filepath: str | None = None,
        url: str | None = None,
        md5: str | None = None,
        member_md5: dict[str, str] | None = None,
        source: str | None = None,
        source_env: str | None = None,
        custom_datasets: Mapping[str, object] | None = None,
        timeout: float = 60.0,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._dataset = dataset
        self._custom = dict(custom_datasets or {})
        try:  # an unknown name is reported when the data is needed (the run checks it before any node)
            release: Release | None = get_release(dataset, self._custom)
        except UnknownDatasetError:
            release = None
        self._release_or_none = release
        self._filepath = Path(filepath or f"data/01_raw/{dataset}.zip")
        self._url = url or (release.url if release and not release.custom else None)
        given_md5 = md5 or (release.md5 if release else None)
        self._md5 = given_md5.lower() if given_md5 else None
        members = member_md5 if member_md5 is not None else (release.member_md5 if release else {})
        self._member_md5 = {name: value.lower() for name, value in (members or {}).items()}
        self._source = source
        if release and release.custom and not source:
            self._source = release.path or self._custom_default()
        self._source_env = source_env or (release.source_env if release else "MOVIELENS_100K")
        self._timeout = timeout
        self.metadata = metadata

    @property
    def _release(self) -> Release:
        if self._release_or_none is None:
            try:
                get_release(self._dataset, self._custom)
            except UnknownDatasetError as exc:
                raise MovieLensArchiveError(str(exc)) from None
        return self._release_or_none

    def _custom_default(self) -> str:
        zipped = self._filepath
        return str(zipped if zipped.exists() else zipped.with_suffix(""))

    @property
    def _title(self) -> str:
        return self._release.title if self._release_or_none else f"dataset {self._dataset}"

    def _describe(self) -> dict[str, Any]:
        return {
            "dataset": self._dataset,
            "filepath": str(self._filepath),
            "url": self._url,
            "md5": self._md5,
            "source": self._local_source(),
        }

    def _exists(self) -> bool:
        path, is_source = self._where()
        return path.exists() if is_source else path.is_file()

    def save(self, data: MovieLensFiles) -> None:
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
        release = self._release
        return (
            f"To work offline, copy {release.name}.zip (the official archive, or a re-pack of its files) to "
            f"{self._filepath}, where every later run finds it; or set {self._source_env}=/path/to/{release.name}.zip "
            f"(or to an extracted {release.folder}/ folder) for one command."
        )

    # ------------------------------------------------------------------ loading
    def load(self) -> MovieLensFiles:
        release = self._release
        path, is_source = self._where()
        origin = self._origin(path, is_source)
        if release.custom and not path.exists():
            raise MovieLensArchiveError(
                f"The {release.title} is not at {origin}: put its ratings.csv (and, optionally, movies.csv) in "
                f"the folder data/01_raw/{release.name}/ (or a zip at data/01_raw/{release.name}.zip), or set "
                f"custom_datasets.{release.name}.path in conf/local/globals.yml."
            )
        if is_source and not path.exists():
            raise MovieLensArchiveError(
                f"The {release.title} source {origin} does not exist. Point it at {release.name}.zip or an "
                f"extracted {release.folder}/ folder, or unset it to use {self._filepath} (downloaded when missing)."
            )
        if not is_source and not path.is_file():
            self._download()
        if path.is_dir():
            return self._accept(self._read_folder(path, origin), archive_md5=None, origin=origin)
        files = self._read_zip(path, origin)
        return self._accept(files, archive_md5=_file_md5(path) if not release.custom else None, origin=origin)

    def preview(self) -> TablePreview:
        """The archive's files with their size (and md5 for 100k), for kedro-viz; never downloads."""
        path, is_source = self._where()
        origin = self._origin(path, is_source)
        if not path.exists():
            note = f"{origin} does not exist." if is_source else f"{origin} is not there yet: kedro run downloads it."
            return TablePreview(pd.DataFrame({"note": [note]}).to_dict(orient="split"))
        files = self._read_folder(path, origin) if path.is_dir() else self._read_zip(path, origin)
        if self._release.family == "ml100k":
            rows = [(name, len(content), _md5(content)) for name, content in sorted(files.items())]
            table = pd.DataFrame(rows, columns=["file", "bytes", "md5"])
        else:  # sizes from the zip's directory: no need to read 900 MB for a preview
            rows = [(name, files.sizes.get(name)) for name in sorted(files)]
            table = pd.DataFrame(rows, columns=["file", "bytes"])
        return TablePreview(table.to_dict(orient="split"))

    def _member_name(self, name: PurePosixPath) -> bool:
        release = self._release
        folders = ("", release.folder) if not release.custom else ("", name.parent.name)
        return len(name.parts) <= 2 and name.parent.name in folders and bool(
            _MEMBER_NAME[release.family].match(name.name)
        )

    def _read_zip(self, path: Path, origin: str) -> MovieLensFiles:
        fix = (
            "Delete it and run again to download a fresh copy, or replace it with the official archive (or a re-pack of its files)."
            if path == self._filepath and not self._release.custom
            else "Replace it with the official archive (or a re-pack of its files)."
            if not self._release.custom
            else "Replace it with a readable zip or a folder."
        )
        openers, sizes, eager = {}, {}, self._release.family == "ml100k"
        try:
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    name = PurePosixPath(info.filename)
                    if info.is_dir() or not self._member_name(name) or name.name in openers:
                        continue
                    sizes[name.name] = info.file_size
                    if eager:  # 100k: 16 MB in all, read (and CRC-checked) now
                        content = archive.read(info)
                        openers[name.name] = lambda content=content: io.BytesIO(content)
                    else:
                        openers[name.name] = lambda member=info.filename: _Member(path, member, fix)
        except (*_ZIP_ERRORS, OSError) as exc:
            raise MovieLensArchiveError(
                f"{origin} is not a readable zip archive ({exc}); it is truncated or corrupt. {fix}"
            ) from None
        files = MovieLensFiles(self._release, openers, origin)
        files.sizes = sizes
        return self._require_members(files, origin, fix)

    def _read_folder(self, path: Path, origin: str) -> MovieLensFiles:
        release = self._release
        first = release.files[0]
        if not (path / first).exists() and (path / release.folder).is_dir():
            path = path / release.folder
        pattern = _MEMBER_NAME[release.family]
        children = [child for child in path.iterdir() if pattern.match(child.name) and child.is_file()]
        if release.family == "ml100k":
            openers = {
                child.name: (lambda content=child.read_bytes(): io.BytesIO(content)) for child in children
            }
        else:
            openers = {child.name: (lambda child=child: child.open("rb")) for child in children}
        files = MovieLensFiles(release, openers, origin)
        files.sizes = {child.name: child.stat().st_size for child in children}
        return self._require_members(files, origin, f"Point it at the extracted {release.folder}/ folder.")

    def _require_members(self, files: MovieLensFiles, origin: str, fix: str) -> MovieLensFiles:
        release = self._release
        missing = [name for name in release.files if name not in files]
        if missing:
            raise MovieLensArchiveError(
                f"{origin} has no {', '.join(missing)}: it is not (or not all of) {release.title}, "
                f"which holds {', '.join(release.files)} among others. {fix}"
            )
        return files

    def _official_md5(self) -> str | None:
        """The md5 to check against: the given one, else the one saved beside a verified download."""
        if self._md5:
            return self._md5
        saved = self._filepath.with_name(self._filepath.name + ".md5")
        return _parse_md5(saved.read_text(errors="replace")) if saved.is_file() else None

    def _accept(self, files: MovieLensFiles, archive_md5: str | None, origin: str) -> MovieLensFiles:
        release = self._release
        expected = self._official_md5()
        if archive_md5 is not None and archive_md5 == expected:
            return files
        members = files if release.family == "ml100k" else {}
        differing = [
            f"{name} md5 {_md5(members[name]) if name in members else 'missing'} != {value}"
            for name, value in self._member_md5.items()
            if name not in members or _md5(members[name]) != value
        ]
        if release.family == "ml100k" and self._member_md5 and not differing:
            logger.info("%s is a re-pack whose files match the official %s contents.", origin, release.title)
            return files
        try:
            if release.family == "ml100k":
                parse_movies(files["u.item"], parse_genres(files["u.genre"]))
                parse_ratings(files["u.data"])
            else:
                check_layout(files)
        except MovieLensFormatError as exc:
            raise MovieLensArchiveError(f"{origin} is not a valid {release.title} copy: {exc}") from None
        if release.custom:
            return files
        if expected is None and archive_md5 is not None:
            logger.info(
                "%s: no official md5 is known offline for %s (GroupLens publishes it in %s.md5, checked on "
                "download); its layout is right and conversion checks every line.",
                origin,
                release.title,
                self._url,
            )
            return files
        difference = "; ".join(differing) or (
            f"archive md5 {archive_md5} != {expected}" if archive_md5 else "a folder, with no checksums to compare"
        )
        logger.warning(
            "%s is not the official %s (%s). It passed the format checks and will be used, but "
            "results may differ from published ones: use the official archive for reproducible runs.",
            origin,
            release.title,
            difference,
        )
        return files

    # -------------------------------------------------------------- downloading
    def _download(self) -> None:
        release = self._release
        if release.custom or not self._url:
            raise MovieLensArchiveError(f"There is no {self._filepath} and the {release.title} cannot be downloaded.")
        expected_md5 = self._md5 or self._published_md5()
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
            if digest != expected_md5:
                raise MovieLensArchiveError(
                    f"The archive downloaded from {self._url} failed its checksum: md5 {digest}, expected "
                    f"{expected_md5} ({size:,} bytes). It is corrupt or not the official file. Run again to "
                    f"retry. {self._how_to_fix()}"
                )
            umask = os.umask(0)
            os.umask(umask)
            partial.chmod(0o666 & ~umask)  # temporary files are private; the archive is an ordinary file
            os.replace(partial, target)
            if not self._md5:  # remember what it was verified against, for offline runs
                target.with_name(target.name + ".md5").write_text(f"{digest}  {target.name}\n")
            logger.info("Saved verified %s archive to %s.", release.title, target)
        finally:
            partial.unlink(missing_ok=True)

    def _stream(self, handle) -> tuple[str, int, int | None]:
        logger.info("Downloading %s from %s to %s ...", self._title, self._url, self._filepath)
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
                f"Could not download {self._title} from {self._url}: {reason}. {self._how_to_fix()}"
            ) from None
        return digest.hexdigest(), size, expected

    def _published_md5(self) -> str:
        """The md5 GroupLens publishes beside the archive, in ``<url>.md5``."""
        url = f"{self._url}.md5"
        try:
            with urllib.request.urlopen(url, timeout=self._timeout) as response:  # noqa: S310
                text = response.read(4096).decode("ascii", errors="replace")
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise MovieLensArchiveError(
                f"Could not download the checksum of {self._title} from {url}: {reason}. {self._how_to_fix()}"
            ) from None
        digest = _parse_md5(text)
        if digest is None:
            raise MovieLensArchiveError(
                f"{url} holds no md5 checksum (found {text[:60]!r}), so the archive cannot be verified. "
                f"{self._how_to_fix()}"
            )
        return digest


def _parse_md5(text: str) -> str | None:
    """The md5 in a checksum file: ``<md5>  name`` or ``MD5 (name) = <md5>``."""
    match = re.search(r"\b([0-9a-fA-F]{32})\b", text)
    return match.group(1).lower() if match else None


def check_layout(files: MovieLensFiles) -> None:
    """The first line of each file the readers need has the release's layout (cheap: no full parse)."""
    release = files.release
    for name in release.files:
        with files.open(name) as stream:
            first = b""
            for first in stream:
                if first.strip():
                    break
        try:
            line = first.decode("utf-8-sig").rstrip("\r\n")
        except UnicodeDecodeError:
            line = first.decode("latin-1").rstrip("\r\n")
        if release.family == "dat":
            fields = 4 if name.startswith("ratings") else 3
            if len(line.split("::")) != fields or not line.split("::")[0].strip().isdigit():
                raise MovieLensFormatError(
                    f"{name} line 1 is not in the {release.title} layout: expected {fields} '::'-separated fields, "
                    f"found {line[:80]!r}."
                )
        else:
            columns = release.columns if name.startswith("ratings") else release.movie_columns
            header = [field.strip() for field in next(csv.reader([line], delimiter=release.separator), [])]
            wanted = [column for column in columns.values() if column]
            missing = [column for column in wanted if column not in header]
            if missing:
                raise MovieLensFormatError(
                    f"{name} line 1: the header {line[:80]!r} lacks the column(s) {missing}; expected "
                    f"{release.separator.join(wanted)!r}."
                )
