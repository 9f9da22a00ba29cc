"""What the API serves: movie lookups, the top-N lists the pipeline published, cached explanations.

No FastAPI here. :func:`load_project_state` reads the artifacts of ``kedro run`` through the Kedro
catalog, the published lists (``all_recommendations``) included; :class:`ServingState` works on any
fitted ``Recommender`` and movies table (tests use small synthetic ones), with or without published lists.
"""

from __future__ import annotations

import gc
import heapq
import io
import logging
import math
import pickle
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from movie_recommender.api.guard import ServeSettings
from movie_recommender.errors import UserError
from movie_recommender.recsys.base import NoUsableRatingsError, Recommender
from movie_recommender.recsys.explain import ItemNeighbours, ItemSimilarity
from movie_recommender.recsys.releases import DEFAULT_DATASET, UnknownDatasetError, get_release

logger = logging.getLogger(__name__)

MAX_N = 100  # the largest n any endpoint accepts; a list the model computes is a user's top MAX_N
REASONS = 3  # rated movies quoted per recommendation
MODEL_DATASET, MOVIES_DATASET, COUNTS_DATASET = "recommender", "movies", "movie_rating_counts"
PUBLISHED_DATASET = "all_recommendations"  # every user's top top_n, written by the modeling pipeline
PUBLISHED_COLUMNS = {"userId": "int64", "rank": "int64", "movieId": "int64", "score": "float64"}
RESPONSE_CACHE_BYTES = 64 << 20  # cached GET /users/{id}/recommendations bodies: at most this many bytes
SIMILAR_CACHE_ITEMS = 4096  # cached similar-movie lists (movies)

#: What ``score`` means, by ``score_kind``.
SCORE_KINDS = {
    "estimated_rating": "the model's estimate of the rating the user would give (on the rating scale)",
    "ranking_score": "a ranking score of this model: higher ranks first; not a rating, not comparable across models",
    "rating_count": "the number of ratings the movie has in the training data (most rated first)",
}


class ArtifactsMissingError(RuntimeError):
    """The model or movies produced by ``kedro run`` are not there (or cannot be read)."""


class UnknownError(LookupError):
    """An unknown user or movie; the message says which and what is known."""


def _year(value) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _genres(value) -> list[str]:
    return (
        []
        if value is None or (isinstance(value, float) and math.isnan(value)) or value == ""
        else str(value).split("|")
    )


def score_kind(model: Recommender) -> str:
    """``estimated_rating`` when the model ranks by its rating estimates, else ``ranking_score``.

    A model estimates ratings when ``predicts_ratings`` is true and it ranks by them (KNN models with
    ``ranking="support"`` rank by neighbour support, not by the estimate).
    """
    if getattr(model, "predicts_ratings", False) and getattr(model, "ranking", "rating") == "rating":
        return "estimated_rating"
    return "ranking_score"


def supports_fold_in(model: Recommender) -> bool:
    """Whether ``model.recommend_new`` works at all (some models cannot fold in a new user)."""
    try:
        model.recommend_new(pd.Series({model.item_ids_[0]: float(model.global_mean_)}, dtype="float64"), 1)
    except NotImplementedError:
        return False
    except Exception as error:  # it may still work for other ratings: let each request try
        logger.warning("fold-in probe of %s failed: %r", type(model).__name__, error)
    return True


