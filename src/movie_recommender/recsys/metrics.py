"""Accuracy, ranking and beyond-accuracy metrics: pure functions on numpy arrays and DataFrames.

Ranking metrics take

- ``recommendations``: a ``userId, rank, movieId`` table (as ``Recommender.recommend_all``
  returns; other columns are ignored). Each user's list is ordered by ``rank`` and only its
  first ``k`` entries count, at positions ``1..k``;
- ``test``: the held-out ``userId, movieId, rating`` table. A test rating is *relevant* when
  ``relevance_threshold`` is None (any held-out rating), else when ``rating >= relevance_threshold``.

Per-user values are averaged over the *evaluated users*: those with at least one relevant
test item. Users without a relevant item are left out (every metric would be 0 or undefined
for them); an evaluated user with no recommendations, or fewer than ``k``, simply has fewer
hits (precision still divides by ``k``). Recommendations for users outside the evaluated set
are ignored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .checks import check_count

USER, ITEM, RATING, RANK = "userId", "movieId", "rating", "rank"
RANKING_METRICS = ("precision", "recall", "ndcg", "map", "hit_rate")

__all__ = [
    "RANKING_METRICS",
    "catalog_coverage",
    "hit_rate_at_k",
    "mae",
    "map_at_k",
    "ndcg_at_k",
    "novelty",
    "precision_at_k",
    "ranking_metrics",
    "ranking_metrics_per_user",
    "recall_at_k",
    "rmse",
]


# ------------------------------------------------------------------ rating error
def _errors(y_true, y_pred) -> np.ndarray:
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same length, got {len(y_true)} and {len(y_pred)}.")
    if len(y_true) == 0:
        raise ValueError("y_true and y_pred are empty: there is nothing to score.")
    if not (np.isfinite(y_true).all() and np.isfinite(y_pred).all()):
        raise ValueError("y_true and y_pred must be finite numbers (found NaN or inf).")
    return y_pred - y_true


def rmse(y_true, y_pred) -> float:
    """Root mean squared error: ``sqrt(mean((y_pred - y_true) ** 2))`` over all pairs."""
    return float(np.sqrt(np.mean(np.square(_errors(y_true, y_pred)))))


def mae(y_true, y_pred) -> float:
    """Mean absolute error: ``mean(|y_pred - y_true|)`` over all pairs."""
    return float(np.mean(np.abs(_errors(y_true, y_pred))))


# ------------------------------------------------------------------------ ranking
def _columns(table: pd.DataFrame, name: str, columns: tuple[str, ...]) -> None:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(table).__name__}.")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{name} lack the column(s) {missing}; expected {', '.join(columns)}.")


def _relevant(test: pd.DataFrame, relevance_threshold: float | None) -> pd.DataFrame:
    if relevance_threshold is None:
        _columns(test, "test", (USER, ITEM))
        relevant = test
    else:
        _columns(test, "test", (USER, ITEM, RATING))
        if isinstance(relevance_threshold, bool) or not np.isfinite(relevance_threshold):
            raise ValueError(f"relevance_threshold must be a finite number or None, got {relevance_threshold!r}.")
        relevant = test[test[RATING].to_numpy() >= relevance_threshold]
    return relevant[[USER, ITEM]].drop_duplicates()


def _top_k(recommendations: pd.DataFrame, k: int) -> pd.DataFrame:
    """The first ``k`` items of each user's list, with their position 1..k in ``pos``."""
    _columns(recommendations, "recommendations", (USER, RANK, ITEM))
    recs = recommendations[[USER, RANK, ITEM]].sort_values([USER, RANK], kind="stable")
    recs = recs.assign(pos=recs.groupby(USER, sort=False).cumcount().to_numpy() + 1)
    recs = recs[recs["pos"].to_numpy() <= k]
    if recs.duplicated([USER, ITEM]).any():
        raise ValueError("recommendations list the same movie twice for one user; each list must be distinct items.")
    return recs


def ranking_metrics_per_user(
    recommendations: pd.DataFrame, test: pd.DataFrame, k: int = 10, relevance_threshold: float | None = None
) -> pd.DataFrame:
    """Per evaluated user (index ``userId``): ``n_relevant``, ``hits`` and the five top-K metrics.

    With ``rel_u`` the user's relevant test items, ``R = min(|rel_u|, k)``, and the hits the
    positions ``p`` (1..k) of their top-k list that hold a relevant item:

    - ``precision = hits / k``
    - ``recall = hits / |rel_u|``
    - ``ndcg = DCG / IDCG`` with ``DCG = sum over hits of 1 / log2(p + 1)`` (binary gains) and
      ``IDCG = sum_{i=1..R} 1 / log2(i + 1)`` (all of the first R positions hit)
    - ``map`` (average precision) ``= sum over hits of (hits at positions <= p) / p, divided by R``
    - ``hit_rate = 1 if hits >= 1 else 0``

    Users are those with at least one relevant test item, sorted by id.
    """
    k = check_count("k", k)
    relevant = _relevant(test, relevance_threshold)
    recs = _top_k(recommendations, k)
    n_relevant = relevant.groupby(USER).size().rename("n_relevant")
    hits = recs.merge(relevant, on=[USER, ITEM], how="inner").sort_values([USER, "pos"], kind="stable")
    pos = hits["pos"].to_numpy(dtype=np.float64)
    hit_number = hits.groupby(USER, sort=False).cumcount().to_numpy() + 1  # 1st, 2nd, ... hit of the user
    per_hit = pd.DataFrame(
        {USER: hits[USER].to_numpy(), "hits": 1.0, "dcg": 1.0 / np.log2(pos + 1), "ap": hit_number / pos}
    )
    sums = per_hit.groupby(USER).sum().reindex(n_relevant.index, fill_value=0.0)
    n_rel = n_relevant.to_numpy()
    cut = np.minimum(n_rel, k)
    ideal = np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))  # ideal[i - 1] = IDCG with i hits
    result = pd.DataFrame(
        {
            "n_relevant": n_rel,
            "hits": sums["hits"].to_numpy().astype(np.int64),
            "precision": sums["hits"].to_numpy() / k,
            "recall": sums["hits"].to_numpy() / n_rel,
            "ndcg": sums["dcg"].to_numpy() / ideal[cut - 1],
            "map": sums["ap"].to_numpy() / cut,
            "hit_rate": (sums["hits"].to_numpy() > 0).astype(np.float64),
        },
        index=n_relevant.index,
    )
    return result


