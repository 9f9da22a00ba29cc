"""The models by the names parameters use for them (``model: user_knn``)."""

from __future__ import annotations

from .base import Recommender
from .baseline import Bias
from .blend import Blend
from .item_knn import ItemKNN
from .knn import UserKNN
from .mf import BiasedMF

MODELS: dict[str, type[Recommender]] = {
    "user_knn": UserKNN,
    "bias": Bias,
    "svd": BiasedMF,
    "item_knn": ItemKNN,
    "blend": Blend,
}


def make_model(name: str, params: dict | None = None) -> Recommender:
    """An unfitted model ``name`` with hyper-parameters ``params``, checked (ValueError names what is wrong)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}.")
    return MODELS[name](**(params or {})).check_params()
