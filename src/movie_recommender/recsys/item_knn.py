"""Item-item collaborative filtering (k nearest neighbour items).

Each item keeps its ``pool`` most similar items as a sparse matrix (items x pool entries, not
items x items), computed in ``fit`` by compiled loops over the co-ratings. Nothing users x
items or users x users is built beyond a bounded block.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .base import BLOCK_CELLS, Recommender
from .bias import baseline_offsets, check_reg, fold_in_user_bias
from .checks import check_count
from .knn import BASELINE, CENTERINGS, RANKINGS, _entry_rows, _row_means, _threads, _with_data

ITEM_SIMILARITIES = ("cosine", "cosine_common", "adjusted_cosine", "pearson", "pearson_baseline")
ITEM_CENTERINGS = (*CENTERINGS, "model")
#: Seconds per co-rating of the similarity loops on the benchmark machine (2 cores; ``fit_seconds``).
CO_RATING_SECONDS = 9.1e-9
#: Kept pairs the pooled loop may scan per voter update the walk would make, and still be chosen. At synthetic
#: ML-25M (pool 100), 1,000 users: the walk 65 s, the pooled loop 4.6 s, for 465 M voter updates and 11.8 M
#: kept pairs scanned (both loops give the same numbers: ``tests/recsys/test_scale.py``); 10 leaves the walk
#: to single users (fold-in), whose one scan would cost more than their few votes.
POOLED_PAIR_COST = 10
__all__ = ["ITEM_SIMILARITIES", "ItemKNN", "item_neighbours"]


def item_neighbours(
    values: sp.csr_matrix, common: bool, pool: int, min_support: int = 1, shrinkage: float = 0.0
) -> sp.csr_matrix:
    """Each item's ``pool`` most similar items (positive similarities only) as a sparse items x items
    matrix whose rows list them best first (ties to the smaller index; column indices unsorted).

    Similarity: the cosine of the columns of ``values`` (users x items), with both norms over the
    users who rated both items when ``common`` (else over whole columns); then shrinkage and
    min_support by the number of common raters (as in :class:`~movie_recommender.recsys.knn.UserKNN`).
    An item is not its own neighbour. Work: O(sum over users of their ratings squared).
    """
    from . import _knn_kernels as kernels
    from .knn import _sorted_csc, _threads

    by_item = _sorted_csc(values)  # rows of the transpose: each item's raters
    values = sp.csr_matrix(values)
    values.sort_indices()
    n_items = values.shape[1]
    norms_sq = np.asarray(values.multiply(values).sum(axis=0)).ravel()
    pool = max(1, min(int(pool), n_items))
    idx, sims, counts = kernels.neighbours(
        by_item.indptr, by_item.indices, by_item.data, np.arange(n_items, dtype=np.int64),
        np.empty((n_items, 0), dtype=np.int64), 1 if common else 0, norms_sq, values.indptr, values.indices,
        values.data, values.indptr, values.indices, values.data, int(min_support), float(shrinkage), 1.0, pool,
        _threads(),
    )  # fmt: skip
    keep = np.arange(pool)[None, :] < counts[:, None]
    indptr = np.concatenate([[0], np.cumsum(counts)])
    return sp.csr_matrix((sims[keep], idx[keep], indptr), shape=(n_items, n_items))


class ItemKNN(Recommender):
    """Item-based k-nearest-neighbour rating predictor and top-N recommender.

    The estimate of user ``u``'s rating of item ``i`` is
    ``c_ui + sum_j w_ij (r_uj - c_uj) / sum_j w_ij`` over the ``neighbours`` items ``j`` rated by
    ``u`` that are most similar to ``i`` (only positive similarities vote, ``w = sim``), clipped
    to the training rating range. The centre ``c`` is 0 (``centering="none"``, Surprise
    KNNBasic), the item's mean rating (``"mean"``, KNNWithMeans) or the baseline
    ``mu + b_u + b_i`` (``"baseline"``, KNNBaseline; offsets as in
    :class:`~movie_recommender.recsys.bias.Bias` with reg_user 15, reg_item 10).
    With ``centering="model"`` the centre is the estimate of another fitted rating predictor,
    ``centre_model`` (e.g. ``{"model": "svd", "params": {...}}``), and the neighbours correct
    its residuals (a KNN on matrix-factorisation residuals).
    With no voting neighbour the estimate is ``c_ui`` (the global mean without centering).

    Fallbacks: without centering, unseen users or items get the global mean. With ``"mean"``
    an unseen user gets the item's mean, an unseen item the global mean. With ``"baseline"``
    an unseen user gets ``mu + b_i``, an unseen item ``mu + b_u``. With ``"model"``, the
    centre model's fallback.

    Parameters:
        neighbours: k, the most neighbour items that vote on one estimate.
        similarity: between item columns of the rating matrix; ``"cosine"`` over whole columns
            (missing = 0), ``"cosine_common"`` over the users who rated both (Surprise's
            ``cosine``), ``"adjusted_cosine"`` the same on ratings centred on each user's mean
            (Sarwar et al.), ``"pearson"`` the same on ratings centred on each item's mean
            (Surprise centres on the common raters' means instead), ``"pearson_baseline"`` the
            same on baseline residuals ``r_ui - b_ui`` (Surprise's ``pearson_baseline``).
        min_support: fewest common raters for two items to count as similar.
        shrinkage: multiply each similarity by ``(n - 1) / (n - 1 + shrinkage)``, ``n`` common
            raters (0 = off; Surprise uses 100 for pearson_baseline).
        centering: ``"none"``, ``"mean"``, ``"baseline"`` or ``"model"`` (see above).
        centre_model: ``{"model": registry name, "params": {...}}`` of a rating predictor, used
            with ``centering="model"`` only (it is fitted on the same ratings).
        damping: added to the denominator, ``c + sum w z / (damping + sum w)``: pulls estimates
            with little neighbour support towards the centre (0 = off, Surprise's formula;
            about 1 helps with ``centering="model"``).
        ranking: ``"rating"`` ranks candidates (unrated items with at least one positively
            similar rated item) by estimate, ties to more support (sum of similarities), then
            to the smaller id. ``"support"`` is classic item-based top-N (Deshpande & Karypis):
            every item keeps its k most similar items, and an item scores the sum of its
            similarities as a kept neighbour of the items the user rated; ties to the smaller id.
        batch_size: users per scoring block; ``None`` sizes each dense array to about 16 MB.
        pool: the most similar items each item keeps (``None``: all; at least ``neighbours``).
            The voters on item ``i`` are the user's rated items among those ``i`` keeps; with
            ``pool`` at least the number of items (MovieLens 100k) this is the definition above
            exactly, with fewer the memory is bounded by ``items x pool``.

    Attributes (after ``fit``): those of :class:`Recommender`, plus ``similarities_`` (sparse
    items x items, each row an item's kept neighbours best first), ``voters_`` (its transpose:
    the items that keep each item), ``item_mean_``, ``user_bias_``, ``item_bias_`` and
    ``residuals_`` (CSR users x items of ``r_ui - c_ui``).

    Complexity: fit O(sum over users of their ratings squared) for the co-ratings, in
    compiled loops on every core, plus a partial sort of each item's similarities. Scoring a
    user costs, for each rated item, the items that keep it (a popular movie is kept by many);
    a block of users is scored by the loop order that costs less: walking those voters, or
    (:func:`~movie_recommender.recsys._knn_kernels.item_votes_pooled`) scanning every kept pair
    once per thread and meeting the block's raters of each, in arrays the size of the block. In
    that order ``recommend_all`` keeps each user's top-N as the votes come in
    (:func:`~movie_recommender.recsys._knn_kernels.item_vote_top`), with no users x items array.

    Peak memory (bytes; U users, I items, R ratings, P = min(pool, I), k neighbours, T threads,
    b users per block, at least 64 T): ratings and residuals 36 R, kept similarities 2 x 12 I P (and
    16 I P while they are selected), fit scratch T x 64 I, scoring scratch T x 16 I k, per block 16 b I.
    """

    def __init__(
        self,
        neighbours: int = 40,
        similarity: str = "pearson_baseline",
        centering: str = "baseline",
        min_support: int = 1,
        shrinkage: float = 100.0,
        ranking: str = "rating",
        batch_size: int | None = None,
        centre_model: dict | None = None,
        damping: float = 0.0,
        pool: int | None = 1000,
    ) -> None:
        self.neighbours = neighbours
        self.similarity = similarity
        self.centering = centering
        self.min_support = min_support
        self.shrinkage = shrinkage
        self.ranking = ranking
        self.batch_size = batch_size
        self.centre_model = centre_model
        self.damping = damping
        self.pool = pool

    def check_params(self) -> ItemKNN:
        """Raise ValueError naming the first bad hyper-parameter; return self when all are valid."""
        check_count("neighbours", self.neighbours)
        if self.similarity not in ITEM_SIMILARITIES:
            raise ValueError(f"similarity must be one of {ITEM_SIMILARITIES}, got {self.similarity!r}.")
        if self.centering not in ITEM_CENTERINGS:
            raise ValueError(f"centering must be one of {ITEM_CENTERINGS}, got {self.centering!r}.")
        if self.centering == "model":
            spec = self.centre_model
            if not isinstance(spec, dict) or "model" not in spec:
                raise ValueError("centre_model must be {'model': name, 'params': {...}} with centering='model'.")
            if not self._make_centre().predicts_ratings:
                raise ValueError("centre_model must predict ratings.")
        check_count("min_support", self.min_support)
        check_reg("shrinkage", self.shrinkage)
        check_reg("damping", self.damping)
        if self.ranking not in RANKINGS:
            raise ValueError(f"ranking must be one of {RANKINGS}, got {self.ranking!r}.")
        if self.batch_size is not None:
            check_count("batch_size", self.batch_size)
        if self.pool is not None:
            check_count("pool", self.pool)
        return self

    def peak_memory(self, n_users: int, n_items: int, n_ratings: int) -> tuple[int, str]:
        """The formula of the class docstring (plus the centre model's with ``centering="model"``)."""
        pool = min(n_items, max(int(self.neighbours), int(self.pool or n_items)))
        threads, k, b = _threads(), int(self.neighbours), self._block_rows(n_users, n_items)
        needed = 36 * n_ratings + 40 * n_items * pool + threads * (64 + 16 * k) * n_items + 16 * b * n_items
        if self.centering == "model":
            needed += self._make_centre().peak_memory(n_users, n_items, n_ratings)[0]
        return needed, "Lower models.item_knn.pool (the similar movies each movie keeps) or neighbours."

    def fit_seconds(self, data) -> tuple[float, str] | None:
        """``9.1e-9 x sum over users of their ratings squared`` seconds (the co-ratings the similarities walk;
        synthetic ML-25M, 1.07e10 co-ratings: 97 s measured), plus the centre model's with ``centering="model"``."""
        per_user = np.diff(data.matrix.indptr).astype(np.float64)
        seconds = CO_RATING_SECONDS * float(per_user @ per_user)
        if self.centering == "model":
            seconds += (self._make_centre().fit_seconds(data) or (0.0, ""))[0]
        return seconds, "Use fewer ratings (raise min_user_ratings / min_movie_ratings) or another model."

    def _make_centre(self) -> Recommender:
        from .models import make_model

        return make_model(self.centre_model["model"], dict(self.centre_model.get("params") or {}))

    # ------------------------------------------------------------------ fitting
    def fit(self, ratings: pd.DataFrame, movies: pd.DataFrame | None = None) -> ItemKNN:
        """Learn the item similarities from a ``userId, movieId, rating`` table; returns self."""
        matrix = self._index(ratings)
        mu = self.global_mean_
        rows, cols = _entry_rows(matrix), matrix.indices
        self.item_mean_ = _row_means(matrix.T.tocsr())
        self.user_bias_, self.item_bias_ = baseline_offsets(matrix, mu, **BASELINE)
        baselines = mu + self.user_bias_[rows] + self.item_bias_[cols]
        sim_data = {
            "cosine": matrix.data,
            "cosine_common": matrix.data,
            "adjusted_cosine": matrix.data - _row_means(matrix)[rows],
            "pearson": matrix.data - self.item_mean_[cols],
            "pearson_baseline": matrix.data - baselines,
        }[self.similarity]
        n_items = len(self.item_ids_)
        pool = max(int(self.neighbours), int(self.pool or n_items))
        self.similarities_ = item_neighbours(
            _with_data(matrix, sim_data),
            common=self.similarity != "cosine",
            pool=pool,
            min_support=int(self.min_support),
            shrinkage=float(self.shrinkage),
        )
        self.voters_ = self.similarities_.T.tocsr()  # row j: the items that keep j, sorted by item
        self.voters_.sort_indices()
        self.centre_model_ = None  # no stale centre model from an earlier fit
        if self.centering == "model":
            self.centre_model_ = self._make_centre().fit(self.data_, movies)
            centre = self.centre_model_._predict_pairs(rows, cols)
        else:
            centre = {"none": 0.0, "mean": self.item_mean_[cols], "baseline": baselines}[self.centering]
        self.residuals_ = _with_data(matrix, matrix.data - centre)
        return self

    # --------------------------------------------------------------- internals
    def _centre_row(self, user_bias: float, user: int | None = None, row: sp.csr_matrix | None = None) -> np.ndarray:
        """``c_ui`` of one user (training ``user`` row, or a new user's rating ``row``) over all items."""
        if self.centering == "model":  # where the centre model cannot rank an item, its predict fallback
            model = self.centre_model_
            if row is not None:
                centre = model._reported(np.array(model._rank_vector(row)[0], dtype=np.float64).ravel())
            else:
                centre = model._reported(np.array(model._rank_block(np.array([user]))[0][0], dtype=np.float64))
            missing = np.flatnonzero(~np.isfinite(centre))
            if missing.size:
                who = np.full(missing.size, -1 if row is not None else user)
                centre[missing] = model._predict_pairs(who, missing)
            return centre
        if self.centering == "mean":
            return self.item_mean_
        if self.centering == "baseline":
            return self.global_mean_ + user_bias + self.item_bias_
        return np.zeros(len(self.item_ids_))

    def _votes(self, residuals: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """Numerators and denominators of every item's estimate for each row of users' residuals
        (support sums in the denominators with ``ranking="support"``)."""
        from . import _knn_kernels as kernels

        residuals = sp.csr_matrix(residuals, dtype=np.float64)
        residuals.sort_indices()
        voters, sims = self.voters_, self.similarities_
        if self.ranking != "support" and self._by_pool(residuals):
            return kernels.item_votes_pooled(
                residuals.indptr, residuals.indices, residuals.data, sims.indptr, sims.indices, sims.data,
                int(self.neighbours), len(self.item_ids_), _threads(),
            )  # fmt: skip
        return kernels.item_votes(
            residuals.indptr, residuals.indices, residuals.data, voters.indptr, voters.indices, voters.data,
            sims.indptr, sims.indices, sims.data, int(self.neighbours), self.ranking == "support",
            len(self.item_ids_), _threads(),
        )  # fmt: skip

    def _block_rows(self, n_users: int, n_items: int) -> int:
        """At least 64 users per thread, so that the pooled loop's scan of the kept pairs is shared by enough
        users (an items-wide block: 16 MB of cells, or more rows when that is fewer)."""
        return self.batch_size or max(BLOCK_CELLS // max(n_items, 1), 64 * _threads())

    def _by_pool(self, residuals: sp.csr_matrix) -> bool:
        """Whether :func:`item_votes_pooled` is the cheaper loop for these users (both give the same numbers).

        Walking the voters of each rated item (:func:`item_votes`) costs one scattered update of an
        items x k scratch per kept pair naming a rated item; popular movies are kept by many movies
        and rated by most users, so a block of heavy raters costs far more than scanning every kept
        pair once per thread and meeting the block's raters in arrays the size of the block.
        """
        pairs = int(np.diff(self.voters_.indptr)[residuals.indices].sum())
        scan = min(_threads(), residuals.shape[0]) * self.similarities_.nnz
        return scan < POOLED_PAIR_COST * pairs

    def _estimate(self, num: np.ndarray, den: np.ndarray, centre: np.ndarray, clip: bool = True) -> np.ndarray:
        est = np.zeros(num.shape) if self.centering != "none" else np.full(num.shape, self.global_mean_)
        np.divide(num, den + float(self.damping), out=est, where=den > 0)
        if self.centering != "none":
            est += centre
        return self._clip(est) if clip else est

    def _scores(self, num: np.ndarray, den: np.ndarray, centre) -> tuple[np.ndarray, np.ndarray | None]:
        if self.ranking == "support":
            den[den <= 0] = -np.inf
            return den, None
        scores = self._estimate(num, den, centre, clip=False)  # ranked unclipped; recommend reports them clipped
        scores[den <= 0] = -np.inf
        return scores, den

    def _centre_block(self, rows: np.ndarray) -> np.ndarray | float:
        if self.ranking == "support":
            return 0.0
        if self.centering == "model":
            return np.vstack([self._centre_row(0.0, user=u) for u in rows])
        if self.centering == "baseline":
            return self.global_mean_ + self.user_bias_[rows, None] + self.item_bias_[None, :]
        return self._centre_row(0.0)[None, :]

    def _rank_block(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return self._scores(*self._votes(self.residuals_[rows]), self._centre_block(rows))

    def _top_block(self, block: np.ndarray, n: int, counts: np.ndarray) -> tuple[np.ndarray, ...] | None:
        """The block's top ``n`` lists straight from the pooled votes (no users x items arrays), for
        ``ranking="rating"`` with a centre of its own (not ``"model"``) where the pooled loop is the cheaper;
        else None, and the block is ranked from its dense scores (the same lists)."""
        from . import _knn_kernels as kernels

        residuals = self.residuals_[block]
        residuals.sort_indices()
        if self.ranking != "rating" or self.centering == "model" or not self._by_pool(residuals):
            return None
        user_centre = np.zeros(len(block))
        item_centre = np.zeros(len(self.item_ids_))
        if self.centering == "baseline":
            user_centre = self.global_mean_ + self.user_bias_[block]
            item_centre = self.item_bias_
        elif self.centering == "mean":
            item_centre = self.item_mean_
        cols, scores = kernels.item_vote_top(
            residuals.indptr, residuals.indices, residuals.data, self.similarities_.indptr,
            self.similarities_.indices, self.similarities_.data, int(self.neighbours), float(self.damping),
            user_centre, np.ascontiguousarray(item_centre, dtype=np.float64), counts, int(n), _threads(),
        )  # fmt: skip
        rows, ranks = np.nonzero(cols >= 0)
        return block[rows], ranks + 1, cols[rows, ranks], self._reported(scores[rows, ranks])

    def _rank_vector(self, row: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray | None]:
        b_u = fold_in_user_bias(row, self.global_mean_, self.item_bias_, BASELINE["reg_user"])
        centre = self._centre_row(b_u, row=row)
        residuals = _with_data(row, row.data - centre[row.indices])
        scores, tie = self._scores(*self._votes(residuals), centre[None, :])
        return scores[0], None if tie is None else tie[0]

    def _predict_pairs(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        known_u, known_i = rows >= 0, cols >= 0
        r, c = np.maximum(rows, 0), np.maximum(cols, 0)
        if self.centering == "model":
            centre = self.centre_model_._predict_pairs(rows, cols)
        elif self.centering == "mean":
            centre = np.where(known_i, self.item_mean_[c], self.global_mean_)
        elif self.centering == "baseline":
            centre = self.global_mean_ + np.where(known_u, self.user_bias_[r], 0.0)
            centre += np.where(known_i, self.item_bias_[c], 0.0)
        else:
            centre = np.full(len(rows), self.global_mean_)
        num, den = np.zeros(len(rows)), np.zeros(len(rows))
        known = np.flatnonzero(known_u & known_i)
        for block_rows in self._blocks(np.unique(rows[known])):
            block_num, block_den = self._votes(self.residuals_[block_rows])
            pairs = known[np.isin(rows[known], block_rows)]
            pos = np.searchsorted(block_rows, rows[pairs])
            num[pairs], den[pairs] = block_num[pos, cols[pairs]], block_den[pos, cols[pairs]]
        return self._estimate(num, den, centre)
