"""Benchmark the model zoo on MovieLens 100k, with Surprise run side by side on the same folds.

What is measured, in one process, on the real archive read in memory (nothing is extracted):

1. Rating prediction, uN.base -> uN.test for each fold of ``--folds`` (default u1..u5), mean
   shown. Every model of ours that predicts ratings is paired, where Surprise has one, with
   the Surprise algorithm configured the same way (same k, similarity, user/item base,
   baseline and SGD settings). Fit starts from the ratings DataFrame for both (Surprise's
   includes load_from_df and build_full_trainset); predict covers every test pair. Seconds
   are the best of ``--repeats`` runs per fold, summed fit + predict, then averaged.
2. Top-10 ranking on a per-user random 75/25 hold-out of u.data (seed 42; relevance = any
   held-out rating; lists exclude training items), through ``recsys.evaluate_models``:
   nDCG@10, P@10, R@10, MAP@10, HitRate@10, coverage and novelty, with fit and recommend
   seconds.

Targets (printed PASS/FAIL, never asserted by the tests):
- u1..u5 mean RMSE: best UserKNN option <= 0.93; best model <= 0.90;
- every model with a Surprise counterpart at least as accurate (RMSE within +0.001) and faster;
  SVD++ (its Surprise peer only with ``--svdpp``): RMSE within 0.003 of Surprise's and 5x faster;
- top-10: Popularity nDCG@10 about 0.25; best UserKNN >= 0.44; best model >= 0.50.

Run from anywhere: ``python benchmarks/bench_models.py [--archive ml-100k.zip] [--folds 1,2,3,4,5]
[--repeats 1] [--svdpp] [--no-surprise]``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_user_knn import archive_path, best_of, print_table, read_ratings, verdict  # noqa: E402

from movie_recommender.recsys import evaluate_models, mae, random_holdout, rmse  # noqa: E402
from movie_recommender.recsys.models import make_model  # noqa: E402

COLUMNS = ["userId", "movieId", "rating"]
SVD = {"n_factors": 100, "n_epochs": 20, "lr": 0.005, "reg": 0.02}
BASELINE = {"method": "als", "reg_u": 15, "reg_i": 10, "n_epochs": 10}
PEARSON_BASELINE = {"name": "pearson_baseline", "shrinkage": 100}

# (label, our model name, our params, Surprise class name or None, its keyword arguments)
RATING_MODELS = [
    ("bias", "bias", {}, "BaselineOnly", {"bsl_options": BASELINE}),
    (
        "user_knn cosine_common",
        "user_knn",
        {"similarity": "cosine_common"},
        "KNNBasic",
        {"k": 40, "sim_options": {"name": "cosine", "user_based": True}},
    ),
    (
        "user_knn mean-centred",
        "user_knn",
        {"similarity": "cosine_common", "centering": "mean"},
        "KNNWithMeans",
        {"k": 40, "sim_options": {"name": "cosine", "user_based": True}},
    ),
    (
        "user_knn baseline",
        "user_knn",
        {"similarity": "pearson_baseline", "centering": "baseline", "shrinkage": 100},
        "KNNBaseline",
        {"k": 40, "sim_options": {**PEARSON_BASELINE, "user_based": True}, "bsl_options": BASELINE},
    ),
    (
        "item_knn baseline",
        "item_knn",
        {"similarity": "pearson_baseline", "centering": "baseline", "shrinkage": 100},
        "KNNBaseline",
        {"k": 40, "sim_options": {**PEARSON_BASELINE, "user_based": False}, "bsl_options": BASELINE},
    ),
    (
        "svd (SGD)",
        "svd",
        {**SVD, "solver": "sgd"},
        "SVD",
        {"n_factors": 100, "n_epochs": 20, "lr_all": 0.005, "reg_all": 0.02, "random_state": 0},
    ),
    ("svd (ALS)", "svd", {"solver": "als"}, None, {}),
    ("svd++", "svdpp", {}, "SVDpp", {"random_state": 0}),  # both at Surprise's defaults
    (
        "item_knn on svd residuals",
        "item_knn",
        {"centering": "model", "centre_model": {"model": "svd", "params": {}}, "damping": 1.0},
        None,
        {},
    ),
    ("blend", "blend", {}, None, {}),
]
SLOW_PEERS = {"SVDpp"}  # run beside ours only with --svdpp (about 20 s per fold)

RANKING_MODELS = [
    ("random", "random", {}),
    ("popularity", "popularity", {}),
    ("user_knn (rank by rating)", "user_knn", {}),
    ("user_knn (rank by support)", "user_knn", {"ranking": "support"}),
    ("user_knn_top_n (support, k 80, amplify 3)", "user_knn", {"ranking": "support", "neighbours": 80, "amplify": 3.0}),
    ("item_knn (rank by support)", "item_knn", {"similarity": "cosine", "centering": "none", "ranking": "support"}),
    ("bias", "bias", {}),
    ("svd", "svd", {}),
    ("ease", "ease", {}),
    ("ials", "ials", {}),
    ("content", "content", {}),
    ("hybrid (ials + content)", "hybrid", {"collaborative": "ials", "content_weight": 0.2}),
]


def ours(name: str, params: dict):
    def fit(train):
        return make_model(name, params).fit(train)

    def predict(model, test):
        return model.predict(test["userId"].to_numpy(), test["movieId"].to_numpy())

    return fit, predict


def theirs(surprise, algorithm: str, kwargs: dict):
    def fit(train):
        data = surprise.Dataset.load_from_df(train[COLUMNS], surprise.Reader(rating_scale=(1, 5)))
        return getattr(surprise, algorithm)(verbose=False, **kwargs).fit(data.build_full_trainset())

    def predict(algo, test):
        return np.array([p.est for p in algo.test(list(test[COLUMNS].itertuples(index=False, name=None)))])

    return fit, predict


def measure(pair, train, test, repeats: int) -> dict[str, float]:
    fit, predict = pair
    fit_s, fitted = best_of(repeats, lambda: fit(train))
    predict_s, est = best_of(repeats, lambda: predict(fitted, test))
    truth = test["rating"].to_numpy()
    return {"rmse": rmse(truth, est), "mae": mae(truth, est), "seconds": fit_s + predict_s}


def bench_rating(archive: Path, folds: list[int], repeats: int, surprise, svdpp: bool) -> None:
    specs = [(label, ours(name, params), algo, kwargs) for label, name, params, algo, kwargs in RATING_MODELS]
    runs: dict[str, list[dict]] = {}
    for fold in folds:
        train, test = read_ratings(archive, f"u{fold}.base"), read_ratings(archive, f"u{fold}.test")
        for label, pair, algo, kwargs in specs:
            runs.setdefault(label, []).append(measure(pair, train, test, repeats))
            if surprise is not None and algo and (svdpp or algo not in SLOW_PEERS):
                runs.setdefault(f"Surprise {algo} [{label}]", []).append(
                    measure(theirs(surprise, algo, kwargs), train, test, 1 if algo in SLOW_PEERS else repeats)
                )
        print(f"  fold u{fold} done", flush=True)
    mean = {label: {key: float(np.mean([r[key] for r in rs])) for key in rs[0]} for label, rs in runs.items()}
    what = f"u{folds[0]}" if len(folds) == 1 else f"mean of u{folds[0]}..u{folds[-1]}"
    print(f"\n1. Rating prediction, {what} (fit + predict seconds, best of {repeats} per fold)")
    rows = []
    for label, _, algo, _ in specs:
        ours_row = mean[label]
        ref = mean.get(f"Surprise {algo} [{label}]")
        rows.append(
            [
                label,
                f"{ours_row['rmse']:.4f}",
                f"{ours_row['mae']:.4f}",
                f"{ours_row['seconds']:.3f}",
                f"Surprise {algo}" if ref else "-",
                f"{ref['rmse']:.4f}" if ref else "-",
                f"{ref['seconds']:.3f}" if ref else "-",
                f"{ref['seconds'] / ours_row['seconds']:.1f}x" if ref else "-",
            ]
        )
    print_table(["ours", "RMSE", "MAE", "seconds", "Surprise peer", "RMSE", "seconds", "speed-up"], rows)

    user_knn = min(mean[label]["rmse"] for label, name, *_ in RATING_MODELS if name == "user_knn")
    best_label = min((label for label, *_ in RATING_MODELS), key=lambda label: mean[label]["rmse"])
    print(f"target best UserKNN RMSE <= 0.93: {user_knn:.4f}  {verdict(user_knn <= 0.93)}")
    print(
        f"target best model RMSE <= 0.90: {best_label} {mean[best_label]['rmse']:.4f}  "
        f"{verdict(mean[best_label]['rmse'] <= 0.90)}"
    )
    for label, _, algo, _ in specs:
        ref = mean.get(f"Surprise {algo} [{label}]")
        if ref and algo == "SVDpp":
            gap, speed = mean[label]["rmse"] - ref["rmse"], ref["seconds"] / mean[label]["seconds"]
            ok = abs(gap) <= 0.003 and speed >= 5
            print(f"target SVD++ RMSE within 0.003 of Surprise's and 5x faster: {gap:+.4f}, {speed:.1f}x  {verdict(ok)}")
        elif ref:
            ok = mean[label]["rmse"] <= ref["rmse"] + 0.001 and mean[label]["seconds"] < ref["seconds"]
            print(f"target as accurate and faster than Surprise {algo}, {label}: {verdict(ok)}")


def bench_ranking(archive: Path) -> None:
    ratings = read_ratings(archive, "u.data")
    train, test = random_holdout(ratings[COLUMNS], 0.25, seed=42)
    models = {label: make_model(name, params) for label, name, params in RANKING_MODELS}
    movies = None
    if any(name in ("content", "hybrid") for _, name, _ in RANKING_MODELS):
        from movie_recommender.recsys import parse_genres, parse_movies

        with zipfile.ZipFile(archive) as zf:
            movies = parse_movies(zf.read("ml-100k/u.item"), parse_genres(zf.read("ml-100k/u.genre")))
    table = evaluate_models(models, train, test, k=10, movies=movies)
    print(
        f"\n2. Top-10 ranking, per-user random 75/25 hold-out of u.data (seed 42): "
        f"{len(train)} train / {len(test)} test ratings; relevance = any held-out rating"
    )
    columns = ["ndcg@10", "precision@10", "recall@10", "map@10", "hit_rate@10", "coverage@10", "novelty@10"]
    rows = [
        [label, *(f"{row[c]:.4f}" for c in columns), f"{row['fit_seconds']:.3f}", f"{row['recommend_seconds']:.3f}"]
        for label, row in table.iterrows()
    ]
    print_table(["model", "nDCG@10", "P@10", "R@10", "MAP@10", "HR@10", "coverage", "novelty", "fit s", "rec s"], rows)
    ndcg = table["ndcg@10"]
    knn = ndcg[[label for label in ndcg.index if label.startswith("user_knn")]].max()
    print(
        f"target Popularity nDCG@10 about 0.25: {ndcg['popularity']:.4f}  "
        f"{verdict(abs(ndcg['popularity'] - 0.25) <= 0.03)}"
    )
    print(f"target best UserKNN nDCG@10 >= 0.44: {knn:.4f}  {verdict(knn >= 0.44)}")
    print(f"target best model nDCG@10 >= 0.50: {ndcg.idxmax()} {ndcg.max():.4f}  {verdict(ndcg.max() >= 0.50)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", help="ml-100k.zip (default: $MOVIELENS_100K, else ../shared/datasets/)")
    parser.add_argument("--folds", default="1,2,3,4,5", help="folds for part 1, e.g. 1 or 1,2,3,4,5 (default)")
    parser.add_argument("--repeats", type=int, default=1, help="timing repeats per fold, the best counts (default 1)")
    parser.add_argument("--svdpp", action="store_true", help="also run Surprise's SVD++ beside ours (about 20 s per fold)")
    parser.add_argument("--no-surprise", action="store_true", help="ours only")
    parser.add_argument("--skip-rating", action="store_true", help="skip part 1")
    parser.add_argument("--skip-ranking", action="store_true", help="skip part 2")
    args = parser.parse_args(argv)
    try:
        folds = [int(f) for f in args.folds.split(",")]
    except ValueError:
        parser.error("--folds takes fold numbers such as 1,2,3")
    if args.repeats < 1 or not set(folds) <= {1, 2, 3, 4, 5}:
        parser.error("--repeats must be at least 1 and --folds numbers from 1 to 5")

    archive = archive_path(args.archive)
    if not (archive.is_file() and zipfile.is_zipfile(archive)):
        sys.exit(
            f"Cannot run the benchmark: no MovieLens 100k zip at {archive} (pass --archive or set MOVIELENS_100K)."
        )
    surprise = None
    if not args.no_surprise:
        try:
            import surprise
        except ImportError:
            sys.exit("scikit-surprise is not installed: pip install -r benchmarks/requirements.txt, or --no-surprise.")
    logging.basicConfig(level=logging.WARNING)
    pd.set_option("display.width", 200)
    print(f"archive {archive}; numpy {np.__version__}; surprise {surprise.__version__ if surprise else 'not run'}")
    if not args.skip_rating:
        bench_rating(archive, folds, args.repeats, surprise, args.svdpp)
    if not args.skip_ranking:
        bench_ranking(archive)


if __name__ == "__main__":
    main()
