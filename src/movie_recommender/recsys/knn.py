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
from .bias import baseline_offsets, check_reg, fold_in_user_bias
from .checks import check_count, check_number

SIMILARITIES = ("cosine", "cosine_common", "pearson", "pearson_baseline")
CENTERINGS = ("none", "mean", "baseline")
RANKINGS = ("rating", "support")
#: Regularisation of the baselines behind ``centering="baseline"`` and ``pearson_baseline`` (Surprise's).
BASELINE = {"reg_user": 15.0, "reg_item": 10.0, "n_epochs": 10}
__all__ = ["CENTERINGS", "RANKINGS", "SIMILARITIES", "UnknownUserError", "UserKNN"]


def _top_k_weights(sims: np.ndarray, k: int) -> np.ndarray:
    """``max(sim, 0)`` on the k largest similarities of each row, 0 elsewhere.

    Ties at the k-th similarity go to the columns that come first (smaller ids), so the
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
    return weights


def _weighted_top_k(sims: np.ndarray, values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``sims`` (rows x raters): sums of w*r and of w over the k most similar raters.

    ``w = max(sim, 0)``: only positively similar neighbours vote, as in Surprise's KNNBasic.
    """
    weights = _top_k_weights(sims, k)
    return weights @ values, weights.sum(axis=1)


def _with_data(matrix: sp.csr_matrix, data: np.ndarray) -> sp.csr_matrix:
    """A CSR matrix with ``matrix``'s structure (explicit zeros kept) and new stored values."""
    return sp.csr_matrix((data, matrix.indices.copy(), matrix.indptr.copy()), shape=matrix.shape)


def _entry_rows(matrix: sp.csr_matrix) -> np.ndarray:
    """Row index of every stored entry of a CSR matrix."""
    return np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))


def _row_means(matrix: sp.csr_matrix) -> np.ndarray:
    counts = np.diff(matrix.indptr)
    return np.asarray(matrix.sum(axis=1)).ravel() / np.maximum(counts, 1)


def _shrink(sims: np.ndarray, support: np.ndarray, min_support: int, shrinkage: float) -> None:
    """In place: zero similarities of pairs with fewer than ``min_support`` common ratings and
    multiply the rest by ``(n - 1) / (n - 1 + shrinkage)`` (``n`` common ratings; Surprise's shrinkage)."""
    if shrinkage > 0:
        sims *= np.maximum(support - 1, 0) / (np.maximum(support - 1, 0) + shrinkage)
    if min_support > 1:
        sims[support < min_support] = 0.0


