"""Clean ratings -> the chosen model (user-user collaborative filtering by default) -> top-N recommendations."""

from kedro.pipeline import Node, Pipeline

from .nodes import recommend, recommend_all, train_model
from .publish import publish_recommendations


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                train_model,
                ["ratings_clean", "movies", "params:model", "params:models", "params:explain_neighbours"],
                "recommender",
                name="train",
            ),
            Node(
                recommend,
                ["recommender", "movies", "params:user_id", "params:top_n"],
                "recommendations",
                name="recommend",
            ),
            Node(recommend_all, ["recommender", "params:top_n"], "all_recommendations", name="recommend_all"),
            Node(
                publish_recommendations,
                "all_recommendations",
                "all_recommendations_table",
                name="publish_recommendations",
            ),
        ]
    )
