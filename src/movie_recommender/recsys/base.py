"""What every model shares: the sparse rating matrix, id lookups, bounded blocks, top-N ranking.

A model subclasses :class:`Recommender` the scikit-learn way: hyper-parameters are set in
``__init__`` and checked by ``check_params``; ``fit(ratings, movies=None)`` calls
``self._index(ratings)`` and then learns its state into attributes ending in ``_``.
It then provides

- ``_rank_block(rows)``: ranking scores of every item for a block of known users
  (``-inf`` where the model cannot score an item), plus an optional tie-break array;
- ``_rank_vector(row)``: the same for one new user given as a 1 x items sparse row
  (fold-in, without refitting);
- ``_predict_pairs(rows, cols)``: rating estimates for (row, col) pairs, where a row or
  col of ``-1`` is a user or item unseen in training (the model's documented fallback).

``recommend``, ``recommend_all``, ``recommend_new`` and ``predict`` are built on these here,
so that every model ranks, excludes training items and breaks ties the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .data import ITEM, RATING, USER, RatingData, as_rating_data
# Largest dense array (in float64 cells) built at once: 2**21 cells = 16 MB. A block of users
# holds a handful of such arrays, so memory stays bounded however large the data.
BLOCK_CELLS = 1 << 21


class UnknownUserError(LookupError):
    """The user has no ratings in the data the model was fitted on."""

    def __str__(self) -> str:  # LookupError would quote the message like a key
        return str(self.args[0])


class NoUsableRatingsError(ValueError):
    """A new user's ratings name no item the model knows, so there is nothing to fold in."""


def positions(ids: np.ndarray, wanted) -> np.ndarray:
    """Positions of ``wanted`` in the sorted array ``ids``; -1 where absent.

    An id that cannot be compared with ``ids`` (a string or None among integer ids) is absent.
    """
    wanted = np.asarray(wanted)
    if len(ids) == 0:
        return np.full(wanted.shape, -1)
    try:
        pos = np.minimum(np.searchsorted(ids, wanted), len(ids) - 1)
        return np.where(ids[pos] == wanted, pos, -1)
    except TypeError:  # mixed types: look each id up on its own
        lookup = {key: n for n, key in enumerate(ids.tolist())}
        return np.array([lookup.get(w, -1) for w in wanted.ravel().tolist()], dtype=np.intp).reshape(wanted.shape)


