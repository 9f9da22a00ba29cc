"""Nodes of modeling, one at a time."""

from __future__ import annotations

import pandas as pd
import pytest

from movie_recommender.pipelines.data_processing.nodes import convert
from movie_recommender.pipelines.modeling.nodes import recommend, recommend_all, train_model


@pytest.fixture
def clean_and_movies(members):
    ratings, movies = convert(members)
    return ratings, movies


@pytest.fixture
def model(clean_and_movies):
    return train_model(*clean_and_movies, "user_knn", {"user_knn": {"neighbours": 5}})


def test_train_model(model, clean_and_movies):
    assert model.neighbours == 5
    assert model.ratings_.nnz == len(clean_and_movies[0])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"neighbors": 5}, r"Unknown models.user_knn parameter\(s\) \['neighbors'\]"),
        ({"neighbours": -1}, r"Parameter models.user_knn.neighbours must be a whole number >= 1, got -1"),
        ({"similarity": "jaccard"}, r"Parameter models.user_knn.similarity must be one of"),
        (5, r"Parameter models.user_knn must be a mapping of model settings, got 5"),
    ],
)
def test_train_model_bad_parameters(clean_and_movies, params, message):
    with pytest.raises(ValueError, match=message):
        train_model(*clean_and_movies, "user_knn", {"user_knn": params})


def test_train_model_unknown_model(clean_and_movies):
    with pytest.raises(ValueError, match=r"Parameter model must be one of \[.*'user_knn'.*\], got 'knn'"):
        train_model(*clean_and_movies, "knn", {})


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda df: df.drop(columns="rating"), r"ratings_clean lacks the column\(s\) \['rating'\]"),
        (lambda df: df.assign(userId=df.userId.astype(str)), r"ratings_clean.userId must hold whole numbers"),
        (
            lambda df: df.assign(rating=df.rating.where(df.index > 0, float("nan"))),
            r"ratings_clean.rating must hold numbers only",
        ),
        (lambda df: df.assign(rating="x"), r"ratings_clean.rating must hold numbers only"),
    ],
)
def test_train_model_bad_ratings(clean_and_movies, edit, message):
    with pytest.raises(ValueError, match=message + ".*kedro run --pipelines data_processing"):
        train_model(edit(clean_and_movies[0]), clean_and_movies[1], "user_knn", {})


def test_recommend_one_user(model, clean_and_movies):
    clean, movies = clean_and_movies
    top = recommend(model, movies, user_id=4, top_n=3)
    assert list(top.columns) == ["rank", "movieId", "title", "year", "genres", "score"]
    assert list(top["rank"]) == [1, 2, 3]
    assert not set(top.movieId) & set(clean.movieId[clean.userId == 4])
    assert (top.title == top.movieId.map(movies.set_index("movieId").title)).all()


@pytest.mark.parametrize(
    ("user_id", "top_n", "message"),
    [
        (999, 3, r"user_id 999 has no ratings in the training data \(30 users with ids 1-30"),
        ("abc", 3, r"Parameter user_id must be a whole number >= 1, got 'abc'"),
        (4, 0, r"Parameter top_n must be a whole number >= 1, got 0"),
        (4, -2, r"Parameter top_n must be a whole number >= 1, got -2"),
        (4, 2.5, r"Parameter top_n must be a whole number >= 1, got 2.5"),
        (4, "ten", r"Parameter top_n must be a whole number >= 1, got 'ten'"),
    ],
)
def test_recommend_bad_parameters(model, clean_and_movies, user_id, top_n, message):
    with pytest.raises(ValueError, match=message):
        recommend(model, clean_and_movies[1], user_id, top_n)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda df: df.drop(columns="genres"), r"movies lacks the column\(s\) \['genres'\]"),
        (lambda df: pd.concat([df, df.head(1)]), r"movies lists some movieId more than once"),
    ],
)
def test_recommend_bad_movies(model, clean_and_movies, edit, message):
    with pytest.raises(ValueError, match=message):
        recommend(model, edit(clean_and_movies[1]), 4, 3)


def test_recommend_all(model, clean_and_movies):
    everyone = recommend_all(model, 2)
    assert list(everyone.columns) == ["userId", "rank", "movieId", "score"]
    assert everyone.groupby("userId").size().max() == 2
    single = recommend(model, clean_and_movies[1], 7, 2)
    pd.testing.assert_series_equal(
        everyone[everyone.userId == 7].movieId.reset_index(drop=True), single.movieId, check_names=False
    )
    with pytest.raises(ValueError, match="top_n must be a whole number"):
        recommend_all(model, 0)


def test_train_model_keeps_each_movies_similar_movies_for_explanations(model, clean_and_movies):
    n_movies = model.ratings_.shape[1]
    assert model.explanations_.neighbours == n_movies - 1  # null: every movie on small data (exact)
    two = train_model(*clean_and_movies, "user_knn", {"user_knn": {"neighbours": 5}}, explain_neighbours=2)
    assert two.explanations_.neighbours == 2
    assert max(two.explanations_.indptr[1:] - two.explanations_.indptr[:-1]) <= 2


@pytest.mark.parametrize("bad", [0, -3, "many", 2.5])
def test_train_model_bad_explain_neighbours(clean_and_movies, bad):
    with pytest.raises(ValueError, match=r"Parameter explain_neighbours must be a whole number >= 1"):
        train_model(*clean_and_movies, "user_knn", {}, explain_neighbours=bad)
