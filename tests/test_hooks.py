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
