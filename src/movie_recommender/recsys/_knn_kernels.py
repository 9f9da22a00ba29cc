"""Compiled loops of the user-user kNN (numba): similarities, neighbour lists and neighbour votes.

Every function works on the raw CSR/CSC arrays (``indptr``, ``indices``, ``data``) and on scratch
buffers handed in by the caller (one row per thread), so nothing is allocated per user and
nothing dense grows beyond one row of users or items per thread.

Similarities (``mode``): 0 = cosine over whole rating vectors (the norms are given), 1 = cosine
over the co-rated items only (the norms are summed over the co-rated items as they are met).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def _finish_similarity(dot, own_sq, other_sq, support, min_support, shrinkage, amplify):
    denom = np.sqrt(own_sq * other_sq)
    if denom <= 0.0:
        return 0.0
    sim = dot / denom
    if shrinkage > 0.0:
        s = max(support - 1.0, 0.0)
        sim *= s / (s + shrinkage)
    if min_support > 1 and support < min_support:
        sim = 0.0
    if amplify != 1.0:
        sim = np.sign(sim) * np.abs(sim) ** amplify
    return sim


@njit(cache=True)
def _keep_best(cand, sims, count, pool, out_idx, out_sim):
    """Write the ``pool`` best of ``cand[:count]`` (positive ``sims``), best first, ties to the smaller
    index, into ``out_idx``/``out_sim``; return how many were written."""
    if count > 4 * pool:  # keep the ones at or above the pool-th best (all ties) before sorting
        kth = np.partition(sims[:count].copy(), count - pool)[count - pool]
        kept = 0
        for c in range(count):
            if sims[c] >= kth:
                cand[kept] = cand[c]
                sims[kept] = sims[c]
                kept += 1
        count = kept
    order = np.argsort(cand[:count], kind="mergesort")
    by_index_c = cand[:count][order]
    by_index_s = sims[:count][order]
    best = np.argsort(-by_index_s, kind="mergesort")  # stable: equal similarities keep index order
    kept = min(pool, count)
    for n in range(kept):
        out_idx[n] = by_index_c[best[n]]
        out_sim[n] = by_index_s[best[n]]
    return kept


@njit(cache=True)
def _exact_row(q_idx, q_val, self_row, mode, norms_sq, own_norm_sq, c_ptr, c_idx, c_val,
               min_support, shrinkage, amplify, pool, dot, own, other, support, touched, cand, csim,
               out_idx, out_sim):
    """Neighbours of one query user against every training user (O(sum of the raters of its items))."""
    n_touched = 0
    for e in range(len(q_idx)):
        item, x = q_idx[e], q_val[e]
        for f in range(c_ptr[item], c_ptr[item + 1]):
            v = c_idx[f]
            if support[v] == 0.0:
                touched[n_touched] = v
                n_touched += 1
            y = c_val[f]
            dot[v] += x * y
            support[v] += 1.0
            if mode == 1:
                own[v] += x * x
                other[v] += y * y
    count = 0
    for t in range(n_touched):
        v = touched[t]
        if v != self_row:
            if mode == 1:
                sim = _finish_similarity(dot[v], own[v], other[v], support[v], min_support, shrinkage, amplify)
            else:
                sim = _finish_similarity(dot[v], own_norm_sq, norms_sq[v], support[v], min_support, shrinkage, amplify)
            if sim > 0.0:
                cand[count] = v
                csim[count] = sim
                count += 1
        dot[v] = 0.0
        support[v] = 0.0
        own[v] = 0.0
        other[v] = 0.0
    return _keep_best(cand, csim, count, pool, out_idx, out_sim)


@njit(cache=True)
def _candidate_row(q_idx, q_val, self_row, mode, norms_sq, own_norm_sq, candidates, r_ptr, r_idx, r_val,
                   min_support, shrinkage, amplify, pool, dense, rated, cand, csim, out_idx, out_sim):
    """Exact similarities of one query user to the given candidate users only."""
    for e in range(len(q_idx)):
        dense[q_idx[e]] = q_val[e]
        rated[q_idx[e]] = True
    count = 0
    for c in range(len(candidates)):
        v = candidates[c]
        if v < 0 or v == self_row:
            continue
        dot = own = other = support = 0.0
        for f in range(r_ptr[v], r_ptr[v + 1]):
            j = r_idx[f]
            if rated[j]:
                x, y = dense[j], r_val[f]
                dot += x * y
                support += 1.0
                own += x * x
                other += y * y
        if mode == 1:
            sim = _finish_similarity(dot, own, other, support, min_support, shrinkage, amplify)
        else:
            sim = _finish_similarity(dot, own_norm_sq, norms_sq[v], support, min_support, shrinkage, amplify)
        if sim > 0.0:
            cand[count] = v
            csim[count] = sim
            count += 1
    for e in range(len(q_idx)):
        dense[q_idx[e]] = 0.0
        rated[q_idx[e]] = False
    return _keep_best(cand, csim, count, pool, out_idx, out_sim)


@njit(cache=True)
def _neighbours_row(q_idx, q_val, self_row, candidates, exact, mode, norms_sq, c_ptr, c_idx, c_val, r_ptr, r_idx,
                    r_val, min_support, shrinkage, amplify, pool, dot, own, other, support, touched, dense, rated,
                    cand, csim, out_idx, out_sim):
    """One query row of :func:`neighbours` (scratch handed in); returns how many neighbours it wrote."""
    own_sq = 0.0
    for e in range(len(q_val)):
        own_sq += q_val[e] * q_val[e]
    if exact:
        return _exact_row(q_idx, q_val, self_row, mode, norms_sq, own_sq, c_ptr, c_idx, c_val, min_support,
                          shrinkage, amplify, pool, dot, own, other, support, touched, cand, csim, out_idx, out_sim)
    return _candidate_row(q_idx, q_val, self_row, mode, norms_sq, own_sq, candidates, r_ptr, r_idx, r_val,
                          min_support, shrinkage, amplify, pool, dense, rated, cand, csim, out_idx, out_sim)


@njit(cache=True, parallel=True)
def neighbours(q_ptr, q_idx, q_val, self_rows, candidates, mode, norms_sq, c_ptr, c_idx, c_val,
               r_ptr, r_idx, r_val, min_support, shrinkage, amplify, pool, n_threads):
    """The ``pool`` most similar training users of each query row (positive similarities only).

    ``candidates`` (queries x C, -1 = none) restricts the search to those users; with zero columns
    every training user is compared. Returns (indices, similarities, counts), best first.
    """
    n_q = len(q_ptr) - 1
    n_users = len(norms_sq)
    n_items = len(c_ptr) - 1
    out_idx = np.full((n_q, pool), -1, dtype=np.int64)
    out_sim = np.zeros((n_q, pool))
    out_n = np.zeros(n_q, dtype=np.int64)
    exact = candidates.shape[1] == 0
    width = n_users if exact else candidates.shape[1]
    per_user = n_users if exact else 0
    per_item = 0 if exact else n_items
    for t in prange(n_threads):
        cand = np.empty(width, dtype=np.int64)
        csim = np.empty(width)
        dot = np.zeros(per_user)
        own = np.zeros(per_user)
        other = np.zeros(per_user)
        support = np.zeros(per_user)
        touched = np.empty(per_user, dtype=np.int64)
        dense = np.zeros(per_item)
        rated = np.zeros(per_item, dtype=np.bool_)
        for q in range(t, n_q, n_threads):
            lo, hi = q_ptr[q], q_ptr[q + 1]
            out_n[q] = _neighbours_row(q_idx[lo:hi], q_val[lo:hi], self_rows[q], candidates[q], exact, mode,
                                       norms_sq, c_ptr, c_idx, c_val, r_ptr, r_idx, r_val, min_support, shrinkage,
                                       amplify, pool, dot, own, other, support, touched, dense, rated, cand, csim,
                                       out_idx[q], out_sim[q])
    return out_idx, out_sim, out_n


@njit(cache=True, inline="always")
def _worse(s1, l1, s2, l2):
    """Whether (similarity s1, label l1) ranks after (s2, l2): smaller similarity, or equal and larger label."""
    return s1 < s2 or (s1 == s2 and l1 > l2)


@njit(cache=True)
def _offer(h_sim, h_lab, n, pool, s, lab):
    """Offer (s, lab) to a row's bounded heap of its ``pool`` best (the worst at the root, ``h_*[0]``),
    holding ``n`` entries; returns the new count."""
    if n < pool:  # not full: append and sift up
        c = n
        while c > 0:
            parent = (c - 1) // 2
            if not _worse(s, lab, h_sim[parent], h_lab[parent]):
                break
            h_sim[c], h_lab[c] = h_sim[parent], h_lab[parent]
            c = parent
        h_sim[c], h_lab[c] = s, lab
        return n + 1
    if not _worse(h_sim[0], h_lab[0], s, lab):  # no better than the worst kept
        return n
    c = 0  # replace the root and sift down
    while True:
        child = 2 * c + 1
        if child >= n:
            break
        if child + 1 < n and _worse(h_sim[child + 1], h_lab[child + 1], h_sim[child], h_lab[child]):
            child += 1
        if not _worse(h_sim[child], h_lab[child], s, lab):
            break
        h_sim[c], h_lab[c] = h_sim[child], h_lab[child]
        c = child
    h_sim[c], h_lab[c] = s, lab
    return n


@njit(cache=True)
def _cosine_lower(q, q_idx, q_val, c_ptr, c_idx, c_val, labels, pool, dot, stamp, touched, cand, csim,
                  h_sim, h_lab, h_n, floor, out_idx, out_sim):
    """Row ``q``'s dot products with the rows before it (``r < q``): its own best among them into ``out_*``
    (returns how many), and each of those rows offered (its dot, ``labels[q]``) on this thread's heaps."""
    n_touched = 0
    mark = np.int32(q)
    for e in range(len(q_idx)):
        u, x = q_idx[e], q_val[e]
        lo = c_ptr[u]
        end = lo + np.searchsorted(c_idx[lo:c_ptr[u + 1]], q)  # the column's rows are sorted
        for f in range(lo, end):
            v = c_idx[f]
            if stamp[v] != mark:  # first met for this row: no clearing pass over the scratch
                stamp[v] = mark
                touched[n_touched] = v
                n_touched += 1
                dot[v] = x * c_val[f]
            else:
                dot[v] += x * c_val[f]
    count = 0
    own = labels[q]
    for t in range(n_touched):
        v = touched[t]
        d = dot[v]
        if d > 0.0:
            cand[count] = labels[v]
            csim[count] = d
            count += 1
            if d >= floor[v]:  # row v's dot with q: the same products, summed in the same order
                base = v * pool
                n = _offer(h_sim[base:base + pool], h_lab[base:base + pool], h_n[v], pool, d, own)
                h_n[v] = n
                if n == pool:
                    floor[v] = h_sim[base]
    return _keep_best(cand, csim, count, pool, out_idx, out_sim)


