"""Refusals before the work starts, EASE on the most rated movies, implicit ALS engines,
evaluation on a sample of users and past refusing models, and the scaled-down scale benchmark."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from movie_recommender.recsys import EASE, IALS, ModelRefusedError, Popularity, evaluate_models
from movie_recommender.recsys.ease import ease_weights
from movie_recommender.recsys.metrics import ndcg_at_k
from movie_recommender.recsys.models import MODELS, make_model
from movie_recommender.recsys.splits import random_holdout
from movie_recommender.recsys.synthetic import synthetic_ratings


def test_refusal_names_the_memory_and_the_setting_before_fitting(monkeypatch):
    ratings = synthetic_ratings(200, 120, 3_000, seed=1)
    monkeypatch.setenv("MOVIE_RECOMMENDER_MEMORY_LIMIT_GB", "0.0001")  # about 100 kB
    model = EASE(max_items=None)
    with pytest.raises(ModelRefusedError, match=r"EASE would need about .* GB .* 120 movies .* models\.ease\.max_items"):
        model.fit(ratings)
    assert not hasattr(model, "weights_") and not hasattr(model, "ratings_")  # nothing was started


def test_every_model_states_its_peak_memory():
    for name in MODELS:
        needed, fix = make_model(name, {}).peak_memory(162_541, 59_047, 25_000_095)
        assert needed > 24 * 25_000_095 and fix  # at least the ratings, and a way out
    assert EASE(max_items=None).peak_memory(1, 59_047, 1)[0] > 24 * 59_047**2  # dense movies x movies
    assert EASE(max_items=15_000).peak_memory(1, 59_047, 1)[0] < 6 * 1024**3


class Shape:
    """What ``fit_seconds`` reads of a RatingData: its size and each user's number of ratings."""

    def __init__(self, n_users, n_items, n_ratings):
        import scipy.sparse as sp

        self.n_users, self.n_items, self.n_ratings = n_users, n_items, n_ratings
        per_user = np.full(n_users, n_ratings // n_users)
        per_user[: n_ratings - per_user.sum()] += 1
        self.matrix = sp.csr_matrix((n_users, 1))
        self.matrix.indptr = np.concatenate([[0], np.cumsum(per_user)])


def test_refusal_names_the_time_and_the_setting_before_fitting(monkeypatch):
    ratings = synthetic_ratings(200, 120, 3_000, seed=1)
    model = make_model("svd", {})
    seconds = model.fit_seconds(Shape(200, 120, 3_000))[0]
    assert 0 < seconds < 1
    monkeypatch.setenv("MOVIE_RECOMMENDER_TIME_LIMIT_MINUTES", str(seconds / 60 / 2))
    with pytest.raises(ModelRefusedError, match=r"BiasedMF would take about .* minutes to fit 200 users, 120 movies .* "
                                                r"models\.svd\.n_factors .* MOVIE_RECOMMENDER_TIME_LIMIT_MINUTES"):
        model.fit(ratings)
    assert not hasattr(model, "user_factors_") and not hasattr(model, "ratings_")  # nothing was started
    for no_limit in ("off", "0"):
        monkeypatch.setenv("MOVIE_RECOMMENDER_TIME_LIMIT_MINUTES", no_limit)
        assert hasattr(make_model("svd", {}).fit(ratings), "user_factors_")
    monkeypatch.setenv("MOVIE_RECOMMENDER_TIME_LIMIT_MINUTES", "soon")
    with pytest.raises(ValueError, match="MOVIE_RECOMMENDER_TIME_LIMIT_MINUTES must be a number of minutes or off"):
        make_model("svd", {}).fit(ratings)


def test_shipped_settings_fit_ml25m_within_the_limit_or_refuse(monkeypatch):
    """At ML-25M's size, with the settings that ship for it: the factor models and item_knn are
    estimated within the default 15 minutes; blend (each of 7 components fitted twice) is not, and says so."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from bench_scale import model_settings

    monkeypatch.delenv("MOVIE_RECOMMENDER_TIME_LIMIT_MINUTES", raising=False)
    params = model_settings("ml-25m")
    shape = Shape(162_541, 59_047, 25_000_095)
    for name in ("svd", "svdpp", "item_knn"):
        seconds, _ = make_model(name, params[name]).fit_seconds(shape)
        assert 10 < seconds < 15 * 60, (name, seconds)
    for name in ("random", "popularity", "bias", "user_knn", "ials", "ease"):
        assert make_model(name, {}).fit_seconds(shape) is None
    blend = make_model("blend", params["blend"])
    seconds, fix = blend.fit_seconds(shape)
    parts = [blend._make(spec).fit_seconds(shape) for spec in blend._specs()]
    assert seconds == 2 * sum(p[0] for p in parts if p is not None) > 30 * 60
    assert "models.blend.components" in fix and "svd, item_knn, svd, item_knn" in fix
    with pytest.raises(ModelRefusedError, match=r"Blend would take about \d+ minutes .* 25,000,095 ratings"):
        from movie_recommender.recsys.budget import check_time

        check_time("Blend", (seconds, fix), (162_541, 59_047, 25_000_095))


def test_ease_on_the_most_rated_movies():
    ratings = synthetic_ratings(150, 60, 2_500, seed=2)
    model = EASE(l2=50.0, max_items=20).fit(ratings)
    counts = ratings.movieId.value_counts()
    head_ids = np.sort(counts.sort_values(ascending=False, kind="stable").index[:20])
    assert counts.loc[head_ids].min() >= counts.drop(head_ids).max()
    np.testing.assert_array_equal(model.item_ids_[model.head_], head_ids)
    recs = model.recommend_all(5)
    assert set(recs.movieId) <= set(head_ids)  # the head outranks the tail
    # on the head, B is the closed form of the head's columns alone
    x = (model.ratings_[:, model.head_] != 0).astype(float)
    np.testing.assert_allclose(model.weights_, ease_weights(x, 50.0))
    assert model.predict([1, 1], [head_ids[0], counts.index[-1]])[1] == model.tail_score_  # as it ranks
    full = EASE(l2=50.0, max_items=60).fit(ratings)
    assert full.head_ is None
    pd.testing.assert_frame_equal(full.recommend_all(5), EASE(l2=50.0, max_items=None).fit(ratings).recommend_all(5))


def test_ease_ranks_the_movies_off_the_head_by_popularity():
    """Past its head, EASE recommends the other movies after every head movie, in the order of the
    shared fallback ``popular()``, for training users and folded-in ones."""
    ratings = synthetic_ratings(150, 60, 2_500, seed=2)
    model = EASE(l2=50.0, max_items=20).fit(ratings)
    head = set(model.item_ids_[model.head_])
    assert len(model.tail_) == 40 and model.tail_score_ < 0
    recs = model.recommend_all(60)
    for user, own in recs.groupby("userId"):
        rated = set(ratings.movieId[ratings.userId == user])
        assert len(own) == 60 - len(rated)  # every movie the user did not rate
        in_head = own.movieId.isin(head).to_numpy()
        assert in_head[: in_head.sum()].all()  # the head first (every unrated one), then the tail
        tail = own[~in_head]
        expected = model.popular(len(tail), exclude=rated | head).movieId.tolist()
        assert tail.movieId.tolist() == expected
        assert (tail.score == model.tail_score_).all() and (own.score[in_head] > model.tail_score_).all()
    history = ratings[ratings.userId == 1].set_index("movieId").rating
    pd.testing.assert_frame_equal(model.recommend_new(history, 60), model.recommend(1, 60))


def test_implicit_engine_matches_the_per_row_solves():
    """The implicit library's sweeps and the plain per-row exact solves reach lists of the same quality."""
    ratings = synthetic_ratings(400, 200, 12_000, seed=3)
    train, test = random_holdout(ratings, 0.25, seed=0)
    scores = {}
    for engine in ("implicit", "numpy"):
        model = IALS(n_factors=16, n_epochs=8, reg=5.0, alpha=3.0, engine=engine).fit(train)
        recs = model.recommend_all(10)
        scores[engine] = ndcg_at_k(recs, test, 10)
        user = train.userId.iloc[0]
        own = train[train.userId == user]
        pd.testing.assert_frame_equal(model.recommend_new(dict(zip(own.movieId, own.rating)), 10), model.recommend(user, 10))
    assert abs(scores["implicit"] - scores["numpy"]) < 0.02, scores


def test_evaluation_skips_a_refusing_model_and_samples_users(monkeypatch, caplog):
    ratings = synthetic_ratings(120, 60, 2_500, seed=4)
    train, test = random_holdout(ratings, 0.25, seed=0)

    class Greedy(Popularity):
        def peak_memory(self, n_users, n_items, n_ratings):
            return 10**18, "Set greedy.appetite lower."

    with caplog.at_level(logging.WARNING):
        table = evaluate_models({"greedy": Greedy(), "popularity": Popularity()}, train, test, k=5, max_users=30, seed=1)
    assert list(table.index) == ["popularity"]
    assert "greedy skipped" in caplog.text and "greedy.appetite" in caplog.text
    assert table.loc["popularity", "n_users_evaluated"] <= 30
    again = evaluate_models({"popularity": Popularity()}, train, test, k=5, max_users=30, seed=1)
    assert again.loc["popularity", "ndcg@5"] == table.loc["popularity", "ndcg@5"]  # seeded
    with pytest.raises(ModelRefusedError):
        evaluate_models({"greedy": Greedy()}, train, test, k=5)


def test_max_users_samples_the_rating_errors_too():
    """With max_users, RMSE and MAE are those of the sampled users' test ratings (predict costs a sample)."""
    from movie_recommender.recsys.bias import Bias
    from movie_recommender.recsys.metrics import mae, rmse

    ratings = synthetic_ratings(200, 80, 4_000, seed=5)
    train, test = random_holdout(ratings, 0.25, seed=0)
    row = evaluate_models({"bias": Bias()}, train, test, k=5, max_users=40, seed=3).loc["bias"]
    users = np.sort(np.random.default_rng(3).choice(np.unique(test.userId), size=40, replace=False))
    sampled = test[test.userId.isin(users)]
    model = Bias().fit(train)
    estimates = model.predict(sampled.userId.to_numpy(), sampled.movieId.to_numpy())
    assert row["rmse"] == pytest.approx(rmse(sampled.rating.to_numpy(float), estimates), rel=1e-12)
    assert row["mae"] == pytest.approx(mae(sampled.rating.to_numpy(float), estimates), rel=1e-12)
    whole = evaluate_models({"bias": Bias()}, train, test, k=5).loc["bias"]
    assert whole["rmse"] != row["rmse"] and whole["n_test"] == row["n_test"] == len(test)


def test_scaled_down_scale_benchmark(capsys, tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import bench_scale

    models = "user_knn,item_knn,svd,content,hybrid,ials"
    rows = bench_scale.main(["--shape", "300,80,4000", "--models", models, "--cache", str(tmp_path)])
    out = capsys.readouterr().out
    assert [r["model"] for r in rows] == [*models.split(","), "implicit"]
    assert all("fit_s" in r and r["peak_rss_bytes"] > 0 for r in rows), [r.get("error") for r in rows]
    by_name = {r["model"]: r for r in rows}
    assert by_name["user_knn"]["estimate_fit_s"] is None and by_name["svd"]["estimate_fit_s"] > 0
    assert by_name["content"]["scored_users"] == 300  # the synthetic movies table's genres and years
    assert "user_knn" in out and "implicit" in out and "peak RSS: parent" in out
