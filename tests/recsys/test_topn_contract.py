"""The contract every top-N model of the zoo keeps (random, popularity, ease, content, hybrid)."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from movie_recommender.recsys import NoUsableRatingsError, UnknownUserError
from movie_recommender.recsys.models import MODELS, make_model

from .topn_data import random_movies, random_ratings

SPECS = {
    "random": ("random", {"seed": 3}),
    "popularity": ("popularity", {}),
    "ease": ("ease", {"l2": 5.0}),
    "ease_rating": ("ease", {"l2": 50.0, "weighting": "rating"}),
    "ials": ("ials", {"factors": 4, "iterations": 3, "reg": 0.5}),
    "ials_rating": ("ials", {"factors": 3, "iterations": 2, "confidence": "rating", "alpha": 1.0}),
    "content": ("content", {}),
    "content_user": ("content", {"centering": "user", "year_weight": 1.0}),
    "hybrid_ease": ("hybrid", {"collaborative": "ease", "collaborative_params": {"l2": 5.0}}),
    "hybrid_knn_rank": ("hybrid", {"content_weight": 0.5, "normalise": "rank"}),
}
RATINGS, MOVIES = random_ratings(), random_movies()


def fitted(spec: str, ratings=RATINGS):
    name, params = SPECS[spec]
    return make_model(name, params).fit(ratings, MOVIES)


def test_registry_names():
    assert {"random", "popularity", "ease", "content", "hybrid"} <= set(MODELS)
    for name in ("random", "popularity", "ease", "content", "hybrid"):
        assert MODELS[name].predicts_ratings is False
        assert MODELS[name].__doc__ and "unseen" in MODELS[name].__doc__


@pytest.mark.parametrize("spec", SPECS)
def test_recommend_excludes_training_items_and_matches_recommend_all(spec):
    model = fitted(spec)
    assert model.fit(RATINGS, MOVIES) is model
    recs = model.recommend_all(5)
    assert list(recs.columns) == ["userId", "rank", "movieId", "score"]
    rated = set(zip(RATINGS.userId, RATINGS.movieId))
    assert not any((u, i) in rated for u, i in zip(recs.userId, recs.movieId))
    assert recs.groupby("userId").size().eq(5).all() and recs.userId.nunique() == RATINGS.userId.nunique()
    for user in (7, 10, 64):
        one = model.recommend(user, 5)
        pd.testing.assert_frame_equal(
            one, recs[recs.userId == user].drop(columns="userId").reset_index(drop=True), check_dtype=False
        )
        assert one.score.is_monotonic_decreasing
        assert np.allclose(model.predict(np.full(5, user), one.movieId.to_numpy()), one.score)


@pytest.mark.parametrize("spec", SPECS)
def test_deterministic_and_independent_of_blocks(spec):
    a = fitted(spec).recommend_all(6)
    b = fitted(spec)
    b.batch_size = 3
    if getattr(b, "collaborative_", None) is not None:
        b.collaborative_.batch_size = 3
    pd.testing.assert_frame_equal(a, b.recommend_all(6))
    pickled = pickle.loads(pickle.dumps(b))
    pd.testing.assert_frame_equal(a, pickled.recommend_all(6))


@pytest.mark.parametrize("spec", SPECS)
def test_unseen_user_and_item_fallbacks(spec):
    model = fitted(spec)
    with pytest.raises(UnknownUserError, match="999"):
        model.recommend(999)
    est = model.predict(np.array([999, 7, 7]), np.array([2, 1000, 2]))
    assert np.isfinite(est).all()
    assert est[1] == 0.0  # unseen item
    if spec != "popularity":  # popularity scores an item the same whoever the user
        assert est[0] == 0.0
    else:
        assert est[0] == (RATINGS.movieId == 2).sum()


@pytest.mark.parametrize("spec", SPECS)
def test_fold_in(spec):
    model = fitted(spec)
    user = 10
    history = RATINGS[RATINGS.userId == user].set_index("movieId").rating
    new = model.recommend_new(history, 5)
    assert list(new.columns) == ["rank", "movieId", "score"] and len(new) == 5
    assert not set(new.movieId) & set(history.index)
    if spec != "random":  # a new user's random stream is seeded by what they rated, not an id
        pd.testing.assert_frame_equal(new, model.recommend(user, 5), check_dtype=False)
    assert len(model.recommend_new({**history.to_dict(), 123456: 5.0}, 5)) == 5  # unknown item dropped
    with pytest.raises(NoUsableRatingsError):
        model.recommend_new({123456: 4.0})


@pytest.mark.parametrize("spec", SPECS)
def test_fewer_candidates_than_n(spec):
    model = fitted(spec)
    n_items = RATINGS.movieId.nunique()
    recs = model.recommend(7, 1000)
    assert len(recs) == n_items - (RATINGS.userId == 7).sum()


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("random", {"seed": -1}, "seed"),
        ("random", {"seed": 1.5}, "seed"),
        ("ease", {"l2": 0}, "l2"),
        ("ease", {"l2": float("nan")}, "l2"),
        ("ease", {"l2": "big"}, "l2"),
        ("ease", {"weighting": "tfidf"}, "weighting"),
        ("ials", {"factors": 0}, "factors"),
        ("ials", {"iterations": 2.0}, "iterations"),
        ("ials", {"reg": 0}, "reg"),
        ("ials", {"alpha": -1}, "alpha"),
        ("ials", {"confidence": "log"}, "confidence"),
        ("ials", {"seed": -3}, "seed"),
        ("content", {"year_weight": -1}, "year_weight"),
        ("content", {"centering": "item"}, "centering"),
        ("hybrid", {"content_weight": 1.5}, "content_weight"),
        ("hybrid", {"collaborative": "hybrid"}, "collaborative"),
        ("hybrid", {"collaborative": "nope"}, "collaborative"),
        ("hybrid", {"collaborative_params": {"neighbours": 0}}, "neighbours"),
        ("hybrid", {"collaborative_params": {"bogus": 1}}, "collaborative_params"),
        ("hybrid", {"content_params": {"centering": "x"}}, "centering"),
        ("hybrid", {"content_params": [1]}, "content_params"),
        ("hybrid", {"normalise": "minmax"}, "normalise"),
    ],
)
def test_bad_hyper_parameters(name, params, message):
    with pytest.raises(ValueError, match=message):
        make_model(name, params)
    with pytest.raises(ValueError, match=message):  # also when built directly and fitted
        MODELS[name](**params).fit(RATINGS, MOVIES)


@pytest.mark.parametrize("spec", SPECS)
def test_not_fitted(spec):
    name, params = SPECS[spec]
    with pytest.raises(RuntimeError, match="not fitted"):
        make_model(name, params).recommend(7)