class BoundedCache:
    """A thread-safe LRU cache bounded by item count and by total size (``size(value)``, e.g. ``len``).

    Unlike ``functools.lru_cache`` on a bound method it holds no reference to its owner (no cycle, so a
    replaced :class:`ServingState` is freed at once), its size is bounded in bytes, and ``get`` only
    looks (so that the event loop can serve hits and hand misses to a thread).
    """

    def __init__(self, max_items: int, max_size: float = math.inf, size: Callable[[Any], int] = lambda _: 1) -> None:
        self.max_items, self.max_size, self._size = max_items, max_size, size
        self._data: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.size = 0

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key):
        """The cached value, or None."""
        with self._lock:
            found = self._data.get(key)
            if found is None:
                return None
            self._data.move_to_end(key)
            return found[0]

    def put(self, key, value) -> None:
        size = self._size(value)
        if size > self.max_size:
            return
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self.size -= old[1]
            self._data[key] = (value, size)
            self.size += size
            while len(self._data) > self.max_items or self.size > self.max_size:
                _, (_, dropped) = self._data.popitem(last=False)
                self.size -= dropped

    def get_or_compute(self, key, compute: Callable[[], Any]):
        found = self.get(key)
        if found is None:
            found = compute()
            self.put(key, found)
        return found


