"""The notebooks run headless, top to bottom, in a copy of the project on the synthetic archive."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.conftest import PROJECT_ROOT, write_zip
from tests.test_run import run_session

EDA = "01_eda.ipynb"
KERNEL = "movie-recommender-tests"
CELL_TIMEOUT = 120  # seconds per cell: a few on the synthetic data, but the first KedroSession imports
# MLflow (kedro-mlflow is installed), 5 s of CPU that a busy 2-core machine can stretch past 30 s


@pytest.fixture
def kernel(tmp_path: Path, monkeypatch) -> str:
    """A kernelspec for this very interpreter, found through a temporary JUPYTER_PATH; headless matplotlib."""
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return KERNEL


def execute(root: Path, kernel: str) -> nbformat.NotebookNode:
    """Run notebooks/01_eda.ipynb from the copy's notebooks/ folder, as Jupyter would, and return it."""
    (root / "notebooks").mkdir(exist_ok=True)
    shutil.copy(PROJECT_ROOT / "notebooks" / EDA, root / "notebooks" / EDA)
    notebook = nbformat.read(root / "notebooks" / EDA, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name=kernel,
        timeout=CELL_TIMEOUT,
        startup_timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(root / "notebooks")}},
    )
    client.execute()
    return notebook


def outputs(notebook: nbformat.NotebookNode) -> list[dict]:
    return [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]


def test_committed_without_outputs():
    """MovieLens may not be redistributed: the committed notebook carries no outputs."""
    notebook = nbformat.read(PROJECT_ROOT / "notebooks" / EDA, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


def test_eda_notebook_runs_on_synthetic_data(project, tmp_path, members, monkeypatch, kernel):
    monkeypatch.setenv("MOVIELENS_100K", str(write_zip(members, tmp_path / "synthetic.zip")))
    run_session(project, min_user_ratings=2, min_movie_ratings=2)  # the synthetic movies have ~15 ratings
    notebook = execute(project, kernel)  # raises CellExecutionError on the first failing cell

    everything = outputs(notebook)
    assert not [output for output in everything if output.output_type == "error"]
    figures = [output for output in everything if "image/png" in output.get("data", {})]
    # rating distribution, long tail, genres, ratings over time (the synthetic ratings have timestamps)
    assert len(figures) == 4
    text = "".join(output.get("text", "") for output in everything if output.output_type == "stream")
    assert f"Kedro project {project}" in text  # found by walking up from notebooks/
    assert "top 10% hold" in text and "after filtering (ratings_clean)" in text and "genres per movie" in text
    assert not list((project / "notebooks").glob("*.png")), "the notebook must not write files"


def test_eda_notebook_without_data_says_what_to_run(project, kernel):
    with pytest.raises(CellExecutionError) as failure:
        execute(project, kernel)
    message = str(failure.value)
    assert "FileNotFoundError" in message
    assert "No data for ratings, movies, ratings_clean, data_processing_summary" in message
    assert "run `kedro run --pipelines data_processing` from the project root" in message
