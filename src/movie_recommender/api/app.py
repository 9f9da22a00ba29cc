"""The HTTP API (FastAPI): recommendations, explanations, similar movies, title search, fold-in.

``GET /users/{id}/recommendations`` serves the lists the pipeline published (held by
:class:`ServingState`), so the hot path is a dictionary lookup returning cached JSON bytes; a cache
miss (explanations, similar movies) is computed in a thread, never on the event loop. What runs the
model (fold-in, and a GET for more movies than were published) goes to the model worker processes
(:mod:`.workers`, ``serving.fold_in_workers``; 0: threads of this process), at most
``serving.max_concurrent_fold_ins`` at once. Unknown users and movies answer 404, bad parameters or
bodies 422; no input produces a 500.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path as FilePath
from typing import Annotated, Any

import orjson
from fastapi import Body, FastAPI, Path, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from movie_recommender import __version__
from movie_recommender.api.guard import API_KEY_HEADER, FoldInSlots, Guard, RefuseWhenFull, ServeSettings
from movie_recommender.api.state import MAX_N, SCORE_KINDS, ServingState, UnknownError
from movie_recommender.api.workers import ModelWorkers, WorkerError

logger = logging.getLogger(__name__)

N = Annotated[int, Query(ge=1, le=MAX_N, description=f"How many movies, 1-{MAX_N}.")]
# movieIds accepted in bodies: the integers every JSON parser holds exactly (doubles), so the bounds the
# schema states are the ones applied, whatever reads the schema
MOVIE_ID_MIN, MOVIE_ID_MAX = -(2**53 - 1), 2**53 - 1
MOVIE_ID = Annotated[int, Path(description="A MovieLens movieId.")]
USER_ID = Annotated[int, Path(description="A MovieLens userId known to the model.")]


class JSON(JSONResponse):
    """orjson-encoded JSON; bytes are sent as they are (pre-encoded, cached bodies)."""

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else orjson.dumps(content)


# --------------------------------------------------------------------- schemas (for /docs)
SCORE_KIND_HELP = "What `score` is: " + "; ".join(f"`{kind}`: {text}" for kind, text in SCORE_KINDS.items()) + "."


class Movie(BaseModel):
    movieId: int
    title: str | None
    year: int | None
    genres: list[str]


class RatedMovie(BaseModel):
    movieId: int
    title: str | None
    rating: float | None = Field(
        None, description="The user's own rating of it (left out when `serving.because_you_rated_ratings` is false)."
    )
    similarity: float = Field(description="Item-item cosine similarity with the recommended movie.")


class Recommendation(Movie):
    rank: int
    score: float = Field(description="The model's score; what it means: `score_kind` of the response.")
    because_you_rated: list[RatedMovie] = Field(description="The user's rated movies most similar to this one.")


class UserRecommendations(BaseModel):
    userId: int
    model: str
    strategy: str = Field(examples=["personalized"])
    score_kind: str = Field(description=SCORE_KIND_HELP, examples=["estimated_rating"])
    score_description: str
    recommendations: list[Recommendation]


class NewUserRecommendations(BaseModel):
    model: str
    strategy: str = Field(description="`fold-in`, or `popular` when no rating is usable.")
    used_ratings: int
    ignored_movieIds: list[int] = Field(default=[], description="Rated movies the model does not know.")
    note: str | None = None
    score_kind: str = Field(description=SCORE_KIND_HELP, examples=["estimated_rating"])
    score_description: str
    recommendations: list[Recommendation]


class NewRating(BaseModel):
    """Strict: a JSON integer movieId and a JSON number rating (no booleans, strings or 1.0 for an id)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    movieId: int = Field(ge=MOVIE_ID_MIN, le=MOVIE_ID_MAX, description="A MovieLens movieId.")
    rating: float = Field(ge=0.5, le=5.0, allow_inf_nan=False)


class SimilarMovie(Movie):
    similarity: float


class SimilarMovies(BaseModel):
    movie: Movie
    similar: list[SimilarMovie]


class FoundMovie(Movie):
    ratings: int = Field(description="The movie's ratings in the whole data set, before filtering.")


class MovieSearch(BaseModel):
    query: str
    movies: list[FoundMovie]


class Health(BaseModel):
    status: str
    version: str
    model: dict[str, Any]


class Problem(BaseModel):
    detail: str


NOT_FOUND = {404: {"model": Problem, "description": "Unknown user or movie"}}


# --------------------------------------------------------------------- the app
def _signature(paths: tuple[FilePath, ...]) -> tuple:
    """What changes when any of the files is replaced, appears or disappears."""
    stats = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            stats.append(None)
            continue
        stats.append((stat.st_mtime_ns, stat.st_size, stat.st_ino))
    return tuple(stats)


