"""Pure recommender-systems library: MovieLens readers, filters and models.

No Kedro here: everything works from a notebook or a script on pandas DataFrames.
"""

from .base import NoUsableRatingsError, Recommender, UnknownUserError
from .baselines import Popularity, RandomRecommender, RankingRecommender
from .checks import check_count
from .content import ContentBased
from .ease import EASE
from .filtering import filter_min_ratings
from .hybrid import Hybrid
from .ials import IALS
from .knn import UserKNN
from .movielens import MovieLensFormatError, parse_genres, parse_movies, parse_ratings

__all__ = [
    "check_count",
    "ContentBased",
    "EASE",
    "Hybrid",
    "IALS",
    "MovieLensFormatError",
    "NoUsableRatingsError",
    "Popularity",
    "RandomRecommender",
    "RankingRecommender",
    "Recommender",
    "UnknownUserError",
    "UserKNN",
    "filter_min_ratings",
    "parse_genres",
    "parse_movies",
    "parse_ratings",
]
