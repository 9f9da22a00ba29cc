"""Fit and top-10-for-every-user of the library's models on synthetic data with a release's shape.

    python benchmarks/bench_scale.py --release ml-10m --models user_knn,item_knn,ials,ease
    python benchmarks/bench_scale.py --release ml-25m --models ials --users 20000
    python benchmarks/bench_scale.py --shape 2000,500,50000 --models user_knn     # any size

Each measurement runs in a child process (so one model's memory never counts for the next) and
reports wall time of ``fit`` and of ``recommend_all(10)`` and the child's peak RSS, beside the
model's own ``peak_memory`` formula. ``ials`` is run beside its peer, the ``implicit`` library's
``AlternatingLeastSquares`` at the same settings (factors, regularisation, confidence 1 + alpha,
sweeps), in the same invocation. A model that refuses the data says so (its message) instead.

The synthetic ratings (``movie_recommender.recsys.synthetic``: Zipf-like movie popularity,
lognormal user activity, the release's numbers of users, movies and ratings) are generated once
per shape and cached under ``data/bench/`` (git-ignored). ``--users N`` scores the first N users
only and extrapolates the time to every user (said in the output). The settings are those of the
parameters files as ``--params dataset=<release>`` resolves them (``--shape`` keeps ``--release``'s);
the content models get a synthetic movies table (genres, titles with a year). Beside each measured
fit is the model's own estimate (``fit_seconds``, what its time refusal checks; ``-``: none, cheap).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

GB = 1024**3


def _data(shape: tuple[int, int, int], cache: Path):
    import numpy as np

    from movie_recommender.recsys.data import RatingData
    from movie_recommender.recsys.synthetic import synthetic_ratings

    path = cache / f"synthetic_{shape[0]}_{shape[1]}_{shape[2]}.npz"
    if path.exists():
        arrays = np.load(path)
        return RatingData.from_arrays(arrays["users"], arrays["items"], arrays["ratings"])
    table = synthetic_ratings(*shape, seed=0)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, users=table.userId.to_numpy(), items=table.movieId.to_numpy(), ratings=table.rating.to_numpy())
    os.replace(tmp, path)
    return RatingData.from_frame(table)


def model_settings(release: str) -> dict:
    """``models`` of the parameters files as ``kedro run --params dataset=<release>`` resolves them (some
    settings ship per release size)."""
    from kedro.config import OmegaConfigLoader

    from movie_recommender.settings import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(str(ROOT / "conf"), **CONFIG_LOADER_ARGS, runtime_params={"dataset": release})
    return loader["parameters"]["models"]


def _movies(item_ids):
    """The movies table the pipeline gives the models (``movieId, title, year, genres``), for the synthetic
    movie ids: genres and titles with a year as the releases write them (``benchmarks/synthetic.py``),
    parsed by the library's own title splitter. Only the content models read it."""
    from benchmarks.synthetic import synthetic_movies
    from movie_recommender.recsys.movielens import _titles_and_years

    movies = synthetic_movies(item_ids, seed=0)
    movies["title"], years = _titles_and_years(movies["title"].tolist())
    movies.insert(2, "year", years)
    movies["year"] = movies["year"].astype("Int64")
    return movies


