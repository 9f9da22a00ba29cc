"""Checks of parameters and of tables read back from disk: one clear message per bad value.

Nodes call these on their own inputs; the ValidateParameters hook runs the parameter
checks for the whole pipeline before any node runs, so a bad value writes nothing.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from movie_recommender.errors import UserError
from movie_recommender.recsys import Recommender, check_count
from movie_recommender.recsys.models import MODELS, make_model
from movie_recommender.recsys.releases import Release, UnknownDatasetError, get_release

REGENERATE = "regenerate it with kedro run --pipelines data_processing"


def require_int(name: str, value: object, minimum: int = 1) -> int:
    """Return ``value`` if it is a whole number >= ``minimum``, else raise a message naming the parameter."""
    try:
        return check_count(name, value, minimum)
    except ValueError as exc:
        raise UserError(
            f"Parameter {exc} Set it in conf/base/parameters.yml or on the command line, "
            f"e.g. kedro run --params {name}={max(minimum, 10)}."
        ) from None


def model_names(models: object) -> list[str]:
    """Every name a model can be chosen by: the registry's, plus the named settings in ``models``."""
    return sorted(set(MODELS) | (set(models) if isinstance(models, Mapping) else set()))


def _require_models_mapping(models: object) -> None:
    if not isinstance(models, Mapping):
        raise UserError(
            f"Parameter models must map model names to their settings, got {models!r}; "
            "see conf/base/parameters_modeling.yml."
        )


def model_from_params(name: object, models: object) -> Recommender:
    """An unfitted model ``name`` with its settings from the ``models`` parameter, every setting checked.

    ``models.<name>`` holds the settings of the registry's model ``name``, or of the registry's model
    given by its ``model:`` key, so that one model can appear under several names with other settings.
    """
    where = f"conf/base/parameters_modeling.yml, or e.g. kedro run --params models.{name}.<setting>=<value>"
    _require_models_mapping(models)
    if not isinstance(name, str) or name not in model_names(models):
        raise UserError(
            f"Parameter model must be one of {model_names(models)}, got {name!r}; set it in "
            "conf/base/parameters_modeling.yml or e.g. kedro run --params model=user_knn."
        )
    params = models.get(name) or {}
    if not isinstance(params, Mapping):
        raise UserError(f"Parameter models.{name} must be a mapping of model settings, got {params!r}; see {where}.")
    params = dict(params)
    if "model" not in params and name not in MODELS:
        raise UserError(
            f"Parameter models.{name} is not a model's name: add `model: <one of {sorted(MODELS)}>` to say "
            f"which model these settings are for; see {where}."
        )
    kind = params.pop("model", name)
    if kind not in MODELS:
        raise UserError(f"Parameter models.{name}.model must be one of {sorted(MODELS)}, got {kind!r}; see {where}.")
    allowed = list(inspect.signature(MODELS[kind]).parameters)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise UserError(f"Unknown models.{name} parameter(s) {unknown}; allowed: {allowed}; see {where}.")
    try:
        return make_model(kind, params)
    except ValueError as exc:
        raise UserError(f"Parameter models.{name}.{exc} See {where}.") from None


#: Models that rank by the movies' genres and years, so they need a movies table with them.
MOVIE_DETAIL_MODELS = ("content", "hybrid")


def has_movie_details(movies: pd.DataFrame) -> bool:
    """Whether ``movies`` has any genres (a custom dataset without movies.csv has none)."""
    return "genres" in movies and bool(movies["genres"].notna().any())


def require_movie_details(name: str, models: object, movies: pd.DataFrame) -> None:
    """Stop with one message when model ``name`` needs genres that ``movies`` lacks."""
    if not needs_movie_details(name, models) or has_movie_details(movies):
        return
    raise UserError(
        f"Model {name} ranks movies by their genres and years, but movies has none: the dataset has no "
        "movies.csv. Add a movies.csv (movieId,title,genres) beside its ratings.csv, or choose a model that "
        "needs ratings only, e.g. kedro run --params model=ease."
    )


