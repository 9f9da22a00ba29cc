"""Custom Kedro datasets: the project's I/O with side effects lives here, never in nodes."""

from .atomic import AtomicPickleDataset, AtomicSQLTableDataset
from .movielens import MovieLensArchiveDataset

__all__ = ["AtomicPickleDataset", "AtomicSQLTableDataset", "MovieLensArchiveDataset"]