class ServingState:
    """Lookups and caches around a fitted model and the movies table.

    Args:
        model: a fitted ``Recommender`` (``recommend_all``, ``recommend_new``, ``popular``, ``ratings_``...).
        movies: ``movieId, title, year, genres`` (genres ``|``-separated).
        model_info: shown by ``/health`` (class, file, trained_at, version...).
        precompute: without ``published``, compute every user's top ``MAX_N`` now rather than on first request.
        rating_counts: ``movieId, ratings``: each movie's number of ratings in the whole data set (before
            filtering), shown and used by the title search; default: its ratings in the training data.
        reveal_ratings: ``because_you_rated`` of GET /users/{id}/recommendations quotes the user's own
            ratings (False: the movies only, so the API does not hand out who rated what how).
        published: ``userId, rank, movieId, score``: every user's top-N as the modeling pipeline published
            it (``all_recommendations``, from this very model). A request for at most that many movies is
            answered from it without running the model (see :meth:`answers`); a user the table lacks
            had nothing to recommend. None: the model computes each user's list.
        fold_in: whether the model can fold in a new user (None: find out by trying once).
    """

    def __init__(
        self,
        model: Recommender,
        movies: pd.DataFrame,
        model_info: dict[str, Any] | None = None,
        precompute: bool = True,
        rating_counts: pd.DataFrame | None = None,
        reveal_ratings: bool = True,
        published: pd.DataFrame | None = None,
        fold_in: bool | None = None,
    ) -> None:
        if not hasattr(model, "ratings_"):
            raise ArtifactsMissingError(f"the model {type(model).__name__} is not fitted.")
        self.model = model
        self.reveal_ratings = reveal_ratings
        self.user_ids = {int(u): row for row, u in enumerate(model.user_ids_)}
        self.item_ids = model.item_ids_
        self.item_cols = {int(i): col for col, i in enumerate(model.item_ids_)}
        if rating_counts is None:
            counts = np.asarray(model.ratings_.getnnz(axis=0))
            self.rating_counts = {int(i): int(c) for i, c in zip(model.item_ids_, counts)}
        else:
            self.rating_counts = dict(zip(rating_counts["movieId"].astype(int), rating_counts["ratings"].astype(int)))
        self._movies_table = movies[["movieId", "title", "year", "genres"]]
        self.movies: dict[int, dict[str, Any]] = {}
        for movie_id, title, year, genres in movies[["movieId", "title", "year", "genres"]].itertuples(index=False):
            self.movies[int(movie_id)] = {
                "movieId": int(movie_id),
                "title": str(title),
                "year": _year(year),
                "genres": _genres(genres),
            }
        self._search = [
            (search_keys(movie["title"]), -self.rating_counts.get(movie_id, 0), movie["title"], movie_id)
            for movie_id, movie in sorted(self.movies.items())
        ]
        self._similarity: ItemSimilarity | None = None
        self.explanations: ItemNeighbours = model.explanations_
        if self.explanations is None:  # a model trained before `train` stored them, or fitted elsewhere
            big = model.ratings_.nnz > 1_000_000
            logger.log(
                logging.WARNING if big else logging.DEBUG,
                "the model has no explanations_ (each movie's most similar movies, stored by `kedro run`): "
                "computing them now, which takes minutes on millions of ratings; re-run `kedro run` to store them.",
            )
            self.explanations = model.fit_explanations().explanations_
        self.score_kind = score_kind(model)
        self.fold_in = supports_fold_in(model) if fold_in is None else fold_in
        self.info = {
            "class": type(model).__name__,
            **(model_info or {}),
            "users": len(model.user_ids_),
            "movies": len(model.item_ids_),
            "ratings": int(model.ratings_.nnz),
            "catalog_movies": len(self.movies),
            "predicts_ratings": bool(getattr(model, "predicts_ratings", False)),
            "score_kind": self.score_kind,
            "fold_in": self.fold_in,
        }
        # user -> (movies, scores, depth): their top `depth` (or all of their candidates, when fewer)
        self._top: dict[int, tuple[np.ndarray, np.ndarray, int]] = {}
        self.published_top_n = 0
        if published is not None:
            self._publish(published)
            self.info["published_top_n"] = self.published_top_n
        elif precompute:
            self._precompute()
        self.files: tuple[Path, ...] = ()  # what `kedro serve --watch` watches (set by load_project_state)
        self.settings: ServeSettings | None = None  # conf's serving settings (set by load_project_state)
        self.model_file: tuple[Path, str] | None = None  # the model file and its verified sha256 (ditto)
        self._responses = BoundedCache(max_items=1 << 16, max_size=RESPONSE_CACHE_BYTES, size=len)
        self._similar = BoundedCache(max_items=SIMILAR_CACHE_ITEMS)
        gc.collect()
        gc.freeze()  # the lookups live for the process: keep them out of the collector's way (fewer pauses)

    @property
    def similarity(self) -> ItemSimilarity:
        """Item-item cosine on demand (built on first use: :meth:`similar_to` beyond the precomputed
        explanations needs it)."""
        if self._similarity is None:
            self._similarity = ItemSimilarity(self.model.data_.csc if hasattr(self.model, "data_") else self.model.ratings_)
        return self._similarity

    def worker_source(self, nice: int = 0):
        """What a model worker process (:mod:`.workers`) builds the same state from (``nice``: its CPU
        priority below this process's)."""
        from movie_recommender.api.workers import WorkerSource

        common = {"movies": self._movies_table, "info": {}, "fold_in": self.fold_in, "reveal_ratings": self.reveal_ratings,
                  "nice": nice}  # fmt: skip
        if self.model_file is not None:  # the file the run manifest lists, and the sha256 checked here
            return WorkerSource(model_path=str(self.model_file[0]), sha256=self.model_file[1], **common)
        return WorkerSource(model_bytes=pickle.dumps(self.model, protocol=pickle.HIGHEST_PROTOCOL), **common)

    # ------------------------------------------------------------ lookups
    def movie(self, movie_id: int) -> dict[str, Any]:
        """Title, year, genres of a movie (placeholders when the movies table lacks it)."""
        found = self.movies.get(movie_id)
        return found if found is not None else {"movieId": movie_id, "title": None, "year": None, "genres": []}

    def require_user(self, user_id: int) -> int:
        row = self.user_ids.get(user_id)
        if row is None:
            raise UnknownError(  # which ids exist is not said: no walking the id range
                f"user {user_id} is unknown to the model (users with too few ratings are dropped). "
                "New users: POST /recommendations with their ratings."
            )
        return row

    def require_movie_col(self, movie_id: int) -> int:
        col = self.item_cols.get(movie_id)
        if col is None:
            if movie_id in self.movies:
                raise UnknownError(
                    f"movie {movie_id} ({self.movies[movie_id]['title']}) has too few ratings to be in the model."
                )
            raise UnknownError(f"movie {movie_id} is unknown. Search titles with GET /movies?query=...")
        return col

    # ------------------------------------------------------------ per-user top-N
    def _store(self, table: pd.DataFrame, depth: int) -> None:
        """Keep each user's rows of a ``userId, rank, movieId, score`` table (by user, then rank)."""
        table = table.sort_values(["userId", "rank"], kind="stable")
        users = table["userId"].to_numpy()
        items = table["movieId"].to_numpy(dtype=np.int64)
        scores = table["score"].to_numpy(dtype=np.float64)
        bounds = np.flatnonzero(np.diff(users)) + 1
        for start, end in zip(np.r_[0, bounds], np.r_[bounds, len(users)]):
            if end > start:
                self._top[int(users[start])] = (items[start:end], scores[start:end], depth)

    def _precompute(self) -> None:
        self._store(self.model.recommend_all(MAX_N), MAX_N)

    def _publish(self, table: pd.DataFrame) -> None:
        """Serve ``table`` (the published lists): checked to be this model's users and movies."""
        missing = sorted(set(PUBLISHED_COLUMNS) - set(table.columns))
        if missing:
            raise ArtifactsMissingError(f"{PUBLISHED_DATASET} lacks the columns {missing}: re-create it with `kedro run`.")
        foreign = ~np.isin(table["userId"].to_numpy(), self.model.user_ids_) | ~np.isin(
            table["movieId"].to_numpy(), self.model.item_ids_
        )
        if foreign.any():
            row = table[foreign].iloc[0]
            raise ArtifactsMissingError(
                f"{PUBLISHED_DATASET} does not belong to the model: it recommends movie {int(row['movieId'])} to "
                f"user {int(row['userId'])}, and the model does not know both. Re-create both with `kedro run`."
            )
        self.published_top_n = int(table["rank"].max()) if len(table) else 0
        self._store(table, self.published_top_n)
        empty = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64), self.published_top_n
        for user in self.user_ids.keys() - self._top.keys():  # published nothing: no movie left to recommend
            self._top[user] = empty

    def answers(self, user_id: int, n: int) -> bool:
        """Whether the user's top ``n`` is known without running the model (published or computed before).

        A list of depth d answers any n <= d; one shorter than its depth holds all the user's candidates.
        """
        found = self._top.get(user_id)
        return found is not None and (n <= found[2] or len(found[0]) < found[2])

    def top(self, user_id: int, n: int = MAX_N) -> tuple[np.ndarray, np.ndarray]:
        """The user's top ``n`` (movies, scores): from the lists held, else computed by the model (top MAX_N)."""
        if not self.answers(user_id, n):
            table = self.model.recommend(user_id, MAX_N)
            movies, scores = table["movieId"].to_numpy(dtype=np.int64), table["score"].to_numpy(dtype=np.float64)
            self._top[user_id] = (movies, scores, MAX_N)
        items, scores, _ = self._top[user_id]
        return items[:n], scores[:n]

    def because(self, user_id: int, items: np.ndarray) -> tuple[tuple[dict, ...], ...]:
        """For each of ``items``, the movies the user rated that are most similar to it."""
        row = self.require_user(user_id)
        matrix = self.model.ratings_
        lo, hi = matrix.indptr[row], matrix.indptr[row + 1]
        rated, values = matrix.indices[lo:hi], matrix.data[lo:hi]  # the user's row, without scipy's slicing
        if not matrix.has_sorted_indices:  # RatingData's are sorted; checked once, then a flag
            order = np.argsort(rated, kind="stable")
            rated, values = rated[order], values[order]
        targets = [self.item_cols[int(i)] for i in items]
        reasons = self.explanations.because(rated, values, targets, k=REASONS)
        quoted = np.array([col for reason in reasons for col, _ in reason], dtype=np.intp)
        ratings = dict(zip(quoted.tolist(), values[np.searchsorted(rated, quoted)].tolist()))
        return tuple(
            tuple(
                {
                    "movieId": int(self.item_ids[col]),
                    "title": self.movie(int(self.item_ids[col]))["title"],
                    **({"rating": ratings[col]} if self.reveal_ratings else {}),
                    "similarity": round(sim, 4),
                }
                for col, sim in reason
            )
            for reason in reasons
        )

    def cached_user_response(self, user_id: int, n: int) -> bytes | None:
        """The cached body of GET /users/{user_id}/recommendations?n=n, or None (no work done)."""
        return self._responses.get((user_id, n))

    def user_response(self, user_id: int, n: int) -> bytes:
        """The JSON body of GET /users/{user_id}/recommendations?n=n (cached, within a byte budget)."""
        return self._responses.get_or_compute((user_id, n), lambda: self._user_response(user_id, n))

    def cache_user_response(self, user_id: int, n: int, body: bytes) -> None:
        """Cache a body computed elsewhere (a model worker)."""
        self._responses.put((user_id, n), body)

    def _user_response(self, user_id: int, n: int) -> bytes:
        self.require_user(user_id)
        items, scores = self.top(user_id, n)
        because = self.because(user_id, items)  # each movie's reasons depend on it alone
        recommendations = [
            {
                "rank": rank,
                **self.movie(int(item)),
                "score": round(float(score), 4),
                "because_you_rated": list(because[rank - 1]),
            }
            for rank, item, score in zip(range(1, n + 1), items[:n], scores[:n])
        ]
        body = {"userId": user_id, "model": self.info["class"], "strategy": "personalized"}
        body.update(self._kind(self.score_kind))
        return orjson.dumps({**body, "recommendations": recommendations})

    @staticmethod
    def _kind(kind: str) -> dict[str, str]:
        return {"score_kind": kind, "score_description": SCORE_KINDS[kind]}

    # ------------------------------------------------------------ new users
    def recommend_new(self, ratings: dict[int, float], n: int) -> dict[str, Any]:
        """Fold-in recommendations for a new user; popular movies when none of their ratings is usable."""
        known = {movie: rating for movie, rating in ratings.items() if movie in self.item_cols}
        ignored = sorted(set(ratings) - set(known))
        strategy, note = "fold-in", None
        table = None
        if known and not self.fold_in:
            note = f"{self.info['class']} cannot fold in a new user: most rated movies instead"
        elif known:
            try:
                table = self.model.recommend_new(pd.Series(known, dtype="float64"), n)
            except NoUsableRatingsError:
                note = "none of the rated movies is known to the model"
            except NotImplementedError as error:
                note = str(error)
            except Exception as error:  # a model-specific failure must not become a 500: fall back
                logger.exception("fold-in failed")
                note = f"fold-in failed ({type(error).__name__})"
            if table is not None and table.empty:
                table, note = None, "the model could not score any movie for these ratings"
        else:
            note = "no rating names a movie known to the model" if ratings else "no ratings given"
        if table is None:
            strategy = "popular"
            table = self.model.popular(n, exclude=list(known))
        cols = [self.item_cols[int(i)] for i in table["movieId"]]
        reasons = (
            self.explanations.because([self.item_cols[m] for m in known], list(known.values()), cols, k=REASONS)
            if known and strategy == "fold-in"
            else [[] for _ in cols]
        )
        recommendations = [
            {
                "rank": int(rank),
                **self.movie(int(item)),
                "score": round(float(score), 4),
                "because_you_rated": [
                    {
                        "movieId": int(self.item_ids[col]),
                        "title": self.movie(int(self.item_ids[col]))["title"],
                        "rating": known[int(self.item_ids[col])],
                        "similarity": round(sim, 4),
                    }
                    for col, sim in reason
                ],
            }
            for rank, item, score, reason in zip(table["rank"], table["movieId"], table["score"], reasons)
        ]
        kind = self.score_kind if strategy == "fold-in" else "rating_count"
        result = {"model": self.info["class"], "strategy": strategy, "used_ratings": len(known), **self._kind(kind)}
        if ignored:
            result["ignored_movieIds"] = ignored[:100]
        if note:
            result["note"] = note
        return {**result, "recommendations": recommendations}

    # ------------------------------------------------------------ movies
    def cached_similar_to(self, movie_id: int) -> tuple[dict, ...] | None:
        """The cached movies most similar to one, or None (no work done)."""
        return self._similar.get(movie_id)

    def similar_to(self, movie_id: int) -> tuple[dict, ...]:
        """The ``MAX_N`` movies most similar to one, best first (cached)."""
        col = self.require_movie_col(movie_id)
        return self._similar.get_or_compute(movie_id, lambda: self._similar_to(col))

    def _similar_to(self, col: int) -> tuple[dict, ...]:
        stored = self.explanations.most_similar(col, MAX_N)
        cols, sims = stored if stored is not None else self.similarity.most_similar(col, MAX_N)
        return tuple(
            {**self.movie(int(self.item_ids[c])), "similarity": round(float(s), 4)} for c, s in zip(cols, sims)
        )

    def search(self, query: str, limit: int) -> list[dict[str, Any]]:
        """Movies whose title contains ``query`` (case-insensitive, spaces collapsed), best match first.

        The exact title first, then titles holding the query as whole words, then as the start of a word,
        then anywhere; within each, the most rated movies (whole data set) first, then by title.
        A trailing article counts at the front too ("Shawshank Redemption, The" matches "the shawshank").
        """
        needle = " ".join(query.casefold().split())
        if not needle:
            return []
        found = []
        for keys, minus_count, title, movie_id in self._search:
            tier = match_tier(needle, keys)
            if tier is not None:
                found.append((tier, minus_count, title, movie_id))
        return [
            {**self.movies[movie_id], "ratings": self.rating_counts.get(movie_id, 0)}
            for *_, movie_id in heapq.nsmallest(limit, found)
        ]


