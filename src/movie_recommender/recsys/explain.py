"""Model-agnostic explanations and similar items: item-item cosine over the columns of a rating matrix.

Works for any fitted :class:`~movie_recommender.recsys.Recommender` (it only needs ``ratings_``).
Nothing items x items is ever built: one query multiplies sparse columns, so memory is bounded by
``len(rated) x len(targets)`` for explanations and by the number of items for similar items.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class ItemSimilarity:
    """Cosine similarity between items, as rating vectors over users (a missing rating counts as 0).

    Args:
        ratings: users x items sparse rating matrix (e.g. ``model.ratings_``), or the same by column
            (``model.data_.csc``): then its index arrays are shared, not converted or copied.
    """

    def __init__(self, ratings: sp.spmatrix) -> None:
        columns = ratings if ratings.format == "csc" else sp.csc_matrix(ratings)
        columns.sort_indices()  # a no-op on the models' own column view (kept sorted)
        n_users, n_items = columns.shape
        data = columns.data.astype(np.float64)  # a copy, whatever the dtype
        col = np.repeat(np.arange(n_items), np.diff(columns.indptr))
        norms = np.sqrt(np.bincount(col, weights=data * data, minlength=n_items))
        inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        data *= inverse[col]  # unit-length item columns
        self.rows = sp.csr_matrix((data, columns.indices, columns.indptr), shape=(n_items, n_users))  # items x users
        self.n_items = n_items

    def similarity(self, left, right) -> np.ndarray:
        """Dense ``len(left) x len(right)`` cosine similarities between two lists of item columns."""
        left, right = np.asarray(left, dtype=np.intp), np.asarray(right, dtype=np.intp)
        if len(left) == 0 or len(right) == 0:
            return np.zeros((len(left), len(right)))
        return np.asarray(self.rows[left] @ self.rows[right].T.toarray())

    def most_similar(self, col: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` items most similar to item ``col`` (itself excluded, similarity > 0), best first.

        Returns (columns, similarities); ties go to the smaller column.
        """
        sims = np.asarray((self.rows @ self.rows[col].T).todense()).ravel()
        sims[col] = 0.0
        candidates = np.flatnonzero(sims > 0)
        order = np.lexsort((candidates, -sims[candidates]))[:n]
        best = candidates[order]
        return best, sims[best]

    def because(self, rated, ratings, targets, k: int = 3) -> list[list[tuple[int, float]]]:
        """For each target item, the ``k`` rated items most similar to it (similarity > 0).

        ``rated``: columns the user rated, ``ratings``: their ratings (liked items first on ties),
        ``targets``: columns to explain. Returns, per target, ``[(rated column, similarity), ...]``.
        """
        rated = np.asarray(rated, dtype=np.intp)
        ratings = np.asarray(ratings, dtype=np.float64)
        sims = self.similarity(rated, targets)  # rated x targets, the only dense arrays
        if sims.size == 0:
            return [[] for _ in range(sims.shape[1])]
        # per target (column): most similar first, then the better-rated one, then the smaller column
        shape = sims.shape
        keys = (np.broadcast_to(rated[:, None], shape), np.broadcast_to(-ratings[:, None], shape), -sims)
        order = np.lexsort(keys, axis=0)[:k]  # k x targets: row positions in `rated`
        best = np.take_along_axis(sims, order, axis=0)
        cols = rated[order]
        return [[(int(c), float(v)) for c, v in zip(cols[:, j], best[:, j]) if v > 0] for j in range(shape[1])]
