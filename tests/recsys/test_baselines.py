"""RandomRecommender and Popularity against their definitions on hand-made data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from movie_recommender.recsys import Popularity, RandomRecommender

from .topn_data import random_ratings

TINY = pd.DataFrame(
    {
        "userId": [1, 1, 2, 2, 3, 3, 4, 5],
        "movieId": [10, 20, 10, 30, 20, 30, 40, 50],
        "rating": [5, 3, 4, 2, 5, 4, 1, 5],
    }
)


def test_popularity_order_by_count_then_mean_then_id():
    # counts: 10->2 (mean 4.5), 20->2 (4), 30->2 (3), 40->1 (1), 50->1 (5)
    model = Popularity().fit(TINY)
    assert model.recommend(4, 10).movieId.tolist() == [10, 20, 30, 50]
    assert model.recommend(1, 10).movieId.tolist() == [30, 50, 40]
    assert model.recommend(4, 10).score.tolist() == [2, 2, 2, 1]
    pd.testing.assert_frame_equal(model.recommend(4, 4), model.popular(4, exclude=[40]))
    assert model.recommend_new({10: 1.0}, 2).movieId.tolist() == [20, 30]


def test_random_is_uniform_per_user_and_seed():
    ratings = random_ratings()
    a = RandomRecommender(seed=1).fit(ratings)
    b = RandomRecommender(seed=1).fit(ratings.sample(frac=1.0, random_state=0))
    c = RandomRecommender(seed=2).fit(ratings)
    pd.testing.assert_frame_equal(a.recommend_all(5), b.recommend_all(5))
    assert not a.recommend_all(5).equals(c.recommend_all(5))
    # a user's ranking does not depend on who else is ranked with them
    pd.testing.assert_frame_equal(
        a.recommend_all(5, users=[10]).reset_index(drop=True),
        a.recommend_all(5)[lambda d: d.userId == 10].reset_index(drop=True),
    )
    # the score is the user's own uniform stream, seeded by (seed, user id)
    expected = np.random.default_rng([1, 10]).random(len(a.item_ids_))
    assert np.allclose(a.predict(np.full(len(a.item_ids_), 10), a.item_ids_), expected)
    scores = a.predict(np.repeat(a.user_ids_, len(a.item_ids_)), np.tile(a.item_ids_, len(a.user_ids_)))
    assert ((scores >= 0) & (scores < 1)).all() and abs(scores.mean() - 0.5) < 0.05


def test_random_fold_in_depends_on_seed_and_history():
    model = RandomRecommender(seed=5).fit(random_ratings())
    first = model.recommend_new({2: 4.0, 7: 1.0}, 8)
    pd.testing.assert_frame_equal(first, model.recommend_new({7: 3.0, 2: 5.0}, 8))  # same movies, any order
    assert not first.equals(model.recommend_new({2: 4.0, 12: 1.0}, 8))
