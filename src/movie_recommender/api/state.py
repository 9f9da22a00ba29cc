"""What the API serves, precomputed once: movie lookups, every user's top-N, cached explanations.

No FastAPI here. :func:`load_project_state` reads the artifacts of ``kedro run`` through the Kedro
catalog; :class:`ServingState` works on any fitted ``Recommender`` and movies table (tests use small
synthetic ones).
"""

from __future__ import annotations

import gc
import hashlib
import logging
import math
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from movie_recommender.recsys.base import NoUsableRatingsError, Recommender
from movie_recommender.recsys.explain import ItemSimilarity

logger = logging.getLogger(__name__)

MAX_N = 100  # the largest n any endpoint accepts; every user's top MAX_N is precomputed
REASONS = 3  # rated movies quoted per recommendation
SHORT = 10  # explanations are computed for the top SHORT, or for the top MAX_N when more are asked for
MODEL_DATASET, MOVIES_DATASET = "recommender", "movies"


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


class ServingState:
    """Lookups and caches around a fitted model and the movies table.

    Args:
        model: a fitted ``Recommender`` (``recommend_all``, ``recommend_new``, ``popular``, ``ratings_``...).
        movies: ``movieId, title, year, genres`` (genres ``|``-separated).
        model_info: shown by ``/health`` (class, file, trained_at, version...).
        precompute: compute every user's top ``MAX_N`` now (fast requests) rather than on first request.
    """

    def __init__(
        self,
        model: Recommender,
        movies: pd.DataFrame,
        model_info: dict[str, Any] | None = None,
        precompute: bool = True,
    ) -> None:
        if not hasattr(model, "ratings_"):
            raise ArtifactsMissingError(f"the model {type(model).__name__} is not fitted.")
        self.model = model
        self.user_ids = {int(u): row for row, u in enumerate(model.user_ids_)}
        self.item_ids = model.item_ids_
        self.item_cols = {int(i): col for col, i in enumerate(model.item_ids_)}
        counts = np.asarray(model.ratings_.getnnz(axis=0))
        self.rating_counts = {int(i): int(c) for i, c in zip(model.item_ids_, counts)}
        self.movies: dict[int, dict[str, Any]] = {}
        for movie_id, title, year, genres in movies[["movieId", "title", "year", "genres"]].itertuples(index=False):
            self.movies[int(movie_id)] = {
                "movieId": int(movie_id),
                "title": str(title),
                "year": _year(year),
                "genres": _genres(genres),
            }
        self._search = [(movie["title"].casefold(), movie_id) for movie_id, movie in sorted(self.movies.items())]
        self.similarity = ItemSimilarity(model.ratings_)
        self.info = {
            "class": type(model).__name__,
            **(model_info or {}),
            "users": len(model.user_ids_),
            "movies": len(model.item_ids_),
            "ratings": int(model.ratings_.nnz),
            "catalog_movies": len(self.movies),
        }
        self._top: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if precompute:
            self._precompute()
        self.user_response = lru_cache(maxsize=8192)(self._user_response)
        self.because = lru_cache(maxsize=4096)(self._because)
        self.similar_to = lru_cache(maxsize=4096)(self._similar_to)
        gc.collect()
        gc.freeze()  # the lookups live for the process: keep them out of the collector's way (fewer pauses)

    # ------------------------------------------------------------ lookups
    def movie(self, movie_id: int) -> dict[str, Any]:
        """Title, year, genres of a movie (placeholders when the movies table lacks it)."""
        found = self.movies.get(movie_id)
        return found if found is not None else {"movieId": movie_id, "title": None, "year": None, "genres": []}

    def require_user(self, user_id: int) -> int:
        row = self.user_ids.get(user_id)
        if row is None:
            ids = self.model.user_ids_
            raise UnknownError(
                f"user {user_id} is unknown: the model knows {len(ids)} users with ids {ids.min()}-{ids.max()} "
                "(users with too few ratings are dropped). New users: POST /recommendations with their ratings."
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
    def _precompute(self) -> None:
        table = self.model.recommend_all(MAX_N)
        users = table["userId"].to_numpy()
        items, scores = table["movieId"].to_numpy(), table["score"].to_numpy(dtype=np.float64)
        bounds = np.flatnonzero(np.diff(users)) + 1
        for start, end in zip(np.r_[0, bounds], np.r_[bounds, len(users)]):
            if end > start:
                self._top[int(users[start])] = (items[start:end], scores[start:end])

    def top(self, user_id: int) -> tuple[np.ndarray, np.ndarray]:
        found = self._top.get(user_id)
        if found is None:
            table = self.model.recommend(user_id, MAX_N)
            found = self._top[user_id] = (table["movieId"].to_numpy(), table["score"].to_numpy(dtype=np.float64))
        return found

    def _because(self, user_id: int, depth: int) -> tuple[tuple[dict, ...], ...]:
        """For each of the user's top ``depth``, the rated movies most similar to it."""
        row = self.require_user(user_id)
        items, _ = self.top(user_id)
        items = items[:depth]
        rated = self.model.ratings_[row]
        targets = [self.item_cols[int(i)] for i in items]
        reasons = self.similarity.because(rated.indices, rated.data, targets, k=REASONS)
        ratings = dict(zip(rated.indices.tolist(), rated.data.tolist()))
        return tuple(
            tuple(
                {
                    "movieId": int(self.item_ids[col]),
                    "title": self.movie(int(self.item_ids[col]))["title"],
                    "rating": ratings[col],
                    "similarity": round(sim, 4),
                }
                for col, sim in reason
            )
            for reason in reasons
        )

    def _user_response(self, user_id: int, n: int) -> bytes:
        """The JSON body of GET /users/{user_id}/recommendations?n=n (cached)."""
        self.require_user(user_id)
        items, scores = self.top(user_id)
        because = self.because(user_id, SHORT if n <= SHORT else MAX_N)  # most requests: cheap, n <= 10
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
        return orjson.dumps({**body, "recommendations": recommendations})

    # ------------------------------------------------------------ new users
    def recommend_new(self, ratings: dict[int, float], n: int) -> dict[str, Any]:
        """Fold-in recommendations for a new user; popular movies when none of their ratings is usable."""
        known = {movie: rating for movie, rating in ratings.items() if movie in self.item_cols}
        ignored = sorted(set(ratings) - set(known))
        strategy, note = "fold-in", None
        table = None
        if known:
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
            self.similarity.because([self.item_cols[m] for m in known], list(known.values()), cols, k=REASONS)
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
        result = {"model": self.info["class"], "strategy": strategy, "used_ratings": len(known)}
        if ignored:
            result["ignored_movieIds"] = ignored[:100]
        if note:
            result["note"] = note
        return {**result, "recommendations": recommendations}

    # ------------------------------------------------------------ movies
    def _similar_to(self, movie_id: int) -> tuple[dict, ...]:
        col = self.require_movie_col(movie_id)
        cols, sims = self.similarity.most_similar(col, MAX_N)
        return tuple(
            {**self.movie(int(self.item_ids[c])), "similarity": round(float(s), 4)} for c, s in zip(cols, sims)
        )

    def search(self, query: str, limit: int) -> list[dict[str, Any]]:
        """Movies whose title contains ``query`` (case-insensitive), by movieId."""
        needle = query.casefold().strip()
        found = []
        for title, movie_id in self._search:
            if needle in title:
                found.append({**self.movies[movie_id], "ratings": self.rating_counts.get(movie_id, 0)})
                if len(found) >= limit:
                    break
        return found


# ---------------------------------------------------------------------- loading
def _file_info(path: Path | None) -> dict[str, Any]:
    if path is None or not path.is_file():
        return {}
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    stat = path.stat()
    return {
        "file": str(path),
        "trained_at": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(timespec="seconds"),
        "version": digest.hexdigest()[:12],
        "bytes": stat.st_size,
    }


def load_project_state(project_path: str | Path = ".", env: str | None = None, precompute: bool = True) -> ServingState:
    """Load the model and movies written by ``kedro run`` through the project's Kedro catalog."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    root = Path(project_path).resolve()
    if not (root / "pyproject.toml").is_file():
        raise ArtifactsMissingError(f"{root} is not the movie_recommender project (no pyproject.toml).")
    bootstrap_project(root)
    with KedroSession.create(project_path=root, env=env) as session:
        catalog = session.load_context().catalog
        loaded = {}
        for name in (MODEL_DATASET, MOVIES_DATASET):
            dataset = catalog.get(name)
            where = getattr(dataset, "_filepath", None)
            if not catalog.exists(name):
                raise ArtifactsMissingError(
                    f"{name} ({where or 'see conf/base/catalog.yml'}) is missing: run `kedro run` in {root} first."
                )
            try:
                loaded[name] = catalog.load(name)
            except Exception as error:
                raise ArtifactsMissingError(
                    f"cannot read {name} ({where}): {error}. Re-create it with `kedro run`."
                ) from error
    model_path = getattr(catalog.get(MODEL_DATASET), "_filepath", None)
    info = _file_info(Path(str(model_path)) if model_path else None)
    return ServingState(loaded[MODEL_DATASET], loaded[MOVIES_DATASET], model_info=info, precompute=precompute)
