"""The spark pipelines: the pandas flow's steps on Spark, wired to the spark environment's catalog.

The release's archive is converted by the pandas path's own ``convert`` (every format family, checked line
by line); from its CSVs on, everything runs on Spark.

``ratings`` and ``movies`` are transcoded: the pandas converter writes ``ratings@pandas`` and Spark reads
the same CSV as ``ratings@spark`` (conf/spark/catalog.yml).
"""

from kedro.pipeline import Node, Pipeline

from movie_recommender.pipelines.data_processing.nodes import convert
from movie_recommender.pipelines.evaluation.nodes import plot_metrics, report_metrics

from .nodes import (
    spark_evaluate,
    spark_publish_recommendations,
    spark_recommend_all,
    spark_split,
    spark_train,
    spark_transform,
)


def create_data_processing() -> Pipeline:
    return Pipeline(
        [
            Node(convert, "movielens_archive", ["ratings@pandas", "movies@pandas"], name="convert"),
            Node(
                spark_transform,
                ["ratings@spark", "params:min_user_ratings", "params:min_movie_ratings"],
                ["spark_ratings_clean", "spark_data_processing_summary"],
                name="spark_transform",
            ),
        ]
    )


def create_modeling() -> Pipeline:
    return Pipeline(
        [
            Node(spark_train, ["spark_ratings_clean", "params:spark_model", "params:spark_models"], "spark_model",
                 name="spark_train"),
            Node(
                spark_recommend_all,
                ["spark_model", "spark_ratings_clean", "params:top_n", "params:spark_recommend"],
                "spark_all_recommendations",
                name="spark_recommend_all",
            ),
            Node(spark_publish_recommendations, "spark_all_recommendations", "all_recommendations_table",
                 name="spark_publish_recommendations"),
        ]
    )


def create_evaluation() -> Pipeline:
    return Pipeline(
        [
            Node(
                spark_split,
                ["spark_ratings_clean", "movielens_archive", "params:evaluation", "params:dataset",
                 "params:custom_datasets"],
                ["spark_evaluation_train", "spark_evaluation_test"],
                name="spark_split",
            ),
            Node(
                spark_evaluate,
                ["spark_evaluation_train", "spark_evaluation_test", "movies@spark", "params:evaluation",
                 "params:spark_evaluation", "params:spark_models"],
                "spark_metrics_table",
                name="spark_evaluate",
            ),
            Node(report_metrics, ["spark_metrics_table", "params:evaluation"], "spark_metrics",
                 name="spark_report_metrics"),
            Node(plot_metrics, ["spark_metrics_table", "params:evaluation"], "spark_metrics_plot",
                 name="spark_plot_metrics"),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    return create_data_processing() + create_modeling() + create_evaluation()
