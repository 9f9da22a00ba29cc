"""The models by the names parameters use for them (``model: user_knn``)."""

from __future__ import annotations

from .base import Recommender
from .baselines import Popularity, RandomRecommender
from .bias import Bias
from .blend import Blend
from .content import ContentBased
from .ease import EASE
from .hybrid import Hybrid
from .ials import IALS
from .item_knn import ItemKNN
from .knn import UserKNN
from .mf import BiasedMF

MODELS: dict[str, type[Recommender]] = {
    # baselines
    "random": RandomRecommender,
    "popularity": Popularity,
    "bias": Bias,
    # neighbourhood models
    "user_knn": UserKNN,
    "item_knn": ItemKNN,
    # matrix factorisation and linear models
    "svd": BiasedMF,
    "ials": IALS,
    "ease": EASE,
    # content and combinations
    "content": ContentBased,
    "hybrid": Hybrid,
    "blend": Blend,
}


def make_model(name: str, params: dict | None = None) -> Recommender:
    """An unfitted model ``name`` with hyper-parameters ``params``, checked (ValueError names what is wrong)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}.")
    return MODELS[name](**(params or {})).check_params()
