"""/docs (Swagger UI) and /redoc in a real headless Chromium, with every host but the API unreachable.

Chromium comes from Debian's packages (.ci/run installs it when missing); without it the test skips.
"""

from __future__ import annotations

import html
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest
import uvicorn

from movie_recommender.api import create_app

CHROMIUM = next((path for name in ("chromium", "chromium-browser") if (path := shutil.which(name))), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH: apt-get install -y chromium (as .ci/run does) to run this test"
)


@pytest.fixture(scope="module")
def server_url(state):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(state), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def rendered_dom(url: str) -> str:
    """The page's DOM after its scripts ran, in Chromium that can reach 127.0.0.1 only (as if offline)."""
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=15000",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "HOME": profile},
        )
    assert result.returncode == 0, result.stderr[-3000:]
    return html.unescape(result.stdout)


def test_swagger_ui_lists_every_endpoint(server_url, client):
    dom = rendered_dom(f"{server_url}/docs")
    paths = list(client.get("/openapi.json").json()["paths"])
    assert "swagger-ui" in dom and "opblock" in dom, dom[-2000:]  # rendered by the bundle, not a blank page
    for path in paths:
        assert f'data-path="{path}"' in dom, f"{path} not listed in /docs"


def test_redoc_lists_every_endpoint(server_url, client):
    dom = rendered_dom(f"{server_url}/redoc")
    spec = client.get("/openapi.json").json()
    summaries = [operation["summary"] for item in spec["paths"].values() for operation in item.values()]
    assert "redoc-wrap" in dom or "api-content" in dom, dom[-2000:]
    for summary in summaries:
        assert summary in dom, f"{summary!r} not listed in /redoc"
