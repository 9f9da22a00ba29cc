"""Project hooks."""

from __future__ import annotations

from typing import Any

import pandas as pd
from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog
from kedro.pipeline import Node, Pipeline

from movie_recommender.pipelines.validation import check_parameters, require_known_user

# The ratings every model of the run is trained on: user_id must have some.
TRAINING_RATINGS = "ratings_clean"


class ValidateParameters:
    """Check every parameter the pipeline uses before any node runs, so a bad value writes nothing.

    ``user_id`` (used by ``recommend``) is also checked against the training ratings, before the
    first node that reads them (``train``, ``split``) runs: an unknown user stops the run before a
    model or metrics are rewritten, not after.
    """

    def __init__(self) -> None:
        self._user_id: int | None = None

    @hook_impl
    def before_pipeline_run(self, run_params: dict, pipeline: Pipeline, catalog: DataCatalog) -> None:
        names = sorted(name for name in pipeline.inputs() if name.startswith("params:"))
        params = {name.removeprefix("params:"): catalog.load(name) for name in names}
        check_parameters(params)
        self._user_id = params.get("user_id")

    @hook_impl
    def before_node_run(self, node: Node, inputs: dict[str, Any]) -> None:
        ratings = inputs.get(TRAINING_RATINGS)
        if self._user_id is None or not isinstance(ratings, pd.DataFrame) or "userId" not in ratings:
            return
        if pd.api.types.is_integer_dtype(ratings["userId"]):  # else the node itself says the table is bad
            require_known_user(self._user_id, ratings["userId"])

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._user_id = None

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._user_id = None
