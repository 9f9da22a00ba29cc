"""Every ``kedro run`` tracked in MLflow, through kedro-mlflow.

kedro-mlflow's hook opens one MLflow run per Kedro run and logs the parameters every node reads
(flattened: ``models.user_knn.neighbours``...). :class:`MlflowTracking` extends it with what this project
produces, as each dataset is saved:

- ``metrics_table``: every model's row of ``metrics.csv`` as metrics ``<model>/<metric>`` (``@`` becomes
  ``_at_``: ``ease/ndcg_at_10``), the trained model's row again as ``trained_model/<metric>``, and the CSV;
- ``data_processing_summary``: the JSON, and its counts as metrics ``data/<key>``;
- ``metrics_plot``: the PNG;
- ``recommender``: the pickled model and ``model/settings.json`` (class and hyper-parameters);
- the dataset release (parameter ``dataset``, default ``ml-100k``) as a parameter and a tag;
- at the end of a successful run, the run manifest (``run_manifest.json``: checksums of what it wrote).

Where runs go is ``conf/base/mlflow.yml`` (a SQLite file under the project by default); a tracking
server is one setting in ``conf/local/mlflow.yml``. MLflow is only touched when a pipeline runs:
``kedro serve``, ``kedro viz`` and notebooks create sessions without a run and connect to nothing.
``MOVIE_RECOMMENDER_MLFLOW=off`` turns tracking off for a process (the tests do).
"""

from __future__ import annotations

import json
import logging
import math
import os
import pickle
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import mlflow
from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl
from kedro_mlflow.config.kedro_mlflow_config import KedroMlflowConfig, _validate_uri
from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook
from kedro_mlflow.io.catalog.switch_catalog_logging import switch_catalog_logging

from movie_recommender.datasets.manifest import MANIFEST_DATASET, catalog_dataset, local_path

logger = logging.getLogger(__name__)

SWITCH = "MOVIE_RECOMMENDER_MLFLOW"
DEFAULT_RELEASE = "ml-100k"
METRICS, SUMMARY, PLOT, MODEL = "metrics_table", "data_processing_summary", "metrics_plot", "recommender"
SPARK_MODEL = "spark_model"
#: The Spark path's outputs (kedro run --env spark), logged as their pandas counterparts are.
SPARK_NAMES = {"spark_metrics_table": METRICS, "spark_data_processing_summary": SUMMARY, "spark_metrics_plot": PLOT}


def tracking_enabled() -> bool:
    """False when ``$MOVIE_RECOMMENDER_MLFLOW`` is ``off``, ``0``, ``false`` or ``no``."""
    return os.environ.get(SWITCH, "on").strip().lower() not in ("off", "0", "false", "no")


def metric_name(name: str) -> str:
    """An MLflow metric name for a metrics.csv column: ``ndcg@10`` -> ``ndcg_at_10``."""
    return re.sub(r"[^/\w.\- ]", "_", str(name).replace("@", "_at_"))


def table_metrics(table, trained: str | None = None) -> dict[str, float]:
    """``{"<model>/<metric>": value}`` for every finite number of every row of metrics.csv.

    The row of ``trained`` (the model ``kedro run`` trains) is repeated as ``trained_model/<metric>``,
    so that runs training different models compare on the same keys.
    """
    found = {}
    for row in table.to_dict("records"):
        model = str(row.pop("model"))
        for column, value in row.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                continue
            found[f"{metric_name(model)}/{metric_name(column)}"] = float(value)
            if model == trained:
                found[f"trained_model/{metric_name(column)}"] = float(value)
    return found


def summary_metrics(summary: dict, prefix: str = "data") -> dict[str, float]:
    """The numbers of data_processing_summary.json, flattened: ``data/output/ratings``..."""
    found = {}
    for key, value in summary.items():
        name = f"{prefix}/{metric_name(key)}"
        if isinstance(value, dict):
            found.update(summary_metrics(value, name))
        elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            found[name] = float(value)
    return found


def model_settings(model: Any) -> dict[str, Any]:
    """The class and hyper-parameters of a fitted model, JSON-ready."""
    params = model.get_params() if hasattr(model, "get_params") else {}
    return {"class": type(model).__name__, "params": json.loads(json.dumps(params, default=repr))}


def spark_model_settings(model: Any, settings: dict | None = None) -> dict[str, Any]:
    """The class and parameters of a fitted pyspark.ml model (with the ALS settings it was fitted with), JSON-ready."""
    params = {param.name: value for param, value in model.extractParamMap().items()}
    params.update({"rank": getattr(model, "rank", None), **(settings or {})})
    return {"class": type(model).__name__, "params": json.loads(json.dumps(params, default=repr))}


