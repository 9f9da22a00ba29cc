"""kill -9 at the worst moments of a real `kedro run`: nothing partial is used, nothing mismatched is served.

Each test kills a `kedro run` subprocess at a logged moment (tests/killing.py), then checks what the next
run and `kedro serve` (load_project_state) make of what is left.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from movie_recommender.api import ArtifactsMissingError, load_project_state
from tests.conftest import copy_project, make_members, write_zip
from tests.killing import run_and_kill


def temporaries(folder: Path, name: str) -> list[Path]:
    return sorted(folder.glob(f".{name}.*.tmp"))


def run(root: Path, params: dict | None = None, **selection) -> None:
    """`kedro run` in this process (faster than the CLI when the run is not to be killed)."""
    bootstrap_project(root)
    with KedroSession.create(project_path=root, runtime_params=params or {}) as session:
        session.run(**selection)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A project after one complete `kedro run` on a synthetic archive (copied by each test)."""
    base = tmp_path_factory.mktemp("finished")
    archive = write_zip(make_members(), base / "synthetic.zip")
    root = copy_project(base / "project")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOVIELENS_100K", str(archive))
        patch.chdir(root)
        run(root, {"min_user_ratings": 2, "min_movie_ratings": 2}, pipeline_names=["data_processing", "modeling"])
    return root, archive


@pytest.fixture
def done(finished, tmp_path, monkeypatch):
    root, archive = finished
    copy = tmp_path / "project"
    shutil.copytree(root, copy)
    monkeypatch.chdir(copy)
    monkeypatch.delenv("MOVIELENS_100K", raising=False)
    return copy, archive


def test_kill_while_saving_ratings_clean_leaves_the_complete_file(done, monkeypatch):
    project, archive = done
    clean = project / "data/03_primary/ml-100k/ratings_clean.csv"
    before = clean.read_bytes()
    output = run_and_kill(
        project, "--pipelines", "data_processing", "--params", "min_user_ratings=3,min_movie_ratings=3",
        archive=archive, mid_write="ratings_clean.csv",
    )
    assert "Saving data to ratings_clean" in output
    assert clean.read_bytes() == before  # the previous complete file, not the half-written one
    assert len(temporaries(clean.parent, clean.name)) == 1  # the killed save's temporary file

    run(project, pipeline_names=["modeling"])
    model = pickle.loads((project / "data/06_models/ml-100k/recommender.pkl").read_bytes())
    assert model.ratings_.nnz == len(pd.read_csv(clean))  # trained on every row

    monkeypatch.setenv("MOVIELENS_100K", str(archive))
    run(project, {"min_user_ratings": 2, "min_movie_ratings": 2}, pipeline_names=["data_processing"])
    assert temporaries(clean.parent, clean.name) == []  # a later save removes the stale temporary file


def test_kill_while_saving_the_model_leaves_no_stale_temporary_file_behind(done):
    project, _ = done
    model = project / "data/06_models/ml-100k/recommender.pkl"
    before = model.read_bytes()
    run_and_kill(project, "--pipelines", "modeling", "--params", "model=popularity", mid_write="recommender.pkl")
    assert model.read_bytes() == before and len(temporaries(model.parent, model.name)) == 1
    assert load_project_state(project).info["class"] == "UserKNN"  # still served

    run(project, pipeline_names=["modeling"])
    assert temporaries(model.parent, model.name) == []


def test_kill_between_train_and_publish_is_refused_downstream(done):
    project, _ = done
    served = load_project_state(project)
    run_and_kill(project, "--pipelines", "modeling", "--params", "model=popularity", at_log="Running node: publish")
    live_model = pickle.loads((project / "data/06_models/ml-100k/recommender.pkl").read_bytes())
    assert type(live_model).__name__ == "Popularity"

    # kedro serve (and its --watch reload) keeps serving the last complete version: the killed run made none
    still = load_project_state(project)
    assert still.info["model_version"] == served.info["model_version"] and still.info["class"] == "UserKNN"
    shutil.rmtree(project / "data/06_models/ml-100k/versions")  # a project from before versions: the live files
    with pytest.raises(ArtifactsMissingError, match="not the file the run manifest lists") as refused:
        load_project_state(project)  # kedro serve (and its --watch reload)
    assert "did not finish" in str(refused.value) and "kedro run" in str(refused.value)
    with pytest.raises(ValueError, match=r"recommender \(.*not the file the run manifest lists"):
        run(project, node_names=["recommend"])  # a run that reads the model

    run(project, {"model": "popularity", "top_n": 4}, pipeline_names=["modeling"])
    now = load_project_state(project)
    assert now.info["class"] == "Popularity" and now.info["version"] != served.info["version"]
    manifest = json.loads((project / "data/06_models/ml-100k/run_manifest.json").read_text())
    record = manifest["runs"][now.info["run"]]
    assert record["parameters"]["model"] == "popularity" and record["parameters"]["top_n"] == 4
    assert set(record["inputs"]) == {"ratings_clean", "movies"}
    everyone = pd.read_csv(project / "data/07_model_output/ml-100k/all_recommendations.csv")
    assert manifest["artifacts"]["all_recommendations"]["rows"] == len(everyone)
    table = manifest["artifacts"]["all_recommendations_table"]
    assert table["kind"] == "table" and table["rows"] == len(everyone) and table["run"] == now.info["run"]


def test_a_failed_run_is_not_recorded(done):
    """A run that fails after train: its model is refused like a killed run's."""
    project, _ = done
    everyone = project / "data/07_model_output/ml-100k/all_recommendations.csv"
    published = everyone.read_bytes()
    everyone.unlink()
    everyone.mkdir()  # recommend_all cannot save its output
    served = load_project_state(project)
    with pytest.raises(Exception, match="all_recommendations"):
        run(project, {"model": "popularity"}, pipeline_names=["modeling"])
    live_model = pickle.loads((project / "data/06_models/ml-100k/recommender.pkl").read_bytes())
    assert type(live_model).__name__ == "Popularity"
    still = load_project_state(project)  # no version made: the last complete one is served
    assert still.info["model_version"] == served.info["model_version"] and still.info["class"] == "UserKNN"
    shutil.rmtree(project / "data/06_models/ml-100k/versions")
    everyone.rmdir()
    everyone.write_bytes(published)  # the last finished run's lists are back: the failed run's model is still refused
    with pytest.raises(ArtifactsMissingError, match="recommender .*not the file the run manifest lists"):
        load_project_state(project)


def test_modeling_refuses_inputs_the_manifest_does_not_list(done):
    """ratings_clean cut at a line boundary (what a killed write used to leave): the modeling run refuses it."""
    project, _ = done
    clean = project / "data/03_primary/ml-100k/ratings_clean.csv"
    lines = clean.read_text().splitlines(keepends=True)
    clean.write_text("".join(lines[: len(lines) * 3 // 4]))
    model = project / "data/06_models/ml-100k/recommender.pkl"
    before = model.read_bytes()
    with pytest.raises(ValueError, match=r"ratings_clean \(.*did not finish.*kedro run --pipelines data_processing"):
        run(project, pipeline_names=["modeling"])
    assert model.read_bytes() == before  # refused before any node ran
