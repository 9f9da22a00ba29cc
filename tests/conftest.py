"""Shared fixtures: small synthetic MovieLens 100k data in the real file formats."""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

# Property tests draw the same examples on every run, so CI passes or fails on the code, not on the draw;
# `pytest --hypothesis-profile explore` draws new ones, 20x as many, to look for counterexamples.
settings.register_profile("suite", derandomize=True, print_blob=True)
settings.register_profile("explore", max_examples=1000, print_blob=True)
settings.load_profile("suite")

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# Nothing may phone home from tests, and tests log to the console only (not the project's info.log).
os.environ["KEDRO_DISABLE_TELEMETRY"] = "1"
os.environ["DO_NOT_TRACK"] = "1"
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"  # MLflow reads DO_NOT_TRACK only when it is "true"
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="prefect-home-")  # Prefect's profiles, not ~/.prefect
os.environ.pop("PREFECT_API_URL", None)  # flows run against prefect_test_harness, never a real server
# Kedro runs are not tracked in MLflow unless a test turns it on (tests/test_tracking.py), and never
# into a store outside the test's directory.
os.environ["MOVIE_RECOMMENDER_MLFLOW"] = "off"
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.setdefault("KEDRO_LOGGING_CONFIG", str(PROJECT_ROOT / "tests" / "logging.yml"))
LAYERS = ["01_raw", "02_intermediate", "03_primary", "06_models", "07_model_output", "08_reporting"]
GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Drama", "Sci-Fi"]


def copy_project(root: Path) -> Path:
    """A runnable copy of the project at ``root``: conf/ (no local settings), src/, pyproject.toml, empty layers."""
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root)
    copy_source(root)
    for layer in LAYERS:
        (root / "data" / layer).mkdir(parents=True)
    return root


def real_archive() -> Path | None:
    """The real MovieLens 100k archive, from $MOVIELENS_100K or ../shared/datasets, if present."""
    candidates = [os.environ.get("MOVIELENS_100K"), PROJECT_ROOT.parent / "shared" / "datasets" / "ml-100k.zip"]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return Path(candidate)
    return None


def make_members(n_users: int = 30, n_movies: int = 25, density: float = 0.5, seed: int = 0) -> dict[str, bytes]:
    """MovieLens 100k member files (u.data, u.item, u.genre, u.user) with random ratings."""
    rng = np.random.default_rng(seed)
    data_lines = []
    for user in range(1, n_users + 1):
        rated = np.flatnonzero(rng.random(n_movies) < density) + 1
        for movie in rated:
            data_lines.append(f"{user}\t{movie}\t{rng.integers(1, 6)}\t{880000000 + rng.integers(0, 10**7)}")
    item_lines = []
    for movie in range(1, n_movies + 1):
        flags = (rng.random(len(GENRES)) < 0.3).astype(int)
        title = f"Movie {movie} ({1950 + movie % 50})"
        if movie == 2:
            title = "Misérables, Les (1995)"  # latin-1 on disk
        if movie == 3:
            item_lines.append("3|unknown||||1" + "|0" * (len(GENRES) - 1))
            continue
        item_lines.append(f"{movie}|{title}|01-Jan-{1950 + movie % 50}||http://x|" + "|".join(map(str, flags)))
    genre_lines = [f"{name}|{i}" for i, name in enumerate(GENRES)]
    user_lines = [f"{user}|30|M|other|00000" for user in range(1, n_users + 1)]
    return {
        "u.data": ("\n".join(data_lines) + "\n").encode("latin-1"),
        "u.item": ("\n".join(item_lines) + "\n").encode("latin-1"),
        "u.genre": ("\n".join(genre_lines) + "\n\n").encode("latin-1"),
        "u.user": ("\n".join(user_lines) + "\n").encode("latin-1"),
    }


def write_zip(members: dict[str, bytes], path: Path) -> Path:
    """Write members into ``path`` as the official archive lays them out (``ml-100k/<name>``)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(f"ml-100k/{name}", content)
    return path


def copy_source(root: Path) -> None:
    """Copy src/ into a test project with the compiled kernels' cache (numba's files in __pycache__, whose
    index checks the sources' times and sizes, which the copy keeps): the project's `kedro run` loads the
    kernels instead of compiling them again, about a minute of CPU each time."""
    shutil.copytree(PROJECT_ROOT / "src", root / "src", ignore=shutil.ignore_patterns("*.pyc"))


@pytest.fixture(scope="session", autouse=True)
def compiled_kernels() -> None:
    """Compile (or load from the cache) every numba kernel once, in this process, before a test copies src/."""
    from movie_recommender.recsys import ItemKNN, UserKNN
    from movie_recommender.recsys.synthetic import synthetic_ratings

    ratings = synthetic_ratings(60, 30, 900, seed=0, min_per_user=5)
    for model in (UserKNN(), UserKNN(search="svd", pool=3, search_dims=4), ItemKNN()):
        model.fit(ratings)
        model.recommend_all(3, progress=False)
        model.predict(ratings.userId.to_numpy()[:5], ratings.movieId.to_numpy()[:5])
        model.recommend_new({int(ratings.movieId.iloc[0]): 4.0}, 3)


@pytest.fixture
def members() -> dict[str, bytes]:
    return make_members()


@pytest.fixture
def archive_path(tmp_path: Path, members: dict[str, bytes]) -> Path:
    return write_zip(members, tmp_path / "ml-100k.zip")


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    """A runnable copy of the project in tmp_path (conf/, src/, pyproject.toml), made the working directory."""
    root = tmp_path / "project"
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("credentials*", "*.yml.local"))
    for leftover in (root / "conf" / "local").glob("*.yml"):
        leftover.unlink()  # a developer's local overrides must not leak into the test
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root)
    copy_source(root)
    for layer in LAYERS:
        (root / "data" / layer).mkdir(parents=True)
    monkeypatch.chdir(root)
    monkeypatch.delenv("MOVIELENS_100K", raising=False)
    return root
