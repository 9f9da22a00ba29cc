"""The API over every registry model (small synthetic data, small hyper-parameters): never a 500, honest scores."""

from __future__ import annotations

import asyncio
import gc
import weakref

import numpy as np
import pytest
from fastapi.testclient import TestClient

from movie_recommender.api import ServingState, create_app
from movie_recommender.api.state import MAX_N, SCORE_KINDS, BoundedCache
from movie_recommender.recsys import UserKNN
from movie_recommender.recsys.models import MODELS, make_model
from tests.api.conftest import synthetic

SMALL = {
    "bias": {"n_epochs": 3},
    "user_knn": {"neighbours": 5},
    "item_knn": {"neighbours": 5},
    "svd": {"n_factors": 4, "n_epochs": 3},
    "svdpp": {"n_factors": 4, "n_epochs": 3},
    "ials": {"n_factors": 4, "n_epochs": 3},
    "ease": {"l2": 10.0},
    "hybrid": {"collaborative": "ease", "collaborative_params": {"l2": 10.0}},
    "blend": {
        "components": [
            {"model": "bias", "params": {"n_epochs": 3}},
            {"model": "user_knn", "params": {"neighbours": 5}},
        ]
    },
}
RATING_MODELS = {"bias", "user_knn", "item_knn", "svd", "svdpp", "blend"}  # rank by estimated ratings


def test_every_registry_model_is_covered():
    assert set(SMALL) | {"random", "popularity", "content"} == set(MODELS)


@pytest.fixture(scope="module")
def data():
    _, movies, ratings = synthetic()
    return ratings, movies


@pytest.fixture(scope="module", params=sorted(MODELS))
def served(request, data):
    ratings, movies = data
    model = make_model(request.param, SMALL.get(request.param)).fit(ratings, movies)
    state = ServingState(model, movies)
    with TestClient(create_app(state), raise_server_exceptions=False) as client:
        yield request.param, model, client


def test_health_says_what_scores_are(served):
    name, model, client = served
    info = client.get("/health").json()["model"]
    assert info["class"] == type(model).__name__
    assert info["predicts_ratings"] is model.predicts_ratings
    assert info["score_kind"] == ("estimated_rating" if name in RATING_MODELS else "ranking_score")
    assert info["fold_in"] is True


def test_user_recommendations(served):
    name, model, client = served
    for n in (1, 3, 10, 11, MAX_N):
        response = client.get("/users/7/recommendations", params={"n": n})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["strategy"] == "personalized" and body["model"] == type(model).__name__
        assert body["score_kind"] == ("estimated_rating" if name in RATING_MODELS else "ranking_score")
        assert body["score_description"] == SCORE_KINDS[body["score_kind"]]
        expected = model.recommend(7, n)
        assert [r["movieId"] for r in body["recommendations"]] == expected.movieId.tolist()
        assert [r["score"] for r in body["recommendations"]] == pytest.approx(expected.score.tolist(), abs=1e-4)
    if body["score_kind"] == "estimated_rating":
        low, high = model.rating_range_
        assert all(low - 1e-6 <= r["score"] <= high + 1e-6 for r in body["recommendations"])
    assert client.get("/users/9999/recommendations").status_code == 404


def test_similar_movies(served):
    _, _, client = served
    response = client.get("/movies/1/similar", params={"n": 3})
    assert response.status_code == 200 and len(response.json()["similar"]) == 3
    assert client.get("/movies/25/similar").status_code == 404  # in the catalog, not in the model
    assert client.get("/movies/123456/similar").status_code == 404


def test_new_user_fold_in(served):
    name, model, client = served
    ratings = [{"movieId": 1, "rating": 5}, {"movieId": 2, "rating": 1}, {"movieId": 3, "rating": 4}]
    response = client.post("/recommendations", params={"n": 5}, json=ratings)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["strategy"] == "fold-in" and body["used_ratings"] == 3 and "note" not in body
    assert body["score_kind"] == ("estimated_rating" if name in RATING_MODELS else "ranking_score")
    expected = model.recommend_new({1: 5.0, 2: 1.0, 3: 4.0}, 5)
    assert [r["movieId"] for r in body["recommendations"]] == expected.movieId.tolist()
    assert not {1, 2, 3} & {r["movieId"] for r in body["recommendations"]}


@pytest.mark.parametrize(
    "ratings, note",
    [
        ([{"movieId": 999, "rating": 5}], "no rating names a movie known to the model"),
        ([], "no ratings given"),
    ],
)
def test_new_user_popular_fallback(served, ratings, note):
    _, model, client = served
    response = client.post("/recommendations", params={"n": 4}, json=ratings)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["strategy"] == "popular" and body["used_ratings"] == 0 and body["note"] == note
    assert body["score_kind"] == "rating_count"
    assert [r["movieId"] for r in body["recommendations"]] == model.popular(4).movieId.tolist()


# ---------------------------------------------------------------------- models that cannot fold in
class NoFoldIn(UserKNN):
    """A model without fold-in (``_rank_vector`` not implemented)."""

    def _top_new(self, row, n, counts):
        return None  # fold in through _rank_vector

    def _rank_vector(self, row):
        raise NotImplementedError("NoFoldIn cannot fold in a new user.")


