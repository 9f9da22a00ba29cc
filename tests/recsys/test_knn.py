"""UserKNN against a plain-loop implementation of the same definition, plus its contract."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from movie_recommender.recsys import UnknownUserError, UserKNN


def random_ratings(n_users=25, n_items=30, density=0.4, seed=0, integer=False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    users, items = np.nonzero(rng.random((n_users, n_items)) < density)
    ratings = rng.integers(1, 6, len(users)).astype(float) if integer else rng.uniform(1, 5, len(users))
    # ids that are not 0..n-1, to catch id/position mix-ups
    return pd.DataFrame({"userId": users * 3 + 7, "movieId": items * 5 + 2, "rating": ratings})


def loop_similarity(ratings: pd.DataFrame, u, v, similarity: str, min_support: int) -> float:
    ru = dict(ratings.loc[ratings.userId == u, ["movieId", "rating"]].itertuples(index=False))
    rv = dict(ratings.loc[ratings.userId == v, ["movieId", "rating"]].itertuples(index=False))
    common = set(ru) & set(rv)
    if u == v or len(common) < min_support or not common:
        return 0.0
    dot = sum(ru[i] * rv[i] for i in common)
    if similarity == "cosine":
        return dot / (np.sqrt(sum(x * x for x in ru.values())) * np.sqrt(sum(x * x for x in rv.values())))
    return dot / (np.sqrt(sum(ru[i] ** 2 for i in common)) * np.sqrt(sum(rv[i] ** 2 for i in common)))


def loop_predict(ratings: pd.DataFrame, u, i, k: int, similarity: str, min_support: int = 1) -> float:
    """Textbook user-KNN: the k most similar raters of i vote, weighted by positive similarity."""
    mean, low, high = ratings.rating.mean(), ratings.rating.min(), ratings.rating.max()
    raters = ratings[(ratings.movieId == i) & (ratings.userId != u)].sort_values("userId")
    if u not in set(ratings.userId) or raters.empty:
        return mean
    sims = [(loop_similarity(ratings, u, v, similarity, min_support), r) for v, r in zip(raters.userId, raters.rating)]
    top = sorted(sims, key=lambda t: -t[0])[:k]  # stable: ties go to smaller user ids
    num = sum(s * r for s, r in top if s > 0)
    den = sum(s for s, _ in top if s > 0)
    return float(np.clip(num / den, low, high)) if den > 0 else mean


def test_tied_similarities_vote_in_user_order():
    """Users with identical rating rows tie exactly: the ones with smaller ids vote first."""
    rows = [(u, i, r) for u in (1, 2, 3) for i, r in ((10, 5.0), (11, 3.0))]  # three identical users
    rows += [(2, 12, 1.0), (3, 12, 5.0), (4, 10, 4.0), (4, 11, 2.0), (4, 12, 2.0)]
    ratings = pd.DataFrame(rows, columns=["userId", "movieId", "rating"])
    # user 1's nearest raters of movie 12: users 2 and 3 are equally similar, so with k = 1 user 2 votes
    model = UserKNN(neighbours=1, similarity="cosine_common").fit(ratings)
    assert model.predict([1], [12])[0] == pytest.approx(1.0)
    assert UserKNN(neighbours=2, similarity="cosine_common").fit(ratings).predict([1], [12])[0] == pytest.approx(3.0)


@pytest.mark.parametrize("similarity", ["cosine", "cosine_common"])
@pytest.mark.parametrize("k", [1, 3, 50])
def test_predict_equals_plain_loop(similarity, k):
    ratings = random_ratings(seed=k)
    model = UserKNN(neighbours=k, similarity=similarity, batch_size=4).fit(ratings)
    users = np.repeat(ratings.userId.unique()[:8], 6)
    items = np.tile(ratings.movieId.unique()[:6], 8)
    expected = [loop_predict(ratings, u, i, k, similarity) for u, i in zip(users, items)]
    np.testing.assert_allclose(model.predict(users, items), expected, rtol=1e-9)


def test_min_support_equals_plain_loop():
    ratings = random_ratings(density=0.3, seed=5)
    model = UserKNN(neighbours=5, similarity="cosine_common", min_support=3).fit(ratings)
    users, items = ratings.userId.to_numpy()[:40], ratings.movieId.to_numpy()[::-1][:40]
    expected = [loop_predict(ratings, u, i, 5, "cosine_common", 3) for u, i in zip(users, items)]
    np.testing.assert_allclose(model.predict(users, items), expected, rtol=1e-9)


def test_recommend_scores_are_predictions_of_unrated_items_ranked():
    ratings = random_ratings(seed=3)
    model = UserKNN(neighbours=4).fit(ratings)
    user = ratings.userId.iloc[0]
    top = model.recommend(user, n=5)
    assert list(top.columns) == ["rank", "movieId", "score"]
    assert list(top["rank"]) == [1, 2, 3, 4, 5]
    assert not set(top.movieId) & set(ratings.movieId[ratings.userId == user])
    np.testing.assert_allclose(top.score, model.predict(np.full(5, user), top.movieId))
    assert top.score.is_monotonic_decreasing
    unrated = sorted(set(ratings.movieId) - set(ratings.movieId[ratings.userId == user]))
    best = max(model.predict(np.full(len(unrated), user), unrated))
    assert top.score.iloc[0] == pytest.approx(best)


def test_recommend_breaks_ties_by_support_then_item_id():
    # User 1 shares item 1 with users 2 and 3. User 3 rated items 11 and 10 the same
    # (equal score, equal support): the smaller id comes first. User 2 and 3 both rated
    # item 12 with 5 stars: same score as 10/11 but twice the support, so it leads.
    ratings = pd.DataFrame(
        {
            "userId": [1, 2, 3, 2, 3, 3, 3],
            "movieId": [1, 1, 1, 12, 12, 11, 10],
            "rating": [5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0],
        }
    )
    top = UserKNN(neighbours=5).fit(ratings).recommend(1, n=3)
    assert list(top.movieId) == [12, 10, 11]


def test_recommend_all_matches_recommend_and_is_deterministic():
    ratings = random_ratings(n_users=40, seed=8, integer=True)
    model = UserKNN(neighbours=5, batch_size=7).fit(ratings)
    everyone = model.recommend_all(4)
    assert list(everyone.columns) == ["userId", "rank", "movieId", "score"]
    assert everyone.userId.nunique() == ratings.userId.nunique()
    for user in ratings.userId.unique()[:5]:
        single = model.recommend(user, 4)
        pd.testing.assert_frame_equal(
            everyone[everyone.userId == user].drop(columns="userId").reset_index(drop=True), single
        )
    pd.testing.assert_frame_equal(everyone, UserKNN(neighbours=5).fit(ratings).recommend_all(4))
    seen = set(zip(ratings.userId, ratings.movieId))
    assert not any(pair in seen for pair in zip(everyone.userId, everyone.movieId))


def test_recommend_all_for_no_users():
    model = UserKNN().fit(random_ratings())
    assert list(model.recommend_all(3, users=[]).columns) == ["userId", "rank", "movieId", "score"]
    assert model.recommend_all(3, users=[]).empty


def test_fewer_candidates_than_n():
    ratings = pd.DataFrame({"userId": [1, 2, 2], "movieId": [1, 1, 2], "rating": [4.0, 4.0, 3.0]})
    top = UserKNN().fit(ratings).recommend(1, n=10)
    assert list(top.movieId) == [2]


def test_unknown_user_and_item_fallbacks():
    ratings = random_ratings(seed=1)
    model = UserKNN().fit(ratings)
    estimates = model.predict([-1, ratings.userId.iloc[0]], [ratings.movieId.iloc[0], -5])
    np.testing.assert_allclose(estimates, ratings.rating.mean())
    with pytest.raises(UnknownUserError, match="user.*-1.*no ratings"):
        model.recommend(-1, 3)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"neighbours": 0}, "neighbours must be a whole number >= 1"),
        ({"neighbours": 2.5}, "neighbours must be a whole number"),
        ({"similarity": "jaccard"}, "similarity must be one of"),
        ({"amplify": 0}, "amplify must be a number > 0"),
        ({"min_support": True}, "min_support must be a whole number"),
    ],
)
def test_bad_hyper_parameters(params, message):
    with pytest.raises(ValueError, match=message):
        UserKNN(**params).fit(random_ratings())


def test_bad_inputs():
    with pytest.raises(ValueError, match="lack the column"):
        UserKNN().fit(pd.DataFrame({"userId": [1], "movieId": [1]}))
    with pytest.raises(ValueError, match="same \\(user, item\\) pair"):
        UserKNN().fit(pd.DataFrame({"userId": [1, 1], "movieId": [1, 1], "rating": [3, 4]}))
    with pytest.raises(ValueError, match="empty"):
        UserKNN().fit(pd.DataFrame({"userId": [], "movieId": [], "rating": []}))
    with pytest.raises(ValueError, match="non-numeric values in the rating column"):
        UserKNN().fit(pd.DataFrame({"userId": [1, 2], "movieId": [1, 1], "rating": [3, "x"]}))
    with pytest.raises(ValueError, match="missing userId or movieId"):
        UserKNN().fit(pd.DataFrame({"userId": [1, None], "movieId": [1, 1], "rating": [3, 4]}))
    with pytest.raises(RuntimeError, match="not fitted"):
        UserKNN().predict([1], [1])
    model = UserKNN().fit(random_ratings())
    with pytest.raises(ValueError, match="n must be a whole number"):
        model.recommend(7, 0)
    with pytest.raises(ValueError, match="equal length"):
        model.predict([7, 10], [2])


def test_fit_returns_self_keeps_sparse_state_and_pickles():
    ratings = random_ratings()
    model = UserKNN(neighbours=3)
    assert model.fit(ratings) is model
    assert model.ratings_.format == "csr"
    assert model.ratings_.nnz == len(ratings)
    clone = pickle.loads(pickle.dumps(model))
    pd.testing.assert_frame_equal(clone.recommend(7, 3), model.recommend(7, 3))


def test_similarity_blocks_are_bounded(monkeypatch):
    """Blocks hold batch_size users x all users, never users x users at once."""
    ratings = random_ratings(n_users=30)
    model = UserKNN(batch_size=4).fit(ratings)
    shapes = []
    original = UserKNN._neighbours
    monkeypatch.setattr(
        UserKNN,
        "_neighbours",
        lambda self, block, rows=None: shapes.append(block.shape[0]) or original(self, block, rows),
    )
    model.recommend_all(3)
    assert max(shapes) == 4 and sum(shapes) == 30


def test_fold_in_of_a_training_user_equals_their_recommendations():
    """A new user with exactly the ratings of a training user gets what that user gets, minus themself."""
    ratings = random_ratings(seed=3)
    user = 10
    own = ratings[ratings.userId == user]
    others = ratings[ratings.userId != user]
    fitted_without = UserKNN(neighbours=5).fit(others)
    folded = fitted_without.recommend_new(dict(zip(own.movieId, own.rating)), 5)
    refit = UserKNN(neighbours=5).fit(ratings).recommend(user, 5)
    pd.testing.assert_frame_equal(folded, refit)


def test_fold_in_ignores_unknown_items_and_needs_one_known():
    from movie_recommender.recsys import NoUsableRatingsError

    model = UserKNN().fit(random_ratings())
    with pytest.raises(NoUsableRatingsError, match="none of the rated movies"):
        model.recommend_new({999999: 5.0}, 3)
    top = model.recommend_new({2: 5.0, 999999: 1.0}, 3)
    assert 2 not in set(top.movieId) and len(top) == 3


def loop_centred_predict(ratings: pd.DataFrame, u, i, k: int, centre, sim) -> float:
    """User-KNN on residuals: c_ui + weighted mean of the k most similar raters' r_vi - c_vi."""
    raters = ratings[(ratings.movieId == i) & (ratings.userId != u)].sort_values("userId")
    sims = [(sim(u, v), r - centre(v, i)) for v, r in zip(raters.userId, raters.rating)]
    top = [(s, z) for s, z in sorted(sims, key=lambda t: -t[0])[:k] if s > 0]
    den = sum(s for s, _ in top)
    est = centre(u, i) + (sum(s * z for s, z in top) / den if den > 0 else 0.0)
    return float(np.clip(est, ratings.rating.min(), ratings.rating.max()))


