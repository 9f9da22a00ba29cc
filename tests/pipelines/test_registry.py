"""The pipeline registry exposes every pipeline and runs them all by default."""

from kedro.framework.project import configure_project

from movie_recommender.pipeline_registry import register_pipelines


def test_registry():
    configure_project("movie_recommender")
    pipelines = register_pipelines()
    assert {"data_processing", "modeling", "evaluation", "__default__"} <= set(pipelines)
    default_nodes = {node.name for node in pipelines["__default__"].nodes}
    assert default_nodes == {
        "convert",
        "count_movie_ratings",
        "transform",
        "train",
        "recommend",
        "recommend_all",
        "split",
        "evaluate",
        "report_metrics",
        "plot_metrics",
        "publish_recommendations",
    }
    assert pipelines["modeling"].inputs() == {
        "ratings_clean",
        "movies",
        "params:model",
        "params:models",
        "params:explain_neighbours",
        "params:user_id",
        "params:top_n",
    }
    assert pipelines["evaluation"].inputs() == {
        "ratings_clean",
        "movielens_archive",
        "movies",
        "params:evaluation",
        "params:models",
        "params:dataset",
        "params:custom_datasets",
    }
