"""Nodes of the data_processing pipeline: raw MovieLens archive -> clean ratings."""

from __future__ import annotations

import pandas as pd

from movie_recommender.errors import UserError
from movie_recommender.pipelines.validation import REGENERATE, require_columns, require_int
from movie_recommender.recsys import filter_min_ratings, parse_genres, parse_movies, parse_ratings
from movie_recommender.recsys.movielens import MOVIE_COLUMNS, RATING_COLUMNS, check_rated_movies


def convert_ml100k(archive: dict[str, bytes]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse the archive's u.data and u.item (with u.genre) into ratings and movies tables.

    Every rated movie must be in u.item: otherwise nothing is written and the message names the line.
    """
    ratings = parse_ratings(archive["u.data"])
    movies = parse_movies(archive["u.item"], parse_genres(archive["u.genre"]))
    check_rated_movies(ratings, movies, archive["u.data"])
    return ratings, movies


def ingest(ratings: pd.DataFrame, movies: pd.DataFrame) -> pd.DataFrame:
    """Merge every rating with its movie's title, year and genres."""
    require_columns(ratings, "ratings", RATING_COLUMNS)
    require_columns(movies, "movies", MOVIE_COLUMNS)
    unknown = ~ratings["movieId"].isin(movies["movieId"])
    if unknown.any():
        ids = sorted(ratings.loc[unknown, "movieId"].unique().tolist())  # plain ints in the message
        raise UserError(
            f"{int(unknown.sum())} ratings refer to {len(ids)} movie id(s) missing from movies "
            f"(first: {', '.join(map(str, ids[:5]))}): {REGENERATE}."
        )
    return ratings.merge(movies, on="movieId", how="left", validate="many_to_one")


def count_movie_ratings(ratings: pd.DataFrame) -> pd.DataFrame:
    """Every rated movie's number of ratings in the whole data set (before filtering), most rated first."""
    require_columns(ratings, "ratings", ["movieId"])
    counts = ratings["movieId"].value_counts().rename_axis("movieId").rename("ratings").reset_index()
    return counts.sort_values(["ratings", "movieId"], ascending=[False, True], ignore_index=True)


def transform(
    ratings_with_movies: pd.DataFrame, min_user_ratings: int, min_movie_ratings: int
) -> tuple[pd.DataFrame, dict]:
    """Keep users with >= min_user_ratings and movies with >= min_movie_ratings ratings, until both hold."""
    min_user = require_int("min_user_ratings", min_user_ratings)
    min_movie = require_int("min_movie_ratings", min_movie_ratings)
    clean, passes = filter_min_ratings(ratings_with_movies, min_user, min_movie)
    if clean.empty:
        raise UserError(
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
