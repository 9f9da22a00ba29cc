"""Fit, time and score ALS variants on a Spark train/test split, with the project's metric definitions.

Ranking metrics and coverage are computed by :mod:`movie_recommender.recsys.metrics` itself on the
collected top-k lists (one short list per test user); RMSE/MAE and novelty are aggregated in Spark with
the definitions of that module. Only the top-k lists and the relevant held-out (user, movie) pairs
reach the driver, never the training ratings.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping

import numpy as np
import pandas as pd

from movie_recommender.recsys.evaluate import result_row
from movie_recommender.recsys.metrics import ranking_metrics

from .als import fit_als, top_n_unrated

logger = logging.getLogger(__name__)
USER, ITEM, RATING = "userId", "movieId", "rating"


def rating_errors(model, train, test) -> tuple[float, float]:
    """RMSE and MAE of an explicit model on every test rating.

    As the pandas models do, an estimate is clipped to the training ratings' range and a user or movie
    the model never saw gets the fallback, here the training mean (ALS has no offsets).
    """
    from pyspark.sql import functions as F

    stats = train.agg(F.mean(RATING).alias("mean"), F.min(RATING).alias("low"), F.max(RATING).alias("high")).first()
    predicted = model.transform(test.select(USER, ITEM, RATING))
    estimate = F.when(F.isnan("prediction") | F.col("prediction").isNull(), F.lit(stats["mean"])).otherwise(
        F.col("prediction")
    )
    estimate = F.least(F.greatest(estimate, F.lit(stats["low"])), F.lit(stats["high"]))
    error = estimate - F.col(RATING)
    row = predicted.agg(F.sqrt(F.mean(error * error)).alias("rmse"), F.mean(F.abs(error)).alias("mae")).first()
    return float(row["rmse"]), float(row["mae"])


def novelty(recommendations: pd.DataFrame, train) -> float:
    """:func:`movie_recommender.recsys.metrics.novelty` with the rater counts aggregated in Spark."""
    from pyspark.sql import functions as F

    if recommendations.empty:
        return float("nan")
    n_users = train.select(USER).distinct().count()
    items = train.sparkSession.createDataFrame(pd.DataFrame({ITEM: np.unique(recommendations[ITEM])}), f"{ITEM} int")
    raters = (
        train.select(USER, ITEM).distinct().join(F.broadcast(items), ITEM).groupBy(ITEM).count().toPandas()
    ).set_index(ITEM)["count"]
    counts = raters.reindex(recommendations[ITEM].to_numpy()).fillna(1).to_numpy(dtype=np.float64)
    return float(np.mean(-np.log2(counts / n_users)))


def evaluate_als(
    name: str,
    settings: Mapping,
    train,
    test,
    k: int,
    relevance_threshold: float | None,
    n_items: int,
) -> dict:
    """One row of the metrics table (the columns of :func:`movie_recommender.recsys.evaluate_model`)."""
    logger.info("fitting %s (Spark ALS, %s) ...", name, "implicit" if settings["implicit"] else "explicit")
    start = time.perf_counter()
    model = fit_als(train, settings)
    model.userFactors.count()  # the fit is lazy in part: count forces the factors
    fit_seconds = time.perf_counter() - start

    rmse_value = mae_value = predict_seconds = math.nan
    if not settings["implicit"]:
        start = time.perf_counter()
        rmse_value, mae_value = rating_errors(model, train, test)
        predict_seconds = time.perf_counter() - start

    start = time.perf_counter()
    test_users = test.select(USER).distinct()
    recommendations = top_n_unrated(model, train, k, users=test_users).toPandas()
    recommend_seconds = time.perf_counter() - start
    relevant = test if relevance_threshold is None else test.where(test[RATING] >= relevance_threshold)
    held_out = relevant.select(USER, ITEM, RATING).toPandas()  # what ranking_metrics counts as relevant
    ranking = ranking_metrics(recommendations, held_out, k, relevance_threshold)
    n_test_users = test_users.count()
    sizes = (train.count(), test.count(), n_test_users - recommendations[USER].nunique())
    result = result_row(k, ranking, recommendations, n_items, novelty(recommendations, train),
                        errors=(rmse_value, mae_value), seconds=(fit_seconds, predict_seconds, recommend_seconds),
                        sizes=sizes)
    logger.info(
        "%s: fit %.2f s, recommend %.2f s; RMSE %.4f, nDCG@%d %.4f",
        name, fit_seconds, recommend_seconds, rmse_value, k, result[f"ndcg@{k}"],
    )
    return result
