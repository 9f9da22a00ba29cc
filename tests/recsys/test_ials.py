"""IALS: the fitted factors satisfy the weighted least-squares normal equations, computed densely."""

from __future__ import annotations

import numpy as np
import pytest

from movie_recommender.recsys import IALS

from .topn_data import random_ratings


@pytest.mark.parametrize("confidence", ["binary", "rating"])
def test_factors_solve_the_normal_equations(confidence):
    ratings = random_ratings(n_users=8, n_items=10, density=0.4, seed=2)
    model = IALS(n_factors=3, n_epochs=4, reg=0.7, alpha=2.0, confidence=confidence).fit(ratings)
    r = model.ratings_.toarray()
    p = (r != 0).astype(float)
    c = 1.0 + 2.0 * (p if confidence == "binary" else r)
    x, y = model.user_factors_, model.item_factors_
    for u in range(len(x)):  # users: exact least squares against the final items
        a = y.T @ (c[u, :, None] * y) + 0.7 * np.eye(3)
        assert np.allclose(a @ x[u], y.T @ (c[u] * p[u]))
    n_users, n_items = r.shape
    scores = model.predict(np.repeat(model.user_ids_, n_items), np.tile(model.item_ids_, n_users))
    assert np.allclose(scores, (x @ y.T).ravel())


def test_seed_changes_factors_not_quality_of_fit():
    ratings = random_ratings()
    a = IALS(n_factors=4, seed=1).fit(ratings)
    b = IALS(n_factors=4, seed=1).fit(ratings)
    c = IALS(n_factors=4, seed=2).fit(ratings)
    assert np.array_equal(a.user_factors_, b.user_factors_)
    assert not np.allclose(a.user_factors_, c.user_factors_)
