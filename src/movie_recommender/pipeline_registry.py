"""Project pipelines."""

from __future__ import annotations

from collections.abc import Mapping

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

SPARK_PIPELINES = ("spark", "spark_data_processing", "spark_modeling", "spark_evaluation")


def default_pipeline(pipelines: Mapping[str, Pipeline], engine: str = "pandas") -> Pipeline:
    """What ``kedro run`` runs: every pandas pipeline, or with ``engine: spark`` the ``spark`` pipeline.

    Only the pipelines in ``pipelines`` count (``kedro run --pipelines X`` loads X alone).
    """
    if engine == "spark":
        if "spark" in pipelines:
            return pipelines["spark"]
        return sum((p for name, p in pipelines.items() if name in SPARK_PIPELINES), Pipeline([]))
    return sum(
        (pipeline for name, pipeline in pipelines.items() if name not in SPARK_PIPELINES and not name.startswith("__")),
        Pipeline([]),
    )


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    ``spark`` (and its parts ``spark_data_processing``, ``spark_modeling``, ``spark_evaluation``) run the
    same flow on Apache Spark; the SparkHooks make it the default in the spark environment.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects.
    """
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = default_pipeline(pipelines)
    return pipelines
