"""MovieLensArchiveDataset: find, download and verify the MovieLens 100k archive.

No test touches the internet: downloads come from a server on 127.0.0.1 that each test
starts and stops itself, and every dataset's default ``url`` is a closed local port, so
an unexpected download fails at once instead of leaving the machine.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from kedro.io import DataCatalog, DatasetError

from movie_recommender.datasets import MovieLensArchiveDataset
from movie_recommender.errors import UserError
from movie_recommender.recsys.releases import RELEASES
from tests.conftest import PROJECT_ROOT, make_members, real_archive, write_zip

LOGGER = "movie_recommender.datasets.movielens"
ENV = "MOVIELENS_100K"
# Copied from movie_recommender.recsys.releases (ml-100k); test_catalog_declares_the_official_checksums
# checks that the release registry still says the same.
OFFICIAL_MD5 = "0e33842e24a9c977be4e0107933c0723"
OFFICIAL_MEMBER_MD5 = {
    "u.data": "6e47046882bad158b0efbb84cd5cb987",
    "u.item": "c9e7f390115d79079537301d5204f3f7",
    "u.user": "1b53539edc13caad0282c8500608a319",
}
REAL_ARCHIVE = real_archive()  # read before the autouse fixture below clears $MOVIELENS_100K


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def member_md5(members: dict[str, bytes]) -> dict[str, str]:
    return {name: md5(content) for name, content in members.items()}


def extract(members: dict[str, bytes], folder: Path) -> Path:
    """Write ``members`` as files into ``folder``, as unzipping the archive would."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in members.items():
        (folder / name).write_bytes(content)
    return folder


def left_in(folder: Path) -> list[str]:
    """Everything in ``folder``, hidden files (such as ``.ml-100k.zip.*.part``) included."""
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def closed_url() -> str:
    """A URL on a local port that nothing listens on: connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/ml-100k.zip"


def records(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == level]


# ---------------------------------------------------------------------- fixtures
class LocalServer:
    """An HTTP server on 127.0.0.1 serving canned bodies; it records the paths requested."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[bytes, int]] = {}
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                owner.requests.append(self.path)
                if self.path not in owner.routes:
                    self.send_error(404)
                    return
                body, length = owner.routes[self.path]
                self.send_response(200)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(body)  # HTTP/1.0: the connection closes after this

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05})

    def serve(self, body: bytes, *, claimed_length: int | None = None, path: str = "/ml-100k.zip") -> str:
        """Serve ``body`` at ``path`` (announcing ``claimed_length`` bytes if given); return its URL."""
        self.routes[path] = (body, len(body) if claimed_length is None else claimed_length)
        return self.url(path)

    def url(self, path: str = "/ml-100k.zip") -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{path}"

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def server():
    with LocalServer() as running:
        yield running


@pytest.fixture(autouse=True)
def no_env_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """A $MOVIELENS_100K set in the shell must not replace the test's own source or download."""
    monkeypatch.delenv(ENV, raising=False)


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    """The folder the dataset caches the archive in; it must hold nothing after a failure."""
    return tmp_path / "01_raw"


@pytest.fixture
def cached(raw_dir: Path) -> Path:
    return raw_dir / "ml-100k.zip"


@pytest.fixture
def good(archive_path: Path) -> bytes:
    """The bytes of the synthetic archive (conftest's ``archive_path``)."""
    return archive_path.read_bytes()


@pytest.fixture
def make_dataset(cached: Path):
    def make(**overrides: object) -> MovieLensArchiveDataset:
        kwargs = {"filepath": str(cached), "url": closed_url(), "md5": OFFICIAL_MD5, "timeout": 5.0}
        return MovieLensArchiveDataset(**{**kwargs, **overrides})

    return make


