"""Publishing: the recommendations table handed to the SQL dataset (which swaps it in atomically)."""

from __future__ import annotations

import pandas as pd


def publish_recommendations(all_recommendations: pd.DataFrame) -> pd.DataFrame:
    """The top-N of every user as a table for SQL readers: ``userId, rank, movieId, score``."""
    return all_recommendations.reset_index(drop=True)
