"""Fit, time and score models on a train/test split.

``evaluate_model`` fits one model on ``train`` and scores it on ``test``; ``evaluate_models``
does the same for several models and returns one row per model. Metric definitions are in
:mod:`.metrics`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .base import Recommender
from .checks import check_count
from .metrics import catalog_coverage, mae, novelty, ranking_metrics, rmse

logger = logging.getLogger(__name__)
USER, ITEM, RATING = "userId", "movieId", "rating"

__all__ = ["evaluate_model", "evaluate_models", "result_row"]


def _check_tables(train: pd.DataFrame, test: pd.DataFrame) -> None:
    for name, table in (("train", train), ("test", test)):
        if not isinstance(table, pd.DataFrame):
            raise TypeError(f"{name} must be a pandas DataFrame, got {type(table).__name__}.")
        missing = [c for c in (USER, ITEM, RATING) if c not in table.columns]
        if missing:
            raise ValueError(f"{name} lacks the column(s) {missing}; expected {USER}, {ITEM}, {RATING}.")
    if test.empty:
        raise ValueError("test is empty: there is nothing to evaluate on. Check the split's test_fraction.")


def result_row(
    k: int,
    ranking: Mapping[str, float],
    recommendations: pd.DataFrame,
    n_items: int,
    novelty_value: float,
    *,
    errors: tuple[float, float],
    seconds: tuple[float, float, float],
    sizes: tuple[int, int, int],
) -> dict:
    """One row of the metrics table, in its column order: every engine's evaluation builds its rows here.

    ``ranking`` is what :func:`~.metrics.ranking_metrics` returned for ``recommendations`` (its ``n_users``
    becomes ``n_users_evaluated``); ``coverage@k`` is computed from ``recommendations`` and ``n_items``, the
    catalog size. ``errors`` is (RMSE, MAE), ``seconds`` (fit, predict, recommend) and ``sizes`` (training
    ratings, test ratings, test users unknown to the model); see :func:`evaluate_model` for their meaning.
    """
    (rmse_value, mae_value), (fit, predict, recommend), (n_train, n_test, unknown) = errors, seconds, sizes
    return {
        "rmse": rmse_value,
        "mae": mae_value,
        **{key: value for key, value in ranking.items() if key != "n_users"},
        f"coverage@{k}": catalog_coverage(recommendations, n_items),
        f"novelty@{k}": novelty_value,
        "fit_seconds": fit,
        "predict_seconds": predict,
        "recommend_seconds": recommend,
        "n_train": int(n_train),
        "n_test": int(n_test),
        "n_users_evaluated": ranking["n_users"],
        "n_test_users_unknown": int(unknown),
    }


def _evaluate(
    model: Recommender,
    train: pd.DataFrame,
    test: pd.DataFrame,
    k: int,
    relevance_threshold: float | None,
    movies: pd.DataFrame | None,
    label: str = "",
    name: str | None = None,
    max_users: int | None = None,
    seed: int = 0,
) -> dict:
    check_count("k", k)  # before the (possibly long) fit
    _check_tables(train, test)
    name = name or type(model).__name__
    prefix = f"{label} " if label else ""
    logger.info("%sfitting %s on %d ratings ...", prefix, name, len(train))
    start = time.perf_counter()
    model.fit(train, movies)
    fit_seconds = time.perf_counter() - start

    # With max_users, every metric is computed on a seeded sample of test users and their test ratings.
    test_users = np.unique(test[USER].to_numpy())
    scored_test = test
    if max_users is not None and len(test_users) > max_users:
        test_users = np.sort(np.random.default_rng(seed).choice(test_users, size=int(max_users), replace=False))
        scored_test = test[test[USER].isin(test_users)]

    rmse_value = mae_value = float("nan")
    predict_seconds = float("nan")
    if model.predicts_ratings:
        start = time.perf_counter()
        estimates = model.predict(scored_test[USER].to_numpy(), scored_test[ITEM].to_numpy())
        predict_seconds = time.perf_counter() - start
        truth = scored_test[RATING].to_numpy(dtype=np.float64)
        rmse_value, mae_value = rmse(truth, estimates), mae(truth, estimates)

    # Only users the model knows can get recommendations; test users unseen in train (none with
    # the per-user splits) stay in the average with zero hits.
    known_users = test_users[np.isin(test_users, model.user_ids_)]
    start = time.perf_counter()
    recommendations = model.recommend_all(k, users=known_users)
    recommend_seconds = time.perf_counter() - start

    ranking = ranking_metrics(recommendations, scored_test, k, relevance_threshold)
    if movies is not None and "movieId" in movies.columns:
        n_items = int(pd.concat([movies[ITEM], train[ITEM], test[ITEM]]).nunique())
    else:
        n_items = int(pd.concat([train[ITEM], test[ITEM]]).nunique())
    result = result_row(
        k, ranking, recommendations, n_items, novelty(recommendations, train), errors=(rmse_value, mae_value),
        seconds=(fit_seconds, predict_seconds, recommend_seconds),
        sizes=(len(train), len(test), len(test_users) - len(known_users)),
    )
    logger.info(
        "%s%s: fit %.2f s, predict %.2f s, recommend %.2f s; RMSE %.4f, nDCG@%d %.4f, P@%d %.4f",
        prefix,
        name,
        fit_seconds,
        predict_seconds,
        recommend_seconds,
        rmse_value,
        k,
        result[f"ndcg@{k}"],
        k,
        result[f"precision@{k}"],
    )
    return result


def evaluate_model(
    model: Recommender,
    train: pd.DataFrame,
    test: pd.DataFrame,
    k: int = 10,
    relevance_threshold: float | None = None,
    movies: pd.DataFrame | None = None,
    max_users: int | None = None,
    seed: int = 0,
) -> dict:
    """Fit ``model`` on ``train`` and score it on ``test``; returns a flat dict of figures.

    - ``rmse``, ``mae``: of ``model.predict`` on every test (user, movie) pair (see ``max_users``), unseen ids
      included (they get the model's fallback); NaN when ``model.predicts_ratings`` is False.
    - ``precision@k``, ``recall@k``, ``ndcg@k``, ``map@k``, ``hit_rate@k``: of
      ``recommend_all(k)`` for the test users known to the model (training items excluded),
      averaged over test users with at least one relevant item (see :mod:`.metrics`).
    - ``coverage@k``: distinct recommended movies / catalog size (movies in ``movies``,
      ``train`` and ``test``); ``novelty@k``: mean self-information of the recommended items.
    - ``fit_seconds``, ``predict_seconds`` (NaN when not predicted), ``recommend_seconds``:
      wall-clock times; ``n_train``, ``n_test``, ``n_users_evaluated``, ``n_test_users_unknown``.

    With ``max_users``, every metric is computed for a seeded random sample (``seed``) of that many
    test users: RMSE and MAE on their test ratings, the ranking metrics, coverage and novelty on
    their lists (``n_test`` still counts every test rating). At ML-25M, 10,000 users hold about
    390,000 of the 6.3 million test ratings, and ``predict`` costs that share of the whole.

    The model is fitted in place (it is left fitted on ``train``).
    """
    return _evaluate(model, train, test, k, relevance_threshold, movies, max_users=max_users, seed=seed)


def evaluate_models(
    models: Mapping[str, Recommender],
    train: pd.DataFrame,
    test: pd.DataFrame,
    k: int = 10,
    relevance_threshold: float | None = None,
    movies: pd.DataFrame | None = None,
    max_users: int | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`evaluate_model` for each named model; one row per model (index ``model``), in order.

    Progress and timings are logged at INFO level (``[2/7] fitting svd ...``). A model that
    refuses the data (:class:`~movie_recommender.recsys.budget.ModelRefusedError`: it would not
    fit in memory, or its fit would exceed the time limit) is skipped with a logged warning giving its reason; when every model refuses,
    the error is raised.
    """
    from .budget import ModelRefusedError

    if not models:
        raise ValueError("models is empty: pass {name: unfitted model, ...}.")
    rows = {}
    for i, (name, model) in enumerate(models.items(), start=1):
        label = f"[{i}/{len(models)}]"
        started = time.perf_counter()
        try:
            rows[name] = _evaluate(
                model, train, test, k, relevance_threshold, movies, label=label, name=name, max_users=max_users, seed=seed
            )
        except ModelRefusedError as error:
            logger.warning("%s %s skipped: %s", label, name, error)
            refusal = error
            continue
        logger.info("%s %s done in %.2f s", label, name, time.perf_counter() - started)
    if not rows:
        raise refusal
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    return table
