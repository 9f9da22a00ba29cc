"""Item-item collaborative filtering (k nearest neighbour items).

The item x item similarity matrix is dense: O(items^2) memory (1682 items: 22 MB), computed
once in ``fit`` from sparse products. Nothing users x items or users x users is built beyond
a bounded block.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .base import Recommender
from .bias import baseline_offsets, check_reg, fold_in_user_bias
from .checks import check_count
from .knn import BASELINE, CENTERINGS, RANKINGS, _entry_rows, _row_means, _shrink, _top_k_weights, _with_data

ITEM_SIMILARITIES = ("cosine", "cosine_common", "adjusted_cosine", "pearson", "pearson_baseline")
ITEM_CENTERINGS = (*CENTERINGS, "model")
__all__ = ["ITEM_SIMILARITIES", "ItemKNN"]


def item_similarities(
    values: sp.csr_matrix, pattern: sp.csr_matrix, common: bool, min_support: int = 1, shrinkage: float = 0.0
) -> np.ndarray:
    """Dense items x items cosine similarities of the columns of ``values`` (users x items).

    ``common``: both norms over the users who rated both items (else over whole columns).
    Then shrinkage and min_support by the number of common raters (see ``_shrink``); the
    diagonal is 0 (an item is not its own neighbour).
    """
    values = values.tocsc()
    sims = (values.T @ values).toarray()
    if common:
        partial = ((values.power(2)).T @ pattern.tocsc()).toarray()  # [i, j]: sum of x_ui^2 over raters of j
        denom = np.sqrt(partial * partial.T)
    else:
        norms = np.sqrt(np.asarray(values.power(2).sum(axis=0)).ravel())
        denom = np.outer(norms, norms)
    np.divide(sims, denom, out=sims, where=denom > 0)
    sims[denom <= 0] = 0.0
    if min_support > 1 or shrinkage > 0:
        pat = pattern.tocsc()
        _shrink(sims, (pat.T @ pat).toarray(), min_support, shrinkage)
    np.fill_diagonal(sims, 0.0)
    return sims


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

    Attributes (after ``fit``): those of :class:`Recommender`, plus ``similarities_`` (dense
    items x items, O(items^2)), ``top_neighbours_`` (sparse items x items, each row an item's
    k kept neighbours, for ``ranking="support"``), ``item_mean_``, ``user_bias_``, ``item_bias_``
    and ``residuals_`` (CSR users x items of ``r_ui - c_ui``).

    Complexity: fit O(items^2) memory (dense similarities) and O(sum_u n_u^2) time for the
    sparse co-rating products; scoring a user O(items x n_u) for their ``n_u`` ratings.
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
        return self

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
        pattern = _with_data(matrix, np.ones(matrix.nnz))
        sim_data = {
            "cosine": matrix.data,
            "cosine_common": matrix.data,
            "adjusted_cosine": matrix.data - _row_means(matrix)[rows],
            "pearson": matrix.data - self.item_mean_[cols],
            "pearson_baseline": matrix.data - baselines,
        }[self.similarity]
        self.similarities_ = item_similarities(
            _with_data(matrix, sim_data),
            pattern,
            common=self.similarity != "cosine",
            min_support=int(self.min_support),
            shrinkage=float(self.shrinkage),
        )
        kept = _top_k_weights(self.similarities_, int(self.neighbours))
        self.top_neighbours_ = sp.csr_matrix(kept)
        self.centre_model_ = None  # no stale centre model from an earlier fit
        if self.centering == "model":
            self.centre_model_ = self._make_centre().fit(ratings, movies)
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

    def _sums(self, items: np.ndarray | None, rated: np.ndarray, residuals: np.ndarray) -> tuple[np.ndarray, ...]:
        """Numerators and denominators of one user's estimates for ``items`` (all when None)."""
        sims = self.similarities_[:, rated] if items is None else self.similarities_[np.ix_(items, rated)]
        weights = _top_k_weights(sims, int(self.neighbours))
        return weights @ residuals, weights.sum(axis=1)

    def _estimate(self, num: np.ndarray, den: np.ndarray, centre: np.ndarray, clip: bool = True) -> np.ndarray:
        est = np.zeros(num.shape) if self.centering != "none" else np.full(num.shape, self.global_mean_)
        np.divide(num, den + float(self.damping), out=est, where=den > 0)
        if self.centering != "none":
            est += centre
        return self._clip(est) if clip else est

    def _user_scores(self, rated: np.ndarray, residuals: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, ...]:
        if self.ranking == "support":
            scores = np.asarray(self.top_neighbours_[rated].sum(axis=0)).ravel()
            scores[scores <= 0] = -np.inf
            return scores, None
        num, den = self._sums(None, rated, residuals)
        scores = self._estimate(num, den, centre, clip=False)  # ranked unclipped; recommend reports them clipped
        scores[den <= 0] = -np.inf
        return scores, den

    def _rank_block(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        res = self.residuals_
        scores = np.empty((len(rows), len(self.item_ids_)))
        ties = None if self.ranking == "support" else np.empty_like(scores)
        for n, u in enumerate(rows):
            lo, hi = res.indptr[u], res.indptr[u + 1]
            centre = None if self.ranking == "support" else self._centre_row(self.user_bias_[u], user=u)
            scores[n], tie = self._user_scores(res.indices[lo:hi], res.data[lo:hi], centre)
            if ties is not None:
                ties[n] = tie
        return scores, ties

    def _rank_vector(self, row: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray | None]:
        b_u = fold_in_user_bias(row, self.global_mean_, self.item_bias_, BASELINE["reg_user"])
        rated = row.indices
        centre = self._centre_row(b_u, row=row)
        return self._user_scores(rated, row.data - centre[rated], centre)

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
        order = known[np.argsort(rows[known], kind="stable")]
        starts = np.flatnonzero(np.r_[True, np.diff(rows[order]) != 0]) if len(order) else np.array([], int)
        res = self.residuals_
        for group in np.split(order, starts[1:]) if len(order) else []:
            u = rows[group[0]]
            lo, hi = res.indptr[u], res.indptr[u + 1]
            num[group], den[group] = self._sums(cols[group], res.indices[lo:hi], res.data[lo:hi])
        return self._estimate(num, den, centre)
