"""The Spark side of the recommender: pure PySpark functions (no Kedro), used by the ``spark`` pipelines.

- :mod:`.session`: a SparkSession with quiet logs, loopback networking and temp files in one place;
- :mod:`.processing`: typed reads, the movie join and the repeated min-ratings filter;
- :mod:`.als`: ``pyspark.ml.recommendation.ALS`` (explicit and implicit) and top-N lists;
- :mod:`.splits`: the per-user random and temporal hold-outs of :mod:`movie_recommender.recsys.splits`,
  row for row;
- :mod:`.evaluate`: fit, time and score an ALS variant with the project's metric definitions.

Nothing here imports pyspark at package import time, so the pandas path never loads it.
"""
