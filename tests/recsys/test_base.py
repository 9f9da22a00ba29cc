"""The ranking rules every model shares (recsys.base.Recommender)."""

import numpy as np
import pandas as pd
import pytest

from movie_recommender.recsys import Bias


def test_equal_scores_go_to_the_more_rated_movie_then_the_smaller_id():
    """Equal estimates: the movie with more training ratings comes first, then the smaller id."""
    rows = [(1, 10, 5.0)]  # user 1 rated only movie 10
    rows += [(u, m, r) for u in range(2, 6) for m, r in ((30, 5.0), (50, 1.0))]  # movie 30: four ratings of 5
    rows += [(u, m, 5.0) for u in (2, 3) for m in (20, 40)]  # movies 20 and 40: two ratings of 5 each
    rows += [(u, m, 5.0) for u in (4, 5) for m in (60, 70)]  # ... as 60 and 70: users 2-5 rate alike
    ratings = pd.DataFrame(rows, columns=["userId", "movieId", "rating"])
    model = Bias(reg_user=0.0, reg_item=0.0).fit(ratings)
    raw, _ = model._rank_block(np.array([0]))
    assert len(set(raw[0, model._cols([20, 30, 40, 60, 70])])) == 1  # a genuine tie
    assert list(model.recommend(1, 3).movieId) == [30, 20, 40]


def test_rating_models_rank_on_the_unclipped_estimate_and_report_it_clipped():
    """Two movies above the top of the scale both report 5, but the higher estimate ranks first."""
    rows = [(1, 50, 4.0)]  # user 1 likes the movie everybody else rates 1: a large user offset
    rows += [(u, 20, 5.0) for u in range(2, 8)]  # movie 20: always 5
    rows += [(u, 30, 4.5 if u == 2 else 5.0) for u in range(2, 8)]  # movie 30: nearly always 5
    rows += [(u, 50, 1.0) for u in range(2, 8)]
    ratings = pd.DataFrame(rows, columns=["userId", "movieId", "rating"])
    model = Bias(reg_user=0.0, reg_item=0.0).fit(ratings)
    raw, _ = model._rank_block(np.array([0]))
    assert raw[0, model._cols([20])[0]] > raw[0, model._cols([30])[0]] > 5.0
    top = model.recommend(1, 2)
    assert list(top.movieId) == [20, 30] and list(top.score) == [5.0, 5.0]
    assert list(model.predict([1, 1], [20, 30])) == [5.0, 5.0]


def _kept_cells_numpy(scores, n):
    """The NumPy definition the compiled ``kept_cells`` replaces."""
    finite = np.isfinite(scores)
    if scores.shape[1] > n:
        kth = np.partition(np.where(finite, scores, -np.inf), scores.shape[1] - n, axis=1)[:, scores.shape[1] - n, None]
        finite &= scores >= kth
    return np.nonzero(finite)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [1, 3, 10, 39, 40, 41])
def test_kept_cells_is_the_numpy_threshold(dtype, n):
    """Every finite score at or above each row's n-th best, ties included, NaN and +-inf never kept."""
    from movie_recommender.recsys._rank_kernels import kept_cells

    rng = np.random.default_rng(n)
    scores = rng.integers(0, 6, (50, 40)).astype(dtype)  # many ties
    scores[rng.random(scores.shape) < 0.1] = np.nan
    scores[rng.random(scores.shape) < 0.05] = -np.inf
    scores[rng.random(scores.shape) < 0.02] = np.inf
    scores[3] = np.nan  # a row with nothing to keep
    scores[4, :-2] = -np.inf  # and one with fewer finite scores than n
    rows, cols = kept_cells(scores, n)
    want_rows, want_cols = _kept_cells_numpy(scores, n)
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_array_equal(cols, want_cols)
