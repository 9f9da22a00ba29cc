"""User-user collaborative filtering (k nearest neighbours) on sparse rating matrices.

The ratings live in a ``scipy.sparse`` users x items matrix shared with the other models. For a
block of users at a time, compiled loops (``_knn_kernels``) find each user's pool of most similar
users and let them vote on every item, on every core; nothing users x users is ever stored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .base import BLOCK_CELLS, Recommender, UnknownUserError
from .bias import baseline_offsets, check_reg, fold_in_user_bias
from .checks import check_count, check_number
from .data import RatingData

SIMILARITIES = ("cosine", "cosine_common", "pearson", "pearson_baseline")
CENTERINGS = ("none", "mean", "baseline")
RANKINGS = ("rating", "support")
SEARCHES = ("auto", "exact", "svd")
#: ``search="auto"`` compares every pair of users exactly while the work, the sum over items of their
#: number of raters squared, is at most this (MovieLens 1M: 1.2e9; 10M: about 1e11); else it searches.
EXACT_WORK = 2 * 10**10
#: ``pool=None`` keeps ``AUTO_POOL_WORK / ratings`` neighbours per user, so that the votes, about
#: pool x ratings x 10 in all (close neighbours rate a lot), stay bounded: every user on
#: MovieLens 100k, 300 on 1M, ``neighbours`` (40) from 10M on.
AUTO_POOL_WORK = 3 * 10**8
#: The SVD search rescores this many candidates per kept neighbour exactly.
SEARCH_OVERSAMPLE = 4
#: The SVD search scores a block's queries against this many users at a time (b x SEARCH_TILE float32),
#: so that picking the candidates reads them from the cache.
SEARCH_TILE = 4096
#: ``recommend_all`` searches at least this many users at once: each block reads the whole embedding
#: (4 d U bytes, 51 MB at ML-32M), and at 41 users a block that traffic was the search's cost.
SEARCH_BLOCK = 512
#: Regularisation of the baselines behind ``centering="baseline"`` and ``pearson_baseline`` (Surprise's).
BASELINE = {"reg_user": 15.0, "reg_item": 10.0, "n_epochs": 10}
__all__ = ["CENTERINGS", "RANKINGS", "SIMILARITIES", "UnknownUserError", "UserKNN"]


def _with_data(matrix: sp.csr_matrix, data: np.ndarray) -> sp.csr_matrix:
    """A CSR matrix with ``matrix``'s structure (explicit zeros kept) and new stored values."""
    return sp.csr_matrix((data, matrix.indices.copy(), matrix.indptr.copy()), shape=matrix.shape)


def _entry_rows(matrix: sp.csr_matrix) -> np.ndarray:
    """Row index of every stored entry of a CSR matrix."""
    return np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))


def _sorted_csc(matrix: sp.spmatrix) -> sp.csc_matrix:
    csc = matrix.tocsc()
    csc.sort_indices()
    return csc


def _threads() -> int:
    """Threads for the compiled loops: numba's setting (all cores unless NUMBA_NUM_THREADS says fewer)."""
    import numba

    return int(numba.get_num_threads())


def _row_means(matrix: sp.csr_matrix) -> np.ndarray:
    counts = np.diff(matrix.indptr)
    return np.asarray(matrix.sum(axis=1)).ravel() / np.maximum(counts, 1)


