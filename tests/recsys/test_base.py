"""The ranking rules every model shares (recsys.base.Recommender)."""

import pandas as pd

from movie_recommender.recsys import Bias


def test_equal_scores_go_to_the_more_rated_movie_then_the_smaller_id():
    """Estimates clipped at 5 tie: the movie with more training ratings comes first, then the smaller id."""
    rows = [(1, 10, 5.0)]  # user 1 rated only movie 10
    rows += [(u, 20, 5.0) for u in range(2, 4)]  # movie 20: two ratings of 5
    rows += [(u, 30, 5.0) for u in range(2, 6)]  # movie 30: four ratings of 5
    rows += [(u, 40, 5.0) for u in range(2, 4)]  # movie 40: two ratings of 5 (ties with 20 on count)
    rows += [(u, 50, 1.0) for u in range(2, 6)]  # keeps the global mean below 5
    ratings = pd.DataFrame(rows, columns=["userId", "movieId", "rating"])
    model = Bias(reg_user=0.0, reg_item=0.0).fit(ratings)
    top = model.recommend(1, 3)
    assert list(top.score) == [5.0, 5.0, 5.0]  # clipped at the top of the scale
    assert list(top.movieId) == [30, 20, 40]
