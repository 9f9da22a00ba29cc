"""Benchmark movie_recommender.recsys.UserKNN against Surprise's KNNBasic on MovieLens 100k.

What is measured, in one process, on the real archive read in memory (nothing is extracted):

1. Rating prediction on u1.base -> u1.test (``--folds``: u1..u5, mean shown) for
   - ours like Surprise: ``UserKNN(neighbours=40, similarity="cosine_common")``
   - ours default:       ``UserKNN(neighbours=40, similarity="cosine")`` (the pipeline's model)
   - Surprise:           ``KNNBasic(k=40, sim_options={"name": "cosine", "user_based": True})``
   Fit and predict seconds are each the best of ``--repeats`` runs; total is their sum. Fit
   starts from the ratings DataFrame for all models (Surprise's includes load_from_df and
   build_full_trainset); predict covers every u*.test pair. Peak memory is the tracemalloc
   peak of one extra fit+predict. "Surprise/ours" is Surprise's total time over ours.
2. ``recommend_all(10)`` for every user on the full u.data, filtered like the pipeline
   (users >= 5 ratings, movies >= 20), best of ``--repeats``.
3. One ``kedro run`` in a subprocess from the project root (skip with ``--no-kedro-run``).

Targets, marked PASS/FAIL: |RMSE ours - Surprise| <= 0.005 for the like-configured model,
and Surprise/ours >= 20x for both of our models.

Run from anywhere: ``python benchmarks/bench_user_knn.py [--archive ml-100k.zip] [--folds]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from movie_recommender.recsys import UserKNN, filter_min_ratings, parse_ratings  # noqa: E402

COLUMNS = ["userId", "movieId", "rating"]
RMSE_TOLERANCE, SPEED_TARGET = 0.005, 20.0
LIKE_SURPRISE, SURPRISE = "ours cosine_common", "Surprise KNNBasic"
DEFAULT_ARCHIVE = ROOT.parent / "shared" / "datasets" / "ml-100k.zip"


def archive_path(option: str | None) -> Path:
    """--archive, else $MOVIELENS_100K, else ../shared/datasets/ml-100k.zip (relative to the project root)."""
    return Path(option or os.environ.get("MOVIELENS_100K") or DEFAULT_ARCHIVE).expanduser().resolve()


def read_ratings(archive: Path, name: str):
    with zipfile.ZipFile(archive) as zf:
        return parse_ratings(zf.read(f"ml-100k/{name}"), source=name)


def best_of(repeats: int, run):
    """(fewest seconds over ``repeats`` calls of ``run()``, the last result)."""
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def ours(**params):
    def fit(train):
        return UserKNN(**params).fit(train)

    def predict(model, test):
        return model.predict(test["userId"].to_numpy(), test["movieId"].to_numpy())

    return fit, predict


def surprise_knn(surprise):
    def fit(train):
        data = surprise.Dataset.load_from_df(train[COLUMNS], surprise.Reader(rating_scale=(1, 5)))
        algo = surprise.KNNBasic(k=40, sim_options={"name": "cosine", "user_based": True}, verbose=False)
        return algo.fit(data.build_full_trainset())

    def predict(algo, test):
        return np.array([p.est for p in algo.test(list(test[COLUMNS].itertuples(index=False, name=None)))])

    return fit, predict


def measure(model, train, test, repeats: int) -> dict[str, float]:
    fit, predict = model
    fit_s, fitted = best_of(repeats, lambda: fit(train))
    predict_s, est = best_of(repeats, lambda: predict(fitted, test))
    gc.collect()
    tracemalloc.start()
    predict(fit(train), test)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rmse = float(np.sqrt(np.mean((est - test["rating"].to_numpy()) ** 2)))
    return {"fit": fit_s, "predict": predict_s, "total": fit_s + predict_s, "rmse": rmse, "mib": peak / 2**20}


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows)]
    for line in [headers, ["-" * w for w in widths], *rows]:
        cells = [line[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(line[1:], widths[1:])]
        print("  ".join(cells))


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def bench_accuracy(archive: Path, models: dict, folds: list[int], repeats: int) -> None:
    runs = {name: [] for name in models}
    for fold in folds:
        train, test = read_ratings(archive, f"u{fold}.base"), read_ratings(archive, f"u{fold}.test")
        for name, model in models.items():
            runs[name].append(measure(model, train, test, repeats))
    mean = {name: {key: float(np.mean([r[key] for r in rs])) for key in rs[0]} for name, rs in runs.items()}
    ref = mean[SURPRISE]
    what = f"u{folds[0]}.base -> u{folds[0]}.test" if len(folds) == 1 else f"mean of u{folds[0]}..u{folds[-1]}"
    print(f"\n1. Rating prediction, {what} (seconds, best of {repeats}); {LIKE_SURPRISE} is configured like Surprise")
    rows = [
        [
            name,
            f"{r['fit']:.3f}",
            f"{r['predict']:.3f}",
            f"{r['total']:.3f}",
            f"{r['rmse']:.4f}",
            f"{r['mib']:.1f}",
            f"{ref['total'] / r['total']:.1f}x",
            f"{r['rmse'] - ref['rmse']:+.4f}",
        ]
        for name, r in mean.items()
    ]
    print_table(["model", "fit", "predict", "total", "RMSE", "peak MiB", "Surprise/ours", "RMSE-Surprise"], rows)
    diff = abs(mean[LIKE_SURPRISE]["rmse"] - ref["rmse"])
    print(f"target |RMSE diff| <= {RMSE_TOLERANCE}, {LIKE_SURPRISE}: {diff:.4f}  {verdict(diff <= RMSE_TOLERANCE)}")
    for name in [n for n in models if n != SURPRISE]:
        ratio = ref["total"] / mean[name]["total"]
        print(f"target Surprise/ours >= {SPEED_TARGET:.0f}x, {name}: {ratio:.1f}x  {verdict(ratio >= SPEED_TARGET)}")


def bench_recommend_all(archive: Path, repeats: int) -> None:
    ratings, _ = filter_min_ratings(read_ratings(archive, "u.data"), 5, 20)  # as conf/base/parameters.yml
    fit_s, model = best_of(1, lambda: UserKNN(neighbours=40, similarity="cosine").fit(ratings))
    seconds, top = best_of(repeats, lambda: model.recommend_all(10))
    print(
        f"\n2. recommend_all(10), full u.data filtered (5 per user, 20 per movie): {len(ratings)} ratings, "
        f"{len(model.user_ids_)} users x {len(model.item_ids_)} movies"
    )
    print(f"fit {fit_s:.3f} s, recommend_all {seconds:.3f} s (best of {repeats}), {len(top)} rows")


def bench_kedro_run(archive: Path) -> None:
    env = {**os.environ, "MOVIELENS_100K": str(archive), "KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "kedro", "run"], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    print(f"\n3. kedro run (subprocess, cwd {ROOT}): {seconds:.2f} s wall, exit code {done.returncode}")
    if done.returncode:
        print(done.stderr[-2000:])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", help="ml-100k.zip (default: $MOVIELENS_100K, else ../shared/datasets/)")
    parser.add_argument("--repeats", type=int, default=3, help="N: timing repeats, the best counts (default 3)")
    parser.add_argument("--folds", action="store_true", help="u1..u5 instead of u1 only; print the mean")
    parser.add_argument("--no-kedro-run", action="store_true", help="skip timing a full kedro run")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    archive = archive_path(args.archive)
    try:
        import surprise
    except ImportError:
        surprise = None
    problems = []
    if not (archive.is_file() and zipfile.is_zipfile(archive)):
        problems.append(f"no MovieLens 100k zip at {archive} (pass --archive PATH or set MOVIELENS_100K)")
    if surprise is None:
        problems.append("scikit-surprise is not installed (pip install -r benchmarks/requirements.txt)")
    if problems:
        sys.exit("Cannot run the benchmark: " + "; ".join(problems) + ".")

    print(f"archive {archive}, surprise {surprise.__version__}, numpy {np.__version__}")
    models = {
        LIKE_SURPRISE: ours(neighbours=40, similarity="cosine_common"),
        "ours cosine (default)": ours(neighbours=40, similarity="cosine"),
        SURPRISE: surprise_knn(surprise),
    }
    bench_accuracy(archive, models, [1, 2, 3, 4, 5] if args.folds else [1], args.repeats)
    bench_recommend_all(archive, args.repeats)
    if not args.no_kedro_run:
        bench_kedro_run(archive)


if __name__ == "__main__":
    main()
