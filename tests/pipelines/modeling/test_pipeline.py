"""modeling as a whole, with SequentialRunner on an in-memory catalog."""

import pytest
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from movie_recommender.pipelines.data_processing.nodes import convert
from movie_recommender.pipelines.modeling import create_pipeline


def modeling_catalog(members, user_id=1) -> DataCatalog:
    ratings, movies = convert(members)
    catalog = DataCatalog()
    catalog["ratings_clean"] = ratings
    catalog["movies"] = movies
    catalog["params:model"] = "user_knn"
    catalog["params:models"] = {"user_knn": {"neighbours": 10, "similarity": "cosine"}}
    catalog["params:explain_neighbours"] = None
    catalog["params:user_id"] = user_id
    catalog["params:top_n"] = 4
    return catalog


def test_modeling_pipeline(members):
    outputs = SequentialRunner().run(create_pipeline(), modeling_catalog(members, user_id=5))
    recommendations = outputs["recommendations"].load()
    everyone = outputs["all_recommendations_table"].load()  # = all_recommendations, published
    assert list(recommendations["rank"]) == [1, 2, 3, 4]
    assert everyone.userId.nunique() == 30
    assert everyone.groupby("userId").size().max() == 4
    top_of_5 = everyone[everyone.userId == 5].movieId.tolist()
    assert recommendations.movieId.tolist() == top_of_5


def test_modeling_pipeline_unknown_user(members):
    with pytest.raises(ValueError, match="user_id 4242 has no ratings in the training data"):
        SequentialRunner().run(create_pipeline(), modeling_catalog(members, user_id=4242))
