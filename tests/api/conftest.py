"""A small synthetic fitted model and movies table, and the API over them."""

from __future__ import annotations

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from movie_recommender.api import ServingState, create_app
from movie_recommender.datasets.manifest import Manifest, file_fingerprint
from movie_recommender.pipelines.data_processing.nodes import convert
from movie_recommender.recsys import UserKNN
from tests.conftest import make_members


def synthetic():
    ratings, movies = convert(make_members(n_users=30, n_movies=25, density=0.5, seed=3))
    ratings = ratings[ratings.movieId != 25]  # movie 25 is in the movies table but not in the model
    extra = pd.DataFrame({"movieId": [99], "title": ["Toy Soldiers"], "year": [pd.NA], "genres": [""]})
    movies = pd.concat([movies, extra.astype({"year": "Int64"})], ignore_index=True)
    return UserKNN(neighbours=10).fit(ratings), movies, ratings


@pytest.fixture(scope="session")
def fitted():
    return synthetic()


@pytest.fixture(scope="session")
def state(fitted):
    model, movies, _ = fitted
    return ServingState(model, movies, model_info={"file": "synthetic", "trained_at": "2026-01-01T00:00:00+00:00"})


@pytest.fixture(scope="session")
def client(state):
    with TestClient(create_app(state), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def project_copy(tmp_path, monkeypatch):
    """A copy of the project (conf, src, pyproject.toml) as the working directory, without artifacts."""
    import shutil

    from tests.conftest import PROJECT_ROOT, copy_source

    root = tmp_path / "project"
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root)
    copy_source(root)
    monkeypatch.chdir(root)
    return root


def record_run(root, dataset="ml-100k"):
    """Write data/06_models/<dataset>/run_manifest.json as a finished `kedro run` would, listing the files."""
    import json

    files = {
        "recommender": f"data/06_models/{dataset}/recommender.pkl",
        "movies": f"data/02_intermediate/{dataset}/movies.csv",
        "movie_rating_counts": f"data/03_primary/{dataset}/movie_rating_counts.csv",
        "all_recommendations": f"data/07_model_output/{dataset}/all_recommendations.csv",
    }
    outputs = {
        name: {"kind": "file", "path": path, **file_fingerprint(root / path)}
        for name, path in files.items()
        if (root / path).is_file()
    }
    run = {"finished_at": "2026-01-02T03:04:05+00:00", "parameters": {}, "inputs": {}}
    manifest = Manifest(None).record_run("run-1", run, outputs)
    (root / f"data/06_models/{dataset}/run_manifest.json").write_text(json.dumps(manifest.content))


def publish(root, model, dataset="ml-100k", top_n=10):
    """The modeling pipeline's all_recommendations.csv (every user's top_n) of ``model``, as `kedro run` writes it."""
    folder = root / f"data/07_model_output/{dataset}"
    folder.mkdir(parents=True, exist_ok=True)
    table = model.recommend_all(top_n) if hasattr(model, "recommend_all") else pd.DataFrame(columns=["userId", "rank", "movieId", "score"])
    table.to_csv(folder / "all_recommendations.csv", index=False, float_format="%.4f")


def place_artifacts(root, model, movies, dataset="ml-100k"):
    """The model (pickled), movies, rating counts and published lists of a `kedro run`, in its run manifest."""
    import pickle

    for folder in ("06_models", "02_intermediate", "03_primary"):
        (root / "data" / folder / dataset).mkdir(parents=True, exist_ok=True)
    (root / f"data/06_models/{dataset}/recommender.pkl").write_bytes(pickle.dumps(model))
    movies.to_csv(root / f"data/02_intermediate/{dataset}/movies.csv", index=False)
    counts = pd.DataFrame({"movieId": [1], "ratings": [10]})
    counts.to_csv(root / f"data/03_primary/{dataset}/movie_rating_counts.csv", index=False)
    publish(root, model, dataset)
    record_run(root, dataset)
