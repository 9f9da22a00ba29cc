"""Versioned models (movie_recommender.datasets.versions): each complete run makes a version; kedro serve serves
the current complete one or a pinned one; kedro model rollback switches (with --watch following it); versions.keep
prunes old ones but never one being served."""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from movie_recommender.api import ArtifactsMissingError, create_app, load_project_state
from movie_recommender.datasets.versions import ModelVersions, VersionError
from tests.test_kill import run

MODELS = "data/06_models/ml-100k"
SMALL = {"min_user_ratings": 2, "min_movie_ratings": 2}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A project after two complete runs: version 1 trained `popularity`, version 2 `bias`."""
    from tests.conftest import copy_project, make_members, write_zip

    base = tmp_path_factory.mktemp("versions")
    archive = write_zip(make_members(), base / "synthetic.zip")
    root = copy_project(base / "project")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOVIELENS_100K", str(archive))
        patch.chdir(root)
        fresh_sqlite_engines()
        run(root, {**SMALL, "model": "popularity"}, pipeline_names=["data_processing", "modeling"])
        run(root, {**SMALL, "model": "bias"}, pipeline_names=["modeling"])
        fresh_sqlite_engines()
    return root


def fresh_sqlite_engines():
    """The SQLite URL of the catalog is relative: engines (and their pooled connections) opened in another
    project's folder must not be reused here."""
    from movie_recommender.datasets.atomic import AtomicSQLTableDataset

    for engine in AtomicSQLTableDataset.engines.values():
        engine.dispose()
    AtomicSQLTableDataset.engines.clear()


@pytest.fixture
def project(trained, tmp_path, monkeypatch):
    copy = tmp_path / "project"
    shutil.copytree(trained, copy)
    monkeypatch.chdir(copy)
    fresh_sqlite_engines()
    yield copy
    fresh_sqlite_engines()


def versions_of(root: Path) -> ModelVersions:
    return ModelVersions(
        path=str(root / MODELS / "versions"),
        outputs=["recommender", "all_recommendations", "all_recommendations_table", "recommendations"],
        inputs=["movies", "movie_rating_counts"],
    )


def model_class(path: Path) -> str:
    return type(pickle.loads(path.read_bytes())).__name__


def test_each_complete_run_makes_a_version_and_a_partial_run_none(trained, project, caplog):
    # in the original (copies do not keep hard links): the newest version shares the run's files
    versions = versions_of(trained)
    first, second = versions.complete()
    live = trained / MODELS / "recommender.pkl"
    assert os.path.samefile(second.file("recommender"), live)
    assert model_class(first.file("recommender")) == "Popularity" and model_class(live) == "Bias"
    assert versions.current_id() == second.id
    manifest = json.loads((trained / MODELS / "run_manifest.json").read_text())
    assert second.id == manifest["last_run"] == manifest["artifacts"]["recommender"]["run"]
    table = second.manifest["artifacts"]["all_recommendations_table"]
    assert table["kind"] == "table" and table["rows"] == len(pd.read_csv(second.file("all_recommendations")))
    assert set(second.files) == {
        "recommender",
        "recommendations",
        "all_recommendations",
        "movies",
        "movie_rating_counts",
    }
    assert second.run["parameters"]["model"] == "bias" and first.run["parameters"]["model"] == "popularity"

    # a run that writes only part of it (no published recommendations) makes no version and says so
    run(project, {**SMALL, "model": "popularity"}, node_names=["train"])
    assert [v.id for v in versions_of(project).complete()] == [first.id, second.id]
    assert "no new version of the model" in caplog.text
    served = load_project_state(project)  # the live model is refused; the version is served
    assert served.info["model_version"] == second.id and served.info["class"] == "Bias"


