"""The Spark library against the pandas path: same filtered rows, same splits, same metrics, and ALS checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from movie_recommender.recsys import Bias, evaluate_model, filter_min_ratings, parse_ratings
from movie_recommender.recsys.metrics import novelty as pandas_novelty
from movie_recommender.recsys.metrics import ranking_metrics
from movie_recommender.recsys.splits import random_holdout, temporal_holdout, time_cut_holdout
from movie_recommender.recsys_spark import als, processing, splits
from movie_recommender.recsys_spark.evaluate import evaluate_als
from movie_recommender.recsys_spark.evaluate import novelty as spark_novelty
from movie_recommender.recsys_spark.evaluate import rating_errors
from tests.conftest import make_members

KEYS = ["userId", "movieId"]


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    return parse_ratings(make_members(n_users=40, n_movies=30, density=0.45, seed=3)["u.data"])


def spark_frame(spark, frame: pd.DataFrame, partitions: int = 3):
    return splits.to_spark(spark, frame).repartition(partitions)  # several partitions, shuffled order


def same_rows(spark_df, frame: pd.DataFrame) -> None:
    got = spark_df.toPandas()[list(frame.columns)].sort_values(KEYS).reset_index(drop=True)
    want = frame.sort_values(KEYS).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_filter_keeps_the_pandas_rows_and_passes(spark, ratings):
    want, want_passes = filter_min_ratings(ratings, 12, 14)
    assert len(want_passes) >= 2  # the thresholds need more than one pass on this table
    got, passes = processing.filter_min_ratings(spark_frame(spark, ratings), 12, 14)
    same_rows(got, want)
    assert passes == want_passes


def test_ratings_csv_is_typed_with_or_without_times(spark, ratings, tmp_path):
    """ratings.csv as the converter writes it (every release), and a custom dataset's without timestamps."""
    for columns in (["userId", "movieId", "rating", "timestamp"], ["userId", "movieId", "rating"]):
        path = tmp_path / f"ratings{len(columns)}.csv"
        ratings[columns].to_csv(path, index=False)
        typed = processing.typed_ratings(spark.read.csv(str(path), header=True))
        assert typed.dtypes == [(c, processing.RATING_TYPES[c]) for c in columns]
        same_rows(typed, ratings[columns])
    with pytest.raises(ValueError, match=r"ratings lack the column\(s\) \['rating'\]"):
        processing.typed_ratings(spark.read.csv(str(path), header=True).drop("rating"))


@pytest.mark.parametrize("seed", [42, 7])
def test_random_holdout_is_the_pandas_split(spark, ratings, seed):
    want_train, want_test = random_holdout(ratings, 0.3, seed=seed)
    train, test = splits.random_holdout(spark_frame(spark, ratings), 0.3, seed=seed)
    same_rows(train, want_train)
    same_rows(test, want_test)


def test_temporal_holdout_is_the_pandas_split(spark, ratings):
    want_train, want_test = temporal_holdout(ratings, 0.25)
    train, test = splits.temporal_holdout(spark_frame(spark, ratings), 0.25)
    same_rows(train, want_train)
    same_rows(test, want_test)


