"""kedro run --env spark end to end, in a temporary copy of the project (one SparkSession for all tests)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import yaml
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from mlflow import MlflowClient

from movie_recommender.recsys import filter_min_ratings
from benchmarks.synthetic import synthetic_archive
from tests.conftest import write_zip
from tests.test_run import REAL_ARCHIVE, SKIP_REAL

FAST = {"spark_models.als.max_iter": 3, "spark_models.als_implicit.max_iter": 3, "spark_models.als.num_blocks": 2,
        "spark_models.als_implicit.num_blocks": 2}


def nested(params: dict) -> dict:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}``, as ``kedro run --params a.b=1`` passes them."""
    result: dict = {}
    for key, value in params.items():
        *parents, last = key.split(".")
        target = result
        for parent in parents:
            target = target.setdefault(parent, {})
        target[last] = value
    return result


def run(root: Path, env: str | None = "spark", pipeline: str | None = None, **params) -> None:
    bootstrap_project(root)
    with KedroSession.create(project_path=root, env=env, runtime_params=nested(params) or None) as session:
        session.run(pipeline_names=[pipeline] if pipeline else None)


def test_spark_environment_runs_a_release_on_spark(spark, project, monkeypatch):
    """kedro run --env spark --params dataset=ml-1m: everything on Spark, under the release's folders, tracked."""
    synthetic_archive("ml-1m", project / "data/01_raw/ml-1m.zip", scale=0.002)
    monkeypatch.setenv("MOVIE_RECOMMENDER_MLFLOW", "on")  # into the temporary project's mlflow.db
    run(project, dataset="ml-1m", min_user_ratings=3, min_movie_ratings=3, **FAST)

    data = project / "data"
    clean = spark.read.parquet(str(data / "03_primary/ml-1m/spark/ratings_clean.parquet")).toPandas()
    ratings = pd.read_csv(data / "02_intermediate/ml-1m/ratings.csv")  # the pandas converter's, ::-separated .dat
    want, _ = filter_min_ratings(ratings, 3, 3)
    assert sorted(map(tuple, clean[["userId", "movieId"]].to_numpy())) == sorted(
        map(tuple, want[["userId", "movieId"]].to_numpy())
    )
    assert list(clean.columns) == ["userId", "movieId", "rating", "timestamp"]  # movie details stay in movies.csv
    summary = json.loads((data / "08_reporting/ml-1m/spark/data_processing_summary.json").read_text())
    assert summary["input"]["ratings"] == len(ratings) and summary["output"]["ratings"] == len(want)

    assert (data / "06_models/ml-1m/spark/als_model/metadata").is_dir()  # Spark's persistence, no pickle
    from pyspark.ml.recommendation import ALSModel

    model = ALSModel.load(str(data / "06_models/ml-1m/spark/als_model"))
    shipped = yaml.safe_load((project / "conf/base/parameters_spark.yml").read_text())["spark_models"]["als_implicit"]
    assert model.rank == shipped["rank"]  # the shipped setting, kept under --params spark_models.als_implicit.max_iter

    recs = spark.read.parquet(str(data / "07_model_output/ml-1m/spark/all_recommendations.parquet")).toPandas()
    with sqlite3.connect(data / "07_model_output/ml-1m/recommendations.db") as con:
        table = pd.read_sql("SELECT * FROM all_recommendations", con)
    assert list(table.columns) == ["userId", "rank", "movieId", "score"]
    assert len(table) == len(recs) and table.userId.nunique() == clean.userId.nunique()
    unrated = clean.movieId.nunique() - clean.groupby("userId").size()
    assert (table.groupby("userId").size() == unrated.clip(upper=10)).all()  # 10, or every unrated movie
    rated = set(map(tuple, clean[["userId", "movieId"]].to_numpy()))
    assert not rated & set(map(tuple, table[["userId", "movieId"]].to_numpy()))

    metrics = pd.read_csv(data / "08_reporting/ml-1m/spark/metrics.csv").set_index("model")
    assert list(metrics.index) == ["als", "als_implicit"]
    assert metrics.loc["als", "rmse"] > 0 and pd.isna(metrics.loc["als_implicit", "rmse"])
    assert metrics["ndcg@10"].between(0, 1).all() and (metrics["n_users_evaluated"] > 0).all()
    report = data / "08_reporting/ml-1m/spark"
    assert (report / "metrics.json").exists() and (report / "metrics.png").exists()

    # the run manifest of the release lists the files it wrote (the CSVs under their pandas names) and the table
    manifest = json.loads((data / "06_models/ml-1m/run_manifest.json").read_text())
    assert {"ratings", "movies", "spark_metrics_table", "all_recommendations_table"} <= set(manifest["artifacts"])
    assert manifest["runs"][manifest["last_run"]]["dataset"] == "ml-1m"
    assert manifest["artifacts"]["all_recommendations_table"]["rows"] == len(table)
    # MLflow: the release, the engine, the metrics of metrics.csv, and Spark's model directory as it is
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    (tracked,) = client.search_runs([client.get_experiment_by_name("movie_recommender").experiment_id])
    assert tracked.info.status == "FINISHED"
    assert tracked.data.tags["dataset"] == "ml-1m" and tracked.data.tags["engine"] == "spark"
    assert tracked.data.params["spark_models.als_implicit.rank"] == str(shipped["rank"])
    assert tracked.data.metrics["als/rmse"] == pytest.approx(metrics.loc["als", "rmse"], rel=1e-5)
    assert tracked.data.metrics["trained_model/ndcg_at_10"] == pytest.approx(metrics.loc["als_implicit", "ndcg@10"],
                                                                             rel=1e-5)
    logged = {item.path for item in client.list_artifacts(tracked.info.run_id, "model/als_model")}
    assert "model/als_model/metadata" in logged
    settings = json.loads(Path(client.download_artifacts(tracked.info.run_id, "model/settings.json",
                                                         str(project))).read_text())
    assert settings["class"] == "ALSModel" and settings["params"]["rank"] == shipped["rank"]
    assert settings["params"]["implicit"] is True

    # the pandas outputs of the later steps were not written, and nothing went to the 100k folders
    assert not (data / "03_primary/ml-1m/ratings_clean.csv").exists()
    assert not (data / "06_models/ml-1m/recommender.pkl").exists()
    assert not [path for path in data.rglob("*") if "ml-100k" in str(path)]