_TRAILING_ARTICLE = re.compile(r"^(?P<rest>.*), (?P<article>the|a|an|les|la|le|il|el|das|der|die|l')$")


def search_keys(title: str) -> tuple[str, ...]:
    """The casefolded title, spaces collapsed, and the same with a trailing ", The" moved to the front."""
    key = " ".join(title.casefold().split())
    moved = _TRAILING_ARTICLE.match(key)
    if moved is None:
        return (key,)
    article, rest = moved["article"], moved["rest"]
    return key, f"{article}{rest}" if article.endswith("'") else f"{article} {rest}"


def match_tier(needle: str, keys: tuple[str, ...]) -> int | None:
    """0: a key is ``needle``; 1: ``needle`` is whole words of a key; 2: the start of a word; 3: elsewhere;
    None: no match."""
    best = None
    for key in keys:
        start = key.find(needle)
        while start != -1:
            if key == needle:
                return 0
            at_word_start = start == 0 or not key[start - 1].isalnum()
            end = start + len(needle)
            at_word_end = end == len(key) or not key[end].isalnum()
            tier = 3 - at_word_start - (at_word_start and at_word_end)
            best = tier if best is None else min(best, tier)
            if best == 1:
                break
            start = key.find(needle, start + 1)
    return best


# ---------------------------------------------------------------------- loading
def _root_cause(error: BaseException) -> BaseException:
    while error.__cause__ is not None:
        error = error.__cause__
    return error


