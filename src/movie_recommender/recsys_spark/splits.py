"""The per-user hold-outs of :mod:`movie_recommender.recsys.splits` on Spark, row for row.

:func:`random_holdout` draws the same random numbers as the pandas split: numpy's ``PCG64(seed)``
stream over the ratings sorted by ``userId, movieId``. Each partition of the sorted table jumps the
generator to its first row's global position (``PCG64.advance``) and draws its own share, so the
draw is distributed and yet identical to ``np.random.default_rng(seed).random(n)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from movie_recommender.recsys.checks import check_count
from movie_recommender.recsys.splits import _check_fraction

USER, ITEM, TIMESTAMP = "userId", "movieId", "timestamp"


def _test_count(size, test_fraction: float, min_train: int):
    """Per user: round(test_fraction * n) (halves up), capped so >= min_train ratings stay in train."""
    from pyspark.sql import functions as F

    wanted = F.floor(F.lit(test_fraction) * size + F.lit(0.5))
    return F.greatest(F.least(wanted, size - F.lit(min_train)), F.lit(0))


def _split(frame):
    from pyspark.sql import functions as F

    test = frame.where(F.col("_test")).drop("_test")
    train = frame.where(~F.col("_test")).drop("_test")
    return train, test


def random_holdout(ratings, test_fraction: float = 0.25, seed: int = 42, min_train: int = 1):
    """:func:`movie_recommender.recsys.splits.random_holdout` on a Spark DataFrame: the same train and test rows."""
    from pyspark import TaskContext
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    test_fraction = _check_fraction(test_fraction)
    min_train = check_count("min_train", min_train)
    seed = check_count("seed", seed, 0)
    columns = ratings.columns
    ordered = ratings.orderBy(USER, ITEM).persist()
    sizes = dict(ordered.groupBy(F.spark_partition_id().alias("p")).count().collect())
    offsets, total = {}, 0
    for partition in sorted(sizes):
        offsets[partition], total = total, total + sizes[partition]
    schema = ", ".join([*(f"`{f.name}` {f.dataType.simpleString()}" for f in ordered.schema.fields), "_key double",
                        "_row long"])

    def draw(batches):
        start = offsets.get(TaskContext.get().partitionId(), 0)
        generator = np.random.PCG64(seed)
        generator.advance(start)
        rng = np.random.Generator(generator)
        for batch in batches:
            yield batch.assign(_key=rng.random(len(batch)), _row=np.arange(start, start + len(batch), dtype=np.int64))
            start += len(batch)

    keyed = ordered.mapInPandas(draw, schema).localCheckpoint()  # drawn once, from the cached partitions
    ordered.unpersist()
    by_user = Window.partitionBy(USER)
    position = F.row_number().over(by_user.orderBy("_key", "_row")) - 1
    size = F.count(F.lit(1)).over(by_user)
    marked = keyed.withColumn("_test", position < _test_count(size, test_fraction, min_train)).select(*columns, "_test")
    return _split(marked)


def temporal_holdout(ratings, test_fraction: float = 0.25, min_train: int = 1):
    """:func:`movie_recommender.recsys.splits.temporal_holdout` on Spark: each user's latest ratings in test."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    test_fraction = _check_fraction(test_fraction)
    min_train = check_count("min_train", min_train)
    if TIMESTAMP not in ratings.columns:
        raise ValueError(f"temporal_holdout needs a {TIMESTAMP!r} column, but ratings have only {ratings.columns}.")
    by_user = Window.partitionBy(USER)
    position = F.row_number().over(by_user.orderBy(TIMESTAMP, ITEM)) - 1
    size = F.count(F.lit(1)).over(by_user)
    marked = ratings.withColumn("_test", position >= size - _test_count(size, test_fraction, min_train))
    return _split(marked)


def _kth_smallest(frame, column: str, k: int):
    """The ``k``-th smallest value (from 0, counting repeats) of ``column``, found without collecting the column.

    The distinct values with their counts are range-partitioned in order; the partition that holds position
    ``k`` is found from the per-partition totals, and only that partition is brought to the driver.
    """
    from pyspark.sql import functions as F

    counted = frame.groupBy(column).count().orderBy(column).persist()
    try:
        totals = sorted(
            (row["p"], row["n"])
            for row in counted.groupBy(F.spark_partition_id().alias("p")).agg(F.sum("count").alias("n")).collect()
        )
        before = 0
        for partition, size in totals:
            if before + size > k:
                break
            before += size
        part = counted.where(F.spark_partition_id() == partition).toPandas().sort_values(column)
        position = np.searchsorted(part["count"].cumsum().to_numpy(), k - before, side="right")
        return part[column].iloc[position].item()
    finally:
        counted.unpersist()


def time_cut_holdout(ratings, test_fraction: float = 0.25, min_train: int = 1):
    """:func:`movie_recommender.recsys.splits.time_cut_holdout` on Spark: one global cut in time, the same rows.

    The cut is the timestamp at position ``floor((1 - test_fraction) * n)`` of the sorted times; ratings at or
    after it are the test part, except those of users with fewer than ``min_train`` training ratings.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    test_fraction = _check_fraction(test_fraction)
    min_train = check_count("min_train", min_train)
    if TIMESTAMP not in ratings.columns:
        raise ValueError(f"time_cut_holdout needs a {TIMESTAMP!r} column, but ratings have only {ratings.columns}.")
    n = ratings.count()
    if n == 0:
        return _split(ratings.withColumn("_test", F.lit(False)))
    cut = _kth_smallest(ratings, TIMESTAMP, min(n - 1, int(np.floor((1 - test_fraction) * n))))
    to_test = F.col(TIMESTAMP) >= F.lit(cut)
    in_train = F.sum(F.when(to_test, 0).otherwise(1)).over(Window.partitionBy(USER))
    marked = (
        ratings.withColumn("_test", to_test)
        .withColumn("_keep", ~F.col("_test") | (in_train >= min_train))
        .where("_keep")
        .drop("_keep")
    )
    return _split(marked)


def to_spark(spark, frame: pd.DataFrame):
    """A pandas ratings table as a Spark DataFrame with the project's column types."""
    types = {USER: "int", ITEM: "int", "rating": "double", TIMESTAMP: "bigint"}
    schema = ", ".join(f"{c} {types.get(c, 'string')}" for c in frame.columns)
    return spark.createDataFrame(frame, schema)
