"""Raw MovieLens archive (any release) -> ratings and movies tables -> filtered ratings."""

from kedro.pipeline import Node, Pipeline

from .nodes import convert, count_movie_ratings, transform


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(convert, "movielens_archive", ["ratings", "movies"], name="convert"),
            Node(count_movie_ratings, "ratings", "movie_rating_counts", name="count_movie_ratings"),
            Node(
                transform,
                ["ratings", "params:min_user_ratings", "params:min_movie_ratings"],
                ["ratings_clean", "data_processing_summary"],
                name="transform",
            ),
        ]
    )
