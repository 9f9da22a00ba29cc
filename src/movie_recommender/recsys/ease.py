"""EASE: an item-item linear autoencoder with a closed-form solution (Steck, WWW 2019).

H. Steck, "Embarrassingly Shallow Autoencoders for Sparse Data". The model keeps one dense
items x items matrix (1682^2 float64 = 23 MB on MovieLens 100k, 110 MB on 1M); its memory
and the O(items^3) inversion grow with the number of items, not users, so on larger catalogues
it learns on the ``max_items`` most rated movies and ranks the others after them by popularity.
User scores are computed a bounded block at a time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .baselines import RankingRecommender
from .budget import available_memory
from .checks import check_count, check_number

__all__ = ["EASE", "WEIGHTINGS", "ease_weights"]

WEIGHTINGS = ("binary", "rating")


def ease_weights(x: sp.spmatrix, l2: float) -> np.ndarray:
    """EASE's item-item matrix for a users x items matrix ``x``: ``B = I - P / diag(P)``, zero diagonal.

    ``P = (X^T X + l2 I)^-1``; column ``j`` of ``B`` is ``-P[:, j] / P[j, j]`` off the diagonal.
    This is the minimiser of ``||X - X B||^2 + l2 ||B||^2`` subject to ``diag(B) = 0``.
    """
    gram = (x.T @ x).toarray() if sp.issparse(x) else np.asarray(x.T @ x, dtype=np.float64)
    gram[np.diag_indices_from(gram)] += l2
    b = np.linalg.inv(gram)
    del gram  # peak: the gram matrix, LAPACK's copy of it and the inverse, 3 x 8 x items^2 bytes
    b /= -np.diag(b).copy()[None, :]
    b[np.diag_indices_from(b)] = 0.0
    return b


class EASE(RankingRecommender):
    """Embarrassingly Shallow AutoEncoder: implicit-feedback item-item top-N ranker.

    Definition: ``X`` is the users x items matrix of the training ratings, binarised (1 where
    a user rated an item, whatever the rating) or, with ``weighting="rating"``, the ratings
    themselves. ``B = I - P / diag(P)`` with ``P = (X^T X + l2 I)^-1`` (zero diagonal), and user
    ``u``'s scores are ``X_u B``. Items are ranked by score; ties go to the more rated item,
    then the smaller id. A new user's row is folded in the same way (``x B``), no refit.

    Ranking-only (``predicts_ratings = False``): ``predict`` returns ``X_u B`` for the pair; an
    unseen user has an empty history and an unseen item no column of ``B``, so either scores
    0.0. Recommending for an unseen user raises ``UnknownUserError``; use ``recommend_new`` or
    ``popular`` instead.

    Parameters:
        l2: the L2 penalty lambda (> 0); about 200-1000 for MovieLens 100k with binary ``X``
            (scale it by about 13 = mean squared rating with ``weighting="rating"``).
        weighting: ``"binary"`` (implicit feedback, the paper's setting) or ``"rating"``.

        max_items: ``B`` is learned on the ``max_items`` most rated movies only (the head; ties:
            the smaller id). The other movies (the tail) get the project's shared fallback, the
            popularity order of :meth:`Recommender.popular` (more ratings, then higher mean
            rating, then smaller id): they rank below every head movie, in that order, with
            the score ``tail_score_`` (below any score ``B`` can give: ``-1 - max|x| x`` the
            largest absolute column sum of ``B``; for a folded-in user whose ratings lie outside
            the training range, 1 below their lowest head score), which ``predict`` also gives
            them. ``None``: every movie. The default, 15,000, covers every movie up to
            MovieLens 10M (10,677) and needs 5.4 GB on larger data.

    Attributes (after ``fit``): those of :class:`Recommender`, plus ``head_`` (the columns
    ``B`` covers, sorted; None when it covers every movie), ``tail_`` (the others), ``tail_score_``,
    ``weights_`` (``B``, dense head x head) and ``item_counts_``.

    Complexity: fit O(N^3) time and O(N^2) memory for ``N = min(max_items, items)``; scoring a
    block of users O(block x N x mean ratings per user).

    Peak memory (bytes; R ratings, N as above, b users per block): 24 R (shared ratings) + 12 R
    (the binarised copy) + 24 N^2 (the gram matrix, LAPACK's copy, the inverse) + 16 b N.
    """

    def __init__(self, l2: float = 500.0, weighting: str = "binary", max_items: int | None = 15_000) -> None:
        self.l2 = l2
        self.weighting = weighting
        self.max_items = max_items

    def check_params(self) -> EASE:
        check_number("l2", self.l2, strict=True)
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {self.weighting!r}.")
        if self.max_items is not None:
            check_count("max_items", self.max_items)
        return self

    def _head_size(self, n_items: int) -> int:
        return n_items if self.max_items is None else min(int(self.max_items), n_items)

    def peak_memory(self, n_users: int, n_items: int, n_ratings: int) -> tuple[int, str]:
        n = self._head_size(n_items)
        needed = 36 * n_ratings + 24 * n * n + 16 * self._block_rows(n_users, n_items) * n
        most = int(np.sqrt(max(available_memory() - 36 * n_ratings, 0) / 26))
        return needed, (
            f"EASE holds dense movies x movies matrices (24 x movies^2 bytes): set models.ease.max_items "
            f"to {most:,} or fewer (it learns on the most rated movies only), or choose another model."
        )

    def _input(self, x: sp.csr_matrix) -> sp.csr_matrix:
        if self.weighting == "binary":
            x = x.copy()
            x.data[:] = 1.0
        return x

    def fit(self, ratings: pd.DataFrame, movies: pd.DataFrame | None = None) -> EASE:
        """Solve for the item-item weights in closed form; returns self."""
        self._index(ratings)
        self.item_counts_ = self._item_counts()
        n_items = len(self.item_ids_)
        if self._head_size(n_items) < n_items:  # the most rated; ties to the smaller id (column)
            order = np.lexsort((np.arange(n_items), -self.item_counts_))
            self.head_ = np.sort(order[: self._head_size(n_items)])
            x = self._input(self.ratings_)[:, self.head_]
        else:
            self.head_ = None
            x = self._input(self.ratings_)
        self.weights_ = ease_weights(x, float(self.l2))
        self._fit_tail()
        return self

    def _fit_tail(self) -> None:
        """The fallback of the movies outside the head: their score and their popularity order."""
        n_items = len(self.item_ids_)
        self.tail_ = np.setdiff1d(np.arange(n_items), self.head_) if self.head_ is not None else np.arange(0)
        largest = np.abs(self.weights_).sum(axis=0).max() if self.weights_.size else 0.0
        reach = 1.0 if self.weighting == "binary" else float(np.abs(self.rating_range_).max())
        self.tail_score_ = -1.0 - reach * float(largest)  # below any score a training user's row can give
        counts, means = self._item_popularity()
        order = np.lexsort((self.item_ids_, -means, -counts))  # Recommender.popular's order
        rank = np.empty(n_items)
        rank[order] = np.arange(n_items)
        # ties of scores: on the head the more rated movie; the tail (all one score) in popularity order
        self.tiebreak_ = self.item_counts_.copy()
        self.tiebreak_[self.tail_] = -rank[self.tail_]

    def _tiebreak(self) -> np.ndarray:
        return self.tiebreak_

    def _scores(self, x: sp.csr_matrix) -> np.ndarray:
        if self.head_ is None:
            return np.asarray(self._input(x) @ self.weights_)
        head = np.asarray(self._input(x)[:, self.head_] @ self.weights_)
        floor = np.full((x.shape[0], 1), self.tail_score_)
        if head.size:  # a folded-in row with ratings outside the training range may score lower still
            np.minimum(floor, head.min(axis=1, keepdims=True) - 1.0, out=floor)
        scores = np.empty((x.shape[0], x.shape[1]))
        scores[:, self.head_] = head
        scores[:, self.tail_] = floor
        return scores
