"""ContentBased and Hybrid against their definitions computed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from movie_recommender.recsys import EASE, ContentBased, Hybrid, UserKNN
from movie_recommender.recsys.content import item_features
from movie_recommender.recsys.hybrid import rank_percentiles, z_scores

from .topn_data import random_movies, random_ratings

MOVIES = pd.DataFrame(
    {
        "movieId": [1, 2, 3, 4, 5],
        "title": list("abcde"),
        "year": pd.array([1990, 2000, None, 1990, 2010], dtype="Int64"),
        "genres": ["Action", "Comedy|Drama", "unknown", "Action|Drama", "Comedy"],
    }
)
RATINGS = pd.DataFrame(
    {
        "userId": [1, 1, 1, 2, 2, 3, 3],
        "movieId": [1, 2, 4, 2, 5, 3, 5],
        "rating": [5.0, 1.0, 3.0, 4.0, 4.0, 2.0, 5.0],
    }
)
# years 1990, 2000, 1990, 2010 (3 has none): mean 1997.5, population std sqrt(68.75)
Z = (np.array([1990, 2000, 1997.5, 1990, 2010]) - 1997.5) / np.sqrt(68.75)


def hand_features(year_weight: float) -> np.ndarray:
    #               Action Comedy Drama year
    genres = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0], [1, 0, 1], [0, 1, 0]], dtype=float)
    return np.column_stack([genres, year_weight * Z])


def cosine(a, b):
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return 0.0 if na == 0 or nb == 0 else float(a @ b / (na * nb))


def test_item_features_by_hand():
    features, names = item_features(MOVIES, np.array([1, 2, 3, 4, 5]), 0.5)
    assert names == ["Action", "Comedy", "Drama", "year"]
    assert np.allclose(features, hand_features(0.5))
    assert features[2, 3] == 0.0  # no year: the mean year
    absent, _ = item_features(MOVIES, np.array([1, 99]), 0.5)  # a rated movie missing from movies
    assert np.allclose(absent[1], 0.0)


@pytest.mark.parametrize("centering", ["none", "user", "global"])
def test_profiles_and_scores_by_hand(centering):
    model = ContentBased(year_weight=0.5, centering=centering).fit(RATINGS, MOVIES)
    f = hand_features(0.5)
    ratings = {1: 5.0, 2: 1.0, 4: 3.0}  # user 1
    c = {"none": 0.0, "user": 3.0, "global": RATINGS.rating.mean()}[centering]
    profile = sum((r - c) * f[i - 1] for i, r in ratings.items())
    assert np.allclose(model.profiles(model.ratings_[[0]])[0], profile)
    expected = [cosine(profile, f[j]) for j in range(5)]
    assert np.allclose(model.predict(np.full(5, 1), np.arange(1, 6)), expected)
    recs = model.recommend(1, 5)
    assert recs.movieId.tolist() == sorted([3, 5], key=lambda i: (-expected[i - 1], i))


def test_zero_profile_falls_back_to_popularity():
    model = ContentBased(centering="user").fit(RATINGS, MOVIES)
    # user 2 rated everything 4: centred profile is zero, every score 0, ties by count then id
    recs = model.recommend(2, 5)
    assert recs.score.eq(0).all()
    assert recs.movieId.tolist() == [1, 3, 4]  # all rated once: smaller id first
    assert model.recommend_new({5: 4.0, 2: 4.0}).movieId.tolist() == [1, 3, 4]


def test_content_needs_movies_with_columns():
    with pytest.raises(ValueError, match="movies table"):
        ContentBased().fit(RATINGS)
    with pytest.raises(ValueError, match="genres"):
        ContentBased().fit(RATINGS, MOVIES.drop(columns="genres"))
    with pytest.raises(ValueError, match="repeat"):
        ContentBased().fit(RATINGS, pd.concat([MOVIES, MOVIES.head(1)]))
    with pytest.raises(ValueError, match="movies table"):
        Hybrid().fit(RATINGS)
    Hybrid(content_weight=0.0).fit(RATINGS)  # no content part: no movies needed


def test_normalisations_by_hand():
    scores = np.array([[3.0, -np.inf, 1.0, 1.0, 7.0], [2.0, 2.0, 2.0, 5.0, -np.inf]])
    candidates = np.array([[True, True, True, True, False], [True, False, True, False, False]])
    pct = rank_percentiles(scores, candidates)
    # row 0 candidates 3, -inf, 1, 1: ranks 4, 1, 2.5, 2.5 of 4
    assert np.allclose(pct[0, :4], [1.0, 0.0, 0.5, 0.5]) and pct[0, 4] == -np.inf
    assert np.allclose(pct[1, [0, 2]], [0.5, 0.5]) and np.isneginf(pct[1, [1, 3, 4]]).all()
    z = z_scores(scores, candidates)
    finite = np.array([3.0, 1.0, 1.0])
    expected = (finite - finite.mean()) / finite.std()
    assert np.allclose(z[0, [0, 2, 3]], expected) and z[0, 1] == pytest.approx(expected.min())
    assert np.allclose(z[1, [0, 2]], 0.0)  # equal scores


@pytest.mark.parametrize("normalise", ["zscore", "rank"])
def test_hybrid_is_the_weighted_blend(normalise):
    ratings, movies = random_ratings(), random_movies()
    hybrid = Hybrid("ease", {"l2": 5.0}, 0.3, {"year_weight": 1.0}, normalise=normalise).fit(ratings, movies)
    ease = EASE(l2=5.0).fit(ratings)
    content = ContentBased(year_weight=1.0).fit(ratings, movies)
    rows = np.arange(len(hybrid.user_ids_))
    candidates = hybrid.ratings_.toarray() == 0
    norm = z_scores if normalise == "zscore" else rank_percentiles
    blend = 0.7 * norm(ease._rank_block(rows)[0], candidates) + 0.3 * norm(content._rank_block(rows)[0], candidates)
    got, _ = hybrid._rank_block(rows)
    assert np.allclose(got[candidates], blend[candidates])
    user = hybrid.user_ids_[4]
    items = hybrid.item_ids_[candidates[4]]
    assert np.allclose(hybrid.predict(np.full(len(items), user), items), blend[4, candidates[4]])


def test_hybrid_extreme_weights_reproduce_each_part():
    ratings, movies = random_ratings(), random_movies()
    knn_only = Hybrid("user_knn", {"neighbours": 5}, 0.0).fit(ratings)
    assert knn_only.content_ is None
    knn = UserKNN(neighbours=5).fit(ratings)
    for user in knn.user_ids_[:5]:
        # same order whenever the collaborative scores are distinct (ties broken differently)
        mine, theirs = knn_only.recommend(user, 5), knn.recommend(user, 5)
        if theirs.score.is_unique:
            assert mine.movieId.tolist() == theirs.movieId.tolist()
    content_only = Hybrid(content_weight=1.0, normalise="rank").fit(ratings, movies)
    assert content_only.collaborative_ is None
    content = ContentBased().fit(ratings, movies)
    a, b = content_only.recommend_all(5), content.recommend_all(5)
    assert a.movieId.tolist() == b.movieId.tolist()  # percentiles keep the order, ties included
