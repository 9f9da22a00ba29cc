"""Project commands for the kedro CLI: ``kedro run`` (Kedro's, printing user errors as one message) and
``kedro serve`` (the HTTP API), ``kedro prefect run|deploy`` (the pipeline as a Prefect flow)."""

from __future__ import annotations

import copy
import functools
import logging
import sys
from pathlib import Path

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.cli.utils import _split_params
from kedro.utils import find_kedro_project

from movie_recommender.errors import find_user_error


@click.group(name="movie_recommender")
def cli():
    """Project commands."""


class HideWhileUserErrorPropagates(logging.Filter):
    """Drop what Kedro logs while handling a UserError (the node's failure, the resume hint that repeating
    the command would help): the CLI prints the error's message once, at the end."""

    def filter(self, record: logging.LogRecord) -> bool:
        return find_user_error(sys.exc_info()[1]) is None


def exit_on_user_error(command: click.Command) -> click.Command:
    """``command`` printing a :class:`~movie_recommender.errors.UserError` as its message alone, exit status 1.

    Any other exception propagates as before (Kedro shows it with a Rich traceback: it is a bug).
    """

    @functools.wraps(command.callback)
    def callback(*args, **kwargs):
        quiet = HideWhileUserErrorPropagates()
        handlers = list(logging.getLogger().handlers)
        for handler in handlers:
            handler.addFilter(quiet)
        try:
            return command.callback(*args, **kwargs)
        except Exception as error:
            user_error = find_user_error(error)
            if user_error is None:
                raise
            click.secho(f"Error: {user_error}", fg="red", err=True)
            sys.exit(1)
        finally:
            for handler in handlers:
                handler.removeFilter(quiet)

    wrapped = copy.copy(command)
    wrapped.callback = callback
    return wrapped


# `kedro run` and `python -m movie_recommender` (find_run_command) use this one: a cli.py command
# overrides Kedro's built-in of the same name.
run = exit_on_user_error(kedro_run)
cli.add_command(run)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=int, help="Processes (each loads the model).")
@click.option("--env", "-e", default=None, help="Kedro configuration environment (default: local).")
@click.option(
    "--dataset",
    default=None,
    help="The release whose `kedro run --params dataset=...` outputs to serve (default: ml-100k).",
)
@click.option(
    "--version",
    "model_version",
    default=None,
    help="Serve this model version (see `kedro model list`) and keep serving it; default: the current version, "
    "followed when a run or `kedro model rollback` changes it.",
)
@click.option(
    "--watch",
    default=10.0,
    show_default=True,
    type=float,
    help="Seconds between checks for a new model file (written by `kedro run`); 0: never reload.",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="Log one line per request: client, method, path, status and latency, in uvicorn's format.",
)
def serve(
    host: str,
    port: int,
    workers: int,
    env: str | None,
    dataset: str | None,
    model_version: str | None,
    watch: float,
    access_log: bool,
):
    """Serve the current model version (the last complete `kedro run`) over HTTP (OpenAPI docs at /docs)."""
    import os

    import uvicorn

    from movie_recommender.api import ArtifactsMissingError, app_from_project
    from movie_recommender.api.access_log import uvicorn_log_config
    from movie_recommender.api.guard import HEADER_TIMEOUT_ENV, is_loopback

    root = find_kedro_project(Path.cwd()) or Path.cwd()
    if workers > 1:  # each worker process loads the artifacts itself
        # check them here first: a worker that fails to start is restarted by uvicorn, again and again
        from movie_recommender.api import load_project_state

        try:
            settings = load_project_state(root, env=env, dataset=dataset, version=model_version).settings
        except ArtifactsMissingError as error:
            click.secho(f"Cannot serve: {error}", fg="red", err=True)
            sys.exit(1)
    else:
        try:
            app = app_from_project(
                root, env=env, watch=watch, access_log=access_log, host=host, dataset=dataset, version=model_version
            )
        except ArtifactsMissingError as error:
            click.secho(f"Cannot serve: {error}", fg="red", err=True)
            sys.exit(1)
        settings = app.state.settings
    if not is_loopback(host) and not settings.api_key:
        click.secho(
            f"Warning: serving on {host} without an API key: anyone who can reach it can read every user's "
            "recommendations and the ratings they explain. Set api.key in conf/local/credentials.yml (see README).",
            fg="yellow",
            err=True,
        )
    os.environ[HEADER_TIMEOUT_ENV] = str(settings.header_timeout_seconds)  # read by each worker's protocol
    options = {
        "host": host,
        "port": port,
        "access_log": False,  # uvicorn's own has no latency: ours (AccessLog) replaces it
        "log_config": uvicorn_log_config(),
        "http": "movie_recommender.api.guard:HeaderTimeoutProtocol",  # httptools, closing slow headers
        "loop": "uvloop",
        "timeout_keep_alive": settings.keep_alive_seconds,
        "limit_concurrency": settings.max_connections,
    }
    if workers > 1:
        os.environ["MOVIE_RECOMMENDER_PROJECT"] = str(root)
        os.environ["MOVIE_RECOMMENDER_WATCH"] = str(watch)
        os.environ["MOVIE_RECOMMENDER_ACCESS_LOG"] = "1" if access_log else "0"
        os.environ["MOVIE_RECOMMENDER_HOST"] = host
        if env:
            os.environ["KEDRO_ENV"] = env
        if dataset:
            os.environ["MOVIE_RECOMMENDER_DATASET"] = dataset
        if model_version:
            os.environ["MOVIE_RECOMMENDER_MODEL_VERSION"] = model_version
        uvicorn.run("movie_recommender.api:app_from_project", factory=True, workers=workers, **options)
        return
    uvicorn.run(app, **options)


