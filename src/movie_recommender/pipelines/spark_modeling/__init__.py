"""The spark pipeline's modeling part alone (kedro run --env spark --pipelines spark_modeling)."""

from movie_recommender.pipelines.spark.pipeline import create_modeling as create_pipeline

__all__ = ["create_pipeline"]
