"""Compiled loops of the matrix-factorisation models (numba): SGD epochs of ``svd`` and ``svdpp``,
training errors and pair estimates without any temporary sized by the data.

Every function works on the raw CSR arrays (``indptr``, ``indices``, ``data``) or on index arrays
handed in by the caller, and updates the factor arrays in place. SGD is sequential by definition
(each step sees the previous one), so the epochs run on one core, without the GIL; the
per-user sums (errors, implicit feedback) run on every core.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, nogil=True, fastmath=True)
def sgd_epoch(order, rows, cols, values, mu, b_u, b_i, p, q, lr, reg):
    """One pass of plain SGD over the ratings ``order`` (positions into ``rows, cols, values``) for
    ``r_ui ~ mu + b_u + b_i + p_u . q_i``; ``p_u`` and ``q_i`` are stepped from their values before
    the step (as Surprise's ``SVD``). Returns the sum of the squared errors met (each before its step)."""
    k = p.shape[1]
    total = 0.0
    for n in order:
        u, i = rows[n], cols[n]
        dot = 0.0
        for f in range(k):
            dot += p[u, f] * q[i, f]
        err = values[n] - (mu + b_u[u] + b_i[i] + dot)
        total += err * err
        b_u[u] += lr * (err - reg * b_u[u])
        b_i[i] += lr * (err - reg * b_i[i])
        for f in range(k):
            pf, qf = p[u, f], q[i, f]
            p[u, f] = pf + lr * (err * qf - reg * pf)
            q[i, f] = qf + lr * (err * pf - reg * qf)
    return total


@njit(cache=True, nogil=True, fastmath=True)
def svdpp_epoch(users, indptr, indices, data, mu, b_u, b_i, p, q, y, lr, reg):
    """One SGD pass of SVD++ over the ratings of ``users``, in that order, each user's ratings in
    CSR order (Surprise's ``SVDpp`` order: user by user).

    Model: ``r_ui ~ mu + b_u + b_i + q_i . (p_u + z_u)`` with ``z_u = |N(u)|^-1/2 sum_{j in N(u)} y_j``.
    Surprise steps every ``y_j`` of the user after each rating, ``y_j += lr (err q_i / sqrt|N(u)| - reg
    y_j)``: O(|N(u)| k) per rating. Every ``y_j`` of the user then follows the same affine map
    ``y_j -> a y_j + c`` (``a = 1 - lr reg``, ``c = lr err q_i / sqrt|N(u)|``), so the composition
    over the user's ratings is ``y_j -> a^n y_j + C`` with ``C`` accumulated as ``C -> a C + c``,
    and ``z_u`` follows ``z_u -> a z_u + lr err q_i``. Applying it once at the end of the user gives
    the same numbers with O(|N(u)| k) per user, not per rating. Returns the sum of the squared
    errors met (each before its step).
    """
    k = p.shape[1]
    z = np.empty(k)
    acc = np.empty(k)
    a = 1.0 - lr * reg
    total = 0.0
    for u in users:
        lo, hi = indptr[u], indptr[u + 1]
        if hi == lo:
            continue
        scale = 1.0 / np.sqrt(hi - lo)
        z[:] = 0.0
        for t in range(lo, hi):
            j = indices[t]
            for f in range(k):
                z[f] += y[j, f]
        for f in range(k):
            z[f] *= scale
        acc[:] = 0.0
        decay = 1.0
        for t in range(lo, hi):
            i = indices[t]
            dot = 0.0
            for f in range(k):
                dot += q[i, f] * (p[u, f] + z[f])
            err = data[t] - (mu + b_u[u] + b_i[i] + dot)
            total += err * err
            b_u[u] += lr * (err - reg * b_u[u])
            b_i[i] += lr * (err - reg * b_i[i])
            for f in range(k):
                pf, qf = p[u, f], q[i, f]
                p[u, f] = pf + lr * (err * qf - reg * pf)
                q[i, f] = qf + lr * (err * (pf + z[f]) - reg * qf)
                acc[f] = a * acc[f] + lr * err * qf * scale
                z[f] = a * z[f] + lr * err * qf
            decay *= a
        for t in range(lo, hi):
            j = indices[t]
            for f in range(k):
                y[j, f] = decay * y[j, f] + acc[f]
    return total


@njit(cache=True, nogil=True, parallel=True, fastmath=True)
def implicit_sums(indptr, indices, y):
    """``z_u = |N(u)|^-1/2 sum_{j in N(u)} y_j`` of every row (0 for an empty row)."""
    n_rows, k = len(indptr) - 1, y.shape[1]
    out = np.zeros((n_rows, k))
    for u in prange(n_rows):
        lo, hi = indptr[u], indptr[u + 1]
        if hi == lo:
            continue
        for t in range(lo, hi):
            for f in range(k):
                out[u, f] += y[indices[t], f]
        scale = 1.0 / np.sqrt(hi - lo)
        for f in range(k):
            out[u, f] *= scale
    return out


@njit(cache=True, nogil=True, parallel=True, fastmath=True)
def squared_errors(indptr, indices, data, mu, b_u, b_i, p, q):
    """Per user, the sum of squared errors of ``mu + b_u + b_i + p_u . q_i`` over their ratings (summed
    afterwards in a fixed order, so deterministic)."""
    n_rows, k = len(indptr) - 1, p.shape[1]
    out = np.zeros(n_rows)
    for u in prange(n_rows):
        vector = p[u]
        total = 0.0
        for t in range(indptr[u], indptr[u + 1]):
            i = indices[t]
            dot = 0.0
            for f in range(k):
                dot += q[i, f] * vector[f]
            err = data[t] - (mu + b_u[u] + b_i[i] + dot)
            total += err * err
        out[u] = total
    return out


@njit(cache=True, nogil=True, parallel=True, fastmath=True)
def pair_dots(rows, cols, p, q, z):
    """``q_c . (p_r + z_r)`` for each pair (``z`` with no rows: ``q_c . p_r``)."""
    k = p.shape[1]
    implicit = z.shape[0] > 0
    out = np.empty(len(rows))
    for n in prange(len(rows)):
        r, c = rows[n], cols[n]
        dot = 0.0
        if implicit:
            for f in range(k):
                dot += q[c, f] * (p[r, f] + z[r, f])
        else:
            for f in range(k):
                dot += q[c, f] * p[r, f]
        out[n] = dot
    return out
