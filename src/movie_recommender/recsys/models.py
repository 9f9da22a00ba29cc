"""The models by the names parameters use for them (``model: user_knn``)."""

from __future__ import annotations

import inspect

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
from .mf import BiasedMF, SVDpp

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
    "svdpp": SVDpp,
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
    if params is not None and not isinstance(params, dict):
        raise ValueError(f"the settings of model {name!r} must be a mapping, got {params!r}.")
    try:
        model = MODELS[name](**(params or {}))
    except TypeError as error:  # an unknown setting: name the ones the model has
        known = sorted(inspect.signature(MODELS[name]).parameters)
        unknown = sorted(set(params or {}) - set(known))
        raise ValueError(f"model {name!r} has no setting(s) {unknown}; its settings are {known}.") from error
    return model.check_params()
