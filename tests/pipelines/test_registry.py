"""The pipeline registry exposes both pipelines and runs them all by default."""

from kedro.framework.project import configure_project

from movie_recommender.pipeline_registry import register_pipelines


def test_registry():
    configure_project("movie_recommender")
    pipelines = register_pipelines()
    assert {"data_processing", "modeling", "__default__"} <= set(pipelines)
    default_nodes = {node.name for node in pipelines["__default__"].nodes}
    assert default_nodes == {
        "convert_ml100k",
        "ingest",
        "transform",
        "train",
        "recommend",
        "recommend_all",
        "publish_recommendations",
    }
    assert pipelines["modeling"].inputs() == {
        "ratings_clean",
        "movies",
        "params:user_knn",
        "params:user_id",
        "params:top_n",
    }
