"""evaluation as a whole, with SequentialRunner on an in-memory catalog."""

from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from movie_recommender.pipelines.data_processing.nodes import convert_ml100k, ingest
from movie_recommender.pipelines.evaluation import create_pipeline


def test_evaluation_pipeline(members):
    ratings, movies = convert_ml100k(members)
    catalog = DataCatalog()
    catalog["ratings_clean"] = ingest(ratings, movies)
    catalog["movies"] = movies
    catalog["ml100k_archive"] = members
    catalog["params:evaluation"] = {"split": "random", "k": 5, "models": ["popularity", "user_knn"]}
    catalog["params:models"] = {"user_knn": {"neighbours": 10}}
    outputs = SequentialRunner().run(create_pipeline(), catalog)
    assert set(outputs) == {"metrics", "metrics_plot"}  # the runner returns the outputs no node consumes
    report = outputs["metrics"].load()
    assert list(report["models"]) == ["popularity", "user_knn"]
    assert report["models"]["user_knn"]["n_test"] == report["models"]["popularity"]["n_test"] > 0
    assert report["settings"]["split"] == "random"