def _credentials(context) -> dict[str, Any]:
    """conf's credentials (none is fine: the API key is optional)."""
    from kedro.config import MissingConfigException

    try:
        return dict(context.config_loader["credentials"])
    except MissingConfigException:
        return {}


def _require_model(model: Any, where: str) -> None:
    """A fitted model of this project, or one clear line (never a raw AttributeError later on)."""
    fitted = all(hasattr(model, name) for name in ("ratings_", "user_ids_", "item_ids_"))
    if not isinstance(model, Recommender) or not fitted:
        what = type(model).__name__ if isinstance(model, Recommender) else f"a {type(model).__name__}"
        raise ArtifactsMissingError(
            f"{MODEL_DATASET} ({where}) is not a fitted movie_recommender model ({what}{'' if fitted else ', not fitted'}"
            "): refusing it. Re-create it with `kedro run`."
        )


def _require_lists_of_model(manifest, fingerprints: dict[str, dict], command: str) -> None:
    """The published lists were computed from the model being served: by the run that trained it, or by a
    later run that read this very model file (``kedro run --nodes recommend_all,publish_recommendations``)."""
    from movie_recommender.datasets.manifest import ManifestError

    lists_run = manifest.artifacts[PUBLISHED_DATASET].get("run")
    if lists_run == manifest.artifacts[MODEL_DATASET].get("run"):
        return
    read = manifest.runs.get(lists_run, {}).get("inputs", {}).get(MODEL_DATASET, {})
    if read.get("sha256") != fingerprints[MODEL_DATASET]["sha256"]:
        raise ManifestError(
            f"{PUBLISHED_DATASET} and {MODEL_DATASET} do not belong together: the published lists come from run "
            f"{lists_run}, which did not use this model. Refusing them; run `{command}`."
        )


