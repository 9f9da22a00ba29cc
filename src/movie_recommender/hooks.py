"""Project hooks."""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

import pandas as pd
from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog
from kedro.pipeline import Node, Pipeline

from movie_recommender.datasets.manifest import (
    MANIFEST_DATASET,
    catalog_dataset,
    display_path,
    file_fingerprint,
    frame_checksum,
    jsonable,
    load_manifest,
    local_path,
    now,
    project_outputs,
    rows_of,
)
from movie_recommender.datasets.versions import VERSIONS_DATASET, VersionError
from movie_recommender.errors import UserError
from movie_recommender.pipelines.validation import check_parameters, require_known_user
from movie_recommender.recsys.budget import check_limit_settings

# The ratings every model of the run is trained on: user_id must have some.
TRAINING_RATINGS = "ratings_clean"

logger = logging.getLogger(__name__)


class ValidateParameters:
    """Check every parameter the pipeline uses before any node runs, so a bad value writes nothing.

    ``user_id`` (used by ``recommend``) is also checked against the training ratings, before the
    first node that reads them (``train``, ``split``) runs: an unknown user stops the run before a
    model or metrics are rewritten, not after.
    """

    def __init__(self) -> None:
        self._user_id: int | None = None

    @hook_impl
    def before_pipeline_run(self, run_params: dict, pipeline: Pipeline, catalog: DataCatalog) -> None:
        names = sorted(name for name in pipeline.inputs() if name.startswith("params:"))
        # The release is checked for every run (it names the folders every output goes to), and the retention
        # of versions (every run that trains a model may prune old ones).
        always = ("params:dataset", "params:custom_datasets", "params:versions")
        names += [name for name in always if name in catalog and name not in names]
        params = {name.removeprefix("params:"): catalog.load(name) for name in names}
        check_parameters(params)
        if "models" in params:  # the run fits models: the limits they are checked against must be readable
            try:
                check_limit_settings()
            except ValueError as error:
                raise UserError(str(error)) from None
        self._user_id = params.get("user_id")

    @hook_impl
    def before_node_run(self, node: Node, inputs: dict[str, Any]) -> None:
        ratings = inputs.get(TRAINING_RATINGS)
        if self._user_id is None or not isinstance(ratings, pd.DataFrame) or "userId" not in ratings:
            return
        if pd.api.types.is_integer_dtype(ratings["userId"]):  # else the node itself says the table is bad
            require_known_user(self._user_id, ratings["userId"])

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._user_id = None

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._user_id = None


def all_pipelines() -> dict[str, Pipeline]:
    """Every pipeline of the project by name (Kedro's registry may hold only the ones being run)."""
    import importlib
    import pkgutil

    import movie_recommender.pipelines as package

    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if info.ispkg and hasattr(module, "create_pipeline"):
            found[info.name] = module.create_pipeline()
    return found


