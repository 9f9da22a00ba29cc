"""Data processing on Spark: typed ratings and the repeated min-ratings filter of the pandas path."""

from __future__ import annotations

from movie_recommender.recsys.movielens import RATING_COLUMNS

USER, ITEM, RATING, TIMESTAMP = "userId", "movieId", "rating", "timestamp"
#: Spark types of the ratings columns (timestamp only when the table has one).
RATING_TYPES = {USER: "int", ITEM: "int", RATING: "double", TIMESTAMP: "bigint"}


def typed_ratings(ratings):
    """The ratings table read from ``ratings.csv`` (text columns) with the project's column types.

    ``userId``, ``movieId`` and ``rating`` are required; ``timestamp`` is kept when present (a custom
    dataset may have none). The file is the converter's, checked line by line when it was written.
    """
    from pyspark.sql import functions as F

    missing = [c for c in RATING_COLUMNS[:3] if c not in ratings.columns]
    if missing:
        raise ValueError(
            f"ratings lack the column(s) {missing} (found {ratings.columns}); regenerate ratings.csv with "
            "kedro run --env spark --pipelines spark_data_processing."
        )
    columns = [c for c in RATING_COLUMNS if c in ratings.columns]
    # Spark 4 casts in ANSI mode: a value that is not a number of the type fails the job, naming it.
    return ratings.select(*(F.col(c).cast(RATING_TYPES[c]).alias(c) for c in columns))


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
