"""Bias, BiasedMF and ItemKNN: the shared contract, fallbacks, and plain-loop checks on tiny data."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from movie_recommender.recsys import Bias, BiasedMF, Blend, ItemKNN, UserKNN
from movie_recommender.recsys.models import MODELS, make_model

from .test_knn import random_ratings

FAST = {
    "bias": {},
    "svd": {"n_factors": 4, "n_epochs": 5, "seed": 3, "solver": "sgd", "reg": 0.02},
    "svd_als": {"n_factors": 4, "n_epochs": 5, "seed": 3, "solver": "als", "reg": 0.1},
    "svdpp": {"n_factors": 4, "n_epochs": 5, "seed": 3},
    "item_knn": {"neighbours": 5},
    "item_knn_support": {"neighbours": 5, "ranking": "support", "similarity": "adjusted_cosine"},
    "user_knn_baseline": {"similarity": "pearson_baseline", "centering": "baseline", "shrinkage": 100.0},
    "user_knn_support": {"ranking": "support", "neighbours": 5},
    "blend": {"components": [{"model": "bias"}, {"model": "item_knn", "params": {"neighbours": 5}}], "holdout": 0.2},
}


def build(key: str):
    name = {"svd_als": "svd", "item_knn_support": "item_knn"}.get(key, key)  # blend, bias, svd: as is
    name = "user_knn" if key.startswith("user_knn") else name
    return MODELS[name](**FAST[key])


def test_registry_names():
    assert {"bias", "svd", "item_knn", "user_knn"} <= set(MODELS)
    assert MODELS["svd"] is BiasedMF and MODELS["bias"] is Bias and MODELS["item_knn"] is ItemKNN


@pytest.mark.parametrize("key", FAST)
def test_contract(key):
    ratings = random_ratings(seed=4, integer=True)
    model = build(key)
    assert model.fit(ratings) is model
    users, items = ratings.userId.to_numpy()[:30], ratings.movieId.to_numpy()[::-1][:30]
    est = model.predict(users, items)
    assert est.shape == (30,) and np.isfinite(est).all()
    assert (est >= ratings.rating.min()).all() and (est <= ratings.rating.max()).all()
    # deterministic: a second fit gives the same predictions and recommendations
    again = build(key).fit(ratings)
    np.testing.assert_array_equal(again.predict(users, items), est)
    everyone = model.recommend_all(4)
    pd.testing.assert_frame_equal(everyone, again.recommend_all(4))
    seen = set(zip(ratings.userId, ratings.movieId))
    assert not any(pair in seen for pair in zip(everyone.userId, everyone.movieId))
    user = ratings.userId.iloc[0]
    top = model.recommend(user, 3)
    assert list(top["rank"]) == [1, 2, 3] and top.score.is_monotonic_decreasing
    own = ratings[ratings.userId == user]
    new = model.recommend_new(dict(zip(own.movieId, own.rating)), 3)
    assert len(new) == 3 and not set(new.movieId) & set(own.movieId)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("bias", {"reg_user": -1}, "reg_user must be a number >= 0"),
        ("bias", {"reg_item": "x"}, "reg_item must be a number"),
        ("bias", {"n_epochs": 0}, "n_epochs must be a whole number"),
        ("svd", {"n_factors": 0}, "n_factors must be a whole number"),
        ("svd", {"lr": 0}, "lr must be a number > 0"),
        ("svd", {"solver": "adam"}, "solver must be one of"),
        ("svd", {"seed": -1}, "seed must be a whole number >= 0"),
        ("svd", {"solver": "als", "reg": 0.0}, "reg must be > 0 with solver='als'"),
        ("item_knn", {"similarity": "jaccard"}, "similarity must be one of"),
        ("item_knn", {"centering": "median"}, "centering must be one of"),
        ("item_knn", {"ranking": "random"}, "ranking must be one of"),
        ("item_knn", {"shrinkage": -1}, "shrinkage must be a number >= 0"),
        ("item_knn", {"damping": -1}, "damping must be a number >= 0"),
        ("blend", {"support_terms": 1}, "support_terms must be true or false"),
        ("user_knn", {"centering": "z"}, "centering must be one of"),
        ("user_knn", {"ranking": "z"}, "ranking must be one of"),
        ("blend", {"components": []}, "components must be a non-empty list"),
        ("blend", {"components": [{"model": "nope"}]}, "unknown model 'nope'"),
        ("blend", {"components": [{"model": "user_knn", "params": {"ranking": "support"}}]}, "ranking='rating'"),
        ("blend", {"holdout": 1.0}, "holdout must be a fraction"),
    ],
)
def test_bad_hyper_parameters(name, params, message):
    with pytest.raises(ValueError, match=message):
        make_model(name, params)


# ---------------------------------------------------------------- fallbacks
def test_bias_fallbacks():
    ratings = random_ratings(seed=2)
    model = Bias().fit(ratings)
    u, i = ratings.userId.iloc[0], ratings.movieId.iloc[0]
    b_u, b_i = model.user_bias_[model._rows([u])[0]], model.item_bias_[model._cols([i])[0]]
    mu = model.global_mean_
    np.testing.assert_allclose(model.predict([-1, u, -1], [i, -5, -5]), np.clip([mu + b_i, mu + b_u, mu], 1, 5))


@pytest.mark.parametrize("solver", ["sgd", "als"])
def test_mf_fallbacks(solver):
    ratings = random_ratings(seed=2)
    model = BiasedMF(n_factors=3, n_epochs=3, solver=solver, reg=0.1).fit(ratings)
    u, i = ratings.userId.iloc[0], ratings.movieId.iloc[0]
    b_u, b_i = model.user_bias_[model._rows([u])[0]], model.item_bias_[model._cols([i])[0]]
    mu = model.global_mean_
    lo, hi = model.rating_range_
    np.testing.assert_allclose(model.predict([-1, u, -1], [i, -5, -5]), np.clip([mu + b_i, mu + b_u, mu], lo, hi))


@pytest.mark.parametrize("centering", ["none", "mean", "baseline"])
@pytest.mark.parametrize("cls", [ItemKNN, UserKNN])
def test_knn_fallbacks(cls, centering):
    ratings = random_ratings(seed=2)
    model = cls(centering=centering).fit(ratings)
    u, i = ratings.userId.iloc[0], ratings.movieId.iloc[0]
    r, c = model._rows([u])[0], model._cols([i])[0]
    mu = model.global_mean_
    b_u, b_i = model.user_bias_[r], model.item_bias_[c]
    est = model.predict([-1, u, -1], [i, -5, -5])
    if centering == "none":
        expected = [mu, mu, mu]
    elif centering == "baseline":
        expected = [mu + b_i, mu + b_u, mu]
    elif cls is ItemKNN:  # item means
        expected = [model.item_mean_[c], mu, mu]
    else:  # user means
        expected = [mu, model.user_mean_[r], mu]
    np.testing.assert_allclose(est, np.clip(expected, 1, 5))


# ------------------------------------------------------- plain-loop correctness
def loop_baseline(ratings: pd.DataFrame, reg_u: float, reg_i: float, epochs: int):
    mu = ratings.rating.mean()
    bu = dict.fromkeys(ratings.userId.unique(), 0.0)
    bi = dict.fromkeys(ratings.movieId.unique(), 0.0)
    for _ in range(epochs):
        for i in bi:
            rows = ratings[ratings.movieId == i]
            bi[i] = sum(r - mu - bu[u] for u, r in zip(rows.userId, rows.rating)) / (reg_i + len(rows))
        for u in bu:
            rows = ratings[ratings.userId == u]
            bu[u] = sum(r - mu - bi[i] for i, r in zip(rows.movieId, rows.rating)) / (reg_u + len(rows))
    return mu, bu, bi


def test_bias_offsets_equal_plain_loop_on_3x3():
    ratings = pd.DataFrame(
        {"userId": [1, 1, 2, 2, 3, 3, 3], "movieId": [10, 20, 10, 30, 10, 20, 30], "rating": [5, 3, 4, 2, 1, 2, 5.0]}
    )
    model = Bias(reg_user=2.0, reg_item=3.0, n_epochs=4).fit(ratings)
    mu, bu, bi = loop_baseline(ratings, 2.0, 3.0, 4)
    np.testing.assert_allclose(model.user_bias_, [bu[1], bu[2], bu[3]])
    np.testing.assert_allclose(model.item_bias_, [bi[10], bi[20], bi[30]])
    np.testing.assert_allclose(model.predict([1], [30]), [np.clip(mu + bu[1] + bi[30], 1, 5)])


def test_bias_recovers_an_exact_additive_matrix_without_regularisation():
    users, items = np.meshgrid(np.arange(4), np.arange(5), indexing="ij")
    values = 3.0 + 0.3 * users - 0.2 * items
    ratings = pd.DataFrame({"userId": users.ravel(), "movieId": items.ravel(), "rating": values.ravel()})
    model = Bias(reg_user=0, reg_item=0, n_epochs=30).fit(ratings)
    np.testing.assert_allclose(model.predict(ratings.userId, ratings.movieId), ratings.rating, atol=1e-9)


def test_bias_fold_in_solves_the_user_offset():
    ratings = random_ratings(seed=6)
    model = Bias().fit(ratings)
    new = {2: 5.0, 7: 4.0, 12: 1.0}
    cols = model._cols(list(new))
    b_u = sum(r - model.global_mean_ - model.item_bias_[c] for r, c in zip(new.values(), cols)) / (15.0 + 3)
    top = model.recommend_new(new, 2)
    expected = np.clip(model.global_mean_ + b_u + model.item_bias_[model._cols(top.movieId)], 1, 5)
    np.testing.assert_allclose(top.score, expected)


def test_compiled_sgd_equals_plain_sgd_loop():
    """The numba epochs against the plain loop (the previous numpy solver with batches of one rating)."""
    ratings = random_ratings(n_users=8, n_items=9, seed=1)
    k, epochs, lr, reg, std = 3, 4, 0.01, 0.05, 0.1
    model = BiasedMF(n_factors=k, n_epochs=epochs, lr=lr, reg=reg, init_std=std, seed=5, solver="sgd")
    model.fit(ratings)
    rng = np.random.default_rng(5)
    matrix = model.ratings_.tocoo()
    n_users, n_items = matrix.shape
    p, q = rng.normal(0, std, (n_users, k)), rng.normal(0, std, (n_items, k))
    bu, bi, mu = np.zeros(n_users), np.zeros(n_items), ratings.rating.mean()
    for _ in range(epochs):
        met = []
        for n in rng.permutation(matrix.nnz):
            u, i, r = matrix.row[n], matrix.col[n], matrix.data[n]
            err = r - (mu + bu[u] + bi[i] + p[u] @ q[i])
            met.append(err)
            bu[u] += lr * (err - reg * bu[u])
            bi[i] += lr * (err - reg * bi[i])
            p[u], q[i] = p[u] + lr * (err * q[i] - reg * p[u]), q[i] + lr * (err * p[u] - reg * q[i])
    np.testing.assert_allclose(model.user_factors_, p, atol=1e-12)
    np.testing.assert_allclose(model.item_factors_, q, atol=1e-12)
    np.testing.assert_allclose(model.item_bias_, bi, atol=1e-12)
    np.testing.assert_allclose(model.user_bias_, bu, atol=1e-12)
    assert model.train_rmse_[-1] == pytest.approx(np.sqrt(np.mean(np.square(met))), abs=1e-12)
    als = BiasedMF(n_factors=k, n_epochs=2, reg=0.1, solver="als").fit(ratings)
    est = als.global_mean_ + als.user_bias_[matrix.row] + als.item_bias_[matrix.col]
    est += np.einsum("ij,ij->i", als.user_factors_[matrix.row], als.item_factors_[matrix.col])
    assert als.train_rmse_[-1] == pytest.approx(np.sqrt(np.mean((matrix.data - est) ** 2)), abs=1e-12)


@pytest.mark.parametrize("solver", ["sgd", "als"])
def test_mf_learns_and_logs_progress(solver, caplog):
    ratings = random_ratings(n_users=30, n_items=20, density=0.6, seed=2)
    with caplog.at_level(logging.INFO, logger="movie_recommender.recsys.mf"):
        model = BiasedMF(n_factors=5, n_epochs=10, lr=0.02, reg=0.05, solver=solver, log_every=5).fit(ratings)
    assert model.train_rmse_[-1] < model.train_rmse_[0]
    assert sum("train RMSE" in rec.getMessage() for rec in caplog.records) == 2


def test_mf_fold_in_is_the_regularised_least_squares_solution():
    ratings = random_ratings(seed=9)
    model = BiasedMF(n_factors=3, n_epochs=4, solver="als", reg=0.1).fit(ratings)
    new = {2: 5.0, 7: 4.0, 12: 1.0, 17: 2.0}
    cols = model._cols(list(new))
    x = np.hstack([np.ones((4, 1)), model.item_factors_[cols]])
    y = np.array(list(new.values())) - model.global_mean_ - model.item_bias_[cols]
    sol = np.linalg.solve(x.T @ x + 0.1 * 4 * np.eye(4), x.T @ y)
    top = model.recommend_new(new, 3)
    c = model._cols(top.movieId)
    expected = model.global_mean_ + sol[0] + model.item_bias_[c] + model.item_factors_[c] @ sol[1:]
    np.testing.assert_allclose(top.score, np.clip(expected, *model.rating_range_))


def test_mf_fold_in_of_a_training_user_is_close_to_their_als_factors():
    """With ALS the user step is exactly the fold-in solve, so a training user's fold-in reproduces them."""
    ratings = random_ratings(seed=9)
    model = BiasedMF(n_factors=3, n_epochs=4, solver="als", reg=0.1).fit(ratings)
    user = ratings.userId.iloc[0]
    own = ratings[ratings.userId == user]
    folded = model.recommend_new(dict(zip(own.movieId, own.rating)), 5)
    # the final half-epoch updated items after users, so compare loosely
    assert len(set(folded.movieId) & set(model.recommend(user, 5).movieId)) >= 3


