"""Linear blend of rating predictors and implicit-feedback scores, weights learned on held-out training ratings."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .base import ITEM, RATING, USER, Recommender
from .checks import check_count, check_number
from .data import RatingData

__all__ = ["DEFAULT_COMPONENTS", "Blend"]

logger = logging.getLogger(__name__)

_ALS = {"solver": "als", "n_factors": 50, "reg": 0.12, "n_epochs": 10}
#: ALS matrix factorisation (50 and 10 factors), baseline item- and user-KNN, offsets, item-KNN on the ALS
#: residuals, and EASE's score: which movies a user rated at all (implicit feedback, the signal SVD++ adds).
DEFAULT_COMPONENTS: tuple[dict, ...] = (
    {"model": "svd", "params": _ALS},
    {"model": "item_knn", "params": {}},
    {"model": "user_knn", "params": {"similarity": "pearson_baseline", "centering": "baseline", "shrinkage": 100.0}},
    {"model": "bias", "params": {}},
    {"model": "svd", "params": {**_ALS, "n_factors": 10}},
    {
        "model": "item_knn",
        "params": {"centering": "model", "centre_model": {"model": "svd", "params": _ALS}, "damping": 1.0},
    },
    {"model": "ease", "params": {}},
)


class Blend(Recommender):
    """``r^_ui = w_0 + sum_m w_m r^m_ui``: a least-squares linear blend of rating predictors.

    With ``support_terms`` every weight (and the intercept) is itself linear in
    ``log(1 + n_u)`` and ``log(1 + n_i)``, the numbers of training ratings of the user and the
    item: ``w_m = a_m + b_m log(1 + n_u) + c_m log(1 + n_i)``, so the blend can trust the
    neighbourhood models more for well-rated users and items (Netflix-prize style).

    ``fit`` holds out a random ``holdout`` fraction of the training ratings (seeded), fits every
    component on the rest, and learns the weights ``w`` (with intercept ``w_0``) by least squares
    of the held-out ratings on the components' predictions of them. It then refits every
    component on all the training ratings; those are the ones that predict. Test data is never
    seen: the weights come from the training ratings only.

    Estimates are clipped to the training rating range. Fallbacks are the components': an unseen
    user or item gets the blend of what each component predicts for it (its documented fallback).
    Ranking is by the blended estimate; where a component cannot score an item (a KNN with no
    voting neighbour) its fallback estimate stands in for known users, and for a folded-in new
    user the global mean does (fold-in uses each component's own fold-in otherwise).

    Parameters:
        components: a list of ``{"model": registry name, "params": {...}}``: rating predictors, or
            ranking models whose score enters as one more feature (``predict`` gives it; EASE's
            says how strongly a user's other ratings imply the item). KNN components must use
            ``ranking="rating"``, where their ranking score is their ``predict``.
            ``None`` means :data:`DEFAULT_COMPONENTS`.
        holdout: fraction of the training ratings held out to learn the weights (0 < h < 1).
        seed: seed of the held-out draw (components with a seed keep their own).
        support_terms: make the weights depend on the user's and item's numbers of ratings.

    Attributes (after ``fit``): those of :class:`Recommender`, plus ``models_`` (the refitted
    components) and ``weights_`` (intercept first, then one weight per component; with
    ``support_terms`` a 3 x (components + 1) array: rows ``a``, ``b``, ``c``).

    Complexity: fit fits every component twice (slice, then all ratings); scoring a block of
    users costs the components' scoring plus O(block x items x components).
    """

    def __init__(
        self, components: list[dict] | None = None, holdout: float = 0.1, seed: int = 0, support_terms: bool = True
    ) -> None:
        self.components = components
        self.holdout = holdout
        self.seed = seed
        self.support_terms = support_terms

    def _specs(self) -> list[dict]:
        return list(DEFAULT_COMPONENTS if self.components is None else self.components)

    def _make(self, spec: dict) -> Recommender:
        from .models import make_model

        return make_model(spec["model"], dict(spec.get("params") or {}))

    def check_params(self) -> Blend:
        """Raise ValueError naming the first bad hyper-parameter; return self when all are valid."""
        specs = self._specs()
        if not specs or not all(isinstance(s, dict) and "model" in s for s in specs):
            raise ValueError("components must be a non-empty list of {'model': name, 'params': {...}}.")
        for spec in specs:
            model = self._make(spec)
            if getattr(model, "ranking", "rating") != "rating":
                raise ValueError(f"KNN components must rank with ranking='rating', got {model!r}.")
            if isinstance(model, Blend):
                raise ValueError("components cannot contain a blend.")
        if check_number("holdout", self.holdout, strict=True, maximum=1.0) == 1.0:
            raise ValueError(f"holdout must be a fraction strictly between 0 and 1, got {self.holdout!r}.")
        check_count("seed", self.seed, minimum=0)
        if not isinstance(self.support_terms, bool):
            raise ValueError(f"support_terms must be true or false, got {self.support_terms!r}.")
        return self

    def peak_memory(self, n_users: int, n_items: int, n_ratings: int) -> tuple[int, str]:
        """Its own scoring block plus every component's peak (the components are all kept)."""
        own, _ = super().peak_memory(n_users, n_items, n_ratings)
        parts = [self._make(spec).peak_memory(n_users, n_items, n_ratings) for spec in self._specs()]
        return own + sum(p[0] for p in parts), "Drop or shrink components: " + " ".join(p[1] for p in parts)

    def fit_seconds(self, data) -> tuple[float, str] | None:
        """Twice the components' estimates (each is fitted on the slice, then on everything); components
        without an estimate count 0, and predicting the held-out slice is not counted: a lower bound."""
        parts = [self._make(spec).fit_seconds(data) for spec in self._specs()]
        known = [p for p in parts if p is not None]
        if not known:
            return None
        names = ", ".join(spec["model"] for spec, p in zip(self._specs(), parts) if p is not None)
        return 2 * sum(p[0] for p in known), (
            f"It fits each of its {len(parts)} components twice ({names} take long here): give "
            "models.blend.components a shorter list, or use fewer ratings."
        )

    def _supports(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``log(1 + n_u)`` and ``log(1 + n_i)`` in the training ratings; 0 for unseen (-1)."""
        n_u, n_i = np.diff(self.ratings_.indptr), np.bincount(self.ratings_.indices, minlength=self.ratings_.shape[1])
        return (
            np.where(rows >= 0, np.log1p(n_u[np.maximum(rows, 0)]), 0.0),
            np.where(cols >= 0, np.log1p(n_i[np.maximum(cols, 0)]), 0.0),
        )

    def _design(self, parts: list[np.ndarray], log_u, log_i) -> Iterator[np.ndarray]:
        """Columns ``[1, r^1, ..., r^m]`` and, with support terms, those times log_u and times log_i.

        Yielded one at a time, so that scoring a block of users holds one extra block-sized
        array, not ``3 (m + 1)`` of them.
        """
        shape = np.broadcast_shapes(parts[0].shape, np.shape(log_u), np.shape(log_i))
        scales = (1.0, log_u, log_i) if self.support_terms else (1.0,)
        for scale in scales:
            yield np.broadcast_to(scale, shape).astype(np.float64)
            for column in parts:
                yield np.broadcast_to(column * scale, shape)

    def fit(self, ratings: pd.DataFrame, movies: pd.DataFrame | None = None) -> Blend:
        """Learn the blend weights on a held-out slice, then refit the components on everything; returns self."""
        self._index(ratings)
        data = self.data_
        table = ratings[[USER, ITEM, RATING]] if isinstance(ratings, pd.DataFrame) else data.frame()
        held = np.random.default_rng(self.seed).random(len(table)) < float(self.holdout)
        if held.all() or not held.any():
            raise ValueError("too few ratings to hold out a slice for the blend weights.")
        train, probe = RatingData.from_frame(table[~held]), table[held]  # one matrix shared by the components
        users, items = probe[USER].to_numpy(), probe[ITEM].to_numpy()
        specs = self._specs()
        parts = []
        for n, spec in enumerate(specs, 1):
            logger.info("Blend: fitting component %d/%d (%s) on the training slice", n, len(specs), spec["model"])
            parts.append(self._make(spec).fit(train, movies).predict(users, items))
        design = list(self._design(parts, *self._supports(self._rows(users), self._cols(items))))
        weights = np.linalg.lstsq(np.column_stack(design), probe[RATING].to_numpy(float), rcond=None)[0]
        self.weights_ = weights.reshape(3, -1) if self.support_terms else weights
        logger.info("Blend weights (intercept first): %s", np.round(self.weights_, 3).tolist())
        self.models_ = []
        for n, spec in enumerate(specs, 1):
            logger.info("Blend: refitting component %d/%d (%s) on all ratings", n, len(specs), spec["model"])
            self.models_.append(self._make(spec).fit(data, movies))
        return self

    def _combine(self, parts: list[np.ndarray], log_u, log_i, clip: bool = True) -> np.ndarray:
        """The blended estimate of the components' (reported) predictions ``parts``."""
        est = np.zeros(np.broadcast_shapes(parts[0].shape, np.shape(log_u), np.shape(log_i)))
        for weight, column in zip(np.ravel(self.weights_), self._design(parts, log_u, log_i)):
            est += weight * column
        return self._clip(est) if clip else est

    def _rank_block(self, rows: np.ndarray) -> tuple[np.ndarray, None]:
        parts = []
        for model in self.models_:
            scores, _ = model._rank_block(rows)
            missing = np.nonzero(~np.isfinite(scores))
            if missing[0].size:
                scores[missing] = model._predict_pairs(rows[missing[0]], missing[1])
            parts.append(model._reported(scores))  # what the component's predict says, as fitted
        log_u, log_i = self._supports(rows, np.arange(len(self.item_ids_)))
        return self._combine(parts, log_u[:, None], log_i[None, :], clip=False), None

    def _rank_vector(self, row: sp.csr_matrix) -> tuple[np.ndarray, None]:
        parts = []
        for model in self.models_:
            scores = np.array(model._rank_vector(row)[0], dtype=np.float64).ravel()
            scores[~np.isfinite(scores)] = self.global_mean_
            parts.append(model._reported(scores))
        _, log_i = self._supports(np.zeros(1, dtype=int), np.arange(len(self.item_ids_)))
        return self._combine(parts, np.log1p(row.nnz), log_i, clip=False), None

    def _predict_pairs(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return self._combine([model._predict_pairs(rows, cols) for model in self.models_], *self._supports(rows, cols))