def loop_residual_similarity(ratings: pd.DataFrame, u, v, centre, shrinkage: float = 0.0) -> float:
    ru = {
        i: r - centre(u, i) for i, r in ratings.loc[ratings.userId == u, ["movieId", "rating"]].itertuples(index=False)
    }
    rv = {
        i: r - centre(v, i) for i, r in ratings.loc[ratings.userId == v, ["movieId", "rating"]].itertuples(index=False)
    }
    common = sorted(set(ru) & set(rv))
    if u == v or not common:
        return 0.0
    den = np.sqrt(sum(ru[i] ** 2 for i in common) * sum(rv[i] ** 2 for i in common))
    sim = sum(ru[i] * rv[i] for i in common) / den if den > 0 else 0.0
    return sim * (len(common) - 1) / (len(common) - 1 + shrinkage) if shrinkage else sim


def test_mean_centred_pearson_equals_plain_loop():
    ratings = random_ratings(seed=11)
    model = UserKNN(neighbours=4, similarity="pearson", centering="mean").fit(ratings)
    means = ratings.groupby("userId").rating.mean()

    def centre(v, _i):
        return means[v]

    def sim(u, v):
        return loop_residual_similarity(ratings, u, v, centre)

    users = np.repeat(ratings.userId.unique()[:6], 5)
    items = np.tile(ratings.movieId.unique()[:5], 6)
    expected = [loop_centred_predict(ratings, u, i, 4, centre, sim) for u, i in zip(users, items)]
    np.testing.assert_allclose(model.predict(users, items), expected, rtol=1e-9)


