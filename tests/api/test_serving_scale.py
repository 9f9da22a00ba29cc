"""Serving at scale: the published lists instead of the model, and model work in worker processes."""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import pickle
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from movie_recommender.api import ArtifactsMissingError, ServingState, create_app, load_project_state
from movie_recommender.api.guard import ServeSettings
from movie_recommender.api.workers import WorkerError, WorkerSource
from movie_recommender.errors import UserError
from movie_recommender.recsys import UserKNN
from tests.api.test_api import RunsCode, _wait

BLOCK = 24  # a movie of the synthetic model: rating it makes BlockingKNN's fold-in hold the GIL
MANY = 20  # a published top_n some users of the synthetic model do not have that many candidates for


class BlockingKNN(UserKNN):
    """A UserKNN whose fold-in, given movie BLOCK, writes its pid to ``<folder>/blocked`` and then holds the
    GIL, 3 s at a time, until ``<folder>/release`` exists (a C call made through ctypes.PyDLL never releases
    the GIL: what a model's long compiled loop does)."""

    folder: str = ""

    def recommend_new(self, ratings, n=10):
        if BLOCK in dict(ratings) and self.folder:
            Path(self.folder, "blocked").write_text(str(os.getpid()))
            deadline = time.monotonic() + 60
            while not Path(self.folder, "release").exists() and time.monotonic() < deadline:
                ctypes.PyDLL(None).sleep(3)
        return super().recommend_new(ratings, n)


def published(model, top_n=10):
    """all_recommendations as the pipeline writes it (scores with 4 decimals) and reads it back."""
    return model.recommend_all(top_n).round({"score": 4})


class Calls:
    """Counts the model's recommend/recommend_all calls (monkeypatched onto the instance)."""

    def __init__(self, monkeypatch, model):
        self.count = 0
        for name in ("recommend", "recommend_all"):
            real = getattr(model, name)

            def counted(*args, _real=real, **kwargs):
                self.count += 1
                return _real(*args, **kwargs)

            monkeypatch.setattr(model, name, counted)


# ------------------------------------------------------------------ the published lists
def test_published_lists_are_served_without_running_the_model(fitted, state, monkeypatch):
    model, movies, _ = fitted
    served = ServingState(model, movies, published=published(model), precompute=False)
    calls = Calls(monkeypatch, model)
    with TestClient(create_app(served)) as client:
        for n in (3, 10):
            body = client.get(f"/users/7/recommendations?n={n}").json()
            assert body == json.loads(state.user_response(7, n))  # what the model itself answers
        assert calls.count == 0 and served.info["published_top_n"] == 10
        # more than was published: the model computes that request
        long = client.get("/users/7/recommendations?n=15").json()["recommendations"]
        assert calls.count > 0 and long == json.loads(state.user_response(7, 15))["recommendations"]


def test_a_published_list_shorter_than_top_n_holds_every_candidate(fitted, monkeypatch):
    model, movies, _ = fitted
    table = published(model, top_n=MANY)
    lengths = table.groupby("userId").size()
    short = int(lengths[lengths < MANY].index[0])  # rated so much that fewer than MANY movies are left
    served = ServingState(model, movies, published=table, precompute=False)
    calls = Calls(monkeypatch, model)
    with TestClient(create_app(served)) as client:
        recs = client.get(f"/users/{short}/recommendations?n={MANY + 5}").json()["recommendations"]
    assert calls.count == 0 and [r["movieId"] for r in recs] == table[table.userId == short].movieId.tolist()


def test_published_lists_of_another_model_are_refused(fitted):
    model, movies, _ = fitted
    table = published(model)
    table.loc[0, "movieId"] = 25  # a movie the model does not know
    with pytest.raises(ArtifactsMissingError, match="does not belong to the model: it recommends movie 25"):
        ServingState(model, movies, published=table)


def test_lists_published_by_another_run_are_refused(project_copy, fitted):
    from tests.api.conftest import place_artifacts

    root, (model, movies, _) = project_copy, fitted
    place_artifacts(root, model, movies)
    manifest_file = root / "data/06_models/ml-100k/run_manifest.json"
    manifest = json.loads(manifest_file.read_text())
    manifest["runs"]["run-0"] = {"finished_at": "2026-01-01T00:00:00+00:00", "parameters": {}, "inputs": {}}
    manifest["artifacts"]["all_recommendations"]["run"] = "run-0"  # lists of an earlier run, another model
    manifest_file.write_text(json.dumps(manifest))
    with pytest.raises(ArtifactsMissingError, match="all_recommendations and recommender do not belong together"):
        load_project_state(root)
    sha = manifest["artifacts"]["recommender"]["sha256"]  # a later run that read this very model: fine
    manifest["runs"]["run-0"]["inputs"] = {"recommender": {"sha256": sha}}
    manifest_file.write_text(json.dumps(manifest))
    state = load_project_state(root)
    assert state.info["published_top_n"] == 10 and state.model_file[1] == sha
    assert state.settings.fold_in_workers == 2  # conf/base/parameters_serving.yml


