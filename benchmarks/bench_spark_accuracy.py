"""Spark ALS beside the project's pandas models on MovieLens 100k, with the project's splits and metrics.

- top-10 nDCG (and P@10) of ``als_implicit`` beside ``ials`` on the default evaluation split (the
  filtered ratings, per-user random 75/25, seed 42; the Spark split is the same rows);
- RMSE of explicit ``als`` beside ``svd`` on the archive's folds u1..u5 (mean).

Settings come from conf/base/parameters_spark.yml and parameters_modeling.yml; ``--set`` overrides
one ALS setting for a try, e.g. ``--set als_implicit.reg=0.1``.

    python benchmarks/bench_spark_accuracy.py --archive ../shared/datasets/ml-100k.zip
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from movie_recommender.pipelines.validation import model_from_params  # noqa: E402
from movie_recommender.recsys import evaluate_model, filter_min_ratings, parse_ratings  # noqa: E402
from movie_recommender.recsys.splits import predefined_fold, random_holdout  # noqa: E402
from movie_recommender.recsys_spark import splits  # noqa: E402
from movie_recommender.recsys_spark.als import check_als_settings  # noqa: E402
from movie_recommender.recsys_spark.evaluate import evaluate_als  # noqa: E402
from movie_recommender.recsys_spark.session import get_or_create_session  # noqa: E402


def members(archive: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(archive) as zipped:
        return {Path(n).name: zipped.read(n) for n in zipped.namelist() if not n.endswith("/")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--archive", type=Path, required=True)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--set", action="append", default=[], help="variant.setting=value")
    args = parser.parse_args()
    spark_params = yaml.safe_load((ROOT / "conf/base/parameters_spark.yml").read_text())["spark_models"]
    models = yaml.safe_load((ROOT / "conf/base/parameters_modeling.yml").read_text())["models"]
    for item in args.set:
        key, value = item.split("=", 1)
        variant, setting = key.split(".", 1)
        spark_params[variant][setting] = yaml.safe_load(value)
    spark = get_or_create_session({"spark.master": args.master, "spark.ui.enabled": "false",
                                   "spark.sql.shuffle.partitions": "4"})
    files = members(args.archive)
    ratings = parse_ratings(files["u.data"])
    n_items = ratings.movieId.nunique()

    clean, _ = filter_min_ratings(ratings, 5, 20)
    train, test = random_holdout(clean[["userId", "movieId", "rating", "timestamp"]], 0.25, seed=42)
    ials = evaluate_model(model_from_params("ials", models), train, test, k=10)
    spark_train, spark_test = splits.to_spark(spark, train).cache(), splits.to_spark(spark, test).cache()
    implicit = evaluate_als("als_implicit", check_als_settings("als_implicit", spark_params["als_implicit"]),
                            spark_train, spark_test, 10, None, clean.movieId.nunique())
    print(f"random split, top-10:  ials nDCG {ials['ndcg@10']:.4f} P@10 {ials['precision@10']:.4f}  |  "
          f"als_implicit nDCG {implicit['ndcg@10']:.4f} P@10 {implicit['precision@10']:.4f}  "
          f"(difference {implicit['ndcg@10'] - ials['ndcg@10']:+.4f})", flush=True)

    svd_rmse, als_rmse = [], []
    explicit = check_als_settings("als", spark_params["als"])
    for fold in ("u1", "u2", "u3", "u4", "u5"):
        fold_train, fold_test = predefined_fold(files, fold)
        svd_rmse.append(evaluate_model(model_from_params("svd", models), fold_train, fold_test, k=10)["rmse"])
        row = evaluate_als("als", explicit, splits.to_spark(spark, fold_train).cache(),
                           splits.to_spark(spark, fold_test).cache(), 10, None, n_items)
        als_rmse.append(row["rmse"])
        print(f"{fold}: svd RMSE {svd_rmse[-1]:.4f}  als RMSE {als_rmse[-1]:.4f}", flush=True)
    print(f"u1..u5 mean RMSE: svd {np.mean(svd_rmse):.4f}  als {np.mean(als_rmse):.4f}  "
          f"(difference {np.mean(als_rmse) - np.mean(svd_rmse):+.4f})")
    spark.stop()


if __name__ == "__main__":
    main()
