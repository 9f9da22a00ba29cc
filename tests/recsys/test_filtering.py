"""filter_min_ratings: thresholds repeated until both hold."""

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

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


def reference_filter(ratings, min_user, min_item):
    """The definition, one pandas lookup per row and pass (the implementation before numpy counting)."""
    passes, current = [], ratings
    while True:
        after_users = current[current.userId.map(current.userId.value_counts()) >= min_user]
        after_items = after_users[after_users.movieId.map(after_users.movieId.value_counts()) >= min_item]
        removed = len(current) - len(after_items)
        if removed == 0:
            return current, passes
        passes.append(
            {
                "pass": len(passes) + 1,
                "users_removed": int(current.userId.nunique() - after_items.userId.nunique()),
                "movies_removed": int(current.movieId.nunique() - after_items.movieId.nunique()),
                "ratings_removed": int(removed),
            }
        )
        current = after_items


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 12), st.integers(1, 9), st.booleans()), min_size=0, max_size=120),
    st.integers(0, 6),
    st.integers(0, 6),
)
def test_filter_matches_the_definition_rows_index_and_passes(rows, min_user, min_item):
    ratings = pd.DataFrame(
        {
            "userId": [float(u) if keep else np.nan for u, _, keep in rows] if any(not k for *_, k in rows)
            else [u for u, _, _ in rows],  # a missing user id (NaN) in some tables
            "movieId": np.array([m for _, m, _ in rows], dtype="int32"),
            "rating": np.arange(len(rows), dtype="float32"),
        },
        index=np.arange(len(rows)) * 3 + 7,
    )
    kept, passes = filter_min_ratings(ratings, min_user, min_item)
    expected, expected_passes = reference_filter(ratings, min_user, min_item)
    pd.testing.assert_frame_equal(kept, expected)
    assert passes == expected_passes