def _orchestration():
    import os

    # the temporary local API starts in a few seconds, but Prefect's 20 s limit is short on a busy machine
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    try:
        from movie_recommender import orchestration
    except ImportError as error:  # PrefectMissingError says how to install it
        click.secho(f"Cannot run Prefect: {error}", fg="red", err=True)
        sys.exit(1)
    return orchestration


_pipeline = click.option(
    "--pipelines",
    "--pipeline",
    "-p",
    "pipelines",
    default="__default__",
    show_default=True,
    callback=lambda _ctx, _param, value: [name.strip() for name in value.split(",") if name.strip()],
    help="Kedro pipelines to run, as `kedro run --pipelines`: one name or several, comma-separated "
    "(--pipeline works too).",
)
_params = click.option(
    "--params", default="", callback=_split_params, help="Parameters as `kedro run --params`: a=1,b.c=2."
)
_env = click.option("--env", "-e", default=None, help="Kedro configuration environment (default: local).")


@cli.group()
def prefect():
    """The pipeline as a Prefect flow (optional: pip install -r requirements-prefect.txt)."""


@prefect.command(name="run")
@_pipeline
@_params
@_env
def prefect_run(pipelines: list[str], params: dict, env: str | None):
    """Run the pipeline once as a Prefect flow, one task per node (no server needed)."""
    orchestration = _orchestration()
    try:
        orchestration.kedro_run(pipelines=pipelines, params=params or None, env=env)
    except Exception as error:
        click.secho(f"The Prefect flow failed: {type(error).__name__}: {error}", fg="red", err=True)
        if "ephemeral Prefect API" in str(error):
            click.secho(
                "Start a Prefect server (`prefect server start`, then export PREFECT_API_URL="
                "http://127.0.0.1:4200/api), or allow the temporary one more time: "
                "export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=300.",
                fg="red",
                err=True,
            )
        sys.exit(1)


@prefect.command(name="deploy")
@click.option("--name", default="nightly-retraining", show_default=True, help="Deployment name.")
@click.option("--cron", default=None, help="Cron schedule (default: prefect.schedule, every night at 03:00).")
@click.option("--timezone", default=None, help="Time zone of the schedule (default: prefect.timezone, UTC).")
@_pipeline
@_params
@_env
def prefect_deploy(
    name: str, cron: str | None, timezone: str | None, pipelines: list[str], params: dict, env: str | None
):
    """Create a deployment on a cron schedule and run its scheduled flow runs here until stopped (Ctrl-C)."""
    import os

    orchestration = _orchestration()
    from prefect import serve as prefect_serve

    try:
        deployment = orchestration.deployment(name, cron, timezone, pipelines, params or None, env)
    except ValueError as error:
        click.secho(f"Cannot deploy: {error}", fg="red", err=True)
        sys.exit(1)
    if not os.environ.get("PREFECT_API_URL"):
        click.secho(
            "PREFECT_API_URL is not set: the deployment lives in a temporary Prefect server that stops with "
            "this command. To keep it and watch it in Prefect's UI, run `prefect server start` elsewhere and "
            "`export PREFECT_API_URL=http://127.0.0.1:4200/api` first.",
            fg="yellow",
            err=True,
        )
    prefect_serve(deployment)


