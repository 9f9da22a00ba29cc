"""HTTP API over the artifacts of ``kedro run``: ``kedro serve`` (see README, Serving)."""

from .app import create_app
from .state import ArtifactsMissingError, ServingState, load_project_state

__all__ = ["ArtifactsMissingError", "ServingState", "app_from_project", "create_app", "load_project_state"]


def app_from_project():
    """uvicorn factory: the app over the project in the current directory (``$MOVIE_RECOMMENDER_PROJECT``)."""
    import os

    return create_app(load_project_state(os.environ.get("MOVIE_RECOMMENDER_PROJECT", ".")))
