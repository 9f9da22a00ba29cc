"""End to end: the project as a user runs it, with KedroSession and the kedro CLI.

Runs in a temporary copy of the project, so the repository's data/ is never touched.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.conftest import PROJECT_ROOT, real_archive, write_zip

REAL_ARCHIVE = real_archive()  # read before the project fixture clears $MOVIELENS_100K
SKIP_REAL = (
    "the real MovieLens 100k archive is not here: set MOVIELENS_100K=/path/to/ml-100k.zip "
    "or put it at ../shared/datasets/ml-100k.zip to run this test"
)


def run_session(root: Path, **runtime_params) -> None:
    bootstrap_project(root)
    with KedroSession.create(project_path=root, runtime_params=runtime_params) as session:
        session.run()


def kedro_cli(root: Path, *args: str, archive: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}
    env.pop("MOVIELENS_100K", None)
    if archive:
        env["MOVIELENS_100K"] = str(archive)
    return subprocess.run(
        [sys.executable, "-m", "kedro", "run", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def read(root: Path, relative: str) -> pd.DataFrame:
    return pd.read_csv(root / "data" / relative, keep_default_na=False, na_values=[""])


@pytest.mark.skipif(REAL_ARCHIVE is None, reason=SKIP_REAL)
def test_kedro_session_on_real_movielens(project, monkeypatch):
    monkeypatch.setenv("MOVIELENS_100K", str(REAL_ARCHIVE))
    run_session(project)

    ratings = read(project, "02_intermediate/ml-100k/ratings.csv")
    movies = read(project, "02_intermediate/ml-100k/movies.csv")
    assert ratings.shape == (100_000, 4) and ratings.rating.between(1, 5).all()
    assert movies.shape == (1682, 4)
    assert movies.set_index("movieId").loc[543, "title"] == "Misérables, Les"
    assert movies.set_index("movieId").loc[267].title == "unknown"
    assert pd.isna(movies.set_index("movieId").loc[267].year)

    clean = read(project, "03_primary/ml-100k/ratings_clean.csv")
    assert clean.groupby("userId").size().min() >= 5 and clean.groupby("movieId").size().min() >= 20
    assert len(clean) == 94_968  # known figure for ml-100k with thresholds 5 and 20

    top = read(project, "07_model_output/ml-100k/recommendations.csv")
    assert list(top.columns) == ["rank", "movieId", "title", "year", "genres", "score"]
    assert len(top) == 10 and not set(top.movieId) & set(ratings.movieId[ratings.userId == 1])
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    csv_text = (project / "data/07_model_output/ml-100k/recommendations.csv").read_text(encoding="utf-8")
    assert csv_text in readme, "the README's example for user 1 no longer matches a real run: update it"
    everyone = read(project, "07_model_output/ml-100k/all_recommendations.csv")
    assert everyone.userId.nunique() == 943 and (everyone.groupby("userId").size() == 10).all()
    assert (project / "data/06_models/ml-100k/recommender.pkl").stat().st_size > 0
    assert (project / "data/08_reporting/ml-100k/data_processing_summary.json").exists()


# sha256 of what `kedro run --pipelines data_processing` writes from the official MovieLens 100k archive:
# faster readers and writers must not change a byte (update only for an intended change of the outputs).
DATA_PROCESSING_100K = {
    "02_intermediate/ml-100k/ratings.csv": "5a7f3484cb92daa6d9560365bb6b74582d8a7026ef394ca6082e4bb8e23bfed0",
    "02_intermediate/ml-100k/movies.csv": "1911c5887759b3b7feae9be3162a0d2991a0937a45ec7bc777d1f845ff84bec9",
    "03_primary/ml-100k/movie_rating_counts.csv": "e1579bb177d7dbe52ddefd8c7ffebd1d5eb673142df1eee3d5fcaaed3429c072",
    "03_primary/ml-100k/ratings_clean.csv": "3400881eda0376bb9bc48617f0d406a20f9a3c98801674da40874648c00303d5",
    "08_reporting/ml-100k/data_processing_summary.json": "c45d4d9f57d6547cd7b4ff345fcc7b23936c298200dd7700661d4988b1dc71ed",
}


@pytest.mark.skipif(REAL_ARCHIVE is None, reason=SKIP_REAL)
def test_data_processing_on_real_movielens_writes_the_same_bytes(project, monkeypatch):
    monkeypatch.setenv("MOVIELENS_100K", str(REAL_ARCHIVE))
    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        session.run(pipeline_names=["data_processing"])
    written = {name: hashlib.sha256((project / "data" / name).read_bytes()).hexdigest() for name in DATA_PROCESSING_100K}
    assert written == DATA_PROCESSING_100K


def test_cli_on_synthetic_archive(project, tmp_path, members):
    """`kedro run`, then `--pipelines modeling --params ...` on the persisted outputs, then `--nodes`."""
    archive = write_zip(members, tmp_path / "synthetic.zip")
    thresholds = "min_user_ratings=2,min_movie_ratings=2"
    first = kedro_cli(project, "--params", thresholds, archive=archive)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "passed the format checks" in first.stdout + first.stderr  # synthetic != official: warned
    assert "register_new_resolver" not in first.stdout + first.stderr  # Kedro's deprecated calls, filtered

    second = kedro_cli(project, "--pipelines", "modeling", "--params", "user_id=7,top_n=3")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    top = read(project, "07_model_output/ml-100k/recommendations.csv")
    assert list(top["rank"]) == [1, 2, 3]
    everyone = read(project, "07_model_output/ml-100k/all_recommendations.csv")
    assert everyone[everyone.userId == 7].movieId.tolist() == top.movieId.tolist()

    third = kedro_cli(project, "--nodes", "recommend", "--params", "user_id=8,top_n=2")
    assert third.returncode == 0, third.stdout[-3000:] + third.stderr[-3000:]
    assert len(read(project, "07_model_output/ml-100k/recommendations.csv")) == 2

    bad = kedro_cli(project, "--nodes", "recommend", "--params", "user_id=99999")
    assert_one_message(bad, "user_id 99999 has no ratings in the training data")
    assert len(read(project, "07_model_output/ml-100k/recommendations.csv")) == 2  # previous result intact

    # an unknown user in a full run: found before train and evaluate, so the model, the metrics and the
    # published recommendations all stay those of the previous run
    kept = [
        "06_models/ml-100k/recommender.pkl",
        "07_model_output/ml-100k/all_recommendations.csv",
        "07_model_output/ml-100k/recommendations.db",
        "08_reporting/ml-100k/metrics.csv",
        "08_reporting/ml-100k/metrics.json",
    ]
    before = {name: (project / "data" / name).stat().st_mtime_ns for name in kept}
    bad = kedro_cli(project, "--params", f"{thresholds},user_id=99999", archive=archive)
    assert_one_message(bad, "user_id 99999 has no ratings in the training data")
    assert {name: (project / "data" / name).stat().st_mtime_ns for name in kept} == before

    written = {path: path.stat().st_mtime_ns for path in (project / "data").rglob("*.*")}
    bad = kedro_cli(project, "--params", "models.user_knn.neighbours=0", archive=archive)
    assert_one_message(bad, "Parameter models.user_knn.neighbours must be a whole number >= 1, got 0")
    assert {path: path.stat().st_mtime_ns for path in (project / "data").rglob("*.*")} == written  # nothing ran


def assert_one_message(result: subprocess.CompletedProcess, message: str) -> None:
    """A user error: exit status 1 and one line `Error: <message>` at the end; no traceback."""
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "Traceback" not in output and "╭" not in output, output[-3000:]  # neither plain nor Rich
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: ") and message in last, output[-3000:]
    assert output.count(message) == 1, output[-3000:]  # not also in Kedro's "Node ... failed" log
    assert "Repeat the previous command" not in output and "resume the pipeline" not in output


def test_offline_without_archive_fails_cleanly(project):
    """No network, no local copy: one message saying what failed and how to fix it; nothing half-written."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    (project / "conf/local/catalog.yml").write_text(
        "movielens_archive:\n"
        "  type: movie_recommender.datasets.MovieLensArchiveDataset\n"
        "  filepath: data/01_raw/ml-100k.zip\n"
        f"  url: http://127.0.0.1:{port}/ml-100k.zip\n"
        "  timeout: 5\n"
    )
    result = kedro_cli(project)
    assert_one_message(result, "Could not download MovieLens 100k")
    message = result.stderr.strip().splitlines()[-1]
    assert "MOVIELENS_100K" in message and "data/01_raw/ml-100k.zip" in message
    assert "the official archive, or a re-pack of its files" in message
    assert [p.name for p in (project / "data/01_raw").iterdir()] == []
    assert not (project / "data/02_intermediate/ml-100k/ratings.csv").exists()
