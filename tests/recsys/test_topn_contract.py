"""The contract every model of the registry keeps (``recsys.models.MODELS``), on small synthetic data."""

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
    "bias": ("bias", {}),
    "user_knn": ("user_knn", {"neighbours": 5}),
    "user_knn_support": (
        "user_knn",
        {"neighbours": 5, "similarity": "pearson_baseline", "centering": "baseline", "ranking": "support"},
    ),
    "item_knn": ("item_knn", {"neighbours": 5}),
    "item_knn_model": (
        "item_knn",
        {"centering": "model", "centre_model": {"model": "bias"}, "similarity": "cosine", "damping": 1.0},
    ),
    "item_knn_knn_centre": (  # a centre model that cannot score every item (UserKNN)
        "item_knn",
        {
            "centering": "model",
            "centre_model": {"model": "user_knn", "params": {"neighbours": 3}},
            "similarity": "cosine",
        },
    ),
    "svd": ("svd", {"n_factors": 3, "n_epochs": 3}),
    "svd_sgd": ("svd", {"n_factors": 3, "n_epochs": 2, "solver": "sgd", "reg": 0.02}),
    "svdpp": ("svdpp", {"n_factors": 3, "n_epochs": 3}),
    "blend": (
        "blend",
        {
            "components": [
                {"model": "bias"},
                {"model": "svd", "params": {"n_factors": 2, "n_epochs": 2}},
                {"model": "user_knn", "params": {"neighbours": 5}},
            ],
            "holdout": 0.3,
        },
    ),
    "popularity": ("popularity", {}),
    "ease": ("ease", {"l2": 5.0}),
    "ease_rating": ("ease", {"l2": 50.0, "weighting": "rating"}),
    "ials": ("ials", {"n_factors": 4, "n_epochs": 3, "reg": 0.5}),
    "ials_rating": ("ials", {"n_factors": 3, "n_epochs": 2, "confidence": "rating", "alpha": 1.0}),
    "content": ("content", {}),
    "content_user": ("content", {"centering": "user", "year_weight": 1.0}),
    "hybrid_ease": ("hybrid", {"collaborative": "ease", "collaborative_params": {"l2": 5.0}}),
    "hybrid_knn_rank": ("hybrid", {"content_weight": 0.5, "normalise": "rank"}),
}
RATINGS, MOVIES = random_ratings(), random_movies()


def fitted(spec: str, ratings=RATINGS):
    name, params = SPECS[spec]
    return make_model(name, params).fit(ratings, MOVIES)


RANKING_ONLY = {spec for spec, (name, _) in SPECS.items() if not MODELS[name].predicts_ratings}
#: Ranks by a score other than ``predict`` (UserKNN ``ranking="support"``).
SCORE_IS_NOT_PREDICT = {"user_knn_support"}
#: Rank only the items some neighbour supports, so a user may get fewer than n (or no) items.
PARTIAL = {"user_knn", "user_knn_support", "item_knn"}
#: Folding in a training user's own ratings reproduces their recommendations.
FOLD_IN_REPRODUCES = RANKING_ONLY - {"random"} | {"bias", "item_knn", "item_knn_model"}


def test_every_registry_model_is_covered():
    assert {name for name, _ in SPECS.values()} == set(MODELS)
    for cls in MODELS.values():
        assert cls.__doc__ and "unseen" in cls.__doc__


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
    sizes = recs.groupby("userId").size()
    assert sizes.le(5).all() and recs.userId.nunique() == RATINGS.userId.nunique()
    if spec not in PARTIAL:
        assert sizes.eq(5).all()
    for user in RATINGS.userId.unique():
        one = model.recommend(user, 5)
        pd.testing.assert_frame_equal(
            one, recs[recs.userId == user].drop(columns="userId").reset_index(drop=True), check_dtype=False
        )
        assert one.score.is_monotonic_decreasing and np.isfinite(one.score).all()
        assert one["rank"].tolist() == list(range(1, len(one) + 1)) and one.movieId.is_unique
        if spec not in SCORE_IS_NOT_PREDICT:
            assert np.allclose(model.predict(np.full(len(one), user), one.movieId.to_numpy()), one.score)


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
    est = model.predict(np.array([999, 7, 7, 999]), np.array([2, 1000, 2, 1000]))
    assert np.isfinite(est).all()
    if spec not in RANKING_ONLY:  # rating predictors fall back within the training rating range
        low, high = RATINGS.rating.min(), RATINGS.rating.max()
        assert ((est >= low) & (est <= high)).all()
        return
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
    if spec in FOLD_IN_REPRODUCES:  # random: a new user's stream is seeded by what they rated, not an id
        pd.testing.assert_frame_equal(new, model.recommend(user, 5), check_dtype=False)
    one = model.recommend_new({int(history.index[0]): 5.0}, 5)  # a single rating is enough
    assert len(one) <= 5 and history.index[0] not in set(one.movieId)
    assert len(model.recommend_new({**history.to_dict(), 123456: 5.0}, 5)) == 5  # unknown item dropped
    with pytest.raises(NoUsableRatingsError):
        model.recommend_new({123456: 4.0})


@pytest.mark.parametrize("spec", SPECS)
def test_fewer_candidates_than_n(spec):
    model = fitted(spec)
    n_items = RATINGS.movieId.nunique()
    recs = model.recommend(7, 1000)
    candidates = n_items - (RATINGS.userId == 7).sum()
    assert len(recs) == candidates if spec not in PARTIAL else len(recs) <= candidates
    assert recs.movieId.is_unique


