"""Small synthetic ratings and movies shared by the top-N model tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

GENRES = ["Action", "Comedy", "Drama", "Horror"]


def random_ratings(n_users=20, n_items=25, density=0.35, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    users, items = np.nonzero(rng.random((n_users, n_items)) < density)
    ratings = rng.integers(1, 6, len(users)).astype(float)
    # ids that are not 0..n-1, to catch id/position mix-ups
    return pd.DataFrame({"userId": users * 3 + 7, "movieId": items * 5 + 2, "rating": ratings})


def random_movies(n_items=25, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed + 100)
    genres = []
    for _ in range(n_items):
        picked = [g for g in GENRES if rng.random() < 0.35]
        genres.append("|".join(picked) if picked else "unknown")
    years = pd.array(rng.integers(1950, 2000, n_items), dtype="Int64")
    years[3] = pd.NA  # like MovieLens item 267: no year
    ids = np.arange(n_items) * 5 + 2
    return pd.DataFrame({"movieId": ids, "title": [f"m{i}" for i in ids], "year": years, "genres": genres})
