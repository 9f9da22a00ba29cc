"""Data processing: MovieLens archive -> clean ratings."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