@njit(cache=True, parallel=True)
def cosine_neighbours(q_ptr, q_idx, q_val, c_ptr, c_idx, c_val, labels, pool, n_threads):
    """The ``pool`` largest dot products (positive only) of each row with every other row: the cosine when
    the rows have unit length. Best first, ties to the smaller label; returns (labels, dots, counts).

    Rows are given twice: ``q_*`` by row (row r: its columns and values), ``c_*`` by column (column u:
    the rows holding it, sorted). Row r's dot products are summed over its columns in order, as a sparse
    product sums them. ``labels[r]`` is the name written for row r (rows may be stored in any order, e.g.
    most-filled first so that the scratch entries touched most stay in cache).

    Each pair of rows is multiplied once, not twice: row q sums its dot products with the rows before it
    only (the most-filled ones when rows are stored so: the hot part of the scratch), keeps its best among
    them, and offers each of them its dot with q on a bounded heap per row and thread. Row r's dot with q
    (r < q) sums the same products over the same columns in the same order as q's with r, so it is bit
    for bit what row r would have summed itself. A row's answer is then the best of its own part and of
    the heaps. Every row is a query (``q_ptr`` covers them all). Work: half the sum over columns of their
    rows squared; scratch per thread: ``rows x pool`` heap entries (16 bytes) and five rows-long arrays.
    """
    n_q = len(q_ptr) - 1
    n_rows = len(labels)
    out_idx = np.full((n_q, pool), -1, dtype=np.int64)
    out_sim = np.zeros((n_q, pool))
    out_n = np.zeros(n_q, dtype=np.int64)
    heap_sim = np.zeros((n_threads, n_q * pool))
    heap_lab = np.zeros((n_threads, n_q * pool), dtype=np.int64)
    heap_n = np.zeros((n_threads, n_q), dtype=np.int64)
    for t in prange(n_threads):
        dot = np.zeros(n_rows, dtype=c_val.dtype)
        stamp = np.full(n_rows, -1, dtype=np.int32)
        touched = np.empty(n_rows, dtype=np.int32)
        cand = np.empty(n_rows, dtype=np.int64)
        csim = np.empty(n_rows, dtype=c_val.dtype)
        floor = np.zeros(n_q)  # the worst kept on this thread's heap of each row, once full (else 0)
        for q in range(t, n_q, n_threads):
            lo, hi = q_ptr[q], q_ptr[q + 1]
            out_n[q] = _cosine_lower(q, q_idx[lo:hi], q_val[lo:hi], c_ptr, c_idx, c_val, labels, pool, dot, stamp,
                                     touched, cand, csim, heap_sim[t], heap_lab[t], heap_n[t], floor,
                                     out_idx[q], out_sim[q])
    for t in prange(n_threads):  # each row: the best of its own part and of every thread's heap
        cand = np.empty((n_threads + 1) * pool, dtype=np.int64)
        csim = np.empty((n_threads + 1) * pool)
        for q in range(t, n_q, n_threads):
            count = out_n[q]
            cand[:count] = out_idx[q, :count]
            csim[:count] = out_sim[q, :count]
            base = q * pool
            for h in range(n_threads):
                for e in range(heap_n[h, q]):
                    cand[count] = heap_lab[h, base + e]
                    csim[count] = heap_sim[h, base + e]
                    count += 1
            out_n[q] = _keep_best(cand, csim, count, pool, out_idx[q], out_sim[q])
    return out_idx, out_sim, out_n


