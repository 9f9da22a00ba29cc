"""Raw MovieLens 100k archive -> ratings and movies tables -> merged -> filtered."""

from kedro.pipeline import Node, Pipeline

from .nodes import convert_ml100k, count_movie_ratings, ingest, transform


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(convert_ml100k, "ml100k_archive", ["ratings", "movies"], name="convert_ml100k"),
            Node(ingest, ["ratings", "movies"], "ratings_with_movies", name="ingest"),
            Node(count_movie_ratings, "ratings", "movie_rating_counts", name="count_movie_ratings"),
            Node(
                transform,
                ["ratings_with_movies", "params:min_user_ratings", "params:min_movie_ratings"],
                ["ratings_clean", "data_processing_summary"],
                name="transform",
            ),
        ]
    )