def test_mean_centred_cosine_equals_plain_loop():
    ratings = random_ratings(seed=12)
    model = UserKNN(neighbours=3, similarity="cosine_common", centering="mean").fit(ratings)
    means = ratings.groupby("userId").rating.mean()

    def sim(u, v):
        return loop_similarity(ratings, u, v, "cosine_common", 1)

    users = np.repeat(ratings.userId.unique()[:6], 5)
    items = np.tile(ratings.movieId.unique()[:5], 6)
    expected = [loop_centred_predict(ratings, u, i, 3, lambda v, _i: means[v], sim) for u, i in zip(users, items)]
    np.testing.assert_allclose(model.predict(users, items), expected, rtol=1e-9)


def test_baseline_centred_pearson_baseline_shrunk_equals_plain_loop():
    from .test_models import loop_baseline

    ratings = random_ratings(n_users=15, n_items=12, seed=13)
    model = UserKNN(neighbours=3, similarity="pearson_baseline", centering="baseline", shrinkage=4.0).fit(ratings)
    mu, bu, bi = loop_baseline(ratings, 15.0, 10.0, 10)

    def centre(v, i):
        return mu + bu[v] + bi[i]

    def sim(u, v):
        return loop_residual_similarity(ratings, u, v, centre, 4.0)

    users = np.repeat(ratings.userId.unique()[:5], 5)
    items = np.tile(ratings.movieId.unique()[:5], 5)
    expected = [loop_centred_predict(ratings, u, i, 3, centre, sim) for u, i in zip(users, items)]
    np.testing.assert_allclose(model.predict(users, items), expected, rtol=1e-9)


