"""The pipeline as a Prefect flow (movie_recommender.orchestration), against Prefect's test harness.

Prefect is optional and lives in its own environment (requirements-prefect.txt; .ci/run makes it and
runs this file there). Without it, only the install message is tested.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from tests.conftest import write_zip

try:
    import prefect  # noqa: F401

    HAVE_PREFECT = True
except ImportError:
    HAVE_PREFECT = False

NEEDS_PREFECT = pytest.mark.skipif(
    not HAVE_PREFECT,
    reason="Prefect is not installed here (optional): python -m venv .venv-prefect && "
    ".venv-prefect/bin/pip install -r requirements-prefect.txt, then .venv-prefect/bin/pytest tests/test_orchestration.py",
)
FAST = {
    "min_user_ratings": 2,
    "min_movie_ratings": 2,
    "evaluation": {"models": ["random", "popularity"]},
    "prefect": {"retry_delay_seconds": 0},
}


@pytest.mark.skipif(HAVE_PREFECT, reason="Prefect is installed: the flow itself is tested")
def test_without_prefect_the_command_says_how_to_install_it():
    from movie_recommender.cli import cli

    result = CliRunner().invoke(cli, ["prefect", "run"])
    assert result.exit_code == 1
    assert "pip install -r requirements-prefect.txt" in result.output


@pytest.mark.parametrize(
    "args, expected",
    [
        ([], ["__default__"]),
        (["--pipelines", "data_processing,modeling"], ["data_processing", "modeling"]),
        (["--pipeline", "modeling"], ["modeling"]),
        (["-p", "evaluation"], ["evaluation"]),
    ],
)
def test_prefect_run_takes_pipelines_as_kedro_run_does(monkeypatch, args, expected):
    """`--pipelines a,b` as in `kedro run` (Kedro 1.7); `--pipeline` still works. No Prefect needed."""
    import types

    from movie_recommender import cli as cli_module

    calls = []
    fake = types.SimpleNamespace(kedro_run=lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(cli_module, "_orchestration", lambda: fake)
    result = CliRunner().invoke(cli_module.cli, ["prefect", "run", *args, "--params", "top_n=5"])
    assert result.exit_code == 0, result.output
    assert calls == [{"pipelines": expected, "params": {"top_n": 5}, "env": None}]


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    from prefect.testing.utilities import prefect_test_harness

    # the server starts in seconds on an idle machine; a busy 2-core one (the full suite beside it) needs more
    with prefect_test_harness(server_startup_timeout=300):
        yield


class FlakyServer:
    """Serves one file over HTTP on 127.0.0.1, answering 503 to the first ``failures`` requests."""

    def __init__(self, body: bytes, failures: int) -> None:
        self.requests = 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                owner.requests += 1
                if owner.requests <= failures:
                    self.send_error(503, "try again later")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ml-100k.zip"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def task_runs(flow_run_id) -> dict[str, object]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return {run.name: run for run in runs}


@NEEDS_PREFECT
def test_flow_runs_the_pipeline_retries_the_download_and_fails_with_the_node_message(
    harness, project, tmp_path, members
):
    from kedro.framework.project import pipelines

    from movie_recommender.orchestration import kedro_run

    archive = write_zip(members, tmp_path / "synthetic.zip").read_bytes()
    server = FlakyServer(archive, failures=1)
    (project / "conf/local/catalog.yml").write_text(
        "movielens_archive:\n"
        "  type: movie_recommender.datasets.MovieLensArchiveDataset\n"
        "  dataset: ml-100k\n"
        "  filepath: data/01_raw/ml-100k.zip\n"
        f"  url: {server.url}\n"
        f"  md5: {hashlib.md5(archive).hexdigest()}\n"  # noqa: S324 - the dataset's own check
        "  timeout: 5\n"
    )
    try:
        state = kedro_run(params=FAST, project_path=str(project), return_state=True)
    finally:
        server.close()
    assert state.is_completed(), state.message

    runs = task_runs(state.state_details.flow_run_id)
    assert set(runs) == {node.name for node in pipelines["__default__"].nodes}  # one task per node
    assert all(run.state.is_completed() for run in runs.values())
    assert runs["convert"].run_count == 2 and server.requests == 2  # the download was retried
    assert runs["train"].run_count == 1
    top = pd.read_csv(project / "data/07_model_output/ml-100k/recommendations.csv")
    assert len(top) == 10
    assert sorted(pd.read_csv(project / "data/08_reporting/ml-100k/metrics.csv")["model"]) == ["popularity", "random"]

    # --params pass through, and a node's failure fails the flow with the node's own message
    state = kedro_run(
        pipelines=["modeling"], params={**FAST, "user_id": 99999}, project_path=str(project), return_state=True
    )
    assert state.is_failed()
    with pytest.raises(ValueError, match="user_id 99999 has no ratings in the training data"):
        state.result()
    runs = task_runs(state.state_details.flow_run_id)
    (failed,) = [run for run in runs.values() if run.state.is_failed()]  # the node that checks user_id
    assert "user_id 99999 has no ratings" in failed.state.message
    assert all(run.state.is_completed() for run in runs.values() if run is not failed)  # none ran after it
    assert len(pd.read_csv(project / "data/07_model_output/ml-100k/recommendations.csv")) == 10  # untouched


@NEEDS_PREFECT
def test_deployment_on_a_cron_schedule(harness, project):
    from prefect.client.orchestration import get_client

    from movie_recommender.orchestration import deployment

    nightly = deployment("nightly-retraining", pipelines=["modeling"], params={"top_n": 5}, project_path=project)
    deployment_id = nightly.apply()
    with get_client(sync_client=True) as client:
        stored = client.read_deployment(deployment_id)
    (schedule,) = stored.schedules
    assert schedule.schedule.cron == "0 3 * * *" and schedule.schedule.timezone == "UTC"
    expected = {"pipelines": ["modeling"], "params": {"top_n": 5}, "env": None, "project_path": str(project)}
    assert stored.parameters == expected
    assert stored.entrypoint.endswith("orchestration.py:kedro_run")


@NEEDS_PREFECT
def test_bad_prefect_settings_are_refused_before_anything_runs(project):
    from movie_recommender.orchestration import check_settings

    nodes = {"convert", "train"}
    assert check_settings({"retries": {"train": 1}, "retry_delay_seconds": 0}, nodes)["retries"] == {"train": 1}
    with pytest.raises(ValueError, match="retries names download, not a node"):
        check_settings({"retries": {"download": 2}}, nodes)
    with pytest.raises(ValueError, match=r"retries.train must be a whole number >= 0, got -1"):
        check_settings({"retries": {"train": -1}}, nodes)
    with pytest.raises(ValueError, match="retry_delay_seconds must be a number >= 0"):
        check_settings({"retry_delay_seconds": "soon"}, nodes)
    assert not any(Path(project, "data").rglob("*.*"))
