"""Biased matrix factorisation (Funk SVD / Surprise ``SVD``) for rating prediction."""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .base import Recommender
from .bias import check_reg
from .checks import check_count, check_number

__all__ = ["SOLVERS", "BiasedMF", "SVDpp"]

logger = logging.getLogger(__name__)
SOLVERS = ("sgd", "als")
#: Seconds per unit of fit work on the benchmark machine (2 cores; see ``fit_seconds``).
ALS_SECONDS = 4.7e-10
SGD_SECONDS = 1.1e-8


def _solve_side(
    matrix: sp.csr_matrix, mean: float, other_bias: np.ndarray, other_factors: np.ndarray, reg: float
) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form ridge solution of every row's ``(bias, factors)`` with the other side held fixed.

    Row ``u`` minimises ``sum_i (r_ui - mean - b_i - b_u - p_u.q_i)^2 + reg * n_u * (b_u^2 + |p_u|^2)``,
    the per-rating regularisation of the SGD objective. One (factors+1)-square solve per row.
    """
    n_rows, k = matrix.shape[0], other_factors.shape[1]
    design = np.hstack([np.ones((other_factors.shape[0], 1)), other_factors])
    bias, factors = np.zeros(n_rows), np.zeros((n_rows, k))
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    eye = np.eye(k + 1)
    for u in range(n_rows):
        lo, hi = indptr[u], indptr[u + 1]
        if hi == lo:
            continue
        cols = indices[lo:hi]
        x = design[cols]
        target = data[lo:hi] - mean - other_bias[cols]
        sol = np.linalg.solve(x.T @ x + reg * (hi - lo) * eye, x.T @ target)
        bias[u], factors[u] = sol[0], sol[1:]
    return bias, factors


def _pair_dots(rows: np.ndarray, cols: np.ndarray, p: np.ndarray, q: np.ndarray, z: np.ndarray | None = None):
    """``q_c . (p_r + z_r)`` for each (row, col) pair (``z``: none), in a compiled loop: no pairs x
    factors temporary."""
    from . import _mf_kernels as kernels

    z = np.empty((0, p.shape[1])) if z is None else z
    return kernels.pair_dots(rows.astype(np.int64), cols.astype(np.int64), p, q, z)


class BiasedMF(Recommender):
    """Biased matrix factorisation: ``r_ui = mu + b_u + b_i + p_u . q_i`` (Funk SVD, Surprise ``SVD``).

    Learns user and item offsets and ``n_factors``-dimensional factors minimising
    ``sum over training ratings of (r_ui - r^_ui)^2 + reg * (b_u^2 + b_i^2 + |p_u|^2 + |q_i|^2)``
    (the regularisation counted once per rating, as stochastic gradient descent applies it).

    Solvers:
        ``"sgd"``: ``n_epochs`` passes of plain stochastic gradient descent over the ratings, one
        rating at a time in a seeded random order (a new order each epoch), as Surprise's ``SVD``;
        a compiled loop (numba) on one core without the GIL. Factors start as
        ``N(0, init_std^2)``, offsets at 0; ``lr`` is the step size.
        ``"als"``: alternating least squares; each half-epoch solves every user's (then item's)
        offset and factors in closed form given the other side (``lr`` unused).

    Defaults are the ALS settings measured best on MovieLens 100k (u1..u5 RMSE 0.914). For
    ``solver="sgd"`` use Surprise's ``n_factors=100, n_epochs=20, lr=0.005, reg=0.02``
    (RMSE 0.937): the SGD optimum needs a much smaller ``reg`` than ALS.

    Estimates are clipped to the training rating range. Fallbacks: an unseen user gets
    ``mu + b_i``, an unseen item ``mu + b_u``, both unseen ``mu``. Ranking is by predicted
    rating over every training item. Fold-in solves the new user's ``b_u`` and ``p_u`` by the
    same regularised least squares, item offsets and factors held fixed (no refit).

    Progress (train RMSE) is logged at INFO every ``log_every`` epochs and at the last one. With
    ALS it is the RMSE of the training ratings after the epoch; with SGD, of the errors the epoch
    met, each before its step (free to compute, as SGD libraries report it).

    Attributes (after ``fit``): those of :class:`Recommender`, plus ``user_bias_``, ``item_bias_``,
    ``user_factors_`` (users x n_factors), ``item_factors_`` (items x n_factors) and
    ``train_rmse_`` (per epoch, see above).

    Complexity: an SGD epoch is O(ratings x n_factors), an ALS epoch
    O(ratings x n_factors^2 + (users + items) x n_factors^3); scoring a block of users
    O(block x items x n_factors).

    Peak memory (bytes; U users, I items, R ratings, k factors, b users per block, M = max(U, I)):
    the shared ratings 24 R (CSR, and the CSC view ALS reads the movies' ratings from); with ALS
    the factors and offsets 16 (k + 1) (U + I) (a half-epoch builds the new side before dropping
    the old) and 16 (k + 1) M (the fixed side with its column of ones, and the rows of it one
    user's or movie's ratings gather, at most all of them); with SGD the factors and offsets
    8 (k + 1) (U + I) and the rating order with each rating's user 12 R; then 8 U of per-user
    training errors, and scoring 32 b I (a block being scored while the previous one is cut to
    its top N). No array grows with ratings x factors: training errors and pair estimates are
    compiled loops.
    """

    def __init__(
        self,
        n_factors: int = 50,
        n_epochs: int = 10,
        lr: float = 0.005,
        reg: float = 0.12,
        solver: str = "als",
        seed: int = 0,
        init_std: float = 0.1,
        log_every: int = 5,
    ) -> None:
        self._set_sgd_params(n_factors, n_epochs, lr, reg, seed, init_std, log_every)
        self.solver = solver

    def _set_sgd_params(
        self, n_factors: int, n_epochs: int, lr: float, reg: float, seed: int, init_std: float, log_every: int
    ) -> None:
        """Keep the settings BiasedMF and SVDpp share (each class its own defaults; checked below)."""
        self.n_factors, self.n_epochs, self.lr, self.reg = n_factors, n_epochs, lr, reg
        self.seed, self.init_std, self.log_every = seed, init_std, log_every

    def _check_sgd_params(self) -> None:
        """The settings BiasedMF and SVDpp share."""
        check_count("n_factors", self.n_factors)
        check_count("n_epochs", self.n_epochs)
        check_number("lr", self.lr, strict=True)
        check_reg("reg", self.reg)
        check_reg("init_std", self.init_std)
        check_count("seed", self.seed, minimum=0)
        check_count("log_every", self.log_every)

    def check_params(self) -> BiasedMF:
        """Raise ValueError naming the first bad hyper-parameter; return self when all are valid."""
        self._check_sgd_params()
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {self.solver!r}.")
        if self.solver == "als" and float(self.reg) == 0:
            raise ValueError("reg must be > 0 with solver='als' (the least-squares systems may be singular).")
        return self

    # ------------------------------------------------------------------ fitting
    def peak_memory(self, n_users: int, n_items: int, n_ratings: int) -> tuple[int, str]:
        k, b = int(self.n_factors), self._block_rows(n_users, n_items)
        if self.solver == "als":
            factors = 16 * (k + 1) * (n_users + n_items) + 16 * (k + 1) * max(n_users, n_items)
        else:
            factors = 8 * (k + 1) * (n_users + n_items) + 12 * n_ratings
        needed = 24 * n_ratings + factors + 8 * n_users + 32 * b * n_items
        return needed, "Lower models.svd.n_factors, or use fewer ratings (raise min_user_ratings / min_movie_ratings)."

    def fit_seconds(self, data) -> tuple[float, str]:
        """ALS: ``4.7e-10 x epochs x (R k^2 + (U + I) k^3)`` seconds (the normal equations and their solves;
        synthetic ML-25M, 50 factors, 10 epochs: 421.9 s measured). SGD: ``1.1e-8 x epochs x R x k`` (the same
        data, 50 factors, 10 epochs: 137.6 s measured; ``svdpp``'s epochs cost about the same per rating and
        factor, 9.5e-9)."""
        k, epochs = int(self.n_factors), int(self.n_epochs)
        if self.solver == "als":
            seconds = ALS_SECONDS * epochs * (data.n_ratings * k**2 + (data.n_users + data.n_items) * k**3)
        else:
            seconds = SGD_SECONDS * epochs * data.n_ratings * k
        return seconds, "Lower models.svd.n_factors or n_epochs."

    def fit(self, ratings: pd.DataFrame, movies: pd.DataFrame | None = None) -> BiasedMF:
        """Learn offsets and factors from a ``userId, movieId, rating`` table; returns self."""
        from . import _mf_kernels as kernels

        matrix = self._index(ratings)
        n_users, n_items = matrix.shape
        rng = np.random.default_rng(self.seed)
        k = int(self.n_factors)
        self.user_factors_ = rng.normal(0.0, float(self.init_std), (n_users, k))
        self.item_factors_ = rng.normal(0.0, float(self.init_std), (n_items, k))
        self.user_bias_, self.item_bias_ = np.zeros(n_users), np.zeros(n_items)
        self.train_rmse_: list[float] = []
        lr, reg = float(self.lr), float(self.reg)
        if self.solver == "sgd":  # each rating's user, in CSR order (the order the seeded permutations index)
            rows = np.repeat(np.arange(n_users, dtype=np.int32), np.diff(matrix.indptr))
        else:  # the movies' ratings as rows: the shared CSC view, no copy
            csc = self.data_.csc
            by_item = sp.csr_matrix((csc.data, csc.indices, csc.indptr), shape=(n_items, n_users), copy=False)
        start = time.perf_counter()
        for epoch in range(1, int(self.n_epochs) + 1):
            if self.solver == "sgd":
                squared = kernels.sgd_epoch(
                    rng.permutation(matrix.nnz), rows, matrix.indices, matrix.data, self.global_mean_,
                    self.user_bias_, self.item_bias_, self.user_factors_, self.item_factors_, lr, reg,
                )  # fmt: skip
            else:
                self.user_bias_, self.user_factors_ = _solve_side(
                    matrix, self.global_mean_, self.item_bias_, self.item_factors_, reg
                )
                self.item_bias_, self.item_factors_ = _solve_side(
                    by_item, self.global_mean_, self.user_bias_, self.user_factors_, reg
                )
                squared = kernels.squared_errors(
                    matrix.indptr, matrix.indices, matrix.data, self.global_mean_, self.user_bias_, self.item_bias_,
                    self.user_factors_, self.item_factors_,
                ).sum()  # fmt: skip
            self._log_epoch(epoch, float(np.sqrt(squared / matrix.nnz)), start)
        return self

    def _log_epoch(self, epoch: int, train_rmse: float, start: float) -> None:
        """Record the epoch's train RMSE; log it every ``log_every`` epochs and at the last one."""
        self.train_rmse_.append(train_rmse)
        if epoch % int(self.log_every) == 0 or epoch == self.n_epochs:
            what = f"{type(self).__name__}({self.solver})" if hasattr(self, "solver") else type(self).__name__
            logger.info(
                "%s epoch %d/%d: train RMSE %.4f (%.1f s)", what, epoch, self.n_epochs, train_rmse,
                time.perf_counter() - start,
            )  # fmt: skip

    # --------------------------------------------------------------- internals
    def _implicit(self) -> np.ndarray | None:
        """What is added to each user's factors when scoring (SVD++'s implicit feedback; none here)."""
        return None

    def _rank_block(self, rows: np.ndarray) -> tuple[np.ndarray, None]:
        users = self.user_factors_[rows] if self._implicit() is None else self.user_factors_[rows] + self._implicit()[rows]
        est = users @ self.item_factors_.T
        est += self.item_bias_[None, :]  # in place, one term at a time: no second block-sized array
        est += (self.global_mean_ + self.user_bias_[rows])[:, None]
        return est, None

    def _rank_vector(self, row: sp.csr_matrix) -> tuple[np.ndarray, None]:
        reg = max(float(self.reg), 1e-6)  # a tiny ridge keeps the system solvable when reg is 0
        bias, factors = _solve_side(row, self.global_mean_, self.item_bias_, self.item_factors_, reg)
        est = self.global_mean_ + bias[0] + self.item_bias_ + self.item_factors_ @ factors[0]
        return est, None

    def _predict_pairs(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        known_u, known_i = rows >= 0, cols >= 0
        r, c = np.maximum(rows, 0), np.maximum(cols, 0)
        est = np.full(len(rows), self.global_mean_)
        est += np.where(known_u, self.user_bias_[r], 0.0) + np.where(known_i, self.item_bias_[c], 0.0)
        both = known_u & known_i
        est[both] += _pair_dots(r[both], c[both], self.user_factors_, self.item_factors_, self._implicit())
        return self._clip(est)


class SVDpp(BiasedMF):
    """SVD++ (Koren 2008): biased matrix factorisation plus the implicit feedback of *which* movies
    each user rated (Surprise ``SVDpp``).

    Definition: ``r_ui = mu + b_u + b_i + q_i . (p_u + z_u)`` with
    ``z_u = |N(u)|^-1/2 sum_{j in N(u)} y_j``, ``N(u)`` the movies ``u`` rated in training and
    ``y_j`` a second factor vector per movie. ``n_epochs`` passes of stochastic gradient descent
    (step ``lr``) minimise ``sum over training ratings of (r_ui - r^_ui)^2 + reg * (b_u^2 + b_i^2 +
    |p_u|^2 + |q_i|^2 + sum_{j in N(u)} |y_j|^2)`` (regularisation per rating, as Surprise applies
    it), user by user in a seeded random order of the users (a new order each epoch), each user's
    ratings by movie id, every ``y_j`` of the user stepped after each rating exactly as Surprise
    does. Factors start as ``N(0, init_std^2)``, offsets at 0. Defaults are Surprise's
    (20 factors, 20 epochs, ``lr`` 0.007, ``reg`` 0.02): u1..u5 RMSE 0.92 on MovieLens 100k.

    Speed: the same updates in a compiled loop (numba, one core, without the GIL). Surprise's loop
    costs O(|N(u)| x factors) per rating, since it steps every ``y_j`` of the user; here the user's
    ``y_j`` share one affine step per rating, so they are composed and applied once per user:
    O(ratings x factors) per epoch, the cost of plain SVD (see ``_mf_kernels.svdpp_epoch``). SGD
    steps depend on each other, so the epochs run on one core.

    Estimates are clipped to the training rating range. Fallbacks: an unseen user gets
    ``mu + b_i``, an unseen item ``mu + b_u``, both unseen ``mu``. Ranking is by predicted rating
    over every training movie. Fold-in: a new user's ``z_u`` comes from the movies they rated
    (as for a training user), then ``b_u`` and ``p_u`` are solved by regularised least squares
    (``reg`` per rating), movie offsets and factors held fixed (no refit).

    Attributes (after ``fit``): those of :class:`BiasedMF` (``user_bias_``, ``item_bias_``,
    ``user_factors_`` p, ``item_factors_`` q, ``train_rmse_``: RMSE of the errors each epoch met,
    each before its step), plus ``implicit_factors_`` (movies x n_factors, the ``y_j``) and
    ``implicit_`` (users x n_factors, each user's ``z_u`` from the final ``y``).

    Complexity: an epoch O(ratings x n_factors); scoring a block of users O(block x items x
    n_factors).

    Peak memory (bytes; U users, I items, R ratings, k factors, b users per block): the shared
    ratings 24 R, the factors and offsets 8 (2k + 2) U (p, z, b_u, the user order) and
    8 (2k + 1) I (q, y, b_i), and scoring 32 b I (as :class:`BiasedMF`). No array grows with
    the ratings.
    """

    def __init__(
        self,
        n_factors: int = 20,
        n_epochs: int = 20,
        lr: float = 0.007,
        reg: float = 0.02,
        seed: int = 0,
        init_std: float = 0.1,
        log_every: int = 5,
    ) -> None:
        self._set_sgd_params(n_factors, n_epochs, lr, reg, seed, init_std, log_every)

    def check_params(self) -> SVDpp:
        """Raise ValueError naming the first bad hyper-parameter; return self when all are valid."""
        self._check_sgd_params()
        return self

    def peak_memory(self, n_users: int, n_items: int, n_ratings: int) -> tuple[int, str]:
        k, b = int(self.n_factors), self._block_rows(n_users, n_items)
        needed = 24 * n_ratings + 8 * (2 * k + 2) * n_users + 8 * (2 * k + 1) * n_items + 32 * b * n_items
        return needed, "Lower models.svdpp.n_factors, or use fewer ratings (raise min_user_ratings / min_movie_ratings)."

    def fit_seconds(self, data) -> tuple[float, str]:
        """``1.1e-8 x epochs x R x k`` seconds, as ``svd``'s SGD (synthetic ML-25M, 20 factors, 20 epochs: 94.8 s
        measured, 9.5e-9 per rating, epoch and factor)."""
        return SGD_SECONDS * int(self.n_epochs) * data.n_ratings * int(self.n_factors), (
            "Lower models.svdpp.n_factors or n_epochs."
        )

    def fit(self, ratings: pd.DataFrame, movies: pd.DataFrame | None = None) -> SVDpp:
        """Learn offsets, factors and implicit factors by SGD; returns self."""
        from . import _mf_kernels as kernels

        matrix = self._index(ratings)
        n_users, n_items = matrix.shape
        rng = np.random.default_rng(self.seed)
        k, std = int(self.n_factors), float(self.init_std)
        self.user_factors_ = rng.normal(0.0, std, (n_users, k))
        self.item_factors_ = rng.normal(0.0, std, (n_items, k))
        self.implicit_factors_ = rng.normal(0.0, std, (n_items, k))
        self.user_bias_, self.item_bias_ = np.zeros(n_users), np.zeros(n_items)
        self.train_rmse_: list[float] = []
        start = time.perf_counter()
        for epoch in range(1, int(self.n_epochs) + 1):
            squared = kernels.svdpp_epoch(
                rng.permutation(n_users), matrix.indptr, matrix.indices, matrix.data, self.global_mean_,
                self.user_bias_, self.item_bias_, self.user_factors_, self.item_factors_, self.implicit_factors_,
                float(self.lr), float(self.reg),
            )  # fmt: skip
            self._log_epoch(epoch, float(np.sqrt(squared / matrix.nnz)), start)
        self.implicit_ = kernels.implicit_sums(matrix.indptr, matrix.indices, self.implicit_factors_)
        return self

    def _implicit(self) -> np.ndarray:
        return self.implicit_

    def _rank_vector(self, row: sp.csr_matrix) -> tuple[np.ndarray, None]:
        from . import _mf_kernels as kernels

        q = self.item_factors_
        z = kernels.implicit_sums(row.indptr, row.indices, self.implicit_factors_)[0]
        target = row.copy()
        target.data = target.data - q[row.indices] @ z  # what b_u + p_u . q_i is left to explain
        reg = max(float(self.reg), 1e-6)  # a tiny ridge keeps the system solvable when reg is 0
        bias, factors = _solve_side(target, self.global_mean_, self.item_bias_, q, reg)
        return self.global_mean_ + bias[0] + self.item_bias_ + q @ (factors[0] + z), None
