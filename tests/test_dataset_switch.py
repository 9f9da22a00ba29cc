"""`dataset=`: every release (and a user's own ratings) end to end, each in its own output folders."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.synthetic import synthetic_archive
from tests.conftest import write_zip
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.test_run import kedro_cli, read, run_session

SMALL = "min_user_ratings=2,min_movie_ratings=2"


def run_pipelines(root: Path, pipelines: list[str], **runtime_params) -> None:
    bootstrap_project(root)
    with KedroSession.create(project_path=root, runtime_params=runtime_params) as session:
        session.run(pipeline_names=pipelines)


def outputs(root: Path) -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns for path in (root / "data").rglob("*.*")}


def test_release_switch_combines_with_env_and_keeps_runs_apart(project, tmp_path, members):
    """kedro run --env <env> --params dataset=ml-1m next to a 100k run: separate folders, nothing mixed."""
    write_zip(members, project / "data/01_raw/ml-100k.zip")
    run_pipelines(project, ["data_processing"], min_user_ratings=2, min_movie_ratings=2)
    before = {path: stamp for path, stamp in outputs(project).items() if "ml-100k" in str(path)}

    synthetic_archive("ml-1m", project / "data/01_raw/ml-1m.zip", scale=0.002)
    (project / "conf/staging").mkdir()
    (project / "conf/staging/parameters.yml").write_text("top_n: 3\n")
    run = kedro_cli(
        project, "--env", "staging", "--pipelines", "data_processing,modeling", "--params", f"dataset=ml-1m,{SMALL}"
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "is not the official MovieLens 1M" in run.stderr  # a synthetic stand-in: warned, used

    ratings = read(project, "02_intermediate/ml-1m/ratings.csv")
    movies = read(project, "02_intermediate/ml-1m/movies.csv")
    assert ratings.rating.isin([1, 2, 3, 4, 5]).all() and set(ratings.movieId) <= set(movies.movieId)
    top = read(project, "07_model_output/ml-1m/recommendations.csv")
    assert len(top) == 3 and set(top.movieId) <= set(movies.movieId)  # --env's top_n, the release's movies
    assert json.loads((project / "data/08_reporting/ml-1m/data_processing_summary.json").read_text())["input"][
        "ratings"
    ] == len(ratings)
    after = {path: stamp for path, stamp in outputs(project).items() if "ml-100k" in str(path)}
    assert after == before  # the 100k outputs are untouched
    assert not (project / "data/06_models/ml-100k/recommender.pkl").exists()  # and not replaced by 1M's model

    written = outputs(project)
    with pytest.raises(ValueError, match="Parameter dataset must be one of ml-100k, ml-1m, ml-10m, ml-20m, ml-25m"):
        run_session(project, dataset="ml-2m")
    assert outputs(project) == written  # found before any node ran


def test_folds_are_for_100k_and_time_cut_for_every_release(project):
    synthetic_archive("ml-latest-small", project / "data/01_raw/ml-latest-small.zip", scale=0.05)
    common = {"dataset": "ml-latest-small", "min_user_ratings": 2, "min_movie_ratings": 2}
    evaluation = {"split": "time_cut", "k": 5, "models": ["popularity", "bias"]}
    run_pipelines(project, ["data_processing", "evaluation"], **common, evaluation=evaluation)
    report = json.loads((project / "data/08_reporting/ml-latest-small/metrics.json").read_text())
    assert report["settings"]["split"] == "time_cut" and set(report["models"]) == {"popularity", "bias"}
    train = read(project, "05_model_input/ml-latest-small/evaluation_train.csv")
    test = read(project, "05_model_input/ml-latest-small/evaluation_test.csv")
    assert train.timestamp.max() < test.timestamp.min()  # a global cut: the test part is the future
    assert (train.rating % 1 == 0.5).any()  # half stars all the way through

    with pytest.raises(ValueError, match=r"evaluation.split must be random, temporal or time_cut for MovieLens latest-small"):
        run_pipelines(project, ["evaluation"], **common, evaluation={**evaluation, "split": "u1"})


def test_own_ratings_without_movies(project, caplog):
    """A user's export: other column names, a 1-10 scale, no timestamps, no movies.csv."""
    folder = project / "data/01_raw/mine"
    folder.mkdir()
    rows = [(user, item, (user * item) % 10 + 1) for user in range(1, 41) for item in range(1, 31) if (user + item) % 3]
    pd.DataFrame(rows, columns=["user_id", "item_id", "stars"]).to_csv(folder / "ratings.csv", index=False)
    (project / "conf/local/globals.yml").write_text(
        "custom_datasets:\n"
        "  mine:\n"
        "    columns: {user: user_id, movie: item_id, rating: stars, timestamp: null}\n"
        "    rating_scale: [1, 10, 1]\n"
    )
    evaluation = {"split": "random", "k": 5, "models": ["popularity", "ease", "content"]}
    run_session(project, dataset="mine", min_user_ratings=2, min_movie_ratings=2, evaluation=evaluation)

    ratings = read(project, "02_intermediate/mine/ratings.csv")
    assert list(ratings.columns) == ["userId", "movieId", "rating"] and ratings.rating.max() == 10
    top = read(project, "07_model_output/mine/recommendations.csv")
    assert len(top) == 10 and top.title.isna().all() and top.score.max() <= 10
    report = json.loads((project / "data/08_reporting/mine/metrics.json").read_text())
    assert set(report["models"]) == {"popularity", "ease"}  # content needs genres: skipped, saying so
    assert "Not evaluating content: they rank by genres and years" in caplog.text
    assert "recommendations list movie ids only" in caplog.text

    with pytest.raises(ValueError, match=r"Model content ranks movies by their genres .* Add a movies.csv"):
        run_session(project, dataset="mine", model="content", min_user_ratings=2, min_movie_ratings=2)


