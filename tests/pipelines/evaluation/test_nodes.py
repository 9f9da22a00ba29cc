"""Nodes of evaluation, one at a time, on synthetic data."""

from __future__ import annotations

import json

import numpy as np
import pytest
from matplotlib.figure import Figure

from movie_recommender.pipelines.data_processing.nodes import convert
from movie_recommender.pipelines.evaluation.nodes import evaluate_models, plot_metrics, report_metrics, split_ratings

SETTINGS = {"split": "random", "test_fraction": 0.25, "seed": 42, "k": 5, "models": ["popularity", "user_knn"]}


@pytest.fixture
def clean_and_movies(members):
    ratings, movies = convert(members)
    return ratings, movies


@pytest.fixture
def split(clean_and_movies, members):
    return split_ratings(clean_and_movies[0], members, SETTINGS)


def test_split_random_holds_out_a_quarter_of_each_user(split, clean_and_movies):
    train, test = split
    assert list(train.columns) == ["userId", "movieId", "rating", "timestamp"]
    assert len(train) + len(test) == len(clean_and_movies[0])
    assert set(test.userId) <= set(train.userId)
    assert not set(zip(train.userId, train.movieId)) & set(zip(test.userId, test.movieId))
    assert len(test) / len(clean_and_movies[0]) == pytest.approx(0.25, abs=0.05)


def test_split_temporal_holds_out_the_latest(clean_and_movies, members):
    train, test = split_ratings(clean_and_movies[0], members, {**SETTINGS, "split": "temporal"})
    latest_train = train.groupby("userId").timestamp.max()
    earliest_test = test.groupby("userId").timestamp.min()
    assert (latest_train[earliest_test.index] <= earliest_test).all()


def test_split_predefined_fold_reads_the_archive(clean_and_movies, members):
    fold = {
        "u1.base": b"1\t1\t5\t881250949\n1\t2\t3\t881250950\n2\t1\t4\t881250951\n",
        "u1.test": b"1\t3\t4\t881250952\n",
    }
    train, test = split_ratings(clean_and_movies[0], {**members, **fold}, {**SETTINGS, "split": "u1"})
    assert (len(train), len(test)) == (3, 1)
    assert test.iloc[0].tolist()[:3] == [1, 3, 4]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"split": "u9"}, r"Parameter evaluation.split must be one of \['random', 'temporal', 'time_cut', 'u1'"),
        ({"test_fraction": 1.5}, r"Parameter evaluation.test_fraction must be a number between 0 and 1"),
        ({"k": 0}, r"Parameter evaluation.k must be a whole number >= 1, got 0"),
        (
            {"relevance_threshold": 9},
            r"Parameter evaluation.relevance_threshold must be null .* or a rating from 1 to 5",
        ),
        ({"models": []}, r"Parameter evaluation.models must be a non-empty list of distinct model names"),
        ({"folds": 5}, r"Unknown evaluation parameter\(s\) \['folds'\]"),
    ],
)
def test_bad_evaluation_settings(clean_and_movies, members, settings, message):
    with pytest.raises(ValueError, match=message):
        split_ratings(clean_and_movies[0], members, {**SETTINGS, **settings})


def test_unknown_model_in_the_list(split, clean_and_movies):
    with pytest.raises(
        ValueError, match=r"evaluation.models must be a list of names from \[.*\] \(unknown: \['svd\+\+'\]\)"
    ):
        evaluate_models(*split, clean_and_movies[1], {**SETTINGS, "models": ["svd++"]}, {})


def test_named_model_settings_are_evaluated_under_their_name(split, clean_and_movies):
    models = {"knn_top_n": {"model": "user_knn", "ranking": "support", "neighbours": 5}}
    table = evaluate_models(*split, clean_and_movies[1], {**SETTINGS, "models": ["user_knn", "knn_top_n"]}, models)
    assert table.model.tolist() == ["user_knn", "knn_top_n"]
    assert table.set_index("model").loc["knn_top_n", "ndcg@5"] != table.set_index("model").loc["user_knn", "ndcg@5"]


def test_predefined_fold_missing_from_archive(clean_and_movies, members):
    with pytest.raises(ValueError, match="u2"):
        split_ratings(clean_and_movies[0], members, {**SETTINGS, "split": "u2"})


@pytest.fixture
def table(split, clean_and_movies):
    return evaluate_models(*split, clean_and_movies[1], SETTINGS, {"user_knn": {"neighbours": 10}})


def test_evaluate_models_one_row_per_model(table):
    assert table.model.tolist() == ["popularity", "user_knn"]
    for column in (
        "ndcg@5",
        "precision@5",
        "recall@5",
        "map@5",
        "hit_rate@5",
        "coverage@5",
        "novelty@5",
        "fit_seconds",
    ):
        assert table[column].notna().all(), column
        assert (table[column] >= 0).all(), column
    rmse = table.set_index("model").rmse
    assert np.isnan(rmse["popularity"]) and 0 < rmse["user_knn"] < 4  # popularity predicts no ratings


def test_report_is_json_ready(table):
    report = report_metrics(table, SETTINGS)
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text)["models"]["popularity"]["rmse"] is None
    assert report["settings"]["k"] == 5 and report["settings"]["relevance_threshold"] is None


def test_plot_has_a_panel_per_kind_of_metric(table):
    figure = plot_metrics(table, SETTINGS)
    assert isinstance(figure, Figure)
    titles = [ax.get_title() for ax in figure.axes]
    assert titles[:3] == ["Top-5 ranking (higher is better)", "Rating error (lower is better)", "Seconds (log scale)"]
