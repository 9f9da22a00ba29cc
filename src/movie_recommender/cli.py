"""Project commands for the kedro CLI: ``kedro run`` as usual, plus ``kedro serve`` (the HTTP API)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from kedro.framework.cli.project import run  # noqa: F401 - `kedro run` and `python -m movie_recommender` use it
from kedro.utils import find_kedro_project


@click.group(name="movie_recommender")
def cli():
    """Project commands."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=int, help="Processes (each loads the model).")
@click.option("--env", "-e", default=None, help="Kedro configuration environment (default: local).")
@click.option(
    "--watch",
    default=10.0,
    show_default=True,
    type=float,
    help="Seconds between checks for a new model file (written by `kedro run`); 0: never reload.",
)
def serve(host: str, port: int, workers: int, env: str | None, watch: float):
    """Serve the model and movies of the last `kedro run` over HTTP (OpenAPI docs at /docs)."""
    import os

    import uvicorn

    from movie_recommender.api import ArtifactsMissingError, app_from_project

    root = find_kedro_project(Path.cwd()) or Path.cwd()
    options = {"host": host, "port": port, "access_log": False, "http": "httptools", "loop": "uvloop"}
    if workers > 1:  # each worker process loads the artifacts itself
        # check them here first: a worker that fails to start is restarted by uvicorn, again and again
        from movie_recommender.api import load_project_state

        try:
            load_project_state(root, env=env, precompute=False)
        except ArtifactsMissingError as error:
            click.secho(f"Cannot serve: {error}", fg="red", err=True)
            sys.exit(1)
        os.environ["MOVIE_RECOMMENDER_PROJECT"] = str(root)
        os.environ["MOVIE_RECOMMENDER_WATCH"] = str(watch)
        if env:
            os.environ["KEDRO_ENV"] = env
        uvicorn.run("movie_recommender.api:app_from_project", factory=True, workers=workers, **options)
        return
    try:
        app = app_from_project(root, env=env, watch=watch)
    except ArtifactsMissingError as error:
        click.secho(f"Cannot serve: {error}", fg="red", err=True)
        sys.exit(1)
    uvicorn.run(app, **options)
