"""A small synthetic fitted model and movies table, and the API over them."""

from __future__ import annotations

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from movie_recommender.api import ServingState, create_app
from movie_recommender.pipelines.data_processing.nodes import convert_ml100k
from movie_recommender.recsys import UserKNN
from tests.conftest import make_members


def synthetic():
    ratings, movies = convert_ml100k(make_members(n_users=30, n_movies=25, density=0.5, seed=3))
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
