"""Nodes of the modeling pipeline: clean ratings -> the chosen model -> top-N recommendations."""

from __future__ import annotations

import logging

import pandas as pd

from movie_recommender.pipelines.validation import (
    REGENERATE,
    check_ratings_table,
    has_movie_details,
    model_from_params,
    require_columns,
    require_int,
    require_known_user,
    require_movie_details,
)
from movie_recommender.errors import UserError
from movie_recommender.recsys import Recommender
from movie_recommender.recsys.movielens import MOVIE_COLUMNS

logger = logging.getLogger(__name__)


def train_model(
    ratings_clean: pd.DataFrame, movies: pd.DataFrame, model: str, models: dict, explain_neighbours: int | None = None
) -> Recommender:
    """Fit the model named by the model parameter, with its settings from models, on the clean ratings;
    then each movie's explain_neighbours most similar movies, which the API quotes (because_you_rated)."""
    check_ratings_table(ratings_clean, "ratings_clean")
    require_columns(movies, "movies", MOVIE_COLUMNS)
    require_movie_details(model, models, movies)
    if explain_neighbours is not None:
        explain_neighbours = require_int("explain_neighbours", explain_neighbours)
    model = model_from_params(model, models).fit(ratings_clean, movies)
    logger.info("Trained %r on %d users x %d movies.", model, *model.ratings_.shape)
    model.fit_explanations(explain_neighbours)
    logger.info("Kept the %d most similar movies of each movie for explanations.", model.explanations_.neighbours)
    return model


def recommend(model: Recommender, movies: pd.DataFrame, user_id: int, top_n: int) -> pd.DataFrame:
    """Top-N movies user_id has not rated, best first, with title, year and genres."""
    user_id = require_int("user_id", user_id)
    top_n = require_int("top_n", top_n)
    require_columns(movies, "movies", MOVIE_COLUMNS)
    if movies["movieId"].duplicated().any():
        raise UserError(f"movies lists some movieId more than once: {REGENERATE}.")
    require_known_user(user_id, model.user_ids_)
    top = model.recommend(user_id, top_n)
    if len(top) < top_n:
        logger.warning("Only %d movies could be recommended to user %d (top_n=%d).", len(top), user_id, top_n)
    if not has_movie_details(movies) and movies["title"].isna().all():
        logger.warning("movies has no titles (the dataset has no movies.csv): recommendations list movie ids only.")
    top = top.merge(movies, on="movieId", how="left", validate="many_to_one")
    return top[["rank", *MOVIE_COLUMNS, "score"]]


def recommend_all(model: Recommender, top_n: int) -> pd.DataFrame:
    """Top-N unrated movies for every user, in one vectorized pass."""
    return model.recommend_all(require_int("top_n", top_n))