def test_evaluation_settings_ship_per_release_size(project):
    """From ML-20M on, the evaluation scores a sample of users with a shorter model list; an explicit
    --params value still wins, and the small releases keep every model and every user."""
    from kedro.config import OmegaConfigLoader

    from movie_recommender.settings import CONFIG_LOADER_ARGS

    def evaluation(**runtime_params):
        loader = OmegaConfigLoader(str(project / "conf"), **CONFIG_LOADER_ARGS, runtime_params=runtime_params)
        return loader["parameters"]["evaluation"]

    small, large = evaluation(), evaluation(dataset="ml-25m")
    assert small["max_users"] is None and "svd" in small["models"] and "blend" in small["models"]
    assert evaluation(dataset="ml-1m") == small
    assert large["max_users"] == 10_000 and set(large["models"]) < set(small["models"])
    assert "svd" not in large["models"] and "user_knn" in large["models"]
    assert evaluation(dataset="ml-32m")["max_users"] == 10_000
    assert evaluation(dataset="ml-25m", evaluation={"max_users": 500})["max_users"] == 500

    def item_knn_pool(**runtime_params):
        loader = OmegaConfigLoader(str(project / "conf"), **CONFIG_LOADER_ARGS, runtime_params=runtime_params)
        return loader["parameters"]["models"]["item_knn"]["pool"]

    assert item_knn_pool() == item_knn_pool(dataset="ml-10m") == 1000  # every movie of ML-100k: exact
    assert item_knn_pool(dataset="ml-25m") == 100


def test_env_and_params_change_single_nested_keys(project):
    """An environment's parameters.yml and --params a.b.c=... override one setting, not the whole mapping."""
    (project / "conf/staging").mkdir()
    (project / "conf/staging/parameters.yml").write_text("models:\n  user_knn:\n    neighbours: 7\n")
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env="staging", runtime_params={"models": {"ease": {"l2": 50.0}}}) as session:
        params = session.load_context().params
    with KedroSession.create(project_path=project) as session:
        base = session.load_context().params["models"]
    assert set(params["models"]) == set(base)
    assert params["models"]["user_knn"] == {**base["user_knn"], "neighbours": 7}
    assert params["models"]["ease"] == {**base["ease"], "l2": 50.0}
