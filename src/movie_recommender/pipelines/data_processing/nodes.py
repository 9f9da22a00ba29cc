"""Nodes of the data_processing pipeline: raw MovieLens archive -> clean ratings."""

from __future__ import annotations

import pandas as pd

from movie_recommender.pipelines.validation import REGENERATE, require_columns, require_int
from movie_recommender.recsys import filter_min_ratings, parse_genres, parse_movies, parse_ratings
from movie_recommender.recsys.movielens import MOVIE_COLUMNS, RATING_COLUMNS


def convert_ml100k(archive: dict[str, bytes]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse the archive's u.data and u.item (with u.genre) into ratings and movies tables."""
    ratings = parse_ratings(archive["u.data"])
    movies = parse_movies(archive["u.item"], parse_genres(archive["u.genre"]))
    return ratings, movies


def ingest(ratings: pd.DataFrame, movies: pd.DataFrame) -> pd.DataFrame:
    """Merge every rating with its movie's title, year and genres."""
    require_columns(ratings, "ratings", RATING_COLUMNS)
    require_columns(movies, "movies", MOVIE_COLUMNS)
    unknown = ~ratings["movieId"].isin(movies["movieId"])
    if unknown.any():
        ids = sorted(ratings.loc[unknown, "movieId"].unique())
        raise ValueError(
            f"{int(unknown.sum())} ratings refer to {len(ids)} movie id(s) missing from movies "
            f"(first: {ids[:5]}): {REGENERATE}."
        )
    return ratings.merge(movies, on="movieId", how="left", validate="many_to_one")


def transform(
    ratings_with_movies: pd.DataFrame, min_user_ratings: int, min_movie_ratings: int
) -> tuple[pd.DataFrame, dict]:
    """Keep users with >= min_user_ratings and movies with >= min_movie_ratings ratings, until both hold."""
    min_user = require_int("min_user_ratings", min_user_ratings)
    min_movie = require_int("min_movie_ratings", min_movie_ratings)
    clean, passes = filter_min_ratings(ratings_with_movies, min_user, min_movie)
    if clean.empty:
        raise ValueError(
            f"Filtering with min_user_ratings={min_user} and min_movie_ratings={min_movie} removes every "
            f"one of the {len(ratings_with_movies):,} ratings. Lower them in conf/base/parameters.yml or on "
            "the command line, e.g. kedro run --params min_user_ratings=2,min_movie_ratings=2."
        )

    def counts(frame: pd.DataFrame) -> dict:
        return {"ratings": len(frame), "users": frame["userId"].nunique(), "movies": frame["movieId"].nunique()}

    before, after = counts(ratings_with_movies), counts(clean)
    summary = {
        "min_user_ratings": min_user,
        "min_movie_ratings": min_movie,
        "input": before,
        "output": after,
        "removed": {key: before[key] - after[key] for key in before},
        "passes": passes,
        "output_density": after["ratings"] / (after["users"] * after["movies"]),
    }
    return clean.reset_index(drop=True), summary
