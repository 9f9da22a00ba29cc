"""Checks of parameters and of tables read back from disk: one clear message per bad value.

Nodes call these on their own inputs; the ValidateParameters hook runs the parameter
checks for the whole pipeline before any node runs, so a bad value writes nothing.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping

import pandas as pd

from movie_recommender.recsys import Recommender, check_count
from movie_recommender.recsys.models import MODELS, make_model
from movie_recommender.recsys.movielens import RATING_SCALE

REGENERATE = "regenerate it with kedro run --pipeline data_processing"


def require_int(name: str, value: object, minimum: int = 1) -> int:
    """Return ``value`` if it is a whole number >= ``minimum``, else raise a message naming the parameter."""
    try:
        return check_count(name, value, minimum)
    except ValueError as exc:
        raise ValueError(
            f"Parameter {exc} Set it in conf/base/parameters.yml or on the command line, "
            f"e.g. kedro run --params {name}={max(minimum, 10)}."
        ) from None


def model_from_params(name: object, models: object) -> Recommender:
    """An unfitted model ``name`` with its settings from the ``models`` parameter, every setting checked."""
    if not isinstance(name, str) or name not in MODELS:
        raise ValueError(
            f"Parameter model must be one of {sorted(MODELS)}, got {name!r}; set it in "
            "conf/base/parameters_modeling.yml or e.g. kedro run --params model=user_knn."
        )
    where = f"conf/base/parameters_modeling.yml, or e.g. kedro run --params models.{name}.<setting>=<value>"
    if not isinstance(models, Mapping):
        raise ValueError(f"Parameter models must map model names to their settings, got {models!r}; see {where}.")
    params = models.get(name) or {}
    if not isinstance(params, Mapping):
        raise ValueError(f"Parameter models.{name} must be a mapping of model settings, got {params!r}; see {where}.")
    allowed = list(inspect.signature(MODELS[name]).parameters)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"Unknown models.{name} parameter(s) {unknown}; allowed: {allowed}; see {where}.")
    try:
        return make_model(name, dict(params))
    except ValueError as exc:
        raise ValueError(f"Parameter models.{name}.{exc} See {where}.") from None


def check_models(models: object) -> None:
    """Every entry of the ``models`` parameter names a known model with valid settings."""
    if not isinstance(models, Mapping):
        model_from_params("user_knn", models)  # raises the message for a non-mapping
    for name in models:
        if name not in MODELS:
            raise ValueError(
                f"Parameter models.{name}: unknown model; the models are {sorted(MODELS)} "
                "(conf/base/parameters_modeling.yml)."
            )
        model_from_params(name, models)


PARAMETER_CHECKS: dict[str, Callable[[object], object]] = {
    "min_user_ratings": lambda value: require_int("min_user_ratings", value),
    "min_movie_ratings": lambda value: require_int("min_movie_ratings", value),
    "top_n": lambda value: require_int("top_n", value),
    "user_id": lambda value: require_int("user_id", value),
    "model": lambda value: model_from_params(value, {}),
    "models": check_models,
}


def check_parameters(params: Mapping[str, object]) -> None:
    """Run the check of every parameter in ``params`` that has one."""
    for name, value in params.items():
        if name in PARAMETER_CHECKS:
            PARAMETER_CHECKS[name](value)


def require_columns(frame: pd.DataFrame, dataset: str, columns: list[str]) -> None:
    """Raise a message naming the dataset if it lacks any of ``columns``."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{dataset} lacks the column(s) {missing}: {REGENERATE}.")


def check_ratings_table(ratings: pd.DataFrame, dataset: str) -> None:
    """Ratings as data_processing writes them: whole-number ids, ratings on the MovieLens scale."""
    require_columns(ratings, dataset, ["userId", "movieId", "rating"])
    for column in ("userId", "movieId"):
        if not pd.api.types.is_integer_dtype(ratings[column]):
            raise ValueError(f"{dataset}.{column} must hold whole numbers only: {REGENERATE}.")
    low, high = RATING_SCALE
    if not pd.api.types.is_numeric_dtype(ratings["rating"]) or not ratings["rating"].between(low, high).all():
        raise ValueError(f"{dataset}.rating must hold numbers from {low} to {high} only: {REGENERATE}.")
