"""Metrics on small hand-computed examples, edge cases, and against plain loops on random data."""

from __future__ import annotations

import time
from math import log2, sqrt

import numpy as np
import pandas as pd
import pytest

from movie_recommender.recsys import (
    catalog_coverage,
    hit_rate_at_k,
    mae,
    map_at_k,
    ndcg_at_k,
    novelty,
    precision_at_k,
    ranking_metrics,
    ranking_metrics_per_user,
    recall_at_k,
    rmse,
)


def test_rmse_and_mae():
    # errors 1, 0, 2: RMSE = sqrt((1 + 0 + 4) / 3), MAE = (1 + 0 + 2) / 3
    assert rmse([1, 2, 3], [2, 2, 5]) == pytest.approx(sqrt(5 / 3))
    assert mae(np.array([1, 2, 3]), pd.Series([2, 2, 5])) == pytest.approx(1.0)
    assert rmse([4.0], [4.0]) == 0.0


@pytest.mark.parametrize("fn", [rmse, mae])
def test_rating_errors_bad_input(fn):
    with pytest.raises(ValueError, match="same length"):
        fn([1, 2], [1])
    with pytest.raises(ValueError, match="empty"):
        fn([], [])
    with pytest.raises(ValueError, match="finite"):
        fn([1, np.nan], [1, 2])


# Lists (k = 3). Rows are shuffled on purpose: the rank column orders them.
RECS = pd.DataFrame(
    [
        (1, 2, 20),
        (1, 1, 10),
        (1, 4, 40),  # beyond k = 3: its hit must not count
        (1, 3, 30),
        (2, 1, 50),
        (2, 2, 10),  # user 2 gets only 2 recommendations
        (3, 1, 10),
        (3, 2, 20),
        (3, 3, 30),
        (5, 1, 10),  # user 5 has no test ratings: ignored
    ],
    columns=["userId", "rank", "movieId"],
)
TEST = pd.DataFrame(
    [
        (1, 10, 5),
        (1, 20, 2),
        (1, 30, 4),
        (1, 40, 5),
        (2, 10, 5),
        (3, 60, 1),
        (4, 70, 5),  # user 4 has no recommendations at all: counts as zero
    ],
    columns=["userId", "movieId", "rating"],
)
IDCG3 = 1 + 1 / log2(3) + 1 / log2(4)


def test_ranking_with_threshold():
    # threshold 4: relevant u1 {10, 30, 40}, u2 {10}, u3 none (excluded), u4 {70}
    # u1 top 3 = 10, 20, 30 -> hits at positions 1 and 3
    #   P = 2/3, R = 2/3, nDCG = (1/log2(2) + 1/log2(4)) / (1 + 1/log2(3) + 1/log2(4)), AP = (1/1 + 2/3) / 3
    # u2 top = 50, 10 -> hit at position 2
    #   P = 1/3, R = 1/1, nDCG = (1/log2(3)) / 1, AP = (1/2) / min(1, 3) = 1/2
    # u4 no recommendations: all 0
    per_user = ranking_metrics_per_user(RECS, TEST, k=3, relevance_threshold=4)
    assert per_user.index.tolist() == [1, 2, 4]
    assert per_user.n_relevant.tolist() == [3, 1, 1]
    assert per_user.hits.tolist() == [2, 1, 0]
    ndcg1 = (1 / log2(2) + 1 / log2(4)) / IDCG3
    np.testing.assert_allclose(per_user.ndcg, [ndcg1, 1 / log2(3), 0])
    np.testing.assert_allclose(per_user["map"], [(1 + 2 / 3) / 3, 0.5, 0])

    args = (RECS, TEST, 3, 4)
    assert precision_at_k(*args) == pytest.approx((2 / 3 + 1 / 3 + 0) / 3)
    assert recall_at_k(*args) == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert ndcg_at_k(*args) == pytest.approx((ndcg1 + 1 / log2(3) + 0) / 3)
    assert map_at_k(*args) == pytest.approx(((1 + 2 / 3) / 3 + 0.5 + 0) / 3)
    assert hit_rate_at_k(*args) == pytest.approx(2 / 3)


def test_ranking_any_rating_relevant():
    # threshold None: relevant u1 {10, 20, 30, 40}, u2 {10}, u3 {60}, u4 {70}
    # u1: hits at 1, 2, 3 -> P = 1, R = 3/4, nDCG = IDCG3 / IDCG3 = 1 (IDCG over min(4, 3) = 3), AP = 3/3 = 1
    # u2: as before -> P = 1/3, R = 1, nDCG = 1/log2(3), AP = 1/2; u3 and u4: 0
    result = ranking_metrics(RECS, TEST, k=3)
    assert result == pytest.approx(
        {
            "precision@3": (1 + 1 / 3) / 4,
            "recall@3": (3 / 4 + 1) / 4,
            "ndcg@3": (1 + 1 / log2(3)) / 4,
            "map@3": (1 + 0.5) / 4,
            "hit_rate@3": 2 / 4,
            "n_users": 4,
        }
    )


