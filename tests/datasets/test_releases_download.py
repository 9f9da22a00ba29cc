"""Downloading a release other than 100k, against a local HTTP server: verified by its md5 or its .zip.md5 file."""

from __future__ import annotations

import hashlib
import logging

import pytest
from kedro.io import DatasetError

from benchmarks.synthetic import synthetic_archive
from movie_recommender.datasets import MovieLensArchiveDataset
from tests.datasets.test_movielens import LOGGER, LocalServer, left_in, records


@pytest.fixture
def server():
    with LocalServer() as running:
        yield running


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> bytes:
    """A small synthetic ml-32m.zip in the release's layout."""
    return synthetic_archive("ml-32m", tmp_path_factory.mktemp("a") / "ml-32m.zip", scale=0.0005).read_bytes()


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def dataset(raw_dir, server, release="ml-32m") -> MovieLensArchiveDataset:
    return MovieLensArchiveDataset(
        dataset=release, filepath=str(raw_dir / f"{release}.zip"), url=server.url(f"/{release}.zip"), timeout=5
    )


def test_download_is_verified_against_the_published_md5_file(server, archive, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    raw_dir = tmp_path / "01_raw"
    server.serve(archive, path="/ml-32m.zip")
    server.serve(f"MD5 (ml-32m.zip) = {md5(archive)}\n".encode(), path="/ml-32m.zip.md5")

    files = dataset(raw_dir, server).load()

    assert server.requests == ["/ml-32m.zip.md5", "/ml-32m.zip"]
    assert {"ratings.csv", "movies.csv", "links.csv", "tags.csv"} <= set(files) and files.release.name == "ml-32m"
    assert (raw_dir / "ml-32m.zip").read_bytes() == archive
    assert md5(archive) in (raw_dir / "ml-32m.zip.md5").read_text()  # kept for offline runs
    assert any("Downloading MovieLens 32M" in message for message in records(caplog, logging.INFO))
    assert any("(100%)" in message for message in records(caplog, logging.INFO))  # progress

    caplog.clear()
    assert set(dataset(raw_dir, server).load()) == set(files)  # cached: read again, verified, no request
    assert server.requests == ["/ml-32m.zip.md5", "/ml-32m.zip"]
    assert not records(caplog, logging.WARNING)


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        pytest.param(lambda body: body[:-100] + b"x" * 100, "failed its checksum: md5", id="corrupt"),
        pytest.param(lambda body: body[: len(body) // 2], "stopped after", id="truncated"),
    ],
)
def test_a_corrupt_download_leaves_nothing(spoil, message, server, archive, tmp_path):
    raw_dir = tmp_path / "01_raw"
    body = spoil(archive)
    server.serve(body, path="/ml-32m.zip", claimed_length=len(archive))
    server.serve(f"{md5(archive)}  ml-32m.zip\n".encode(), path="/ml-32m.zip.md5")

    with pytest.raises(DatasetError, match=message) as failure:
        dataset(raw_dir, server).load()

    assert "MOVIELENS_32M=/path/to/ml-32m.zip" in str(failure.value)
    assert left_in(raw_dir) == []


def test_md5_mismatch_with_the_official_checksum(server, archive, tmp_path):
    """ML-1M's md5 is published: a file that is not the official archive is refused, and not kept."""
    raw_dir = tmp_path / "01_raw"
    server.serve(archive, path="/ml-1m.zip")

    with pytest.raises(DatasetError, match=r"failed its checksum: md5 [0-9a-f]{32}, expected c4d9eecfca2ab87c1945afe126590906"):
        dataset(raw_dir, server, "ml-1m").load()

    assert server.requests == ["/ml-1m.zip"]  # no .md5 file needed
    assert left_in(raw_dir) == []


def test_missing_md5_file_stops_before_downloading(server, archive, tmp_path):
    raw_dir = tmp_path / "01_raw"
    server.serve(archive, path="/ml-32m.zip")

    with pytest.raises(DatasetError, match=r"Could not download the checksum of MovieLens 32M from .*ml-32m.zip.md5"):
        dataset(raw_dir, server).load()

    assert server.requests == ["/ml-32m.zip.md5"] and left_in(raw_dir) == []
