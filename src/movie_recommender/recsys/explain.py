"""Model-agnostic explanations and similar items: item-item cosine over the columns of a rating matrix.

Works for any fitted :class:`~movie_recommender.recsys.Recommender` (it only needs ``ratings_``).
:class:`ItemSimilarity` computes similarities on demand: nothing items x items is ever built, one
query multiplies sparse columns, so memory is bounded by ``len(rated) x len(targets)`` for
explanations and by the number of items for similar items, but its time is the number of ratings of
the items involved (a heavy user of popular movies costs millions of operations).
:class:`ItemNeighbours` precomputes each item's most similar items once (what the modeling pipeline
stores with the model), so that an explanation costs ``targets x neighbours`` whatever the items.
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


#: ``neighbours=None`` keeps every item's similar items up to this many (item, neighbour) entries in all,
#: 12 bytes each: every item on MovieLens 100k (1,682 movies: exact), 1,079 on 1M, ``MIN_NEIGHBOURS`` on 25M.
AUTO_ENTRIES = 4_000_000
#: ``neighbours=None`` keeps at least this many similar items per item.
MIN_NEIGHBOURS = 100


def auto_neighbours(n_items: int, neighbours: int | None = None) -> int:
    """Similar items kept per item: ``neighbours``, or ``max(MIN_NEIGHBOURS, AUTO_ENTRIES / items)`` when
    None; at most every other item."""
    kept = int(neighbours) if neighbours is not None else max(MIN_NEIGHBOURS, AUTO_ENTRIES // max(1, n_items))
    return max(1, min(kept, n_items - 1))


class ItemNeighbours:
    """Each item's ``neighbours`` most similar items, precomputed: :meth:`because` as
    :class:`ItemSimilarity` gives it, at a cost bounded per request.

    The similarity is the same cosine of item columns (a missing rating counts as 0). For an item
    to explain, the reasons are the user's rated items among its kept neighbours, most similar
    first (then the better rated, then the smaller column). With ``neighbours`` at least the number
    of items (``None`` on MovieLens 100k) every positively similar item is kept and the reasons are
    :meth:`ItemSimilarity.because` exactly; with fewer, a rated item outside a target's
    ``neighbours`` most similar items is not quoted for it (a target may get fewer reasons).

    Args:
        ratings: users x items sparse rating matrix (as :class:`ItemSimilarity` takes it), or an
            :class:`ItemSimilarity` already built on it.
        neighbours: similar items kept per item; None: :func:`auto_neighbours`.

    Cost: building, half the sum over users of their ratings squared (each pair of co-rated items is
    multiplied once, for both items) in compiled loops on every core;
    :meth:`because`, O(len(rated) + len(targets) x neighbours) per call, whatever the items.
    Memory (bytes; I items, K neighbours): 12 I K + 8 I held (item and similarity per entry); while
    building, 16 I K (the kernel's output) + T x 16 I K (each thread's heaps of the items' best) + 24 R
    (the rows reordered by popularity, and by user) + T x 32 I scratch (T threads), plus the
    :class:`ItemSimilarity` (24 R) when it is not given.
    """

    def __init__(self, ratings: sp.spmatrix | ItemSimilarity, neighbours: int | None = None) -> None:
        from . import _knn_kernels as kernels
        from .knn import _threads

        similarity = ratings if isinstance(ratings, ItemSimilarity) else ItemSimilarity(ratings)
        rows = similarity.rows  # items x users, unit-length rows: the very values ItemSimilarity multiplies
        n_items = rows.shape[0]
        self.neighbours = auto_neighbours(n_items, neighbours)
        # Items most rated first: each item sums its dot products with the items before it, the scratch
        # entries touched most, which stay in the cache. Each row's cosine is the plain dot product of the
        # unit rows, summed over its users in the order ItemSimilarity sums them: bit for bit its
        # similarities, ties included (the kernel breaks them on the original item numbers).
        order = np.argsort(-np.diff(rows.indptr), kind="stable")
        by_rank = rows[order]
        by_user = by_rank.T.tocsr()  # each user's items, as ranks
        by_user.sort_indices()
        ranked, sims, counts = kernels.cosine_neighbours(
            by_rank.indptr, by_rank.indices, by_rank.data, by_user.indptr, by_user.indices, by_user.data,
            order.astype(np.int64), self.neighbours, _threads(),
        )  # fmt: skip
        rank = np.empty_like(order)
        rank[order] = np.arange(n_items)
        idx, sims, counts = ranked[rank], sims[rank], counts[rank]  # rows back in item order
        keep = np.arange(idx.shape[1])[None, :] < counts[:, None]
        self.indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.indices = idx[keep].astype(np.int32)
        self.similarities = sims[keep]
        self.n_items = n_items

    @property
    def nbytes(self) -> int:
        return self.indptr.nbytes + self.indices.nbytes + self.similarities.nbytes

    def most_similar(self, col: int, n: int) -> tuple[np.ndarray, np.ndarray] | None:
        """:meth:`ItemSimilarity.most_similar` of ``col`` from the table, when the table holds the answer: its
        row keeps at least ``n`` items, or every item similar to ``col`` (fewer than ``neighbours`` are
        similar, or every item was kept). None otherwise (ask :class:`ItemSimilarity`)."""
        lo, hi = self.indptr[col], self.indptr[col + 1]
        if hi - lo >= n or hi - lo < self.neighbours or self.neighbours >= self.n_items - 1:
            return self.indices[lo:hi][:n], self.similarities[lo:hi][:n]
        return None

    def because(self, rated, ratings, targets, k: int = 3) -> list[list[tuple[int, float]]]:
        """For each target item, the ``k`` rated items most similar to it among its kept neighbours
        (similarity > 0): arguments and result as :meth:`ItemSimilarity.because`. A few array operations
        over all targets' kept neighbours at once."""
        rated = np.asarray(rated, dtype=np.intp)
        ratings = np.asarray(ratings, dtype=np.float64)
        targets = np.asarray(targets, dtype=np.intp)
        if len(rated) > 1 and not (rated[1:] > rated[:-1]).all():  # a CSR row is sorted already
            order = np.argsort(rated, kind="stable")
            rated, ratings = rated[order], ratings[order]
        reasons: list[list[tuple[int, float]]] = [[] for _ in targets]
        if len(rated) == 0 or len(targets) == 0:
            return reasons
        lo, hi = self.indptr[targets], self.indptr[targets + 1]
        lengths = hi - lo
        owner = np.repeat(np.arange(len(targets)), lengths)  # which target each kept neighbour belongs to
        entries = np.arange(lengths.sum()) + np.repeat(lo - np.cumsum(lengths) + lengths, lengths)
        cols = self.indices[entries]
        pos = np.minimum(np.searchsorted(rated, cols), len(rated) - 1)
        hit = np.flatnonzero(rated[pos] == cols)
        owner, cols, sims, liked = owner[hit], cols[hit], self.similarities[entries[hit]], ratings[pos[hit]]
        order = np.lexsort((cols, -liked, -sims, owner))  # per target: most similar, better rated, smaller column
        owner, cols, sims = owner[order], cols[order], sims[order]
        first = np.searchsorted(owner, owner)  # where each target's run starts
        keep = (np.arange(len(owner)) - first < k) & (sims > 0)
        for t, c, v in zip(owner[keep].tolist(), cols[keep].tolist(), sims[keep].tolist()):
            reasons[t].append((c, v))
        return reasons
