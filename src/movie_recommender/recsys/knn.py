"""User-user collaborative filtering (k nearest neighbours) on sparse rating matrices.

The ratings live in a ``scipy.sparse`` users x items matrix. Similarities are computed
for a bounded block of users at a time (``block x all users``), so nothing dense of
size users x users or users x items is ever held beyond one block.
"""

from __future__ import annotations

from collections.abc import Iterator
from numbers import Integral

import numpy as np
import pandas as pd
import scipy.sparse as sp

USER, ITEM, RATING = "userId", "movieId", "rating"
SIMILARITIES = ("cosine", "cosine_common")
# Largest dense block (in float64 cells) built at once: 2**23 cells = 64 MB.
_BLOCK_CELLS = 1 << 23


class UnknownUserError(LookupError):
    """The user has no ratings in the data the model was fitted on."""

    def __str__(self) -> str:  # LookupError would quote the message like a key
        return str(self.args[0])


def _check_count(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}.")
    return int(value)


def _weighted_top_k(sims: np.ndarray, values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``sims`` (rows x raters): sums of w*r and of w over the k most similar raters.

    ``w = max(sim, 0)``: only positively similar neighbours vote, as in Surprise's KNNBasic.
    Ties at the k-th similarity go to the raters that come first (smaller user ids), so the
    result never depends on how a partition happens to order equal values.
    """
    weights = np.maximum(sims, 0.0)
    if sims.shape[1] > k:
        kth = np.partition(sims, -k, axis=1)[:, -k, None]
        weights[sims < kth] = 0.0
        # Rows with more raters at the k-th similarity than places left: keep the first ones.
        equal = sims == kth
        room = k - (sims > kth).sum(axis=1, keepdims=True)
        tied = np.flatnonzero((equal.sum(axis=1, keepdims=True) > room)[:, 0] & (kth[:, 0] > 0))
        if tied.size:
            surplus = equal[tied] & (np.cumsum(equal[tied], axis=1) > room[tied])
            weights[tied] = np.where(surplus, 0.0, weights[tied])
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
        batch_size: users per similarity block; ``None`` sizes blocks to about 64 MB.

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
    def _check_params(self) -> None:
        _check_count("neighbours", self.neighbours)
        _check_count("min_support", self.min_support)
        if self.batch_size is not None:
            _check_count("batch_size", self.batch_size)
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, got {self.similarity!r}.")

    def fit(self, ratings: pd.DataFrame) -> UserKNN:
        """Learn from a table with ``userId``, ``movieId`` and ``rating`` columns; returns self."""
        self._check_params()
        missing = [c for c in (USER, ITEM, RATING) if c not in ratings.columns]
        if missing:
            raise ValueError(f"ratings lack the column(s) {missing}; expected {USER}, {ITEM}, {RATING}.")
        if ratings.empty:
            raise ValueError("ratings are empty: there is nothing to fit.")
        values = pd.to_numeric(ratings[RATING], errors="coerce").to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            raise ValueError("ratings contain missing or non-numeric values in the rating column.")
        self.user_ids_, rows = np.unique(ratings[USER].to_numpy(), return_inverse=True)
        self.item_ids_, cols = np.unique(ratings[ITEM].to_numpy(), return_inverse=True)
        shape = (len(self.user_ids_), len(self.item_ids_))
        if np.unique(rows.astype(np.int64) * shape[1] + cols).size != len(values):
            raise ValueError("ratings contain the same (user, item) pair more than once.")
        self.ratings_ = sp.csr_matrix((values, (rows, cols)), shape=shape)
        self.ratings_.sort_indices()
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
        """Dense ``len(rows) x n_users`` similarities; a user is never its own neighbour."""
        ratings = self.ratings_
        block = ratings[rows]
        sims = (block @ ratings.T).toarray()
        rated = ratings.copy()
        rated.data[:] = 1.0
        if self.similarity == "cosine":
            norms = np.sqrt(np.asarray(ratings.multiply(ratings).sum(axis=1)).ravel())
            denom = norms[rows, None] * norms[None, :]
        else:  # cosine_common: both norms over the co-rated items only
            squares = ratings.multiply(ratings).tocsr()
            denom = np.sqrt((squares[rows] @ rated.T).toarray() * (rated[rows] @ squares.T).toarray())
        np.divide(sims, denom, out=sims, where=denom > 0)
        sims[denom <= 0] = 0.0
        if self.min_support > 1:
            support = (rated[rows] @ rated.T).toarray()
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
            pairs = pairs[np.argsort(cols[pairs], kind="stable")]
            pair_cols = cols[pairs]
            starts = np.flatnonzero(np.r_[True, pair_cols[1:] != pair_cols[:-1]])
            for group in np.split(pairs, starts[1:]):
                col = cols[group[0]]
                lo, hi = raters.indptr[col], raters.indptr[col + 1]
                block = sims[np.ix_(np.searchsorted(block_rows, rows[group]), raters.indices[lo:hi])]
                num[group], den[group] = _weighted_top_k(block, raters.data[lo:hi], self.neighbours)
        return self._finish(num, den)

    def recommend_all(self, n: int, users=None) -> pd.DataFrame:
        """Top-``n`` unrated items for each user (all by default) as ``userId, rank, movieId, score``.

        Candidates are the items the user has not rated and at least one positively
        similar neighbour rated; ``score`` is the rating estimate. Ties go to the item
        with more neighbour support (sum of similarities), then to the smaller item id.
        A user may get fewer than ``n`` items when fewer candidates exist.
        """
        self._check_fitted()
        n = _check_count("n", n)
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
        user_rows, ranks, cols, values = (np.concatenate(p) for p in zip(*parts))
        return pd.DataFrame(
            {USER: self.user_ids_[user_rows], "rank": ranks, ITEM: self.item_ids_[cols], "score": values}
        )

    def recommend(self, user, n: int = 10) -> pd.DataFrame:
        """Top-``n`` unrated items for one known user as ``rank, movieId, score`` (see ``recommend_all``)."""
        return self.recommend_all(n, users=[user]).drop(columns=USER)