# ------------------------------------------------------------------ downloading
def test_download_saves_the_verified_archive_once(server, make_dataset, good, members, cached, raw_dir, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    url = server.serve(good)
    dataset = make_dataset(url=url, md5=md5(good))
    assert not dataset.exists()

    loaded = dataset.load()

    assert loaded == members
    assert cached.read_bytes() == good
    assert left_in(raw_dir) == ["ml-100k.zip"]
    assert dataset.exists()
    infos = records(caplog, logging.INFO)
    assert f"Downloading MovieLens 100k from {url} to {cached} ..." in infos
    assert any(message.endswith("(100%)") for message in infos)
    assert f"Saved verified MovieLens 100k archive to {cached}." in infos

    assert dataset.load() == members  # the same dataset again ...
    assert make_dataset(url=url, md5=md5(good)).load() == members  # ... and a new one (another run)
    assert server.requests == ["/ml-100k.zip"]


def test_download_logs_progress_as_it_goes(server, make_dataset, members, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    # An incompressible extra member makes the archive span several 64 KiB reads.
    padding = bytes(range(256)) * 2048
    padding = hashlib.shake_256(padding).digest(len(padding))
    body = write_zip({**members, "padding.bin": padding}, tmp_path / "big.zip").read_bytes()

    make_dataset(url=server.serve(body), md5=md5(body)).load()

    progress = [m for m in records(caplog, logging.INFO) if m.endswith("%)")]
    assert len(progress) >= 3, progress
    assert progress[-1].endswith("(100%)")


def serve_corrupt(server: LocalServer, good: bytes) -> str:
    return server.serve(good[:-1] + bytes([good[-1] ^ 0xFF]))  # one byte off: md5 != expected


def serve_truncated(server: LocalServer, good: bytes) -> str:
    return server.serve(good[: len(good) // 2], claimed_length=len(good))  # then the server hangs up


def serve_nothing(server: LocalServer, good: bytes) -> str:
    return server.url("/missing.zip")  # 404


def server_down(server: LocalServer, good: bytes) -> str:
    return closed_url()


@pytest.mark.parametrize(
    ("setup", "what_failed"),
    [
        pytest.param(serve_corrupt, r"failed its checksum: md5 [0-9a-f]{32}, expected [0-9a-f]{32}", id="corrupt"),
        pytest.param(serve_truncated, r"(stopped|cut off) after [\d,]+ (of [\d,]+ )?bytes", id="truncated"),
        pytest.param(serve_nothing, r"Could not download MovieLens 100k from \S+: Not Found", id="http-404"),
        pytest.param(server_down, r"Could not download MovieLens 100k from \S+: .*refused", id="server-down"),
    ],
)
def test_failed_download_says_what_to_do_and_leaves_nothing(
    setup, what_failed, server, make_dataset, good, cached, raw_dir
):
    dataset = make_dataset(url=setup(server, good), md5=md5(good))

    with pytest.raises(DatasetError, match=what_failed) as failure:
        dataset.load()

    message = str(failure.value)
    assert isinstance(failure.value, UserError)  # kedro run prints it as one message, no traceback
    assert f"copy ml-100k.zip (the official archive, or a re-pack of its files) to {cached}" in message
    assert f"set {ENV}=/path/to/ml-100k.zip" in message
    assert left_in(raw_dir) == []  # neither the archive nor a .part file
    assert not dataset.exists()


# ---------------------------------------------------------------- local sources
def test_source_zip_is_read_in_place(make_dataset, archive_path, good, members, raw_dir):
    dataset = make_dataset(source=str(archive_path), md5=md5(good))

    assert dataset.exists()
    assert dataset.load() == members
    assert left_in(raw_dir) == []  # nothing copied, nothing downloaded


@pytest.mark.parametrize("subfolder", ["", "ml-100k"], ids=["folder/u.data", "folder/ml-100k/u.data"])
def test_source_folder_is_read_in_place(subfolder, make_dataset, members, tmp_path, raw_dir, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    extract(members, tmp_path / "extracted" / subfolder)
    dataset = make_dataset(source=str(tmp_path / "extracted"), member_md5=member_md5(members))

    assert dataset.load() == members
    assert left_in(raw_dir) == []
    assert not records(caplog, logging.WARNING)


def test_env_var_overrides_source(monkeypatch, make_dataset, archive_path, members, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    other = write_zip(make_members(seed=1), tmp_path / "other.zip")
    monkeypatch.setenv(ENV, str(archive_path))

    loaded = make_dataset(source=str(other), member_md5=member_md5(members)).load()

    assert loaded == members
    assert any(f"{archive_path} (from {ENV}) is a re-pack" in m for m in records(caplog, logging.INFO))


@pytest.mark.parametrize("via", ["env", "source"])
def test_missing_source_says_so_and_does_not_download(via, monkeypatch, server, make_dataset, tmp_path, raw_dir):
    missing = tmp_path / "nowhere" / "ml-100k.zip"
    if via == "env":
        monkeypatch.setenv(ENV, str(missing))
        dataset = make_dataset(url=server.url())
    else:
        dataset = make_dataset(url=server.url(), source=str(missing))

    with pytest.raises(DatasetError, match="does not exist") as failure:
        dataset.load()

    message = str(failure.value)
    assert str(missing) in message
    assert (f"(from {ENV})" in message) == (via == "env")
    assert "Point it at ml-100k.zip or an extracted ml-100k/ folder, or unset it" in message
    assert server.requests == []
    assert left_in(raw_dir) == []
    assert not dataset.exists()


# ------------------------------------------------------------- acceptance rules
def test_archive_md5_match_is_accepted_silently(make_dataset, archive_path, good, members, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)

    assert make_dataset(source=str(archive_path), md5=md5(good)).load() == members
    assert [r for r in caplog.records if r.name == LOGGER] == []


def test_repack_of_official_members_is_accepted_with_info(make_dataset, archive_path, members, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    dataset = make_dataset(source=str(archive_path), member_md5=member_md5(members))  # archive md5 differs

    assert dataset.load() == members
    assert records(caplog, logging.INFO) == [
        f"{archive_path} is a re-pack whose files match the official MovieLens 100k contents."
    ]
    assert not records(caplog, logging.WARNING)


@pytest.mark.parametrize(
    ("expected_md5", "difference"),
    [
        pytest.param(member_md5(make_members()), r"u\.data md5 [0-9a-f]{32} != [0-9a-f]{32}", id="member_md5"),
        pytest.param({}, rf"archive md5 [0-9a-f]{{32}} != {OFFICIAL_MD5}", id="archive-md5-only"),
    ],
)
def test_other_but_well_formed_copy_is_accepted_with_warning(expected_md5, difference, make_dataset, tmp_path, caplog):
    other = make_members(seed=1)
    path = write_zip(other, tmp_path / "other.zip")

    assert make_dataset(source=str(path), member_md5=expected_md5).load() == other

    [warning] = records(caplog, logging.WARNING)
    assert warning.startswith(f"{path} is not the official MovieLens 100k (")
    assert re.search(difference, warning)
    assert "use the official archive for reproducible runs" in warning


@pytest.mark.parametrize(
    ("member", "bad_line", "what_failed"),
    [
        ("u.data", "7\t3\tfive\t881250949", "is malformed: expected 4 tab-separated whole numbers"),
        ("u.data", "7\t3\t9\t881250949", "rating 9 is outside 1-5"),
        ("u.item", "99|Broken (1999)|01-Jan-1999", "is malformed: expected 13 '|'-separated fields"),
    ],
)
def test_malformed_copy_is_rejected_naming_file_and_line(
    member, bad_line, what_failed, make_dataset, members, tmp_path, raw_dir
):
    members[member] += f"{bad_line}\n".encode()
    lineno = members[member].count(b"\n")
    path = write_zip(members, tmp_path / "bad.zip")

    with pytest.raises(DatasetError) as failure:
        make_dataset(source=str(path)).load()

    message = str(failure.value)
    assert message.startswith(f"{path} is not a valid MovieLens 100k copy: {member} line {lineno}")
    assert what_failed in message
    assert left_in(raw_dir) == []


@pytest.mark.parametrize("layout", ["zip", "folder"])
def test_copy_without_u_item_is_rejected(layout, make_dataset, members, tmp_path, raw_dir):
    del members["u.item"]
    if layout == "zip":
        source = write_zip(members, tmp_path / "incomplete.zip")
    else:
        source = extract(members, tmp_path / "incomplete")

    with pytest.raises(DatasetError, match=f"{source} has no u.item: it is not .*MovieLens 100k") as failure:
        make_dataset(source=str(source)).load()

    assert ("Replace it with the official archive (or a re-pack of its files)." if layout == "zip" else "Point it at the extracted") in str(
        failure.value
    )
    assert left_in(raw_dir) == []


def damage_deflate_stream(good: bytes) -> bytes:
    """The archive with the compressed data of its first member made undecodable (but its directory intact)."""
    with zipfile.ZipFile(io.BytesIO(good)) as archive:
        first = archive.infolist()[0]
    local_header = 30 + len(first.filename.encode()) + len(first.extra)
    damaged = bytearray(good)
    damaged[first.header_offset + local_header] = 0xFF  # deflate block type 3: reserved, invalid
    return bytes(damaged)


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda good: b"<html>Service unavailable</html>" * 50, id="garbage"),
        pytest.param(lambda good: good[: len(good) // 2], id="truncated"),
        pytest.param(damage_deflate_stream, id="damaged-compressed-data"),
    ],
)
def test_unreadable_cached_archive_says_delete_it(spoil, server, make_dataset, good, members, cached, raw_dir):
    raw_dir.mkdir()
    cached.write_bytes(spoil(good))
    dataset = make_dataset(url=server.serve(good), md5=md5(good))

    with pytest.raises(DatasetError) as failure:
        dataset.load()

    message = str(failure.value)
    assert message.startswith(f"{cached} is not a readable zip archive"), message
    assert "Delete it and run again to download a fresh copy" in message
    assert left_in(raw_dir) == ["ml-100k.zip"]  # the user's file, untouched; nothing added
    assert server.requests == []

    cached.unlink()  # follow the advice
    assert dataset.load() == members
    assert cached.read_bytes() == good


def test_downloaded_archive_is_an_ordinary_file(server, make_dataset, good, cached):
    make_dataset(url=server.serve(good), md5=md5(good)).load()
    umask = os.umask(0)
    os.umask(umask)
    assert cached.stat().st_mode & 0o777 == 0o666 & ~umask


def test_only_movielens_files_are_read_from_a_folder(make_dataset, members, tmp_path):
    folder = extract({**members, "README": b"readme", "notes.txt": b"x", "u1.base": b"1\t1\t5\t1\n"}, tmp_path / "f")
    loaded = make_dataset(source=str(folder)).load()
    assert set(loaded) == {*members, "u1.base"}


# ---------------------------------------------------------------------- preview
def test_preview_lists_the_files_of_a_local_copy(make_dataset, members, archive_path, tmp_path):
    for source in (archive_path, extract(members, tmp_path / "extracted")):
        preview = make_dataset(source=str(source)).preview()
        assert preview["columns"] == ["file", "bytes", "md5"]
        assert preview["data"] == [[name, len(content), md5(content)] for name, content in sorted(members.items())]


def test_preview_never_downloads(server, make_dataset, good, raw_dir, tmp_path):
    preview = make_dataset(url=server.serve(good), md5=md5(good)).preview()
    assert "not there yet: kedro run downloads it" in preview["data"][0][0]
    missing = make_dataset(url=server.url(), source=str(tmp_path / "nowhere.zip")).preview()
    assert missing["data"][0][0].endswith("nowhere.zip does not exist.")
    assert server.requests == [] and left_in(raw_dir) == []


# ------------------------------------------------------------- save and exists
def test_save_is_refused(make_dataset, members, raw_dir):
    with pytest.raises(DatasetError, match="MovieLensArchiveDataset is read-only"):
        make_dataset().save(members)
    assert left_in(raw_dir) == []


@pytest.mark.parametrize(
    ("cache", "source", "expected"),
    [
        pytest.param(False, None, False, id="nothing-yet"),
        pytest.param(True, None, True, id="cached"),
        pytest.param(False, "zip", True, id="source-zip"),
        pytest.param(False, "folder", True, id="source-folder"),
        pytest.param(True, "missing", False, id="missing-source-wins-over-cache"),
    ],
)
def test_exists_follows_where_load_would_read(
    cache, source, expected, make_dataset, archive_path, good, cached, tmp_path
):
    if cache:
        cached.parent.mkdir()
        cached.write_bytes(good)
    sources = {None: None, "zip": archive_path, "folder": tmp_path, "missing": tmp_path / "missing.zip"}

    dataset = make_dataset(source=sources[source] and str(sources[source]))

    assert dataset.exists() is expected


def test_exists_expands_home_like_load(monkeypatch, make_dataset, archive_path, good, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    dataset = make_dataset(source=f"~/{archive_path.name}", md5=md5(good))

    assert dataset.load()  # loads fine ...
    assert dataset.exists()  # ... so it exists


# ---------------------------------------------------------------------- catalog
def catalog_entry() -> dict:
    entry = yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "catalog.yml").read_text())["movielens_archive"]
    assert entry["dataset"] == "${_dataset}" and "custom_datasets" in entry
    return {**entry, "dataset": "ml-100k", "custom_datasets": {}}  # as the config loader resolves them by default


def test_catalog_declares_the_official_checksums():
    entry = catalog_entry()
    release = RELEASES["ml-100k"]

    assert entry["type"] == "movie_recommender.datasets.MovieLensArchiveDataset"
    assert release.md5 == OFFICIAL_MD5
    assert release.member_md5.items() >= OFFICIAL_MEMBER_MD5.items()
    assert release.source_env == ENV
    dataset = MovieLensArchiveDataset(dataset="ml-100k")
    assert dataset._describe()["md5"] == OFFICIAL_MD5
    assert dataset._describe()["url"] == "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
    assert dataset._describe()["filepath"] == "data/01_raw/ml-100k.zip"


def test_catalog_entry_loads_through_kedro(server, good, members, cached):
    # The real entry (type, member_md5, source_env, metadata), pointed at local files and the local server.
    entry = {**catalog_entry(), "filepath": str(cached), "url": server.serve(good), "md5": md5(good), "timeout": 5}
    catalog = DataCatalog.from_config({"movielens_archive": entry})

    assert not catalog.exists("movielens_archive")
    assert catalog.load("movielens_archive") == members
    assert catalog["movielens_archive"].load() == members
    assert catalog.exists("movielens_archive")
    assert server.requests == ["/ml-100k.zip"]


@pytest.mark.skipif(
    REAL_ARCHIVE is None,
    reason=f"real MovieLens 100k archive not found: set {ENV} or put it at ../shared/datasets/ml-100k.zip",
)
def test_real_archive_is_accepted_via_member_checksums(make_dataset, raw_dir, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    if REAL_ARCHIVE.is_file() and md5(REAL_ARCHIVE.read_bytes()) == OFFICIAL_MD5:
        pytest.skip(f"{REAL_ARCHIVE} is the official archive itself, not a re-pack")

    loaded = make_dataset(source=str(REAL_ARCHIVE), md5=OFFICIAL_MD5, member_md5=OFFICIAL_MEMBER_MD5).load()

    assert loaded["u.data"].count(b"\n") == 100_000
    assert {"u.data", "u.item", "u.genre", "u.user"} <= set(loaded)
    assert records(caplog, logging.INFO) == [
        f"{REAL_ARCHIVE} is a re-pack whose files match the official MovieLens 100k contents."
    ]
    assert not records(caplog, logging.WARNING)
    assert left_in(raw_dir) == []
