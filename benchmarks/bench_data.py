"""Wall time and peak memory of `kedro run --pipelines data_processing` on synthetic archives of real size.

    python benchmarks/bench_data.py                       # ml-1m, ml-25m, ml-32m
    python benchmarks/bench_data.py ml-1m --scale 0.1     # quicker, smaller
    python benchmarks/bench_data.py ml-25m --pipelines data_processing,modeling   # issue 11's target
    python benchmarks/bench_data.py ml-25m --pipelines all                        # a plain kedro run

Each release's archive is generated once by benchmarks/synthetic.py (the real numbers of users,
movies and ratings, the release's exact layout) into --cache, then the project is copied to a
temporary folder, the archive linked to its data/01_raw/<release>.zip, and the command run there.
Peak RSS is that of the process and its children together (sampled from /proc every 0.1 s). With --formats, ratings_clean is also written and read
back as CSV and as Parquet (needs pyarrow) to compare them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.synthetic import SHAPES, synthetic_archive  # noqa: E402


def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    stack.extend(int(child) for child in children.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def run_measured(
    command: list[str], cwd: Path, env: dict, interval: float = 0.1
) -> tuple[float, int, subprocess.CompletedProcess]:
    """(wall seconds, peak RSS bytes of the process and its children together, result) of ``command``.

    The memory is sampled every ``interval`` seconds; the result's stdout holds stdout and stderr together.
    """
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak, done = [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss(process.pid))
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate()
    done.set()
    sampler.join()
    wall = time.perf_counter() - started
    return wall, peak[0], subprocess.CompletedProcess(command, process.returncode, output, "")


def node_starts(log: str) -> list[str]:
    """``    HH:MM:SS node`` for each "Running node" line of a Kedro log (rich prints the time only when it changes)."""
    import re

    clock, lines = "", []
    for line in log.splitlines():
        if found := re.search(r"\[\d\d/\d\d/\d\d (\d\d:\d\d:\d\d)\]", line):
            clock = found.group(1)
        if found := re.search(r"Running node: ([\w.]+)", line):
            lines.append(f"    {clock} {found.group(1)}")
        elif "Pipeline execution completed" in line:
            lines.append(f"    {clock} (pipeline completed)")
    return lines


def project_copy(into: Path) -> Path:
    root = into / "project"
    shutil.copytree(ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("credentials*"))
    for leftover in (root / "conf" / "local").glob("*.yml"):
        leftover.unlink()
    shutil.copy(ROOT / "pyproject.toml", root)
    # with the compiled-kernel cache (numba's, in __pycache__) when there is one: the timings are those of a
    # second run; a first run on a fresh clone also compiles the kernels once (about a minute)
    shutil.copytree(ROOT / "src", root / "src", ignore=shutil.ignore_patterns("*.pyc"))
    (root / "data" / "01_raw").mkdir(parents=True)
    return root


def evaluation_seconds(metrics_csv: Path) -> str:
    """Each evaluated model's fit, predict and top-N seconds, from the run's metrics table."""
    import pandas as pd

    table = pd.read_csv(metrics_csv)
    columns = [c for c in ("model", "fit_seconds", "predict_seconds", "recommend_seconds") if c in table]
    return "evaluation, seconds per model:\n" + table[columns].round(1).to_string(index=False)


def compare_formats(csv_path: Path) -> list[str]:
    """Write and read ratings_clean as CSV (the project's writer; pandas' C and pyarrow readers) and as Parquet."""
    import pandas as pd

    sys.path.insert(0, str(ROOT / "src"))
    from movie_recommender.datasets import AtomicCSVDataset

    dtypes = {"userId": "int32", "movieId": "int32", "rating": "float32", "timestamp": "int64"}

    def timed(label: str, action) -> object:
        started = time.perf_counter()
        result = action()
        lines.append(f"    {label}: {time.perf_counter() - started:.1f} s")
        return result

    lines: list[str] = []
    frame = timed(f"read CSV {csv_path.stat().st_size / 1e6:,.0f} MB (pandas C reader)", lambda: pd.read_csv(csv_path, dtype=dtypes))
    timed("read CSV (pandas, engine=pyarrow)", lambda: pd.read_csv(csv_path, dtype=dtypes, engine="pyarrow"))
    out = csv_path.with_name("bench_copy.csv")
    timed("write CSV (AtomicCSVDataset)", lambda: AtomicCSVDataset(filepath=str(out)).save(frame))
    out.unlink()
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return [*lines, "    Parquet: pyarrow is not installed"]
    parquet = csv_path.with_suffix(".parquet")
    timed("write Parquet", lambda: frame.to_parquet(parquet, index=False))
    lines[-1] += f" ({parquet.stat().st_size / 1e6:,.0f} MB)"
    timed("read Parquet", lambda: pd.read_parquet(parquet))
    parquet.unlink()
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("releases", nargs="*", default=["ml-1m", "ml-25m", "ml-32m"], choices=sorted(SHAPES))
    parser.add_argument("--cache", default=str(ROOT / "data" / "benchmarks"), help="where the archives are kept")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--formats", action="store_true", help="also compare CSV and Parquet for ratings_clean")
    parser.add_argument("--pipelines", default="data_processing", help="what `kedro run` runs; all: every pipeline")
    parser.add_argument("--params", default="", help="more --params for kedro run, e.g. model=ials")
    args = parser.parse_args(argv)
    cache = Path(args.cache)
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        project = project_copy(Path(tmp))
        for release in args.releases:
            suffix = "" if args.scale == 1.0 else f"-x{args.scale:g}"
            archive = cache / f"{release}{suffix}.zip"
            if not archive.exists():
                started = time.perf_counter()
                synthetic_archive(release, archive, scale=args.scale)
                print(f"{release}: generated {archive} ({archive.stat().st_size / 1e6:,.0f} MB) in "
                      f"{time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
            link = project / "data" / "01_raw" / f"{release}.zip"
            link.unlink(missing_ok=True)
            link.symlink_to(archive.resolve())
            params = ",".join(p for p in (f"dataset={release}", args.params) if p)
            command = [sys.executable, "-m", "kedro", "run", "--params", params]
            if args.pipelines != "all":
                command[4:4] = ["--pipelines", args.pipelines]
            wall, tree, result = run_measured(command, project, env)
            if result.returncode:
                print(result.stdout[-4000:])
                return result.returncode
            summary = (project / "data" / "08_reporting" / release / "data_processing_summary.json").read_text()
            ratings = json.loads(summary)["input"]["ratings"]
            print("\n".join(node_starts(result.stdout)))  # when each node started (the log's clock, to the second)
            rows.append((release, ratings, wall, tree))
            print(f"{release}: {ratings:,} ratings, {wall:.1f} s, peak RSS {tree / 1e9:.2f} GB", flush=True)
            metrics = project / "data" / "08_reporting" / release / "metrics.csv"
            if metrics.exists():  # the evaluation ran: each model's share of it
                print(evaluation_seconds(metrics), flush=True)
            if args.formats:
                print("\n".join(compare_formats(project / "data" / "03_primary" / release / "ratings_clean.csv")))
            for layer in (project / "data").iterdir():  # keep the temporary disk use to one release
                if layer.name != "01_raw":
                    shutil.rmtree(layer / release, ignore_errors=True)
    what = "kedro run" if args.pipelines == "all" else f"kedro run --pipelines {args.pipelines}"
    print(f"\n| release | ratings | {what} | peak RSS (tree) |")
    print("| --- | --- | --- | --- |")
    for release, ratings, wall, tree in rows:
        print(f"| {release} | {ratings:,} | {wall:.0f} s | {tree / 1e9:.1f} GB |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
