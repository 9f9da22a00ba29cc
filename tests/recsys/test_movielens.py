"""Readers of the MovieLens 100k formats: real quirks and one clear message per bad input."""

from __future__ import annotations

import pandas as pd
import pytest

from movie_recommender.recsys import MovieLensFormatError, parse_genres, parse_movies, parse_ratings
from tests.conftest import GENRES

GENRE_BYTES = "".join(f"{name}|{i}\n" for i, name in enumerate(GENRES)).encode() + b"\n"
FLAGS = "|0|0|0|0|0|1|1|0"  # Comedy, Drama


def item_line(movie_id: int, title: str, date: str = "01-Jan-1995", flags: str = FLAGS) -> str:
    return f"{movie_id}|{title}|{date}||http://us.imdb.com/x{flags}"


def test_parse_ratings():
    ratings = parse_ratings(b"196\t242\t3\t881250949\n186\t302\t3\t891717742\n\n")
    assert list(ratings.columns) == ["userId", "movieId", "rating", "timestamp"]
    assert ratings.values.tolist() == [[196, 242, 3, 881250949], [186, 302, 3, 891717742]]
    assert all(dtype == "int64" for dtype in ratings.dtypes)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"1\t2\t3\t4\n1\t3\t4\n", r"u\.data line 2 is malformed: expected 4 tab-separated whole numbers"),
        (b"1\t2\t3\t4\n\n1\t3\tfive\t4\n", r"u\.data line 3 is malformed"),
        (b"1\t2\t3.5\t4\n", r"u\.data line 1 is malformed"),
        (b"1\t2\t3\t4\n1\t3\t7\t4\n1\t4\t0\t4\n", r"u\.data line 2: rating 7 is outside 1-5 \(2 such line"),
        (b"1\t2\t3\t4\n1\t3\t4\t5\n1\t2\t5\t6\n", r"u\.data lines 1, 3 all rate movie 2 by user 1"),
        (b"0\t2\t3\t4\n", r"u\.data line 1: user and movie ids must be positive"),
        (b"\n", r"u\.data has no ratings"),
    ],
)
def test_parse_ratings_errors(content, message):
    with pytest.raises(MovieLensFormatError, match=message):
        parse_ratings(content)


def test_parse_genres_orders_by_index():
    assert parse_genres(b"Action|1\nunknown|0\nChildren's|2\n\n") == ["unknown", "Action", "Children's"]
    with pytest.raises(MovieLensFormatError, match="u.genre line 1 is malformed"):
        parse_genres(b"Action\n")
    with pytest.raises(MovieLensFormatError, match="without gaps"):
        parse_genres(b"unknown|0\nAction|2\n")


def test_parse_movies_real_quirks():
    lines = [
        item_line(1, "Toy Story (1995)"),
        item_line(543, "Misérables, Les (1995)"),
        "267|unknown||||1" + "|0" * (len(GENRES) - 1),
        item_line(1412, "Land Before Time III: The Time of the Great Giving (1995) (V)"),
        item_line(9, "No Year In Title", date="22-Jan-1996", flags="|0" * len(GENRES)),
        item_line(10, "Toy Story (1995)"),  # duplicate title under another id: kept
    ]
    movies = parse_movies(("\n".join(lines) + "\n").encode("latin-1"), GENRES)
    assert list(movies.columns) == ["movieId", "title", "year", "genres"]
    rows = movies.set_index("movieId")
    assert rows.loc[1].tolist() == ["Toy Story", 1995, "Comedy|Drama"]
    assert rows.loc[543, "title"] == "Misérables, Les"
    assert rows.loc[267, "title"] == "unknown" and pd.isna(rows.loc[267, "year"])
    assert rows.loc[267, "genres"] == "unknown"
    assert rows.loc[1412, "title"] == "Land Before Time III: The Time of the Great Giving (V)"
    assert rows.loc[1412, "year"] == 1995
    assert rows.loc[9].tolist() == ["No Year In Title", 1996, ""]
    assert len(movies) == 6
    assert str(movies.year.dtype) == "Int64"


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["1|Too few|fields"], r"u\.item line 1 is malformed: expected 13 '\|'-separated fields"),
        ([item_line(1, "A (1990)", flags="|2" * len(GENRES))], r"u\.item line 1 is malformed"),
        ([item_line(1, "A (1990)"), item_line(1, "B (1991)")], r"u\.item lines 1 and 2 both describe movie id 1"),
    ],
)
def test_parse_movies_errors(lines, message):
    with pytest.raises(MovieLensFormatError, match=message):
        parse_movies(("\n".join(lines) + "\n").encode(), GENRES)
