"""``pyspark.ml.recommendation.ALS``: explicit (ratings) and implicit (who rated what) variants, and top-N lists."""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
import pandas as pd

USER, ITEM, RATING = "userId", "movieId", "rating"
#: Largest users x movies score block computed at once by :func:`top_n_unrated` (16 MB of float64).
MAX_CELLS = 2**21
TOP_N_SCHEMA = "userId int, rank int, movieId int, score double"

#: Setting -> (default, kind, minimum). ``reg`` is Spark's regParam (scaled per user/movie by its rating
#: count, ALS-WR), ``alpha`` the implicit confidence ``1 + alpha`` of a rated movie.
SETTINGS: dict[str, tuple[object, type, float]] = {
    "implicit": (False, bool, 0),
    "rank": (10, int, 1),
    "max_iter": (10, int, 1),
    "reg": (0.1, float, 0.0),
    "alpha": (1.0, float, 0.0),
    "seed": (0, int, 0),
    "num_blocks": (10, int, 1),
}


def check_als_settings(name: str, settings: object) -> dict:
    """The settings of one ALS variant with defaults filled in; one message per bad or unknown value."""
    where = f"conf/base/parameters_spark.yml (spark_models.{name}), or --params spark_models.{name}.<setting>=..."
    if not isinstance(settings, Mapping):
        raise ValueError(f"Parameter spark_models.{name} must be a mapping of ALS settings, got {settings!r}; "
                         f"see {where}.")
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise ValueError(f"Unknown spark_models.{name} setting(s) {unknown}; allowed: {list(SETTINGS)}; see {where}.")
    result = {}
    for key, (default, kind, minimum) in SETTINGS.items():
        value = settings.get(key, default)
        if kind is bool:
            ok = isinstance(value, bool)
        elif kind is int:
            ok = isinstance(value, Integral) and not isinstance(value, bool) and value >= minimum
        else:
            ok = isinstance(value, Real) and not isinstance(value, bool) and np.isfinite(value) and value >= minimum
        if not ok:
            expected = "true or false" if kind is bool else f"a {'whole ' if kind is int else ''}number >= {minimum}"
            raise ValueError(f"Parameter spark_models.{name}.{key} must be {expected}, got {value!r}; see {where}.")
        result[key] = kind(value)
    return result


def fit_als(ratings, settings: Mapping):
    """Fit ALS on a ``userId, movieId, rating`` DataFrame; implicit variants see 1.0 for every rated movie."""
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F

    implicit = bool(settings["implicit"])
    data = ratings.select(USER, ITEM, (F.lit(1.0) if implicit else F.col(RATING).cast("float")).alias(RATING))
    als = ALS(
        userCol=USER,
        itemCol=ITEM,
        ratingCol=RATING,
        rank=settings["rank"],
        maxIter=settings["max_iter"],
        regParam=settings["reg"],
        alpha=settings["alpha"],
        implicitPrefs=implicit,
        seed=settings["seed"],
        numUserBlocks=settings["num_blocks"],
        numItemBlocks=settings["num_blocks"],
        coldStartStrategy="nan",
    )
    return als.fit(data)


def _factors(frame) -> tuple[np.ndarray, np.ndarray]:
    ids = frame["id"].to_numpy(dtype=np.int64)
    vectors = np.vstack(frame["features"].to_numpy()) if len(frame) else np.zeros((0, 0))
    order = np.argsort(ids)
    return ids[order], np.asarray(vectors, dtype=np.float64)[order]


def top_n_unrated(model, ratings, n: int, users=None):
    """Every user's ``n`` highest-scoring movies that the user has not rated in ``ratings``, best first.

    ``recommendForAllUsers`` ranks every movie, the already rated ones included; this scores the same
    dot products (user factors x movie factors) but leaves each user's rated movies out, as the pandas
    models do. The movie factors are broadcast once; each partition of users scores blocks of at most
    ``MAX_CELLS`` user x movie cells. Equal scores go to the smaller movie id. ``users`` (a DataFrame
    with ``userId``) restricts the users. Returns ``userId, rank, movieId, score``.
    """
    from pyspark.sql import functions as F

    item_ids, item_vectors = _factors(model.itemFactors.toPandas())
    shared = ratings.sparkSession.sparkContext.broadcast((item_ids, item_vectors))
    rated = ratings.groupBy(USER).agg(F.collect_list(ITEM).alias("rated"))
    user_factors = model.userFactors.select(F.col("id").alias(USER), "features")
    if users is not None:
        user_factors = user_factors.join(users.select(USER).distinct(), USER, "left_semi")
    table = user_factors.join(rated, USER, "left")
    keep = int(n)

    def score(batches):
        ids, vectors = shared.value
        index = pd.Index(ids)
        block = max(1, MAX_CELLS // max(1, len(ids)))
        for batch in batches:
            for start in range(0, len(batch), block):
                part = batch.iloc[start : start + block]
                yield _top_block(part, ids, vectors, index, keep)

    return table.mapInPandas(score, TOP_N_SCHEMA)


def _top_block(part: pd.DataFrame, ids: np.ndarray, vectors: np.ndarray, index: pd.Index, n: int) -> pd.DataFrame:
    users = part[USER].to_numpy(dtype=np.int64)
    scores = np.vstack(part["features"].to_numpy()).astype(np.float64) @ vectors.T
    for row, rated in enumerate(part["rated"].to_numpy()):
        if rated is not None and len(rated):
            positions = index.get_indexer(np.asarray(rated, dtype=np.int64))
            scores[row, positions[positions >= 0]] = -np.inf
    k = min(n, scores.shape[1])
    if k == 0:
        return pd.DataFrame({USER: [], "rank": [], ITEM: [], "score": []}).astype(
            {USER: "int32", "rank": "int32", ITEM: "int32", "score": "float64"}
        )
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < scores.shape[1] else np.tile(np.arange(k), (len(users), 1))
    top_scores = np.take_along_axis(scores, top, axis=1)
    # best first; equal scores: the smaller movie id (ids are sorted, so the smaller column)
    order = np.lexsort((top, -top_scores), axis=1)
    top, top_scores = np.take_along_axis(top, order, axis=1), np.take_along_axis(top_scores, order, axis=1)
    valid = np.isfinite(top_scores)
    rank = np.broadcast_to(np.arange(1, k + 1), top.shape)
    return pd.DataFrame(
        {
            USER: np.repeat(users, k)[valid.ravel()].astype(np.int32),
            "rank": rank[valid].astype(np.int32),
            ITEM: ids[top[valid]].astype(np.int32),
            "score": top_scores[valid],
        }
    )


def recommend_for_all_users(model, n: int):
    """``model.recommendForAllUsers(n)`` as a flat ``userId, rank, movieId, score`` table (rated movies included)."""
    from pyspark.sql import functions as F

    exploded = model.recommendForAllUsers(int(n)).select(USER, F.posexplode("recommendations").alias("pos", "rec"))
    return exploded.select(
        F.col(USER).cast("int"),
        (F.col("pos") + 1).cast("int").alias("rank"),
        F.col(f"rec.{ITEM}").cast("int").alias(ITEM),
        F.col("rec.rating").cast("double").alias("score"),
    )
