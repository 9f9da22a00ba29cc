"""MLflow tracking of `kedro run` (kedro-mlflow plus movie_recommender.tracking), in a temporary project."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from mlflow import MlflowClient

from movie_recommender.tracking import metric_name, summary_metrics, table_metrics, tracking_uri
from tests.conftest import write_zip

SMALL = {"min_user_ratings": 2, "min_movie_ratings": 2}


@pytest.fixture
def tracked(project, tmp_path, members, monkeypatch):
    """The temporary project with MLflow tracking on and the synthetic archive."""
    monkeypatch.setenv("MOVIELENS_100K", str(write_zip(members, tmp_path / "synthetic.zip")))
    monkeypatch.setenv("MOVIE_RECOMMENDER_MLFLOW", "on")
    return project


def runs(uri: str) -> list:
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("movie_recommender")
    return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])


def run(root, pipeline: str = "__default__", **params) -> None:
    bootstrap_project(root)
    with KedroSession.create(project_path=root, runtime_params={**SMALL, **params}) as session:
        session.run(pipeline_names=[pipeline])


def test_every_run_is_recorded_with_params_metrics_and_artifacts(tracked):
    models = ["random", "popularity", "user_knn", "ease"]
    run(tracked, evaluation={"models": models})
    with pytest.raises(ValueError, match="user_id 99999 has no ratings"):
        run(tracked, "modeling", model="ease", user_id=99999)

    uri = f"sqlite:///{tracked / 'mlflow.db'}"
    done, failed = runs(uri)
    assert (done.info.status, failed.info.status) == ("FINISHED", "FAILED")
    assert done.data.params["model"] == "user_knn"
    assert done.data.params["models.user_knn.neighbours"] == "40"  # flattened settings
    assert done.data.params["dataset"] == done.data.tags["dataset"] == "ml-100k"
    assert done.data.params["top_n"] == "10"

    metrics = pd.read_csv(tracked / "data/08_reporting/ml-100k/metrics.csv")
    assert sorted(metrics["model"]) == sorted(models)
    logged = done.data.metrics
    for row in metrics.to_dict("records"):  # every model's row of metrics.csv
        for column in ("ndcg@10", "precision@10", "coverage@10", "fit_seconds"):
            assert logged[f"{row['model']}/{metric_name(column)}"] == pytest.approx(row[column], rel=1e-5)
    assert logged["trained_model/ndcg_at_10"] == logged["user_knn/ndcg_at_10"]
    summary = json.loads((tracked / "data/08_reporting/ml-100k/data_processing_summary.json").read_text())
    assert logged["data/output/ratings"] == summary["output"]["ratings"]

    client = MlflowClient(tracking_uri=uri)
    run_id = done.info.run_id
    artifacts = {f.path for folder in ("data", "evaluation", "model") for f in client.list_artifacts(run_id, folder)}
    assert artifacts == {
        "data/data_processing_summary.json",
        "evaluation/metrics.csv",
        "evaluation/metrics.png",
        "model/recommender.pkl",
        "model/settings.json",
    }
    assert "run_manifest.json" in {f.path for f in client.list_artifacts(run_id)}  # issue 9's record of the run
    settings = json.loads(Path(client.download_artifacts(run_id, "model/settings.json", str(tracked))).read_text())
    assert settings["class"] == "UserKNN" and settings["params"]["neighbours"] == 40
    assert done.data.tags["model_class"] == "UserKNN"
    with Path(client.download_artifacts(run_id, "model/recommender.pkl", str(tracked))).open("rb") as stream:
        model = pickle.load(stream)
    top = pd.read_csv(tracked / "data/07_model_output/ml-100k/recommendations.csv")  # the failed run did not reach it
    assert model.recommend(1, 10)["movieId"].tolist() == top["movieId"].tolist()


def test_bad_parameter_opens_no_mlflow_run(tracked):
    """Parameters are validated before kedro-mlflow opens a run: nothing is recorded, no store is made."""
    with pytest.raises(ValueError, match="top_n"):
        run(tracked, top_n=0)
    assert not (tracked / "mlflow.db").exists()


def test_tracking_uri_is_one_setting_in_conf_local(tracked, tmp_path):
    store = tmp_path / "elsewhere" / "runs.db"
    store.parent.mkdir()
    (tracked / "conf/local/mlflow.yml").write_text(f"server:\n  mlflow_tracking_uri: sqlite:///{store}\n")
    run(tracked, "data_processing")
    assert not (tracked / "mlflow.db").exists()
    (recorded,) = runs(f"sqlite:///{store}")
    assert recorded.data.params["min_user_ratings"] == "2"
    assert recorded.data.tags["dataset"] == "ml-100k"  # the rest of conf/base/mlflow.yml still holds


def test_sessions_without_a_run_and_switched_off_runs_touch_no_store(project, tmp_path, members, monkeypatch):
    """`kedro serve`, viz and notebooks create sessions without running: no store; nor does a run with
    MOVIE_RECOMMENDER_MLFLOW=off (the tests' default)."""
    monkeypatch.setenv("MOVIELENS_100K", str(write_zip(members, tmp_path / "synthetic.zip")))
    run(project, "data_processing")
    monkeypatch.setenv("MOVIE_RECOMMENDER_MLFLOW", "on")
    with KedroSession.create(project_path=project) as session:
        context = session.load_context()
        assert context.mlflow.server.mlflow_tracking_uri == f"sqlite:///{project / 'mlflow.db'}"
    assert not (project / "mlflow.db").exists()
    assert not list(project.glob("mlruns*"))


def test_metric_helpers():
    table = pd.DataFrame(
        {"model": ["a", "b"], "ndcg@10": [0.5, 0.25], "rmse": [math.nan, 0.9], "fit_seconds": [1, 2]}
    )
    assert table_metrics(table, trained="b") == {
        "a/ndcg_at_10": 0.5,
        "a/fit_seconds": 1.0,
        "b/ndcg_at_10": 0.25,
        "b/rmse": 0.9,
        "b/fit_seconds": 2.0,
        "trained_model/ndcg_at_10": 0.25,
        "trained_model/rmse": 0.9,
        "trained_model/fit_seconds": 2.0,
    }
    assert summary_metrics({"input": {"ratings": 10, "users": 2}, "passes": 1, "note": "x"}) == {
        "data/input/ratings": 10.0,
        "data/input/users": 2.0,
        "data/passes": 1.0,
    }
    assert tracking_uri("/p", None) == "sqlite:////p/mlflow.db"
    assert tracking_uri("/p", "sqlite:///sub/m.db") == "sqlite:////p/sub/m.db"
    assert tracking_uri("/p", "sqlite:////abs/m.db") == "sqlite:////abs/m.db"
    assert tracking_uri("/p", "http://host:5000") == "http://host:5000"
