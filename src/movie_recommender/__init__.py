"""movie-recommender"""

__version__ = "0.1"