def needs_movie_details(name: str, models: object) -> bool:
    settings = models.get(name) if isinstance(models, Mapping) else None
    kind = settings.get("model", name) if isinstance(settings, Mapping) else name
    return kind in MOVIE_DETAIL_MODELS


def check_models(models: object) -> None:
    """Every entry of the ``models`` parameter is a known model (or names one with ``model:``) with valid settings."""
    _require_models_mapping(models)
    for name in models:
        model_from_params(name, models)


EVALUATION_DEFAULTS = {
    "split": "random",
    "test_fraction": 0.25,
    "seed": 42,
    "k": 10,
    "relevance_threshold": None,
    "models": ["popularity", "user_knn"],
    "max_users": None,
}
FOLDS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")
SPLITS = ("random", "temporal", "time_cut", *FOLDS)


def check_dataset(dataset: object, custom_datasets: object = None) -> Release:
    """The release named by the ``dataset`` parameter; one message listing the known ones if there is none."""
    if custom_datasets is not None and not isinstance(custom_datasets, Mapping):
        raise UserError(
            f"custom_datasets must map dataset names to their settings, got {custom_datasets!r}; "
            "set it in conf/local/globals.yml (see README, Your own ratings)."
        )
    try:
        return get_release(dataset, custom_datasets)
    except UnknownDatasetError as exc:
        raise UserError(str(exc)) from None


def check_evaluation(evaluation: object, models: object = None, release: Release | None = None) -> dict:
    """The ``evaluation`` parameter with defaults filled in, after checking every setting.

    Model names are checked against the registry and the named settings in ``models``, when given;
    the split and relevance threshold against the ``release`` (its folds and rating scale), when given.
    """
    where = "conf/base/parameters_evaluation.yml, or e.g. kedro run --pipelines evaluation --params evaluation.k=20"
    if not isinstance(evaluation, Mapping):
        raise UserError(f"Parameter evaluation must be a mapping of settings, got {evaluation!r}; see {where}.")
    unknown = sorted(set(evaluation) - set(EVALUATION_DEFAULTS))
    if unknown:
        raise UserError(
            f"Unknown evaluation parameter(s) {unknown}; allowed: {list(EVALUATION_DEFAULTS)}; see {where}."
        )
    settings = {**EVALUATION_DEFAULTS, **evaluation}

    def bad(name: str, expected: str) -> UserError:
        return UserError(f"Parameter evaluation.{name} must be {expected}, got {settings[name]!r}; see {where}.")

    if settings["split"] not in SPLITS:
        raise bad("split", f"one of {list(SPLITS)}")
    if release is not None and settings["split"] in FOLDS and not release.has_folds:
        raise bad(
            "split",
            f"random, temporal or time_cut for {release.title}: the folds {', '.join(FOLDS)} ship with "
            "MovieLens 100k only",
        )
    fraction = settings["test_fraction"]
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 < fraction < 1:
        raise bad("test_fraction", "a number between 0 and 1 (exclusive)")
    for name, minimum in (("seed", 0), ("k", 1)):
        try:
            check_count(name, settings[name], minimum)
        except ValueError:
            raise bad(name, f"a whole number >= {minimum}") from None
    if settings["max_users"] is not None:
        try:
            check_count("max_users", settings["max_users"], 1)
        except ValueError:
            raise bad("max_users", "null (every test user) or a whole number >= 1") from None
    threshold = settings["relevance_threshold"]
    low, high = release.scale[:2] if release is not None else (-math.inf, math.inf)
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, int | float) or not low <= threshold <= high
    ):
        scale = f"a rating from {low:g} to {high:g}" if release is not None else "a rating"
        raise bad("relevance_threshold", f"null (any held-out rating is relevant) or {scale}")
    names = settings["models"]
    if isinstance(names, str):
        names = settings["models"] = [names]
    if not isinstance(names, list | tuple) or not names or len(set(map(str, names))) != len(names):
        raise bad("models", "a non-empty list of distinct model names")
    unknown_models = [name for name in names if models is not None and name not in model_names(models)]
    if unknown_models:
        raise bad("models", f"a list of names from {model_names(models)} (unknown: {unknown_models})")
    settings["models"] = list(names)
    return settings


