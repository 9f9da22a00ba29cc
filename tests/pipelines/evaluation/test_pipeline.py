"""evaluation as a whole, with SequentialRunner on an in-memory catalog."""

from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from movie_recommender.pipelines.data_processing.nodes import convert
from movie_recommender.pipelines.evaluation import create_pipeline


def test_evaluation_pipeline(members):
    ratings, movies = convert(members)
    catalog = DataCatalog()
    catalog["ratings_clean"] = ratings
    catalog["movies"] = movies
    catalog["movielens_archive"] = members
    catalog["params:dataset"] = "ml-100k"
    catalog["params:custom_datasets"] = {}
    catalog["params:evaluation"] = {"split": "random", "k": 5, "models": ["popularity", "user_knn"]}
    catalog["params:models"] = {"user_knn": {"neighbours": 10}}
    outputs = SequentialRunner().run(create_pipeline(), catalog)
    assert set(outputs) == {"metrics", "metrics_plot"}  # the runner returns the outputs no node consumes
    report = outputs["metrics"].load()
    assert list(report["models"]) == ["popularity", "user_knn"]
    assert report["models"]["user_knn"]["n_test"] == report["models"]["popularity"]["n_test"] > 0
    assert report["settings"]["split"] == "random"
