"""Evaluation: split the ratings -> fit every listed model on the training part -> metrics report."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
