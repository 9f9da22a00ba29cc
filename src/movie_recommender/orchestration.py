"""The Kedro pipeline as a Prefect flow: ``kedro prefect run`` and ``kedro prefect deploy``.

:func:`kedro_run` is a Prefect flow that runs one Kedro pipeline in one ``KedroSession``, exactly as
``kedro run`` does (same catalog, parameters and hooks: parameter validation, MLflow tracking), with
:class:`PrefectRunner`, which runs each Kedro node as a Prefect task named after the node. Nodes listed
in the ``prefect.retries`` parameter (``conf/base/parameters_orchestration.yml``) are retried with
exponential back-off; a node that still fails fails its task, and the flow, with the node's own error.

Prefect is an optional dependency (``requirements-prefect.txt``): importing this module without it
raises :class:`PrefectMissingError`, whose message says how to install it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from itertools import chain
from pathlib import Path
from typing import Any

from kedro.runner import SequentialRunner
from kedro.runner.task import Task

INSTALL = "python -m venv .venv-prefect && .venv-prefect/bin/pip install -r requirements-prefect.txt"


class PrefectMissingError(ImportError):
    """Prefect is not installed in this environment."""


try:
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE
    from prefect.tasks import exponential_backoff
except ImportError as error:  # pragma: no cover - exercised where Prefect is absent
    raise PrefectMissingError(
        f"Prefect is not installed in this environment ({error}). It is optional, in its own environment "
        f"(it needs an older FastAPI than the API service uses): {INSTALL}, then run `.venv-prefect/bin/kedro "
        "prefect ...` from the project root."
    ) from error

logger = logging.getLogger(__name__)

FLOW_NAME = "movie-recommender"
SETTINGS = "prefect"  # the parameter that holds retries, back-off and the schedule


def check_settings(settings: Any, node_names: set[str]) -> dict[str, Any]:
    """The ``prefect`` parameter, checked: ``retries`` (node name: int >= 0, nodes of the pipeline),
    ``retry_delay_seconds`` (number >= 0), ``schedule`` (cron text), ``timezone`` (text)."""
    where = "parameter prefect"
    if settings is None:
        settings = {}
    if not isinstance(settings, Mapping):
        raise ValueError(f"{where} must be a mapping (conf/base/parameters_orchestration.yml), got {settings!r}.")
    retries = settings.get("retries") or {}
    if not isinstance(retries, Mapping):
        raise ValueError(f"{where}.retries must map node names to a number of retries, got {retries!r}.")
    unknown = sorted(set(retries) - node_names)
    if unknown:
        raise ValueError(
            f"{where}.retries names {', '.join(unknown)}, not a node of the project's pipelines "
            f"(nodes: {', '.join(sorted(node_names))})."
        )
    for name, count in retries.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"{where}.retries.{name} must be a whole number >= 0, got {count!r}.")
    delay = settings.get("retry_delay_seconds", 10)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
        raise ValueError(f"{where}.retry_delay_seconds must be a number >= 0, got {delay!r}.")
    return {
        "retries": dict(retries),
        "retry_delay_seconds": float(delay),
        "schedule": str(settings.get("schedule") or "0 3 * * *"),
        "timezone": str(settings.get("timezone") or "UTC"),
    }


@task(cache_policy=NO_CACHE, persist_result=False)
def run_node(node, catalog, hook_manager, run_id) -> None:
    """One Kedro node, with its hooks, loading and saving through the session's catalog."""
    Task(node=node, catalog=catalog, hook_manager=hook_manager, is_async=False, run_id=run_id).execute()


class PrefectRunner(SequentialRunner):
    """Kedro's sequential runner with each node run as a Prefect task (inside a Prefect flow).

    Args:
        retries: node name -> how many times to retry it after a failure.
        retry_delay_seconds: the wait before the first retry; each next one waits twice as long.
    """

    def __init__(self, retries: Mapping[str, int] | None = None, retry_delay_seconds: float = 10.0) -> None:
        super().__init__(is_async=False)
        self.retries = dict(retries or {})
        self.retry_delay_seconds = retry_delay_seconds

    def _run(self, pipeline, catalog, hook_manager=None, run_id=None) -> None:
        nodes = pipeline.nodes  # topologically sorted
        self._validate_catalog(catalog)
        self._validate_nodes(nodes)
        self._set_manager_datasets(catalog)
        load_counts = Counter(chain.from_iterable(n.inputs for n in nodes))
        done = set()
        for node in nodes:
            retries = self.retries.get(node.name, 0)
            delays = exponential_backoff(self.retry_delay_seconds)(retries) if retries else 0
            options = {"name": node.name, "task_run_name": node.name, "retries": retries}
            try:
                run_node.with_options(**options, retry_delay_seconds=delays)(node, catalog, hook_manager, run_id)
            except Exception:
                self._suggest_resume_scenario(pipeline, done, catalog)
                raise
            done.add(node)
            logger.info("Completed %d out of %d tasks", len(done), len(nodes))
            self._release_datasets(node, catalog, load_counts, pipeline)


def project_settings(session) -> dict[str, Any]:
    """The checked ``prefect`` parameter of a session (its node names checked against every pipeline)."""
    from kedro.framework.project import pipelines

    node_names = {node.name for registered in pipelines.values() for node in registered.nodes}
    return check_settings(session.load_context().params.get(SETTINGS), node_names)


def project_root(project_path: str | Path | None = None) -> Path:
    from kedro.utils import find_kedro_project

    return Path(project_path or find_kedro_project(Path.cwd()) or Path.cwd()).resolve()


@flow(name=FLOW_NAME, persist_result=False, validate_parameters=False)
def kedro_run(
    pipelines: list[str] | str = "__default__",
    params: dict[str, Any] | None = None,
    env: str | None = None,
    project_path: str | None = None,
) -> None:
    """Run Kedro pipelines of the project (one name, or a list as ``kedro run --pipelines a,b``) as a Prefect
    flow, one task per node, as ``kedro run`` does."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    root = project_root(project_path)
    bootstrap_project(root)
    with KedroSession.create(project_path=root, env=env, runtime_params=params or None) as session:
        settings = project_settings(session)
        runner = PrefectRunner(settings["retries"], settings["retry_delay_seconds"])
        session.run(pipeline_names=[pipelines] if isinstance(pipelines, str) else list(pipelines), runner=runner)


def deployment(
    name: str,
    cron: str | None = None,
    timezone: str | None = None,
    pipelines: list[str] | str = "__default__",
    params: dict[str, Any] | None = None,
    env: str | None = None,
    project_path: str | Path | None = None,
):
    """The flow as a Prefect deployment on a cron schedule (``conf/base/parameters_orchestration.yml``
    by default), for ``prefect.serve``: every scheduled run is ``kedro_run(pipelines, params, env)``."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    root = project_root(project_path)
    bootstrap_project(root)
    with KedroSession.create(project_path=root, env=env, runtime_params=params or None) as session:
        settings = project_settings(session)
    from prefect.schedules import Cron

    return kedro_run.to_deployment(
        name=name,
        schedule=Cron(cron or settings["schedule"], timezone=timezone or settings["timezone"]),
        parameters={
            "pipelines": [pipelines] if isinstance(pipelines, str) else list(pipelines),
            "params": params or {},
            "env": env,
            "project_path": str(root),
        },
        description="Retrain the movie recommender: the Kedro pipeline, one Prefect task per node.",
    )
