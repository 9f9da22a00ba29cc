"""Activity filters for rating tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

_DIRECT_IDS = 50_000_000  # whole-number ids below this are their own codes (no hashing)


def filter_min_ratings(
    ratings: pd.DataFrame,
    min_user_ratings: int,
    min_item_ratings: int,
    user_col: str = "userId",
    item_col: str = "movieId",
) -> tuple[pd.DataFrame, list[dict[str, int]]]:
    """Drop users and items with too few ratings, repeating until both thresholds hold.

    Removing a sparse movie can push a user under the user threshold and vice versa, so
    the two filters alternate until a pass removes nothing (the result is the largest
    sub-table in which every user has at least ``min_user_ratings`` ratings and every
    item at least ``min_item_ratings``). Returns the filtered table (its rows in their
    order, with their index; ``ratings`` itself when nothing is removed) and one record per
    pass with the users, items and ratings that pass removed. A rating with a missing user
    or item id is always removed.

    Each pass counts with ``np.bincount`` over the ids (whole-number ids as they are, others
    factorized once), not with per-row lookups: a few tenths of a second per pass on 25M ratings.
    """
    users, n_users = _codes(ratings[user_col])
    items, n_items = _codes(ratings[item_col])
    everything = np.ones(len(ratings), dtype=bool)
    user_counts, items_before = _counts(users, everything, n_users), None
    passes: list[dict[str, int]] = []
    current = everything
    while True:
        after_users = current & _passing(user_counts, min_user_ratings)[users]
        item_counts = _counts(items, after_users, n_items)
        after_items = after_users & _passing(item_counts, min_item_ratings)[items]
        removed = int(current.sum()) - int(after_items.sum())
        if removed == 0:
            return (ratings[current] if passes else ratings), passes
        if items_before is None:
            items_before = _counts(items, current, n_items)
        users_after, items_after = _counts(users, after_items, n_users), _counts(items, after_items, n_items)
        passes.append(
            {
                "pass": len(passes) + 1,
                "users_removed": int((user_counts > 0).sum() - (users_after > 0).sum()),
                "movies_removed": int((items_before > 0).sum() - (items_after > 0).sum()),
                "ratings_removed": removed,
            }
        )
        current, user_counts, items_before = after_items, users_after, items_after


def _codes(column: pd.Series) -> tuple[np.ndarray, int]:
    """(code of each row, number of codes); a missing id gets the spare last code, ``number``."""
    values = column.to_numpy()
    if values.dtype.kind in "iu" and values.size and 0 <= values.min() and values.max() < _DIRECT_IDS:
        return values, int(values.max()) + 1
    codes, distinct = pd.factorize(column)
    return np.where(codes >= 0, codes, len(distinct)), len(distinct)


def _counts(codes: np.ndarray, rows: np.ndarray, number: int) -> np.ndarray:
    """Ratings per code among ``rows`` (a mask); the spare code (missing ids) counts none."""
    found = np.bincount(codes[rows], minlength=number + 1)
    found[number] = 0
    return found


def _passing(counts: np.ndarray, minimum: int) -> np.ndarray:
    """Per code: has at least ``minimum`` ratings (never the spare code of missing ids)."""
    ok = counts >= minimum
    ok[-1] = False
    return ok