@njit(cache=True)
def neighbours_one(q_idx, q_val, candidates, mode, norms_sq, c_ptr, c_idx, c_val, r_ptr, r_idx, r_val,
                   min_support, shrinkage, amplify, pool):
    """:func:`neighbours` of one new user (no training row), in the calling thread: a fold-in does
    microseconds of work per neighbour, and a parallel region waits for every thread of the pool to be
    scheduled (milliseconds on a busy machine). ``candidates``: a 1-d row, empty for every user."""
    n_users = len(norms_sq)
    n_items = len(c_ptr) - 1
    exact = len(candidates) == 0
    width = n_users if exact else len(candidates)
    per_user = n_users if exact else 0
    per_item = 0 if exact else n_items
    out_idx = np.full((1, pool), -1, dtype=np.int64)
    out_sim = np.zeros((1, pool))
    out_n = np.zeros(1, dtype=np.int64)
    out_n[0] = _neighbours_row(q_idx, q_val, -1, candidates, exact, mode, norms_sq, c_ptr, c_idx, c_val, r_ptr,
                               r_idx, r_val, min_support, shrinkage, amplify, pool, np.zeros(per_user),
                               np.zeros(per_user), np.zeros(per_user), np.zeros(per_user),
                               np.empty(per_user, dtype=np.int64), np.zeros(per_item),
                               np.zeros(per_item, dtype=np.bool_), np.empty(width, dtype=np.int64),
                               np.empty(width), out_idx[0], out_sim[0])
    return out_idx, out_sim, out_n


