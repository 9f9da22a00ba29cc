"""data_processing as a whole, with SequentialRunner on an in-memory catalog."""

from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from movie_recommender.pipelines.data_processing import create_pipeline


def test_data_processing_pipeline(members):
    catalog = DataCatalog()
    catalog["movielens_archive"] = members
    catalog["params:min_user_ratings"] = 10
    catalog["params:min_movie_ratings"] = 5
    outputs = SequentialRunner().run(create_pipeline(), catalog)

    clean = outputs["ratings_clean"].load()
    summary = outputs["data_processing_summary"].load()
    assert clean.groupby("userId").size().min() >= 10
    assert clean.groupby("movieId").size().min() >= 5
    assert summary["output"]["ratings"] == len(clean)
    assert summary["input"]["ratings"] == members["u.data"].count(b"\n")
    assert list(clean.columns) == ["userId", "movieId", "rating", "timestamp"]  # movie details stay in movies

    counts = outputs["movie_rating_counts"].load()  # of every rating, not only the filtered ones
    assert counts["ratings"].sum() == summary["input"]["ratings"] > len(clean)
    assert counts["ratings"].is_monotonic_decreasing
