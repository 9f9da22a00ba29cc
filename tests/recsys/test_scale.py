"""The scalable paths against plain references: neighbour pools, the SVD search, sparse top-k item
similarities, the shared rating container, chunked scoring and the progress bar."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from movie_recommender.recsys import Blend, ItemKNN, UserKNN
from movie_recommender.recsys.data import RatingData, as_rating_data
from movie_recommender.recsys.item_knn import item_neighbours
from movie_recommender.recsys.synthetic import RELEASE_SHAPES, synthetic_ratings

from .test_knn import random_ratings


def dense_cosine_rows(ratings: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Users x users cosine of whole rating rows (dense), self-similarity 0, and the user ids."""
    table = ratings.pivot(index="userId", columns="movieId", values="rating").fillna(0.0)
    x = table.to_numpy()
    norms = np.linalg.norm(x, axis=1)
    sims = x @ x.T / np.outer(norms, norms)
    np.fill_diagonal(sims, 0.0)
    return sims, table.index.to_numpy()


def loop_pool_predict(ratings, sims, ids, u, i, k, pool) -> float:
    """User-KNN where only the ``pool`` most similar users (ties: smaller id) may vote on item i."""
    row = sims[np.searchsorted(ids, u)]
    order = sorted(range(len(ids)), key=lambda v: (-row[v], ids[v]))
    kept = [v for v in order[:pool] if row[v] > 0]
    raters = dict(ratings.loc[ratings.movieId == i, ["userId", "rating"]].itertuples(index=False))
    voters = [(row[v], raters[ids[v]]) for v in kept if ids[v] in raters][:k]
    den = sum(s for s, _ in voters)
    if den <= 0:
        return ratings.rating.mean()
    return float(np.clip(sum(s * r for s, r in voters) / den, ratings.rating.min(), ratings.rating.max()))


@pytest.mark.parametrize("pool", [3, 8])
def test_user_knn_pool_equals_plain_loop(pool):
    ratings = random_ratings(n_users=20, n_items=15, seed=21)
    model = UserKNN(neighbours=3, pool=pool, search="exact").fit(ratings)
    sims, ids = dense_cosine_rows(ratings)
    users = np.repeat(ids[:6], 4)
    items = np.tile(ratings.movieId.unique()[:4], 6)
    expected = [loop_pool_predict(ratings, sims, ids, u, i, 3, pool) for u, i in zip(users, items)]
    np.testing.assert_allclose(model.predict(users, items), expected, rtol=1e-12)


def test_pool_of_all_users_is_the_plain_definition():
    ratings = random_ratings(n_users=20, n_items=15, seed=22)
    full = UserKNN(neighbours=4, pool=None).fit(ratings)
    assert full._pool() == 20 and full.search_ == "exact"  # 3e8 / ratings covers every user
    pd.testing.assert_frame_equal(full.recommend_all(5), UserKNN(neighbours=4, pool=100).fit(ratings).recommend_all(5))


def test_automatic_pool_shrinks_with_the_data():
    model = UserKNN(neighbours=40).fit(synthetic_ratings(300, 200, 6_000, seed=1))
    assert model._pool() == 300  # 3e8 / 6e3 ratings: every user
    model.pool = None
    model.ratings_ = model.ratings_[:, :]  # _pool reads the number of ratings only
    from movie_recommender.recsys import knn

    assert knn.AUTO_POOL_WORK // 25_000_000 < 40  # on ML-25M the pool is `neighbours`


@pytest.mark.parametrize("similarity", ["cosine", "pearson"])
def test_svd_search_at_full_rank_finds_the_exact_pool(similarity):
    """With as many SVD dimensions as movies the candidate scores are the exact cosines of the unit
    rows, so the search keeps the same pool as the exact computation."""
    ratings = synthetic_ratings(60, 12, 400, seed=3, min_per_user=4)
    params = {"neighbours": 3, "pool": 5, "similarity": similarity}
    exact = UserKNN(search="exact", **params).fit(ratings)
    approx = UserKNN(search="svd", search_dims=12, **params).fit(ratings)
    assert approx.search_ == "svd" and approx.embedding_.shape == (60, 12)
    if similarity == "cosine":
        pd.testing.assert_frame_equal(approx.recommend_all(5), exact.recommend_all(5), check_exact=False)
    new_user = {1: 5.0, 2: 3.0, 7: 4.0}
    pd.testing.assert_frame_equal(approx.recommend_new(new_user, 5), exact.recommend_new(new_user, 5))


