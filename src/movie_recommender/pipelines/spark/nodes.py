"""Nodes of the spark pipelines: thin wrappers over :mod:`movie_recommender.recsys_spark`."""

from __future__ import annotations

import logging

import pandas as pd

from movie_recommender.errors import UserError
from movie_recommender.pipelines.data_processing.nodes import filter_summary
from movie_recommender.pipelines.evaluation.nodes import require_times, split_settings
from movie_recommender.pipelines.validation import check_evaluation, require_int
from movie_recommender.recsys.movielens import RATING_COLUMNS
from movie_recommender.recsys.splits import PREDEFINED_FOLDS, predefined_fold
from movie_recommender.recsys_spark import als, processing, splits
from movie_recommender.recsys_spark.evaluate import evaluate_als

from .checks import check_spark_evaluation, check_spark_model, check_spark_recommend

logger = logging.getLogger(__name__)


def spark_transform(ratings, min_user_ratings: int, min_movie_ratings: int):
    """Keep users with >= min_user_ratings and movies with >= min_movie_ratings ratings, until both hold (Spark)."""
    min_user = require_int("min_user_ratings", min_user_ratings)
    min_movie = require_int("min_movie_ratings", min_movie_ratings)
    ratings = processing.typed_ratings(ratings)
    clean, passes = processing.filter_min_ratings(ratings, min_user, min_movie)
    before, after = processing.counts(ratings), processing.counts(clean)
    if after["ratings"] == 0:
        raise UserError(
            f"Filtering with min_user_ratings={min_user} and min_movie_ratings={min_movie} removes every "
            f"one of the {before['ratings']:,} ratings. Lower them in conf/base/parameters.yml or on "
            "the command line, e.g. kedro run --env spark --params min_user_ratings=2,min_movie_ratings=2."
        )
    summary = filter_summary(min_user, min_movie, before, after, passes)
    logger.info("Kept %d of %d ratings (%d users, %d movies).", after["ratings"], before["ratings"],
                after["users"], after["movies"])
    return clean, summary


def spark_train(ratings_clean, spark_model: str, spark_models: dict):
    """Fit the ALS variant named by spark_model, with its settings from spark_models."""
    name, settings = check_spark_model(spark_model, spark_models)
    model = als.fit_als(ratings_clean, settings)
    logger.info("Trained Spark ALS %r (rank %d, %s).", name, settings["rank"],
                "implicit" if settings["implicit"] else "explicit")
    return model


def spark_recommend_all(model, ratings_clean, top_n: int, spark_recommend: dict):
    """Top-N for every user: unrated movies only (default), or recommendForAllUsers as it is."""
    top_n = require_int("top_n", top_n)
    if check_spark_recommend(spark_recommend)["exclude_rated"]:
        return als.top_n_unrated(model, ratings_clean, top_n)
    return als.recommend_for_all_users(model, top_n)


def spark_publish_recommendations(all_recommendations) -> pd.DataFrame:
    """The top-N of every user as a table for SQL readers (``userId, rank, movieId, score``)."""
    table = all_recommendations.select("userId", "rank", "movieId", "score").orderBy("userId", "rank").toPandas()
    return table.astype({"userId": "int64", "rank": "int64", "movieId": "int64", "score": "float64"})


def spark_split(ratings_clean, movielens_archive, evaluation: dict, dataset: str = "ml-100k",
                custom_datasets: dict | None = None):
    """The evaluation split of the pandas path, on Spark: the same rows for random, temporal and time_cut."""
    release, settings = split_settings(evaluation, dataset, custom_datasets)
    split = settings["split"]
    if split in PREDEFINED_FOLDS:
        train, test = predefined_fold(movielens_archive, split)
        spark = ratings_clean.sparkSession
        return splits.to_spark(spark, train), splits.to_spark(spark, test)
    ratings = ratings_clean.select(*(c for c in RATING_COLUMNS if c in ratings_clean.columns))
    require_times(split, ratings.columns, release)
    if split == "random":
        return splits.random_holdout(ratings, settings["test_fraction"], seed=settings["seed"])
    if split == "temporal":
        return splits.temporal_holdout(ratings, settings["test_fraction"])
    return splits.time_cut_holdout(ratings, settings["test_fraction"])


def spark_evaluate(evaluation_train, evaluation_test, movies, evaluation: dict, spark_evaluation: dict,
                   spark_models: dict) -> pd.DataFrame:
    """Fit each ALS variant in spark_evaluation.models on the training part and score it: one row each."""
    settings = check_evaluation(evaluation)
    names = check_spark_evaluation(spark_evaluation, spark_models)["models"]
    ids = evaluation_train.select("movieId").union(evaluation_test.select("movieId"))
    if movies is not None:
        ids = ids.union(movies.select("movieId"))
    n_items = ids.distinct().count()
    evaluation_train, evaluation_test = evaluation_train.cache(), evaluation_test.cache()
    rows = {}
    for i, name in enumerate(names, start=1):
        logger.info("[%d/%d] %s", i, len(names), name)
        rows[name] = evaluate_als(name, check_spark_model(name, spark_models)[1], evaluation_train, evaluation_test,
                                  settings["k"], settings["relevance_threshold"], n_items)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    return table.reset_index()
