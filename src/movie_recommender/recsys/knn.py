"""User-user collaborative filtering (k nearest neighbours) on sparse rating matrices.

The ratings live in a ``scipy.sparse`` users x items matrix. Similarities are computed for
a block of users at a time against a tile of the others, every dense array capped at
``BLOCK_CELLS`` cells, so nothing dense grows with the number of users times items.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .base import BLOCK_CELLS, Recommender, UnknownUserError
from .checks import check_count

SIMILARITIES = ("cosine", "cosine_common")
__all__ = ["SIMILARITIES", "UnknownUserError", "UserKNN"]


def _weighted_top_k(sims: np.ndarray, values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``sims`` (rows x raters): sums of w*r and of w over the k most similar raters.

    ``w = max(sim, 0)``: only positively similar neighbours vote, as in Surprise's KNNBasic.
    Ties at the k-th similarity go to the raters that come first (smaller user ids), so the
    result never depends on how a partition happens to order equal values.
    """
    weights = np.maximum(sims, 0.0)
    if sims.shape[1] > k:
        kth = np.partition(sims, -k, axis=1)[:, -k, None]
        keep = sims >= kth
        tied = np.flatnonzero((keep.sum(axis=1) > k) & (kth[:, 0] > 0))
        if tied.size:  # more raters at the k-th similarity than places left: keep the first ones
            equal = sims[tied] == kth[tied]
            room = k - (sims[tied] > kth[tied]).sum(axis=1, keepdims=True)
            keep[tied] &= ~(equal & (np.cumsum(equal, axis=1) > room))
        weights *= keep
    return weights @ values, weights.sum(axis=1)


