"""SparkModelDataset: Spark's own model directory, swapped into place (no Spark needed: a stand-in writer)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest
from kedro.io import DatasetError

from movie_recommender.datasets.spark import SparkModelDataset


class FakeModel:
    """Writes a model directory the way pyspark.ml's MLWriter does (metadata/ plus data)."""

    def __init__(self, label: str, fail: bool = False) -> None:
        self.label, self.fail = label, fail

    def write(self):
        return self

    def overwrite(self):
        return self

    def save(self, uri: str) -> None:
        path = Path(urlparse(uri).path)
        (path / "metadata").mkdir(parents=True)
        (path / "metadata" / "part-00000").write_text(self.label)
        if self.fail:
            raise RuntimeError("executor lost")

    @classmethod
    def load(cls, uri: str) -> FakeModel:
        return cls((Path(urlparse(uri).path) / "metadata" / "part-00000").read_text())


def test_save_replaces_the_model_and_a_failed_save_keeps_the_old_one(tmp_path):
    dataset = SparkModelDataset(filepath=str(tmp_path / "models" / "als"), model_class=f"{__name__}.FakeModel")
    assert not dataset.exists()
    dataset.save(FakeModel("first"))
    assert dataset.exists() and dataset.load().label == "first"
    dataset.save(FakeModel("second"))
    assert dataset.load().label == "second"
    with pytest.raises(DatasetError, match="executor lost"):
        dataset.save(FakeModel("third", fail=True))
    assert dataset.load().label == "second"
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["als"]  # no temporary directory left


def test_unknown_model_class_says_which(tmp_path):
    dataset = SparkModelDataset(filepath=str(tmp_path / "m"), model_class="pyspark.ml.nothing.Here")
    with pytest.raises(Exception, match=r"model_class 'pyspark.ml.nothing.Here' cannot be imported"):
        dataset.load()
