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
):
    """The app over a project's artifacts, reloading the model when ``kedro run`` replaces it.

    A uvicorn factory too: the project is then ``$MOVIE_RECOMMENDER_PROJECT`` (default: the current
    directory), the check interval ``$MOVIE_RECOMMENDER_WATCH`` seconds (default 10; 0: never reload)
    and, with ``$MOVIE_RECOMMENDER_ACCESS_LOG=1``, one log line per request (:mod:`.access_log`).
    ``host`` (``$MOVIE_RECOMMENDER_HOST``): the interface served; a loopback one makes the app refuse
    other Host headers (DNS rebinding). The release is ``dataset`` (``$MOVIE_RECOMMENDER_DATASET``;
    default: the project's, ml-100k).
    """
    import os

    root = project_path or os.environ.get("MOVIE_RECOMMENDER_PROJECT", ".")
    interval = float(os.environ.get("MOVIE_RECOMMENDER_WATCH", 10) if watch is None else watch)
    dataset = dataset or os.environ.get("MOVIE_RECOMMENDER_DATASET") or None
    state = load_project_state(root, env=env, dataset=dataset)
    host = host or os.environ.get("MOVIE_RECOMMENDER_HOST")
    app = create_app(
        state,
        reload=lambda: load_project_state(root, env=env, dataset=dataset),
        watch=state.files,
        interval=interval,
        settings=state.settings,
        loopback_only=bool(host) and is_loopback(host),
    )
    if os.environ.get("MOVIE_RECOMMENDER_ACCESS_LOG") == "1" if access_log is None else access_log:
        from .access_log import AccessLog

        app.add_middleware(AccessLog)  # added last: outermost, so every request is logged
    return app
