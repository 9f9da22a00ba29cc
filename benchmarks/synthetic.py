"""Synthetic MovieLens archives with the real releases' shapes and exact layouts (no MovieLens data).

    python benchmarks/synthetic.py ml-25m                      # -> data/01_raw/ml-25m.zip
    python benchmarks/synthetic.py ml-1m --out /tmp/ml-1m.zip --scale 0.1

Each archive holds the files the release ships under its own folder (``ml-1m/``, ``ml-10M100K/``,
``ml-25m/``, ...) with the release's separators, headers, encodings and quirks: ``::`` and latin-1
titles in ML-1M, half stars from ML-10M on, quoted CSV titles with commas and quotes, titles
without a year, ``(no genres listed)``, sparse movie ids, files sorted by user then movie. The
counts of users, movies and ratings are the real ones (``SHAPES``); who rated what follows a
long-tailed popularity, every user has at least 20 ratings, as in the real data.

``write_archive(release, path, ratings, movies)`` writes any tables in a release's layout; the tests
use it with small hand-made tables. ``bench_scale.py`` (issue 11) and ``bench_data.py`` reuse both.
"""

from __future__ import annotations

import argparse
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

#: (users, movies rated, ratings, highest movie id) of the official releases.
SHAPES = {
    "ml-100k": (943, 1_682, 100_000, 1_682),
    "ml-1m": (6_040, 3_706, 1_000_209, 3_952),
    "ml-10m": (69_878, 10_677, 10_000_054, 65_133),
    "ml-20m": (138_493, 26_744, 20_000_263, 131_262),
    "ml-25m": (162_541, 59_047, 25_000_095, 209_171),
    "ml-32m": (200_948, 84_432, 32_000_204, 292_757),
    "ml-latest-small": (610, 9_724, 100_836, 193_609),
    "ml-latest": (330_975, 83_239, 33_832_162, 288_983),
}
FOLDERS = {"ml-10m": "ml-10M100K"}
GENRES = [
    "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
    "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip
_TITLES = [
    "American President, The", '"Great Performances" Cats', "Misérables, Les", "City of Lost Children, The",
    "Toy Story", "Heat", "Sabrina", "Se7en", "Twelve Monkeys (a.k.a. 12 Monkeys)", "Babe", "Nadja",
]  # fmt: skip
_CHUNK = 1_000_000


def family(release: str) -> str:
    return "ml100k" if release == "ml-100k" else "dat" if release in ("ml-1m", "ml-10m") else "csv"


def half_stars(release: str) -> bool:
    return release not in ("ml-100k", "ml-1m")


# --------------------------------------------------------------------------------------------- tables
def synthetic_ratings(
    n_users: int, n_movies: int, n_ratings: int, *, half: bool = True, seed: int = 0, max_movie_id: int | None = None
) -> pd.DataFrame:
    """``userId, movieId, rating, timestamp`` sorted by user then movie: exactly ``n_ratings`` distinct pairs.

    Users 1..n_users, each with at least 20 ratings (fewer only if n_movies < 20) and a long-tailed
    count; movies drawn by a long-tailed popularity over ``n_movies`` ids spread over
    1..max_movie_id (sparse, as in the CSV releases). Int32 ids, float32 ratings, int64 times.
    """
    rng = np.random.default_rng(seed)
    floor = min(20, n_movies)
    if not n_users * floor <= n_ratings <= n_users * n_movies:
        raise ValueError(f"{n_ratings} ratings do not fit {n_users} users x {n_movies} movies (>= {floor} each)")
    weights = rng.pareto(1.2, n_users) + 1e-3
    extra = n_ratings - n_users * floor
    counts = floor + np.floor(extra * weights / weights.sum()).astype(np.int64)
    counts = np.minimum(counts, max(floor, int(n_movies * 0.5)))
    while (short := n_ratings - counts.sum()) > 0:  # rounding and the cap: hand out the rest
        room = np.flatnonzero(counts < max(floor, int(n_movies * 0.5)))
        counts[rng.choice(room, size=min(short, room.size), replace=False)] += 1
    popularity = 1.0 / np.arange(1, n_movies + 1) ** 0.9
    popularity = 0.8 * popularity / popularity.sum() + 0.2 / n_movies
    popularity = popularity[rng.permutation(n_movies)]
    # Heavy users (more than 2% of the movies) draw their distinct movies at once: the top counts[u] of
    # log(popularity) + Gumbel noise, a weighted draw without replacement (O(movies) each). The others draw
    # with replacement, drop repeats and draw again for what is missing, which converges in a few rounds.
    heavy = np.flatnonzero(counts > max(floor, n_movies // 50))
    log_p = np.log(popularity)
    heavy_keys = [
        user * n_movies + np.argpartition(-(log_p + rng.gumbel(size=n_movies)), counts[user] - 1)[: counts[user]]
        for user in heavy
    ]
    keys = np.sort(np.concatenate([np.empty(0, dtype=np.int64), *heavy_keys]).astype(np.int64))
    need = counts.copy()
    need[heavy] = 0
    for attempt in range(60):
        if need.sum() == 0:
            break
        want = np.repeat(np.arange(n_users, dtype=np.int64), need + np.ceil(need * 0.15).astype(np.int64))
        drawn = np.unique(want * n_movies + rng.choice(n_movies, size=want.size, p=popularity))
        drawn = drawn[~np.isin(drawn, keys, assume_unique=True)]  # new pairs only
        owner = drawn // n_movies
        order = np.lexsort((rng.random(drawn.size), owner))  # keep a random `need[u]` of each user's new pairs
        drawn, owner = drawn[order], owner[order]
        got = np.bincount(owner, minlength=n_users)
        rank = np.arange(drawn.size) - np.repeat(np.cumsum(got) - got, got)
        kept = drawn[rank < need[owner]]
        keys = np.sort(np.concatenate([keys, kept]))
        need -= np.bincount(kept // n_movies, minlength=n_users)
    if need.sum():
        raise RuntimeError("could not draw enough distinct pairs; use fewer ratings per user")
    movie_ids = _movie_ids(n_movies, max_movie_id or n_movies, rng)
    steps = np.array([0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5] if half else [1, 2, 3, 4, 5], dtype=np.float32)
    probs = np.array([1, 3, 2, 7, 5, 20, 13, 27, 9, 13] if half else [6, 11, 27, 34, 22], dtype=float)
    ratings = pd.DataFrame(
        {
            "userId": (keys // n_movies + 1).astype(np.int32),
            "movieId": movie_ids[keys % n_movies],
            "rating": rng.choice(steps, size=keys.size, p=probs / probs.sum()),
            "timestamp": rng.integers(946_684_800, 1_697_000_000, size=keys.size, dtype=np.int64),
        }
    )
    return ratings  # sorted by user then movie: the keys are, and movie ids grow with the index


def _movie_ids(n_movies: int, max_movie_id: int, rng: np.random.Generator) -> np.ndarray:
    if max_movie_id <= n_movies:
        return np.arange(1, n_movies + 1, dtype=np.int32)
    ids = np.sort(rng.choice(np.arange(2, max_movie_id, dtype=np.int32), size=n_movies - 2, replace=False))
    return np.concatenate([[1], ids, [max_movie_id]]).astype(np.int32)


def synthetic_movies(movie_ids: np.ndarray, *, seed: int = 0, extra: int = 0) -> pd.DataFrame:
    """``movieId, title, genres`` (titles with their year, as the releases write them) for ``movie_ids``.

    ``extra`` more movies nobody rated are listed too (the releases list such movies). Quirks
    included: titles with commas and quotes, accented letters, titles without a year,
    ``(no genres listed)``.
    """
    rng = np.random.default_rng(seed + 1)
    ids = np.asarray(movie_ids, dtype=np.int64)
    if extra:
        free = np.setdiff1d(np.arange(1, ids.max() + extra + 1), ids)[:extra]
        ids = np.sort(np.concatenate([ids, free]))
    names = np.array(_TITLES, dtype=object)[np.arange(ids.size) % len(_TITLES)]
    years = rng.integers(1915, 2024, size=ids.size)
    titles = [f"{name} {i} ({year})" for i, (name, year) in enumerate(zip(names, years))]
    for position in range(7, ids.size, 97):  # some have no year (e.g. "Babylon 5")
        titles[position] = f"Series {position}"
    n_genres = rng.integers(1, 4, size=ids.size)
    genres = ["|".join(sorted(rng.choice(GENRES, size=k, replace=False))) for k in n_genres]
    for position in range(5, ids.size, 53):
        genres[position] = "(no genres listed)"
    return pd.DataFrame({"movieId": ids, "title": titles, "genres": genres})


# -------------------------------------------------------------------------------------------- layouts
def _dat_lines(frame: pd.DataFrame, columns: list[str], rating_format: str | None) -> str:
    text = frame[columns].to_csv(sep="\t", header=False, index=False, float_format=rating_format, lineterminator="\n")
    return text.replace("\t", "::")


def _write_text(archive: zipfile.ZipFile, name: str, chunks, encoding: str = "utf-8") -> None:
    with archive.open(name, "w", force_zip64=True) as stream:
        for chunk in chunks:
            stream.write(chunk.encode(encoding))


def _chunks(frame: pd.DataFrame, render):
    for start in range(0, len(frame), _CHUNK):
        yield render(frame.iloc[start : start + _CHUNK])


def write_archive(
    release: str,
    path: str | Path,
    ratings: pd.DataFrame,
    movies: pd.DataFrame,
    *,
    compresslevel: int = 1,
    extra_files: bool = True,
) -> Path:
    """Write ``ratings`` (userId, movieId, rating, timestamp) and ``movies`` (movieId, title, genres)
    as the official ``<release>.zip`` lays them out. Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = FOLDERS.get(release, release)
    kind = family(release)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as archive:
        if kind == "dat":
            whole = release == "ml-1m"
            frame = ratings.astype({"rating": "int64"}) if whole else ratings
            _write_text(archive, f"{folder}/ratings.dat", _chunks(frame, lambda c: _dat_lines(c, list(c.columns), "%g")))
            encoding = "latin-1" if whole else "utf-8"
            lines = "".join(f"{m}::{t}::{g}\n" for m, t, g in movies[["movieId", "title", "genres"]].itertuples(False))
            _write_text(archive, f"{folder}/movies.dat", [lines], encoding)
            if extra_files and whole:
                users = np.unique(ratings["userId"])
                lines = "".join(f"{u}::{'MF'[u % 2]}::25::{u % 21}::{10000 + u}\n" for u in users)
                _write_text(archive, f"{folder}/users.dat", [lines])
            elif extra_files:
                archive.writestr(f"{folder}/tags.dat", "15::4973::excellent!::1215184630\n")
                archive.writestr(f"{folder}/split_ratings.sh", "#!/bin/sh\n")
        elif kind == "csv":
            header = "userId,movieId,rating,timestamp\n"
            render = lambda c: c.to_csv(header=False, index=False, float_format="%.1f", lineterminator="\n")  # noqa: E731
            _write_text(archive, f"{folder}/ratings.csv", [header, *_chunks(ratings, render)])
            _write_text(archive, f"{folder}/movies.csv", [movies.to_csv(index=False, lineterminator="\n")])
            if extra_files:
                archive.writestr(f"{folder}/tags.csv", "userId,movieId,tag,timestamp\n2,60756,funny,1445714994\n")
                links = pd.DataFrame({"movieId": movies["movieId"], "imdbId": movies["movieId"] + 100000, "tmdbId": ""})
                _write_text(archive, f"{folder}/links.csv", [links.to_csv(index=False, lineterminator="\n")])
                if release == "ml-25m":
                    archive.writestr(f"{folder}/genome-tags.csv", "tagId,tag\n1,007\n")
                    archive.writestr(f"{folder}/genome-scores.csv", "movieId,tagId,relevance\n1,1,0.029\n")
        else:
            raise ValueError("ml-100k: use tests.conftest.make_members / write_zip for its u.* layout")
        archive.writestr(f"{folder}/README.txt", f"Synthetic stand-in for {release}, same layout; not MovieLens data.\n")
    return path


def synthetic_archive(release: str, path: str | Path, *, scale: float = 1.0, seed: int = 0) -> Path:
    """A whole synthetic ``release`` archive at ``path``: the real shape (times ``scale``), the exact layout."""
    n_users, n_movies, n_ratings, max_id = SHAPES[release]
    if scale != 1.0:  # users and movies by sqrt(scale), ratings by scale: the density stays
        n_users, n_movies = (max(30, round(v * scale**0.5)) for v in (n_users, n_movies))
        n_ratings = min(max(round(n_ratings * scale), n_users * 20), n_users * n_movies // 2)
        max_id = max(n_movies, round(max_id * scale**0.5))
    ratings = synthetic_ratings(
        n_users, n_movies, n_ratings, half=half_stars(release), seed=seed, max_movie_id=max(max_id, n_movies)
    )
    movies = synthetic_movies(np.unique(ratings["movieId"]), seed=seed, extra=max(1, n_movies // 20))
    return write_archive(release, path, ratings, movies)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("release", choices=[name for name in SHAPES if name != "ml-100k"])
    parser.add_argument("--out", help="archive path (default data/01_raw/<release>.zip)")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the real users/movies/ratings")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = Path(args.out or f"data/01_raw/{args.release}.zip")
    started = time.perf_counter()
    synthetic_archive(args.release, out, scale=args.scale, seed=args.seed)
    print(f"{out}: {out.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