class UserKNN(Recommender):
    """User-based k-nearest-neighbour rating predictor and top-N recommender.

    The estimate of user ``u``'s rating of item ``i`` is the similarity-weighted mean of
    the ratings of ``i`` by the ``neighbours`` users most similar to ``u`` among those who
    rated ``i`` (only positive similarities count), clipped to the training rating range.
    Where no such neighbour exists, or the user or the item is unknown, the estimate
    falls back to the global mean rating (documented fallback, as in Surprise).

    Parameters:
        neighbours: k, the most neighbours that vote on one estimate.
        similarity: ``"cosine"`` over whole rating vectors (a missing rating counts as 0,
            so users who share few items are less similar), or ``"cosine_common"`` over the
            items both users rated (Surprise's ``cosine``).
        min_support: fewest co-rated items for two users to count as similar.
        batch_size: users per similarity block; ``None`` sizes each dense array to about 16 MB.

    ``recommend`` ranks a user's candidates (unrated items at least one positively similar
    neighbour rated) by estimate; ties go to more neighbour support (sum of similarities),
    then to the smaller item id.

    Attributes (after ``fit``): those of :class:`Recommender`, plus ``item_raters_``, the
    ratings as a CSC matrix (one column of raters per item).
    """

    def __init__(
        self,
        neighbours: int = 40,
        similarity: str = "cosine",
        min_support: int = 1,
        batch_size: int | None = None,
    ) -> None:
        self.neighbours = neighbours
        self.similarity = similarity
        self.min_support = min_support
        self.batch_size = batch_size

    # ------------------------------------------------------------------ fitting
    def check_params(self) -> UserKNN:
        """Raise ValueError naming the first bad hyper-parameter; return self when all are valid."""
        check_count("neighbours", self.neighbours)
        check_count("min_support", self.min_support)
        if self.batch_size is not None:
            check_count("batch_size", self.batch_size)
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, got {self.similarity!r}.")
        return self

    def fit(self, ratings: pd.DataFrame, movies: pd.DataFrame | None = None) -> UserKNN:
        """Learn from a table with ``userId``, ``movieId`` and ``rating`` columns; returns self."""
        self._index(ratings)
        self.item_raters_ = self.ratings_.tocsc()
        self.item_raters_.sort_indices()
        return self

    # --------------------------------------------------------------- internals
    def _similarities(self, block: sp.csr_matrix, rows: np.ndarray | None = None) -> np.ndarray:
        """Dense ``block rows x n_users`` similarities of sparse rating rows to every training user.

        ``rows`` are the block's own matrix rows, if it is taken from training: a user is never
        its own neighbour. The other users are taken a tile at a time as a dense items x tile
        array (at most ``BLOCK_CELLS`` cells), which makes each product a fast sparse x dense one.
        """
        ratings = self.ratings_
        n_users, n_items = ratings.shape
        rated_block = block.copy()
        rated_block.data[:] = 1.0
        sims = np.empty((block.shape[0], n_users))
        if self.similarity == "cosine":
            norms = np.sqrt(np.asarray(ratings.power(2).sum(axis=1)).ravel())
            own = np.sqrt(np.asarray(block.power(2).sum(axis=1)).ravel())
            denom = own[:, None] * norms[None, :]
        else:
            denom = np.empty_like(sims)
        squares_block = block.power(2) if self.similarity == "cosine_common" else None
        tile = max(1, BLOCK_CELLS // n_items)
        for start in range(0, n_users, tile):
            others = ratings[start : start + tile].T.toarray(order="C")
            sims[:, start : start + tile] = block @ others
            if self.similarity == "cosine_common":  # both norms over the co-rated items only
                own_sq = squares_block @ (others != 0).astype(np.float64)
                denom[:, start : start + tile] = np.sqrt(own_sq * (rated_block @ np.square(others)))
        np.divide(sims, denom, out=sims, where=denom > 0)
        sims[denom <= 0] = 0.0
        if self.min_support > 1:
            rated = self.ratings_.copy()
            rated.data[:] = 1.0
            support = (rated_block @ rated.T).toarray()
            sims[support < self.min_support] = 0.0
        if rows is not None:
            sims[np.arange(len(rows)), rows] = 0.0
        return sims

    def _finish(self, num: np.ndarray, den: np.ndarray) -> np.ndarray:
        est = np.full(num.shape, self.global_mean_)
        np.divide(num, den, out=est, where=den > 0)
        return np.clip(est, *self.rating_range_)

    def _score_sims(self, sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Numerators and denominators of the estimates of every item for rows of similarities."""
        raters = self.item_raters_
        shape = (len(sims), raters.shape[1])
        num, den = np.zeros(shape), np.zeros(shape)
        indptr, indices, data = raters.indptr, raters.indices, raters.data
        for col in np.flatnonzero(np.diff(indptr)):
            lo, hi = indptr[col], indptr[col + 1]
            num[:, col], den[:, col] = _weighted_top_k(sims[:, indices[lo:hi]], data[lo:hi], self.neighbours)
        return num, den

    def _ranking(self, sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Estimates as ranking scores (-inf where no neighbour voted), neighbour support as tie-break."""
        num, den = self._score_sims(sims)
        scores = self._finish(num, den)
        scores[den <= 0] = -np.inf
        return scores, den

    def _rank_block(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._ranking(self._similarities(self.ratings_[rows], rows))

    def _rank_vector(self, row: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        scores, den = self._ranking(self._similarities(row))
        return scores[0], den[0]

    def _pair_sums(self, sims: np.ndarray, pos: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Numerators and denominators of the estimates for pairs (row ``pos`` of ``sims``, item ``cols``)."""
        raters = self.item_raters_
        order = np.argsort(cols, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(cols[order]) != 0])
        indptr, indices, data = raters.indptr, raters.indices, raters.data
        num, den = np.empty(len(cols)), np.empty(len(cols))
        for group in np.split(order, starts[1:]):
            lo, hi = indptr[cols[group[0]]], indptr[cols[group[0]] + 1]
            block = sims[pos[group, None], indices[lo:hi]]
            num[group], den[group] = _weighted_top_k(block, data[lo:hi], self.neighbours)
        return num, den

    def _predict_pairs(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Estimates for pairs; unknown users or items, and pairs no neighbour voted on, get the global mean."""
        num, den = np.zeros(len(rows)), np.zeros(len(rows))
        known = np.flatnonzero((rows >= 0) & (cols >= 0))
        for block_rows in self._blocks(np.unique(rows[known])):
            sims = self._similarities(self.ratings_[block_rows], block_rows)
            pairs = known[np.isin(rows[known], block_rows)]
            num[pairs], den[pairs] = self._pair_sums(sims, np.searchsorted(block_rows, rows[pairs]), cols[pairs])
        return self._finish(num, den)
