"""Activity filters for rating tables."""

from __future__ import annotations

import pandas as pd


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
    item at least ``min_item_ratings``). Returns the filtered table and one record per
    pass with the users, items and ratings that pass removed.
    """
    passes: list[dict[str, int]] = []
    current = ratings
    while True:
        user_counts = current[user_col].map(current[user_col].value_counts())
        keep_users = user_counts >= min_user_ratings
        after_users = current[keep_users]
        item_counts = after_users[item_col].map(after_users[item_col].value_counts())
        after_items = after_users[item_counts >= min_item_ratings]
        removed = len(current) - len(after_items)
        if removed == 0:
            return current, passes
        passes.append(
            {
                "pass": len(passes) + 1,
                "users_removed": int(current[user_col].nunique() - after_items[user_col].nunique()),
                "movies_removed": int(current[item_col].nunique() - after_items[item_col].nunique()),
                "ratings_removed": int(removed),
            }
        )
        current = after_items
