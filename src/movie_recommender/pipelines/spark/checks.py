"""Checks of the spark parameters (conf/base/parameters_spark.yml): one clear message per bad value."""

from __future__ import annotations

from collections.abc import Mapping

from movie_recommender.recsys_spark.als import check_als_settings

ENGINES = ("pandas", "spark")
WHERE = "conf/base/parameters_spark.yml"


def check_engine(engine: object) -> str:
    if engine not in ENGINES:
        raise ValueError(
            f"Parameter engine must be one of {list(ENGINES)}, got {engine!r}. To run on Spark use the spark "
            "environment: kedro run --env spark."
        )
    return engine


def check_spark_models(spark_models: object) -> dict:
    if not isinstance(spark_models, Mapping) or not spark_models:
        raise ValueError(f"Parameter spark_models must map ALS variant names to their settings, got "
                         f"{spark_models!r}; see {WHERE}.")
    return {name: check_als_settings(name, settings) for name, settings in spark_models.items()}


def check_spark_model(name: object, spark_models: object) -> tuple[str, dict]:
    models = check_spark_models(spark_models)
    if name not in models:
        raise ValueError(f"Parameter spark_model must be one of {sorted(models)}, got {name!r}; set it in {WHERE} "
                         f"or e.g. kedro run --env spark --params spark_model={sorted(models)[0]}.")
    return name, models[name]


def check_spark_recommend(spark_recommend: object) -> dict:
    if not isinstance(spark_recommend, Mapping) or set(spark_recommend) - {"exclude_rated"} or not isinstance(
        spark_recommend.get("exclude_rated", True), bool
    ):
        raise ValueError(f"Parameter spark_recommend must be {{exclude_rated: true|false}}, got {spark_recommend!r}; "
                         f"see {WHERE}.")
    return {"exclude_rated": spark_recommend.get("exclude_rated", True)}


def check_spark_evaluation(spark_evaluation: object, spark_models: object = None) -> dict:
    names = spark_evaluation.get("models") if isinstance(spark_evaluation, Mapping) else None
    if isinstance(names, str):
        names = [names]
    if (not isinstance(spark_evaluation, Mapping) or set(spark_evaluation) - {"models"} or not isinstance(names, list)
            or not names or len(set(map(str, names))) != len(names)):
        raise ValueError(f"Parameter spark_evaluation must be {{models: [distinct ALS variant names]}}, got "
                         f"{spark_evaluation!r}; see {WHERE}.")
    if spark_models is not None:
        known = check_spark_models(spark_models)
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ValueError(f"Parameter spark_evaluation.models names unknown ALS variant(s) {unknown}; "
                             f"known: {sorted(known)}; see {WHERE}.")
    return {"models": list(names)}
