"""Every endpoint and its errors, on a small synthetic model (tests/api/conftest.py)."""

from __future__ import annotations

import pickle

import orjson
import pandas as pd
import pytest

from movie_recommender.api import ArtifactsMissingError, ServingState, load_project_state
from movie_recommender.api.state import MAX_N
from movie_recommender.recsys.explain import ItemSimilarity


def test_health(client, fitted):
    model, movies, ratings = fitted
    body = client.get("/health").json()
    assert body["status"] == "ok"
    info = body["model"]
    assert info["class"] == "UserKNN" and info["trained_at"] == "2026-01-01T00:00:00+00:00"
    assert (info["users"], info["movies"], info["ratings"]) == (30, model.ratings_.shape[1], len(ratings))
    assert info["catalog_movies"] == len(movies)


def test_user_recommendations_match_the_model(client, fitted):
    model, _, _ = fitted
    response = client.get("/users/7/recommendations", params={"n": 3})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["userId"] == 7 and body["strategy"] == "personalized" and body["model"] == "UserKNN"
    expected = model.recommend(7, 3)
    recs = body["recommendations"]
    assert [r["movieId"] for r in recs] == expected.movieId.tolist()
    assert [r["rank"] for r in recs] == [1, 2, 3]
    assert [r["score"] for r in recs] == pytest.approx(expected.score.tolist(), abs=1e-4)
    assert {"title", "year", "genres"} <= set(recs[0])
    rated = set(model.ratings_[model._rows([7])[0]].indices)
    for rec in recs:
        assert len(rec["because_you_rated"]) <= 3
        for reason in rec["because_you_rated"]:
            assert model._cols([reason["movieId"]])[0] in rated and 0 < reason["similarity"] <= 1


def test_user_recommendations_default_and_max_n(client):
    assert len(client.get("/users/7/recommendations").json()["recommendations"]) == 10
    many = client.get("/users/7/recommendations", params={"n": MAX_N}).json()["recommendations"]
    assert 10 <= len(many) <= MAX_N  # at most the movies the user has not rated


@pytest.mark.parametrize("user", ["0", "31", "-1", "99999999999999999999999999"])
def test_unknown_user_is_404(client, user):
    response = client.get(f"/users/{user}/recommendations")
    assert response.status_code == 404
    assert "unknown" in response.json()["detail"] and "POST /recommendations" in response.json()["detail"]


@pytest.mark.parametrize("query", ["n=0", "n=101", "n=-5", "n=abc", "n=2.5", "n="])
def test_bad_n_is_422(client, query):
    assert client.get(f"/users/7/recommendations?{query}").status_code == 422
    assert client.get(f"/movies/1/similar?{query}").status_code == 422
    assert client.post(f"/recommendations?{query}", json=[{"movieId": 1, "rating": 4}]).status_code == 422


def test_non_integer_user_is_422(client):
    assert client.get("/users/abc/recommendations").status_code == 422


def test_similar_movies(client, state):
    body = client.get("/movies/1/similar", params={"n": 4}).json()
    assert body["movie"]["movieId"] == 1
    similar = body["similar"]
    assert 0 < len(similar) <= 4 and all(s["movieId"] != 1 for s in similar)
    sims = [s["similarity"] for s in similar]
    assert sims == sorted(sims, reverse=True) and all(0 < s <= 1 for s in sims)
    # brute force: cosine between dense rating columns
    dense = state.model.ratings_.toarray()
    col = state.item_cols[1]
    norms = (dense**2).sum(axis=0) ** 0.5
    cosine = dense.T @ dense[:, col] / (norms * norms[col])
    cosine[col] = -1
    assert similar[0]["movieId"] == int(state.model.item_ids_[cosine.argmax()])
    assert similar[0]["similarity"] == pytest.approx(cosine.max(), abs=1e-4)


def test_similar_unknown_or_unmodelled_movie_is_404(client):
    unknown = client.get("/movies/12345/similar")
    assert unknown.status_code == 404 and "unknown" in unknown.json()["detail"]
    dropped = client.get("/movies/25/similar")  # in movies.csv, but filtered out of the training data
    assert dropped.status_code == 404 and "too few ratings" in dropped.json()["detail"]


def test_search_movies(client):
    body = client.get("/movies", params={"query": "TOY"}).json()
    assert [m["movieId"] for m in body["movies"]] == [99]
    assert body["movies"][0] == {"movieId": 99, "title": "Toy Soldiers", "year": None, "genres": [], "ratings": 0}
    found = client.get("/movies", params={"query": "movie", "limit": 3}).json()["movies"]
    assert len(found) == 3 and all("movie" in m["title"].lower() for m in found)
    assert client.get("/movies", params={"query": "misérables"}).json()["movies"][0]["movieId"] == 2
    assert client.get("/movies", params={"query": "no such title"}).json()["movies"] == []


