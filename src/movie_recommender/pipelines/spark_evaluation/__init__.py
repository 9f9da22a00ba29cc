"""The spark pipeline's evaluation part alone (kedro run --env spark --pipelines spark_evaluation)."""

from movie_recommender.pipelines.spark.pipeline import create_evaluation as create_pipeline

__all__ = ["create_pipeline"]
