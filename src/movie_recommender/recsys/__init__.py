"""Pure recommender-systems library: MovieLens readers, filters, models, splits and metrics.

No Kedro here: everything works from a notebook or a script on pandas DataFrames.
"""

from .base import NoUsableRatingsError, Recommender, UnknownUserError
from .baselines import Popularity, RandomRecommender, RankingRecommender
from .bias import Bias
from .blend import Blend
from .budget import ModelRefusedError
from .checks import check_count
from .content import ContentBased
from .ease import EASE
from .evaluate import evaluate_model, evaluate_models
from .filtering import filter_min_ratings
from .hybrid import Hybrid
from .ials import IALS
from .item_knn import ItemKNN
from .knn import UserKNN
from .metrics import (
    catalog_coverage,
    hit_rate_at_k,
    mae,
    map_at_k,
    ndcg_at_k,
    novelty,
    precision_at_k,
    ranking_metrics,
    ranking_metrics_per_user,
    recall_at_k,
    rmse,
)
from .mf import BiasedMF, SVDpp
from .movielens import MovieLensFormatError, parse_genres, parse_movies, parse_ratings
from .splits import (
    PREDEFINED_FOLDS,
    drop_unknown,
    predefined_fold,
    predefined_folds,
    random_holdout,
    temporal_holdout,
)

__all__ = [
    "Bias",
    "BiasedMF",
    "Blend",
    "ItemKNN",
    "check_count",
    "ContentBased",
    "EASE",
    "Hybrid",
    "IALS",
    "ModelRefusedError",
    "MovieLensFormatError",
    "NoUsableRatingsError",
    "Popularity",
    "RandomRecommender",
    "RankingRecommender",
    "Recommender",
    "SVDpp",
    "UnknownUserError",
    "UserKNN",
    "filter_min_ratings",
    "parse_genres",
    "parse_movies",
    "parse_ratings",
    # splits
    "PREDEFINED_FOLDS",
    "drop_unknown",
    "predefined_fold",
    "predefined_folds",
    "random_holdout",
    "temporal_holdout",
    # metrics and evaluation
    "catalog_coverage",
    "evaluate_model",
    "evaluate_models",
    "hit_rate_at_k",
    "mae",
    "map_at_k",
    "ndcg_at_k",
    "novelty",
    "precision_at_k",
    "ranking_metrics",
    "ranking_metrics_per_user",
    "recall_at_k",
    "rmse",
]