class Recommender:
    """Base of every model: fitted state, id lookups and the shared top-N machinery.

    Attributes (after ``fit``):
        user_ids_, item_ids_: sorted ids; their positions index the matrix rows and columns.
        ratings_: CSR users x items matrix of the training ratings.
        global_mean_: mean training rating; rating_range_: (lowest, highest) rating.
    """

    #: True when ``predict`` estimates ratings (RMSE/MAE make sense); False for ranking-only models.
    predicts_ratings = True
    #: each movie's most similar movies (:meth:`fit_explanations`); class defaults, so that a model pickled
    #: before they existed has none (and computes its item popularity on first use)
    explanations_ = None
    _popularity = None
    #: Users per block; ``None`` sizes each dense block array to about 16 MB.
    batch_size: int | None = None

    # ------------------------------------------------------------------ fitting
    def check_params(self) -> Recommender:
        """Raise ValueError naming the first bad hyper-parameter; return self when all are valid."""
        return self

    def get_params(self) -> dict:
        """Hyper-parameters as given to ``__init__`` (scikit-learn style)."""
        import inspect

        return {name: getattr(self, name) for name in inspect.signature(type(self)).parameters}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _index(self, ratings: pd.DataFrame | RatingData) -> sp.csr_matrix:
        """Check params and ratings, then set ``data_`` (the shared :class:`RatingData`; a DataFrame
        is converted), ``ratings_`` (its matrix, not a copy), ids, ``global_mean_`` and ``rating_range_``."""
        from .budget import check_memory, check_time

        self.check_params()
        self.data_ = as_rating_data(ratings)
        self._popularity = self.explanations_ = None  # computed for these ratings when first needed
        shape = self.data_.n_users, self.data_.n_items, self.data_.n_ratings
        check_memory(type(self).__name__, *self.peak_memory(*shape), shape)  # refuse before any heavy work
        check_time(type(self).__name__, self.fit_seconds(self.data_), shape)
        self.ratings_, self.user_ids_, self.item_ids_ = self.data_.matrix, self.data_.user_ids, self.data_.item_ids
        values = self.ratings_.data
        self.global_mean_ = float(values.mean())
        self.rating_range_ = (float(values.min()), float(values.max()))
        return self.ratings_

    def fit(self, ratings: pd.DataFrame | RatingData, movies: pd.DataFrame | None = None) -> Recommender:
        """Learn from a ``userId, movieId, rating`` table or a :class:`RatingData` (``movies`` is used by
        content models only)."""
        raise NotImplementedError

    def fit_explanations(self, neighbours: int | None = None) -> Recommender:
        """Precompute each movie's ``neighbours`` most similar movies (cosine of the training rating columns;
        ``None``: every movie on MovieLens 100k, at least 100 on larger data) as ``explanations_``, an
        :class:`~movie_recommender.recsys.explain.ItemNeighbours`: the API's "because you rated" then costs
        ``movies x neighbours`` per request, however many ratings the movies have. Returns self.

        Cost: half the sum over users of their ratings squared, in compiled loops on every core; memory: see
        :class:`~movie_recommender.recsys.explain.ItemNeighbours` (12 bytes per kept pair).
        """
        from .explain import ItemNeighbours

        self._check_fitted()
        self.explanations_ = ItemNeighbours(self.data_.csc if hasattr(self, "data_") else self.ratings_, neighbours)
        return self

    # --------------------------------------------------------------- internals
    def _check_fitted(self) -> None:
        if not hasattr(self, "ratings_"):
            raise RuntimeError(f"this {type(self).__name__} is not fitted yet: call fit(ratings) first.")

    def _rows(self, users) -> np.ndarray:
        """Matrix rows of ``users``; -1 where unknown."""
        return positions(self.user_ids_, users)

    def _cols(self, items) -> np.ndarray:
        """Matrix columns of ``items``; -1 where unknown."""
        return positions(self.item_ids_, items)

    def _block_rows(self, n_users: int, n_items: int) -> int:
        """Users per scoring block for data of this size."""
        return self.batch_size or max(1, BLOCK_CELLS // max(n_users, n_items, 1))

    def _block_size(self) -> int:
        return self._block_rows(*self.ratings_.shape)

    def peak_memory(self, n_users: int, n_items: int, n_ratings: int) -> tuple[int, str]:
        """(Peak bytes of ``fit`` and scoring for data of this size, the setting that lowers it).

        Default: the shared ratings (CSR and CSC, 24 bytes a rating), per-user and per-movie
        vectors, and a scoring block of three users x movies arrays.
        """
        return 24 * n_ratings + 16 * (n_users + n_items) + 24 * self._block_rows(n_users, n_items) * n_items, (
            "Use fewer ratings (raise min_user_ratings / min_movie_ratings) or another model."
        )

    def fit_seconds(self, data: RatingData) -> tuple[float, str] | None:
        """(About how many seconds ``fit`` takes on these ratings on 2 cores, the setting that lowers it), or
        None when the fit is cheap at any size (linear in the ratings: seconds at MovieLens 25M).

        Models whose fit grows faster (factor models, item-item similarities, dense solves) give a
        formula of the data's size and their settings, with constants measured on the benchmark
        machine (``benchmarks/README.md``, "Scale"); ``fit`` refuses beyond the time limit
        (:func:`~movie_recommender.recsys.budget.check_time`).
        """
        return None

    def _top_block_size(self) -> int:
        """Users per block of ``recommend_all`` (a model whose ``_top_block`` holds less may take more)."""
        return self._block_size()

    def _blocks(self, rows: np.ndarray, size: int | None = None) -> Iterator[np.ndarray]:
        size = size or self._block_size()
        for start in range(0, len(rows), size):
            yield rows[start : start + size]

    def _known_rows(self, users) -> np.ndarray:
        users = np.atleast_1d(np.asarray(users))
        rows = self._rows(users)
        if (rows < 0).any():
            unknown = users[rows < 0]
            raise UnknownUserError(
                f"user(s) {', '.join(map(str, unknown[:5]))} have no ratings in the training data "
                f"({len(self.user_ids_)} users, ids {self.user_ids_.min()}-{self.user_ids_.max()})."
            )
        return rows

    def _item_popularity(self) -> tuple[np.ndarray, np.ndarray]:
        """Per item (column): number of training ratings (floats) and mean training rating (copies of
        arrays computed once per fit: two passes over every rating, too slow for each fold-in)."""
        found = self._popularity
        if found is None:
            counts = np.asarray(self.ratings_.getnnz(axis=0), dtype=np.float64)
            found = self._popularity = (counts, np.asarray(self.ratings_.sum(axis=0)).ravel() / np.maximum(counts, 1))
        return found[0].copy(), found[1].copy()

    def _clip(self, estimates: np.ndarray) -> np.ndarray:
        return np.clip(estimates, *self.rating_range_)

    def _reported(self, scores: np.ndarray) -> np.ndarray:
        """Ranking scores as ``recommend`` and ``predict`` report them: estimates clipped to the rating range.

        Models that estimate ratings rank on the unclipped estimate (a 5.6 beats a 5.1 though both
        report 5.0); scores that are not estimates (ranking-only models, support ranking) are as is.
        """
        if self.predicts_ratings and getattr(self, "ranking", "rating") == "rating":
            return self._clip(scores)
        return scores

    # -------------------------------------------------------- model-specific parts
    def _rank_block(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Ranking scores (len(rows) x items; -inf = cannot score) and an optional tie-break (higher first)."""
        raise NotImplementedError

    def _rank_vector(self, row: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray | None]:
        """Ranking scores of every item for a new user given as a 1 x items sparse rating row."""
        raise NotImplementedError(f"{type(self).__name__} cannot fold in a new user.")

    def _pair_fallback(self) -> float:
        """What ``predict`` gives a pair the model cannot score: the global mean by default."""
        return self.global_mean_

    def _predict_pairs(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Estimates for (row, col) pairs, -1 meaning unseen. Default: the block scores of the pair,
        ``_pair_fallback()`` where the user or item is unseen or the score is ``-inf``."""
        fallback = self._pair_fallback()
        est = np.full(len(rows), fallback, dtype=np.float64)
        known = np.flatnonzero((rows >= 0) & (cols >= 0))
        for block in self._blocks(np.unique(rows[known])):
            scores, _ = self._rank_block(block)
            pairs = known[np.isin(rows[known], block)]
            values = scores[np.searchsorted(block, rows[pairs]), cols[pairs]]
            est[pairs] = np.where(np.isfinite(values), values, fallback)
        return self._clip(est) if self.predicts_ratings else est

    # ---------------------------------------------------------------- public API
    def predict(self, users, items) -> np.ndarray:
        """Estimates for the pairs ``(users[j], items[j])``; unseen users/items get the model's fallback."""
        self._check_fitted()
        users, items = np.asarray(users), np.asarray(items)
        if users.shape != items.shape or users.ndim != 1:
            raise ValueError(f"users and items must be 1-d and of equal length, got {users.shape} and {items.shape}.")
        return self._predict_pairs(self._rows(users), self._cols(items))

    @staticmethod
    def _top(scores: np.ndarray, tiebreaks: list, item_ids: np.ndarray, n: int) -> np.ndarray:
        """Columns of the ``n`` best finite scores; ties by each of ``tiebreaks`` in turn (higher first;
        ``None`` entries are skipped), then the smaller id."""
        cand = np.flatnonzero(np.isfinite(scores))
        if len(cand) > 4 * n:  # cut to a superset of the top n before the exact ordering
            kth = np.partition(scores[cand], len(cand) - n)[len(cand) - n]
            cand = cand[scores[cand] >= kth]
        keys = [item_ids[cand]] + [-np.ravel(t)[cand] for t in reversed(tiebreaks) if t is not None]
        keys.append(-scores[cand])
        return cand[np.lexsort(keys)[:n]]

    @staticmethod
    def _top_rows(scores: np.ndarray, tiebreaks: list, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``_top`` for every row of a block at once: (row of each pick, column), rows in order,
        each row's picks best first (ties by ``tiebreaks`` in turn, 2-d or 1-d per column, then the
        smaller column, which is the smaller id)."""
        from ._rank_kernels import kept_cells

        n_rows = scores.shape[0]
        rows, cols = kept_cells(np.ascontiguousarray(scores), n)  # at or above each row's n-th best: every tie
        keys = [cols]
        for tie in reversed(tiebreaks):
            if tie is not None:
                tie = np.asarray(tie)
                keys.append(-(tie[rows, cols] if tie.ndim == 2 else tie[cols]))
        keys += [-scores[rows, cols], rows]
        order = np.lexsort(keys)
        rows, cols = rows[order], cols[order]
        starts = np.searchsorted(rows, np.arange(n_rows))
        rank = np.arange(len(rows)) - starts[rows]
        keep = rank < n
        return rows[keep], cols[keep]

    def recommend_all(self, n: int, users=None, progress: bool | None = None) -> pd.DataFrame:
        """Top-``n`` unrated items for each user (all by default) as ``userId, rank, movieId, score``.

        Items rated in training are never recommended; a user may get fewer than ``n`` items
        when the model can score fewer. Ties go to the model's tie-break, then to the item with
        more training ratings (estimates clipped at the top of the scale tie often), then to the
        smaller id.

        Users are scored a bounded block at a time (see ``batch_size``); while the model scores
        one block (its own threads: BLAS or compiled loops), a second thread cuts the previous
        one to its top ``n``. ``progress``: a progress bar with ETA on stderr (``None``: only on
        a terminal).
        """
        from concurrent.futures import ThreadPoolExecutor

        from .checks import check_count
        from .progress import progress_bar

        self._check_fitted()
        n = check_count("n", n)
        rows = np.arange(len(self.user_ids_)) if users is None else self._known_rows(users)
        counts = self._item_popularity()[0]
        parts: list[tuple[np.ndarray, ...]] = []
        blocks = list(self._blocks(rows, self._top_block_size()))
        with progress_bar(len(rows), f"{type(self).__name__} top-{n}", "users", progress) as bar, ThreadPoolExecutor(1) as pool:
            pending = None
            for block in blocks:
                direct = self._top_block(block, n, counts)
                if direct is not None:  # the model ranked the block itself, without a dense array
                    parts.append(direct)
                    bar.update(len(block))
                    continue
                scores, tiebreak = self._rank_block(block)
                if pending is not None:
                    parts.append(pending.result())
                pending = pool.submit(self._cut_block, block, scores, tiebreak, n, counts)
                bar.update(len(block))
            if pending is not None:
                parts.append(pending.result())
        if not parts:
            return pd.DataFrame({USER: [], "rank": [], ITEM: [], "score": []})
        user_rows, ranks, cols, values = (np.concatenate(p) for p in zip(*parts))
        return pd.DataFrame(
            {USER: self.user_ids_[user_rows], "rank": ranks, ITEM: self.item_ids_[cols], "score": values}
        )

    def _top_block(self, block, n, counts) -> tuple[np.ndarray, ...] | None:
        """What ``_cut_block`` returns, computed by the model without a dense users x items array, or
        None (the default) to rank ``_rank_block``'s dense scores. A model that overrides it ranks the
        same way: training items excluded, ties to its tie-break, then to ``counts``, then the smaller id."""
        return None

    def _cut_block(self, block, scores, tiebreak, n, counts) -> tuple[np.ndarray, ...]:
        """A scored block, training items excluded, cut to each user's top ``n``:
        (matrix rows, ranks from 1, columns, reported scores)."""
        rated = self.ratings_[block].tocoo()
        scores[rated.row, rated.col] = -np.inf
        rows, cols = self._top_rows(scores, [tiebreak, counts], n)
        ranks = np.arange(len(rows)) - np.searchsorted(rows, rows) + 1
        return block[rows], ranks, cols, self._reported(scores[rows, cols])

    def recommend(self, user, n: int = 10) -> pd.DataFrame:
        """Top-``n`` unrated items for one known user as ``rank, movieId, score`` (see ``recommend_all``)."""
        return self.recommend_all(n, users=[user]).drop(columns=USER)

    def fold_in_row(self, ratings: Mapping | pd.Series) -> sp.csr_matrix:
        """A new user's ``{movieId: rating}`` as a 1 x items sparse row; unknown items and missing or
        non-numeric ratings are dropped; a movie named twice is a ValueError."""
        self._check_fitted()
        series = pd.Series(ratings, dtype="float64") if not isinstance(ratings, pd.Series) else ratings
        if series.index.duplicated().any():
            raise ValueError("the new user's ratings name the same movie more than once.")
        cols = self._cols(series.index.to_numpy())
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)  # non-numbers dropped
        keep = (cols >= 0) & np.isfinite(values)
        if not keep.any():
            raise NoUsableRatingsError("none of the rated movies is known to the model.")
        row = sp.csr_matrix(
            (values[keep], (np.zeros(keep.sum(), dtype=int), cols[keep])),
            shape=(1, len(self.item_ids_)),
        )
        row.sort_indices()
        return row

    def recommend_new(self, ratings: Mapping | pd.Series, n: int = 10) -> pd.DataFrame:
        """Top-``n`` items for a user not in training, from their ``{movieId: rating}`` (fold-in, no refit).

        Rated items are excluded and ties broken as in ``recommend_all``; raises
        NoUsableRatingsError when no rated item is known.
        """
        from .checks import check_count

        n = check_count("n", n)
        row = self.fold_in_row(ratings)
        counts = self._item_popularity()[0]
        direct = self._top_new(row, n, counts)
        top, scores = direct if direct is not None else self._top_new_dense(row, n, counts)
        score = self._reported(scores)
        return pd.DataFrame({"rank": np.arange(1, len(top) + 1), ITEM: self.item_ids_[top], "score": score})

    def _top_new(self, row: sp.csr_matrix, n: int, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """What ``_top_new_dense`` returns, computed by the model without scoring every item, or None (the
        default) to rank ``_rank_vector``'s dense scores. A model that overrides it ranks the same way."""
        return None

    def _top_new_dense(self, row: sp.csr_matrix, n: int, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A new user's top ``n`` (columns, ranking scores before ``_reported``) from ``_rank_vector``:
        rated items excluded, ties to the model's tie-break, then to ``counts``, then the smaller id."""
        scores, tiebreak = self._rank_vector(row)
        scores = np.array(scores, dtype=np.float64).ravel()
        scores[row.indices] = -np.inf
        top = self._top(scores, [tiebreak, counts], self.item_ids_, n)
        return top, scores[top]

    def popular(self, n: int = 10, exclude=()) -> pd.DataFrame:
        """The ``n`` most rated items (ties: higher mean rating, then smaller id), as ``rank, movieId, score``."""
        from .checks import check_count

        self._check_fitted()
        n = check_count("n", n)
        counts, means = self._item_popularity()
        counts[counts == 0] = -np.inf
        excluded = self._cols(np.asarray(list(exclude)))
        counts[excluded[excluded >= 0]] = -np.inf
        top = self._top(counts, [means], self.item_ids_, n)
        return pd.DataFrame({"rank": np.arange(1, len(top) + 1), ITEM: self.item_ids_[top], "score": counts[top]})