def test_svd_search_recall_on_low_rank_data():
    """At low rank the search is approximate: most of the exact pool is still found."""
    ratings = synthetic_ratings(400, 150, 12_000, seed=4)
    exact = UserKNN(search="exact", pool=20).fit(ratings)
    approx = UserKNN(search="svd", pool=20, search_dims=16).fit(ratings)
    block = exact.sim_values_[:100]
    want, _, _ = exact._neighbours(block, np.arange(100))
    got, _, _ = approx._neighbours(block, np.arange(100))
    recall = np.mean([len(set(a) & set(b)) / len(a) for a, b in zip(want, got)])
    assert recall > 0.6


@pytest.mark.parametrize("common", [False, True])
@pytest.mark.parametrize("pool", [2, 5, 40])
def test_sparse_item_neighbours_are_the_dense_top_k(common, pool):
    ratings = random_ratings(n_users=30, n_items=12, seed=5, integer=True)
    data = RatingData.from_frame(ratings)
    x = data.matrix.toarray()
    pattern = (x != 0).astype(float)
    dot = x.T @ x
    if common:
        partial = (x**2).T @ pattern
        denom = np.sqrt(partial * partial.T)
    else:
        denom = np.outer(np.linalg.norm(x, axis=0), np.linalg.norm(x, axis=0))
    dense = np.where(denom > 0, dot / np.where(denom > 0, denom, 1), 0.0)
    np.fill_diagonal(dense, 0.0)
    sparse = item_neighbours(data.matrix, common=common, pool=pool)
    for i in range(dense.shape[0]):
        order = sorted((j for j in range(dense.shape[1]) if dense[i, j] > 0), key=lambda j: (-dense[i, j], j))[:pool]
        lo, hi = sparse.indptr[i], sparse.indptr[i + 1]
        assert list(sparse.indices[lo:hi]) == order  # best first, ties to the smaller index
        np.testing.assert_allclose(sparse.data[lo:hi], dense[i, order], rtol=1e-12)


def test_item_knn_pool_bounds_memory_and_equals_full_when_large():
    ratings = random_ratings(n_users=30, n_items=20, seed=6)
    full = ItemKNN(neighbours=4, pool=None).fit(ratings)
    small = ItemKNN(neighbours=4, pool=5).fit(ratings)
    assert small.similarities_.getnnz(axis=1).max() <= 5
    pd.testing.assert_frame_equal(ItemKNN(neighbours=4, pool=20).fit(ratings).recommend_all(5), full.recommend_all(5))
    assert len(small.recommend_all(5)) > 0


@pytest.mark.parametrize("k", [1, 3, 40])
@pytest.mark.parametrize("pool", [3, None])
@pytest.mark.parametrize("threads", [1, 2, 7])
def test_pooled_item_votes_equal_the_voter_walk(k, pool, threads):
    """The two loop orders of item-item voting give the same numbers, bit for bit (integer ratings: many
    tied similarities; more threads than users in the last case)."""
    from movie_recommender.recsys import _knn_kernels as kernels

    model = ItemKNN(neighbours=k, pool=pool).fit(random_ratings(n_users=40, n_items=25, seed=9, integer=True))
    sims, voters = model.similarities_, model.voters_
    for rows in (np.arange(40), np.array([3]), np.arange(5)):
        q = model.residuals_[rows]
        walked = kernels.item_votes(q.indptr, q.indices, q.data, voters.indptr, voters.indices, voters.data,
                                    sims.indptr, sims.indices, sims.data, k, False, 25, threads)  # fmt: skip
        pooled = kernels.item_votes_pooled(q.indptr, q.indices, q.data, sims.indptr, sims.indices, sims.data,
                                           k, 25, threads)  # fmt: skip
        np.testing.assert_array_equal(pooled[0], walked[0])
        np.testing.assert_array_equal(pooled[1], walked[1])
        assert (walked[1] > 0).any()