@pytest.mark.parametrize("spec", SPECS)
def test_edge_cases(spec):
    """A user with one rating, one who rated everything, an item only one user rated, a rating
    of 0, float ids, all-equal ratings."""
    ratings = RATINGS.copy()
    everything = RATINGS.movieId.unique()
    lonely = pd.DataFrame(
        {
            "userId": [1000, 7, *[2000] * len(everything)],
            "movieId": [2, 500, *everything],
            "rating": [4.0, 0.0, *np.linspace(1, 5, len(everything))],
        }
    )
    ratings = pd.concat([ratings, lonely], ignore_index=True)
    movies = pd.concat([MOVIES, pd.DataFrame({"movieId": [500], "title": ["x"], "year": [1990], "genres": ["Drama"]})])
    name, params = SPECS[spec]
    model = make_model(name, params).fit(ratings, movies)
    assert model.recommend(2000, 3).movieId.tolist() in ([], [500])
    for user in (1000, 7):
        recs = model.recommend(user, 3)
        assert len(recs) <= 3 and np.isfinite(recs.score).all()
        assert not set(recs.movieId) & set(ratings.movieId[ratings.userId == user])
    assert np.isfinite(model.predict(np.array([1000, 7, 10]), np.array([500, 500, 500]))).all()
    # float ids and all-equal ratings
    floats = RATINGS.assign(userId=RATINGS.userId + 0.5, movieId=RATINGS.movieId.astype(float), rating=3.0)
    model = make_model(name, params).fit(floats, MOVIES.assign(movieId=MOVIES.movieId.astype(float)))
    recs = model.recommend_all(4)
    assert np.isfinite(recs.score).all()
    if spec not in PARTIAL:  # with equal ratings, pearson-like similarities are all 0
        assert set(recs.userId) == set(floats.userId)
    rated = set(zip(floats.userId, floats.movieId))
    assert not any(pair in rated for pair in zip(recs.userId, recs.movieId))
    assert np.isfinite(model.predict(np.array([7.5, 1.5]), np.array([2.0, 3.0]))).all()


@pytest.mark.parametrize("spec", SPECS)
def test_refit_keeps_no_stale_state(spec):
    """Fitting again on other data gives what a fresh model fitted on that data gives."""
    other = random_ratings(n_users=12, n_items=18, seed=5)
    name, params = SPECS[spec]
    fresh = make_model(name, params).fit(other, MOVIES)
    refitted = make_model(name, params).fit(RATINGS, MOVIES).fit(other, MOVIES)
    pd.testing.assert_frame_equal(fresh.recommend_all(4), refitted.recommend_all(4))
    users = other.userId.to_numpy()[:10]
    items = other.movieId.to_numpy()[:10]
    assert np.allclose(fresh.predict(users, items), refitted.predict(users, items))
    with pytest.raises(UnknownUserError):
        refitted.recommend(RATINGS.userId.max())


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("random", {"seed": -1}, "seed"),
        ("random", {"seed": 1.5}, "seed"),
        ("ease", {"l2": 0}, "l2"),
        ("ease", {"l2": float("nan")}, "l2"),
        ("ease", {"l2": "big"}, "l2"),
        ("ease", {"weighting": "tfidf"}, "weighting"),
        ("ials", {"n_factors": 0}, "n_factors"),
        ("ials", {"n_epochs": 2.0}, "n_epochs"),
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


def test_user_errors_are_value_errors():
    with pytest.raises(ValueError, match="no setting"):
        make_model("ials", {"factors": 4})  # the old name of n_factors
    with pytest.raises(ValueError, match="mapping"):
        make_model("bias", [1])
    model = fitted("bias")
    with pytest.raises(ValueError, match="n must be"):
        model.popular(-1)
    with pytest.raises(ValueError, match="more than once"):
        model.recommend_new(pd.Series([4.0, 5.0], index=[2, 2]))


def test_hybrid_defaults_to_ials():
    from movie_recommender.recsys import Hybrid

    assert Hybrid().collaborative == "ials"


def test_item_knn_refit_drops_the_centre_model():
    model = make_model("item_knn", {"centering": "model", "centre_model": {"model": "bias"}}).fit(RATINGS)
    model.centering = "baseline"
    assert model.fit(RATINGS).centre_model_ is None


def test_ids_of_another_type_are_unknown():
    model = fitted("bias")
    with pytest.raises(UnknownUserError):
        model.recommend("seven")
    with pytest.raises(UnknownUserError):
        model.recommend(None)
    est = model.predict(np.array([None, 7], dtype=object), np.array(["x", 2], dtype=object))
    assert np.isfinite(est).all()


def test_random_key_of_numpy_scalars_is_their_python_value():
    from movie_recommender.recsys.baselines import _id_key

    assert _id_key(np.float64(7.5)) == _id_key(7.5) and _id_key(np.str_("a")) == _id_key("a")
    assert _id_key(np.int64(7)) == 7


def test_fold_in_drops_non_numeric_ratings():
    model = fitted("ease")
    new = model.recommend_new(pd.Series(["4", None, "x"], index=[2, 7, 12], dtype=object), 3)
    assert len(new) == 3 and 2 not in set(new.movieId)


def test_item_knn_model_centre_is_finite_where_the_centre_model_cannot_rank():
    params = {"centering": "model", "centre_model": {"model": "user_knn", "params": {"neighbours": 3}}}
    model = make_model("item_knn", {**params, "similarity": "cosine"}).fit(random_ratings(density=0.15))
    assert np.isfinite(model._centre_row(0.0, user=0)).all()
    history = pd.Series({model.item_ids_[0]: 5.0, model.item_ids_[1]: 1.0})
    assert np.isfinite(model._centre_row(0.0, row=model.fold_in_row(history))).all()
