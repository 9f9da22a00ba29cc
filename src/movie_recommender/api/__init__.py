"""HTTP API over the artifacts of ``kedro run``: ``kedro serve`` (see README, Serving)."""

from .app import create_app
from .guard import is_loopback
from .state import ArtifactsMissingError, ServingState, load_project_state

__all__ = ["ArtifactsMissingError", "ServingState", "app_from_project", "create_app", "load_project_state"]


def app_from_project(
    project_path=None,
    env: str | None = None,
    watch: float | None = None,
    access_log: bool | None = None,
    host: str | None = None,
    dataset: str | None = None,
    version: str | None = None,
):
    """The app over a project's artifacts, reloading the model when ``kedro run`` replaces it.

    A uvicorn factory too: the project is then ``$MOVIE_RECOMMENDER_PROJECT`` (default: the current
    directory), the check interval ``$MOVIE_RECOMMENDER_WATCH`` seconds (default 10; 0: never reload)
    and, with ``$MOVIE_RECOMMENDER_ACCESS_LOG=1``, one log line per request (:mod:`.access_log`).
    ``host`` (``$MOVIE_RECOMMENDER_HOST``): the interface served; a loopback one makes the app refuse
    other Host headers (DNS rebinding). The release is ``dataset`` (``$MOVIE_RECOMMENDER_DATASET``;
    default: the project's, ml-100k). ``version`` (``$MOVIE_RECOMMENDER_MODEL_VERSION``) pins a model
    version; by default the current version is served and followed (``kedro model rollback`` included).

    The process records the version it serves (:meth:`~movie_recommender.datasets.versions.ModelVersions.lease`)
    so that retention never prunes it, and removes that record when it exits.
    """
    import os

    root = project_path or os.environ.get("MOVIE_RECOMMENDER_PROJECT", ".")
    interval = float(os.environ.get("MOVIE_RECOMMENDER_WATCH", 10) if watch is None else watch)
    dataset = dataset or os.environ.get("MOVIE_RECOMMENDER_DATASET") or None
    version = version or os.environ.get("MOVIE_RECOMMENDER_MODEL_VERSION") or None
    state = _leased(load_project_state(root, env=env, dataset=dataset, version=version))
    host = host or os.environ.get("MOVIE_RECOMMENDER_HOST")
    app = create_app(
        state,
        reload=lambda: _leased(load_project_state(root, env=env, dataset=dataset, version=version)),
        watch=state.files,
        interval=interval,
        settings=state.settings,
        loopback_only=bool(host) and is_loopback(host),
    )
    _release_on_shutdown(app, state)
    if os.environ.get("MOVIE_RECOMMENDER_ACCESS_LOG") == "1" if access_log is None else access_log:
        from .access_log import AccessLog

        app.add_middleware(AccessLog)  # added last: outermost, so every request is logged
    return app


_released: set[int] = set()


def _leased(state: ServingState) -> ServingState:
    """Record, in the versions folder, that this process serves ``state``'s version (retention keeps it)."""
    import atexit
    import logging
    import os

    versions, served = getattr(state, "versions", None), state.info.get("model_version")
    if versions is None or served is None:
        return state
    try:
        versions.lease(served, bool(state.info.get("pinned")))
    except OSError as error:  # e.g. data/06_models/ is not writable by the user serving
        logging.getLogger(__name__).warning(
            "Could not record that version %s is served (%s): retention (versions.keep) may remove it.", served, error
        )
        return state
    if os.getpid() not in _released:
        _released.add(os.getpid())
        atexit.register(versions.release)
    return state


def _release_on_shutdown(app, state: ServingState) -> None:
    """Remove this process's record of the version it serves when the server shuts down (uvicorn re-raises
    SIGTERM after a graceful shutdown, so atexit alone would not run; a record left by a killed process is
    ignored and removed by the next prune)."""
    from contextlib import asynccontextmanager

    versions, inner = getattr(state, "versions", None), app.router.lifespan_context
    if versions is None:
        return

    @asynccontextmanager
    async def lifespan(application):
        async with inner(application) as value:
            try:
                yield value
            finally:
                versions.release()

    app.router.lifespan_context = lifespan