def _refreeze() -> None:
    """Unfreeze, collect and freeze again: objects frozen with the previous state become collectable."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class Serving:
    """A :class:`ServingState` and what runs its model: ``settings.fold_in_workers`` processes, or threads (0)."""

    def __init__(self, state: ServingState, settings: ServeSettings) -> None:
        self.state, self.size, self.nice = state, settings.fold_in_workers, settings.fold_in_worker_nice
        self.pool: ModelWorkers | None = None

    def start(self) -> ModelWorkers | None:
        """Start the worker processes (on the running event loop), if there are to be any."""
        if self.pool is None and self.size:
            self.pool = ModelWorkers(self.state.worker_source(self.nice), self.size)
            self.pool.start()
        return self.pool

    async def fold_in(self, ratings: dict[int, float], n: int) -> bytes:
        pool = self.start()
        if pool is None:
            return orjson.dumps(await run_in_threadpool(self.state.recommend_new, ratings, n))
        return await pool.run("fold_in", ratings, n)

    async def user_response(self, user_id: int, n: int) -> bytes:
        """A user's list that only the model can compute (more movies than were published)."""
        pool = self.start()
        if pool is None:
            return await run_in_threadpool(self.state.user_response, user_id, n)
        body = await pool.run("user", user_id, n)
        self.state.cache_user_response(user_id, n, body)
        return body

    def retire(self) -> None:
        if self.pool is not None:
            self.pool.retire()