class RunManifest:
    """Runs only on artifacts that belong together (see :mod:`movie_recommender.datasets.manifest`).

    Before any node runs: every input that one of the project's pipelines writes must be the file the run
    manifest lists, else the run stops with a message (nothing is written). After a successful run: the
    checksums and row counts of everything it wrote, with its parameters, are added to the manifest. A run
    that fails or is killed leaves the manifest as it was, so its partial outputs are refused downstream.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._saved: dict[str, dict[str, Any]] = {}
        self._inputs: dict[str, dict[str, Any]] = {}
        self._started_at = ""
        self._catalog: DataCatalog | None = None

    @hook_impl
    def before_pipeline_run(self, run_params: dict, pipeline: Pipeline, catalog: DataCatalog) -> None:
        pipelines = all_pipelines()
        self._saved, self._inputs, self._started_at, self._catalog = {}, {}, now(), catalog
        manifest = load_manifest(catalog)
        if manifest is None:
            return
        written = project_outputs(pipelines.values()) | set(manifest.artifacts)
        for name in sorted(set(pipeline.inputs()) & written):
            dataset = catalog_dataset(catalog, name)
            path = local_path(dataset)
            if path is None or _is_spark(dataset):  # Spark writes directories: not fingerprinted
                continue
            makers = sorted(key for key, p in pipelines.items() if name in p.all_outputs())
            remedy = f"re-create it with `kedro run{' --pipelines ' + makers[0] if makers else ''}`"
            self._inputs[name] = manifest.verify_file(name, path, remedy)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node: Any) -> None:
        dataset = catalog_dataset(self._catalog, dataset_name) if self._catalog is not None else None
        if dataset is None:
            return
        saved: dict[str, Any] = {"rows": rows_of(data)}
        if local_path(dataset) is None and saved["rows"] is not None:  # a table: checksum its content
            saved["sha256"] = frame_checksum(data)
        with self._lock:
            self._saved[dataset_name] = saved

    @hook_impl
    def after_pipeline_run(self, run_params: dict, run_result: Any, pipeline: Pipeline, catalog: DataCatalog) -> None:
        manifest = load_manifest(catalog)
        if manifest is None:
            return
        outputs = {}
        for name in sorted(pipeline.all_outputs()):
            dataset = catalog_dataset(catalog, name)
            if dataset is None or name == MANIFEST_DATASET:
                continue
            saved = self._saved.get(name, {})
            path = local_path(dataset)
            if path is not None and path.is_file():
                # A transcoded file (ratings@pandas of the spark pipeline) is recorded under its plain name:
                # it is the same file the pandas pipeline writes as ratings.
                outputs[name.partition("@")[0]] = {
                    "kind": "file",
                    "path": display_path(path),
                    **file_fingerprint(path),
                    "rows": saved.get("rows"),
                }
            elif "sha256" in saved:
                table = getattr(dataset, "table_name", None)
                outputs[name] = {"kind": "table", "table": table, "rows": saved["rows"], "sha256": saved["sha256"]}
        if not outputs:
            return
        parameters = {
            name.removeprefix("params:"): jsonable(catalog.load(name))
            for name in sorted(pipeline.inputs())
            if name.startswith("params:")
        }
        run_id = run_id_of(run_params)
        run = {
            "started_at": self._started_at,
            "finished_at": now(),
            "pipeline": jsonable(run_params.get("pipeline_names") or run_params.get("pipeline_name") or "__default__"),
            "nodes": jsonable(run_params.get("node_names") or []),
            "dataset": parameters.get("dataset", _release(catalog)),
            "parameters": parameters,
            "inputs": self._inputs,
        }
        updated = manifest.record_run(run_id, run, outputs)
        catalog.save(MANIFEST_DATASET, updated.content)
        logger.info("Recorded run %s in the run manifest %s (%s).", run_id, manifest.where, ", ".join(outputs))


def run_id_of(run_params: dict) -> str:
    """The id a run is recorded under in the run manifest (and the name of the version it makes)."""
    run_id = run_params.get("run_id") or run_params.get("session_id")
    if not run_id:
        run_id = run_params["run_id"] = uuid.uuid4().hex  # the same one for every hook of this run
    return str(run_id)


class SnapshotVersion:
    """After a run that wrote the model and its published recommendations: a version of them, made current.

    See :mod:`movie_recommender.datasets.versions`. Runs after :class:`RunManifest` has recorded the run
    (the version is made from what the manifest lists), then prunes versions beyond ``versions.keep``.
    A run that wrote only some of them (``--nodes train``) makes no version: ``kedro serve`` keeps serving
    the current one.
    """

    @hook_impl
    def after_pipeline_run(self, run_params: dict, pipeline: Pipeline, catalog: DataCatalog) -> None:
        versions = catalog_dataset(catalog, VERSIONS_DATASET)
        manifest = load_manifest(catalog) if versions is not None else None
        if manifest is None:
            return
        run_id = run_id_of(run_params)
        wrote = [name for name in versions.outputs if manifest.artifacts.get(name, {}).get("run") == run_id]
        if len(wrote) < len(versions.outputs):
            if wrote:
                missing = sorted(set(versions.outputs) - set(wrote))
                logger.warning(
                    "This run wrote %s but not %s: no new version of the model (kedro serve keeps serving the "
                    "current one; `kedro run --pipelines modeling` makes one).",
                    ", ".join(wrote),
                    ", ".join(missing),
                )
            return
        names = (*versions.outputs, *versions.inputs)
        files = {}
        for name in names:
            if manifest.entry(name, "run `kedro run`").get("kind") != "file":
                continue
            path = local_path(catalog_dataset(catalog, name))
            if path is None:
                logger.info("%s is not a local file: no version of the model is made.", name)
                return
            files[name] = path
        # the inputs kept beside the model must be the ones the run read (e.g. the movies it was trained with)
        read = manifest.runs.get(run_id, {}).get("inputs", {})
        for name in versions.inputs:
            if name in read and read[name].get("sha256") != manifest.artifacts[name].get("sha256"):
                raise VersionError(
                    f"{name} changed while this run read it (another run?): no version of the model is made; "
                    "run `kedro run` again."
                )
        version = versions.snapshot(run_id, files, manifest)
        logger.info("Made model version %s (%s), now the current one.", version.id, display_path(version.path))
        settings = catalog.load("params:versions") if "params:versions" in catalog else None
        keep = (settings or {}).get("keep") if isinstance(settings, dict) else None
        if keep is not None:
            versions.prune(keep)


def _is_spark(dataset: Any) -> bool:
    """A dataset Spark reads and writes (a directory of part files, or a Spark model)."""
    return type(dataset).__module__.startswith(("kedro_datasets.spark", "movie_recommender.datasets.spark"))


def _release(catalog: DataCatalog) -> Any:
    """The ``dataset`` parameter (the MovieLens release) when the project has one."""
    try:
        return jsonable(catalog.load("params:dataset"))
    except Exception:
        return None


class SparkHooks:
    """With ``engine: spark`` (conf/spark/parameters.yml): the spark pipeline is the default and a SparkSession
    is started from ``spark.yml`` (the environment's, then conf/local/spark.yml on top) before any node runs."""

    @hook_impl
    def after_context_created(self, context) -> None:
        from kedro.framework.project import pipelines

        from movie_recommender.pipeline_registry import default_pipeline
        from movie_recommender.pipelines.spark.checks import check_engine

        engine = check_engine(context.params.get("engine", "pandas"))
        pipelines["__default__"] = default_pipeline(dict(pipelines), engine)
        if engine != "spark":
            return
        if "spark_ratings_clean" not in context.config_loader["catalog"]:
            raise ValueError(
                "engine is spark but the catalog has no Spark datasets (conf/spark/catalog.yml): run with the spark "
                f"environment, kedro run --env spark (this run's environment: {context.env or 'local'})."
            )
        from movie_recommender.recsys_spark.session import get_or_create_session

        get_or_create_session(spark_config(context), context.project_path)


def spark_config(context) -> dict:
    """``spark.yml`` of the run's environment over conf/base, then conf/local/spark.yml (the machine's own)."""
    from kedro.config import MissingConfigException
    from omegaconf import OmegaConf

    try:
        settings = dict(context.config_loader["spark"])
    except (KeyError, MissingConfigException):
        settings = {}
    local = context.project_path / "conf" / "local" / "spark.yml"
    if (context.env or "local") != "local" and local.is_file():
        settings.update(OmegaConf.to_container(OmegaConf.load(local)) or {})
    return settings