def ranking_metrics(
    recommendations: pd.DataFrame, test: pd.DataFrame, k: int = 10, relevance_threshold: float | None = None
) -> dict[str, float]:
    """All five top-K metrics averaged over the evaluated users, as ``{"precision@k": ..., ...}``.

    Also ``n_users`` (the number of evaluated users). Metrics are NaN when no test user has a
    relevant item. Definitions: :func:`ranking_metrics_per_user`.
    """
    per_user = ranking_metrics_per_user(recommendations, test, k, relevance_threshold)
    out = {f"{name}@{k}": float(per_user[name].mean()) if len(per_user) else float("nan") for name in RANKING_METRICS}
    out["n_users"] = len(per_user)
    return out


def _mean_metric(name, recommendations, test, k, relevance_threshold) -> float:
    return ranking_metrics(recommendations, test, k, relevance_threshold)[f"{name}@{k}"]


def precision_at_k(recommendations, test, k: int = 10, relevance_threshold: float | None = None) -> float:
    """Mean over evaluated users of ``hits / k`` (hits: relevant items among the user's top k)."""
    return _mean_metric("precision", recommendations, test, k, relevance_threshold)


def recall_at_k(recommendations, test, k: int = 10, relevance_threshold: float | None = None) -> float:
    """Mean over evaluated users of ``hits / |relevant items of the user|``."""
    return _mean_metric("recall", recommendations, test, k, relevance_threshold)


def ndcg_at_k(recommendations, test, k: int = 10, relevance_threshold: float | None = None) -> float:
    """Mean over evaluated users of ``DCG / IDCG``: binary gains, ``1/log2(position + 1)`` discount.

    IDCG places ``min(|relevant|, k)`` hits at positions 1, 2, ...
    """
    return _mean_metric("ndcg", recommendations, test, k, relevance_threshold)


def map_at_k(recommendations, test, k: int = 10, relevance_threshold: float | None = None) -> float:
    """Mean over evaluated users of AP@k: precision at each hit's position, summed, ``/ min(|relevant|, k)``."""
    return _mean_metric("map", recommendations, test, k, relevance_threshold)


def hit_rate_at_k(recommendations, test, k: int = 10, relevance_threshold: float | None = None) -> float:
    """Share of evaluated users with at least one relevant item in their top k."""
    return _mean_metric("hit_rate", recommendations, test, k, relevance_threshold)


# ---------------------------------------------------------------- beyond accuracy
def catalog_coverage(recommendations: pd.DataFrame, n_items: int) -> float:
    """Share of the catalog recommended to at least one user: ``distinct recommended movieIds / n_items``.

    ``n_items`` is the catalog size (e.g. all movies, or all items in the training data);
    pass recommendations already cut to the top k.
    """
    n_items = check_count("n_items", n_items)
    _columns(recommendations, "recommendations", (ITEM,))
    distinct = recommendations[ITEM].nunique()
    if distinct > n_items:
        raise ValueError(f"{distinct} distinct movies are recommended but n_items is {n_items}: pass the catalog size.")
    return distinct / n_items


def novelty(recommendations: pd.DataFrame, train: pd.DataFrame) -> float:
    """Mean self-information of the recommended items, in bits.

    ``pop(i) = |users who rated i in train| / |users in train|`` and the novelty of item ``i``
    is ``-log2(pop(i))``: 0 for an item everyone rated, ``log2(|users|)`` for an item one user
    rated. The result is the mean over all recommended (user, item) rows, so each user's list
    weighs by its length. An item nobody rated in train is counted as rated by one user
    (the largest novelty), so the value stays finite. NaN when there are no recommendations.
    """
    _columns(recommendations, "recommendations", (ITEM,))
    _columns(train, "train", (USER, ITEM))
    if train.empty:
        raise ValueError("train is empty: item popularity is undefined.")
    if recommendations.empty:
        return float("nan")
    n_users = train[USER].nunique()
    raters = train[[USER, ITEM]].drop_duplicates().groupby(ITEM).size()
    counts = raters.reindex(recommendations[ITEM].to_numpy()).fillna(1).to_numpy(dtype=np.float64)
    return float(np.mean(-np.log2(counts / n_users)))
