"""evaluate_model / evaluate_models with UserKNN on synthetic data."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from movie_recommender.recsys import (
    Recommender,
    UserKNN,
    evaluate_model,
    evaluate_models,
    random_holdout,
    ranking_metrics,
    rmse,
)
from movie_recommender.recsys.evaluate import result_row
from movie_recommender.recsys.metrics import catalog_coverage


@pytest.fixture
def split():
    rng = np.random.default_rng(2)
    users, items = np.nonzero(rng.random((30, 40)) < 0.5)
    stars = rng.integers(1, 6, len(users))
    ratings = pd.DataFrame({"userId": users * 3 + 7, "movieId": items * 5 + 2, "rating": stars})
    return random_holdout(ratings, 0.25)


def test_evaluate_model_userknn(split):
    train, test = split
    result = evaluate_model(UserKNN(neighbours=5), train, test, k=5)
    expected_keys = {
        "rmse",
        "mae",
        "precision@5",
        "recall@5",
        "ndcg@5",
        "map@5",
        "hit_rate@5",
        "coverage@5",
        "novelty@5",
        "fit_seconds",
        "predict_seconds",
        "recommend_seconds",
        "n_train",
        "n_test",
        "n_users_evaluated",
        "n_test_users_unknown",
    }
    assert set(result) == expected_keys
    # the same figures computed by hand from a model fitted the same way
    model = UserKNN(neighbours=5).fit(train)
    assert result["rmse"] == pytest.approx(rmse(test.rating, model.predict(test.userId, test.movieId)))
    recs = model.recommend_all(5, users=np.unique(test.userId))
    assert result["ndcg@5"] == pytest.approx(ranking_metrics(recs, test, 5)["ndcg@5"])
    assert 0 < result["coverage@5"] <= 1 and result["novelty@5"] > 0
    assert result["n_train"] == len(train) and result["n_test"] == len(test)
    assert result["n_users_evaluated"] == test.userId.nunique() and result["n_test_users_unknown"] == 0
    for key in ("fit_seconds", "predict_seconds", "recommend_seconds"):
        assert result[key] >= 0
    with_threshold = evaluate_model(UserKNN(neighbours=5), train, test, k=5, relevance_threshold=4)
    assert with_threshold["n_users_evaluated"] == test[test.rating >= 4].userId.nunique()


class RankOnly(UserKNN):
    predicts_ratings = False


def test_ranking_only_model_has_no_rating_error(split):
    result = evaluate_model(RankOnly(neighbours=5), *split, k=5)
    assert np.isnan(result["rmse"]) and np.isnan(result["mae"]) and np.isnan(result["predict_seconds"])
    assert result["ndcg@5"] > 0


def test_unknown_test_users_count_as_zero(split):
    train, test = split
    extra = pd.DataFrame({"userId": [10_000], "movieId": [2], "rating": [5]})
    result = evaluate_model(UserKNN(neighbours=5), train, pd.concat([test, extra]), k=5)
    assert result["n_test_users_unknown"] == 1
    assert result["n_users_evaluated"] == test.userId.nunique() + 1


def test_evaluate_models_logs_progress(split, caplog):
    train, test = split
    models: dict[str, Recommender] = {"knn5": UserKNN(neighbours=5), "knn20": UserKNN(neighbours=20)}
    with caplog.at_level(logging.INFO, logger="movie_recommender.recsys.evaluate"):
        table = evaluate_models(models, train, test, k=5)
    assert table.index.tolist() == ["knn5", "knn20"] and table.index.name == "model"
    assert "ndcg@5" in table.columns and table["rmse"].notna().all()
    assert "[1/2] fitting knn5" in caplog.text and "[2/2] knn20 done in" in caplog.text
    with pytest.raises(ValueError, match="models is empty"):
        evaluate_models({}, train, test)


def test_evaluate_bad_input(split):
    train, test = split
    with pytest.raises(ValueError, match="k must be a whole number >= 1"):
        evaluate_model(UserKNN(), train, test, k=0)
    with pytest.raises(ValueError, match="test is empty"):
        evaluate_model(UserKNN(), train, test.head(0))
    with pytest.raises(ValueError, match=r"train lacks the column\(s\) \['rating'\]"):
        evaluate_model(UserKNN(), train.drop(columns="rating"), test)


def test_result_row_is_the_evaluate_model_row(split):
    train, test = split
    result = evaluate_model(UserKNN(neighbours=5), train, test, k=5)
    model = UserKNN(neighbours=5).fit(train)
    recs = model.recommend_all(5, users=np.unique(test.userId))
    ranking = ranking_metrics(recs, test, 5)
    row = result_row(
        5, ranking, recs, 200, 7.5, errors=(0.9, 0.7), seconds=(1.0, 2.0, 3.0), sizes=(len(train), len(test), 4)
    )
    assert list(row) == list(result)  # the same columns in the same order: the metrics table's
    assert row["coverage@5"] == catalog_coverage(recs, 200) and row["novelty@5"] == 7.5
    assert (row["rmse"], row["mae"]) == (0.9, 0.7)
    assert (row["fit_seconds"], row["predict_seconds"], row["recommend_seconds"]) == (1.0, 2.0, 3.0)
    assert (row["n_train"], row["n_test"], row["n_test_users_unknown"]) == (len(train), len(test), 4)
    assert row["n_users_evaluated"] == ranking["n_users"] and "n_users" not in row
    assert all(row[key] == ranking[key] for key in ranking if key != "n_users")