def _child(spec: dict) -> dict:
    """One measurement (in this process): fit, then top-10 for every (or the first ``users``) user."""
    import numpy as np

    from movie_recommender.recsys.budget import ModelRefusedError
    from movie_recommender.recsys.models import make_model

    data = _data(tuple(spec["shape"]), Path(spec["cache"]))
    out = {"users": data.n_users, "movies": data.n_items, "ratings": data.n_ratings}
    if spec["model"] == "implicit":  # the peer of ials
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        p = spec["params"]
        confidence = data.matrix.astype(np.float32)
        confidence.data[:] = 1.0 + p["alpha"]
        peer = AlternatingLeastSquares(
            factors=p["n_factors"], regularization=p["reg"], alpha=1.0, iterations=p["n_epochs"], random_state=0
        )
        start = time.perf_counter()
        with threadpool_limits(1, "blas"):
            peer.fit(confidence, show_progress=False)
        out["fit_s"] = time.perf_counter() - start
        users = np.arange(min(spec["users"] or data.n_users, data.n_users))
        start = time.perf_counter()
        for block in np.array_split(users, max(1, len(users) // 1000)):
            peer.recommend(block, confidence[block], N=10, filter_already_liked_items=True)
        out["recommend_s"] = time.perf_counter() - start
        out["scored_users"] = len(users)
    else:
        model = make_model(spec["model"], spec["params"])
        out["formula_bytes"] = model.peak_memory(data.n_users, data.n_items, data.n_ratings)[0]
        estimate = model.fit_seconds(data)
        out["estimate_fit_s"] = None if estimate is None else estimate[0]
        start = time.perf_counter()
        try:
            model.fit(data, _movies(data.item_ids))
        except ModelRefusedError as error:
            out["refused"] = str(error)
            return out
        out["fit_s"] = time.perf_counter() - start
        users = None if not spec["users"] else data.user_ids[: spec["users"]]
        start = time.perf_counter()
        recs = model.recommend_all(10, users=users)
        out["recommend_s"] = time.perf_counter() - start
        out["scored_users"] = int(recs.userId.nunique())
    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return out


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def main(argv: list[str] | None = None) -> list[dict]:
    from movie_recommender.recsys.synthetic import RELEASE_SHAPES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--release", default="ml-1m", choices=sorted(RELEASE_SHAPES))
    parser.add_argument("--shape", help="users,movies,ratings instead of a release's")
    parser.add_argument("--models", default="popularity,user_knn,item_knn,ials,ease")
    parser.add_argument("--params", default="{}", help='JSON {model: {setting: value}} over the parameters file')
    parser.add_argument("--users", type=int, default=0, help="score only the first N users (0: all)")
    parser.add_argument("--no-peer", action="store_true", help="skip the implicit library beside ials")
    parser.add_argument("--cache", default=str(ROOT / "data" / "bench"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return []

    shape = tuple(int(x) for x in args.shape.split(",")) if args.shape else RELEASE_SHAPES[args.release]
    settings = model_settings(args.release)
    overrides = json.loads(args.params)
    _data(shape, Path(args.cache))  # generate (or check) the cache once, outside the timings
    names = [n for n in args.models.split(",") if n]
    if "ials" in names and not args.no_peer:
        names.insert(names.index("ials") + 1, "implicit")
    rows = []
    label = args.shape or args.release
    print(f"{label}: {shape[0]:,} users x {shape[1]:,} movies, about {shape[2]:,} ratings; one child process each")
    print(f"{'model':<16}{'fit s':>9}{'est. fit s':>11}{'top-10 s':>10}{'all users s':>13}{'peak RSS GB':>13}"
          f"{'formula GB':>12}")
    for name in names:
        base = "ials" if name == "implicit" else name
        params = dict(settings.get(base, {}))
        model_name = params.pop("model", base)
        params.update(overrides.get(base, {}))
        spec = {"model": "implicit" if name == "implicit" else model_name, "params": params, "shape": shape,
                "cache": args.cache, "users": args.users}  # fmt: skip
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True, check=False
        )
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            print(f"{name:<16} failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
            rows.append({"model": name, "error": proc.stderr})
            continue
        row = {"model": name, "wall_s": wall, **json.loads(proc.stdout.strip().splitlines()[-1])}
        rows.append(row)
        if "refused" in row:
            print(f"{name:<16} refused: {row['refused']}")
            continue
        scale = row["users"] / max(1, row["scored_users"])
        total = row["recommend_s"] * scale
        formula = f"{row['formula_bytes'] / GB:12.2f}" if "formula_bytes" in row else f"{'-':>12}"
        note = "" if scale == 1 else f"  (top-10 of {row['scored_users']:,} users, all extrapolated)"
        print(
            f"{name:<16}{row['fit_s']:9.1f}{_seconds(row.get('estimate_fit_s')):>11}"
            f"{row['recommend_s']:10.1f}{total:13.1f}"
            f"{row['peak_rss_bytes'] / GB:13.2f}{formula}{note}"
        )
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"peak RSS: parent {parent / GB:.2f} GB, largest child {children / GB:.2f} GB")
    return rows


if __name__ == "__main__":
    main()