def loop_item_sim(ratings: pd.DataFrame, i, j, centre, shrinkage=0.0) -> float:
    a = ratings[ratings.movieId == i].set_index("userId")
    b = ratings[ratings.movieId == j].set_index("userId")
    common = a.index.intersection(b.index)
    if i == j or len(common) == 0:
        return 0.0
    x = np.array([a.rating[u] - centre(u, i) for u in common])
    y = np.array([b.rating[u] - centre(u, j) for u in common])
    den = np.sqrt((x**2).sum() * (y**2).sum())
    sim = (x @ y) / den if den > 0 else 0.0
    return sim * (len(common) - 1) / (len(common) - 1 + shrinkage) if shrinkage else sim


def test_item_adjusted_cosine_equals_plain_loop():
    ratings = random_ratings(n_users=12, n_items=8, seed=3)
    model = ItemKNN(similarity="adjusted_cosine", centering="none", shrinkage=0.0).fit(ratings)
    user_mean = ratings.groupby("userId").rating.mean()
    items = model.item_ids_
    expected = [[loop_item_sim(ratings, i, j, lambda u, _i: user_mean[u]) for j in items] for i in items]
    # the model keeps the positive similarities only (the others never vote), sparse
    np.testing.assert_allclose(model.similarities_.toarray(), np.maximum(expected, 0.0), atol=1e-12)


