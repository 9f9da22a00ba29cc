"""Synthetic rating tables with the shapes of the MovieLens releases, for benchmarks and tests.

Movie popularity is Zipf-like (a few movies collect most ratings) and user activity lognormal
(most users rate a few dozen movies, a few rate thousands), as in the real releases. Ratings
carry a low-rank taste signal plus user and movie offsets, so that models have something to learn.
Nothing here reads or imitates MovieLens content; only the sizes are taken from it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .base import ITEM, RATING, USER

__all__ = ["RELEASE_SHAPES", "synthetic_ratings"]

#: (users, movies, ratings) of the MovieLens releases.
RELEASE_SHAPES = {
    "ml-100k": (943, 1_682, 100_000),
    "ml-1m": (6_040, 3_706, 1_000_209),
    "ml-10m": (69_878, 10_677, 10_000_054),
    "ml-20m": (138_493, 26_744, 20_000_263),
    "ml-25m": (162_541, 59_047, 25_000_095),
    "ml-32m": (200_948, 84_432, 32_000_204),
}


def synthetic_ratings(
    n_users: int, n_items: int, n_ratings: int, seed: int = 0, min_per_user: int = 20, factors: int = 8
) -> pd.DataFrame:
    """A ``userId, movieId, rating`` table of about ``n_ratings`` distinct pairs (half-star ratings 0.5-5).

    Every user rates at least ``min_per_user`` movies (capped at ``n_items``); ids start at 1.
    """
    rng = np.random.default_rng(seed)
    activity = rng.lognormal(mean=0.0, sigma=1.1, size=n_users)
    popularity = 1.0 / (np.arange(1, n_items + 1) + 50.0) ** 1.0
    popularity = rng.permutation(popularity / popularity.sum())  # popular ids spread over the range
    draws = float(n_ratings)
    for _ in range(3):  # repeated pairs are dropped: draw more until about n_ratings are left
        per_user = np.maximum(min_per_user, activity / activity.sum() * draws).astype(np.int64)
        per_user = np.minimum(per_user, max(1, n_items // 2))
        users = np.repeat(np.arange(n_users, dtype=np.int64), per_user)
        items = rng.choice(n_items, size=len(users), p=popularity).astype(np.int64)
        keys = np.unique(users * n_items + items)
        if len(keys) >= 0.98 * n_ratings:
            break
        draws *= n_ratings / len(keys)
    users, items = keys // n_items, keys % n_items
    user_f = rng.normal(size=(n_users, factors)).astype(np.float32)
    item_f = rng.normal(size=(n_items, factors)).astype(np.float32)
    user_b = rng.normal(scale=0.4, size=n_users)
    item_b = rng.normal(scale=0.5, size=n_items)
    taste = np.einsum("ij,ij->i", user_f[users], item_f[items]) / np.sqrt(factors)
    raw = 3.5 + user_b[users] + item_b[items] + 0.6 * taste + rng.normal(scale=0.6, size=len(users))
    ratings = np.clip(np.round(raw * 2) / 2, 0.5, 5.0)
    return pd.DataFrame({USER: users + 1, ITEM: items + 1, RATING: ratings})