# ---------------------------------------------------------------------- model versions
_dataset = click.option(
    "--dataset",
    default=None,
    help="The release whose versions to use (`kedro run --params dataset=...`; default ml-100k).",
)


def _versions_of(env: str | None, dataset: str | None):
    """(project root, Kedro catalog, ModelVersions) of a release; one message and exit status 1 when unusable."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from movie_recommender.datasets.manifest import catalog_dataset
    from movie_recommender.datasets.versions import VERSIONS_DATASET
    from movie_recommender.pipelines.validation import check_dataset

    root = find_kedro_project(Path.cwd()) or Path.cwd()
    bootstrap_project(root)
    runtime_params = {"dataset": dataset} if dataset else None
    with KedroSession.create(project_path=root, env=env, runtime_params=runtime_params) as session:
        context = session.load_context()
    check_dataset(context.params.get("dataset", "ml-100k"), context.params.get("custom_datasets"))
    versions = catalog_dataset(context.catalog, VERSIONS_DATASET)
    if versions is None:
        raise click.ClickException(f"the catalog declares no {VERSIONS_DATASET}: models are not versioned.")
    return root, context, versions


def _size(path: Path) -> str:
    size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return ""


@cli.group()
def model():
    """Model versions: list them, roll back (README, Versions and rollback)."""


@model.command(name="list")
@_dataset
@_env
def model_list(dataset: str | None, env: str | None):
    """Every version of the model, oldest first: * marks the one `kedro serve` serves by default."""
    from movie_recommender.datasets.manifest import display_path
    from movie_recommender.errors import UserError

    try:
        root, context, versions = _versions_of(env, dataset)
    except UserError as error:
        raise click.ClickException(str(error)) from None
    keep = (context.params.get("versions") or {}).get("keep")
    found = versions.versions()
    click.echo(f"{len(found)} version(s) in {display_path(versions.path, root)} (versions.keep: {keep})")
    if not found:
        click.echo("none yet: `kedro run` makes one after each complete run")
        return
    current = versions.resolve()
    served: dict[str, list[str]] = {}
    for lease in versions.leases():
        label = f"pid {lease.get('pid')}" + (" pinned" if lease.get("pinned") else "")
        served.setdefault(lease.get("version"), []).append(label)
    rows = [("", "VERSION", "FINISHED", "MODEL", "RECOMMENDATIONS", "SIZE", "STATUS")]
    for version in found:
        run = version.run
        rows_count = (version.manifest or {}).get("artifacts", {}).get("all_recommendations", {}).get("rows")
        status = "complete" if version.complete else f"INCOMPLETE: {version.problem} (never served)"
        if version.id in served:
            status += ", served by " + ", ".join(served[version.id])
        rows.append(
            (
                "*" if current is not None and version.id == current.id else "",
                version.id,
                str(run.get("finished_at", "?")),
                str(run.get("parameters", {}).get("model", "?")),
                str(rows_count if rows_count is not None else "?"),
                _size(version.path),
                status,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])


@model.command(name="rollback")
@click.argument("version", required=False)
@_dataset
@_env
def model_rollback(version: str | None, dataset: str | None, env: str | None):
    """Serve VERSION (default: the complete version before the current one) from now on.

    Its model and recommendations go back in place (the files, the SQL table, the run manifest), then the
    current version switches: `kedro serve --watch` follows without a restart. The next successful
    `kedro run` makes its own version current again.
    """
    from movie_recommender.datasets.manifest import display_path
    from movie_recommender.datasets.versions import restore, rollback_target
    from movie_recommender.errors import UserError

    try:
        root, context, versions = _versions_of(env, dataset)
        current, target = rollback_target(versions, version)
        restore(context.catalog, versions, target)
    except UserError as error:
        raise click.ClickException(str(error)) from None
    was = current.id if current is not None else "none"
    click.echo(
        f"Now serving version {target.id} (was {was}) of {display_path(versions.path, root)}: its model, "
        "recommendations and SQL table are back in place; `kedro serve` follows within its --watch interval."
    )
