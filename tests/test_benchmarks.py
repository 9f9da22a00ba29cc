"""Scaled-down runs of the benchmarks in benchmarks/ (seconds, not minutes), so that they cannot rot.

The figures they print at full size are in benchmarks/README.md and the README; here only that they run
end to end and print what they promise is checked.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from benchmarks import bench_data

ROOT = Path(__file__).resolve().parents[1]


def test_scaled_down_data_benchmark(tmp_path, capsys):
    """bench_data.py on a tiny synthetic ML-1M: generates the archive, runs `kedro run --pipelines
    data_processing` in a project copy, prints its wall time and peak RSS, and the CSV / Parquet figures."""
    assert bench_data.main(["ml-1m", "--scale", "0.002", "--cache", str(tmp_path), "--formats"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "ml-1m-x0.002.zip").exists()
    row = re.search(r"^\| ml-1m \| ([\d,]+) \| (\d+) s \| ([\d.]+) GB \|$", out, re.M)
    assert row, out
    assert int(row.group(1).replace(",", "")) > 1000 and float(row.group(3)) > 0
    assert re.search(r"parquet", out, re.I), out


def test_data_benchmark_prints_each_evaluated_models_seconds(tmp_path):
    metrics = tmp_path / "metrics.csv"
    metrics.write_text("model,rmse,fit_seconds,predict_seconds,recommend_seconds\nitem_knn,0.9,103.84,20.0,37.21\n"
                       "popularity,,0.51,,3.0\n")  # fmt: skip
    out = bench_data.evaluation_seconds(metrics)
    assert re.search(r"item_knn\s+103\.8\s+20\.0\s+37\.2", out), out
    assert re.search(r"popularity\s+0\.5\s+NaN\s+3\.0", out), out
    assert "rmse" not in out


def test_scaled_down_serving_benchmark(tmp_path):
    """bench_api.py --release on a tiny shape: builds the artifacts, starts `kedro serve`, loads it with GET
    and POST fold-ins, prints start-up, memory and p99 latencies, with no errors."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}
    command = [sys.executable, str(ROOT / "benchmarks" / "bench_api.py"), "--release", "ml-25m", "--shape",
               "300,80,4000", "--duration", "1", "--client", "python", "--cache", str(tmp_path)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    out = result.stdout
    for line in ("data:", "model:", "start-up:", "memory:", "GET:", "POST:"):
        assert re.search(rf"^{line}", out, re.M), out
    assert re.search(r"GET:.* p99 [\d.]+ ms, errors 0$", out, re.M), out
    posts = re.search(r"POST:.*: (\d+) requests \{(.*)\}", out)
    assert posts and int(posts.group(1)) > 0 and "200:" in posts.group(2), out