@pytest.mark.parametrize("amplify", [1.0, 2.5])
def test_support_ranking_equals_plain_loop(amplify):
    """Top-N by the summed (amplified) similarity of the user's k nearest neighbours who rated each item."""
    ratings = random_ratings(seed=14, integer=True)
    k = 4
    model = UserKNN(neighbours=k, ranking="support", amplify=amplify).fit(ratings)
    user = ratings.userId.iloc[0]
    others = sorted(set(ratings.userId) - {user})
    sims = {v: loop_similarity(ratings, user, v, "cosine", 1) ** amplify for v in others}
    nearest = sorted(others, key=lambda v: -sims[v])[:k]
    own = set(ratings.movieId[ratings.userId == user])
    score: dict = {}
    for v in nearest:
        for i in ratings.movieId[ratings.userId == v]:
            if i not in own and sims[v] > 0:
                score[i] = score.get(i, 0.0) + sims[v]
    count = ratings.movieId.value_counts()
    best = sorted(score, key=lambda i: (-score[i], -count[i], i))[:5]  # ties: more-rated, then smaller id
    top = model.recommend(user, 5)
    assert list(top.movieId) == best
    np.testing.assert_allclose(top.score, [score[i] for i in best])
    # fold-in of the same ratings without the user gives the same list
    folded = UserKNN(neighbours=k, ranking="support", amplify=amplify).fit(ratings[ratings.userId != user])
    new = folded.recommend_new(
        dict(zip(ratings.movieId[ratings.userId == user], ratings.rating[ratings.userId == user])), 5
    )
    assert list(new.movieId) == best


