"""Custom Kedro datasets: the project's I/O with side effects lives here, never in nodes."""

from .atomic import (
    AtomicCSVDataset,
    AtomicJSONDataset,
    AtomicMatplotlibDataset,
    AtomicPickleDataset,
    AtomicSQLTableDataset,
)
from .movielens import MovieLensArchiveDataset
from .versions import ModelVersions

__all__ = [
    "AtomicCSVDataset",
    "AtomicJSONDataset",
    "AtomicMatplotlibDataset",
    "AtomicPickleDataset",
    "AtomicSQLTableDataset",
    "ModelVersions",
    "MovieLensArchiveDataset",
]