def create_app(
    state: ServingState,
    reload: Callable[[], ServingState] | None = None,
    watch: FilePath | Sequence[FilePath] | None = None,
    interval: float = 10.0,
    settings: ServeSettings | None = None,
    loopback_only: bool = False,
) -> FastAPI:
    """The API over a loaded :class:`ServingState`.

    With ``reload`` and ``watch`` (the version pointer, or the model file and the run manifest), the files
    are checked every ``interval`` seconds; when one has been renamed into place (``kedro run``, ``kedro model
    rollback``), ``reload()`` builds a new state in a thread and requests switch to it at once. Until then,
    and if reloading fails (e.g. a model the run manifest does not list yet), the current state serves.
    From then on the files watched are the new state's ``files`` when it has some.

    ``settings`` (:class:`~movie_recommender.api.guard.ServeSettings`): the API key, body limits, the
    bound on concurrent model requests and the number of model worker processes (a new pool for each
    reloaded model; the old one stops once its requests are answered); ``loopback_only``: refuse Host
    headers other than localhost's.
    """
    settings = settings or ServeSettings()
    fold_ins = FoldInSlots(settings.max_concurrent_fold_ins)
    busy = {"Retry-After": str(settings.retry_after_seconds)}
    current = [Serving(state, settings)]  # requests read current[0]; a reload swaps it at once
    watch = (watch,) if isinstance(watch, FilePath) else tuple(watch or ())

    async def watch_model():
        watched = watch
        last = _signature(watched)
        while True:
            await asyncio.sleep(interval)
            seen = _signature(watched)
            if seen == last:
                continue
            last = seen
            try:
                new = Serving(await asyncio.to_thread(reload), settings)
            except Exception as error:
                logger.warning("Keeping the current model: reloading failed: %s", error)
                continue
            if new.start() is not None:
                try:  # its workers load the model before it serves: no request waits for them
                    await new.pool.ready()
                except WorkerError as error:
                    new.pool.close()
                    logger.warning("Keeping the current model: %s", error)
                    continue
            old, current[0] = current[0], new
            old.retire()  # its workers stop once the requests sent to them are answered
            files = tuple(getattr(new.state, "files", None) or ())
            if files and files != watched:  # e.g. the first version replaced the files of a run
                watched, last = files, _signature(files)
            app.state.serving = new.state
            info = new.state.info
            logger.info(
                "Now serving the new model %s (%s, version %s)",
                info.get("file"),
                info.get("version"),
                info.get("model_version"),
            )
            del old
            await asyncio.to_thread(_refreeze)  # let the collector free the old state (frozen by gc.freeze)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        current[0].start()  # the model workers load the model in the background
        task = asyncio.create_task(watch_model()) if reload and watch and interval > 0 else None
        yield
        if task:
            task.cancel()
        if current[0].pool is not None:
            current[0].pool.close()

    app = FastAPIOffline(  # /docs and /redoc load Swagger UI and ReDoc from the installed package, not a CDN
        title="movie-recommender",
        version=__version__,
        description="Top-N movie recommendations from the model `kedro run` trained on MovieLens 100k.",
        default_response_class=JSON,
        lifespan=lifespan,
        # with a key, /docs offers "Authorize" to send it (the check itself is Guard's, on every path)
        dependencies=[Security(APIKeyHeader(name=API_KEY_HEADER, auto_error=False))] if settings.api_key else None,
    )
    app.state.serving = state
    app.state.settings = settings
    app.state.model_workers = lambda: current[0].pool  # the live pool (tests, benchmarks)
    # inner first: a burst of fold-ins beyond the bound is refused before its body is parsed (after Guard)
    app.add_middleware(RefuseWhenFull, slots=fold_ins, path="/recommendations", retry_after=settings.retry_after_seconds)
    app.add_middleware(Guard, settings=settings, loopback_only=loopback_only)

    def _busy(detail: str) -> JSON:
        return JSON({"detail": detail}, status_code=503, headers=busy)

    @app.exception_handler(UnknownError)
    async def unknown(_request: Request, error: UnknownError):
        return JSON({"detail": str(error)}, status_code=404)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, error: RequestValidationError):
        # FastAPI's own 422, made safe for any input (the input may hold bytes or NaN that json can't encode)
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in error.errors()]
        return JSON(orjson.dumps({"detail": errors}, default=str), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException):
        # a body that is not JSON at all is a bad body like any other: 422, not FastAPI's 400
        if error.status_code == 400:
            detail = [{"loc": ["body"], "msg": str(error.detail), "type": "json_invalid"}]
            return JSON({"detail": detail}, status_code=422)
        return JSON({"detail": error.detail}, status_code=error.status_code, headers=getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, error: Exception):  # last resort; should never happen
        logger.exception("unexpected error")
        return JSONResponse({"detail": f"internal error ({type(error).__name__})"}, status_code=500)

    @app.get("/health", response_model=Health, summary="Model, its version and sizes")
    async def health():
        return JSON({"status": "ok", "version": __version__, "model": current[0].state.info})

    @app.get(
        "/users/{user_id}/recommendations",
        response_model=UserRecommendations,
        responses={
            **NOT_FOUND,
            503: {"model": Problem, "description": "n beyond the published top-N while the model is busy: "
                  "retry after `Retry-After` s"},
        },
        summary="Top-n movies for a known user, each with the user's most similar rated movies",
    )
    async def user_recommendations(user_id: USER_ID, n: N = 10):
        serving = current[0]
        state = serving.state
        body = state.cached_user_response(user_id, n)
        if body is not None:
            return JSON(body)
        state.require_user(user_id)
        if state.answers(user_id, n):  # the published list and its explanations (O(n x explain_neighbours)):
            return JSON(state.user_response(user_id, n))  # less work than handing it to a thread and back
        # more movies than were published: the model computes them, bounded like fold-ins
        if not fold_ins.take():
            return _busy(f"{fold_ins.size} model requests are running: retry in {busy['Retry-After']} s.")
        try:
            return JSON(await serving.user_response(user_id, n))
        except WorkerError as error:
            return _busy(str(error))
        finally:
            fold_ins.give_back()

    @app.post(
        "/recommendations",
        response_model=NewUserRecommendations,
        responses={
            408: {"model": Problem, "description": "The body was not received within the body timeout"},
            413: {"model": Problem, "description": "The body is larger than the documented limit (256 KiB by default)"},
            503: {"model": Problem, "description": "Too many model requests at once: retry after `Retry-After` s"},
        },
        summary="Top-n movies for a new user from their ratings (fold-in, no retraining)",
    )
    async def new_user_recommendations(
        ratings: Annotated[
            list[NewRating],
            Body(max_length=5000, examples=[[{"movieId": 1, "rating": 5}, {"movieId": 50, "rating": 4}]]),
        ],
        n: N = 10,
    ):
        if not fold_ins.take():  # bounded: beyond, answer at once rather than queue CPU work
            return _busy(f"{fold_ins.size} model requests are running: retry in {busy['Retry-After']} s.")
        try:
            latest = {r.movieId: r.rating for r in ratings}  # a movie rated twice: the last rating counts
            return JSON(await current[0].fold_in(latest, n))
        except WorkerError as error:
            return _busy(str(error))
        finally:
            fold_ins.give_back()

    @app.get(
        "/movies/{movie_id}/similar",
        response_model=SimilarMovies,
        responses=NOT_FOUND,
        summary="Movies most similar to one (item-item cosine over the ratings)",
    )
    async def similar(movie_id: MOVIE_ID, n: N = 10):
        serving = current[0].state
        similar_movies = serving.cached_similar_to(movie_id)
        if similar_movies is None:
            serving.require_movie_col(movie_id)
            similar_movies = await run_in_threadpool(serving.similar_to, movie_id)
        return JSON({"movie": serving.movie(movie_id), "similar": list(similar_movies[:n])})

    @app.get(
        "/movies",
        response_model=MovieSearch,
        summary="Title search: exact title, whole words, word starts, then anywhere; most rated first in each",
    )
    async def movies(
        query: Annotated[
            str,
            Query(
                min_length=1,
                max_length=200,
                pattern=r"\S",
                description="Part of a title, e.g. star wars (case-insensitive; not only spaces).",
            ),
        ],
        limit: Annotated[int, Query(ge=1, le=MAX_N)] = 20,
    ):
        return JSON({"query": query, "movies": current[0].state.search(query, limit)})

    return app