@njit(cache=True, parallel=True)
def vote(nbr_idx, nbr_sim, nbr_n, k, by_support, r_ptr, r_idx, r_val, n_items, n_threads):
    """Numerators and denominators of every item's estimate for each query row.

    Neighbours come best first, so the first ``k`` of them who rated an item are its ``k`` nearest
    raters (ties already went to the smaller index). With ``by_support`` only the ``k`` nearest
    users overall vote, each adding its similarity to every item it rated (numerators stay 0).
    """
    n_q = nbr_idx.shape[0]
    num = np.zeros((n_q, n_items))
    den = np.zeros((n_q, n_items))
    for t in prange(n_threads):
        counts = np.zeros(n_items, dtype=np.int64)
        for q in range(t, n_q, n_threads):
            if by_support:
                for n in range(min(k, nbr_n[q])):
                    v, w = nbr_idx[q, n], nbr_sim[q, n]
                    for f in range(r_ptr[v], r_ptr[v + 1]):
                        den[q, r_idx[f]] += w
                continue
            for n in range(nbr_n[q]):
                v, w = nbr_idx[q, n], nbr_sim[q, n]
                for f in range(r_ptr[v], r_ptr[v + 1]):
                    j = r_idx[f]
                    if counts[j] < k:
                        counts[j] += 1
                        num[q, j] += w * r_val[f]
                        den[q, j] += w
            counts[:] = 0
    return num, den


@njit(cache=True)
def _top_row(scores, self_col, width, heap_v, heap_i, size=0, offset=0):
    """Heap of the ``width`` largest ``scores`` (skipping ``self_col``) in ``heap_v``/``heap_i``, holding ``size``
    entries already; ``scores[j]`` is column ``offset + j``. Returns the heap's size."""
    for j in range(len(scores)):
        if j + offset == self_col:
            continue
        x = scores[j]
        if size < width:  # push, sift up
            pos = size
            size += 1
            while pos > 0:
                parent = (pos - 1) // 2
                if heap_v[parent] <= x:
                    break
                heap_v[pos], heap_i[pos] = heap_v[parent], heap_i[parent]
                pos = parent
            heap_v[pos], heap_i[pos] = x, j + offset
        elif x > heap_v[0]:  # replace the smallest, sift down
            pos = 0
            while True:
                child = 2 * pos + 1
                if child >= size:
                    break
                if child + 1 < size and heap_v[child + 1] < heap_v[child]:
                    child += 1
                if heap_v[child] >= x:
                    break
                heap_v[pos], heap_i[pos] = heap_v[child], heap_i[child]
                pos = child
            heap_v[pos], heap_i[pos] = x, j + offset
    return size


@njit(cache=True, nogil=True)
def top_candidates_tile(scores, offset, self_cols, heap_v, heap_i, sizes):
    """The columns of the ``width`` largest scores of each row (skipping ``self_cols``), one tile of columns
    at a time: ``scores`` are columns ``offset ..`` of each row, and each row's heap (``heap_v[q]``,
    ``heap_i[q]``, ``sizes[q]`` entries) goes on from the tiles before. Tiles given in column order keep
    the same columns as the whole rows at once. One core, without the GIL (the caller splits the rows)."""
    width = heap_v.shape[1]
    for q in range(scores.shape[0]):
        sizes[q] = _top_row(scores[q], self_cols[q], width, heap_v[q], heap_i[q], sizes[q], offset)


