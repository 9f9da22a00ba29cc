"""Data processing on Spark: the movie join and the repeated min-ratings filter of the pandas path."""

from __future__ import annotations

from movie_recommender.recsys.movielens import MOVIE_COLUMNS, RATING_COLUMNS

USER, ITEM = "userId", "movieId"


def _missing(frame, columns) -> list[str]:
    return [c for c in columns if c not in frame.columns]


def join_movies(ratings, movies):
    """Every rating with its movie's title, year and genres; a rating naming an unknown movie is an error."""
    from pyspark.sql import functions as F

    for name, frame, columns in (("ratings", ratings, RATING_COLUMNS), ("movies", movies, MOVIE_COLUMNS)):
        missing = _missing(frame, columns)
        if missing:
            raise ValueError(f"{name} lacks the column(s) {missing}; regenerate it with kedro run --env spark.")
    movies = movies.select(*MOVIE_COLUMNS)
    unknown = ratings.join(movies.select(ITEM), ITEM, "left_anti")
    bad = unknown.agg(F.count(F.lit(1)).alias("n"), F.countDistinct(ITEM).alias("ids")).first()
    if bad["n"]:
        first = sorted(row[ITEM] for row in unknown.select(ITEM).distinct().orderBy(ITEM).limit(5).collect())
        raise ValueError(
            f"{bad['n']} ratings refer to {bad['ids']} movie id(s) missing from movies (first: {first}): "
            "regenerate them with kedro run --env spark."
        )
    return ratings.join(F.broadcast(movies), ITEM, "left").select(*RATING_COLUMNS, *MOVIE_COLUMNS[1:])


def counts(frame) -> dict[str, int]:
    """``ratings``, distinct ``users`` and ``movies`` of a ratings table, in one pass."""
    from pyspark.sql import functions as F

    row = frame.agg(
        F.count(F.lit(1)).alias("ratings"), F.countDistinct(USER).alias("users"), F.countDistinct(ITEM).alias("movies")
    ).first()
    return {key: int(row[key]) for key in ("ratings", "users", "movies")}


def filter_min_ratings(ratings, min_user_ratings: int, min_item_ratings: int):
    """:func:`movie_recommender.recsys.filter_min_ratings` on a Spark DataFrame: the same rows, the same passes.

    Each pass keeps the users with at least ``min_user_ratings`` ratings, then, of what is left, the movies
    with at least ``min_item_ratings``; passes repeat until one removes nothing. Each pass's result is
    checkpointed (cached, its lineage cut) so the plan does not grow with the number of passes.
    Returns the filtered DataFrame (cached) and one record per pass that removed something.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    by_user, by_item = Window.partitionBy(USER), Window.partitionBy(ITEM)
    current = ratings.localCheckpoint()
    before = counts(current)
    passes: list[dict[str, int]] = []
    while True:
        after_users = current.withColumn("_n", F.count(F.lit(1)).over(by_user)).where(F.col("_n") >= min_user_ratings)
        after_items = (
            after_users.withColumn("_n", F.count(F.lit(1)).over(by_item))
            .where(F.col("_n") >= min_item_ratings)
            .drop("_n")
            .localCheckpoint()
        )
        after = counts(after_items)
        removed = before["ratings"] - after["ratings"]
        if removed == 0:
            return current, passes
        passes.append(
            {
                "pass": len(passes) + 1,
                "users_removed": before["users"] - after["users"],
                "movies_removed": before["movies"] - after["movies"],
                "ratings_removed": removed,
            }
        )
        current, before = after_items, after