@pytest.mark.parametrize("fraction, min_train", [(0.25, 1), (0.4, 5)])
def test_time_cut_holdout_is_the_pandas_split(spark, ratings, fraction, min_train):
    # repeated timestamps at the cut: the k-th smallest value must count repeats
    ratings = ratings.assign(timestamp=ratings.timestamp // 200_000)
    want_train, want_test = time_cut_holdout(ratings, fraction, min_train)
    train, test = splits.time_cut_holdout(spark_frame(spark, ratings, partitions=4), fraction, min_train)
    same_rows(train, want_train)
    same_rows(test, want_test)
    assert len(want_test) > 0 and want_train.timestamp.max() < want_test.timestamp.min()


SETTINGS = als.check_als_settings("t", {"implicit": True, "rank": 6, "max_iter": 5, "reg": 0.05, "alpha": 3.0,
                                         "seed": 1, "num_blocks": 2})


@pytest.fixture(scope="module")
def fitted(spark, ratings):
    train, test = random_holdout(ratings, 0.25, seed=1)
    spark_train = splits.to_spark(spark, train).cache()
    return als.fit_als(spark_train, SETTINGS), spark_train, train, test


def test_top_n_unrated_is_recommend_for_all_users_without_rated_movies(fitted):
    model, spark_train, train, _ = fitted
    n = 5
    got = als.top_n_unrated(model, spark_train, n).toPandas()
    rated = train.groupby("userId")["movieId"].apply(set)
    assert not any(movie in rated[user] for user, movie in zip(got.userId, got.movieId))
    assert (got.groupby("userId").size() == n).all() and got.userId.nunique() == train.userId.nunique()
    # Spark's own recommendForAllUsers, long enough to hold n unrated movies, then the rated ones dropped
    every = als.recommend_for_all_users(model, n + rated.map(len).max()).toPandas()
    every = every[[movie not in rated[user] for user, movie in zip(every.userId, every.movieId)]]
    every = every.sort_values(["userId", "rank"]).groupby("userId").head(n)
    merged = got.merge(every, on=["userId", "movieId"], suffixes=("", "_spark"))
    assert len(merged) == len(got)  # the same movies for every user
    np.testing.assert_allclose(merged.score, merged.score_spark, rtol=1e-4, atol=1e-5)


def test_ranking_metrics_match_spark_ranking_evaluator(spark, fitted):
    from pyspark.ml.evaluation import RankingEvaluator

    model, spark_train, _, test = fitted
    k = 5
    recs = als.top_n_unrated(model, spark_train, k).toPandas()
    ours = ranking_metrics(recs, test, k)
    lists = recs.sort_values(["userId", "rank"]).groupby("userId")["movieId"].apply(lambda s: [float(x) for x in s])
    labels = test.groupby("userId")["movieId"].apply(lambda s: [float(x) for x in s])
    rows = [(lists.get(user, []), labels[user]) for user in labels.index]
    frame = spark.createDataFrame(rows, "prediction array<double>, label array<double>")
    for metric, name in (("ndcgAtK", "ndcg"), ("precisionAtK", "precision"), ("recallAtK", "recall"),
                         ("meanAveragePrecisionAtK", "map")):
        theirs = RankingEvaluator(metricName=metric, k=k).evaluate(frame)
        assert theirs == pytest.approx(ours[f"{name}@{k}"], abs=1e-9), metric


def test_novelty_and_rating_errors_follow_the_project_definitions(spark, fitted):
    model, spark_train, train, test = fitted
    recs = als.top_n_unrated(model, spark_train, 5).toPandas()
    assert spark_novelty(recs, spark_train) == pytest.approx(pandas_novelty(recs, train))
    explicit = als.fit_als(spark_train, {**SETTINGS, "implicit": False})
    rmse, mae = rating_errors(explicit, spark_train, splits.to_spark(spark, test))
    predicted = explicit.transform(splits.to_spark(spark, test)).toPandas()
    estimate = predicted.prediction.fillna(train.rating.mean()).clip(train.rating.min(), train.rating.max())
    assert rmse == pytest.approx(float(np.sqrt(np.mean((estimate - predicted.rating) ** 2))))
    assert mae == pytest.approx(float(np.mean(np.abs(estimate - predicted.rating))))


def test_evaluate_als_row_has_the_pandas_row_columns(spark, fitted):
    _, spark_train, train, test = fitted
    n_items = int(pd.concat([train.movieId, test.movieId]).nunique())
    explicit = {**SETTINGS, "implicit": False}
    row = evaluate_als("als", explicit, spark_train, splits.to_spark(spark, test), 5, None, n_items)
    assert list(row) == list(evaluate_model(Bias(), train, test, k=5))  # one metrics table for both engines
    assert (row["n_train"], row["n_test"]) == (len(train), len(test)) and row["rmse"] > 0
    assert row["n_users_evaluated"] == test.userId.nunique() and row["n_test_users_unknown"] == 0
    assert 0 < row["coverage@5"] <= 1 and row["novelty@5"] > 0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"rank": 0}, r"spark_models\.m\.rank must be a whole number >= 1, got 0"),
        ({"implicit": "yes"}, r"spark_models\.m\.implicit must be true or false"),
        ({"ranks": 3}, r"Unknown spark_models\.m setting\(s\) \['ranks'\]"),
        ({"reg": -1.0}, r"spark_models\.m\.reg must be a number >= 0"),
    ],
)
def test_bad_als_settings_say_which_and_where(settings, message):
    with pytest.raises(ValueError, match=message):
        als.check_als_settings("m", settings)