@njit(cache=True)
def project_one(idx, val, components):
    """``components[:, idx] @ val`` in float64, summed over the entries in order: what scipy's sparse row
    times ``components.T`` gives, without converting the whole of ``components`` (search_dims x items)."""
    out = np.zeros(components.shape[0])
    for e in range(len(idx)):
        a = val[e]
        for k in range(components.shape[0]):
            out[k] += a * np.float64(components[k, idx[e]])
    return out


@njit(cache=True)
def top_candidates_one(scores, width):
    """The columns of the ``width`` largest of one row of scores (any order; -1 pads), in the calling thread."""
    heap_v = np.empty(width, dtype=scores.dtype)
    heap_i = np.empty(width, dtype=np.int64)
    size = _top_row(scores, -1, width, heap_v, heap_i)
    out = np.full(width, -1, dtype=np.int64)
    out[:size] = heap_i[:size]
    return out


@njit(cache=True, parallel=True)
def item_votes(q_ptr, q_idx, q_res, t_ptr, t_idx, t_sim, s_ptr, s_idx, s_sim, k, by_support, n_items, n_threads):
    """Item-item kNN numerators and denominators of every item for each query user.

    The query rows hold the users' residuals on the items they rated (sorted item indices).
    ``t`` lists, for each item ``j``, the items ``i`` that keep ``j`` among their most similar,
    with ``sim(i, j)`` (sorted by ``i``); an item's voters are the ``k`` most similar of the
    user's rated items among them (ties to the smaller ``j``, which comes first). With
    ``by_support``, ``s`` (each item's kept neighbours, best first) gives every rated item's first
    ``k`` neighbours, each adding its similarity to the denominators.
    """
    n_q = len(q_ptr) - 1
    num = np.zeros((n_q, n_items))
    den = np.zeros((n_q, n_items))
    width = 0 if by_support else n_items
    for t in prange(n_threads):
        top_sim = np.empty((width, k))
        top_res = np.empty((width, k))
        filled = np.zeros(width, dtype=np.int64)
        touched = np.empty(width, dtype=np.int64)
        for q in range(t, n_q, n_threads):
            if by_support:
                for e in range(q_ptr[q], q_ptr[q + 1]):
                    j = q_idx[e]
                    for f in range(s_ptr[j], min(s_ptr[j] + k, s_ptr[j + 1])):
                        den[q, s_idx[f]] += s_sim[f]
                continue
            n_touched = 0
            for e in range(q_ptr[q], q_ptr[q + 1]):
                j, r = q_idx[e], q_res[e]
                for f in range(t_ptr[j], t_ptr[j + 1]):
                    i, s = t_idx[f], t_sim[f]
                    size = filled[i]
                    if size == 0:
                        touched[n_touched] = i
                        n_touched += 1
                    if size == k and s <= top_sim[i, k - 1]:
                        continue  # not better than the k-th (an equal one came from a smaller j)
                    pos = size if size < k else k - 1
                    while pos > 0 and top_sim[i, pos - 1] < s:
                        if pos < k:
                            top_sim[i, pos] = top_sim[i, pos - 1]
                            top_res[i, pos] = top_res[i, pos - 1]
                        pos -= 1
                    top_sim[i, pos] = s
                    top_res[i, pos] = r
                    if size < k:
                        filled[i] = size + 1
            for n in range(n_touched):
                i = touched[n]
                a = 0.0
                b = 0.0
                for m in range(filled[i]):
                    a += top_sim[i, m] * top_res[i, m]
                    b += top_sim[i, m]
                num[q, i] = a
                den[q, i] = b
                filled[i] = 0
    return num, den


@njit(cache=True, inline="always")
def _thread_rows(n_q, t, n_threads):
    """Thread ``t``'s contiguous share ``lo:hi`` of ``n_q`` query rows (empty when there are fewer rows)."""
    width = (n_q + n_threads - 1) // n_threads
    lo = min(n_q, t * width)
    return lo, min(n_q, lo + width)


@njit(cache=True, inline="always")
def _block_raters(q_ptr, q_idx, q_res, lo, hi, n_items):
    """The transpose of query rows ``lo:hi``: each item's raters among them (positions from ``lo``) and
    their residuals, as (indptr, users, residuals)."""
    c_ptr = np.zeros(n_items + 1, dtype=np.int64)
    for e in range(q_ptr[lo], q_ptr[hi]):
        c_ptr[q_idx[e] + 1] += 1
    for j in range(n_items):
        c_ptr[j + 1] += c_ptr[j]
    fill = c_ptr[:-1].copy()
    c_user = np.empty(q_ptr[hi] - q_ptr[lo], dtype=np.int64)
    c_res = np.empty(q_ptr[hi] - q_ptr[lo])
    for q in range(lo, hi):
        for e in range(q_ptr[q], q_ptr[q + 1]):
            j = q_idx[e]
            p = fill[j]
            c_user[p] = q - lo
            c_res[p] = q_res[e]
            fill[j] = p + 1
    return c_ptr, c_user, c_res


