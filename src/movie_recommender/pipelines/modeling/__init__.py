"""Modeling: clean ratings -> the chosen model -> top-N recommendations."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
