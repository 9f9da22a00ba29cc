"""Project hooks."""

from __future__ import annotations

from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline

from movie_recommender.pipelines.validation import check_parameters


class ValidateParameters:
    """Check every parameter the pipeline uses before any node runs, so a bad value writes nothing."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict, pipeline: Pipeline, catalog: DataCatalog) -> None:
        names = sorted(name for name in pipeline.inputs() if name.startswith("params:"))
        check_parameters({name.removeprefix("params:"): catalog.load(name) for name in names})