def test_k_larger_than_lists_and_k_one():
    # k = 1: u1 top = 10 (hit), u2 top = 50 (miss); threshold 4 -> users 1, 2, 4
    assert precision_at_k(RECS, TEST, 1, 4) == pytest.approx(1 / 3)
    assert ndcg_at_k(RECS, TEST, 1, 4) == pytest.approx(1 / 3)  # IDCG over min(|rel|, 1) = 1 position
    # k = 10: u1 hits at 1, 3, 4 of 3 relevant; P = 3/10, R = 1, AP = (1 + 2/3 + 3/4) / 3
    per_user = ranking_metrics_per_user(RECS, TEST, 10, 4)
    assert per_user.loc[1, "precision"] == pytest.approx(0.3)
    assert per_user.loc[1, "recall"] == pytest.approx(1.0)
    assert per_user.loc[1, "map"] == pytest.approx((1 + 2 / 3 + 3 / 4) / 3)
    assert per_user.loc[1, "ndcg"] == pytest.approx((1 + 1 / log2(4) + 1 / log2(5)) / IDCG3)


def test_no_relevant_items_gives_nan():
    result = ranking_metrics(RECS, TEST, k=3, relevance_threshold=6)
    assert result["n_users"] == 0 and np.isnan(result["ndcg@3"])


def test_ranking_bad_input():
    with pytest.raises(ValueError, match="k must be a whole number >= 1"):
        ranking_metrics(RECS, TEST, k=0)
    with pytest.raises(ValueError, match=r"recommendations lack the column\(s\) \['rank'\]"):
        ranking_metrics(RECS.drop(columns="rank"), TEST)
    with pytest.raises(ValueError, match="same movie twice"):
        ranking_metrics(pd.concat([RECS, RECS.head(1).assign(rank=9)]), TEST, k=10)
    with pytest.raises(ValueError, match="relevance_threshold"):
        ranking_metrics(RECS, TEST, relevance_threshold=float("nan"))


def loop_metrics(recs: pd.DataFrame, test: pd.DataFrame, k: int, threshold) -> dict[str, float]:
    """The textbook definitions, one user at a time."""
    rel_rows = test if threshold is None else test[test.rating >= threshold]
    values = {name: [] for name in ("precision", "recall", "ndcg", "map", "hit_rate")}
    for user, rows in rel_rows.groupby("userId"):
        relevant = set(rows.movieId)
        top = recs[recs.userId == user].sort_values("rank").movieId.tolist()[:k]
        gains = [1 if item in relevant else 0 for item in top]
        hits = sum(gains)
        cut = min(len(relevant), k)
        values["precision"].append(hits / k)
        values["recall"].append(hits / len(relevant))
        dcg = sum(g / log2(p + 2) for p, g in enumerate(gains))
        values["ndcg"].append(dcg / sum(1 / log2(p + 2) for p in range(cut)))
        values["map"].append(sum(sum(gains[: p + 1]) / (p + 1) for p, g in enumerate(gains) if g) / cut)
        values["hit_rate"].append(float(hits > 0))
    return {f"{name}@{k}": float(np.mean(v)) for name, v in values.items()}


@pytest.mark.parametrize("threshold", [None, 4])
def test_matches_loop_on_random_data(threshold):
    rng = np.random.default_rng(0)
    recs = pd.concat(
        pd.DataFrame({"userId": u, "rank": np.arange(1, n + 1), "movieId": rng.choice(40, n, replace=False)})
        for u, n in zip(range(30), rng.integers(0, 12, 30))
    )
    test = pd.concat(
        pd.DataFrame({"userId": u, "movieId": rng.choice(40, n, replace=False), "rating": rng.integers(1, 6, n)})
        for u, n in zip(range(5, 35), rng.integers(1, 15, 30))
    )
    result = ranking_metrics(recs, test, k=8, relevance_threshold=threshold)
    expected = loop_metrics(recs, test, 8, threshold)
    assert {key: result[key] for key in expected} == pytest.approx(expected)


def test_fast_on_movielens_sized_input():
    rng = np.random.default_rng(1)
    users = np.repeat(np.arange(1, 944), 10)
    recs = pd.DataFrame({"userId": users, "rank": np.tile(np.arange(1, 11), 943), "movieId": 0})
    recs["movieId"] = recs.groupby("userId").cumcount() * 100 + rng.integers(1, 100, len(recs))
    test = pd.DataFrame({"userId": rng.integers(1, 944, 25_000), "movieId": rng.integers(1, 1683, 25_000)})
    test = test.drop_duplicates().assign(rating=4)
    start = time.perf_counter()
    ranking_metrics(recs, test, k=10)
    assert time.perf_counter() - start < 1.0


def test_catalog_coverage():
    # distinct recommended movies: 10, 20, 30, 40, 50 -> 5 / 10
    assert catalog_coverage(RECS, 10) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="n_items is 3"):
        catalog_coverage(RECS, 3)
    with pytest.raises(ValueError, match="n_items must be"):
        catalog_coverage(RECS, 0)


def test_novelty():
    # 4 training users; movie 10 rated by all 4, 20 by 2, 30 by 1
    train = pd.DataFrame({"userId": [1, 2, 3, 4, 1, 2, 3], "movieId": [10, 10, 10, 10, 20, 20, 30], "rating": [5] * 7})
    recs = pd.DataFrame({"userId": [1, 1, 2], "rank": [1, 2, 1], "movieId": [10, 20, 30]})
    # -log2(4/4) = 0, -log2(2/4) = 1, -log2(1/4) = 2 -> mean (0 + 1 + 2) / 3 = 1
    assert novelty(recs, train) == pytest.approx(1.0)
    # a movie nobody rated counts as rated by one user: -log2(1/4) = 2
    assert novelty(recs.assign(movieId=[99, 99, 99]), train) == pytest.approx(2.0)
    assert np.isnan(novelty(recs.head(0), train))
