"""One SparkSession for the whole test session (local[2], UI off), or a skip saying why there is none."""

from __future__ import annotations

import os
import shutil

import pytest


def java_missing() -> str | None:
    """Why Spark cannot start here, or None when a Java runtime is found."""
    home = os.environ.get("JAVA_HOME")
    if shutil.which("java") or (home and os.path.exists(os.path.join(home, "bin", "java"))):
        return None
    return (
        "no Java runtime (java on PATH or $JAVA_HOME) for Spark: install one, e.g. "
        "apt-get install -y openjdk-17-jre-headless (.ci/run does this in CI)"
    )


TEST_SETTINGS = {
    "spark.master": "local[2]",
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "1g",
}


def test_settings() -> dict[str, str]:
    """TEST_SETTINGS plus JVM options for short runs: the quick JIT compiler only (C1) and the serial
    collector halve the driver's CPU time on tiny data (the project's log4j2 configuration kept)."""
    from movie_recommender.recsys_spark.session import LOG4J2

    return {
        **TEST_SETTINGS,
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={LOG4J2.as_uri()} "
        "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    }


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    reason = java_missing()
    if reason:
        pytest.skip(reason)
    from movie_recommender.recsys_spark.session import get_or_create_session

    session = get_or_create_session(
        test_settings(),
        project_path=tmp_path_factory.mktemp("spark-project"),
    )
    yield session
    session.stop()
