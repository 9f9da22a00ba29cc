"""Nodes of the evaluation pipeline: split -> fit and score every listed model -> report and plot."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import pandas as pd
from matplotlib.figure import Figure

from movie_recommender.errors import UserError
from movie_recommender.pipelines.validation import (
    check_dataset,
    check_evaluation,
    check_ratings_table,
    has_movie_details,
    model_from_params,
    needs_movie_details,
)
from movie_recommender.recsys import evaluate
from movie_recommender.recsys.movielens import RATING_COLUMNS
from movie_recommender.recsys.releases import Release
from movie_recommender.recsys.splits import (
    PREDEFINED_FOLDS,
    predefined_fold,
    random_holdout,
    temporal_holdout,
    time_cut_holdout,
)

logger = logging.getLogger(__name__)


def split_settings(evaluation: dict, dataset: str, custom_datasets: dict | None) -> tuple[Release, dict]:
    """The release and the checked evaluation settings (its split must exist for that release)."""
    release = check_dataset(dataset, custom_datasets)
    return release, check_evaluation(evaluation, release=release)


def require_times(split: str, columns, release: Release) -> None:
    """A split by time needs a timestamp column: one message saying what to use instead."""
    if split in ("temporal", "time_cut") and "timestamp" not in columns:
        raise UserError(
            f"evaluation.split={split} needs rating times, but {release.title} has none: use "
            "kedro run --params evaluation.split=random (or give its ratings a timestamp column)."
        )


def split_ratings(
    ratings_clean: pd.DataFrame,
    movielens_archive: Mapping[str, bytes],
    evaluation: dict,
    dataset: str = "ml-100k",
    custom_datasets: dict | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out test ratings: per user at random or the latest, a global time cut, or a 100k fold."""
    release, settings = split_settings(evaluation, dataset, custom_datasets)
    split = settings["split"]
    if split in PREDEFINED_FOLDS:
        train, test = predefined_fold(movielens_archive, split)
    else:
        check_ratings_table(ratings_clean, "ratings_clean")
        ratings = ratings_clean[[c for c in RATING_COLUMNS if c in ratings_clean.columns]]
        require_times(split, ratings.columns, release)
        if split == "random":
            train, test = random_holdout(ratings, settings["test_fraction"], seed=settings["seed"])
        elif split == "temporal":
            train, test = temporal_holdout(ratings, settings["test_fraction"])
        else:
            train, test = time_cut_holdout(ratings, settings["test_fraction"])
    logger.info("Split %r: %d training and %d test ratings.", split, len(train), len(test))
    return train, test


def evaluate_models(
    evaluation_train: pd.DataFrame,
    evaluation_test: pd.DataFrame,
    movies: pd.DataFrame,
    evaluation: dict,
    models: dict,
) -> pd.DataFrame:
    """Fit each model in evaluation.models on the training part and score it on the test part, one row each."""
    settings = check_evaluation(evaluation, models)
    names = settings["models"]
    if not has_movie_details(movies):
        skipped = [name for name in names if needs_movie_details(name, models)]
        if skipped:
            logger.warning(
                "Not evaluating %s: they rank by genres and years, and this dataset has no movies.csv.",
                ", ".join(skipped),
            )
            names = [name for name in names if name not in skipped]
        if not names:
            raise UserError(
                f"Every model in evaluation.models ({', '.join(skipped)}) needs movie genres, and this dataset "
                "has no movies.csv: add one, or list other models, e.g. --params evaluation.models=[popularity,ease]."
            )
    zoo = {name: model_from_params(name, models) for name in names}
    return evaluate.evaluate_models(
        zoo,
        evaluation_train,
        evaluation_test,
        k=settings["k"],
        relevance_threshold=settings["relevance_threshold"],
        movies=movies,
        max_users=settings["max_users"],
        seed=settings["seed"],
    ).reset_index()


def _plain(value: object) -> object:
    """A JSON-ready value: numpy scalars become Python numbers, NaN becomes null."""
    if hasattr(value, "item"):
        value = value.item()
    return None if isinstance(value, float) and math.isnan(value) else value


def report_metrics(metrics_table: pd.DataFrame, evaluation: dict) -> dict:
    """The evaluation settings and every model's metrics, for metrics.json."""
    settings = check_evaluation(evaluation)
    rows = metrics_table.set_index("model")
    return {
        "settings": settings,
        "models": {name: {column: _plain(value) for column, value in row.items()} for name, row in rows.iterrows()},
    }


def plot_metrics(metrics_table: pd.DataFrame, evaluation: dict) -> Figure:
    """Bar charts comparing the models: ranking metrics at K, rating errors, and seconds."""
    k = check_evaluation(evaluation)["k"]
    table = metrics_table.set_index("model").iloc[::-1]  # first model on top
    panels = [
        ([f"ndcg@{k}", f"precision@{k}", f"recall@{k}", f"map@{k}"], f"Top-{k} ranking (higher is better)", False),
        (["rmse", "mae"], "Rating error (lower is better)", False),
        (["fit_seconds", "predict_seconds", "recommend_seconds"], "Seconds (log scale)", True),
    ]
    figure = Figure(figsize=(14, 0.45 * len(table) + 2), layout="constrained")
    axes = figure.subplots(1, len(panels), sharey=True)
    for ax, (columns, title, log) in zip(axes, panels):
        shown = table[[c for c in columns if c in table]].dropna(how="all")
        ax.set_title(title)
        if shown.empty:
            ax.text(0.5, 0.5, "no model reports it", ha="center", va="center", transform=ax.transAxes)
            continue
        shown.reindex(table.index).plot.barh(ax=ax, width=0.8, logx=log, legend=True)
        ax.set_ylabel("")
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=2, frameon=False)
        if columns[0] == "rmse":  # the differences that matter are small: start near the best error
            low = float(shown.min().min())
            ax.set_xlim(left=max(0.0, low - 0.1), right=float(shown.max().max()) + 0.05)
    figure.suptitle(f"Models compared on the evaluation split (K={k})")
    return figure
