"""Nodes of data_processing, one at a time."""

from __future__ import annotations

import pandas as pd
import pytest

from movie_recommender.pipelines.data_processing.nodes import convert, transform
from movie_recommender.recsys import MovieLensFormatError


def test_convert(members):
    ratings, movies = convert(members)
    assert list(ratings.columns) == ["userId", "movieId", "rating", "timestamp"]
    assert list(movies.columns) == ["movieId", "title", "year", "genres"]
    assert len(ratings) == members["u.data"].count(b"\n")
    assert ratings.rating.between(1, 5).all()
    by_id = movies.set_index("movieId")
    assert by_id.loc[2, "title"] == "Misérables, Les"  # decoded from latin-1
    assert by_id.loc[3, "title"] == "unknown" and pd.isna(by_id.loc[3, "year"])


def test_convert_reports_the_bad_line(members):
    members["u.data"] += b"7\t8\tnine\t10\n"
    line = members["u.data"].count(b"\n")
    with pytest.raises(MovieLensFormatError, match=f"u.data line {line} is malformed"):
        convert(members)


def test_convert_rejects_a_rating_of_a_movie_missing_from_u_item(members):
    """Found at conversion, naming the member and line, ids printed plainly (not np.int64(99999))."""
    members["u.data"] = members["u.data"].replace(b"\n", b"\n\n", 1)  # a blank line: line numbers still right
    members["u.data"] += b"7\t99999\t4\t881250949\n8\t99998\t3\t881250950\n8\t99999\t2\t881250951\n"
    line = members["u.data"].count(b"\n") - 2
    with pytest.raises(MovieLensFormatError) as raised:
        convert(members)
    message = str(raised.value)
    assert message.startswith(f"u.data line {line} rates movie 99999, which u.item does not list")
    assert "(3 rating(s) of 2 such movie(s) in all: 99998, 99999)" in message
    assert "np.int64" not in message


def test_convert_writes_nothing_for_a_rating_of_an_unknown_movie(members, tmp_path):
    from kedro.io import DataCatalog
    from kedro.runner import SequentialRunner
    from kedro_datasets.pandas import CSVDataset

    from movie_recommender.pipelines.data_processing import create_pipeline

    members["u.data"] += b"7\t99999\t4\t881250949\n"
    catalog = DataCatalog({name: CSVDataset(filepath=str(tmp_path / f"{name}.csv")) for name in ("ratings", "movies")})
    catalog["movielens_archive"] = members
    catalog["params:min_user_ratings"] = 1
    catalog["params:min_movie_ratings"] = 1
    with pytest.raises(MovieLensFormatError, match="rates movie 99999"):
        SequentialRunner().run(create_pipeline(), catalog)
    assert list(tmp_path.iterdir()) == []


def test_convert_types_the_columns(members):
    ratings, movies = convert(members)
    assert ratings.dtypes.astype(str).tolist() == ["int32", "int32", "float32", "int64"]
    assert str(movies.movieId.dtype) == "int32"


def test_transform_filters_and_summarises(members):
    merged, _ = convert(members)
    clean, summary = transform(merged, min_user_ratings=10, min_movie_ratings=5)
    assert clean.groupby("userId").size().min() >= 10
    assert clean.groupby("movieId").size().min() >= 5
    assert summary["input"]["ratings"] == len(merged)
    assert summary["output"] == {
        "ratings": len(clean),
        "users": clean.userId.nunique(),
        "movies": clean.movieId.nunique(),
    }
    assert summary["removed"]["ratings"] == len(merged) - len(clean) > 0
    assert sum(p["ratings_removed"] for p in summary["passes"]) == summary["removed"]["ratings"]
    assert list(clean.columns) == list(merged.columns)


@pytest.mark.parametrize(
    ("min_user", "min_movie", "message"),
    [
        (10_000, 1, r"min_user_ratings=10000 and min_movie_ratings=1 removes every one of the"),
        (0, 5, r"Parameter min_user_ratings must be a whole number >= 1, got 0"),
        (5, "20", r"Parameter min_movie_ratings must be a whole number >= 1, got '20'"),
        (5.5, 20, r"Parameter min_user_ratings must be a whole number"),
    ],
)
def test_transform_bad_thresholds(members, min_user, min_movie, message):
    with pytest.raises(ValueError, match=message):
        transform(convert(members)[0], min_user, min_movie)