@pytest.mark.parametrize("query", ["", "query=", "query=x&limit=0", "query=x&limit=101", "query=" + "x" * 201])
def test_bad_search_is_422(client, query):
    assert client.get(f"/movies?{query}").status_code == 422


def test_new_user_fold_in(client, fitted):
    model, _, _ = fitted
    ratings = [{"movieId": 1, "rating": 5}, {"movieId": 4, "rating": 1}, {"movieId": 5, "rating": 4.5}]
    body = client.post("/recommendations", params={"n": 3}, json=ratings).json()
    assert body["strategy"] == "fold-in" and body["used_ratings"] == 3
    expected = model.recommend_new({1: 5.0, 4: 1.0, 5: 4.5}, 3)
    assert [r["movieId"] for r in body["recommendations"]] == expected.movieId.tolist()
    assert not {1, 4, 5} & {r["movieId"] for r in body["recommendations"]}
    for rec in body["recommendations"]:
        assert {r["movieId"] for r in rec["because_you_rated"]} <= {1, 4, 5}


def test_new_user_unknown_movies_are_ignored(client):
    body = client.post("/recommendations", json=[{"movieId": 1, "rating": 5}, {"movieId": 777, "rating": 3}]).json()
    assert body["strategy"] == "fold-in" and body["used_ratings"] == 1 and body["ignored_movieIds"] == [777]


@pytest.mark.parametrize("ratings", [[], [{"movieId": 777, "rating": 3}], [{"movieId": 25, "rating": 5}]])
def test_new_user_without_usable_ratings_gets_popular(client, fitted, ratings):
    model, _, _ = fitted
    body = client.post("/recommendations", params={"n": 5}, json=ratings).json()
    assert body["strategy"] == "popular" and body["used_ratings"] == 0 and body["note"]
    assert [r["movieId"] for r in body["recommendations"]] == model.popular(5).movieId.tolist()


@pytest.mark.parametrize(
    "body",
    [
        {"movieId": 1, "rating": 5},
        [{"movieId": 1}],
        [{"movieId": 1, "rating": 6}],
        [{"movieId": 1, "rating": 0}],
        [{"movieId": "one", "rating": 4}],
        [{"movieId": 1, "rating": 4, "extra": 1}],
        [{"movieId": 1, "rating": 4}] * 5001,
        "not json",
        None,
    ],
)
def test_bad_body_is_422(client, body):
    assert client.post("/recommendations", json=body).status_code == 422


def test_nan_and_garbage_bodies_are_422(client):
    headers = {"content-type": "application/json"}
    for raw in [b'[{"movieId": 1, "rating": NaN}]', b'[{"movieId": 1, "rating": Infinity}]', b"\xff\xfe", b"[{"]:
        assert client.post("/recommendations", content=raw, headers=headers).status_code == 422


def test_openapi_docs(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/health", "/users/{user_id}/recommendations", "/movies/{movie_id}/similar", "/recommendations"} <= set(
        paths
    )


def test_explanations_are_the_most_similar_rated_movies(state):
    similarity = ItemSimilarity(state.model.ratings_)
    rated, ratings, targets = [0, 1, 2, 3], [5.0, 4.0, 3.0, 1.0], [5, 6]
    reasons = similarity.because(rated, ratings, targets, k=2)
    full = similarity.similarity(rated, targets)
    for j, reason in enumerate(reasons):
        assert [c for c, _ in reason] == [rated[i] for i in full[:, j].argsort()[::-1][:2] if full[i, j] > 0]
    assert similarity.because([], [], [5], k=2) == [[]]


def test_lazy_state_matches_precomputed(fitted, state):
    model, movies, _ = fitted
    lazy = ServingState(model, movies, precompute=False)
    assert lazy.user_response(3, 5) == state.user_response(3, 5)


def test_load_project_state_says_to_run_kedro(tmp_path):
    with pytest.raises(ArtifactsMissingError, match="not the movie_recommender project"):
        load_project_state(tmp_path)