@njit(cache=True, inline="always")
def _pool_votes(i, s_ptr, s_idx, s_sim, c_ptr, c_user, c_res, k, count, a, b, touched, size):
    """Item ``i``'s votes for a block of ``size`` users: its kept neighbours best first, each adding its
    similarity (``b``) and similarity x residual (``a``) for the block's raters of it, until ``k`` voted
    for a user. Writes the users met to ``touched`` and returns how many (their scratch is left set)."""
    n_touched = 0
    n_full = 0
    for f in range(s_ptr[i], s_ptr[i + 1]):
        j, w = s_idx[f], s_sim[f]
        for p in range(c_ptr[j], c_ptr[j + 1]):
            u = c_user[p]
            c = count[u]
            if c < k:
                if c == 0:
                    touched[n_touched] = u
                    n_touched += 1
                a[u] += w * c_res[p]
                b[u] += w
                count[u] = c + 1
                if c + 1 == k:
                    n_full += 1
        if n_full == size:
            break  # every user of the block has its k voters on i
    return n_touched


@njit(cache=True, parallel=True)
def item_votes_pooled(q_ptr, q_idx, q_res, s_ptr, s_idx, s_sim, k, n_items, n_threads):
    """:func:`item_votes` without ``by_support``, the same numbers by the other loop order: for each item
    ``i``, its kept neighbours best first (``s``), each rated by some of the query users, until ``k`` of
    a user's rated items have voted. The query rows are split into one block per thread, whose
    transpose (each item's raters in the block, with their residuals) is built first.

    Work: per block, every kept pair once plus, per rater, the kept pairs naming its rated items (the
    pairs :func:`item_votes` walks, but in a few arrays the size of the block instead of items x k).
    The sums run in the same order as there (best neighbour first), so the results are identical.
    """
    n_q = len(q_ptr) - 1
    num = np.zeros((n_q, n_items))
    den = np.zeros((n_q, n_items))
    for t in prange(n_threads):
        lo, hi = _thread_rows(n_q, t, n_threads)
        if hi <= lo:
            continue
        size = hi - lo
        c_ptr, c_user, c_res = _block_raters(q_ptr, q_idx, q_res, lo, hi, n_items)
        count, touched = np.zeros(size, dtype=np.int64), np.empty(size, dtype=np.int64)
        a, b = np.zeros(size), np.zeros(size)
        for i in range(n_items):
            n_touched = _pool_votes(i, s_ptr, s_idx, s_sim, c_ptr, c_user, c_res, k, count, a, b, touched, size)
            for m in range(n_touched):
                u = touched[m]
                num[lo + u, i] = a[u]
                den[lo + u, i] = b[u]
                a[u] = 0.0
                b[u] = 0.0
                count[u] = 0
    return num, den


@njit(cache=True, inline="always")
def _better(s1, t1, c1, j1, s2, t2, c2, j2):
    """Ranking order of the top-N lists: higher score, then higher tie-break, then more ratings, then smaller column."""
    if s1 != s2:
        return s1 > s2
    if t1 != t2:
        return t1 > t2
    if c1 != c2:
        return c1 > c2
    return j1 < j2


@njit(cache=True, inline="always")
def _push_top(s, tb, c, j, n, best_s, best_t, best_c, best_j, size):
    """Insert (score s, tie-break tb, count c, column j) into a best-first list of ``size`` <= n entries
    (``_better`` order); returns the new size."""
    if size == n and not _better(s, tb, c, j, best_s[n - 1], best_t[n - 1], best_c[n - 1], best_j[n - 1]):
        return size
    pos = size if size < n else n - 1
    while pos > 0 and _better(s, tb, c, j, best_s[pos - 1], best_t[pos - 1], best_c[pos - 1], best_j[pos - 1]):
        if pos < n:
            best_s[pos], best_t[pos], best_c[pos], best_j[pos] = (
                best_s[pos - 1], best_t[pos - 1], best_c[pos - 1], best_j[pos - 1])
        pos -= 1
    best_s[pos], best_t[pos], best_c[pos], best_j[pos] = s, tb, c, j
    return size + 1 if size < n else size