def test_serve_takes_the_current_complete_version_and_skips_incomplete_ones(project, caplog):
    versions = versions_of(project)
    first, second = versions.complete()
    served = load_project_state(project)
    assert served.info["model_version"] == second.id and served.info["class"] == "Bias"
    assert served.info["file"] == f"{MODELS}/versions/{second.id}/recommender.pkl" and not served.info["pinned"]
    assert served.files == (project / MODELS / "versions/current.json",)

    # a folder without a manifest (a copy in progress, a stray folder) is never a version
    (versions.path / "9999-unfinished").mkdir()
    (versions.path / "9999-unfinished" / "recommender.pkl").write_bytes(b"anything")
    # the current version loses a file: the newest complete one is served instead
    second.file("movies").unlink()
    assert not versions.get(second.id).complete
    served = load_project_state(project)
    assert served.info["model_version"] == first.id and served.info["class"] == "Popularity"
    assert "missing or incomplete" in caplog.text
    listing = CliRunner().invoke(cli(), ["model", "list"])
    assert listing.exit_code == 0, listing.output
    lines = {
        v: next(line for line in listing.output.splitlines() if f" {v} " in f" {line} ")
        for v in (first.id, second.id, "9999-unfinished")
    }
    assert lines[first.id].startswith("*") and "popularity" in lines[first.id]
    assert (
        "INCOMPLETE: movies.csv missing" in lines[second.id]
        and "INCOMPLETE: no manifest.json" in lines["9999-unfinished"]
    )

    # a file changed in place, same size: listed, but refused when served, never unpickled
    model_file = first.file("recommender")
    data = bytearray(model_file.read_bytes())
    data[-2] ^= 1
    model_file.unlink()
    model_file.write_bytes(bytes(data))
    with pytest.raises(ArtifactsMissingError, match=f"version {first.id}: .* changed after its run made the version"):
        load_project_state(project)


def test_a_pinned_version_is_served_whatever_the_current_one(project):
    first, second = versions_of(project).complete()
    pinned = load_project_state(project, version=first.id)
    assert pinned.info["model_version"] == first.id and pinned.info["pinned"] and pinned.files == ()
    assert pinned.info["class"] == "Popularity"
    with pytest.raises(ArtifactsMissingError, match=rf"no version 'nope' .*complete versions: {first.id}, {second.id}"):
        load_project_state(project, version="nope")
    second.file("all_recommendations").unlink()
    with pytest.raises(ArtifactsMissingError, match=f"version {second.id} is not complete"):
        load_project_state(project, version=second.id)
    result = CliRunner().invoke(cli(), ["serve", "--version", second.id, "--port", "1"])
    assert result.exit_code == 1 and "Cannot serve: version" in result.output and "not complete" in result.output

    # the server records the version it serves (retention keeps it) until it shuts down
    from fastapi.testclient import TestClient

    from movie_recommender.api import app_from_project

    versions = versions_of(project)
    with TestClient(app_from_project(project, watch=0, version=first.id)) as client:
        assert client.get("/health").json()["model"]["pinned"]
        assert [(lease["version"], lease["pinned"], lease["pid"]) for lease in versions.leases()] == [
            (first.id, True, os.getpid())
        ]
    assert versions.leases() == []


def cli():
    from movie_recommender.cli import cli as project_cli

    return project_cli


def wait_for(condition) -> bool:
    from tests.api.test_api import _wait

    return _wait(condition, timeout=10.0)


def table_rows(root: Path) -> pd.DataFrame:
    with sqlite3.connect(root / "data/07_model_output/ml-100k/recommendations.db") as conn:
        return pd.read_sql("SELECT * FROM all_recommendations ORDER BY userId, rank", conn)


def test_rollback_switches_a_watching_server_and_everything_published(project):
    from fastapi.testclient import TestClient

    first, second = versions_of(project).complete()

    def reload():
        return load_project_state(project)

    state = reload()
    watching = create_app(state, reload=reload, watch=state.files, interval=0.02)
    pinned_state = load_project_state(project, version=second.id)
    pinned = create_app(pinned_state, reload=reload, watch=pinned_state.files, interval=0.02)
    with TestClient(watching) as client, TestClient(pinned) as pinned_client:
        assert client.get("/health").json()["model"]["model_version"] == second.id
        result = CliRunner().invoke(cli(), ["model", "rollback"])
        assert result.exit_code == 0, result.output
        assert f"Now serving version {first.id} (was {second.id})" in result.output
        assert wait_for(lambda: client.get("/health").json()["model"]["model_version"] == first.id)
        health = client.get("/health").json()["model"]
        assert health["class"] == "Popularity" and health["dataset"] == "ml-100k" and not health["pinned"]
        assert client.get("/users/1/recommendations").status_code == 200
        # a pinned server stays where it is
        assert pinned_client.get("/health").json()["model"]["model_version"] == second.id

        # the published recommendations, the live model and the run manifest followed
        published = pd.read_csv(first.file("all_recommendations"))
        pd.testing.assert_frame_equal(table_rows(project), published, check_dtype=False)
        live = project / MODELS / "recommender.pkl"
        assert live.read_bytes() == first.file("recommender").read_bytes()
        assert (project / "data/07_model_output/ml-100k/all_recommendations.csv").read_bytes() == (
            first.file("all_recommendations").read_bytes()
        )
        manifest = json.loads((project / MODELS / "run_manifest.json").read_text())
        assert (
            manifest["artifacts"]["recommender"]["run"]
            == manifest["artifacts"]["all_recommendations_table"]["run"]
            == first.id
        )
        assert (
            manifest["artifacts"]["all_recommendations_table"]["sha256"]
            == first.manifest["artifacts"]["all_recommendations_table"]["sha256"]
        )  # the very table its run published
        run(project, node_names=["recommend"])  # the rolled-back model is accepted by later runs

        # nothing older to go back to: one message, nothing changed
        again = CliRunner().invoke(cli(), ["model", "rollback"])
        assert again.exit_code == 1 and "is the oldest complete version" in again.output
        # forward again, by name
        forward = CliRunner().invoke(cli(), ["model", "rollback", second.id])
        assert forward.exit_code == 0, forward.output
        assert wait_for(lambda: client.get("/health").json()["model"]["model_version"] == second.id)
        assert client.get("/health").json()["model"]["class"] == "Bias"


