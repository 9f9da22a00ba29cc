"""ValidateParameters: every parameter a pipeline uses is checked before any node runs."""

import pytest
from kedro.io import DataCatalog
from kedro.pipeline import Node, Pipeline

from movie_recommender.hooks import ValidateParameters


def identity(*values):
    return values[0]


def run_hook(params: dict, inputs: list[str]) -> None:
    catalog = DataCatalog()
    for name, value in params.items():
        catalog[f"params:{name}"] = value
    pipeline = Pipeline([Node(identity, inputs, "out")])
    ValidateParameters().before_pipeline_run(run_params={}, pipeline=pipeline, catalog=catalog)


def test_valid_parameters_pass():
    run_hook(
        {
            "top_n": 10,
            "user_id": 1,
            "min_user_ratings": 5,
            "model": "user_knn",
            "models": {"user_knn": {"neighbours": 4}},
        },
        ["params:top_n", "params:user_id", "params:min_user_ratings", "params:model", "params:models"],
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"top_n": 0}, r"Parameter top_n must be a whole number >= 1, got 0"),
        ({"user_id": "abc"}, r"Parameter user_id must be a whole number >= 1, got 'abc'"),
        ({"min_movie_ratings": -1}, r"Parameter min_movie_ratings must be a whole number >= 1, got -1"),
        (
            {"models": {"user_knn": {"neighbours": 0}}},
            r"Parameter models.user_knn.neighbours must be a whole number >= 1, got 0",
        ),
        ({"models": {"user_knn": {"k": 3}}}, r"Unknown models.user_knn parameter\(s\) \['k'\]"),
        ({"models": {"knn": {}}}, r"Parameter models.knn is not a model's name: add `model: <one of \["),
        ({"model": "svd++"}, r"Parameter model must be one of"),
        ({"models": 5}, r"Parameter models must map model names to their settings, got 5"),
        ({"model": "knn", "models": {"knn": {"model": "kNN"}}}, r"Parameter models.knn.model must be one of"),
        ({"evaluation": {"models": ["knn"]}, "models": {}}, r"evaluation.models must be .* \(unknown: \['knn'\]\)"),
    ],
)
def test_bad_parameter_stops_the_run(params, message):
    with pytest.raises(ValueError, match=message):
        run_hook(params, [f"params:{name}" for name in params])


def test_parameters_the_pipeline_does_not_use_are_not_checked():
    run_hook({"top_n": 0, "user_id": 1}, ["params:user_id"])


def test_unknown_user_stops_the_run_before_training_or_evaluation(tmp_path):
    """user_id is checked against the training ratings before the first node that reads them: the model,
    metrics and recommendations of the previous run stay as they were."""
    import pandas as pd
    from kedro.framework.hooks.manager import _create_hook_manager
    from kedro.runner import SequentialRunner

    from movie_recommender.errors import UserError

    ran = []

    def node(name, inputs, output):
        def function(*values):
            ran.append(name)
            return values[0]

        return Node(function, inputs, output, name=name)

    pipeline = Pipeline(
        [
            node("transform", "ratings", "ratings_clean"),
            node("train", "ratings_clean", "recommender"),
            node("split", "ratings_clean", "evaluation_train"),
            node("recommend", ["recommender", "params:user_id"], "recommendations"),
        ]
    )
    catalog = DataCatalog()
    catalog["ratings"] = pd.DataFrame({"userId": [1, 2, 5], "movieId": [1, 1, 2], "rating": [4, 3, 5]})
    catalog["params:user_id"] = 999999
    hook = ValidateParameters()
    hooks = _create_hook_manager()
    hooks.register(hook)
    hook.before_pipeline_run(run_params={}, pipeline=pipeline, catalog=catalog)
    with pytest.raises(UserError, match=r"user_id 999999 has no ratings in the training data \(3 users with ids 1-5"):
        SequentialRunner().run(pipeline, catalog, hooks)
    assert ran == ["transform"]  # neither train nor split ran

    catalog["params:user_id"] = 5
    ran.clear()
    hook.before_pipeline_run(run_params={}, pipeline=pipeline, catalog=catalog)
    SequentialRunner().run(pipeline, catalog, hooks)
    assert sorted(ran) == ["recommend", "split", "train", "transform"]


def test_user_is_not_checked_when_the_run_does_not_recommend():
    """A later run in the same process (kedro jupyter, tests) without recommend does not check the earlier user_id."""
    import pandas as pd

    hook = ValidateParameters()
    catalog = DataCatalog()
    catalog["params:user_id"] = 999
    catalog["params:min_user_ratings"] = 5
    ratings = {"ratings_clean": pd.DataFrame({"userId": [1, 2]})}
    hook.before_pipeline_run(run_params={}, pipeline=Pipeline([Node(identity, "params:user_id", "x")]), catalog=catalog)
    with pytest.raises(ValueError, match="user_id 999 has no ratings"):
        hook.before_node_run(node=None, inputs=ratings)
    pipeline = Pipeline([Node(identity, "params:min_user_ratings", "x")])
    hook.before_pipeline_run(run_params={}, pipeline=pipeline, catalog=catalog)
    hook.before_node_run(node=None, inputs=ratings)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MOVIE_RECOMMENDER_TIME_LIMIT_MINUTES", "soon", r"TIME_LIMIT_MINUTES must be a number of minutes"),
        ("MOVIE_RECOMMENDER_MEMORY_LIMIT_GB", "8GB", r"MEMORY_LIMIT_GB must be a number of gigabytes"),
        ("MOVIE_RECOMMENDER_MEMORY_LIMIT_GB", "-1", r"MOVIE_RECOMMENDER_MEMORY_LIMIT_GB .* got '-1'"),
    ],
)
def test_a_bad_limit_stops_a_run_that_fits_models_before_any_node(monkeypatch, variable, value, message):
    """Not at the first fit, after data processing has rewritten its outputs."""
    from movie_recommender.errors import UserError

    monkeypatch.setenv(variable, value)
    with pytest.raises(UserError, match=message):
        run_hook({"model": "user_knn", "models": {}}, ["params:model", "params:models"])
    run_hook({"top_n": 10}, ["params:top_n"])  # a run that fits nothing does not read them
    monkeypatch.setenv(variable, "off" if "TIME" in variable else "12.5")
    run_hook({"model": "user_knn", "models": {}}, ["params:model", "params:models"])
