"""Nodes of the modeling pipeline: clean ratings -> user-user model -> top-N recommendations."""

from __future__ import annotations

import logging

import pandas as pd

from movie_recommender.pipelines.validation import (
    REGENERATE,
    check_ratings_table,
    require_columns,
    require_int,
    user_knn_model,
)
from movie_recommender.recsys import UnknownUserError, UserKNN
from movie_recommender.recsys.movielens import MOVIE_COLUMNS

logger = logging.getLogger(__name__)


def train_model(ratings_clean: pd.DataFrame, user_knn: dict) -> UserKNN:
    """Fit user-user collaborative filtering (cosine, k nearest neighbours) on the clean ratings."""
    check_ratings_table(ratings_clean, "ratings_clean")
    model = user_knn_model(user_knn).fit(ratings_clean)
    logger.info("Trained %s on %d users x %d movies.", model.__class__.__name__, *model.ratings_.shape)
    return model


def recommend(model: UserKNN, movies: pd.DataFrame, user_id: int, top_n: int) -> pd.DataFrame:
    """Top-N movies user_id has not rated, best first, with title, year and genres."""
    user_id = require_int("user_id", user_id)
    top_n = require_int("top_n", top_n)
    require_columns(movies, "movies", MOVIE_COLUMNS)
    if movies["movieId"].duplicated().any():
        raise ValueError(f"movies lists some movieId more than once: {REGENERATE}.")
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
    top = top.merge(movies, on="movieId", how="left", validate="many_to_one")
    return top[["rank", *MOVIE_COLUMNS, "score"]]


def recommend_all(model: UserKNN, top_n: int) -> pd.DataFrame:
    """Top-N unrated movies for every user, in one vectorized pass."""
    return model.recommend_all(require_int("top_n", top_n))
