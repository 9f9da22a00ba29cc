"""Every release's layout read into the ratings.csv / movies.csv contract, and every check naming file and line.

The archives are written here in each release's exact layout (folder inside the zip, file names,
separators, encodings, headers), from small hand-made tables with the releases' quirks.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.synthetic import FOLDERS, write_archive
from movie_recommender.datasets import MovieLensArchiveDataset
from movie_recommender.pipelines.data_processing.nodes import convert
from movie_recommender.pipelines.validation import check_dataset
from movie_recommender.recsys import MovieLensFormatError
from movie_recommender.recsys.releases import RELEASES, get_release, known_datasets

CSV_RELEASES = ["ml-20m", "ml-25m", "ml-32m", "ml-latest-small", "ml-latest"]

MOVIES = pd.DataFrame(
    {
        "movieId": [1, 2, 5, 3000, 209171],  # sparse ids, as in the big releases
        "title": [
            "Toy Story (1995)",
            "American President, The (1995)",  # a comma: quoted in CSV
            "Misérables, Les (1995)",  # latin-1 in ML-1M, UTF-8 from 20M on
            '"Great Performances" Cats (1998)',  # quotes: doubled in CSV
            "Babylon 5",  # no year
        ],
        "genres": ["Adventure|Animation|Children|Comedy|Fantasy", "Comedy|Drama|Romance", "Drama|War", "Musical",
                   "(no genres listed)"],  # fmt: skip
    }
)


def ratings_table(half: bool) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    pairs = [(user, movie) for user in (1, 2, 3, 7) for movie in MOVIES.movieId if (user + movie) % 3 != 1]
    stars = np.arange(0.5, 5.01, 0.5) if half else np.arange(1.0, 5.01)
    return pd.DataFrame(
        {
            "userId": [u for u, _ in pairs],
            "movieId": [m for _, m in pairs],
            "rating": rng.choice(stars, len(pairs)).astype("float32"),
            "timestamp": rng.integers(956_703_932, 1_697_000_000, len(pairs)),
        }
    )


def load(release: str, path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return convert(MovieLensArchiveDataset(dataset=release, source=str(path)).load())


def raw_zip(path: Path, members: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


@pytest.mark.parametrize("release", ["ml-1m", "ml-10m", *CSV_RELEASES])
def test_every_release_converts_to_the_contract(release, tmp_path):
    half = release != "ml-1m"
    ratings = ratings_table(half)
    path = write_archive(release, tmp_path / f"{release}.zip", ratings, MOVIES)
    assert all(n.startswith(FOLDERS.get(release, release) + "/") for n in zipfile.ZipFile(path).namelist())

    got, movies = load(release, path)

    assert got.dtypes.astype(str).tolist() == ["int32", "int32", "float32", "int64"]
    pd.testing.assert_frame_equal(got, ratings.astype(got.dtypes.to_dict()), check_dtype=False)
    assert list(movies.columns) == ["movieId", "title", "year", "genres"] and str(movies.movieId.dtype) == "int32"
    by_id = movies.set_index("movieId")
    assert by_id.loc[2, "title"] == "American President, The" and by_id.loc[2, "year"] == 1995
    assert by_id.loc[5, "title"] == "Misérables, Les"  # latin-1 (1M) or UTF-8 decoded right
    assert by_id.loc[3000, "title"] == '"Great Performances" Cats'
    assert by_id.loc[209171, "title"] == "Babylon 5" and pd.isna(by_id.loc[209171, "year"])
    assert by_id.loc[209171, "genres"] == "(no genres listed)"
    if half:
        assert (got.rating % 1 == 0.5).any()  # half stars survive


def test_loading_a_large_release_reads_only_the_first_line_of_its_files(tmp_path, monkeypatch):
    """A member is streamed by convert; loading (and asking whether a file is there) never reads it whole."""
    from movie_recommender.datasets.movielens import MovieLensFiles

    path = write_archive("ml-25m", tmp_path / "ml-25m.zip", ratings_table(True), MOVIES)
    opened = []
    real_open = MovieLensFiles.open
    monkeypatch.setattr(MovieLensFiles, "open", lambda self, name: opened.append(name) or real_open(self, name))
    files = MovieLensArchiveDataset(dataset="ml-25m", source=str(path)).load()
    assert sorted(opened) == ["movies.csv", "ratings.csv"]  # once each, for the first line (the layout check)
    assert "ratings.csv" in files and "u.data" not in files
    assert sorted(opened) == ["movies.csv", "ratings.csv"]


def test_1m_titles_are_latin1_on_disk(tmp_path):
    path = write_archive("ml-1m", tmp_path / "ml-1m.zip", ratings_table(False), MOVIES)
    assert "Misérables".encode("latin-1") in zipfile.ZipFile(path).read("ml-1m/movies.dat")
    assert b"1::1::" in zipfile.ZipFile(path).read("ml-1m/ratings.dat")


def dat_members(ratings: str, movies: str = "1::Toy Story (1995)::Comedy\n2::Heat (1995)::Action\n") -> dict:
    return {"ml-1m/ratings.dat": ratings, "ml-1m/movies.dat": movies}


def csv_members(ratings: str, movies: str | bytes = "movieId,title,genres\n1,Toy Story (1995),Comedy\n2,Heat,Action\n"):
    return {"ml-25m/ratings.csv": "userId,movieId,rating,timestamp\n" + ratings, "ml-25m/movies.csv": movies}


@pytest.mark.parametrize(
    ("release", "members", "message"),
    [
        pytest.param(
            "ml-1m",
            dat_members("1::1::5::978300760\n1::2::3:978300761\n"),
            r"ratings.dat line 2 is malformed: expected 4 fields .* found '1::2::3:978300761'",
            id="dat-malformed",
        ),
        pytest.param(
            "ml-1m",
            dat_members("1::1::5::978300760\n\n2::2::3.5::978300761\n"),
            r"ratings.dat line 3: rating 3.5 is not on this release's scale, from 1 to 5 in steps of 1",
            id="1m-half-star",
        ),
        pytest.param(
            "ml-1m",
            dat_members("1::1::5::978300760\n2::2::4::978300761\n1::1::3::978300762\n"),
            r"ratings.dat lines 1, 3 all rate movie 1 by user 1; each \(user, movie\) pair may appear once",
            id="dat-duplicate",
        ),
        pytest.param(
            "ml-1m",
            dat_members("1::1::5::978300760\n1::9::4::978300761\n"),
            r"ratings.dat line 2 rates movie 9, which movies.dat does not list",
            id="dat-missing-movie",
        ),
        pytest.param(
            "ml-1m",
            dat_members("1::1::5::978300760\n", "1::Toy Story (1995)::Comedy\n2::Heat\n"),
            r"movies.dat line 2 is malformed: expected 3 '::'-separated fields",
            id="dat-movies-malformed",
        ),
        pytest.param(
            "ml-25m",
            csv_members("1,1,4.0,1147880044\n1,2,five,1147880045\n"),
            r"ratings.csv line 3 is malformed: expected 4 fields \(userId, movieId, rating, timestamp\)",
            id="csv-not-a-number",
        ),
        pytest.param(
            "ml-25m",
            csv_members("1,1,4.0,1147880044\n1,2,4.0\n"),
            r"ratings.csv line 3 is malformed",
            id="csv-short-line",
        ),
        pytest.param(
            "ml-25m",
            csv_members("1,1,4.0,1147880044\n1,2,5.5,1147880045\n"),
            r"ratings.csv line 3: rating 5.5 is not on this release's scale, from 0.5 to 5 in steps of 0.5",
            id="csv-off-scale",
        ),
        pytest.param(
            "ml-25m",
            csv_members("1,1,4.0,1147880044\n1,2,4.25,1147880045\n"),
            r"ratings.csv line 3: rating 4.25 is not on this release's scale",
            id="csv-off-step",
        ),
        pytest.param(
            "ml-25m",
            csv_members("2,1,4.0,1147880044\n1,2,4.0,1147880045\n2,1,3.0,1147880046\n"),
            r"ratings.csv lines 2, 4 all rate movie 1 by user 2",
            id="csv-duplicate-unsorted",
        ),
        pytest.param(
            "ml-25m",
            csv_members("1,1,4.0,1147880044\n1,0,4.0,1147880045\n"),
            r"ratings.csv line 3: user and movie ids must be positive",
            id="csv-zero-id",
        ),
        pytest.param(
            "ml-25m",
            csv_members("1,1,4.0,1147880044\n1,3,4.0,1147880045\n"),
            r"ratings.csv line 3 rates movie 3, which movies.csv does not list \(1 rating\(s\) of 1 such movie",
            id="csv-missing-movie",
        ),
        pytest.param(
            "ml-25m",
            csv_members("1,1,4.0,1147880044\n", "movieId,title,genres\n1,Toy Story,Comedy\n2,Mis\xe9rables,Drama\n".encode("latin-1")),
            r"movies.csv line 3 is not valid UTF-8 \(byte b'\\xe9'\)",
            id="csv-wrong-encoding",
        ),
        pytest.param(
            "ml-25m",
            csv_members("1,1,4.0,1147880044\n", "movieId,title,genres\n1,Toy Story,Comedy\n1,Heat,Action\n"),
            r"movies.csv lines 2 and 3 both describe movie id 1",
            id="csv-movie-twice",
        ),
    ],
)
def test_bad_input_is_reported_with_file_and_line(release, members, message, tmp_path):
    path = raw_zip(tmp_path / f"{release}.zip", members)
    with pytest.raises(MovieLensFormatError, match=message):
        load(release, path)


def test_a_wrong_header_is_found_when_the_archive_is_loaded(tmp_path):
    from kedro.io import DatasetError

    path = raw_zip(tmp_path / "ml-25m.zip", {"ml-25m/ratings.csv": "user,item,stars\n1,1,4\n", "ml-25m/movies.csv": ""})
    with pytest.raises(DatasetError, match=r"not a valid MovieLens 25M copy: ratings.csv line 1: the header"):
        MovieLensArchiveDataset(dataset="ml-25m", source=str(path)).load()


def test_dataset_names_are_checked_with_one_message():
    assert known_datasets()[:2] == ["ml-100k", "ml-1m"] and "ml-32m" in known_datasets()
    with pytest.raises(ValueError, match=r"Parameter dataset must be one of ml-100k, ml-1m, ml-10m, .* got 'ml-2m'"):
        check_dataset("ml-2m")
    assert check_dataset("mine", {"mine": {"rating_scale": [1, 10]}}).scale == (1.0, 10.0, None)
    with pytest.raises(ValueError, match=r"rating_scale must be \[lowest, highest\]"):
        check_dataset("mine", {"mine": {"rating_scale": [5, 1]}})
    with pytest.raises(ValueError, match=r"takes the name of a MovieLens release"):
        check_dataset("ml-1m", {"ml-1m": {}})


def test_release_facts():
    assert RELEASES["ml-10m"].folder == "ml-10M100K" and RELEASES["ml-10m"].scale == (0.5, 5.0, 0.5)
    assert RELEASES["ml-1m"].md5 == "c4d9eecfca2ab87c1945afe126590906"
    assert RELEASES["ml-32m"].md5 is None  # verified against ml-32m.zip.md5 on download
    assert get_release("ml-latest-small").url == "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip"
    assert [RELEASES[n].source_env for n in ("ml-100k", "ml-1m", "ml-latest-small")] == [
        "MOVIELENS_100K",
        "MOVIELENS_1M",
        "MOVIELENS_LATEST_SMALL",
    ]