def check_versions(versions: object) -> int:
    """``versions.keep``: how many complete model versions each run keeps (a whole number >= 1)."""
    where = "conf/base/parameters.yml"
    if not isinstance(versions, Mapping) or set(versions) - {"keep"}:
        raise UserError(f"Parameter versions must be a mapping with one setting, keep, got {versions!r}; see {where}.")
    return require_int("versions.keep", versions.get("keep"))


PARAMETER_CHECKS: dict[str, Callable[[object], object]] = {
    "min_user_ratings": lambda value: require_int("min_user_ratings", value),
    "min_movie_ratings": lambda value: require_int("min_movie_ratings", value),
    "top_n": lambda value: require_int("top_n", value),
    "user_id": lambda value: require_int("user_id", value),
    "models": check_models,
    "versions": check_versions,
}
# Checks that need the models parameter too (named model settings).
CHECKS_WITH_MODELS: dict[str, Callable[[object, object], object]] = {
    "model": model_from_params,
    "evaluation": check_evaluation,
}


def check_parameters(params: Mapping[str, object]) -> None:
    """Run the check of every parameter in ``params`` that has one; the dataset first."""
    release = check_dataset(params["dataset"], params.get("custom_datasets")) if "dataset" in params else None
    from movie_recommender.pipelines.spark import checks as spark

    spark_checks: dict[str, Callable[[object], object]] = {
        "engine": spark.check_engine,
        "spark_models": spark.check_spark_models,
        "spark_model": lambda value: spark.check_spark_model(value, params.get("spark_models", {})),
        "spark_recommend": spark.check_spark_recommend,
        "spark_evaluation": lambda value: spark.check_spark_evaluation(value, params.get("spark_models")),
    }
    for name, value in params.items():
        if name == "evaluation":
            check_evaluation(value, params.get("models"), release)
        elif name in PARAMETER_CHECKS:
            PARAMETER_CHECKS[name](value)
        elif name in CHECKS_WITH_MODELS:
            CHECKS_WITH_MODELS[name](value, params.get("models", {} if name == "model" else None))
        elif name in spark_checks:
            spark_checks[name](value)


def require_known_user(user_id: int, user_ids) -> None:
    """Raise a message listing the known ids if ``user_id`` is not among ``user_ids`` (the trained-on users)."""
    ids = pd.unique(pd.Series(user_ids, dtype="int64"))
    if not (ids == user_id).any():
        raise UserError(
            f"user_id {user_id} has no ratings in the training data ({len(ids)} users with ids "
            f"{int(ids.min())}-{int(ids.max())} after filtering; users below min_user_ratings are dropped). "
            f"Pick one of them, e.g. kedro run --params user_id={int(ids.min())}."
        )


def require_columns(frame: pd.DataFrame, dataset: str, columns: list[str]) -> None:
    """Raise a message naming the dataset if it lacks any of ``columns``."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise UserError(f"{dataset} lacks the column(s) {missing}: {REGENERATE}.")


def check_ratings_table(ratings: pd.DataFrame, dataset: str) -> None:
    """Ratings as data_processing writes them: whole-number ids, numeric ratings (the scale is checked there)."""
    require_columns(ratings, dataset, ["userId", "movieId", "rating"])
    for column in ("userId", "movieId"):
        if not pd.api.types.is_integer_dtype(ratings[column]):
            raise UserError(f"{dataset}.{column} must hold whole numbers only: {REGENERATE}.")
    if not pd.api.types.is_numeric_dtype(ratings["rating"]) or not np.isfinite(ratings["rating"].to_numpy()).all():
        raise UserError(f"{dataset}.rating must hold numbers only: {REGENERATE}.")
