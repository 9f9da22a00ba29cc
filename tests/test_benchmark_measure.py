"""The process-tree measurement bench_data.py and bench_spark.py share."""

from __future__ import annotations

import sys

from benchmarks import bench_data, bench_spark

# a child that starts a grandchild holding 80 MB for a second, then fails with a message on stderr
GRANDCHILD = "import time; block = bytearray(80 * 2**20); block[::4096] = b'x' * len(block[::4096]); time.sleep(1)"
CHILD = (
    "import subprocess, sys; subprocess.run([sys.executable, '-c', sys.argv[1]]); "
    "print('the run failed', file=sys.stderr); sys.exit(3)"
)


def test_run_measured_counts_grandchildren_and_keeps_stderr(tmp_path):
    wall, peak, result = bench_data.run_measured(
        [sys.executable, "-c", CHILD, GRANDCHILD], tmp_path, {}, interval=0.05
    )
    assert peak >= 80 * 2**20  # the grandchild's block, seen through the tree
    assert wall >= 1.0
    assert result.returncode == 3
    assert "the run failed" in result.stdout  # bench_spark's failure message shows it


def test_bench_spark_measures_with_bench_data():
    assert bench_spark.run_measured is bench_data.run_measured
