"""Baseline estimates: the global mean plus regularised user and item offsets.

``b_ui = mu + b_u + b_i`` is the rating predictor of Surprise's ``BaselineOnly`` and the
reference point that the baseline-centred neighbourhood models correct.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .base import Recommender
from .checks import check_count, check_number

__all__ = ["Bias", "baseline_offsets", "check_reg"]


def check_reg(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number >= 0, else raise ValueError naming it."""
    return check_number(name, value)


def baseline_offsets(
    ratings: sp.csr_matrix, mean: float, reg_user: float, reg_item: float, n_epochs: int
) -> tuple[np.ndarray, np.ndarray]:
    """User and item offsets ``(b_u, b_i)`` by alternating closed-form least squares.

    Minimises ``sum (r_ui - mean - b_u - b_i)^2 + reg_user * sum b_u^2 + reg_item * sum b_i^2``
    over the stored ratings, starting from zero and alternating, per epoch,
    ``b_i = sum_u (r_ui - mean - b_u) / (reg_item + n_i)`` then
    ``b_u = sum_i (r_ui - mean - b_i) / (reg_user + n_u)`` (Surprise's ALS baseline order).
    Every step is a sparse row or column sum: O(ratings) per epoch.
    """
    coo = ratings.tocoo()
    rows, cols, resid = coo.row, coo.col, coo.data - mean
    n_users, n_items = ratings.shape
    n_u = np.bincount(rows, minlength=n_users).astype(np.float64)
    n_i = np.bincount(cols, minlength=n_items).astype(np.float64)
    b_u, b_i = np.zeros(n_users), np.zeros(n_items)
    for _ in range(n_epochs):
        b_i = np.bincount(cols, resid - b_u[rows], minlength=n_items) / (reg_item + n_i + (n_i == 0))
        b_u = np.bincount(rows, resid - b_i[cols], minlength=n_users) / (reg_user + n_u + (n_u == 0))
    return b_u, b_i


def fold_in_user_bias(row: sp.csr_matrix, mean: float, item_bias: np.ndarray, reg_user: float) -> float:
    """The offset of a new user from their 1 x items rating row, item offsets held fixed."""
    return float((row.data - mean - item_bias[row.indices]).sum() / (reg_user + row.nnz))


class Bias(Recommender):
    """Baseline predictor: ``r_ui = mu + b_u + b_i`` (Surprise ``BaselineOnly`` with ALS).

    ``mu`` is the mean training rating; ``b_u`` and ``b_i`` minimise the squared error of the
    training ratings plus ``reg_user * sum b_u^2 + reg_item * sum b_i^2`` by ``n_epochs`` of
    alternating closed-form updates (see :func:`baseline_offsets`). Estimates are clipped to
    the training rating range.

    Fallbacks: an unseen user gets ``mu + b_i`` (item offset only), an unseen item
    ``mu + b_u`` (user offset only), and both unseen the global mean ``mu``.

    Ranking is by predicted rating, which for one user orders items by ``b_i``: every
    item the training data holds is a candidate (ties go to the smaller id). Fold-in solves
    the new user's ``b_u`` in closed form with the item offsets fixed.

    Attributes (after ``fit``): those of :class:`Recommender`, plus ``user_bias_`` and
    ``item_bias_``.

    Complexity: fit O(ratings x n_epochs); memory O(users + items); scoring a block of
    users O(block x items).
    """

    def __init__(self, reg_user: float = 15.0, reg_item: float = 10.0, n_epochs: int = 10) -> None:
        self.reg_user = reg_user
        self.reg_item = reg_item
        self.n_epochs = n_epochs

    def check_params(self) -> Bias:
        """Raise ValueError naming the first bad hyper-parameter; return self when all are valid."""
        check_reg("reg_user", self.reg_user)
        check_reg("reg_item", self.reg_item)
        check_count("n_epochs", self.n_epochs)
        return self

    def fit(self, ratings: pd.DataFrame, movies: pd.DataFrame | None = None) -> Bias:
        """Learn the offsets from a ``userId, movieId, rating`` table; returns self."""
        matrix = self._index(ratings)
        self.user_bias_, self.item_bias_ = baseline_offsets(
            matrix, self.global_mean_, float(self.reg_user), float(self.reg_item), int(self.n_epochs)
        )
        return self

    def _rank_block(self, rows: np.ndarray) -> tuple[np.ndarray, None]:
        est = self.global_mean_ + self.user_bias_[rows, None] + self.item_bias_[None, :]
        return est, None

    def _rank_vector(self, row: sp.csr_matrix) -> tuple[np.ndarray, None]:
        b_u = fold_in_user_bias(row, self.global_mean_, self.item_bias_, float(self.reg_user))
        return self.global_mean_ + b_u + self.item_bias_, None

    def _predict_pairs(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        est = np.full(len(rows), self.global_mean_)
        est += np.where(rows >= 0, self.user_bias_[np.maximum(rows, 0)], 0.0)
        est += np.where(cols >= 0, self.item_bias_[np.maximum(cols, 0)], 0.0)
        return self._clip(est)
