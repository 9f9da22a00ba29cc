"""User-user collaborative filtering (k nearest neighbours) on sparse rating matrices.

The ratings live in a ``scipy.sparse`` users x items matrix. Similarities are computed for
a block of users at a time against a tile of the others, every dense array capped at
``_BLOCK_CELLS`` cells, so nothing dense grows with the number of users times items.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .checks import check_count

USER, ITEM, RATING = "userId", "movieId", "rating"
SIMILARITIES = ("cosine", "cosine_common")
# Largest dense array (in float64 cells) built at once: 2**21 cells = 16 MB. A block of users
# holds a handful of such arrays, so memory stays bounded however large the data.
_BLOCK_CELLS = 1 << 21


class UnknownUserError(LookupError):
    """The user has no ratings in the data the model was fitted on."""

    def __str__(self) -> str:  # LookupError would quote the message like a key
        return str(self.args[0])


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


class UserKNN:
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

    Attributes (after ``fit``):
        user_ids_, item_ids_: sorted ids; their positions index the matrix rows and columns.
        ratings_: CSR users x items matrix of the training ratings.
        global_mean_: mean training rating; rating_range_: (lowest, highest) rating.
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

    def fit(self, ratings: pd.DataFrame) -> UserKNN:
        """Learn from a table with ``userId``, ``movieId`` and ``rating`` columns; returns self."""
        self.check_params()
        missing = [c for c in (USER, ITEM, RATING) if c not in ratings.columns]
        if missing:
            raise ValueError(f"ratings lack the column(s) {missing}; expected {USER}, {ITEM}, {RATING}.")
        if ratings.empty:
            raise ValueError("ratings are empty: there is nothing to fit.")
        values = pd.to_numeric(ratings[RATING], errors="coerce").to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            raise ValueError("ratings contain missing or non-numeric values in the rating column.")
        if ratings[[USER, ITEM]].isna().any().any():
            raise ValueError(f"ratings have missing {USER} or {ITEM} values.")
        rows, user_ids = pd.factorize(ratings[USER], sort=True)
        cols, item_ids = pd.factorize(ratings[ITEM], sort=True)
        self.user_ids_, self.item_ids_ = np.asarray(user_ids), np.asarray(item_ids)
        shape = (len(self.user_ids_), len(self.item_ids_))
        self.ratings_ = sp.csr_matrix((values, (rows, cols)), shape=shape)  # sums duplicate pairs
        if self.ratings_.nnz != len(values):
            raise ValueError("ratings contain the same (user, item) pair more than once.")
        self.global_mean_ = float(values.mean())
        self.rating_range_ = (float(values.min()), float(values.max()))
        return self

    # --------------------------------------------------------------- internals
    def _check_fitted(self) -> None:
        if not hasattr(self, "ratings_"):
            raise RuntimeError("this UserKNN is not fitted yet: call fit(ratings) first.")

    def _rows(self, users: np.ndarray) -> np.ndarray:
        """Matrix rows of ``users``; -1 where unknown."""
        return self._positions(self.user_ids_, users)

    @staticmethod
    def _positions(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
        wanted = np.asarray(wanted)
        pos = np.searchsorted(ids, wanted)
        pos = np.minimum(pos, len(ids) - 1)
        return np.where(ids[pos] == wanted, pos, -1)

    def _blocks(self, rows: np.ndarray) -> Iterator[np.ndarray]:
        n_users = self.ratings_.shape[0]
        size = self.batch_size or max(1, _BLOCK_CELLS // max(n_users, self.ratings_.shape[1]))
        for start in range(0, len(rows), size):
            yield rows[start : start + size]

    def _similarity_block(self, rows: np.ndarray) -> np.ndarray:
        """Dense ``len(rows) x n_users`` similarities; a user is never its own neighbour.

        The other users are taken a tile at a time as a dense items x tile array (at most
        ``_BLOCK_CELLS`` cells), which makes each product a fast sparse x dense one.
        """
        ratings = self.ratings_
        n_users, n_items = ratings.shape
        block = ratings[rows]
        rated_block = block.copy()
        rated_block.data[:] = 1.0
        sims = np.empty((len(rows), n_users))
        if self.similarity == "cosine":
            norms = np.sqrt(np.asarray(ratings.power(2).sum(axis=1)).ravel())
            denom = norms[rows, None] * norms[None, :]
        else:
            denom = np.empty_like(sims)
        squares_block = block.power(2) if self.similarity == "cosine_common" else None
        tile = max(1, _BLOCK_CELLS // n_items)
        for start in range(0, n_users, tile):
            others = ratings[start : start + tile].T.toarray(order="C")
            sims[:, start : start + tile] = block @ others
            if self.similarity == "cosine_common":  # both norms over the co-rated items only
                own = squares_block @ (others != 0).astype(np.float64)
                denom[:, start : start + tile] = np.sqrt(own * (rated_block @ np.square(others)))
        np.divide(sims, denom, out=sims, where=denom > 0)
        sims[denom <= 0] = 0.0
        if self.min_support > 1:
            rated = self.ratings_.copy()
            rated.data[:] = 1.0
            support = (rated_block @ rated.T).toarray()
            sims[support < self.min_support] = 0.0
        sims[np.arange(len(rows)), rows] = 0.0
        return sims

    def _item_raters(self) -> sp.csc_matrix:
        csc = self.ratings_.tocsc()
        csc.sort_indices()
        return csc

    def _finish(self, num: np.ndarray, den: np.ndarray) -> np.ndarray:
        est = np.full(num.shape, self.global_mean_)
        np.divide(num, den, out=est, where=den > 0)
        return np.clip(est, *self.rating_range_)

    def _score_block(self, rows: np.ndarray, raters: sp.csc_matrix) -> tuple[np.ndarray, np.ndarray]:
        """Numerators and denominators of the estimates of every item for a block of users."""
        sims = self._similarity_block(rows)
        shape = (len(rows), raters.shape[1])
        num, den = np.zeros(shape), np.zeros(shape)
        indptr, indices, data = raters.indptr, raters.indices, raters.data
        for col in np.flatnonzero(np.diff(indptr)):
            lo, hi = indptr[col], indptr[col + 1]
            num[:, col], den[:, col] = _weighted_top_k(sims[:, indices[lo:hi]], data[lo:hi], self.neighbours)
        return num, den

    def _pair_sums(
        self, sims: np.ndarray, pos: np.ndarray, cols: np.ndarray, raters: sp.csc_matrix
    ) -> tuple[np.ndarray, np.ndarray]:
        """Numerators and denominators of the estimates for pairs (row ``pos`` of ``sims``, item ``cols``)."""
        order = np.argsort(cols, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(cols[order]) != 0])
        indptr, indices, data = raters.indptr, raters.indices, raters.data
        num, den = np.empty(len(cols)), np.empty(len(cols))
        for group in np.split(order, starts[1:]):
            lo, hi = indptr[cols[group[0]]], indptr[cols[group[0]] + 1]
            block = sims[pos[group, None], indices[lo:hi]]
            num[group], den[group] = _weighted_top_k(block, data[lo:hi], self.neighbours)
        return num, den

    # ---------------------------------------------------------------- predicting
    def predict(self, users, items) -> np.ndarray:
        """Rating estimates for the pairs ``(users[j], items[j])``, as a float array.

        Unknown users or items, and pairs no positively similar neighbour voted on, get
        the global mean.
        """
        self._check_fitted()
        users, items = np.asarray(users), np.asarray(items)
        if users.shape != items.shape or users.ndim != 1:
            raise ValueError(f"users and items must be 1-d and of equal length, got {users.shape} and {items.shape}.")
        num, den = np.zeros(len(users)), np.zeros(len(users))
        rows, cols = self._rows(users), self._positions(self.item_ids_, items)
        known = np.flatnonzero((rows >= 0) & (cols >= 0))
        raters = self._item_raters()
        for block_rows in self._blocks(np.unique(rows[known])):
            sims = self._similarity_block(block_rows)
            pairs = known[np.isin(rows[known], block_rows)]
            num[pairs], den[pairs] = self._pair_sums(
                sims, np.searchsorted(block_rows, rows[pairs]), cols[pairs], raters
            )
        return self._finish(num, den)

    def recommend_all(self, n: int, users=None) -> pd.DataFrame:
        """Top-``n`` unrated items for each user (all by default) as ``userId, rank, movieId, score``.

        Candidates are the items the user has not rated and at least one positively
        similar neighbour rated; ``score`` is the rating estimate. Ties go to the item
        with more neighbour support (sum of similarities), then to the smaller item id.
        A user may get fewer than ``n`` items when fewer candidates exist.
        """
        self._check_fitted()
        n = check_count("n", n)
        if users is None:
            rows = np.arange(len(self.user_ids_))
        else:
            users = np.atleast_1d(np.asarray(users))
            rows = self._rows(users)
            if (rows < 0).any():
                unknown = users[rows < 0]
                raise UnknownUserError(
                    f"user(s) {', '.join(map(str, unknown[:5]))} have no ratings in the training data "
                    f"({len(self.user_ids_)} users, ids {self.user_ids_.min()}-{self.user_ids_.max()})."
                )
        raters = self._item_raters()
        parts: list[tuple[np.ndarray, ...]] = []
        for block_rows in self._blocks(rows):
            num, den = self._score_block(block_rows, raters)
            scores = self._finish(num, den)
            candidate = den > 0
            rated = self.ratings_[block_rows].tocoo()
            candidate[rated.row, rated.col] = False
            for i, row in enumerate(block_rows):
                cand = np.flatnonzero(candidate[i])
                top = cand[np.lexsort((self.item_ids_[cand], -den[i, cand], -scores[i, cand]))[:n]]
                parts.append((np.full(len(top), row), np.arange(1, len(top) + 1), top, scores[i, top]))
        if not parts:
            return pd.DataFrame({USER: [], "rank": [], ITEM: [], "score": []})
        user_rows, ranks, cols, values = (np.concatenate(p) for p in zip(*parts))
        return pd.DataFrame(
            {USER: self.user_ids_[user_rows], "rank": ranks, ITEM: self.item_ids_[cols], "score": values}
        )

    def recommend(self, user, n: int = 10) -> pd.DataFrame:
        """Top-``n`` unrated items for one known user as ``rank, movieId, score`` (see ``recommend_all``)."""
        return self.recommend_all(n, users=[user]).drop(columns=USER)