@pytest.mark.parametrize("similarity", ["cosine", "cosine_common", "pearson", "pearson_baseline"])
@pytest.mark.parametrize("centering", ["none", "mean", "baseline"])
@pytest.mark.parametrize("ranking", ["rating", "support"])
@pytest.mark.parametrize("search", ["exact", "svd"])
def test_fold_in_from_the_votes_equals_the_dense_ranking(similarity, centering, ranking, search):
    """The fold-in ranks from the neighbours' votes in the calling thread (``_top_new``): the very lists and
    scores of the dense path (``_rank_vector`` + ``_top``), ties included (integer ratings)."""
    ratings = random_ratings(n_users=60, n_items=40, density=0.3, seed=7, integer=True)
    model = UserKNN(neighbours=4, similarity=similarity, centering=centering, ranking=ranking, search=search,
                    pool=8 if search == "svd" else None, search_dims=6, shrinkage=2.0).fit(ratings)  # fmt: skip
    assert model.search_ == search
    rng = np.random.default_rng(1)
    counts = model._item_popularity()[0]
    for _ in range(12):
        rated = rng.choice(model.item_ids_, rng.integers(1, 15), replace=False)
        row = model.fold_in_row(dict(zip(rated, rng.integers(1, 6, len(rated)).astype(float))))
        for n in (1, 5, len(model.item_ids_)):
            cols, scores = model._top_new(row, n, counts)
            want_cols, want_scores = model._top_new_dense(row, n, counts)
            np.testing.assert_array_equal(cols, want_cols)
            np.testing.assert_array_equal(scores, want_scores)


def test_fold_ins_count_the_ratings_of_each_movie_once_per_fit(monkeypatch):
    model = UserKNN(neighbours=5).fit(random_ratings())
    first = model.recommend_new({2: 5.0, 7: 3.0}, 4)
    counts = model._item_popularity()[0]
    counts[:] = -1  # a copy: the next caller gets the counts
    assert (model._item_popularity()[0] > 0).any() and (model._item_popularity()[0] >= 0).all()
    other = random_ratings(n_items=12, seed=5)
    assert len(UserKNN(neighbours=5).fit(other)._item_popularity()[0]) == 12
    assert len(model.fit(other)._item_popularity()[0]) == 12  # a refit counts its own ratings
    model.fit(random_ratings())
    model.recommend_new({2: 5.0}, 1)
    monkeypatch.setattr(type(model.ratings_), "getnnz", lambda *a, **k: pytest.fail("every rating counted again"))
    pd.testing.assert_frame_equal(model.recommend_new({2: 5.0, 7: 3.0}, 4), first)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("tile", [1, 7, 4096])
def test_svd_search_by_tiles_finds_the_nearest_users_in_the_embedding(threads, tile, monkeypatch):
    """The SVD search scores the block against a tile of users at a time and merges the tiles into heaps: the
    candidates are the ``width`` users nearest in the embedding (the user itself skipped), as one dense argsort
    finds them, whatever the tiles and however the rows are shared between threads."""
    from movie_recommender.recsys import knn

    model = UserKNN(neighbours=4, search="svd", pool=5, search_dims=6).fit(random_ratings(n_users=70, seed=3))
    monkeypatch.setattr(knn, "SEARCH_TILE", tile)
    rows = np.array([0, 5, 6, 40, 69, 12, 13])
    query = model.embedding_[rows]
    width = 20
    found = model._search(query, rows.astype(np.int64), width, threads)
    scores = query @ model.embedding_.T
    scores[np.arange(len(rows)), rows] = -np.inf
    for q in range(len(rows)):
        want = np.argsort(-scores[q], kind="stable")[:width]
        assert set(found[q].tolist()) == set(want.tolist())
    assert model._search(query[:0], rows[:0].astype(np.int64), width, threads).shape == (0, width)


def test_recommend_all_with_the_svd_search_does_not_depend_on_blocks_or_tiles(monkeypatch):
    from movie_recommender.recsys import knn

    ratings = random_ratings(n_users=90, n_items=40, density=0.3, seed=11)
    whole = UserKNN(neighbours=4, search="svd", pool=6, search_dims=8).fit(ratings).recommend_all(5)
    monkeypatch.setattr(knn, "SEARCH_TILE", 13)
    for batch_size in (1, 7, None):
        model = UserKNN(neighbours=4, search="svd", pool=6, search_dims=8, batch_size=batch_size).fit(ratings)
        pd.testing.assert_frame_equal(model.recommend_all(5), whole)