class BrokenFoldIn(UserKNN):
    """A model whose fold-in fails on some input."""

    def _top_new(self, row, n, counts):
        return None  # fold in through _rank_vector

    def _rank_vector(self, row):
        if row.nnz > 1:
            raise FloatingPointError("boom")
        return super()._rank_vector(row)


def _client(model, movies):
    return TestClient(create_app(ServingState(model, movies)), raise_server_exceptions=False)


def test_a_model_without_fold_in_serves_popular_movies(data):
    ratings, movies = data
    with _client(NoFoldIn(neighbours=5).fit(ratings, movies), movies) as client:
        assert client.get("/health").json()["model"]["fold_in"] is False
        assert client.get("/users/7/recommendations").status_code == 200
        body = client.post("/recommendations", json=[{"movieId": 1, "rating": 5}]).json()
        assert body["strategy"] == "popular" and body["score_kind"] == "rating_count"
        assert body["used_ratings"] == 1 and "cannot fold in" in body["note"]
        assert 1 not in {r["movieId"] for r in body["recommendations"]}  # rated: not recommended


def test_a_failing_fold_in_falls_back_to_popular(data):
    ratings, movies = data
    with _client(BrokenFoldIn(neighbours=5).fit(ratings, movies), movies) as client:
        assert client.get("/health").json()["model"]["fold_in"] is True
        body = client.post("/recommendations", json=[{"movieId": 1, "rating": 5}, {"movieId": 2, "rating": 3}]).json()
        assert body["strategy"] == "popular" and body["note"] == "fold-in failed (FloatingPointError)"


# ---------------------------------------------------------------------- caches, memory, event loop
def test_bounded_cache_evicts_by_size_and_count():
    cache = BoundedCache(max_items=3, max_size=10, size=len)
    for key in "abc":
        cache.put(key, b"xxx")
    assert len(cache) == 3 and cache.size == 9
    cache.get("a")  # a is now the most recently used
    cache.put("d", b"xxx")  # over 3 items: b goes
    assert cache.get("b") is None and cache.get("a") == b"xxx" and len(cache) == 3
    cache.put("e", b"xxxxxxx")  # 3 + 3 + 7 > 10: the least recently used go
    assert cache.size <= 10 and cache.get("e") == b"xxxxxxx"
    cache.put("huge", b"x" * 11)  # larger than the budget: not cached at all
    assert cache.get("huge") is None and cache.size <= 10


def test_response_cache_stays_within_its_byte_budget(data, monkeypatch):
    ratings, movies = data
    monkeypatch.setattr("movie_recommender.api.state.RESPONSE_CACHE_BYTES", 50_000)
    state = ServingState(UserKNN(neighbours=5).fit(ratings, movies), movies)
    for user in state.user_ids:
        for n in (10, MAX_N):
            assert state.user_response(user, n) == state._user_response(user, n)
    assert 0 < state._responses.size <= 50_000


def test_a_replaced_state_is_freed(data):
    """The caches hold no reference cycle, so a state replaced by --watch is freed even after gc.freeze()."""
    ratings, movies = data
    state = ServingState(UserKNN(neighbours=5).fit(ratings, movies), movies)
    state.user_response(7, 3), state.similar_to(1)
    ref = weakref.ref(state)
    del state
    gc.collect()
    assert ref() is None


def test_similar_movies_are_computed_off_the_event_loop_and_published_lists_on_it(data):
    """Similar movies may be computed on demand (in a thread); a published list's explanations cost
    O(n x explain_neighbours), less than a hop to a thread and back: answered on the event loop."""
    ratings, movies = data
    state = ServingState(UserKNN(neighbours=5).fit(ratings, movies), movies)
    loops = []

    def running_loop():
        try:
            asyncio.get_running_loop()
            loops.append("on the event loop")
        except RuntimeError:
            loops.append("in a thread")

    compute_response, compute_similar = state._user_response, state._similar_to
    state._user_response = lambda *a: (running_loop(), compute_response(*a))[1]
    state._similar_to = lambda *a: (running_loop(), compute_similar(*a))[1]
    with TestClient(create_app(state), raise_server_exceptions=False) as client:
        for _ in range(2):  # the second time: cached, nothing computed
            assert client.get("/users/7/recommendations").status_code == 200
            assert client.get("/movies/1/similar").status_code == 200
    assert loops == ["on the event loop", "in a thread"]


def test_scores_are_finite_json_numbers(served):
    _, _, client = served
    body = client.get("/users/3/recommendations", params={"n": MAX_N}).json()
    assert all(np.isfinite(r["score"]) for r in body["recommendations"])


@pytest.mark.parametrize("name", ["user_knn", "item_knn"])
def test_knn_ranking_by_support_is_a_ranking_score(data, name):
    """predicts_ratings is true, but with ranking='support' the list is ordered by neighbour support."""
    ratings, movies = data
    model = make_model(name, {"neighbours": 5, "ranking": "support"}).fit(ratings, movies)
    with _client(model, movies) as client:
        assert client.get("/health").json()["model"]["score_kind"] == "ranking_score"
        assert client.get("/users/7/recommendations").json()["score_kind"] == "ranking_score"
