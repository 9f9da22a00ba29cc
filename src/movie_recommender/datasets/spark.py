"""A Spark ML model saved with Spark's own persistence (``model.write().save``), swapped into place.

Spark writes a model as a directory. The new model is written to a temporary directory beside the
target, then the old directory is renamed aside, the new one renamed into place and the old one
removed: a reader finds the previous model or the new one, and a failed save leaves the previous one.
Local paths only (``file://`` or plain); on HDFS or object stores use Spark's ``overwrite`` directly.
"""

from __future__ import annotations

import importlib
import shutil
import tempfile
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError


class SparkModelDataset(AbstractDataset[Any, Any]):
    """A fitted ``pyspark.ml`` model (default ``ALSModel``) in a directory written by Spark.

    Args:
        filepath: local directory of the model.
        model_class: dotted path of the model class whose ``load`` reads it back.
    """

    def __init__(
        self,
        *,
        filepath: str,
        model_class: str = "pyspark.ml.recommendation.ALSModel",
        metadata: dict | None = None,
    ) -> None:
        self._filepath = Path(filepath.removeprefix("file://"))
        self._model_class = model_class
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "model_class": self._model_class}

    def _class(self):
        module, _, name = self._model_class.rpartition(".")
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise DatasetError(f"model_class {self._model_class!r} cannot be imported: {exc}") from exc

    def load(self) -> Any:
        return self._class().load(self._filepath.resolve().as_uri())

    def save(self, data: Any) -> None:
        target = self._filepath.resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        old = None
        try:
            data.write().overwrite().save((staging / "model").as_uri())
            if target.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
                target.rename(old / "model")
            (staging / "model").rename(target)
        except BaseException:
            if old is not None and not target.exists():
                (old / "model").rename(target)  # put the previous model back
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)

    def _exists(self) -> bool:
        return (self._filepath / "metadata").is_dir()
