"""kedro run --env spark against the pandas path, and local[2] against local-cluster[2,1,2048].

Each run happens in a fresh temporary copy of the project (conf/, src/, pyproject.toml) with the archive
given by --archive as ``data/01_raw/<dataset>.zip`` (``--dataset``, default ml-100k: e.g. the real
ml-100k.zip, or a synthetic ml-1m from benchmarks/synthetic.py), so the repository's data/ is never
touched. MLflow tracking is off in these runs (MOVIE_RECOMMENDER_MLFLOW=off). For every run it prints the wall time and the peak resident memory of the whole process tree
(kedro, the driver JVM, executor JVMs, Python workers; sampled every 0.2 s from /proc). Then it checks
that local-cluster (two separate executor processes) gave the same results as local[2]: the same clean
ratings and split, the same metrics (to 1e-6) and the same recommendation lists.

    python benchmarks/bench_spark.py --archive ../shared/datasets/ml-100k.zip
    python benchmarks/synthetic.py ml-1m --out data/benchmarks/ml-1m.zip
    python benchmarks/bench_spark.py --archive data/benchmarks/ml-1m.zip --dataset ml-1m
    python benchmarks/bench_spark.py --archive ... --runs pandas spark   # skip local-cluster

local-cluster mode needs a Spark layout (bin/, jars/): the pip pyspark package has one, and is used.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_data import run_measured  # noqa: E402

MASTERS = {"spark": "local[2]", "local-cluster": "local-cluster[2,1,2048]"}


def project_copy(base: Path, master: str | None, archive: Path, dataset: str, executor_mb: int = 1500) -> Path:
    root = base / (master or "pandas").replace("[", "_").replace("]", "").replace(",", "_")
    shutil.copytree(ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("credentials*", "*.yml.local"))
    for leftover in (root / "conf" / "local").glob("*.yml"):
        leftover.unlink()
    shutil.copy(ROOT / "pyproject.toml", root)
    shutil.copytree(ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "data" / "01_raw").mkdir(parents=True)
    (root / "data" / "01_raw" / f"{dataset}.zip").symlink_to(archive)
    if master:  # the one setting a user changes to point the run elsewhere
        (root / "conf" / "local" / "spark.yml").write_text(
            f"spark.master: {master}\nspark.ui.enabled: false\nspark.executor.memory: {executor_mb}m\n"
        )
    return root


def run(root: Path, dataset: str, spark: bool) -> dict:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1", "MOVIE_RECOMMENDER_MLFLOW": "off",
           "PYTHONPATH": str(root / "src")}
    env.pop("MOVIELENS_100K", None)  # the archive is data/01_raw/<dataset>.zip
    command = [sys.executable, "-m", "kedro", "run", *(["--env", "spark"] if spark else []), "--params",
               f"dataset={dataset}"]
    seconds, peak, result = run_measured(command, root, env, interval=0.2)
    if result.returncode:
        raise SystemExit(f"{' '.join(command)} failed in {root}:\n{result.stdout[-3000:]}")
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(peak / 2**20)}


def parquet(root: Path, relative: str) -> pd.DataFrame:
    return pd.read_parquet(root / "data" / relative)


def same_results(a: Path, b: Path, dataset: str) -> list[str]:
    """What differs between two spark runs (empty when they agree)."""
    problems = []
    for relative, keys in (
        (f"03_primary/{dataset}/spark/ratings_clean.parquet", ["userId", "movieId"]),
        (f"05_model_input/{dataset}/spark/evaluation_test.parquet", ["userId", "movieId"]),
    ):
        left, right = (parquet(root, relative).sort_values(keys).reset_index(drop=True) for root in (a, b))
        if not left.equals(right):
            problems.append(f"{relative} differs")
    left, right = (pd.read_csv(root / f"data/08_reporting/{dataset}/spark/metrics.csv").set_index("model")
                   for root in (a, b))
    quality = [c for c in left.columns if not c.endswith("_seconds")]
    diff = (left[quality] - right[quality]).abs().max().max()
    if diff > 1e-6:
        problems.append(f"metrics differ by up to {diff:.3g}")
    recs = [parquet(root, f"07_model_output/{dataset}/spark/all_recommendations.parquet") for root in (a, b)]
    lists = [r.sort_values(["userId", "rank"]).groupby("userId")["movieId"].apply(tuple) for r in recs]
    differing = int((lists[0] != lists[1]).sum())
    if differing:
        problems.append(f"{differing} users' recommendation lists differ")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--archive", type=Path, required=True, help="the release's zip (real or synthetic)")
    parser.add_argument("--dataset", default="ml-100k", help="the release the archive is (default ml-100k)")
    parser.add_argument("--runs", nargs="+", default=["pandas", "spark", "local-cluster"],
                        choices=["pandas", "spark", "local-cluster"])
    parser.add_argument("--worker-mb", type=int, default=2048,
                        help="memory of each local-cluster worker (MB; default 2048, the issue's [2,1,2048]); "
                             "its executor gets this less 548 MB")
    args = parser.parse_args()
    MASTERS["local-cluster"] = f"local-cluster[2,1,{args.worker_mb}]"
    results, roots = {}, {}
    with tempfile.TemporaryDirectory(prefix="bench_spark_") as tmp:
        for name in args.runs:
            roots[name] = project_copy(Path(tmp), MASTERS.get(name), args.archive.resolve(), args.dataset,
                                       executor_mb=args.worker_mb - 548 if name == "local-cluster" else 1500)
            results[name] = run(roots[name], args.dataset, spark=name != "pandas")
            print(f"{name:14s} {MASTERS.get(name, 'pandas'):26s} {results[name]['seconds']:8.1f} s "
                  f"{results[name]['peak_rss_mb']:7d} MB peak RSS", flush=True)
        if "spark" in roots and "local-cluster" in roots:
            problems = same_results(roots["spark"], roots["local-cluster"], args.dataset)
            print("local-cluster vs local[2]:", "; ".join(problems) if problems else "same results")
            results["same_results"] = not problems
            metrics = pd.read_csv(roots["local-cluster"] / f"data/08_reporting/{args.dataset}/spark/metrics.csv")
            print(metrics[["model", "rmse", "ndcg@10", "precision@10", "fit_seconds"]].to_string(index=False))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
