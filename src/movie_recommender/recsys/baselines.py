"""Reference rankers: random and most-popular, plus the shared base of ranking-only models.

Every top-N model should beat :class:`RandomRecommender` by far and :class:`Popularity` clearly;
both are cheap (no dense array beyond one block of users x items).
"""

from __future__ import annotations

import zlib
from numbers import Integral

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .base import Recommender
from .checks import check_count

__all__ = ["Popularity", "RandomRecommender", "RankingRecommender"]


class RankingRecommender(Recommender):
    """Base of ranking-only models (``predicts_ratings = False``).

    ``predict`` returns the model's ranking score of each pair, not a rating: RMSE/MAE make no
    sense for these models. A pair whose score is undefined (unseen user or item, or a score
    of ``-inf``) gets ``fallback_score_`` (0.0 unless the model says otherwise).
    """

    predicts_ratings = False
    fallback_score_ = 0.0

    def _item_counts(self) -> np.ndarray:
        """Number of training ratings of each item (column), as floats: the usual tie-break."""
        return np.asarray(self.ratings_.getnnz(axis=0), dtype=np.float64)

    def _pair_fallback(self) -> float:
        return self.fallback_score_

    # Models that score users from their rating rows alone (``x -> scores``) define ``_scores``;
    # a training user and a folded-in new user are then scored the same way, ties to the more
    # rated item.
    def _scores(self, x: sp.csr_matrix) -> np.ndarray:
        """Ranking scores (rows x items) of the users whose ratings are the rows of ``x``."""
        raise NotImplementedError

    def _tiebreak(self) -> np.ndarray:
        """Per item, higher wins a tie of scores: the number of training ratings unless the model says otherwise."""
        return self.item_counts_

    def _rank_block(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores = self._scores(self.ratings_[rows])
        return scores, np.broadcast_to(self._tiebreak(), scores.shape)

    def _rank_vector(self, row: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        return self._scores(row)[0], self._tiebreak()


def _id_key(user_id) -> int:
    """A non-negative integer for a user id, the same in every process (no salted ``hash``) and
    every numpy version (a numpy scalar is keyed by its Python value, not its ``repr``)."""
    if isinstance(user_id, np.generic):
        user_id = user_id.item()
    if isinstance(user_id, Integral | np.integer) and not isinstance(user_id, bool) and user_id >= 0:
        return int(user_id)
    return zlib.crc32(repr(user_id).encode())


class RandomRecommender(RankingRecommender):
    """Random ranking of the items a user has not rated: the floor every model must beat.

    Definition: user ``u``'s score of item column ``j`` is the ``j``-th draw of a uniform [0, 1)
    stream seeded by ``(seed, u's id)``, so a user's ranking depends only on the seed and the
    user, never on which other users are ranked with them or how they are blocked. A new user
    (``recommend_new``) gets a stream seeded by ``seed`` and the ids of the movies they rated.

    Ranking-only (``predicts_ratings = False``): ``predict`` returns the random score; an unseen
    user or item gets 0.0 (the lowest score). Recommending for an unseen user raises
    ``UnknownUserError``; use ``recommend_new`` or ``popular`` instead.

    Parameters:
        seed: whole number >= 0.

    Complexity: no fitting beyond indexing; scoring a block O(block x items).
    """

    def __init__(self, seed: int = 42) -> None:
        self.seed = seed

    def check_params(self) -> RandomRecommender:
        check_count("seed", self.seed, minimum=0)
        return self

    def fit(self, ratings: pd.DataFrame, movies: pd.DataFrame | None = None) -> RandomRecommender:
        """Index the ratings (nothing to learn); returns self."""
        self._index(ratings)
        return self

    def _stream(self, key: int) -> np.ndarray:
        return np.random.default_rng([int(self.seed), key]).random(len(self.item_ids_))

    def _rank_block(self, rows: np.ndarray) -> tuple[np.ndarray, None]:
        if len(rows) == 0:
            return np.empty((0, len(self.item_ids_))), None
        return np.vstack([self._stream(_id_key(self.user_ids_[row])) for row in rows]), None

    def _rank_vector(self, row: sp.csr_matrix) -> tuple[np.ndarray, None]:
        rated = np.sort(self.item_ids_[row.indices])
        return self._stream(zlib.crc32(repr(rated.tolist()).encode()) + (1 << 32)), None


class Popularity(RankingRecommender):
    """Most-popular ranking: the same list for everyone, minus what they already rated.

    Definition: an item's score is its number of training ratings; ties go to the higher mean
    training rating, then to the smaller movie id (the order of :meth:`Recommender.popular`).

    Ranking-only: ``predict`` returns the item's rating count whoever the user, including an
    unseen user (the ranking does not depend on the user); an unseen item gets 0.0. A new user
    (``recommend_new``) gets the popular items they have not rated.

    Complexity: fit O(ratings); memory O(items); scoring a block O(block x items).
    """

    def __init__(self) -> None:
        pass

    def fit(self, ratings: pd.DataFrame, movies: pd.DataFrame | None = None) -> Popularity:
        """Count the ratings of each item; returns self."""
        self._index(ratings)
        self.counts_, self.means_ = self._item_popularity()
        return self

    def _rank_block(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        shape = (len(rows), len(self.item_ids_))
        return np.broadcast_to(self.counts_, shape).copy(), np.broadcast_to(self.means_, shape)

    def _rank_vector(self, row: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        return self.counts_.copy(), self.means_

    def _predict_pairs(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return np.where(cols >= 0, self.counts_[np.maximum(cols, 0)], self.fallback_score_)