class MlflowTracking(MlflowHook):
    """kedro-mlflow's ``MlflowHook``, set up only when a pipeline runs, plus this project's artifacts.

    Registered in ``settings.py`` (kedro-mlflow's own auto-registered instance is disabled there).
    """

    def __init__(self) -> None:
        super().__init__()
        self._context = None
        self._active = False
        self._trained: str | None = None
        self._trained_settings: dict = {}
        self._catalog = None

    @hook_impl
    def after_context_created(self, context) -> None:
        """Read mlflow.yml and resolve the store (``kedro mlflow ui`` reads it); connect to nothing yet."""
        self._context, self._active = context, False
        try:
            if "mlflow" not in context.config_loader.config_patterns:
                context.config_loader.config_patterns["mlflow"] = ["mlflow*", "mlflow*/**", "**/mlflow*"]
            conf = dict(context.config_loader["mlflow"])
        except MissingConfigException:
            conf = {}
        config = KedroMlflowConfig.model_validate(conf)
        if not conf.get("tracking", {}).get("experiment", {}).get("name"):
            config.tracking.experiment.name = context._package_name or "movie_recommender"
        config.server.mlflow_tracking_uri = tracking_uri(
            context.project_path, config.server.mlflow_tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        )
        self.mlflow_config = config
        context.__setattr__("mlflow", config)

    @hook_impl
    def after_catalog_created(self, catalog, conf_catalog, conf_creds, parameters, save_version, load_versions):
        if tracking_enabled():
            super().after_catalog_created(catalog, conf_catalog, conf_creds, parameters, save_version, load_versions)

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        self._active, self.run_id, self._catalog = False, None, catalog
        if not tracking_enabled() or self._context is None:
            self._is_mlflow_enabled = False
            switch_catalog_logging(catalog, False)
            return
        active = mlflow.active_run()
        self._already_active_mlflow = active is not None
        if active is None:
            self.mlflow_config.setup(self._context)  # the store and the experiment, created if needed
        else:  # a run opened by the caller (e.g. a notebook): log into it, where it is
            self.mlflow_config.server.mlflow_tracking_uri = mlflow.get_tracking_uri()
            self.mlflow_config.server._mlflow_client = mlflow.MlflowClient(mlflow.get_tracking_uri())
        super().before_pipeline_run(run_params, pipeline, catalog)
        self._active = self._is_mlflow_enabled
        if not self._active:
            return
        parameters = catalog.load("parameters") if "parameters" in catalog else {}
        release = str(parameters.get("dataset") or DEFAULT_RELEASE)
        engine = str(parameters.get("engine") or "pandas")
        self._trained = parameters.get("spark_model" if engine == "spark" else "model")
        self._trained_settings = dict((parameters.get("spark_models") or {}).get(self._trained) or {})
        client = self.mlflow_config.server._mlflow_client
        client.log_param(self.run_id, "dataset", release)
        client.set_tag(self.run_id, "dataset", release)
        client.set_tag(self.run_id, "engine", engine)
        logger.info("MLflow run %s (%s)", self.run_id, self.mlflow_config.server.mlflow_tracking_uri)

    @hook_impl
    def before_node_run(self, node, catalog, inputs, is_async) -> None:
        if self._active:
            super().before_node_run(node, catalog, inputs, is_async)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node) -> None:
        dataset_name = SPARK_NAMES.get(dataset_name, dataset_name)
        if not self._active or dataset_name not in (METRICS, SUMMARY, PLOT, MODEL, SPARK_MODEL):
            return
        client, run = self.mlflow_config.server._mlflow_client, self.run_id  # explicit run: any thread
        if dataset_name == SPARK_MODEL:  # Spark's own model directory, as Spark wrote it (not a pickle)
            settings = spark_model_settings(data, self._trained_settings)
            client.log_dict(run, settings, "model/settings.json")
            client.set_tag(run, "model_class", settings["class"])
            path = local_path(catalog_dataset(self._catalog, SPARK_MODEL)) if self._catalog is not None else None
            if path is not None and path.is_dir():
                client.log_artifacts(run, str(path), f"model/{path.name}")
            return
        if dataset_name == METRICS:
            log_metrics(client, run, table_metrics(data, self._trained))
            client.log_text(run, data.to_csv(index=False), "evaluation/metrics.csv")
        elif dataset_name == SUMMARY:
            client.log_dict(run, data, "data/data_processing_summary.json")
            log_metrics(client, run, summary_metrics(data))
        elif dataset_name == PLOT:
            client.log_figure(run, data, "evaluation/metrics.png")
        else:
            settings = model_settings(data)
            client.log_dict(run, settings, "model/settings.json")
            client.set_tag(run, "model_class", settings["class"])
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "recommender.pkl"
                with path.open("wb") as stream:
                    pickle.dump(data, stream, protocol=pickle.HIGHEST_PROTOCOL)
                client.log_artifact(run, str(path), "model")

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        if self._active:
            manifest = local_path(catalog_dataset(catalog, MANIFEST_DATASET))  # written by RunManifest just before
            if manifest is not None and manifest.is_file():
                self.mlflow_config.server._mlflow_client.log_artifact(self.run_id, str(manifest))
            super().after_pipeline_run(run_params, pipeline, catalog)
            self._close("FINISHED")

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline, catalog):
        if self._active:
            super().on_pipeline_error(error, run_params, pipeline, catalog)
            self._close("FAILED")

    def _close(self, status: str) -> None:
        """End our run wherever it is still open: kedro-mlflow re-opens it before every node (one per
        thread), and a run left active in this thread would swallow the next session's run."""
        self._active = False
        if self._already_active_mlflow:
            return
        while (active := mlflow.active_run()) is not None and active.info.run_id == self.run_id:
            mlflow.end_run(status)
        client = self.mlflow_config.server._mlflow_client
        if client.get_run(self.run_id).info.status == "RUNNING":  # opened in another thread
            client.set_terminated(self.run_id, status)


def log_metrics(client, run_id: str, metrics: dict[str, float]) -> None:
    """Log metrics in batches (MLflow takes at most 1000 per call)."""
    from mlflow.entities import Metric

    stamp = int(time.time() * 1000)
    entries = [Metric(key, value, stamp, 0) for key, value in metrics.items()]
    for start in range(0, len(entries), 1000):
        client.log_batch(run_id, metrics=entries[start : start + 1000])


def tracking_uri(project_path: str | Path, uri: str | None) -> str:
    """The store's URI, relative paths taken from the project root (also a relative ``sqlite:///`` file)."""
    uri = uri or "sqlite:///mlflow.db"
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{(Path(project_path) / uri.removeprefix('sqlite:///')).as_posix()}"
    return _validate_uri(project_path=str(project_path), uri=uri)
