"""Title search ranking and rating counts, /docs and /redoc without a CDN, the access log."""

from __future__ import annotations

import logging
import re

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from movie_recommender.api import ServingState, create_app
from movie_recommender.api.access_log import LOGGER, AccessLog, uvicorn_log_config

TITLES = {  # movieId: (title, ratings in the whole data set)
    101: ("Bastard Out of Carolina", 16),
    102: ("Star Wars", 583),
    103: ("Stargate", 127),
    104: ("Lone Star", 187),
    105: ("Star Trek: First Contact", 365),
    106: ("Starship Troopers", 211),
    107: ("Shawshank Redemption, The", 283),
    108: ("Star Maps", 2),
    109: ("Mustar", 500),
}


@pytest.fixture(scope="module")
def search_state(fitted):
    model, movies, _ = fitted
    extra = pd.DataFrame(
        {"movieId": list(TITLES), "title": [t for t, _ in TITLES.values()], "year": pd.NA, "genres": ""}
    )
    movies = pd.concat([movies, extra.astype({"year": "Int64"})], ignore_index=True)
    counts = pd.DataFrame({"movieId": [*TITLES, 1, 25], "ratings": [c for _, c in TITLES.values()] + [40, 7]})
    return ServingState(model, movies, precompute=False, rating_counts=counts)


def ids(found: list[dict]) -> list[int]:
    return [movie["movieId"] for movie in found]


def test_whole_words_then_word_starts_then_anywhere_most_rated_first(search_state):
    # "Bastard" and "Mustar" hold "star" inside a word: last, whatever their counts
    assert ids(search_state.search("star", 20)) == [102, 105, 104, 108, 106, 103, 109, 101]
    assert ids(search_state.search("star", 3)) == [102, 105, 104]


def test_exact_title_first_and_spaces_collapsed(search_state):
    assert ids(search_state.search("  STAR   maps ", 5)) == [108]
    assert ids(search_state.search("star wars", 5)) == [102]


def test_trailing_article_matches_at_the_front(search_state):
    assert ids(search_state.search("the shawshank", 5)) == [107]
    assert ids(search_state.search("shawshank redemption, the", 5)) == [107]


def test_rating_counts_are_of_the_whole_data_set(search_state, fitted):
    model, _, _ = fitted
    (dropped,) = search_state.search("movie 25", 1)  # filtered out of the training data
    assert dropped["movieId"] == 25 and 25 not in set(model.item_ids_.tolist())
    assert dropped["ratings"] == 7
    (kept,) = search_state.search("movie 1", 1)
    assert kept["ratings"] == 40  # not the training count
    assert search_state.search("toy", 5)[0]["ratings"] == 0  # in no rating at all


@pytest.mark.parametrize("query", [" ", "%20%20%20", "%09%20"])
def test_blank_query_is_422(client, query):
    response = client.get(f"/movies?query={query}")
    assert response.status_code == 422, response.text


# ------------------------------------------------------------------ /docs offline
def test_docs_and_redoc_load_their_assets_from_the_app(client):
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: ?["']([^"']+)["']""", html)
        urls = [a or b for a, b in urls]
        assert urls, html
        assert not [u for u in urls if u.startswith(("http:", "https:", "//"))], f"{page} loads from outside: {urls}"
        for url in urls:
            assert client.get(url).status_code == 200, url


# ------------------------------------------------------------------ access log
def test_access_log_line_per_request(state, caplog):
    app = create_app(state)
    app.add_middleware(AccessLog)
    with caplog.at_level(logging.INFO, logger=LOGGER), TestClient(app, raise_server_exceptions=False) as client:
        client.get("/users/3/recommendations", params={"n": 2})
        client.get("/users/99999/recommendations")
        client.post("/recommendations", json=[{"movieId": 1, "rating": 5}])
    lines = [record.getMessage() for record in caplog.records if record.name == LOGGER]
    pattern = r'testclient:\d+ - "{} {} HTTP/1.1" {} \d+\.\d\d ms'
    assert re.fullmatch(pattern.format("GET", r"/users/3/recommendations\?n=2", "200 OK"), lines[0]), lines
    assert re.fullmatch(pattern.format("GET", "/users/99999/recommendations", "404 Not Found"), lines[1]), lines
    assert re.fullmatch(pattern.format("POST", "/recommendations", "200 OK"), lines[2]), lines
    assert len(lines) == 3


def test_access_log_prints_like_uvicorn():
    config = uvicorn_log_config()
    assert config["loggers"][LOGGER]["propagate"] is False
    handler = config["handlers"][config["loggers"][LOGGER]["handlers"][0]]
    assert handler["stream"] == config["handlers"]["access"]["stream"]  # stdout, beside uvicorn's own
    from uvicorn.logging import DefaultFormatter

    fmt = config["formatters"][handler["formatter"]]
    assert fmt["()"] == "uvicorn.logging.DefaultFormatter"
    line = DefaultFormatter(fmt["fmt"], use_colors=False).format(
        logging.LogRecord(LOGGER, logging.INFO, __file__, 1, '%s - "%s" %d', ("1.2.3.4:5", "GET / HTTP/1.1", 200), None)
    )
    assert line == 'INFO:     1.2.3.4:5 - "GET / HTTP/1.1" 200'


@pytest.mark.parametrize(("flag", "logged"), [([], True), (["--no-access-log"], False), (["--access-log"], True)])
def test_serve_logs_requests_by_default(monkeypatch, state, flag, logged):
    from click.testing import CliRunner

    import movie_recommender.api as api
    from movie_recommender import cli

    served = {}
    monkeypatch.setattr(api, "load_project_state", lambda *args, **kwargs: state)
    monkeypatch.setattr("uvicorn.run", lambda app, **options: served.update(app=app, **options))
    result = CliRunner().invoke(cli.serve, ["--watch", "0", *flag])
    assert result.exit_code == 0, result.output
    assert served["access_log"] is False  # uvicorn's own (no latency) stays off
    assert LOGGER in served["log_config"]["loggers"]
    assert any(m.cls is AccessLog for m in served["app"].user_middleware) is logged


@pytest.mark.parametrize(("value", "logged"), [("1", True), ("0", False), (None, False)])
def test_workers_read_the_access_log_setting_from_the_environment(monkeypatch, state, value, logged):
    """`kedro serve --workers N` builds each worker's app with the uvicorn factory, told by the environment."""
    import movie_recommender.api as api

    monkeypatch.setattr(api, "load_project_state", lambda *args, **kwargs: state)
    if value is None:
        monkeypatch.delenv("MOVIE_RECOMMENDER_ACCESS_LOG", raising=False)
    else:
        monkeypatch.setenv("MOVIE_RECOMMENDER_ACCESS_LOG", value)
    app = api.app_from_project(".", watch=0)
    assert any(m.cls is AccessLog for m in app.user_middleware) is logged