@pytest.mark.parametrize("ranking", ["rating", "support"])
def test_item_knn_picks_either_loop_with_the_same_results(ranking, monkeypatch):
    import movie_recommender.recsys.item_knn as item_knn

    ratings = random_ratings(n_users=30, n_items=20, seed=4, integer=True)
    results = []
    for cost in (0, 10**9):  # never, always the pooled loop
        monkeypatch.setattr(item_knn, "POOLED_PAIR_COST", cost)
        model = ItemKNN(neighbours=3, pool=6, ranking=ranking).fit(ratings)
        predicted = model.predict(ratings.userId[:40], ratings.movieId[:40])
        results.append((model.recommend_all(5), predicted, model.recommend_new({2: 5.0, 7: 1.0})))
    for a, b in zip(*results):
        pd.testing.assert_frame_equal(a, b) if isinstance(a, pd.DataFrame) else np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("centering", ["none", "mean", "baseline"])
@pytest.mark.parametrize("damping", [0.0, 1.0])
@pytest.mark.parametrize("batch_size", [1, 7, None])
def test_item_knn_top_n_from_the_votes_equals_the_dense_ranking(centering, damping, batch_size, monkeypatch):
    """recommend_all straight from the pooled votes gives the dense ranking's lists and scores exactly
    (integer ratings: tied estimates, broken by support, then popularity, then the smaller id)."""
    import movie_recommender.recsys.item_knn as item_knn

    ratings = random_ratings(n_users=40, n_items=30, density=0.3, seed=8, integer=True)
    monkeypatch.setattr(item_knn, "POOLED_PAIR_COST", 10**9)  # the pooled loop for every block
    model = ItemKNN(neighbours=3, pool=8, centering=centering, damping=damping, batch_size=batch_size).fit(ratings)
    assert model._top_block(np.arange(5), 4, model._item_popularity()[0]) is not None
    direct = model.recommend_all(4)
    monkeypatch.setattr(ItemKNN, "_top_block", lambda self, block, n, counts: None)
    dense = model.recommend_all(4)
    pd.testing.assert_frame_equal(direct, dense)
    assert len(dense) > 100
    if centering == "none" and damping == 0.0:  # weighted means of integer ratings: equal estimates
        assert dense.groupby("userId").score.apply(lambda s: s.duplicated().any()).any()


def test_models_share_one_rating_matrix():
    ratings = random_ratings(n_users=30, n_items=25, density=0.5, seed=4)
    data = as_rating_data(ratings)
    assert as_rating_data(data) is data
    blend = Blend(components=[{"model": "bias"}, {"model": "svd", "params": {"n_epochs": 2}}], holdout=0.2).fit(data)
    assert all(model.ratings_ is blend.ratings_ for model in blend.models_)
    from_frame = Blend(components=[{"model": "bias"}, {"model": "svd", "params": {"n_epochs": 2}}], holdout=0.2)
    pd.testing.assert_frame_equal(from_frame.fit(ratings).recommend_all(3), blend.recommend_all(3))
    # pickled once: a blend of eight components is barely larger than one of one
    data = as_rating_data(synthetic_ratings(300, 100, 8_000, seed=4))
    one = Blend(components=[{"model": "bias"}], holdout=0.2).fit(data)
    eight = Blend(components=[{"model": "bias"}] * 8, holdout=0.2).fit(data)
    assert len(pickle.dumps(eight)) < 1.5 * len(pickle.dumps(one))


def test_rating_data_checks_and_round_trip():
    ratings = random_ratings(seed=7)
    data = RatingData.from_frame(ratings)
    back = data.frame()
    pd.testing.assert_frame_equal(
        back, ratings.sort_values(["userId", "movieId"]).reset_index(drop=True)[["userId", "movieId", "rating"]]
    )
    assert data.n_ratings == len(ratings) and data.csc.shape == data.shape
    with pytest.raises(ValueError, match="more than once"):
        RatingData.from_frame(pd.concat([ratings, ratings.head(1)]))
    with pytest.raises(TypeError, match="DataFrame or a RatingData"):
        as_rating_data([(1, 2, 3.0)])