@njit(cache=True, parallel=True)
def item_vote_top(q_ptr, q_idx, q_res, s_ptr, s_idx, s_sim, k, damping, user_centre, item_centre, item_counts, n,
                  n_threads):
    """The top ``n`` unrated items of each query row by item-item kNN estimate, straight from the votes of
    :func:`item_votes_pooled` (the same loop order), without a users x items array.

    The estimate of item ``i`` is ``num / (den + damping) + (user_centre[q] + item_centre[i])`` where some
    kept neighbour of ``i`` was rated (``den > 0``); items the query rated (its row of ``q``) are skipped.
    Ties go to the higher ``den``, then the higher ``item_counts``, then the smaller column: the order of
    the dense ranking, and the same floating-point operations. Returns (columns, unclipped estimates),
    each (queries, n), padded with -1 / -inf.
    """
    n_q = len(q_ptr) - 1
    n_items = len(item_counts)
    out_cols = np.full((n_q, n), -1, dtype=np.int64)
    out_scores = np.full((n_q, n), -np.inf)
    for t in prange(n_threads):
        lo, hi = _thread_rows(n_q, t, n_threads)
        if hi <= lo:
            continue
        size = hi - lo
        c_ptr, c_user, c_res = _block_raters(q_ptr, q_idx, q_res, lo, hi, n_items)
        count, touched = np.zeros(size, dtype=np.int64), np.empty(size, dtype=np.int64)
        a, b = np.zeros(size), np.zeros(size)
        rated = np.zeros(size, dtype=np.bool_)
        best_s = np.empty((size, n))
        best_t = np.empty((size, n))
        best_c = np.empty((size, n))
        best_j = np.empty((size, n), dtype=np.int64)
        kept = np.zeros(size, dtype=np.int64)
        for i in range(n_items):
            n_touched = _pool_votes(i, s_ptr, s_idx, s_sim, c_ptr, c_user, c_res, k, count, a, b, touched, size)
            for p in range(c_ptr[i], c_ptr[i + 1]):
                rated[c_user[p]] = True
            centre_i = item_centre[i]
            popularity = item_counts[i]
            for m in range(n_touched):
                u = touched[m]
                if not rated[u] and b[u] > 0.0:
                    score = a[u] / (b[u] + damping) + (user_centre[lo + u] + centre_i)
                    if np.isfinite(score):
                        kept[u] = _push_top(score, b[u], popularity, i, n, best_s[u], best_t[u], best_c[u],
                                            best_j[u], kept[u])
                a[u] = 0.0
                b[u] = 0.0
                count[u] = 0
            for p in range(c_ptr[i], c_ptr[i + 1]):
                rated[c_user[p]] = False
        for u in range(size):
            for m in range(kept[u]):
                out_cols[lo + u, m] = best_j[u, m]
                out_scores[lo + u, m] = best_s[u, m]
    return out_cols, out_scores


@njit(cache=True)
def _vote_top_row(nbr_idx, nbr_sim, voters, k, by_support, r_ptr, r_idx, r_val, centering, centre, item_bias,
                  x_idx, item_counts, n, num, den, counts, excluded, touched, best_s, best_t, best_c, best_j,
                  out_cols, out_scores):
    """One query row of :func:`vote_top` (scratch handed in, left zeroed): its ``voters`` first neighbours
    vote, ``x_idx`` are its excluded items, ``centre`` its ``user_centre``; writes its top ``n``."""
    n_touched = 0
    for m in range(voters):
        v, w = nbr_idx[m], nbr_sim[m]
        for f in range(r_ptr[v], r_ptr[v + 1]):
            j = r_idx[f]
            if counts[j] == 0:
                touched[n_touched] = j
                n_touched += 1
            if by_support:
                counts[j] = 1
                den[j] += w
            elif counts[j] < k:
                counts[j] += 1
                num[j] += w * r_val[f]
                den[j] += w
    for e in range(len(x_idx)):
        excluded[x_idx[e]] = True
    size = 0
    for a in range(n_touched):
        j = touched[a]
        if excluded[j] or not den[j] > 0.0:
            continue
        if by_support:
            s, tb = den[j], 0.0
        else:
            s = num[j] / den[j]
            if centering == 1:
                s += centre
            elif centering == 2:
                s += centre + item_bias[j]
            tb = den[j]
        if not np.isfinite(s):
            continue
        size = _push_top(s, tb, item_counts[j], j, n, best_s, best_t, best_c, best_j, size)
    for a in range(size):
        out_cols[a] = best_j[a]
        out_scores[a] = best_s[a]
    for a in range(n_touched):
        j = touched[a]
        num[j] = 0.0
        den[j] = 0.0
        counts[j] = 0
    for e in range(len(x_idx)):
        excluded[x_idx[e]] = False


