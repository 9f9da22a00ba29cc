"""The spark pipeline's data processing part alone (kedro run --env spark --pipelines spark_data_processing)."""

from movie_recommender.pipelines.spark.pipeline import create_data_processing as create_pipeline

__all__ = ["create_pipeline"]