def test_item_knn_baseline_pearson_baseline_predict_equals_plain_loop():
    ratings = random_ratings(n_users=15, n_items=10, seed=8)
    k = 3
    model = ItemKNN(neighbours=k, similarity="pearson_baseline", centering="baseline", shrinkage=5.0).fit(ratings)
    mu, bu, bi = loop_baseline(ratings, 15.0, 10.0, 10)

    def base(u, i):
        return mu + bu[u] + bi[i]

    users = np.repeat(ratings.userId.unique()[:6], 5)
    items = np.tile(ratings.movieId.unique()[:5], 6)
    expected = []
    for u, i in zip(users, items):
        rated = ratings[(ratings.userId == u) & (ratings.movieId != i)].sort_values("movieId")
        sims = [(loop_item_sim(ratings, i, j, base, 5.0), r - base(u, j)) for j, r in zip(rated.movieId, rated.rating)]
        top = [(s, z) for s, z in sorted(sims, key=lambda t: -t[0])[:k] if s > 0]
        den = sum(s for s, _ in top)
        est = base(u, i) + (sum(s * z for s, z in top) / den if den > 0 else 0.0)
        expected.append(np.clip(est, ratings.rating.min(), ratings.rating.max()))
    np.testing.assert_allclose(model.predict(users, items), expected, rtol=1e-9)


