"""The README's install (`pip install -r requirements.txt`) makes the project importable from anywhere."""

import os
import subprocess
import sys

from tests.conftest import PROJECT_ROOT


def test_package_importable_outside_the_project(tmp_path):
    """As a script, a notebook or the shell would: another directory, no PYTHONPATH (pytest's src/ is not there)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = "import movie_recommender, movie_recommender.recsys as r; r.UserKNN; print(movie_recommender.__file__)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # the working tree's package (editable install), not a stale copy
    assert result.stdout.strip() == str(PROJECT_ROOT / "src" / "movie_recommender" / "__init__.py")


def test_requirements_install_the_project_editable():
    lines = [line.strip() for line in (PROJECT_ROOT / "requirements.txt").read_text().splitlines()]
    assert "-e ." in lines
