"""Train/test splits: disjoint, per-user fractions, deterministic, temporal order, archive folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from movie_recommender.recsys import (
    PREDEFINED_FOLDS,
    drop_unknown,
    parse_ratings,
    predefined_fold,
    predefined_folds,
    random_holdout,
    temporal_holdout,
)
from tests.conftest import make_members

KEY = ["userId", "movieId"]


@pytest.fixture
def ratings() -> pd.DataFrame:
    return parse_ratings(make_members(n_users=40, n_movies=30, density=0.5, seed=3)["u.data"])


def pairs(table: pd.DataFrame) -> set[tuple[int, int]]:
    return set(map(tuple, table[KEY].to_numpy().tolist()))


def check_partition(ratings, train, test, min_train=1):
    assert list(train.columns) == list(ratings.columns) == list(test.columns)
    assert not pairs(train) & pairs(test), "a rating is in both train and test"
    assert pairs(train) | pairs(test) == pairs(ratings)
    assert len(train) + len(test) == len(ratings)
    assert set(test.userId) <= set(train.userId), "every test user must have training ratings"
    assert (train.groupby("userId").size() >= min_train).all()


@pytest.mark.parametrize("split", ["random", "temporal"])
@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
def test_partition_and_per_user_fraction(ratings, split, fraction):
    if split == "random":
        train, test = random_holdout(ratings, fraction, seed=1)
    else:
        train, test = temporal_holdout(ratings, fraction)
    check_partition(ratings, train, test)
    sizes = ratings.groupby("userId").size()
    held = test.groupby("userId").size().reindex(sizes.index, fill_value=0)
    expected = np.minimum(np.floor(fraction * sizes + 0.5), sizes - 1).clip(lower=0)
    assert (held == expected).all()
    assert abs(len(test) / len(ratings) - fraction) < 0.05


def test_min_train_and_small_users_stay_in_train():
    # user 1: 2 ratings, user 2: 1 rating, user 3: 8 ratings
    ratings = pd.DataFrame(
        {"userId": [1, 1, 2] + [3] * 8, "movieId": [1, 2, 1] + list(range(1, 9)), "rating": [4.0] * 11}
    )
    train, test = random_holdout(ratings, 0.5, seed=0, min_train=2)
    assert set(test.userId) == {3}  # 1 and 2 have <= min_train ratings
    assert (test.userId == 3).sum() == 4  # round(0.5 * 8) = 4, 8 - 4 >= 2
    train, test = random_holdout(ratings, 0.9, seed=0, min_train=3)
    assert (test.userId == 3).sum() == 5  # round(0.9 * 8) = 7, capped at 8 - 3 = 5
    check_partition(ratings, train, test, min_train=1)


def test_random_is_deterministic_and_independent_of_row_order(ratings):
    train, test = random_holdout(ratings, 0.25, seed=7)
    again_train, again_test = random_holdout(ratings, 0.25, seed=7)
    pd.testing.assert_frame_equal(test, again_test)
    pd.testing.assert_frame_equal(train, again_train)
    shuffled = ratings.sample(frac=1.0, random_state=123)
    shuffled_train, shuffled_test = random_holdout(shuffled, 0.25, seed=7)
    pd.testing.assert_frame_equal(test, shuffled_test)
    pd.testing.assert_frame_equal(train, shuffled_train)
    _, other = random_holdout(ratings, 0.25, seed=8)
    assert pairs(other) != pairs(test)


def test_random_works_without_timestamp(ratings):
    train, test = random_holdout(ratings.drop(columns="timestamp"), 0.2)
    assert list(test.columns) == ["userId", "movieId", "rating"]
    assert len(test) > 0


def test_temporal_puts_latest_ratings_in_test(ratings):
    train, test = temporal_holdout(ratings, 0.3)
    check_partition(ratings, train, test)
    last_train = train.groupby("userId").timestamp.max()
    first_test = test.groupby("userId").timestamp.min()
    assert (first_test >= last_train.reindex(first_test.index)).all()
    shuffled_train, shuffled_test = temporal_holdout(ratings.sample(frac=1.0, random_state=1), 0.3)
    pd.testing.assert_frame_equal(test, shuffled_test)


def test_temporal_ties_broken_by_movie_id():
    ratings = pd.DataFrame(
        {"userId": [1, 1, 1, 1], "movieId": [9, 3, 5, 1], "rating": [1, 2, 3, 4], "timestamp": [10, 20, 20, 5]}
    )
    train, test = temporal_holdout(ratings, 0.5)
    # order by (timestamp, movieId): 1@5, 9@10, 3@20, 5@20 -> the last two are 3 and 5
    assert sorted(test.movieId) == [3, 5]
    assert list(train.movieId) == [1, 9]


def test_temporal_without_timestamp_says_so(ratings):
    with pytest.raises(ValueError, match="needs a 'timestamp' column.*random_holdout"):
        temporal_holdout(ratings.drop(columns="timestamp"))


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, "0.2", True, float("nan")])
def test_bad_fraction(ratings, fraction):
    with pytest.raises(ValueError, match="test_fraction must be a number strictly between 0 and 1"):
        random_holdout(ratings, fraction)
    with pytest.raises(ValueError, match="test_fraction"):
        temporal_holdout(ratings, fraction)


def test_bad_arguments(ratings):
    with pytest.raises(ValueError, match="min_train must be a whole number >= 1"):
        random_holdout(ratings, 0.2, min_train=0)
    with pytest.raises(ValueError, match="seed must be"):
        random_holdout(ratings, 0.2, seed=-1)
    with pytest.raises(ValueError, match=r"lack the column\(s\) \['movieId'\]"):
        random_holdout(ratings.drop(columns="movieId"), 0.2)
    with pytest.raises(ValueError, match="more than once"):
        random_holdout(pd.concat([ratings, ratings.head(1)]), 0.2)


def fold_files(ratings: pd.DataFrame) -> dict[str, bytes]:
    """A synthetic archive: u1..u5 a 5-fold split of ``ratings``, ua/ub one rating per user held out."""

    def dump(table: pd.DataFrame) -> bytes:
        return "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in table.to_numpy().tolist()).encode("latin-1")

    files = dict(make_members())
    fold = np.arange(len(ratings)) % 5
    for j in range(5):
        files[f"u{j + 1}.base"] = dump(ratings[fold != j])
        files[f"u{j + 1}.test"] = dump(ratings[fold == j])
    for name, seed in (("ua", 0), ("ub", 1)):
        train, test = random_holdout(ratings, 0.1, seed=seed)
        files[f"{name}.base"], files[f"{name}.test"] = dump(train), dump(test)
    return files


def test_predefined_fold(ratings):
    files = fold_files(ratings)
    assert set(PREDEFINED_FOLDS) == {"u1", "u2", "u3", "u4", "u5", "ua", "ub"}
    train, test = predefined_fold(files, "u2")
    assert list(train.columns) == ["userId", "movieId", "rating", "timestamp"]
    assert len(train) + len(test) == len(ratings)
    assert not pairs(train) & pairs(test)
    as_text = {name: content.decode("latin-1") for name, content in files.items()}
    pd.testing.assert_frame_equal(predefined_fold(as_text, "u2")[1], test)
    folds = predefined_folds(files)
    assert list(folds) == ["u1", "u2", "u3", "u4", "u5"]
    tests = [pairs(test) for _, test in folds.values()]
    assert set().union(*tests) == pairs(ratings) and sum(map(len, tests)) == len(ratings)
    assert list(predefined_folds(files, ("ua", "ub"))) == ["ua", "ub"]


def test_predefined_fold_errors(ratings):
    files = fold_files(ratings)
    with pytest.raises(ValueError, match="unknown MovieLens 100k fold 'u6'.*u1, u2, u3, u4, u5, ua, ub"):
        predefined_fold(files, "u6")
    del files["u3.test"]
    with pytest.raises(ValueError, match="no u3.test.*official ml-100k archive"):
        predefined_fold(files, "u3")
    files["u4.base"] = b"1\t2\tx\t3\n"
    with pytest.raises(ValueError, match="u4.base line 1 is malformed"):
        predefined_fold(files, "u4")


def test_drop_unknown():
    train = pd.DataFrame({"userId": [1, 1, 2], "movieId": [10, 20, 10], "rating": [1, 2, 3]})
    test = pd.DataFrame({"userId": [1, 2, 3, 2], "movieId": [10, 30, 10, 20], "rating": [4, 5, 1, 2]})
    kept = drop_unknown(test, train)
    assert kept.index.tolist() == [0, 3]  # user 3 and movie 30 are unseen


def test_time_cut_holdout_tests_on_the_future():
    from movie_recommender.recsys.splits import time_cut_holdout

    ratings = pd.DataFrame(
        {
            "userId": [1, 1, 1, 2, 2, 2, 3, 3],
            "movieId": [1, 2, 3, 1, 2, 3, 1, 2],
            "rating": [5, 4, 3, 2, 1, 5, 4, 4],
            "timestamp": [10, 20, 70, 30, 40, 80, 90, 95],  # user 3 rates only after the cut
        }
    )
    train, test = time_cut_holdout(ratings, test_fraction=0.5)
    assert train.timestamp.max() < test.timestamp.min()
    assert sorted(zip(test.userId, test.movieId)) == [(1, 3), (2, 3)]  # user 3: unknown to any model, dropped
    assert len(train) == 4 and 3 not in set(train.userId)
    with pytest.raises(ValueError, match="time_cut_holdout needs a 'timestamp' column"):
        time_cut_holdout(ratings.drop(columns="timestamp"))
