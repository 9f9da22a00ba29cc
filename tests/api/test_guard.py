"""What the API lets in: strict bodies, the API key, Host headers, body size, concurrent fold-ins, timeouts."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time

import pytest
from fastapi.testclient import TestClient

from movie_recommender.api import ServingState, create_app
from movie_recommender.api.app import MOVIE_ID_MAX, MOVIE_ID_MIN
from movie_recommender.api.guard import Guard, ServeSettings
from movie_recommender.errors import UserError

KEY = "k" * 20


# ------------------------------------------------------------------ item 6: strict request types
@pytest.mark.parametrize(
    "rating",
    [
        {"movieId": True, "rating": 5},
        {"movieId": "1", "rating": 5},
        {"movieId": 1.0, "rating": 5},
        {"movieId": 1, "rating": True},
        {"movieId": 1, "rating": "5"},
        {"movieId": MOVIE_ID_MAX + 1, "rating": 5},
        {"movieId": MOVIE_ID_MIN - 1, "rating": 5},
    ],
)
def test_booleans_strings_and_ids_beyond_the_stated_bounds_are_422(client, rating):
    assert client.post("/recommendations", json=[rating]).status_code == 422


def test_numbers_within_the_stated_bounds_are_accepted(client):
    body = [{"movieId": 1, "rating": 5}, {"movieId": 2, "rating": 3.5}, {"movieId": MOVIE_ID_MAX, "rating": 1}]
    response = client.post("/recommendations", json=body + [{"movieId": MOVIE_ID_MIN, "rating": 1}])
    assert response.status_code == 200 and response.json()["ignored_movieIds"] == [MOVIE_ID_MIN, MOVIE_ID_MAX]
    schema = client.get("/openapi.json").json()["components"]["schemas"]["NewRating"]["properties"]["movieId"]
    assert (schema["minimum"], schema["maximum"]) == (MOVIE_ID_MIN, MOVIE_ID_MAX)
    assert float(MOVIE_ID_MAX) == MOVIE_ID_MAX and float(MOVIE_ID_MIN) == MOVIE_ID_MIN  # exact as JSON doubles


# ------------------------------------------------------------------ item 7: nothing exposed
@pytest.fixture(scope="module")
def locked(fitted):
    model, movies, _ = fitted
    state = ServingState(model, movies, model_info={"file": "data/06_models/recommender.pkl"}, precompute=False)
    with TestClient(create_app(state, settings=ServeSettings(api_key=KEY)), raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize(
    "method, path",
    [("GET", "/users/7/recommendations"), ("GET", "/movies/1/similar"), ("GET", "/movies?query=toy"),
     ("POST", "/recommendations")],
)
def test_with_an_api_key_every_endpoint_but_health_needs_it(locked, method, path):
    body = [{"movieId": 1, "rating": 5}] if method == "POST" else None
    for headers in ({}, {"X-API-Key": "wrong" + KEY}):
        response = locked.request(method, path, json=body, headers=headers)
        assert response.status_code == 401 and "X-API-Key" in response.json()["detail"]
    assert locked.request(method, path, json=body, headers={"X-API-Key": KEY}).status_code == 200
    assert locked.get("/health").status_code == 200 and locked.get("/openapi.json").status_code == 200


def test_an_api_key_too_short_is_refused_with_a_message():
    with pytest.raises(UserError, match="at least 16 characters"):
        ServeSettings.from_config({}, {"api": {"key": "short"}})
    assert ServeSettings.from_config({"max_concurrent_fold_ins": 3}, {"api": {"key": KEY}}).api_key == KEY
    with pytest.raises(UserError, match="serving.max_body_bytes must be a number > 0"):
        ServeSettings.from_config({"max_body_bytes": 0}, {})


def test_explanations_can_leave_out_the_users_ratings(fitted, client):
    model, movies, _ = fitted
    quiet = ServingState(model, movies, precompute=False, reveal_ratings=False)
    with TestClient(create_app(quiet)) as hidden:
        reasons = [r for rec in hidden.get("/users/7/recommendations").json()["recommendations"]
                   for r in rec["because_you_rated"]]
    shown = [r for rec in client.get("/users/7/recommendations").json()["recommendations"]
             for r in rec["because_you_rated"]]
    assert reasons and all("rating" not in r for r in reasons) and all("rating" in r for r in shown)
    assert [r["movieId"] for r in reasons] == [r["movieId"] for r in shown]


def test_404_does_not_enumerate_user_ids(client):
    detail = client.get("/users/5000/recommendations").json()["detail"]
    assert "5000" in detail and "30" not in detail and "1-" not in detail


def test_health_does_not_show_absolute_paths(locked):
    assert locked.get("/health").json()["model"]["file"] == "data/06_models/recommender.pkl"


def test_bound_to_loopback_other_host_headers_are_refused(fitted):
    model, movies, _ = fitted
    state = ServingState(model, movies, precompute=False)
    with TestClient(create_app(state, loopback_only=True), base_url="http://127.0.0.1:8000") as c:
        assert c.get("/health").status_code == 200
        for host in ("localhost:8000", "[::1]:8000", "127.0.0.1"):
            assert c.get("/health", headers={"Host": host}).status_code == 200
        response = c.get("/users/7/recommendations", headers={"Host": "evil.example:8000"})
        assert response.status_code == 400 and "Host" in response.json()["detail"]


# ------------------------------------------------------------------ item 8: limits
def test_a_body_over_the_limit_is_413_before_it_is_read():
    """Checked on the declared Content-Length: the app is not called and not a byte of the body is read."""
    reads, called, sent = [], [], []

    async def app(scope, receive, send):
        called.append(scope)

    async def receive():
        reads.append(1)
        return {"type": "http.request", "body": b"[" * 1000, "more_body": True}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/recommendations",
             "headers": [(b"content-length", str(50 << 20).encode())]}
    asyncio.run(Guard(app, ServeSettings(max_body_bytes=1000))(scope, receive, send))
    assert sent[0]["status"] == 413 and not reads and not called


def test_a_chunked_body_over_the_limit_is_413(client):
    def chunks():
        for _ in range(400):
            yield b"[" * 1024  # 400 KB > 256 KB, never valid JSON: 422 if it were parsed

    response = client.post("/recommendations", content=chunks())
    assert response.status_code == 413 and "262144" in response.json()["detail"]


def test_fold_ins_beyond_the_bound_get_503_with_retry_after(fitted, monkeypatch):
    model, movies, _ = fitted
    state = ServingState(model, movies, published=model.recommend_all(10))
    entered, release = threading.Semaphore(0), threading.Event()
    real = state.recommend_new

    def slow(ratings, n):
        entered.release()
        release.wait(10)
        return real(ratings, n)

    monkeypatch.setattr(state, "recommend_new", slow)
    settings = ServeSettings(max_concurrent_fold_ins=2, retry_after_seconds=3)
    with TestClient(create_app(state, settings=settings)) as c:
        body = [{"movieId": 1, "rating": 5}]
        results = []
        threads = [threading.Thread(target=lambda: results.append(c.post("/recommendations", json=body)))
                   for _ in range(2)]
        for thread in threads:
            thread.start()
        assert entered.acquire(timeout=10) and entered.acquire(timeout=10)  # both slots busy
        refused = c.post("/recommendations", json=body)
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "3"
        assert c.post("/recommendations", content=b"[not json").status_code == 503  # refused before parsing
        assert c.get("/health").status_code == 200 and c.get("/users/7/recommendations").status_code == 200
        release.set()
        for thread in threads:
            thread.join(10)
        assert [r.status_code for r in results] == [200, 200]
        assert c.post("/recommendations", json=body).status_code == 200  # slots given back


def test_kedro_serve_configures_timeouts_limits_and_closes_slow_headers(tmp_path):
    """A real uvicorn with kedro serve's protocol: a client that never finishes its headers is cut off."""
    port = _free_port()
    script = (
        "import os, uvicorn\n"
        "os.environ['MOVIE_RECOMMENDER_HEADER_TIMEOUT'] = '1'\n"
        "async def app(scope, receive, send):\n"
        "    await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n"
        "    await send({'type': 'http.response.body', 'body': b'ok'})\n"
        f"uvicorn.run(app, host='127.0.0.1', port={port}, log_level='warning', timeout_keep_alive=1, "
        "http='movie_recommender.api.guard:HeaderTimeoutProtocol')\n"
    )
    server = subprocess.Popen([sys.executable, "-c", script])
    try:
        _wait_for_port(port)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
            slow.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # never ends its headers
            started = time.monotonic()
            assert slow.recv(100) == b""  # closed by the server...
            assert time.monotonic() - started < 5  # ...after about 1 s
        with socket.create_connection(("127.0.0.1", port), timeout=10) as fine:
            fine.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert fine.recv(100).startswith(b"HTTP/1.1 200")
    finally:
        server.kill()
        server.wait(10)

    from movie_recommender import cli

    source = open(cli.__file__).read()
    for option in ('"timeout_keep_alive"', '"limit_concurrency"', "HeaderTimeoutProtocol", "HEADER_TIMEOUT_ENV"):
        assert option in source


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"the server did not start on port {port}")