class UserKNN(Recommender):
    """User-based k-nearest-neighbour rating predictor and top-N recommender.

    The estimate of user ``u``'s rating of item ``i`` is the similarity-weighted mean of
    the ratings of ``i`` by the ``neighbours`` users most similar to ``u`` among those who
    rated ``i`` (only positive similarities count), clipped to the training rating range.
    With ``centering="none"`` (the default), where no such neighbour exists, or the user or
    the item is unknown, the estimate falls back to the global mean rating (as in Surprise).

    With ``centering`` the neighbours vote on residuals instead (Surprise's KNNWithMeans /
    KNNBaseline): ``r^_ui = c_ui + sum_v w_uv (r_vi - c_vi) / sum_v w_uv`` where ``c`` is the
    user's mean rating (``"mean"``) or the baseline ``mu + b_u + b_i`` (``"baseline"``, offsets
    as in :class:`~movie_recommender.recsys.bias.Bias` with reg_user 15, reg_item 10).
    With no voting neighbour the estimate is ``c_ui``. Fallbacks with centering: an unseen
    user gets the global mean (``"mean"``) or ``mu + b_i`` (``"baseline"``); an unseen item
    gets the user's mean (``"mean"``) or ``mu + b_u`` (``"baseline"``).

    Parameters:
        neighbours: k, the most neighbours that vote on one estimate.
        similarity: ``"cosine"`` over whole rating vectors (a missing rating counts as 0,
            so users who share few items are less similar), ``"cosine_common"`` over the
            items both users rated (Surprise's ``cosine``), ``"pearson"``: the cosine over
            co-rated items of ratings centred on each user's mean of all their ratings (Surprise
            centres on the co-rated items' mean instead), ``"pearson_baseline"``: the same on
            baseline residuals ``r_ui - b_ui`` (Surprise's ``pearson_baseline``; pair it with
            ``shrinkage=100``).
        min_support: fewest co-rated items for two users to count as similar.
        shrinkage: multiply each similarity by ``(n - 1) / (n - 1 + shrinkage)`` where ``n`` is the
            number of co-rated items (0 = off).
        centering: ``"none"``, ``"mean"`` or ``"baseline"`` (see above).
        ranking: ``"rating"`` ranks a user's candidates (unrated items that at least one
            positively similar neighbour rated) by estimate, ties to more neighbour support
            (sum of similarities), then to the smaller item id. ``"support"`` is classic
            top-N user-based CF: take the user's k most similar users overall and rank each
            item by the sum of the (positive) similarities of those of them who rated it; ties
            go to the smaller item id. ``predict`` estimates ratings either way.
        amplify: case amplification (Breese et al. 1998): each similarity ``s`` becomes
            ``sign(s) * |s| ** amplify``, which favours the closest neighbours in both the
            estimates and the support sums (1 = off; the neighbours chosen do not change).
        batch_size: users per similarity block; ``None`` sizes each dense array to about 16 MB.

    Attributes (after ``fit``): those of :class:`Recommender`, plus ``item_raters_``, the
    residuals ``r_vi - c_vi`` (the ratings when ``centering="none"``) as a CSC matrix (one
    column of raters per item); ``user_mean_``, ``user_bias_`` and ``item_bias_``.

    Complexity: fit O(ratings) (no users x users matrix is stored); scoring a block of ``b``
    users computes their ``b x users`` similarities, O(b x ratings) in sparse x dense tiles of at
    most ``BLOCK_CELLS`` cells, then the votes, O(b x ratings) again.
    """

    def __init__(
        self,
        neighbours: int = 40,
        similarity: str = "cosine",
        min_support: int = 1,
        batch_size: int | None = None,
        shrinkage: float = 0.0,
        centering: str = "none",
        ranking: str = "rating",
        amplify: float = 1.0,
    ) -> None:
        self.neighbours = neighbours
        self.similarity = similarity
        self.min_support = min_support
        self.batch_size = batch_size
        self.shrinkage = shrinkage
        self.centering = centering
        self.ranking = ranking
        self.amplify = amplify

    # ------------------------------------------------------------------ fitting
    def check_params(self) -> UserKNN:
        """Raise ValueError naming the first bad hyper-parameter; return self when all are valid."""
        check_count("neighbours", self.neighbours)
        check_count("min_support", self.min_support)
        if self.batch_size is not None:
            check_count("batch_size", self.batch_size)
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, got {self.similarity!r}.")
        check_reg("shrinkage", self.shrinkage)
        if self.centering not in CENTERINGS:
            raise ValueError(f"centering must be one of {CENTERINGS}, got {self.centering!r}.")
        if self.ranking not in RANKINGS:
            raise ValueError(f"ranking must be one of {RANKINGS}, got {self.ranking!r}.")
        check_number("amplify", self.amplify, strict=True)
        return self

    def fit(self, ratings: pd.DataFrame, movies: pd.DataFrame | None = None) -> UserKNN:
        """Learn from a table with ``userId``, ``movieId`` and ``rating`` columns; returns self."""
        matrix = self._index(ratings)
        mu = self.global_mean_
        self.user_mean_ = _row_means(matrix)
        self.user_bias_, self.item_bias_ = baseline_offsets(matrix, mu, **BASELINE)
        rows, cols = _entry_rows(matrix), matrix.indices
        means = self.user_mean_[rows]
        baselines = mu + self.user_bias_[rows] + self.item_bias_[cols]
        self.pattern_ = _with_data(matrix, np.ones(matrix.nnz))
        if self.similarity == "pearson":
            self.sim_values_ = _with_data(matrix, matrix.data - means)
        elif self.similarity == "pearson_baseline":
            self.sim_values_ = _with_data(matrix, matrix.data - baselines)
        else:
            self.sim_values_ = matrix
        centre = {"none": 0.0, "mean": means, "baseline": baselines}[self.centering]
        self.item_raters_ = _with_data(matrix, matrix.data - centre).tocsc()
        self.item_raters_.sort_indices()
        return self

    def _new_user(self, row: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
        """A new user's similarity row and their centre ``c_ui`` over all items (fold-in)."""
        mu = self.global_mean_
        b_u = fold_in_user_bias(row, mu, self.item_bias_, BASELINE["reg_user"])
        mean = float(row.data.mean())
        values = row
        if self.similarity == "pearson":
            values = _with_data(row, row.data - mean)
        elif self.similarity == "pearson_baseline":
            values = _with_data(row, row.data - (mu + b_u + self.item_bias_[row.indices]))
        n_items = row.shape[1]
        centre = {"none": np.zeros(n_items), "mean": np.full(n_items, mean), "baseline": mu + b_u + self.item_bias_}
        return values, centre[self.centering][None, :]

    def _centre_block(self, rows: np.ndarray) -> np.ndarray:
        """``c_ui`` of block users x all items (broadcastable)."""
        if self.centering == "mean":
            return self.user_mean_[rows, None]
        if self.centering == "baseline":
            return self.global_mean_ + self.user_bias_[rows, None] + self.item_bias_[None, :]
        return np.zeros((1, 1))

    # --------------------------------------------------------------- internals
    def _similarities(self, block: sp.csr_matrix, rows: np.ndarray | None = None) -> np.ndarray:
        """Dense ``block rows x n_users`` similarities of sparse rating rows to every training user.

        ``rows`` are the block's own matrix rows, if it is taken from training: a user is never
        its own neighbour. The other users are taken a tile at a time as a dense items x tile
        array (at most ``BLOCK_CELLS`` cells), which makes each product a fast sparse x dense one.
        """
        values, pattern = self.sim_values_, self.pattern_
        n_users, n_items = values.shape
        rated_block = block.copy()
        rated_block.data[:] = 1.0
        sims = np.empty((block.shape[0], n_users))
        common = self.similarity != "cosine"
        if not common:
            norms = np.sqrt(np.asarray(values.power(2).sum(axis=1)).ravel())
            own = np.sqrt(np.asarray(block.power(2).sum(axis=1)).ravel())
            denom = own[:, None] * norms[None, :]
        else:
            denom = np.empty_like(sims)
        squares_block = block.power(2) if common else None
        tile = max(1, BLOCK_CELLS // n_items)
        for start in range(0, n_users, tile):
            others = values[start : start + tile].T.toarray(order="C")
            sims[:, start : start + tile] = block @ others
            if common:  # both norms over the co-rated items only
                own_sq = squares_block @ pattern[start : start + tile].T.toarray()
                denom[:, start : start + tile] = np.sqrt(own_sq * (rated_block @ np.square(others)))
        np.divide(sims, denom, out=sims, where=denom > 0)
        sims[denom <= 0] = 0.0
        if self.min_support > 1 or self.shrinkage > 0:
            support = (rated_block @ pattern.T).toarray()
            _shrink(sims, support, self.min_support, float(self.shrinkage))
        if self.amplify != 1:
            sims = np.sign(sims) * np.abs(sims) ** self.amplify
        if rows is not None:
            sims[np.arange(len(rows)), rows] = 0.0
        return sims

    def _finish(self, num: np.ndarray, den: np.ndarray, centre: np.ndarray, clip: bool = True) -> np.ndarray:
        """Estimates ``c + num / den``; where no neighbour voted (den 0), ``c`` (global mean without centering)."""
        if self.centering == "none":
            est = np.full(num.shape, self.global_mean_)
            np.divide(num, den, out=est, where=den > 0)
        else:
            est = np.zeros(num.shape)
            np.divide(num, den, out=est, where=den > 0)
            est += centre
        return self._clip(est) if clip else est

    def _support_scores(self, sims: np.ndarray) -> np.ndarray:
        """Sum of the k nearest users' positive similarities over the raters of each item; -inf if 0."""
        weights = _top_k_weights(sims, self.neighbours)
        scores = np.asarray((self.pattern_.T @ weights.T).T)
        scores[scores <= 0] = -np.inf
        return scores

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

    def _ranking(self, sims: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Estimates as ranking scores (-inf where no neighbour voted), neighbour support as tie-break;
        or, with ``ranking="support"``, the k nearest users' similarity sums."""
        if self.ranking == "support":
            return self._support_scores(sims), None
        num, den = self._score_sims(sims)
        scores = self._finish(num, den, centre, clip=False)  # ranked unclipped; recommend reports them clipped
        scores[den <= 0] = -np.inf
        return scores, den

    def _rank_block(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return self._ranking(self._similarities(self.sim_values_[rows], rows), self._centre_block(rows))

    def _rank_vector(self, row: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray | None]:
        values, centre = self._new_user(row)
        scores, tiebreak = self._ranking(self._similarities(values), centre)
        return scores[0], None if tiebreak is None else tiebreak[0]

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

    def _pair_centres(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """``c_ui`` for pairs, with the documented fallbacks where the user or item is unseen (-1)."""
        known_u, known_i = rows >= 0, cols >= 0
        r, c = np.maximum(rows, 0), np.maximum(cols, 0)
        if self.centering == "mean":
            return np.where(known_u, self.user_mean_[r], self.global_mean_)
        if self.centering == "baseline":
            b_u = np.where(known_u, self.user_bias_[r], 0.0)
            return self.global_mean_ + b_u + np.where(known_i, self.item_bias_[c], 0.0)
        return np.full(len(rows), self.global_mean_)

    def _predict_pairs(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Estimates for pairs; unknown users or items, and pairs no neighbour voted on, get the fallback."""
        num, den = np.zeros(len(rows)), np.zeros(len(rows))
        known = np.flatnonzero((rows >= 0) & (cols >= 0))
        for block_rows in self._blocks(np.unique(rows[known])):
            sims = self._similarities(self.sim_values_[block_rows], block_rows)
            pairs = known[np.isin(rows[known], block_rows)]
            num[pairs], den[pairs] = self._pair_sums(sims, np.searchsorted(block_rows, rows[pairs]), cols[pairs])
        return self._finish(num, den, self._pair_centres(rows, cols))
