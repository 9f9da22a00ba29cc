"""Readers for the MovieLens 100k file formats: bytes in, tidy DataFrames out.

Pure functions (no file system, no network) so that a Kedro node, a notebook or a
test can feed them the raw bytes of ``u.data``, ``u.item`` and ``u.genre``.
Every error names the file and line at fault and says what was expected.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd

RATING_COLUMNS = ["userId", "movieId", "rating", "timestamp"]
MOVIE_COLUMNS = ["movieId", "title", "year", "genres"]
RATING_SCALE = (1, 5)

# "Toy Story (1995)", "Land Before Time III: ... (1995) (V)" -> title, year, suffix
_TITLE_YEAR = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})\)(?P<suffix>(?:\s*\([^()]*\))*)\s*$")
_ITEM_FIXED_FIELDS = 5  # id | title | release date | video release date | IMDb URL


class MovieLensFormatError(ValueError):
    """A MovieLens file does not have the documented format."""


def _lines(raw: bytes) -> list[str]:
    # MovieLens 100k is latin-1 encoded (u.item has 9 titles with accented letters).
    return raw.decode("latin-1").splitlines()


def _malformed(source: str, lineno: int, line: str, expected: str) -> MovieLensFormatError:
    shown = line if len(line) <= 80 else line[:77] + "..."
    return MovieLensFormatError(
        f"{source} line {lineno} is malformed: expected {expected}, found {shown!r}. "
        "The file is corrupt or not from MovieLens 100k: re-download the archive or fix that line."
    )


def parse_ratings(raw: bytes, source: str = "u.data") -> pd.DataFrame:
    """Parse ``u.data`` (``user id \\t item id \\t rating \\t timestamp``) into a ratings table.

    Blank lines are ignored. Raises :class:`MovieLensFormatError` naming the line for a
    malformed row, a rating outside 1-5, or a (user, movie) pair rated twice.
    """
    expected = "4 tab-separated whole numbers (user id, movie id, rating, timestamp)"
    linenos, rows = [], []
    for lineno, line in enumerate(_lines(raw), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 4:
            raise _malformed(source, lineno, line, expected)
        try:
            rows.append([int(field) for field in fields])
        except ValueError:
            raise _malformed(source, lineno, line, expected) from None
        linenos.append(lineno)
    if not rows:
        raise MovieLensFormatError(f"{source} has no ratings: the file is empty.")
    values = np.asarray(rows, dtype=np.int64)
    linenos = np.asarray(linenos)
    ratings = pd.DataFrame(values, columns=RATING_COLUMNS)

    low, high = RATING_SCALE
    bad = np.flatnonzero((values[:, 2] < low) | (values[:, 2] > high))
    if bad.size:
        first = bad[0]
        raise MovieLensFormatError(
            f"{source} line {linenos[first]}: rating {values[first, 2]} is outside {low}-{high} "
            f"({bad.size} such line(s) in all). Ratings must be whole stars from {low} to {high}."
        )
    if (values[:, :2] <= 0).any():
        first = np.flatnonzero((values[:, :2] <= 0).any(axis=1))[0]
        raise MovieLensFormatError(f"{source} line {linenos[first]}: user and movie ids must be positive integers.")
    duplicated = ratings.duplicated(["userId", "movieId"], keep=False).to_numpy()
    if duplicated.any():
        first = np.flatnonzero(duplicated)[0]
        user, movie = values[first, 0], values[first, 1]
        same = linenos[duplicated & (values[:, 0] == user) & (values[:, 1] == movie)]
        raise MovieLensFormatError(
            f"{source} lines {', '.join(map(str, same))} all rate movie {movie} by user {user}; "
            f"each (user, movie) pair may appear once ({int(duplicated.sum())} duplicated lines in all). "
            "Remove the duplicates or re-download the archive."
        )
    return ratings


def parse_genres(raw: bytes, source: str = "u.genre") -> list[str]:
    """Parse ``u.genre`` (``name|index``) into genre names ordered by their index."""
    by_index: dict[int, str] = {}
    for lineno, line in enumerate(_lines(raw), start=1):
        if not line.strip():
            continue
        name, sep, index = line.rpartition("|")
        if not sep or not name or not index.strip().isdigit():
            raise _malformed(source, lineno, line, "'genre name|index'")
        by_index[int(index)] = name
    if sorted(by_index) != list(range(len(by_index))) or not by_index:
        raise MovieLensFormatError(
            f"{source}: genre indices must run 0, 1, 2, ... without gaps; found {sorted(by_index)}."
        )
    return [by_index[i] for i in range(len(by_index))]


def _split_title(raw_title: str, release_date: str) -> tuple[str, int | None]:
    match = _TITLE_YEAR.match(raw_title)
    if match:
        return match["title"] + match["suffix"], int(match["year"])
    year = release_date.strip()[-4:]
    return raw_title.strip(), int(year) if year.isdigit() else None


def parse_movies(raw: bytes, genres: list[str], source: str = "u.item") -> pd.DataFrame:
    """Parse ``u.item`` (pipe-separated, latin-1) into ``movieId,title,year,genres``.

    The title loses its trailing ``(year)``; ``year`` comes from the title, else from the
    release date, else is missing (item 267 ``unknown``). ``genres`` joins the names of
    the flagged genres with ``|``. Duplicate titles under different ids are kept.
    """
    n_fields = _ITEM_FIXED_FIELDS + len(genres)
    expected = f"{n_fields} '|'-separated fields (id, title, release date, video date, URL, {len(genres)} genre flags)"
    records, seen = [], {}
    for lineno, line in enumerate(_lines(raw), start=1):
        if not line.strip():
            continue
        fields = line.split("|")
        flags = fields[_ITEM_FIXED_FIELDS:]
        if len(fields) != n_fields or not fields[0].isdigit() or any(f not in ("0", "1") for f in flags):
            raise _malformed(source, lineno, line, expected)
        movie_id = int(fields[0])
        if movie_id in seen:
            raise MovieLensFormatError(
                f"{source} lines {seen[movie_id]} and {lineno} both describe movie id {movie_id}; ids must be unique."
            )
        seen[movie_id] = lineno
        title, year = _split_title(fields[1], fields[2])
        names = "|".join(name for name, flag in zip(genres, flags) if flag == "1")
        records.append((movie_id, title, year, names))
    if not records:
        raise MovieLensFormatError(f"{source} has no movies: the file is empty.")
    movies = pd.DataFrame.from_records(records, columns=MOVIE_COLUMNS)
    movies["year"] = movies["year"].astype("Int64")
    return movies


def check_rated_movies(
    ratings: pd.DataFrame, movies: pd.DataFrame, raw_ratings: bytes, source: str = "u.data", movies_source: str = "u.item"
) -> None:
    """Raise :class:`MovieLensFormatError` naming the first line of ``raw_ratings`` (the bytes ``ratings``
    was parsed from by :func:`parse_ratings`) that rates a movie missing from ``movies``."""
    unknown = ~ratings["movieId"].isin(movies["movieId"]).to_numpy()
    if not unknown.any():
        return
    first = int(np.flatnonzero(unknown)[0])  # the row of the first such rating; rows skip blank lines
    linenos = (lineno for lineno, line in enumerate(_lines(raw_ratings), start=1) if line.strip())
    lineno = next(itertools.islice(linenos, first, None))
    ids = sorted(set(ratings["movieId"].to_numpy()[unknown].tolist()))  # Python ints: printed as 99999
    shown = ", ".join(map(str, ids[:5])) + (", ..." if len(ids) > 5 else "")
    raise MovieLensFormatError(
        f"{source} line {lineno} rates movie {int(ratings['movieId'].iat[first])}, which {movies_source} does not "
        f"list ({int(unknown.sum())} rating(s) of {len(ids)} such movie(s) in all: {shown}). The archive's files "
        f"do not belong together: re-download the archive, or add the movie to {movies_source}."
    )
