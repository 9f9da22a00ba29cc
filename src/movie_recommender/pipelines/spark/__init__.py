"""The same flow on Apache Spark: data processing, ALS modeling and evaluation (kedro run --env spark)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