# ------------------------------------------------------------------ model worker processes
def test_fold_in_workers_setting():
    assert ServeSettings.from_config({"fold_in_workers": 0}, {}).fold_in_workers == 0
    assert ServeSettings.from_config({"fold_in_workers": 3}, {}).fold_in_workers == 3
    with pytest.raises(UserError, match="serving.fold_in_workers must be a number >= 0, got -1"):
        ServeSettings.from_config({"fold_in_workers": -1}, {})
    assert ServeSettings.from_config({"fold_in_worker_nice": 0}, {}).fold_in_worker_nice == 0
    with pytest.raises(UserError, match="serving.fold_in_worker_nice must be a whole number, got 2.5"):
        ServeSettings.from_config({"fold_in_worker_nice": 2.5}, {})


def test_a_worker_never_unpickles_a_model_file_that_changed(tmp_path, fitted):
    model, movies, _ = fitted
    marker, model_file = tmp_path / "code-ran", tmp_path / "recommender.pkl"
    model_file.write_bytes(pickle.dumps(model))
    checked = WorkerSource(movies=movies, info={}, fold_in=True, reveal_ratings=True, model_path=str(model_file),
                           sha256=hashlib.sha256(model_file.read_bytes()).hexdigest())
    assert type(checked.load_model()).__name__ == "UserKNN"
    model_file.write_bytes(pickle.dumps(RunsCode(marker)))  # replaced after the server checked it
    with pytest.raises(WorkerError, match="changed since the server checked it"):
        checked.load_model()
    assert not marker.exists()


def test_fold_ins_run_in_worker_processes_and_a_reload_recycles_them(tmp_path, fitted):
    """A fold-in holding the GIL for seconds blocks neither /health nor GET (it runs in another process);
    a reload starts new workers, and the old one answers its running fold-in before it stops."""
    _, movies, ratings = fitted
    model = BlockingKNN(neighbours=10).fit(ratings)
    model.folder = str(tmp_path)
    blocked_file = tmp_path / "blocked"
    first = ServingState(model, movies, model_info={"version": "first"}, published=published(model), fold_in=True)
    second = ServingState(model, movies, model_info={"version": "second"}, published=published(model), fold_in=True)
    watched = tmp_path / "recommender.pkl"
    watched.write_bytes(b"first")
    settings = ServeSettings(fold_in_workers=1, fold_in_worker_nice=0)
    app = create_app(first, reload=lambda: second, watch=watched, interval=0.05, settings=settings)
    body = [{"movieId": BLOCK, "rating": 5}, {"movieId": 1, "rating": 4}]
    with TestClient(app) as client:
        assert client.post("/recommendations", json=body[1:]).status_code == 200  # the worker is up
        old = app.state.model_workers()
        (old_pid,) = old.pids
        assert old_pid != os.getpid()
        answers = []
        blocked = threading.Thread(target=lambda: answers.append(client.post("/recommendations", json=body)))
        blocked.start()
        assert _wait(blocked_file.exists, 30)
        assert blocked_file.read_text() == str(old_pid)  # the fold-in runs in the worker process
        started = time.monotonic()
        assert client.get("/health").status_code == 200 and client.get("/users/7/recommendations").status_code == 200
        assert time.monotonic() - started < 1.0  # while the worker holds its GIL (3 s at a time)

        watched.write_bytes(b"second")  # kedro run replaced the model: reload while the fold-in runs
        assert _wait(lambda: client.get("/health").json()["model"].get("version") == "second", 60)
        new = app.state.model_workers()
        assert new is not old and new.pids and new.pids[0] != old_pid
        assert old.pids == [old_pid] and not answers  # retired, still answering its fold-in
        (tmp_path / "release").touch()
        blocked.join(30)
        assert [a.status_code for a in answers] == [200]  # the old worker answered before it stopped
        assert _wait(lambda: not old.pids, 10)
        assert client.post("/recommendations", json=body[1:]).status_code == 200
    assert not new.pids  # stopped with the app