def test_item_knn_support_ranking_equals_plain_loop():
    ratings = random_ratings(n_users=10, n_items=12, seed=5, integer=True)
    k = 3
    model = ItemKNN(neighbours=k, similarity="cosine", centering="none", shrinkage=0.0, ranking="support")
    model.fit(ratings)
    dense = ratings.pivot(index="userId", columns="movieId", values="rating").fillna(0.0).to_numpy()
    norms = np.linalg.norm(dense, axis=0)
    sims = dense.T @ dense / np.outer(norms, norms)  # cosine of whole columns, computed densely
    np.fill_diagonal(sims, 0.0)
    user = ratings.userId.iloc[0]
    rated = set(model._cols(ratings.movieId[ratings.userId == user]))
    score = np.zeros(len(model.item_ids_))
    for j in rated:  # each rated item passes its similarity to its k most similar items
        for i in sorted(range(len(score)), key=lambda c: -sims[j, c])[:k]:
            score[i] += max(sims[j, i], 0.0)
    cand = [c for c in range(len(score)) if c not in rated and score[c] > 0]
    best = sorted(cand, key=lambda c: (-score[c], model.item_ids_[c]))[:4]
    top = model.recommend(user, 4)
    assert list(top.movieId) == list(model.item_ids_[best])
    np.testing.assert_allclose(top.score, score[best])


