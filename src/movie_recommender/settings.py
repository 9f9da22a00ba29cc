"""Project settings. There is no need to edit this file unless you want to change values
from the Kedro defaults. For further information, including these default values, see
https://docs.kedro.org/en/stable/configure/configuration_basics/#configuration"""

import warnings

# Kedro 1.7's OmegaConfigLoader registers its resolvers (globals, runtime_params, oc.env) with
# OmegaConf.register_new_resolver(), which omegaconf 2.4 deprecates: three 6-line warnings on every
# command that reads the configuration. Only those calls, attributed to Kedro's loader, are silenced;
# the same warning from any other code still shows.
warnings.filterwarnings(
    "ignore",
    message=r"register_new_resolver\(\) is deprecated",
    category=UserWarning,
    module=r"kedro\.config\.omegaconf_config",
)

# Instantiated project hooks, executed in Last-In-First-Out (LIFO) order.
from movie_recommender.hooks import RunManifest, SnapshotVersion, SparkHooks, ValidateParameters  # noqa: E402
from movie_recommender.tracking import MlflowTracking  # noqa: E402

# Before a run (LIFO): ValidateParameters reports a bad parameter first, then RunManifest checks the inputs,
# then MlflowTracking opens an MLflow run. After it: RunManifest records the run, MlflowTracking logs that
# record and closes the MLflow run, then SnapshotVersion makes a version of the model and its recommendations.
# SparkHooks (after_context_created, before all of these) starts the SparkSession and picks the default
# pipeline when engine is spark.
HOOKS = (SnapshotVersion(), MlflowTracking(), RunManifest(), ValidateParameters(), SparkHooks())

# Installed plugins for which to disable hook auto-registration: kedro-mlflow's hook is registered
# above, as MlflowTracking (see movie_recommender/tracking.py).
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow", "kedro-mlflow")  # its metadata spells it kedro_mlflow

# Class that manages the KedroSession.
# from kedro.framework.session import KedroSession
# SESSION_CLASS = KedroSession

# Class that manages storing KedroSession data.
# from kedro.framework.session.store import BaseSessionStore
# SESSION_STORE_CLASS = BaseSessionStore
# Keyword arguments to pass to the `SESSION_STORE_CLASS` constructor.
# SESSION_STORE_ARGS = {
#     "path": "./sessions"
# }

# Directory that holds configuration.
# CONF_SOURCE = "conf"

# Class that manages how configuration is loaded.
# from kedro.config import OmegaConfigLoader

# CONFIG_LOADER_CLASS = OmegaConfigLoader



def if_release(release: str, releases: list, value: object, default: object) -> object:
    """``${if_release:<release>,[<releases>],<value>,<default>}``: ``value`` when the run's release is one
    of ``releases``, else ``default``; settings that ship per release size (parameters_evaluation.yml)."""
    return value if release in releases else default


# Keyword arguments to pass to the `CONFIG_LOADER_CLASS` constructor.
CONFIG_LOADER_ARGS = {
    "custom_resolvers": {"if_release": if_release},
    "base_env": "base",
    "default_run_env": "local",
    # conf/local/mlflow.yml overrides single keys of conf/base/mlflow.yml (e.g. only the tracking URI)
    "config_patterns": {
        "mlflow": ["mlflow*", "mlflow*/**", "**/mlflow*"],
        "spark": ["spark*", "spark*/**"],  # Spark settings: conf/spark/spark.yml, conf/local/spark.yml
    },
    # parameters: an environment's parameters.yml (conf/spark, conf/staging) and `--params a.b=1` change single
    # nested keys; the default (destructive) merge would replace the whole top-level mapping of conf/base, so
    # `kedro run --env spark --params spark_models.als.max_iter=3` would drop every other ALS setting.
    "merge_strategy": {"mlflow": "soft", "parameters": "soft"},
}

# Class that manages Kedro's library components.
# from kedro.framework.context import KedroContext
# CONTEXT_CLASS = KedroContext

# Class that manages the Data Catalog.
# from kedro.io import DataCatalog
# DATA_CATALOG_CLASS = DataCatalog
