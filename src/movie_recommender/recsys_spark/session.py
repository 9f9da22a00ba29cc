"""A SparkSession for the project: settings from a mapping (``spark.yml``), quiet console, loopback only."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

LOG4J2 = Path(__file__).with_name("log4j2.properties")

#: Applied unless the settings say otherwise.
DEFAULTS: dict[str, str] = {
    "spark.master": "local[*]",
    "spark.app.name": "movie-recommender",
    # Driver and executors talk over the loopback interface on a single machine.
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.session.timeZone": "UTC",
}


def spark_settings(settings: Mapping[str, object] | None, project_path: str | Path | None = None) -> dict[str, str]:
    """``DEFAULTS`` overridden by ``settings`` (values as strings), with the paths Spark writes pinned down.

    Temporary files (shuffle, spills) go to ``spark.local.dir``, which Spark defaults to the system temp
    directory (``java.io.tmpdir``); ``spark.sql.warehouse.dir`` defaults to ``data/09_spark/warehouse`` under ``project_path`` (Spark would
    otherwise create ``spark-warehouse/`` in the working directory). The driver JVM logs through
    ``log4j2.properties`` beside this module (WARN and above, no startup banner) unless
    ``spark.driver.extraJavaOptions`` is set.
    """
    conf = {**DEFAULTS, **{str(k): _text(v) for k, v in (settings or {}).items() if v is not None}}
    base = Path(project_path) if project_path is not None else Path.cwd()
    conf.setdefault("spark.sql.warehouse.dir", (base / "data" / "09_spark" / "warehouse").resolve().as_uri())
    conf.setdefault("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={LOG4J2.as_uri()}")
    return conf


def _text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def get_or_create_session(settings: Mapping[str, object] | None = None, project_path: str | Path | None = None,
                          log_level: str = "WARN"):
    """The active SparkSession, or a new one with :func:`spark_settings` (settings of a running one stay)."""
    from pyspark.sql import SparkSession

    # Spark picks the machine's outward address for itself unless told; keep it on loopback.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python workers run this interpreter (with pandas and pyarrow), not whatever python3 is on PATH;
    # on a cluster, set spark.pyspark.python in spark.yml.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    for key, value in spark_settings(settings, project_path).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(log_level)
    return spark
