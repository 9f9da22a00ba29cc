"""EASE against the closed form computed directly with numpy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from movie_recommender.recsys import EASE
from movie_recommender.recsys.ease import ease_weights

# 4 users x 4 items, ids shuffled against positions
RATINGS = pd.DataFrame(
    {
        "userId": [1, 1, 1, 2, 2, 3, 3, 3, 4, 4],
        "movieId": [11, 12, 14, 12, 13, 11, 13, 14, 12, 14],
        "rating": [5.0, 3.0, 4.0, 2.0, 5.0, 4.0, 4.0, 1.0, 5.0, 3.0],
    }
)


def dense(weighting: str) -> np.ndarray:
    x = np.zeros((4, 4))
    for u, i, r in RATINGS.itertuples(index=False):
        x[u - 1, i - 11] = 1.0 if weighting == "binary" else r
    return x


def direct(x: np.ndarray, l2: float) -> np.ndarray:
    """Steck 2019, Algorithm 1, written out."""
    g = x.T @ x + l2 * np.eye(x.shape[1])
    p = np.linalg.inv(g)
    b = np.eye(x.shape[1]) - p / np.diag(p)
    np.fill_diagonal(b, 0.0)
    return b


@pytest.mark.parametrize(("weighting", "l2"), [("binary", 0.5), ("binary", 10.0), ("rating", 3.0)])
def test_weights_and_scores_equal_the_direct_formula(weighting, l2):
    model = EASE(l2=l2, weighting=weighting).fit(RATINGS)
    x = dense(weighting)
    b = direct(x, l2)
    assert np.allclose(model.weights_, b)
    assert np.allclose(np.diag(model.weights_), 0.0)
    users, items = np.repeat([1, 2, 3, 4], 4), np.tile([11, 12, 13, 14], 4)
    assert np.allclose(model.predict(users, items), (x @ b).ravel())


def test_weights_minimise_the_constrained_objective():
    """Each column of B solves the ridge regression of item j on the other items."""
    x, l2 = dense("binary"), 2.0
    b = ease_weights(x, l2)
    for j in range(4):
        others = [k for k in range(4) if k != j]
        a = x[:, others]
        ridge = np.linalg.solve(a.T @ a + l2 * np.eye(3), a.T @ x[:, j])
        assert np.allclose(b[others, j], ridge)


def test_recommend_ranks_unrated_items_by_score():
    model = EASE(l2=0.5).fit(RATINGS)
    x, b = dense("binary"), direct(dense("binary"), 0.5)
    scores = x[1] @ b  # user 2 rated 12, 13
    expected = [11 + j for j in sorted([0, 3], key=lambda j: -scores[j])]
    assert model.recommend(2, 5).movieId.tolist() == expected
    fold = model.recommend_new({12: 1.0, 13: 4.0}, 5)
    assert fold.movieId.tolist() == expected and np.allclose(fold.score, scores[np.array(expected) - 11])
