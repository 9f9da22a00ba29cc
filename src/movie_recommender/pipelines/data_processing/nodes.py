"""Nodes of the data_processing pipeline: raw MovieLens archive -> clean ratings."""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping

import pandas as pd

from movie_recommender.errors import UserError
from movie_recommender.pipelines.validation import require_columns, require_int
from movie_recommender.recsys import filter_min_ratings
from movie_recommender.recsys.movielens import read_release
from movie_recommender.recsys.releases import RELEASES

logger = logging.getLogger(__name__)


def convert(archive: Mapping[str, bytes]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Any release's ratings and movies files -> the ratings.csv and movies.csv tables, checked line by line.

    ``archive`` is what MovieLensArchiveDataset loads (it knows its release); a plain mapping of
    file names to bytes is read as MovieLens 100k.
    """
    release = getattr(archive, "release", RELEASES["ml-100k"])
    if hasattr(archive, "opener"):
        open_member = archive.opener
    else:

        def open_member(name: str):
            return lambda: io.BytesIO(archive[name])

    ratings, movies = read_release(release, open_member, list(archive))
    logger.info(
        "%s: %s ratings by %s users of %s movies (%s listed).",
        release.title,
        f"{len(ratings):,}",
        f"{ratings['userId'].nunique():,}",
        f"{ratings['movieId'].nunique():,}",
        f"{len(movies):,}",
    )
    return ratings, movies


def count_movie_ratings(ratings: pd.DataFrame) -> pd.DataFrame:
    """Every rated movie's number of ratings in the whole data set (before filtering), most rated first."""
    require_columns(ratings, "ratings", ["movieId"])
    counts = ratings["movieId"].value_counts().rename_axis("movieId").rename("ratings").reset_index()
    return counts.sort_values(["ratings", "movieId"], ascending=[False, True], ignore_index=True)


def transform(ratings: pd.DataFrame, min_user_ratings: int, min_movie_ratings: int) -> tuple[pd.DataFrame, dict]:
    """Keep users with >= min_user_ratings and movies with >= min_movie_ratings ratings, until both hold.

    Movie details are not copied onto the ratings: they stay in movies.csv and are joined only
    where a person reads the output (recommendations.csv, the API).
    """
    require_columns(ratings, "ratings", ["userId", "movieId", "rating"])
    min_user = require_int("min_user_ratings", min_user_ratings)
    min_movie = require_int("min_movie_ratings", min_movie_ratings)
    clean, passes = filter_min_ratings(ratings, min_user, min_movie)
    if clean.empty:
        raise UserError(
            f"Filtering with min_user_ratings={min_user} and min_movie_ratings={min_movie} removes every "
            f"one of the {len(ratings):,} ratings. Lower them in conf/base/parameters.yml or on "
            "the command line, e.g. kedro run --params min_user_ratings=2,min_movie_ratings=2."
        )

    def counts(frame: pd.DataFrame) -> dict:
        return {"ratings": len(frame), "users": frame["userId"].nunique(), "movies": frame["movieId"].nunique()}

    summary = filter_summary(min_user, min_movie, counts(ratings), counts(clean), passes)
    return clean.reset_index(drop=True), summary


def filter_summary(min_user: int, min_movie: int, before: dict, after: dict, passes: list[dict]) -> dict:
    """data_processing_summary.json: the thresholds, the counts before and after, and each pass."""
    return {
        "min_user_ratings": min_user,
        "min_movie_ratings": min_movie,
        "input": before,
        "output": after,
        "removed": {key: before[key] - after[key] for key in before},
        "passes": passes,
        "output_density": after["ratings"] / (after["users"] * after["movies"]),
    }