@njit(cache=True, parallel=True)
def vote_top(nbr_idx, nbr_sim, nbr_n, k, by_support, r_ptr, r_idx, r_val, centering, user_centre, item_bias,
             x_ptr, x_idx, item_counts, n, n_threads):
    """The top ``n`` items of each query row straight from the neighbours' votes (what ``vote`` and a
    dense ranking give, without a users x items array): only the items some neighbour rated are met.

    ``centering``: 0 = the estimate is ``num / den``; 1 = ``num / den + user_centre[q]``; 2 = ``num / den
    + (user_centre[q] + item_bias[j])``. With ``by_support`` the score is ``den`` and there is no
    tie-break; otherwise ties go to the higher ``den``. Then to the higher ``item_counts``, then to the
    smaller column. Items in the query's row of ``x`` (its training items) are skipped.
    Returns (columns, scores) of shape (queries, n); -1 / -inf pad rows with fewer candidates.
    """
    n_q = nbr_idx.shape[0]
    n_items = len(item_counts)
    out_cols = np.full((n_q, n), -1, dtype=np.int64)
    out_scores = np.full((n_q, n), -np.inf)
    for t in prange(n_threads):
        num = np.zeros(n_items)
        den = np.zeros(n_items)
        counts = np.zeros(n_items, dtype=np.int64)
        excluded = np.zeros(n_items, dtype=np.bool_)
        touched = np.empty(n_items, dtype=np.int64)
        best_s = np.empty(n)
        best_t = np.empty(n)
        best_c = np.empty(n)
        best_j = np.empty(n, dtype=np.int64)
        for q in range(t, n_q, n_threads):
            voters = min(k, nbr_n[q]) if by_support else nbr_n[q]
            _vote_top_row(nbr_idx[q], nbr_sim[q], voters, k, by_support, r_ptr, r_idx, r_val, centering,
                          user_centre[q], item_bias, x_idx[x_ptr[q]:x_ptr[q + 1]], item_counts, n, num, den, counts,
                          excluded, touched, best_s, best_t, best_c, best_j, out_cols[q], out_scores[q])
    return out_cols, out_scores


@njit(cache=True)
def vote_top_one(nbr_idx, nbr_sim, nbr_n, k, by_support, r_ptr, r_idx, r_val, centering, centre, item_bias,
                 x_idx, item_counts, n):
    """:func:`vote_top` of one query (a fold-in: ``nbr_*`` its 1-d neighbours, ``x_idx`` its rated items,
    ``centre`` its ``user_centre``), in the calling thread. Returns (columns, scores), each of length ``n``."""
    n_items = len(item_counts)
    out_cols = np.full(n, -1, dtype=np.int64)
    out_scores = np.full(n, -np.inf)
    voters = min(k, nbr_n) if by_support else nbr_n
    _vote_top_row(nbr_idx, nbr_sim, voters, k, by_support, r_ptr, r_idx, r_val, centering, centre, item_bias, x_idx,
                  item_counts, n, np.zeros(n_items), np.zeros(n_items), np.zeros(n_items, dtype=np.int64),
                  np.zeros(n_items, dtype=np.bool_), np.empty(n_items, dtype=np.int64), np.empty(n), np.empty(n),
                  np.empty(n), np.empty(n, dtype=np.int64), out_cols, out_scores)
    return out_cols, out_scores


@njit(cache=True, parallel=True)
def vote_pairs(nbr_idx, nbr_sim, nbr_n, k, r_ptr, r_idx, r_val, p_ptr, p_idx, n_items, n_threads):
    """Numerators and denominators of the estimates of the requested items only (``vote`` restricted to
    the pairs): query row ``q`` asks for items ``p_idx[p_ptr[q]:p_ptr[q + 1]]``; one value per pair."""
    n_q = nbr_idx.shape[0]
    num = np.zeros(len(p_idx))
    den = np.zeros(len(p_idx))
    for t in prange(n_threads):
        slot = np.full(n_items, -1, dtype=np.int64)
        counts = np.zeros(n_items, dtype=np.int64)
        for q in range(t, n_q, n_threads):
            for e in range(p_ptr[q], p_ptr[q + 1]):
                if slot[p_idx[e]] < 0:
                    slot[p_idx[e]] = e
            for m in range(nbr_n[q]):
                v, w = nbr_idx[q, m], nbr_sim[q, m]
                for f in range(r_ptr[v], r_ptr[v + 1]):
                    j = r_idx[f]
                    s = slot[j]
                    if s >= 0 and counts[j] < k:
                        counts[j] += 1
                        num[s] += w * r_val[f]
                        den[s] += w
            for e in range(p_ptr[q], p_ptr[q + 1]):
                j = p_idx[e]
                s = slot[j]
                if s != e:  # the same item asked twice: the first pair holds its sums
                    num[e] = num[s]
                    den[e] = den[s]
            for e in range(p_ptr[q], p_ptr[q + 1]):
                slot[p_idx[e]] = -1
                counts[p_idx[e]] = 0
    return num, den
