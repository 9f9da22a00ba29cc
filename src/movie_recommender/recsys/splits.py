"""Train/test splits of rating tables for offline evaluation.

Every split returns ``(train, test)``: two DataFrames with the input's columns, rows sorted
by ``userId, movieId`` (temporal: by ``userId, timestamp, movieId``) and a fresh index.
Splits hold out ratings *per user*, so every user with a test rating also has at least
``min_train`` training ratings; items, however, may appear only in test (see
:func:`drop_unknown`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from numbers import Integral, Real

import numpy as np
import pandas as pd

from .checks import check_count
from .movielens import parse_ratings

USER, ITEM, RATING, TIMESTAMP = "userId", "movieId", "rating", "timestamp"
#: The train/test pairs shipped in the MovieLens 100k archive: ``<name>.base`` / ``<name>.test``.
#: u1-u5 are a 5-fold cross-validation of u.data (disjoint 20% test sets); ua and ub hold out
#: exactly 10 ratings per user (disjoint from each other).
PREDEFINED_FOLDS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")

__all__ = [
    "PREDEFINED_FOLDS",
    "drop_unknown",
    "predefined_fold",
    "predefined_folds",
    "random_holdout",
    "temporal_holdout",
    "time_cut_holdout",
]


def _check_fraction(test_fraction: object) -> float:
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, Real) or not 0 < test_fraction < 1:
        raise ValueError(
            f"test_fraction must be a number strictly between 0 and 1 (the share of each user's ratings "
            f"held out, e.g. 0.2), got {test_fraction!r}."
        )
    return float(test_fraction)


def _check_ratings(ratings: pd.DataFrame, extra: tuple[str, ...] = ()) -> None:
    if not isinstance(ratings, pd.DataFrame):
        raise TypeError(f"ratings must be a pandas DataFrame, got {type(ratings).__name__}.")
    missing = [c for c in (USER, ITEM, *extra) if c not in ratings.columns]
    if missing:
        raise ValueError(
            f"ratings lack the column(s) {missing}; found {list(ratings.columns)}. "
            f"Pass a ratings table with {USER}, {ITEM}, {RATING}" + (f" and {', '.join(extra)}." if extra else ".")
        )
    if ratings.duplicated([USER, ITEM]).any():
        raise ValueError(
            f"ratings contain the same ({USER}, {ITEM}) pair more than once; deduplicate them before splitting."
        )


def _test_counts(sizes: np.ndarray, test_fraction: float, min_train: int) -> np.ndarray:
    """Per user: round(test_fraction * n) held out (halves round up), capped so >= min_train stay in train."""
    wanted = np.floor(test_fraction * sizes + 0.5).astype(np.int64)
    return np.clip(np.minimum(wanted, sizes - min_train), 0, None)


def _split(ordered: pd.DataFrame, to_test: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    train = ordered[~to_test].reset_index(drop=True)
    test = ordered[to_test].reset_index(drop=True)
    return train, test


def random_holdout(
    ratings: pd.DataFrame, test_fraction: float = 0.25, seed: int = 42, min_train: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out a random ``test_fraction`` of each user's ratings.

    A user with ``n`` ratings gets ``min(round(test_fraction * n), n - min_train)`` of them,
    chosen uniformly at random, in test (halves round up; never negative). So every user keeps
    at least ``min_train`` training ratings, and a user with ``n <= min_train`` ratings (or so
    few that the rounded share is 0) stays wholly in train.

    The result depends only on the set of rows and ``seed``, not on their order: the table is
    sorted by ``userId, movieId`` before the random draw. Both parts keep the input's columns,
    sorted by ``userId, movieId`` with a fresh index.
    """
    test_fraction = _check_fraction(test_fraction)
    min_train = check_count("min_train", min_train)
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative whole number, got {seed!r}.")
    _check_ratings(ratings)
    ordered = ratings.sort_values([USER, ITEM], kind="stable").reset_index(drop=True)
    keys = np.random.default_rng(int(seed)).random(len(ordered))
    # position of each row in a random order within its user (0 = drawn first)
    draw = pd.DataFrame({USER: ordered[USER].to_numpy(), "key": keys})
    position = draw.groupby(USER, sort=False)["key"].rank(method="first").to_numpy() - 1
    sizes = ordered.groupby(USER, sort=False)[USER].transform("size").to_numpy()
    to_test = position < _test_counts(sizes, test_fraction, min_train)
    return _split(ordered, to_test)


def _by_time(
    split: str, ratings: pd.DataFrame, test_fraction: object, min_train: object
) -> tuple[pd.DataFrame, float, int]:
    """The checked arguments of a split by time, and the ratings sorted by ``userId, timestamp, movieId``."""
    test_fraction = _check_fraction(test_fraction)
    min_train = check_count("min_train", min_train)
    if isinstance(ratings, pd.DataFrame) and TIMESTAMP not in ratings.columns:
        raise ValueError(
            f"{split} needs a {TIMESTAMP!r} column, but ratings have only {list(ratings.columns)}. "
            "Keep the timestamp from u.data (parse_ratings returns it), or use random_holdout."
        )
    _check_ratings(ratings, (TIMESTAMP,))
    if ratings[TIMESTAMP].isna().any():
        raise ValueError(f"ratings have missing {TIMESTAMP} values; fill or drop them before a temporal split.")
    return ratings.sort_values([USER, TIMESTAMP, ITEM], kind="stable").reset_index(drop=True), test_fraction, min_train


