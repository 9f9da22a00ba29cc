"""Pure recommender-systems library: MovieLens readers, filters and models.

No Kedro here: everything works from a notebook or a script on pandas DataFrames.
"""

from .base import NoUsableRatingsError, Recommender, UnknownUserError
from .baseline import Bias
from .blend import Blend
from .checks import check_count
from .filtering import filter_min_ratings
from .item_knn import ItemKNN
from .knn import UserKNN
from .mf import BiasedMF
from .movielens import MovieLensFormatError, parse_genres, parse_movies, parse_ratings

__all__ = [
    "Bias",
    "BiasedMF",
    "Blend",
    "ItemKNN",
    "check_count",
    "MovieLensFormatError",
    "NoUsableRatingsError",
    "Recommender",
    "UnknownUserError",
    "UserKNN",
    "filter_min_ratings",
    "parse_genres",
    "parse_movies",
    "parse_ratings",
]
