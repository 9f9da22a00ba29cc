"""Readers for the MovieLens 100k file formats: bytes in, tidy DataFrames out.

Pure functions (no file system, no network) so that a Kedro node, a notebook or a
test can feed them the raw bytes of ``u.data``, ``u.item`` and ``u.genre``.
Every error names the file and line at fault and says what was expected.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Mapping
from typing import IO

import numpy as np
import pandas as pd

from movie_recommender.errors import UserError

from .releases import CSV_COLUMNS, MOVIE_CSV_COLUMNS

RATING_COLUMNS = ["userId", "movieId", "rating", "timestamp"]
MOVIE_COLUMNS = ["movieId", "title", "year", "genres"]
RATING_SCALE = (1, 5)

# "Toy Story (1995)", "Land Before Time III: ... (1995) (V)" -> title, year, suffix
_TITLE_YEAR = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})\)(?P<suffix>(?:\s*\([^()]*\))*)\s*$")
_ITEM_FIXED_FIELDS = 5  # id | title | release date | video release date | IMDb URL


class MovieLensFormatError(UserError):
    """A MovieLens file does not have the documented format (the user can fix or replace it)."""


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


# ---------------------------------------------------------------------------------------------------------
# Every other release: ML-1M / ML-10M (``::``-separated .dat files) and ML-20M on (CSV with a header), and
# a user's own ratings in the ml-latest layout. Files are passed as an ``opener``: a callable returning a
# fresh binary stream (a member of the zip, a file), so that a 32M-line file is parsed by pandas' C reader
# straight from the archive and never held in memory as text and as a table at once. Bytes work too.

Opener = Callable[[], IO[bytes]]
_ID_DTYPE, _RATING_DTYPE, _TIME_DTYPE = "int32", "float32", "int64"
_INT32_MAX = np.iinfo(np.int32).max


def _opener(source: bytes | Opener) -> Opener:
    return (lambda: io.BytesIO(source)) if isinstance(source, bytes | bytearray) else source


def _fix(name: str) -> str:
    return f"The file is corrupt or not in the documented format of {name}: fix that line or re-download the archive."


def _nonblank_lines(opener: Opener, encoding: str = "utf-8"):
    """(line number, text) of every non-blank line; an undecodable line raises a message naming it."""
    with opener() as stream:
        for lineno, raw in enumerate(stream, start=1):
            try:
                line = raw.decode(encoding).rstrip("\r\n")
            except UnicodeDecodeError as exc:
                raise MovieLensFormatError(
                    f"line {lineno} is not valid {encoding.upper()} (byte {raw[exc.start:exc.start + 1]!r} at "
                    f"column {exc.start + 1})"
                ) from None
            if line.strip():
                yield lineno, line


def _line_of_rows(opener: Opener, rows: np.ndarray, header: bool) -> dict[int, int]:
    """File line numbers of the given data rows (0-based, blank lines skipped as the readers skip them)."""
    wanted, found = set(int(r) for r in rows), {}
    for position, (lineno, _) in enumerate(_nonblank_lines(opener, "latin-1")):
        row = position - int(header)
        if row in wanted:
            found[row] = lineno
            if len(found) == len(wanted):
                break
    return found


def _first_bad_line(opener: Opener, name: str, split: Callable[[str], list[str]], kinds: list, header: bool) -> None:
    """Raise a message for the first line whose fields do not parse; return when every line does."""
    described = ", ".join(label for label, _ in kinds)
    expected = f"{len(kinds)} fields ({described})"
    try:
        for position, (lineno, line) in enumerate(_nonblank_lines(opener)):
            if header and position == 0:
                continue
            fields = split(line)
            if len(fields) != len(kinds):
                raise _malformed_in(name, lineno, line, expected)
            for value, (label, kind) in zip(fields, kinds):
                try:
                    number = kind(value)
                except ValueError:
                    raise _malformed_in(name, lineno, line, expected) from None
                if kind is int and abs(number) > _INT32_MAX and label != "timestamp":
                    raise MovieLensFormatError(
                        f"{name} line {lineno}: {label} {number} is too large (ids must be below {_INT32_MAX:,})."
                    )
    except MovieLensFormatError as exc:
        if str(exc).startswith("line "):
            raise MovieLensFormatError(
                f"{name} {exc}. Re-save the file as UTF-8 or re-download the archive."
            ) from None
        raise


def _malformed_in(name: str, lineno: int, line: str, expected: str) -> MovieLensFormatError:
    shown = line if len(line) <= 80 else line[:77] + "..."
    return MovieLensFormatError(f"{name} line {lineno} is malformed: expected {expected}, found {shown!r}. {_fix(name)}")


def _check_ratings(
    ratings: pd.DataFrame, name: str, scale: tuple[float, float, float | None], opener: Opener, header: bool
) -> None:
    """Ids positive, ratings on the scale, each (user, movie) once; messages name the file and line."""

    def where(rows: np.ndarray) -> list[int]:
        lines = _line_of_rows(opener, rows, header)
        return [lines.get(int(r), int(r) + 1 + int(header)) for r in rows]

    users = ratings["userId"].to_numpy()
    movies = ratings["movieId"].to_numpy()
    bad = np.flatnonzero((users <= 0) | (movies <= 0))
    if bad.size:
        raise MovieLensFormatError(
            f"{name} line {where(bad[:1])[0]}: user and movie ids must be positive whole numbers, found user "
            f"{users[bad[0]]}, movie {movies[bad[0]]} ({bad.size} such line(s) in all). {_fix(name)}"
        )
    values = ratings["rating"].to_numpy()
    low, high, step = scale
    outside = ~np.isfinite(values) | (values < low - 1e-6) | (values > high + 1e-6)
    if step is not None:
        steps = (values - low) / step
        outside |= np.abs(steps - np.round(steps)) > 1e-4
    bad = np.flatnonzero(outside)
    if bad.size:
        allowed = f"from {low:g} to {high:g}" + (f" in steps of {step:g}" if step is not None else "")
        raise MovieLensFormatError(
            f"{name} line {where(bad[:1])[0]}: rating {values[bad[0]]:g} is not on this release's scale, "
            f"{allowed} ({bad.size} such line(s) in all). {_fix(name)}"
        )
    keys = (users.astype(np.int64) << 32) | movies.astype(np.int64)
    if keys.size > 1 and not (keys[1:] > keys[:-1]).all():  # the official files are sorted: no sort needed
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        repeated = np.flatnonzero(ordered[1:] == ordered[:-1])
        if repeated.size:
            first = ordered[repeated[0]]
            rows = np.sort(order[ordered == first])
            lines = where(rows)
            raise MovieLensFormatError(
                f"{name} lines {', '.join(map(str, lines))} all rate movie {first & 0xFFFFFFFF} by user "
                f"{first >> 32}; each (user, movie) pair may appear once ({repeated.size} repeated pair(s) in "
                "all). Remove the duplicates or re-download the archive."
            )


_ROLES = ("user", "movie", "rating", "timestamp")
_DTYPES = dict(zip(RATING_COLUMNS, (_ID_DTYPE, _ID_DTYPE, _RATING_DTYPE, _TIME_DTYPE)))
_KINDS = dict(zip(RATING_COLUMNS, (int, int, float, int)))


def read_ratings(
    source: bytes | Opener,
    name: str,
    *,
    family: str,
    scale: tuple[float, float, float | None],
    columns: Mapping[str, str | None] | None = None,
    separator: str = ",",
) -> pd.DataFrame:
    """``ratings.dat`` (``family="dat"``) or ``ratings.csv`` (``"csv"``) as ``userId, movieId, rating, timestamp``.

    Typed columns: int32 ids, float32 ratings, int64 timestamps (no timestamp column when
    ``columns["timestamp"]`` is None: a custom dataset without times). ``columns`` maps the roles
    ``user, movie, rating, timestamp`` to the CSV header's names. Raises
    :class:`MovieLensFormatError` naming the file and line for a malformed line, a rating off
    ``scale`` (``(lowest, highest, step)``), a non-positive id or a (user, movie) pair rated twice.
    """
    opener = _opener(source)
    if family == "dat":
        header = False
        kinds = [(column, _KINDS[column]) for column in RATING_COLUMNS]
        with opener() as stream:  # ``::`` is two characters: pandas' fast reader wants one
            buffer = io.BytesIO(stream.read().replace(b"::", b"\t"))
        split: Callable[[str], list[str]] = lambda line: line.split("::")  # noqa: E731
        try:
            frame = pd.read_csv(buffer, sep="\t", header=None, names=RATING_COLUMNS, dtype=_DTYPES, engine="c")
        except (ValueError, OverflowError, pd.errors.ParserError) as exc:
            error: Exception | None = exc
        else:
            error = None
        del buffer
    else:
        roles = {**CSV_COLUMNS, **(columns or {})}
        renamed = {roles[role]: output for role, output in zip(_ROLES, RATING_COLUMNS) if roles.get(role)}
        header_names = _csv_header(opener, name, separator)
        missing = [column for column in renamed if column not in header_names]
        if missing:
            raise MovieLensFormatError(
                f"{name} line 1: the header {separator.join(header_names)!r} lacks the column(s) {missing}; "
                f"expected {separator.join(renamed)!r}. Name the columns in the header, or set your dataset's "
                "column names (custom_datasets in conf/local/globals.yml)."
            )
        header = True
        kinds = [(column, _KINDS[renamed[column]] if column in renamed else str) for column in header_names]
        split = _csv_splitter(separator)
        try:
            with opener() as stream:
                frame = pd.read_csv(
                    stream,
                    sep=separator,
                    header=0,
                    usecols=list(renamed),
                    dtype={column: _DTYPES[output] for column, output in renamed.items()},
                    engine="c",
                    encoding="utf-8",
                )
            frame = frame.rename(columns=renamed)[list(renamed.values())]
        except (ValueError, OverflowError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            error = exc
        else:
            error = None
    if error is not None:
        _first_bad_line(opener, name, split, kinds, header)
        raise MovieLensFormatError(f"{name} could not be read: {error}. {_fix(name)}") from None
    if frame.empty:
        raise MovieLensFormatError(f"{name} has no ratings: the file is empty.")
    _check_ratings(frame, name, scale, opener, header)
    return frame


def _csv_splitter(separator: str) -> Callable[[str], list[str]]:
    import csv

    return lambda line: next(csv.reader([line], delimiter=separator))


def _csv_header(opener: Opener, name: str, separator: str) -> list[str]:
    with opener() as stream:
        first = stream.readline()
    try:
        text = first.decode("utf-8-sig").strip()
    except UnicodeDecodeError:
        raise MovieLensFormatError(f"{name} line 1 is not valid UTF-8. Re-save the file as UTF-8.") from None
    if not text:
        raise MovieLensFormatError(f"{name} is empty or starts with a blank line: line 1 must be the header.")
    return [field.strip() for field in _csv_splitter(separator)(text)]


def _titles_and_years(titles: list[str]) -> tuple[list[str], list[int | None]]:
    split = [_split_title(title, "") for title in titles]
    return [title for title, _ in split], [year for _, year in split]


def _decode(raw: bytes, name: str, encoding: str) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        lineno = raw.count(b"\n", 0, exc.start) + 1
        raise MovieLensFormatError(
            f"{name} line {lineno} is not valid {encoding.upper()} (byte {raw[exc.start:exc.start + 1]!r}): the "
            f"file is in another encoding. Re-save it as {encoding.upper()} or re-download the archive."
        ) from None


def read_movies(
    source: bytes | Opener,
    name: str,
    *,
    family: str,
    encoding: str = "utf-8",
    columns: Mapping[str, str | None] | None = None,
    separator: str = ",",
) -> pd.DataFrame:
    """``movies.dat`` or ``movies.csv`` as ``movieId, title, year, genres`` (the 100k contract).

    The title loses its trailing ``(year)``; a title without one keeps its text and gets no year.
    Genres stay as the release writes them (``Comedy|Drama``, ``(no genres listed)``). ML-1M's
    ``movies.dat`` is latin-1; ML-10M's is read as UTF-8, else latin-1; CSV files are UTF-8 and a
    byte that is not is reported with its line.
    """
    with _opener(source)() as stream:
        raw = stream.read()
    if family == "dat":
        if encoding == "utf-8":
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
        else:
            text = _decode(raw, name, encoding)
        del raw
        ids, titles, genres, lines = [], [], [], []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            fields = line.split("::")
            if len(fields) != 3 or not fields[0].isdigit():
                raise _malformed_in(name, lineno, line, "3 '::'-separated fields (movie id, title, genres)")
            ids.append(int(fields[0]))
            titles.append(fields[1])
            genres.append(fields[2])
            lines.append(lineno)
    else:
        roles = {**MOVIE_CSV_COLUMNS, **(columns or {})}
        text = _decode(raw, name, "utf-8").lstrip("\ufeff")
        del raw
        table = pd.read_csv(io.StringIO(text), sep=separator, dtype=str, keep_default_na=False, skip_blank_lines=True)
        table.columns = [str(c).strip() for c in table.columns]
        wanted = [roles[r] for r in ("movie", "title", "genres") if roles.get(r)]
        missing = [c for c in wanted if c not in table.columns]
        if missing:
            raise MovieLensFormatError(
                f"{name} line 1: the header {separator.join(table.columns)!r} lacks the column(s) {missing}; "
                f"expected {separator.join(wanted)!r}."
            )
        line_of = _line_of_rows(_opener(text.encode("utf-8")), np.arange(len(table)), header=True)
        lines = [line_of.get(i, i + 2) for i in range(len(table))]
        raw_ids = table[roles["movie"]].str.strip()
        bad = np.flatnonzero(~raw_ids.str.fullmatch(r"\d+").to_numpy())
        if bad.size:
            shown = text.splitlines()[lines[bad[0]] - 1]
            raise _malformed_in(name, lines[bad[0]], shown, f"a whole-number {roles['movie']} first")
        ids = raw_ids.astype(np.int64).tolist()
        titles = table[roles["title"]].tolist() if roles.get("title") else [""] * len(ids)
        genres = table[roles["genres"]].tolist() if roles.get("genres") else [""] * len(ids)
        del table
    seen: dict[int, int] = {}
    for movie_id, lineno in zip(ids, lines):
        if movie_id in seen:
            raise MovieLensFormatError(
                f"{name} lines {seen[movie_id]} and {lineno} both describe movie id {movie_id}; ids must be unique."
            )
        if movie_id <= 0 or movie_id > _INT32_MAX:
            raise MovieLensFormatError(f"{name} line {lineno}: movie id {movie_id} must be a positive 32-bit number.")
        seen[movie_id] = lineno
    if not ids:
        raise MovieLensFormatError(f"{name} has no movies: the file is empty.")
    plain, years = _titles_and_years(titles)
    movies = pd.DataFrame({"movieId": np.asarray(ids, dtype=_ID_DTYPE), "title": plain, "year": years, "genres": genres})
    movies["year"] = movies["year"].astype("Int64")
    return movies


def check_rated_movies(
    ratings: pd.DataFrame,
    movies: pd.DataFrame,
    ratings_name: str = "u.data",
    movies_name: str = "u.item",
    opener: Opener | None = None,
    header: bool = False,
) -> None:
    """Every rated movie is listed in the movie file; else one message naming the first such rating's line.

    ``opener`` opens the ratings file the table was read from (its line numbers, blank lines
    skipped as the readers skip them; ``header``: it has a header line).
    """
    movie_ids = ratings["movieId"].to_numpy()
    listed = movies["movieId"].to_numpy()
    top = int(max(movie_ids.max(initial=0), listed.max(initial=0)))
    if top <= 50_000_000:  # a lookup table: O(ratings), not a sort of 32M ids
        known = np.zeros(top + 1, dtype=bool)
        known[listed] = True
        unknown = ~known[movie_ids]
    else:
        unknown = ~np.isin(movie_ids, listed)
    if not unknown.any():
        return
    first = int(np.flatnonzero(unknown)[0])
    lineno = first + 1 + int(header)
    if opener is not None:
        lineno = _line_of_rows(opener, np.array([first]), header).get(first, lineno)
    ids = np.unique(movie_ids[unknown]).tolist()  # Python ints: printed as 99999
    shown = ", ".join(map(str, ids[:5])) + (", ..." if len(ids) > 5 else "")
    raise MovieLensFormatError(
        f"{ratings_name} line {lineno} rates movie {int(movie_ids[first])}, which {movies_name} does not list "
        f"({int(unknown.sum())} rating(s) of {len(ids)} such movie(s) in all: {shown}). The archive's files "
        f"do not belong together: re-download the archive, or add the movie to {movies_name}."
    )


def _read_all(opener: Opener) -> bytes:
    with opener() as stream:
        return stream.read()


def read_release(release, open_member: Callable[[str], Opener], members: Iterable[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ratings and movies of any release as the contract's tables, every check done.

    ``release`` is a :class:`~movie_recommender.recsys.releases.Release`, ``open_member(name)``
    returns an opener of a member file and ``members`` lists the names present. Ratings:
    ``userId, movieId`` (int32), ``rating`` (float32), ``timestamp`` (int64; absent for a custom
    dataset without times). Movies: ``movieId`` (int32), ``title``, ``year`` (Int64), ``genres``;
    without a movie file (custom datasets) one row per rated movie with no title, year or genres.
    Every rated movie must be listed in the movie file.
    """
    members = set(members)
    if release.family == "ml100k":
        ratings = parse_ratings(_read_all(open_member("u.data")))
        movies = parse_movies(_read_all(open_member("u.item")), parse_genres(_read_all(open_member("u.genre"))))
        ratings_name, movies_name, header, ratings_opener = "u.data", "u.item", False, open_member("u.data")
        ratings = ratings.astype({"userId": "int32", "movieId": "int32", "rating": "float32"})
        movies = movies.astype({"movieId": "int32"})
    else:
        extension = "dat" if release.family == "dat" else "csv"
        ratings_name, movies_name = f"ratings.{extension}", f"movies.{extension}"
        ratings_opener = open_member(ratings_name)
        header = release.family == "csv"
        ratings = read_ratings(
            ratings_opener,
            ratings_name,
            family=release.family,
            scale=release.scale,
            columns=release.columns,
            separator=release.separator,
        )
        if movies_name in members:
            movies = read_movies(
                open_member(movies_name),
                movies_name,
                family=release.family,
                encoding=release.encoding,
                columns=release.movie_columns,
                separator=release.separator,
            )
        elif release.movies_optional:
            ids = np.unique(ratings["movieId"].to_numpy())
            movies = pd.DataFrame({"movieId": ids, "title": None, "year": pd.array([pd.NA] * len(ids), "Int64"),
                                   "genres": None})
        else:
            raise MovieLensFormatError(f"{release.title} has no {movies_name}.")
    check_rated_movies(ratings, movies, ratings_name, movies_name, ratings_opener, header)
    return ratings, movies