class UserKNN(Recommender):
    """User-based k-nearest-neighbour rating predictor and top-N recommender.

    The estimate of user ``u``'s rating of item ``i`` is the similarity-weighted mean of
    the ratings of ``i`` by the ``neighbours`` users most similar to ``u`` among those who
    rated ``i`` (only positive similarities count), clipped to the training rating range.
    With ``centering="none"`` (the default), where no such neighbour exists, or the user or
    the item is unknown, the estimate falls back to the global mean rating (as in Surprise).

    With ``centering`` the neighbours vote on residuals instead (Surprise's KNNWithMeans /
    KNNBaseline): ``r^_ui = c_ui + sum_v w_uv (r_vi - c_vi) / sum_v w_uv`` where ``c`` is the
    user's mean rating (``"mean"``) or the baseline ``mu + b_u + b_i`` (``"baseline"``, offsets
    as in :class:`~movie_recommender.recsys.bias.Bias` with reg_user 15, reg_item 10).
    With no voting neighbour the estimate is ``c_ui``. Fallbacks with centering: an unseen
    user gets the global mean (``"mean"``) or ``mu + b_i`` (``"baseline"``); an unseen item
    gets the user's mean (``"mean"``) or ``mu + b_u`` (``"baseline"``).

    Parameters:
        neighbours: k, the most neighbours that vote on one estimate.
        similarity: ``"cosine"`` over whole rating vectors (a missing rating counts as 0,
            so users who share few items are less similar), ``"cosine_common"`` over the
            items both users rated (Surprise's ``cosine``), ``"pearson"``: the cosine over
            co-rated items of ratings centred on each user's mean of all their ratings (Surprise
            centres on the co-rated items' mean instead), ``"pearson_baseline"``: the same on
            baseline residuals ``r_ui - b_ui`` (Surprise's ``pearson_baseline``; pair it with
            ``shrinkage=100``).
        min_support: fewest co-rated items for two users to count as similar.
        shrinkage: multiply each similarity by ``(n - 1) / (n - 1 + shrinkage)`` where ``n`` is the
            number of co-rated items (0 = off).
        centering: ``"none"``, ``"mean"`` or ``"baseline"`` (see above).
        ranking: ``"rating"`` ranks a user's candidates (unrated items that at least one
            positively similar neighbour rated) by estimate, ties to more neighbour support
            (sum of similarities), then to the smaller item id. ``"support"`` is classic
            top-N user-based CF: take the user's k most similar users overall and rank each
            item by the sum of the (positive) similarities of those of them who rated it; ties
            go to the smaller item id. ``predict`` estimates ratings either way.
        amplify: case amplification (Breese et al. 1998): each similarity ``s`` becomes
            ``sign(s) * |s| ** amplify``, which favours the closest neighbours in both the
            estimates and the support sums (1 = off; the neighbours chosen do not change).
        batch_size: users per block; ``None`` sizes the block's dense arrays to about 64 MB.
        pool: the most similar users kept per user; ``None``: ``AUTO_POOL_WORK / ratings`` (3e8 /
            ratings: all users on MovieLens 100k, 300 on 1M, 40 from 10M on). An item's
            ``neighbours`` voters are its nearest raters among them; with ``pool`` at least the
            number of users this is the definition above exactly, with fewer it is the
            classic fixed neighbourhood (Herlocker et al.): an item none of whose raters is in
            the pool gets no vote.
        search: how the pool is found. ``"exact"`` computes the similarity to every user who
            shares a rated item, O(sum over items of raters^2) work in all; ``"svd"`` takes
            the ``4 x pool`` users closest in a ``search_dims``-dimensional truncated SVD of the
            unit rating rows as candidates and then computes their exact similarities (the
            neighbours and weights are exact, the candidate set approximate); ``"auto"``:
            exact while that work is at most ``EXACT_WORK`` (2e10: MovieLens 100k and 1M),
            else svd.
        search_dims: dimensions of the SVD search.

    Attributes (after ``fit``): those of :class:`Recommender`, plus ``residuals_`` (CSR users x
    items of ``r_vi - c_vi``; the shared rating matrix itself when ``centering="none"``),
    ``sim_values_`` / ``sim_columns_`` (the values similarities are computed on, by row and by
    column), ``norms_sq_``, ``user_mean_``, ``user_bias_``, ``item_bias_``, ``search_`` (the
    search used) and, with the SVD search, ``embedding_`` / ``components_``.

    Complexity: fit O(ratings) (plus the randomized SVD, O(ratings x search_dims) a few times
    over, with the SVD search); scoring a user finds their pool (exact: O(sum of the raters of
    their items); svd: O(users x search_dims) + O(pool x ratings per user)) and lets the pool
    vote, O(pool x ratings per user), in compiled loops over a block of users at a time on
    every core.

    Peak memory (bytes, U users, I items, R ratings, b users per block, T threads, P pool,
    d search_dims): the shared ratings 24 R (CSR and CSC) + 12 R more per re-valued copy
    (one with centering, one with pearson similarities) + 40 U + 16 I, the SVD embedding
    4 d (U + I) plus the SVD's temporary 3 x 8 (d + 10) (U + I); per block 16 b I (votes)
    + 16 b P (pools) + T x 40 U (exact) or T x 9 I (svd) scratch, and for the SVD search
    b' (4 min(U, SEARCH_TILE) + 28 x 4 P) (scores of one tile of users, candidates; b' is
    ``recommend_all``'s block, at least ``SEARCH_BLOCK`` users).
    """

    def __init__(
        self,
        neighbours: int = 40,
        similarity: str = "cosine",
        min_support: int = 1,
        batch_size: int | None = None,
        shrinkage: float = 0.0,
        centering: str = "none",
        ranking: str = "rating",
        amplify: float = 1.0,
        pool: int | None = None,
        search: str = "auto",
        search_dims: int = 64,
    ) -> None:
        self.neighbours = neighbours
        self.similarity = similarity
        self.min_support = min_support
        self.batch_size = batch_size
        self.shrinkage = shrinkage
        self.centering = centering
        self.ranking = ranking
        self.amplify = amplify
        self.pool = pool
        self.search = search
        self.search_dims = search_dims

    # ------------------------------------------------------------------ fitting
    def check_params(self) -> UserKNN:
        """Raise ValueError naming the first bad hyper-parameter; return self when all are valid."""
        check_count("neighbours", self.neighbours)
        check_count("min_support", self.min_support)
        if self.batch_size is not None:
            check_count("batch_size", self.batch_size)
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, got {self.similarity!r}.")
        check_reg("shrinkage", self.shrinkage)
        if self.centering not in CENTERINGS:
            raise ValueError(f"centering must be one of {CENTERINGS}, got {self.centering!r}.")
        if self.ranking not in RANKINGS:
            raise ValueError(f"ranking must be one of {RANKINGS}, got {self.ranking!r}.")
        check_number("amplify", self.amplify, strict=True)
        if self.pool is not None:
            check_count("pool", self.pool)
        if self.search not in SEARCHES:
            raise ValueError(f"search must be one of {SEARCHES}, got {self.search!r}.")
        check_count("search_dims", self.search_dims)
        return self

    def fit(self, ratings: pd.DataFrame | RatingData, movies: pd.DataFrame | None = None) -> UserKNN:
        """Learn from a ``userId, movieId, rating`` table or a RatingData; returns self."""
        matrix = self._index(ratings)
        mu = self.global_mean_
        self.user_mean_ = _row_means(matrix)
        self.user_bias_, self.item_bias_ = baseline_offsets(matrix, mu, **BASELINE)
        rows, cols = _entry_rows(matrix), matrix.indices
        if self.similarity == "pearson":
            self.sim_values_ = _with_data(matrix, matrix.data - self.user_mean_[rows])
        elif self.similarity == "pearson_baseline":
            self.sim_values_ = _with_data(matrix, matrix.data - (mu + self.user_bias_[rows] + self.item_bias_[cols]))
        else:
            self.sim_values_ = matrix
        # raters of each item with their similarity values (the shared column view when they are the ratings)
        self.sim_columns_ = self.data_.csc if self.sim_values_ is matrix else _sorted_csc(self.sim_values_)
        self.norms_sq_ = np.asarray(self.sim_values_.multiply(self.sim_values_).sum(axis=1)).ravel()
        if self.centering == "none":
            self.residuals_ = matrix
        else:
            centre = {"mean": self.user_mean_[rows], "baseline": mu + self.user_bias_[rows] + self.item_bias_[cols]}
            self.residuals_ = _with_data(matrix, matrix.data - centre[self.centering])
        work = float(np.square(self.data_.item_counts).sum())
        self.search_ = self.search if self.search != "auto" else ("exact" if work <= EXACT_WORK else "svd")
        self.embedding_ = self.components_ = None
        if self.search_ == "svd" and SEARCH_OVERSAMPLE * self._pool() < len(self.user_ids_) - 1:
            self._fit_embedding()
        else:
            self.search_ = "exact"
        return self

    def _pool(self) -> int:
        """Neighbours kept per user: ``pool``, or ``AUTO_POOL_WORK / ratings`` when None; at least
        ``neighbours``, at most every other user."""
        n_users = len(self.user_ids_)
        pool = int(self.pool) if self.pool is not None else AUTO_POOL_WORK // max(1, self.ratings_.nnz)
        return max(1, min(n_users, max(pool, int(self.neighbours))))

    def _fit_embedding(self) -> None:
        """Unit rows of the similarity values projected on their top ``search_dims`` right singular vectors."""
        from sklearn.utils.extmath import randomized_svd

        unit = sp.diags(1.0 / np.sqrt(np.maximum(self.norms_sq_, 1e-300))) @ self.sim_values_
        dims = max(1, min(int(self.search_dims), min(unit.shape)))
        u, s, vt = randomized_svd(unit.astype(np.float32), dims, n_iter=2, random_state=0)
        self.embedding_ = (u * s).astype(np.float32)
        self.components_ = vt.astype(np.float32)

    def _new_user_values(self, row: sp.csr_matrix) -> tuple[sp.csr_matrix, float]:
        """A new user's similarity row and the part of their centre that is theirs: 0 (no centering), their
        mean rating (``"mean"``) or ``mu + b_u`` (``"baseline"``, to which each item adds ``b_i``)."""
        mu = self.global_mean_
        b_u = fold_in_user_bias(row, mu, self.item_bias_, BASELINE["reg_user"])
        mean = float(row.data.mean())
        values = row
        if self.similarity == "pearson":
            values = _with_data(row, row.data - mean)
        elif self.similarity == "pearson_baseline":
            values = _with_data(row, row.data - (mu + b_u + self.item_bias_[row.indices]))
        return values, {"none": 0.0, "mean": mean, "baseline": mu + b_u}[self.centering]

    def _new_user(self, row: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
        """A new user's similarity row and their centre ``c_ui`` over all items (fold-in)."""
        values, own = self._new_user_values(row)
        n_items = row.shape[1]
        centre = {"none": np.zeros(n_items), "mean": np.full(n_items, own), "baseline": own + self.item_bias_}
        return values, centre[self.centering][None, :]

    def _centre_block(self, rows: np.ndarray) -> np.ndarray:
        """``c_ui`` of block users x all items (broadcastable)."""
        if self.centering == "mean":
            return self.user_mean_[rows, None]
        if self.centering == "baseline":
            return self.global_mean_ + self.user_bias_[rows, None] + self.item_bias_[None, :]
        return np.zeros((1, 1))

    # --------------------------------------------------------------- internals
    def _block_rows(self, n_users: int, n_items: int) -> int:
        # a block holds two users x items arrays (the SVD search scores SEARCH_TILE users at a time)
        return self.batch_size or max(1, 4 * BLOCK_CELLS // max(n_items, 1))

    def _top_block_rows(self, n_users: int, n_items: int) -> int:
        # recommend_all's blocks hold no users x items arrays: larger ones read the embedding fewer times
        return self.batch_size or max(self._block_rows(n_users, n_items), SEARCH_BLOCK)

    def _top_block_size(self) -> int:
        return self._top_block_rows(*self.ratings_.shape)

    def peak_memory(self, n_users: int, n_items: int, n_ratings: int) -> tuple[int, str]:
        """The formula of the class docstring (the SVD search assumed from 2 million ratings on with ``auto``)."""
        pool = int(self.pool) if self.pool is not None else AUTO_POOL_WORK // max(1, n_ratings)
        pool = max(1, min(n_users, max(pool, int(self.neighbours))))
        b, threads, d = self._block_rows(n_users, n_items), _threads(), int(self.search_dims)
        copies = (self.centering != "none") + (self.similarity in ("pearson", "pearson_baseline"))
        svd = self.search == "svd" or (self.search == "auto" and n_ratings > 2_000_000)
        needed = 24 * n_ratings + 12 * n_ratings * copies + 40 * n_users + 16 * n_items
        needed += 16 * b * n_items + 16 * b * SEARCH_OVERSAMPLE * pool
        if svd:
            top_b = self._top_block_rows(n_users, n_items)
            needed += (4 * d + 24 * (d + 10)) * (n_users + n_items) + threads * 9 * n_items
            needed += top_b * (4 * min(SEARCH_TILE, n_users) + 28 * SEARCH_OVERSAMPLE * pool)
        else:
            needed += threads * 40 * n_users
        return needed, "Lower models.user_knn.pool or batch_size, or use fewer ratings."

    def _neighbours(
        self, block: sp.csr_matrix, rows: np.ndarray | None = None, one: bool = False
    ) -> tuple[np.ndarray, ...]:
        """The ``pool`` most similar training users of each sparse rating row, best first.

        ``rows`` are the block's own matrix rows, if it is taken from training: a user is never
        its own neighbour. ``one``: the block is one new user (a fold-in), searched in the calling
        thread by the same loops. Returns (user rows, similarities, counts).
        """
        from . import _knn_kernels as kernels

        block = sp.csr_matrix(block, dtype=np.float64)
        block.sort_indices()
        self_rows = np.full(block.shape[0], -1, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        pool, threads = self._pool(), _threads()
        if self.search_ == "svd":
            if rows is not None:
                query = self.embedding_[rows]
            else:
                norms = np.sqrt(np.asarray(block.multiply(block).sum(axis=1)).ravel())
                if one:  # the same sums, without a float64 copy of components_ (items x search_dims) per call
                    unit = block.data * (1.0 / np.maximum(norms[0], 1e-300))
                    query = kernels.project_one(block.indices, unit, self.components_)[None, :]
                else:
                    query = np.asarray(sp.diags(1.0 / np.maximum(norms, 1e-300)) @ block @ self.components_.T)
            query = np.asarray(query, dtype=np.float32)
            width = min(SEARCH_OVERSAMPLE * pool, len(self.user_ids_))
            if one:
                candidates = kernels.top_candidates_one(query[0] @ self.embedding_.T, width)[None, :]
            else:
                candidates = self._search(query, self_rows, width, threads)
        else:
            candidates = np.empty((block.shape[0], 0), dtype=np.int64)
        columns, values = self.sim_columns_, self.sim_values_
        if one:
            return kernels.neighbours_one(
                block.indices, block.data, candidates[0], 0 if self.similarity == "cosine" else 1, self.norms_sq_,
                columns.indptr, columns.indices, columns.data, values.indptr, values.indices, values.data,
                int(self.min_support), float(self.shrinkage), float(self.amplify), pool,
            )  # fmt: skip
        return kernels.neighbours(
            block.indptr, block.indices, block.data, self_rows, candidates, 0 if self.similarity == "cosine" else 1,
            self.norms_sq_, columns.indptr, columns.indices, columns.data, values.indptr, values.indices,
            values.data, int(self.min_support), float(self.shrinkage), float(self.amplify), pool, threads,
        )  # fmt: skip

    def _search(self, query: np.ndarray, self_rows: np.ndarray, width: int, threads: int) -> np.ndarray:
        """The ``width`` training users nearest each query row in the SVD embedding (any order; -1 pads),
        ``self_rows`` skipped.

        Each of ``threads`` threads takes a share of the rows and scores them ``SEARCH_TILE`` users at a
        time (one-thread BLAS), merging each tile into the rows' heaps while it is still in the cache.
        BLAS's own threads are kept out: they spin between calls and starve the compiled loops that
        follow (measured at ML-32M: the neighbours and votes took twice as long beside them).
        """
        from concurrent.futures import ThreadPoolExecutor

        from threadpoolctl import threadpool_limits

        from . import _knn_kernels as kernels

        heap_v = np.empty((len(query), width), dtype=np.float32)
        heap_i = np.full((len(query), width), -1, dtype=np.int64)
        sizes = np.zeros(len(query), dtype=np.int64)
        if len(query) == 0:
            return heap_i

        def share(rows: slice) -> None:
            for lo in range(0, len(self.user_ids_), SEARCH_TILE):
                scores = query[rows] @ self.embedding_[lo : lo + SEARCH_TILE].T
                kernels.top_candidates_tile(scores, lo, self_rows[rows], heap_v[rows], heap_i[rows], sizes[rows])

        bounds = np.linspace(0, len(query), min(threads, len(query)) + 1).astype(int)
        with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(len(bounds) - 1) as pool:
            list(pool.map(share, [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]))
        return heap_i

    def _votes(self, block: sp.csr_matrix, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Numerators and denominators of every item's estimate (support sums with ``ranking="support"``)."""
        from . import _knn_kernels as kernels

        idx, sims, counts = self._neighbours(block, rows)
        res = self.residuals_
        return kernels.vote(
            idx, sims, counts, int(self.neighbours), self.ranking == "support",
            res.indptr, res.indices, res.data, res.shape[1], _threads(),
        )  # fmt: skip

    def _finish(self, num: np.ndarray, den: np.ndarray, centre: np.ndarray, clip: bool = True) -> np.ndarray:
        """Estimates ``c + num / den``; where no neighbour voted (den 0), ``c`` (global mean without centering)."""
        if self.centering == "none":
            est = np.full(num.shape, self.global_mean_)
            np.divide(num, den, out=est, where=den > 0)
        else:
            est = np.zeros(num.shape)
            np.divide(num, den, out=est, where=den > 0)
            est += centre
        return self._clip(est) if clip else est

    def _ranking(self, num: np.ndarray, den: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Estimates as ranking scores (-inf where no neighbour voted), neighbour support as tie-break;
        or, with ``ranking="support"``, the k nearest users' similarity sums."""
        if self.ranking == "support":
            den[den <= 0] = -np.inf
            return den, None
        scores = self._finish(num, den, centre, clip=False)  # ranked unclipped; recommend reports them clipped
        scores[den <= 0] = -np.inf
        return scores, den

    def _rank_block(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return self._ranking(*self._votes(self.sim_values_[rows], rows), self._centre_block(rows))

    def _top_block(self, block: np.ndarray, n: int, counts: np.ndarray) -> tuple[np.ndarray, ...]:
        """The block's top ``n`` lists straight from the neighbours' votes: only the items the pool
        rated are met, so the cost per user is the pool's ratings, never the number of movies."""
        from . import _knn_kernels as kernels

        idx, sims, nbr_n = self._neighbours(self.sim_values_[block], block)
        res, seen = self.residuals_, self.ratings_[block]
        seen.sort_indices()
        centering = ("none", "mean", "baseline").index(self.centering)
        user_centre = {
            "none": np.zeros(len(block)),
            "mean": self.user_mean_[block],
            "baseline": self.global_mean_ + self.user_bias_[block],
        }[self.centering]
        cols, scores = kernels.vote_top(
            idx, sims, nbr_n, int(self.neighbours), self.ranking == "support", res.indptr, res.indices, res.data,
            centering, np.ascontiguousarray(user_centre, dtype=np.float64), self.item_bias_, seen.indptr,
            seen.indices, counts, int(n), _threads(),
        )  # fmt: skip
        rows, ranks = np.nonzero(cols >= 0)
        return block[rows], ranks + 1, cols[rows, ranks], self._reported(scores[rows, ranks])

    def _top_new(self, row: sp.csr_matrix, n: int, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A new user's top ``n`` straight from their neighbours' votes, in the calling thread: what
        ``_rank_vector`` and a dense ranking give, at the cost of the pool's ratings (no items-long
        ranking, no parallel region: a fold-in is milliseconds of work)."""
        from . import _knn_kernels as kernels

        values, own = self._new_user_values(row)
        idx, sims, nbr_n = self._neighbours(values, one=True)
        res = self.residuals_
        cols, scores = kernels.vote_top_one(
            idx[0], sims[0], int(nbr_n[0]), int(self.neighbours), self.ranking == "support", res.indptr, res.indices,
            res.data, CENTERINGS.index(self.centering), float(own), self.item_bias_, row.indices, counts, int(n),
        )  # fmt: skip
        keep = cols >= 0
        return cols[keep], scores[keep]

    def _rank_vector(self, row: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray | None]:
        values, centre = self._new_user(row)
        scores, tiebreak = self._ranking(*self._votes(values), centre)
        return scores[0], None if tiebreak is None else tiebreak[0]

    def _pair_centres(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """``c_ui`` for pairs, with the documented fallbacks where the user or item is unseen (-1)."""
        known_u, known_i = rows >= 0, cols >= 0
        r, c = np.maximum(rows, 0), np.maximum(cols, 0)
        if self.centering == "mean":
            return np.where(known_u, self.user_mean_[r], self.global_mean_)
        if self.centering == "baseline":
            b_u = np.where(known_u, self.user_bias_[r], 0.0)
            return self.global_mean_ + b_u + np.where(known_i, self.item_bias_[c], 0.0)
        return np.full(len(rows), self.global_mean_)

    def _predict_pairs(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Estimates for pairs; unknown users or items, and pairs no neighbour voted on, get the fallback.

        The neighbours vote on the requested items only (never a users x items array), and always on
        ratings: ``ranking="support"`` changes the top-N order, not the estimates."""
        from . import _knn_kernels as kernels

        num, den = np.zeros(len(rows)), np.zeros(len(rows))
        known = np.flatnonzero((rows >= 0) & (cols >= 0))
        known = known[np.argsort(rows[known], kind="stable")]
        res = self.residuals_
        for block_rows in self._blocks(np.unique(rows[known])):
            lo, hi = np.searchsorted(rows[known], [block_rows[0], block_rows[-1] + 1])
            pairs = known[lo:hi]
            ptr = np.searchsorted(rows[pairs], np.append(block_rows, block_rows[-1] + 1))
            idx, sims, nbr_n = self._neighbours(self.sim_values_[block_rows], block_rows)
            num[pairs], den[pairs] = kernels.vote_pairs(
                idx, sims, nbr_n, int(self.neighbours), res.indptr, res.indices, res.data, ptr.astype(np.int64),
                cols[pairs].astype(np.int64), res.shape[1], _threads(),
            )  # fmt: skip
        return self._finish(num, den, self._pair_centres(rows, cols))