def load_project_state(
    project_path: str | Path = ".",
    env: str | None = None,
    dataset: str | None = None,
    version: str | None = None,
) -> ServingState:
    """Load the model, movies and published lists written by ``kedro run`` through the project's Kedro catalog.

    ``dataset``: the release whose outputs to serve (``kedro run --params dataset=...``); all of them
    come from that release's folders, so a model is never served with another release's movies.

    They come from a version folder (``model_versions`` in the catalog,
    :mod:`movie_recommender.datasets.versions`): ``version`` (pinned), else the current version, else
    the newest complete one. A project with no complete version yet (trained before versions existed) is
    served from the files the last run wrote.

    All must be the files the (version's) run manifest lists, and from runs that agree (the model's run read
    these movies; the published lists ``all_recommendations`` were computed from this model, by its run or by
    a later one that read it); the model is unpickled, and the lists parsed, from the very bytes whose
    checksum was checked. Anything else is refused with an :class:`ArtifactsMissingError` saying what to run.
    """
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from movie_recommender.datasets.manifest import (
        ManifestError,
        catalog_dataset,
        display_path,
        load_manifest,
        local_path,
    )
    from movie_recommender.datasets.versions import (
        CURRENT_REMEDY,
        PINNED_REMEDY,
        POINTER,
        VERSION_MANIFEST,
        VERSIONS_DATASET,
        VersionError,
        relocated,
    )

    root = Path(project_path).resolve()
    if not (root / "pyproject.toml").is_file():
        raise ArtifactsMissingError(f"{root} is not the movie_recommender project (no pyproject.toml).")
    bootstrap_project(root)
    runtime_params = {"dataset": dataset} if dataset else None
    with KedroSession.create(project_path=root, env=env, runtime_params=runtime_params) as session:
        context = session.load_context()
        try:
            get_release(context.params.get("dataset", DEFAULT_DATASET), context.params.get("custom_datasets"))
        except UnknownDatasetError as error:
            raise ArtifactsMissingError(str(error).replace("kedro run --params dataset=", "kedro serve --dataset ")) from None
        catalog = context.catalog
        command = f"kedro run --params dataset={dataset}" if dataset else "kedro run"
        try:
            settings = ServeSettings.from_config(context.params.get("serving"), _credentials(context))
        except UserError as error:
            raise ArtifactsMissingError(str(error)) from None
        versions = catalog_dataset(catalog, VERSIONS_DATASET)
        try:
            served = versions.resolve(version) if versions is not None else None
        except VersionError as error:
            raise ArtifactsMissingError(str(error)) from None
        if version and served is None:
            raise ArtifactsMissingError(f"the catalog declares no {VERSIONS_DATASET}: cannot pin version {version}.")
        paths, loaders = {}, {}
        for name in (MODEL_DATASET, MOVIES_DATASET, COUNTS_DATASET, PUBLISHED_DATASET):
            dataset_of = catalog_dataset(catalog, name)
            path = local_path(dataset_of)
            if path is None:
                raise ArtifactsMissingError(f"{name} must be a local file in the catalog to be served.")
            if served is not None:  # the version's own copy, read with the catalog entry's arguments
                path = served.file(name)
                dataset_of = relocated(dataset_of, name, path)
            path = path if path.is_absolute() else root / path
            if not path.is_file():
                where = display_path(path, root)
                raise ArtifactsMissingError(f"{name} ({where}) is missing: run `{command}` in {root} first.")
            paths[name], loaders[name] = path, dataset_of
        where = display_path(paths[MODEL_DATASET], root)
        reading = MODEL_DATASET
        # a version's file that no longer matches its manifest: named with the version, and what to do about it
        remedy = {} if served is None else {"remedy": PINNED_REMEDY if version else CURRENT_REMEDY}
        try:
            if served is not None:
                manifest = served.manifest_of(display_path(served.path / VERSION_MANIFEST, root))
                for name in served.files.keys() - paths.keys():  # every other file of the version is checked too
                    manifest.verify_file(name, root / served.file(name), **remedy)
            else:
                manifest = load_manifest(catalog)
            if manifest is None:
                raise ManifestError("the catalog declares no run_manifest, so the model cannot be checked")
            fingerprints = manifest.verify_together(paths, **remedy)
            _require_lists_of_model(manifest, fingerprints, command)
            model = manifest.load_pickle(MODEL_DATASET, paths[MODEL_DATASET], **remedy)
            reading = MOVIES_DATASET
            movies = loaders[MOVIES_DATASET].load()
            reading = COUNTS_DATASET
            counts = loaders[COUNTS_DATASET].load()
            reading = PUBLISHED_DATASET
            published = pd.read_csv(
                io.BytesIO(manifest.read_verified(PUBLISHED_DATASET, paths[PUBLISHED_DATASET], **remedy)),
                usecols=list(PUBLISHED_COLUMNS),
                dtype=PUBLISHED_COLUMNS,
            )
        except ManifestError as error:
            raise ArtifactsMissingError(str(error)) from error
        except Exception as error:
            cause = _root_cause(error)  # not Kedro's wrapper, which repeats the dataset and path
            raise ArtifactsMissingError(
                f"cannot read {reading} ({display_path(paths[reading], root)}): {cause} ({type(cause).__name__}). "
                "Re-create it with `kedro run`."
            ) from error
        manifest_path = local_path(catalog_dataset(catalog, "run_manifest"))
    _require_model(model, where)
    if not {"movieId", "ratings"} <= set(counts.columns):
        raise ArtifactsMissingError(
            f"{COUNTS_DATASET} lacks the columns movieId, ratings: re-create it with `kedro run` in {root}."
        )
    run = manifest.run_of(MODEL_DATASET)
    info = {
        "file": where,
        "trained_at": run.get("finished_at"),
        "version": fingerprints[MODEL_DATASET]["sha256"][:12],
        "bytes": fingerprints[MODEL_DATASET]["bytes"],
        "run": manifest.artifacts[MODEL_DATASET].get("run"),
        "dataset": run.get("dataset"),
        "model_version": served.id if served is not None else None,
        "pinned": bool(version),
    }
    state = ServingState(
        model,
        movies,
        model_info=info,
        rating_counts=counts,
        reveal_ratings=settings.because_you_rated_ratings,
        published=published,
    )
    state.settings = settings
    state.model_file = (paths[MODEL_DATASET], fingerprints[MODEL_DATASET]["sha256"])
    # what --watch checks: the version pointer (a run or a rollback replaces it); nothing when pinned; the
    # model and manifest too while no version exists (the first version then takes over)
    pointer = (versions.path / POINTER,) if versions is not None else ()
    if version:
        watched = ()
    elif served is not None:
        watched = pointer
    else:
        watched = (paths[MODEL_DATASET], *((manifest_path,) if manifest_path else ()), *pointer)
    state.files = tuple(p if p.is_absolute() else root / p for p in watched)
    state.versions = versions
    return state