def temporal_holdout(
    ratings: pd.DataFrame, test_fraction: float = 0.25, min_train: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out each user's latest ratings: the last ``test_fraction`` of them by ``timestamp``.

    The number held out per user is as in :func:`random_holdout`. Ratings are ordered by
    ``timestamp`` and, at equal timestamps, by ``movieId`` (the larger id counts as later),
    and the last ones go to test, so every test rating of a user is at least as recent as
    each of their training ratings. This is a per-user ("leave latest out") split, not a
    global time cut: other users' training ratings may be later than a test rating.
    Both parts are sorted by ``userId, timestamp, movieId`` with a fresh index.
    """
    ordered, test_fraction, min_train = _by_time("temporal_holdout", ratings, test_fraction, min_train)
    by_user = ordered.groupby(USER, sort=False)
    sizes = by_user[USER].transform("size").to_numpy()
    from_end = sizes - by_user.cumcount().to_numpy() - 1  # 0 = the user's latest rating
    to_test = from_end < _test_counts(sizes, test_fraction, min_train)
    return _split(ordered, to_test)


def time_cut_holdout(
    ratings: pd.DataFrame, test_fraction: float = 0.25, min_train: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A global time cut: the latest ``test_fraction`` of all ratings are the test part.

    The cut is the timestamp ``t`` below which ``1 - test_fraction`` of the ratings fall (ratings
    at ``t`` or later go to test), so no training rating is later than any test rating: the model
    is evaluated on the future, as it would be deployed. Test ratings of users with fewer than
    ``min_train`` training ratings (users who first rate after the cut) are dropped, since no
    model can rank for a user it has never seen; so the test part may hold fewer ratings than
    ``test_fraction`` asks. Both parts are sorted by ``userId, timestamp, movieId`` with a fresh index.
    """
    ordered, test_fraction, min_train = _by_time("time_cut_holdout", ratings, test_fraction, min_train)
    times = ordered[TIMESTAMP].to_numpy()
    cut = np.sort(times)[min(len(times) - 1, int(np.floor((1 - test_fraction) * len(times))))] if len(times) else 0
    to_test = times >= cut
    in_train = pd.Series(~to_test).groupby(ordered[USER].to_numpy()).transform("sum").to_numpy()
    keep = ~to_test | (in_train >= min_train)
    train, test = _split(ordered[keep].reset_index(drop=True), to_test[keep])
    return train, test


def predefined_fold(files: Mapping[str, bytes | str], name: str = "u1") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The archive's own split ``name`` (``u1``-``u5``, ``ua``, ``ub``) as ``(train, test)``.

    ``files`` maps member file names to their contents, as the ``MovieLensArchiveDataset``
    loads the archive (``{"u1.base": b"...", "u1.test": b"...", ...}``); ``str`` contents are
    accepted too. Each file is read with :func:`parse_ratings`, so both parts have the columns
    ``userId, movieId, rating, timestamp`` in file order.
    """
    if name not in PREDEFINED_FOLDS:
        raise ValueError(
            f"unknown MovieLens 100k fold {name!r}; the archive ships {', '.join(PREDEFINED_FOLDS)} "
            "(u1-u5: 5-fold cross-validation; ua, ub: 10 test ratings per user)."
        )
    parts = []
    for suffix in ("base", "test"):
        member = f"{name}.{suffix}"
        if member not in files:
            raise ValueError(
                f"the archive files have no {member} (found: {', '.join(sorted(files)) or 'none'}). "
                "Load the full official ml-100k archive, which ships u1-u5 and ua/ub .base/.test files."
            )
        raw = files[member]
        parts.append(parse_ratings(raw.encode("latin-1") if isinstance(raw, str) else raw, source=member))
    return parts[0], parts[1]


def predefined_folds(
    files: Mapping[str, bytes | str], names: Iterable[str] = PREDEFINED_FOLDS[:5]
) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Several archive splits at once, ``{name: (train, test)}``; by default the 5 folds u1-u5.

    See :func:`predefined_fold`. Average a metric over u1-u5 for the archive's 5-fold
    cross-validation; ``names=("ua", "ub")`` gives the two 10-ratings-per-user holdouts.
    """
    if isinstance(names, str):
        names = [names]
    return {name: predefined_fold(files, name) for name in names}


def drop_unknown(test: pd.DataFrame, train: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``test`` whose user and item both occur in ``train`` (index kept).

    Needed where a model must know both ids: rating error (RMSE/MAE) of the model's own
    estimates rather than of its global-mean fallback for unseen users or items. Ranking
    evaluation should usually *not* drop them: a relevant test item the model never saw is
    still a relevant item it failed to recommend. The per-user splits here never leave a
    test user out of train; unseen items are possible (an item rated only by test rows).
    """
    _check_ratings(test)
    _check_ratings(train)
    known = test[USER].isin(train[USER].unique()) & test[ITEM].isin(train[ITEM].unique())
    return test[known.to_numpy()]
