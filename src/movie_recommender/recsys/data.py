"""The shared rating data: user and movie id vocabularies and one sparse rating matrix.

A :class:`RatingData` is built once from a ``userId, movieId, rating`` table (or from id and
value arrays) and handed to every model's ``fit``: models keep a reference to its CSR matrix
instead of each building its own, so a :class:`~movie_recommender.recsys.blend.Blend` of eight
components, or a pickle holding them, stores the ratings once. Models still accept the
DataFrame, which they convert through :func:`as_rating_data`.

Memory: the CSR matrix takes ``12 * ratings + 8 * (users + 1)`` bytes (float64 values, int32
column indices, int64 row pointers) and the vocabularies ``8 * (users + movies)``; the
column view (``csc``, built on first use and then kept) as much again.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

USER, ITEM, RATING = "userId", "movieId", "rating"

__all__ = ["RatingData", "as_rating_data"]


class RatingData:
    """Users x movies ratings as one CSR matrix with sorted id vocabularies.

    Attributes:
        matrix: CSR users x movies, sorted column indices, float64 ratings; row ``r`` is the
            user ``user_ids[r]``, column ``c`` the movie ``item_ids[c]``.
        user_ids, item_ids: sorted ids (numpy arrays).
    Treat it as read-only: models share it.
    """

    def __init__(self, matrix: sp.csr_matrix, user_ids: np.ndarray, item_ids: np.ndarray) -> None:
        if matrix.shape != (len(user_ids), len(item_ids)):
            raise ValueError(f"matrix shape {matrix.shape} does not match {len(user_ids)} users x {len(item_ids)} movies.")
        self.matrix = matrix
        self.user_ids = np.asarray(user_ids)
        self.item_ids = np.asarray(item_ids)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_arrays(cls, users, items, values) -> RatingData:
        """From parallel arrays of user ids, movie ids and ratings (each pair at most once)."""
        values = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64)
        if len(values) == 0:
            raise ValueError("ratings are empty: there is nothing to fit.")
        if not np.isfinite(values).all():
            raise ValueError("ratings contain missing or non-numeric values in the rating column.")
        if pd.isna(users).any() or pd.isna(items).any():
            raise ValueError(f"ratings have missing {USER} or {ITEM} values.")
        rows, user_ids = pd.factorize(users, sort=True)
        cols, item_ids = pd.factorize(items, sort=True)
        shape = (len(user_ids), len(item_ids))
        index_type = np.int32 if max(shape) < 2**31 else np.int64
        matrix = sp.csr_matrix((values, (rows.astype(index_type), cols.astype(index_type))), shape=shape)
        if matrix.nnz != len(values):  # the constructor sums duplicate pairs
            raise ValueError("ratings contain the same (user, item) pair more than once.")
        matrix.sort_indices()
        return cls(matrix, np.asarray(user_ids), np.asarray(item_ids))

    @classmethod
    def from_frame(cls, ratings: pd.DataFrame) -> RatingData:
        """From a table with ``userId``, ``movieId`` and ``rating`` columns (checked, one clear error)."""
        missing = [c for c in (USER, ITEM, RATING) if c not in ratings.columns]
        if missing:
            raise ValueError(f"ratings lack the column(s) {missing}; expected {USER}, {ITEM}, {RATING}.")
        if ratings.empty:
            raise ValueError("ratings are empty: there is nothing to fit.")
        return cls.from_arrays(ratings[USER].to_numpy(), ratings[ITEM].to_numpy(), ratings[RATING])

    # ------------------------------------------------------------------ views
    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    @property
    def n_users(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_items(self) -> int:
        return self.matrix.shape[1]

    @property
    def n_ratings(self) -> int:
        return self.matrix.nnz

    @cached_property
    def csc(self) -> sp.csc_matrix:
        """The same ratings by column (one column of raters per movie), sorted; built once."""
        matrix = self.matrix.tocsc()
        matrix.sort_indices()
        return matrix

    @cached_property
    def item_counts(self) -> np.ndarray:
        """Number of ratings of each movie (column), as floats."""
        return np.bincount(self.matrix.indices, minlength=self.n_items).astype(np.float64)

    @cached_property
    def user_counts(self) -> np.ndarray:
        """Number of ratings of each user (row)."""
        return np.diff(self.matrix.indptr)

    def frame(self) -> pd.DataFrame:
        """The ratings as a ``userId, movieId, rating`` table (sorted by user, then movie)."""
        rows = np.repeat(np.arange(self.n_users), self.user_counts)
        return pd.DataFrame(
            {USER: self.user_ids[rows], ITEM: self.item_ids[self.matrix.indices], RATING: self.matrix.data}
        )

    def __len__(self) -> int:
        return self.n_ratings

    def __repr__(self) -> str:
        return f"RatingData({self.n_users} users x {self.n_items} movies, {self.n_ratings} ratings)"


def as_rating_data(ratings: pd.DataFrame | RatingData) -> RatingData:
    """``ratings`` itself when it is a :class:`RatingData`, else the container built from the table."""
    if isinstance(ratings, RatingData):
        return ratings
    if not isinstance(ratings, pd.DataFrame):
        raise TypeError(f"ratings must be a DataFrame or a RatingData, got {type(ratings).__name__}.")
    return RatingData.from_frame(ratings)