def test_rollback_selects_only_complete_versions(project):
    first, second = versions_of(project).complete()
    before = (project / MODELS / "versions/current.json").read_bytes()
    data = bytearray(first.file("all_recommendations").read_bytes())
    data[-2:-1] = b"9" if data[-2:-1] != b"9" else b"8"  # same size, other content
    first.file("all_recommendations").unlink()
    first.file("all_recommendations").write_bytes(bytes(data))
    for args in (["model", "rollback"], ["model", "rollback", first.id]):
        result = CliRunner().invoke(cli(), args)
        changed = f"version {first.id}: {MODELS}/versions/{first.id}/all_recommendations.csv changed after its run"
        assert result.exit_code == 1 and changed in result.output
    assert (project / MODELS / "versions/current.json").read_bytes() == before  # nothing switched
    assert model_class(project / MODELS / "recommender.pkl") == "Bias"
    first.file("movies").unlink()
    result = CliRunner().invoke(cli(), ["model", "rollback"])
    assert result.exit_code == 1 and f"{second.id} is the oldest complete version" in result.output


def change_in_place(path: Path, grow: bool = False) -> None:
    """Another content of the same size (the version stays complete, its sha256 no longer matches), or longer."""
    data = bytearray(path.read_bytes())
    data[-2] ^= 1
    path.unlink()  # the version's file may be a hard link to a run's output: leave that one alone
    path.write_bytes(bytes(data) + (b"\n" if grow else b""))


def last_line(output: str) -> str:
    return [line for line in output.splitlines() if line.strip()][-1]


