"""filter_min_ratings: thresholds repeated until both hold."""

import pandas as pd

from movie_recommender.recsys import filter_min_ratings


def test_filter_repeats_until_both_thresholds_hold():
    # Movie 3 has one rating (by user 3); dropping it leaves user 3 with one rating,
    # below the user threshold, which only a second pass catches.
    ratings = pd.DataFrame(
        {
            "userId": [1, 1, 2, 2, 3, 3, 4, 4],
            "movieId": [1, 2, 1, 2, 1, 3, 1, 2],
            "rating": [5, 4, 3, 2, 1, 5, 4, 4],
        }
    )
    kept, passes = filter_min_ratings(ratings, min_user_ratings=2, min_item_ratings=2)
    assert sorted(kept.userId.unique()) == [1, 2, 4]
    assert sorted(kept.movieId.unique()) == [1, 2]
    assert kept.groupby("userId").size().min() >= 2 and kept.groupby("movieId").size().min() >= 2
    assert passes == [
        {"pass": 1, "users_removed": 0, "movies_removed": 1, "ratings_removed": 1},
        {"pass": 2, "users_removed": 1, "movies_removed": 0, "ratings_removed": 1},
    ]


def test_filter_nothing_to_remove_and_everything_removed():
    ratings = pd.DataFrame({"userId": [1, 1, 2, 2], "movieId": [1, 2, 1, 2], "rating": [1, 2, 3, 4]})
    kept, passes = filter_min_ratings(ratings, 2, 2)
    assert len(kept) == 4 and passes == []
    kept, passes = filter_min_ratings(ratings, 3, 1)
    assert kept.empty and passes[0]["ratings_removed"] == 4
