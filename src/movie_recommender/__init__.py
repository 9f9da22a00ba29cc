"""movie-recommender"""

import warnings

# kedro-mlflow's KedroPipelineModel (imported with the plugin, unused here) makes MLflow warn on every command.
warnings.filterwarnings("ignore", message=r".*Add type hints to the `predict` method", category=UserWarning)

__version__ = "0.1"
