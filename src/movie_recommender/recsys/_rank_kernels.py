"""Compiled loop of the shared ranking (numba): which cells of a scored block can be in each row's top n.

:meth:`Recommender._top_rows` orders a handful of candidates per user exactly (score, the model's
tie-breaks, popularity, id); this finds them in one pass per row, without the block-sized temporaries
(``isfinite``, ``where``, ``partition``, comparison masks) a NumPy version makes. It runs on one core
without the GIL, so that it overlaps the model scoring the next block (``recommend_all``).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def _sift_down(heap, size, value):
    """Put ``value`` at the root of the min-heap ``heap[:size]`` (replacing the root) and restore the heap."""
    c = 0
    while True:
        child = 2 * c + 1
        if child >= size:
            break
        if child + 1 < size and heap[child + 1] < heap[child]:
            child += 1
        if heap[child] >= value:
            break
        heap[c] = heap[child]
        c = child
    heap[c] = value


@njit(cache=True, nogil=True)
def kept_cells(scores, n):
    """For each row of ``scores``, the columns of its finite scores at or above its ``n``-th best finite
    score (all ties kept; every finite score when there are fewer than ``n``): (rows, columns), row by
    row, columns ascending; what ``np.nonzero`` gives on that mask. NaN and infinite scores are never kept.

    Cost: one pass per row with a heap of ``n`` values (most scores fall below its root and cost one
    comparison), then two passes to count and write the kept cells; memory: the kept cells only.
    """
    n_rows, n_cols = scores.shape
    kth = np.full(n_rows, -np.inf)
    counts = np.zeros(n_rows, dtype=np.int64)
    heap = np.empty(max(n, 1), dtype=np.float64)
    for r in range(n_rows):
        size = 0
        for c in range(n_cols):
            s = np.float64(scores[r, c])
            if not np.isfinite(s):
                continue
            if size < n:  # sift up
                k = size
                while k > 0:
                    parent = (k - 1) // 2
                    if heap[parent] <= s:
                        break
                    heap[k] = heap[parent]
                    k = parent
                heap[k] = s
                size += 1
            elif s > heap[0]:
                _sift_down(heap, size, s)
        bound = heap[0] if size == n and n > 0 else -np.inf
        kth[r] = bound
        kept = 0
        for c in range(n_cols):
            s = np.float64(scores[r, c])
            if np.isfinite(s) and s >= bound:
                kept += 1
        counts[r] = kept
    rows = np.empty(counts.sum(), dtype=np.int64)
    cols = np.empty(counts.sum(), dtype=np.int64)
    at = 0
    for r in range(n_rows):
        bound = kth[r]
        for c in range(n_cols):
            s = np.float64(scores[r, c])
            if np.isfinite(s) and s >= bound:
                rows[at] = r
                cols[at] = c
                at += 1
    return rows, cols