@pytest.mark.parametrize(("changed", "grow"), [("recommender", False), ("recommendations", False), ("movies", True)])
def test_a_changed_file_of_a_version_is_refused_in_one_line_naming_it_and_the_version(
    project, changed, grow, monkeypatch
):
    """The model (which serving unpickles), a file serving does not read (recommendations.csv), or one whose size
    changed too: kedro serve --version, kedro serve of the current version and kedro model rollback each end with
    one line naming the version and the file and saying what to do, and change nothing."""
    import uvicorn

    def never(*args, **kwargs):
        raise AssertionError("kedro serve started a server on a version with a changed file")

    monkeypatch.setattr(uvicorn, "run", never)
    first, second = versions_of(project).complete()
    before = (project / MODELS / "versions/current.json").read_bytes()
    change_in_place(first.file(changed), grow)
    where = f"{MODELS}/versions/{first.id}/{first.files[changed]}"
    refusal = rf"version {first.id}: {where} changed after its run made the version \(sha256 "
    if grow:  # seen without reading it: the version is no longer complete
        refusal = rf"version {first.id} is not complete \({first.files[changed]} changed after its run: \d+ bytes"

    with pytest.raises(ArtifactsMissingError, match=refusal):
        load_project_state(project, version=first.id)
    listed = "(`kedro model list` shows them) or run `kedro run` to make a new one."
    for args, remedy in (
        (["serve", "--version", first.id], f"serve another version {listed}"),
        (["serve", "--workers", "2", "--version", first.id], f"serve another version {listed}"),
        (["model", "rollback", first.id], f"roll back to another version {listed}"),
    ):
        result = CliRunner().invoke(cli(), args)
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        line = last_line(result.output)
        assert re.search(refusal, line) and remedy in line, line
    assert (project / MODELS / "versions/current.json").read_bytes() == before  # nothing switched
    assert model_class(project / MODELS / "recommender.pkl") == "Bias"

    # the current version: the same line, with what to do when nothing is pinned
    if grow:  # an incomplete current version is passed over for the newest complete one (tested above)
        return
    change_in_place(second.file(changed))
    result = CliRunner().invoke(cli(), ["serve"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    line = last_line(result.output)
    assert line.startswith(f"Cannot serve: version {second.id}: {MODELS}/versions/{second.id}/{second.files[changed]}")
    assert "roll back to another version (`kedro model rollback`) or run `kedro run` to make a new one" in line


def test_serve_with_workers_serves_the_pinned_version(project):
    """kedro serve --workers 2 --version ID: both worker processes serve version ID (not the current one)."""
    from tests.api.test_api import _wait
    from tests.test_viz import free_port, get_json, stop

    first, second = versions_of(project).complete()
    port = free_port()
    log = project / "serve.log"
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1", "PYTHONUNBUFFERED": "1"}
    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "kedro", "serve", "--workers", "2", "--version", first.id, "--port", str(port),
             "--watch", "0", "--no-access-log"],
            cwd=project, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    versions = versions_of(project)

    def health() -> dict | None:
        try:
            return get_json(f"http://127.0.0.1:{port}/health", timeout=5)["model"]
        except (OSError, ValueError):
            return None

    try:
        started = _wait(lambda: server.poll() is not None or len(versions.leases()) == 2, timeout=90, every=0.2)
        assert started and server.poll() is None, log.read_text()[-3000:]
        assert _wait(lambda: health() is not None, timeout=30, every=0.2), log.read_text()[-3000:]
        served = [health() for _ in range(8)]
        assert {(h["model_version"], h["pinned"], h["class"]) for h in served} == {(first.id, True, "Popularity")}
        # beyond the published top_n: the pinned version's model, run in a model worker process
        beyond = get_json(f"http://127.0.0.1:{port}/users/1/recommendations?n=20", timeout=30)
        assert beyond["model"] == "Popularity" and len(beyond["recommendations"]) > 10
        leases = versions.leases()
        assert len({lease["pid"] for lease in leases}) == 2  # two processes, each serving the pinned version
        assert {(lease["version"], lease["pinned"]) for lease in leases} == {(first.id, True)}
        assert versions.current_id() == second.id
    finally:
        stop(server)
    assert server.returncode is not None


def test_retention_prunes_old_versions_but_never_a_served_one(project):
    versions = versions_of(project)
    first, second = versions.complete()
    stale = versions.path / f".{second.id}.999999999.abcd1234.tmp"  # a snapshot killed mid-way
    stale.mkdir()
    (versions.path / "stray").mkdir()  # incomplete: no manifest
    # a server of this host serves the oldest version (pinned); one that died served the second
    versions.lease(first.id, pinned=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    lease_dir = versions.path / ".serving"
    (lease_dir / f"{socket.gethostname()}.{dead_pid}.json").write_text(
        json.dumps({"version": second.id, "pid": dead_pid, "host": socket.gethostname(), "pinned": False})
    )
    try:
        run(project, {**SMALL, "model": "popularity", "versions": {"keep": 1}}, pipeline_names=["modeling"])
        third = versions.complete()[-1]
        assert [v.id for v in versions.versions()] == [first.id, third.id]  # first: served; second: pruned
        assert versions.current_id() == third.id
        assert not stale.exists() and not (versions.path / "stray").exists()
        assert [lease["version"] for lease in versions.leases()] == [first.id]  # the dead one's record is gone
    finally:
        versions.release()
    run(project, {**SMALL, "model": "bias", "versions": {"keep": 2}}, pipeline_names=["modeling"])
    fourth = versions.complete()[-1]
    assert [v.id for v in versions.versions()] == [third.id, fourth.id]

    # a bad setting stops the run before anything is written
    model = (project / MODELS / "recommender.pkl").read_bytes()
    with pytest.raises(ValueError, match=r"versions.keep must be a whole number >= 1, got 0"):
        run(project, {**SMALL, "model": "popularity", "versions": {"keep": 0}}, pipeline_names=["modeling"])
    assert (project / MODELS / "recommender.pkl").read_bytes() == model
    assert [v.id for v in versions.versions()] == [third.id, fourth.id]
    with pytest.raises(VersionError, match="keep must be a whole number"):
        versions.prune(0)
