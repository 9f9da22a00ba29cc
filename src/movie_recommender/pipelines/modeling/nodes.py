"""Nodes of the modeling pipeline: clean ratings -> user-user model -> top-N recommendations."""

from __future__ import annotations

import inspect
import logging

import pandas as pd

from movie_recommender.pipelines.validation import require_int
from movie_recommender.recsys import UnknownUserError, UserKNN

logger = logging.getLogger(__name__)


def train_model(ratings_clean: pd.DataFrame, user_knn: dict) -> UserKNN:
    """Fit user-user collaborative filtering (cosine, k nearest neighbours) on the clean ratings."""
    allowed = [name for name in inspect.signature(UserKNN).parameters]
    unknown = sorted(set(user_knn) - set(allowed))
    if unknown:
        raise ValueError(f"Unknown user_knn parameter(s) {unknown}; allowed: {allowed} (conf/base/parameters_modeling.yml).")
    try:
        model = UserKNN(**user_knn).fit(ratings_clean)
    except ValueError as exc:
        raise ValueError(
            f"Cannot train user_knn: {exc} (Settings: conf/base/parameters_modeling.yml; "
            "data: ratings_clean, made by kedro run --pipeline data_processing.)"
        ) from None
    logger.info("Trained %s on %d users x %d movies.", model.__class__.__name__, *model.ratings_.shape)
    return model


def recommend(model: UserKNN, movies: pd.DataFrame, user_id: int, top_n: int) -> pd.DataFrame:
    """Top-N movies user_id has not rated, best first, with title, year and genres."""
    user_id = require_int("user_id", user_id, 1)
    top_n = require_int("top_n", top_n, 1)
    try:
        top = model.recommend(user_id, top_n)
    except UnknownUserError:
        ids = model.user_ids_
        raise ValueError(
            f"user_id {user_id} has no ratings in the training data ({len(ids)} users with ids "
            f"{ids.min()}-{ids.max()} after filtering; users below min_user_ratings are dropped). "
            f"Pick one of them, e.g. kedro run --params user_id={ids[0]}."
        ) from None
    if len(top) < top_n:
        logger.warning("Only %d movies could be recommended to user %d (top_n=%d).", len(top), user_id, top_n)
    return top.merge(movies, on="movieId", how="left")[["rank", "movieId", "title", "year", "genres", "score"]]


def recommend_all(model: UserKNN, top_n: int) -> pd.DataFrame:
    """Top-N unrated movies for every user, in one vectorized pass."""
    return model.recommend_all(require_int("top_n", top_n, 1))
