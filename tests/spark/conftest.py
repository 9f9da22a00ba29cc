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
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    "spark.driver.memory": "1g",
}


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    reason = java_missing()
    if reason:
        pytest.skip(reason)
    from movie_recommender.recsys_spark.session import get_or_create_session

    session = get_or_create_session(
        TEST_SETTINGS,
        project_path=tmp_path_factory.mktemp("spark-project"),
    )
    yield session
    session.stop()
