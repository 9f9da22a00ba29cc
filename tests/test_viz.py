"""Kedro-Viz shows the whole project: every pipeline, every node, every catalog dataset on its layer.

Starts the real `kedro viz run` server on a free local port and reads its JSON API. What to expect
comes from the project itself (the pipeline registry and conf/base's catalog files), so the test
keeps up as pipelines and datasets are added. The server reads conf/base only, like the
expectations: a developer's conf/local must not change the outcome.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from kedro.framework.project import pipelines
from kedro.framework.startup import bootstrap_project

PROJECT_ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
STARTUP_SECONDS = 120
# Plain log lines on the console: nothing appended to the project's info.log, a readable tail on failure.
LOGGING_CONFIG = """\
version: 1
disable_existing_loggers: false
handlers:
  console: {class: logging.StreamHandler, stream: ext://sys.stderr}
root: {level: INFO, handlers: [console]}
"""
WRITTEN_BY_HOOKS = {"run_manifest", "model_versions"}  # written by the RunManifest and SnapshotVersion hooks
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy


def get_json(url: str, timeout: float = 10) -> dict:
    with _LOCAL.open(url, timeout=timeout) as response:
        return json.load(response)


def catalog_layers() -> dict[str, str | None]:
    """Every dataset declared in conf/base's catalog files, with its `metadata: kedro-viz: layer:`."""
    layers = {}
    for path in sorted((PROJECT_ROOT / "conf" / "base").glob("**/catalog*.yml")):
        for name, entry in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).items():
            if name.startswith("_") or "{" in name:  # YAML anchors, dataset factory patterns
                continue
            if name in WRITTEN_BY_HOOKS:  # in no pipeline, so in no graph
                continue
            layers[name] = ((entry.get("metadata") or {}).get("kedro-viz") or {}).get("layer")
    return layers


def free_port() -> int:
    """A free port kedro-viz accepts: it refuses those above 49151, where most ephemeral ports lie."""
    for port in random.sample(range(20000, 32000), 50):  # below the usual ephemeral range, 32768+
        with socket.socket() as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                continue
            return port
    pytest.fail(f"no free port found on {HOST} in 20000-31999")


def wait_for_server(server: subprocess.Popen, port: int, log: Path) -> str:
    """The server's base URL once /api/main answers; the test fails with the output's tail otherwise."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        output = log.read_text(errors="replace")
        # kedro-viz moves to the next port if ours was taken meanwhile, and says where it runs.
        moved = re.search(r"running at\s+(http://\S+?)/?\s", output)
        url = moved.group(1) if moved else f"http://{HOST}:{port}"
        try:
            get_json(f"{url}/api/main", timeout=5)
            return url
        except (OSError, ValueError):
            pass
        # `kedro viz run` outlives its server process if that crashes; multiprocessing says so.
        crashed = re.search(r"^Process \w+-\d+:$", output, re.M)
        if crashed or server.poll() is not None or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    pytest.fail(
        f"kedro viz run did not serve {url}/api/main (exit code {server.poll()}, deadline {STARTUP_SECONDS} s); "
        f"its output ends:\n{log.read_text(errors='replace')[-4000:]}"
    )


def group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs; zombies (left to PID 1 to reap) do not count."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    if not Path("/proc/self/stat").exists():
        return True
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _ppid, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if int(group) == pgid and state != "Z":
            return True
    return False


def stop(server: subprocess.Popen) -> None:
    """End the server's whole process group: kedro and the processes it spawned."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            server.poll()  # reap kedro itself
            if not group_alive(server.pid):
                return
            time.sleep(0.1)


@pytest.fixture(scope="module")
def viz(tmp_path_factory):
    """GET a path of the running server's API, as JSON."""
    folder = tmp_path_factory.mktemp("viz")
    (folder / "logging.yml").write_text(LOGGING_CONFIG, encoding="utf-8")
    env = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "1",
        "DO_NOT_TRACK": "1",
        "KEDRO_LOGGING_CONFIG": str(folder / "logging.yml"),
        "PYTHONUNBUFFERED": "1",
        # kedro-viz asks PyPI for a newer version at start-up (30 s timeout): refuse that at once.
        "HTTPS_PROXY": f"http://{HOST}:9",
        "https_proxy": f"http://{HOST}:9",
        "NO_PROXY": f"{HOST},localhost",
        "no_proxy": f"{HOST},localhost",
    }
    port = free_port()
    log = folder / "viz.log"
    with log.open("w", encoding="utf-8") as output:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kedro",
                "viz",
                "run",
                "--host",
                HOST,
                "--port",
                str(port),
                "--no-browser",
                "--env",
                "base",
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = wait_for_server(server, port, log)
        yield lambda path: get_json(url + path)
    finally:
        stop(server)


@pytest.fixture(scope="module")
def registered() -> dict:
    bootstrap_project(PROJECT_ROOT)
    return dict(pipelines)


def test_viz_lists_every_registered_pipeline(viz, registered):
    assert {"data_processing", "modeling"} <= set(registered)
    assert {pipeline["id"] for pipeline in viz("/api/main")["pipelines"]} == set(registered)


def test_viz_shows_every_node_and_dataset_of_every_pipeline(viz, registered):
    expected, shown = {}, {}
    for name, pipeline in registered.items():
        graph = viz(f"/api/pipelines/{name}")
        assert graph["selected_pipeline"] == name
        expected[name] = {
            "tasks": {node.name for node in pipeline.nodes},
            # a transcoded dataset (ratings@pandas, ratings@spark: one file) is one node, named without the @
            "datasets": {dataset.partition("@")[0] for dataset in pipeline.datasets()},
        }
        shown[name] = {
            "tasks": {node["full_name"] for node in graph["nodes"] if node["type"] == "task"},
            "datasets": {node["name"] for node in graph["nodes"] if node["type"] in ("data", "parameters")},
        }
    assert shown == expected


def test_viz_shows_every_catalog_dataset_on_its_layer(viz):
    layers = catalog_layers()
    assert layers, "no datasets found in conf/base/catalog*.yml"
    unlayered = sorted(name for name, layer in layers.items() if not layer)
    assert not unlayered, f"catalog datasets without `metadata: kedro-viz: layer:`: {unlayered}"

    main = viz("/api/main")
    shown = {node["name"]: node["layer"] for node in main["nodes"] if node["type"] == "data"}
    assert {name: shown.get(name, "<not in the graph>") for name in layers} == layers
    assert set(main["layers"]) == set(layers.values())
