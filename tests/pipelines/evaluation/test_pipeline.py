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
    assert set(outputs) == {"evaluation_train", "evaluation_test", "metrics_table", "metrics", "metrics_plot"}
    table = outputs["metrics_table"].load()
    assert table.model.tolist() == ["popularity", "user_knn"]
    assert set(outputs["metrics"].load()["models"]) == {"popularity", "user_knn"}