def test_default_run_stays_pandas(project):
    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        session.load_context()
    assert "train" in {node.name for node in pipelines["__default__"].nodes}
    assert not any(node.name.startswith("spark") for node in pipelines["__default__"].nodes)


def test_engine_spark_without_the_spark_environment_says_what_to_do(project):
    with pytest.raises(ValueError, match=r"no Spark datasets .* kedro run --env spark"):
        run(project, env=None, engine="spark")
    with pytest.raises(ValueError, match=r"engine must be one of \['pandas', 'spark'\], got 'dask'"):
        run(project, env=None, engine="dask")


def test_bad_spark_parameter_stops_the_run_before_anything_is_written(spark, project, members, monkeypatch):
    monkeypatch.setenv("MOVIELENS_100K", str(write_zip(members, project / "archive.zip")))
    with pytest.raises(ValueError, match=r"spark_models\.als_implicit\.rank must be a whole number >= 1, got 0"):
        run(project, min_user_ratings=3, min_movie_ratings=3, **{"spark_models.als_implicit.rank": 0})
    assert not any(path.is_file() for path in (project / "data").rglob("*"))


@pytest.mark.skipif(REAL_ARCHIVE is None, reason=SKIP_REAL)
def test_real_movielens_processing_keeps_the_pandas_rows(spark, project, monkeypatch):
    monkeypatch.setenv("MOVIELENS_100K", str(REAL_ARCHIVE))
    run(project, pipeline="spark_data_processing")
    summary = json.loads((project / "data/08_reporting/ml-100k/spark/data_processing_summary.json").read_text())
    assert summary["output"] == {"ratings": 94_968, "users": 943, "movies": 939}
    clean = spark.read.parquet(str(project / "data/03_primary/ml-100k/spark/ratings_clean.parquet")).toPandas()
    want, passes = filter_min_ratings(pd.read_csv(project / "data/02_intermediate/ml-100k/ratings.csv"), 5, 20)
    assert summary["passes"] == passes
    keys = ["userId", "movieId", "rating", "timestamp"]
    pd.testing.assert_frame_equal(
        clean[keys].sort_values(keys).reset_index(drop=True),
        want[keys].sort_values(keys).reset_index(drop=True),
        check_dtype=False,
    )


def test_every_spark_dataset_has_a_kedro_viz_layer(spark, project):
    """What `kedro viz run --env spark` groups by layer: each dataset of the spark pipeline, declared with one."""
    from kedro_viz.integrations.kedro.data_loader import load_data

    catalog, registered, _ = load_data(project, env="spark")
    names = {name for name in registered["spark"].datasets() if not name.startswith("params:")}
    layers = {}
    for name in names:
        metadata = getattr(catalog.get(name), "metadata", None) or {}
        layers[name] = (metadata.get("kedro-viz") or {}).get("layer")
    assert not [name for name, layer in layers.items() if not layer], layers
    assert layers["spark_ratings_clean"] == "primary" and layers["spark_model"] == "models"
