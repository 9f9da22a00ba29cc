"""benchmarks/bench_data.py: the per-node timeline it prints from a Kedro log."""

from benchmarks.bench_data import node_starts

LOG = """\
[12/01/26 10:30:46] INFO     Running node: convert: convert([movielens_archive]) -> [ratings,movies]
                    INFO     Saving data to ratings (AtomicCSVDataset)...
[12/01/26 10:31:30] INFO     Running node: count_movie_ratings: count_movie_ratings([ratings]) -> [...]
                    INFO     Running node: transform: transform([ratings,params:min_user_ratings]) -> [...]
[12/01/26 10:31:54] INFO     Pipeline execution completed successfully in 68.0 sec.
"""


def test_node_starts_gives_each_node_and_the_end_with_the_last_clock_shown():
    assert node_starts(LOG) == [
        "    10:30:46 convert",
        "    10:31:30 count_movie_ratings",
        "    10:31:30 transform",
        "    10:31:54 (pipeline completed)",
    ]