def test_blend_weights_are_least_squares_on_the_held_out_slice():
    ratings = random_ratings(n_users=30, n_items=25, density=0.5, seed=4)
    components = [{"model": "bias"}, {"model": "svd", "params": {"n_factors": 3, "n_epochs": 3}}]
    model = Blend(components=components, holdout=0.25, seed=7, support_terms=False).fit(ratings)
    held = np.random.default_rng(7).random(len(ratings)) < 0.25
    train, probe = ratings[~held], ratings[held]
    preds = [
        Bias().fit(train).predict(probe.userId, probe.movieId),
        BiasedMF(n_factors=3, n_epochs=3).fit(train).predict(probe.userId, probe.movieId),
    ]
    x = np.column_stack([np.ones(len(probe)), *preds])
    np.testing.assert_allclose(model.weights_, np.linalg.lstsq(x, probe.rating, rcond=None)[0])
    users, items = ratings.userId.to_numpy()[:20], ratings.movieId.to_numpy()[:20]
    parts = [m.predict(users, items) for m in model.models_]
    expected = model.weights_[0] + model.weights_[1] * parts[0] + model.weights_[2] * parts[1]
    np.testing.assert_allclose(model.predict(users, items), np.clip(expected, *model.rating_range_))
    # unseen users/items blend the components' fallbacks
    parts = [m.predict([-1, users[0]], [items[0], -9]) for m in model.models_]
    expected = model.weights_[0] + model.weights_[1] * parts[0] + model.weights_[2] * parts[1]
    np.testing.assert_allclose(model.predict([-1, users[0]], [items[0], -9]), np.clip(expected, *model.rating_range_))


def test_blend_support_terms_make_the_weights_linear_in_log_supports():
    ratings = random_ratings(n_users=30, n_items=25, density=0.5, seed=4)
    components = [{"model": "bias"}, {"model": "item_knn", "params": {"neighbours": 5}}]
    model = Blend(components=components, holdout=0.3, seed=1).fit(ratings)
    assert model.weights_.shape == (3, 3)
    users, items = ratings.userId.to_numpy()[:20], ratings.movieId.to_numpy()[::-1][:20]
    n_u = ratings.groupby("userId").size()[users].to_numpy()
    n_i = ratings.groupby("movieId").size()[items].to_numpy()
    x = np.column_stack([np.ones(20), *(m.predict(users, items) for m in model.models_)])
    a, b, c = model.weights_
    expected = (x * (a + np.log1p(n_u)[:, None] * b + np.log1p(n_i)[:, None] * c)).sum(axis=1)
    np.testing.assert_allclose(model.predict(users, items), np.clip(expected, *model.rating_range_))
    top = model.recommend(users[0], 3)
    np.testing.assert_allclose(top.score, model.predict(np.full(3, users[0]), top.movieId))


def test_item_knn_on_model_residuals():
    """centering='model': the centre is the other model's estimate, neighbours correct its residuals."""
    ratings = random_ratings(n_users=15, n_items=10, seed=8)
    centre = {"model": "bias", "params": {"reg_user": 15.0, "reg_item": 10.0}}
    on_bias = ItemKNN(neighbours=3, centering="model", centre_model=centre).fit(ratings)
    baseline = ItemKNN(neighbours=3, centering="baseline").fit(ratings)
    users, items = ratings.userId.to_numpy()[:30], ratings.movieId.to_numpy()[::-1][:30]
    np.testing.assert_allclose(on_bias.predict(users, items), baseline.predict(users, items), rtol=1e-12)
    np.testing.assert_allclose(
        on_bias.predict([-1, users[0]], [items[0], -3]), baseline.predict([-1, users[0]], [items[0], -3])
    )
    pd.testing.assert_frame_equal(on_bias.recommend_all(3), baseline.recommend_all(3))
    new = {2: 5.0, 7: 1.0, 12: 4.0}
    pd.testing.assert_frame_equal(on_bias.recommend_new(new, 3), baseline.recommend_new(new, 3))
    damped = ItemKNN(neighbours=3, centering="model", centre_model=centre, damping=1.0).fit(ratings)
    assert (
        np.abs(damped.predict(users, items) - on_bias.centre_model_.predict(users, items)).sum()
        < np.abs(on_bias.predict(users, items) - on_bias.centre_model_.predict(users, items)).sum()
    )
    with pytest.raises(ValueError, match="centre_model must be"):
        ItemKNN(centering="model").fit(ratings)