@pytest.mark.parametrize("name", ["user_knn", "item_knn", "ials", "ease", "popularity"])
def test_chunked_scoring_equals_one_shot(name):
    from movie_recommender.recsys.models import make_model

    ratings = synthetic_ratings(80, 40, 1_500, seed=8, min_per_user=5)
    one = make_model(name, {"batch_size": 1000} if name in ("user_knn", "item_knn") else {}).fit(ratings)
    chunked = make_model(name, {}).fit(ratings)
    chunked.batch_size = 7
    pd.testing.assert_frame_equal(one.recommend_all(10), chunked.recommend_all(10))


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"centering": "mean", "pool": 12},
        {"centering": "baseline", "similarity": "pearson_baseline", "shrinkage": 100.0},
        {"ranking": "support", "neighbours": 5},
        {"similarity": "cosine_common", "min_support": 3, "amplify": 2.5, "pool": 20, "search": "svd", "search_dims": 8},
    ],
)
def test_user_knn_sparse_top_n_equals_dense_ranking(settings, monkeypatch):
    """recommend_all ranks user_knn's votes without a users x items array; the lists, ranks and scores
    are exactly those of ranking the dense scores (ties included: clipped estimates tie often)."""
    ratings = synthetic_ratings(150, 90, 4_000, seed=5, min_per_user=5)
    ratings["rating"] = np.ceil(ratings.rating)  # whole stars: many equal estimates
    model = UserKNN(**settings).fit(ratings)
    calls = []
    monkeypatch.setattr(model, "_rank_block", lambda rows: calls.append(rows) or UserKNN._rank_block(model, rows))
    sparse = model.recommend_all(10, progress=False)
    assert not calls  # the dense path was not used
    monkeypatch.setattr(model, "_top_block", lambda *args: None)
    dense = model.recommend_all(10, progress=False)
    assert calls
    pd.testing.assert_frame_equal(sparse, dense, check_exact=True)


def test_user_knn_predict_votes_on_the_asked_pairs_only():
    """predict lets the neighbours vote on the requested items only: the same estimates as the dense
    votes of every item (repeated pairs and unknown ids included), and support ranking (which only
    orders top-N lists) estimates ratings exactly as rating ranking does."""
    from movie_recommender.recsys import _knn_kernels as kernels

    ratings = synthetic_ratings(120, 60, 3_000, seed=6, min_per_user=5)
    rng = np.random.default_rng(1)
    users = rng.choice(np.append(ratings.userId.unique(), 10**6), 2_000)
    items = rng.choice(np.append(ratings.movieId.unique(), 10**6), 2_000)
    model = UserKNN(centering="baseline", pool=15).fit(ratings)
    model.batch_size = 11
    rows, cols = model._rows(users), model._cols(items)
    num, den = np.zeros(len(rows)), np.zeros(len(rows))
    res = model.residuals_
    for row in np.unique(rows[rows >= 0]):
        idx, sims, counts = model._neighbours(model.sim_values_[[row]], np.array([row]))
        row_num, row_den = kernels.vote(idx, sims, counts, 40, False, res.indptr, res.indices, res.data, res.shape[1], 1)
        pairs = np.flatnonzero((rows == row) & (cols >= 0))
        num[pairs], den[pairs] = row_num[0, cols[pairs]], row_den[0, cols[pairs]]
    expected = model._finish(num, den, model._pair_centres(rows, cols))
    np.testing.assert_array_equal(model.predict(users, items), expected)
    support = UserKNN(centering="baseline", pool=15, ranking="support").fit(ratings)
    np.testing.assert_array_equal(support.predict(users, items), expected)


def test_progress_bar_only_when_asked(capsys, monkeypatch):
    ratings = synthetic_ratings(50, 30, 800, seed=9, min_per_user=5)
    model = UserKNN().fit(ratings)
    model.recommend_all(5)
    assert capsys.readouterr().err == ""  # not a terminal: silent
    model.recommend_all(5, progress=True)
    err = capsys.readouterr().err
    assert "UserKNN top-5" in err and "50/50" in err
    monkeypatch.setenv("MOVIE_RECOMMENDER_PROGRESS", "1")
    model.recommend_all(5)
    assert "UserKNN top-5" in capsys.readouterr().err


def test_synthetic_shapes():
    users, items, n = RELEASE_SHAPES["ml-100k"]
    ratings = synthetic_ratings(users, items, n, seed=0)
    assert ratings.userId.nunique() == users and abs(len(ratings) - n) < 0.03 * n
    assert not ratings.duplicated(["userId", "movieId"]).any()
    counts = ratings.movieId.value_counts()
    assert counts.iloc[0] > 5 * counts.median()  # a long tail of movie popularity
