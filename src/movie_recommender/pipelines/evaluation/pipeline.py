"""Split the ratings -> fit and score every listed model -> metrics.json, metrics.csv and a plot."""

from kedro.pipeline import Node, Pipeline

from .nodes import evaluate_models, plot_metrics, report_metrics, split_ratings


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                split_ratings,
                ["ratings_clean", "movielens_archive", "params:evaluation", "params:dataset", "params:custom_datasets"],
                ["evaluation_train", "evaluation_test"],
                name="split",
            ),
            Node(
                evaluate_models,
                ["evaluation_train", "evaluation_test", "movies", "params:evaluation", "params:models"],
                "metrics_table",
                name="evaluate",
            ),
            Node(report_metrics, ["metrics_table", "params:evaluation"], "metrics", name="report_metrics"),
            Node(plot_metrics, ["metrics_table", "params:evaluation"], "metrics_plot", name="plot_metrics"),
        ]
    )