class RunsCode:
    """A pickle that runs a command when loaded (what a writable data/06_models/ would let anyone plant)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


class NotAModel:
    ratings_ = None  # passes a hasattr check, then fails deeper


def test_load_project_state_reads_the_catalog(project_copy, fitted):
    """A copy of the project with the artifacts of a `kedro run`: loaded through the catalog."""
    from tests.api.conftest import publish, record_run

    root, (model, movies, _) = project_copy, fitted
    with pytest.raises(ArtifactsMissingError, match=r"recommender .* is missing: run `kedro run`"):
        load_project_state(root)
    (root / "data/06_models/ml-100k").mkdir(parents=True)
    (root / "data/02_intermediate/ml-100k").mkdir(parents=True)
    model_file = root / "data/06_models/ml-100k/recommender.pkl"
    model_file.write_bytes(pickle.dumps(model))
    movies.to_csv(root / "data/02_intermediate/ml-100k/movies.csv", index=False)
    with pytest.raises(ArtifactsMissingError, match=r"movie_rating_counts .* is missing: run `kedro run`"):
        load_project_state(root)
    (root / "data/03_primary/ml-100k").mkdir(parents=True)
    counts = pd.DataFrame({"movieId": [1, 25], "ratings": [1234, 3]})  # of the whole data set, before filtering
    counts.to_csv(root / "data/03_primary/ml-100k/movie_rating_counts.csv", index=False)
    with pytest.raises(ArtifactsMissingError, match=r"all_recommendations .* is missing: run `kedro run`"):
        load_project_state(root)
    publish(root, model)
    with pytest.raises(ArtifactsMissingError, match="there is no run manifest"):
        load_project_state(root)
    record_run(root)
    loaded = load_project_state(root)
    assert loaded.rating_counts == {1: 1234, 25: 3}
    assert loaded.info["class"] == "UserKNN" and loaded.info["users"] == 30 and len(loaded.info["version"]) == 12
    assert loaded.info["trained_at"] == "2026-01-02T03:04:05+00:00" and loaded.info["run"] == "run-1"
    assert loaded.info["file"] == "data/06_models/ml-100k/recommender.pkl"  # never the absolute path
    model_file.write_bytes(b"not a pickle")
    with pytest.raises(ArtifactsMissingError, match="is not the file the run manifest lists"):
        load_project_state(root)
    record_run(root)  # listed, but unreadable
    with pytest.raises(ArtifactsMissingError, match="cannot read recommender"):
        load_project_state(root)
    model_file.write_bytes(pickle.dumps(model)[:1000])  # truncated
    record_run(root)
    with pytest.raises(ArtifactsMissingError) as raised:
        load_project_state(root)
    message = str(raised.value)
    assert "pickle data was truncated (UnpicklingError)" in message and "Failed while loading" not in message
    assert message.count("recommender.pkl") == 1 and "`kedro run`" in message

    # kedro serve: one line, exit status 1, no traceback; also with --workers (uvicorn would restart them forever)
    from click.testing import CliRunner

    from movie_recommender.cli import serve

    for args in ([], ["--workers", "2"]):
        result = CliRunner().invoke(serve, args)
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert "Cannot serve: cannot read recommender" in result.output


def test_a_model_file_the_manifest_does_not_list_is_never_unpickled(project_copy, fitted, tmp_path):
    from tests.api.conftest import place_artifacts

    root, (model, movies, _) = project_copy, fitted
    place_artifacts(root, model, movies)
    model_file = root / "data/06_models/ml-100k/recommender.pkl"
    state = load_project_state(root)

    marker = tmp_path / "code-ran"
    model_file.write_bytes(pickle.dumps(RunsCode(marker)))
    with pytest.raises(ArtifactsMissingError, match="is not the file the run manifest lists.*Refusing it"):
        load_project_state(root)
    assert not marker.exists()

    # the same through --watch: the reload is refused, the current model keeps serving
    from fastapi.testclient import TestClient

    from movie_recommender.api import create_app

    model_file.write_bytes(pickle.dumps(model))
    app = create_app(state, reload=lambda: load_project_state(root), watch=state.files, interval=0.02)
    with TestClient(app) as client:
        model_file.write_bytes(pickle.dumps(RunsCode(marker)))
        _wait(lambda: False, timeout=0.3)
        assert client.get("/health").json()["model"]["version"] == state.info["version"]
        assert client.get("/users/7/recommendations").status_code == 200
    assert not marker.exists()


@pytest.mark.parametrize("thing", [{"not": "a model"}, NotAModel()], ids=["dict", "attributes"])
def test_an_object_that_is_not_a_model_is_refused_with_one_line(project_copy, fitted, thing):
    from tests.api.conftest import place_artifacts

    root, (_, movies, _) = project_copy, fitted
    place_artifacts(root, thing, movies)  # even when the manifest lists it
    with pytest.raises(ArtifactsMissingError, match="is not a fitted movie_recommender model.*`kedro run`"):
        load_project_state(root)


def test_a_model_and_movies_from_runs_that_disagree_are_refused(project_copy, fitted):
    import json

    from tests.api.conftest import place_artifacts

    root, (model, movies, _) = project_copy, fitted
    place_artifacts(root, model, movies)
    manifest_file = root / "data/06_models/ml-100k/run_manifest.json"
    manifest = json.loads(manifest_file.read_text())
    manifest["runs"]["run-1"]["inputs"] = {"movies": {"sha256": "0" * 64}}  # trained on other movies
    manifest_file.write_text(json.dumps(manifest))
    with pytest.raises(ArtifactsMissingError, match="recommender and movies do not belong together"):
        load_project_state(root)


def test_explanations_agree_for_short_and_long_lists(client):
    short = client.get("/users/4/recommendations", params={"n": 10}).json()["recommendations"]
    long = client.get("/users/4/recommendations", params={"n": 15}).json()["recommendations"]
    assert long[:10] == short and all("because_you_rated" in r for r in long)


def _wait(condition, timeout=5.0, every=0.01):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return False


def test_a_new_model_file_is_served_without_restart(tmp_path, fitted, state):
    import os

    from fastapi.testclient import TestClient

    from movie_recommender.api import create_app

    model, movies, _ = fitted
    model_file = tmp_path / "recommender.pkl"
    model_file.write_bytes(b"first")
    newer = ServingState(model, movies, model_info={"version": "second"}, precompute=False)
    calls = []

    def reload():
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("the movies table is not there yet")
        return newer

    def replace(content: bytes):
        (tmp_path / "tmp").write_bytes(content)
        os.replace(tmp_path / "tmp", model_file)  # what AtomicPickleDataset does

    with TestClient(create_app(state, reload=reload, watch=model_file, interval=0.02)) as client:
        assert "version" not in client.get("/health").json()["model"]
        replace(b"second, but reloading fails")
        assert _wait(lambda: len(calls) == 1)
        assert "version" not in client.get("/health").json()["model"]  # a failed reload keeps the model
        assert client.get("/users/7/recommendations").status_code == 200
        replace(b"second")
        assert _wait(lambda: client.get("/health").json()["model"].get("version") == "second")
        assert client.get("/users/7/recommendations").status_code == 200


def test_kedro_serve_without_artifacts_says_to_run_kedro(tmp_path, monkeypatch):
    import shutil

    from click.testing import CliRunner

    from movie_recommender.cli import cli
    from tests.conftest import PROJECT_ROOT, copy_source

    root = tmp_path / "project"
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    copy_source(root)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root)
    monkeypatch.chdir(root)
    result = CliRunner().invoke(cli, ["serve", "--port", "1"])
    assert result.exit_code == 1
    assert "Cannot serve: recommender" in result.output and "run `kedro run`" in result.output


def test_serve_reads_the_chosen_release(project_copy, fitted):
    """kedro serve --dataset ml-1m serves ml-1m's model and movies, never another release's."""
    from tests.api.conftest import place_artifacts

    root, (model, movies, _) = project_copy, fitted
    place_artifacts(root, model, movies, dataset="ml-1m")
    with pytest.raises(ArtifactsMissingError, match=r"ml-100k/recommender.pkl\) is missing: run `kedro run` in"):
        load_project_state(root)  # the default release has no outputs yet
    with pytest.raises(ArtifactsMissingError, match=r"is missing: run `kedro run --params dataset=ml-10m` in"):
        load_project_state(root, dataset="ml-10m")
    loaded = load_project_state(root, dataset="ml-1m")
    assert loaded.info["file"] == "data/06_models/ml-1m/recommender.pkl"
    with pytest.raises(ArtifactsMissingError, match=r"one of ml-100k, ml-1m, .* kedro serve --dataset ml-1m"):
        load_project_state(root, dataset="ml-2m")


def test_explanations_and_similar_movies_come_from_the_models_stored_table(fitted):
    """GET explains from the model's explanations_ (stored by `train`): each reason is among the target's
    kept similar movies, whatever the cost of the exact product; the same table answers similar movies."""
    model, movies, _ = fitted
    exact = ItemSimilarity(model.ratings_)
    narrow = pickle.loads(pickle.dumps(model)).fit_explanations(2)
    state = ServingState(narrow, movies)
    assert state._similarity is None  # nothing on demand was built
    for user in (7, 13, 22):
        body = orjson.loads(state.user_response(user, 10))
        for rec in body["recommendations"]:
            col = model._cols([rec["movieId"]])[0]
            near = exact.most_similar(col, 2)[0]
            assert len(rec["because_you_rated"]) <= 2
            assert {model._cols([r["movieId"]])[0] for r in rec["because_you_rated"]} <= set(near.tolist())
    full = ServingState(model, movies)  # no stored table: every similar movie kept (exact), built at start
    assert full.explanations.neighbours == model.ratings_.shape[1] - 1
    for movie in (3, 7, 12):
        cols, sims = exact.most_similar(model._cols([movie])[0], MAX_N)
        got = full.similar_to(movie)
        assert [m["movieId"] for m in got] == model.item_ids_[cols].tolist()
        assert [m["similarity"] for m in got] == [round(float(s), 4) for s in sims]
    assert full._similarity is None
