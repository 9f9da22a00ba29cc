"""Modeling: clean ratings -> user-user model -> top-N recommendations."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
