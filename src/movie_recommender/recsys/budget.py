"""Refusing work that cannot fit: a model states its peak memory as a formula of the data's size and
its settings, and ``fit`` stops before it starts when that exceeds the memory available; a model
whose fit can take long states its time the same way, and stops when that exceeds the time limit.

Every model's ``peak_memory(n_users, n_items, n_ratings)`` returns (bytes, the setting that lowers
it); ``fit`` calls :func:`check_memory` right after indexing the ratings, before any heavy work.
The limit is the memory the operating system reports as available (``MemAvailable``), or
``MOVIE_RECOMMENDER_MEMORY_LIMIT_GB`` when set.

A model's ``fit_seconds(data)`` returns (seconds, the setting that lowers them), or None for
models whose fit is cheap at any size MovieLens has (linear in the ratings). The seconds are a
formula of the data's size and the settings whose constants were measured on the benchmark
machine (2 cores, ``benchmarks/README.md``); ``fit`` calls :func:`check_time` next, against
``MOVIE_RECOMMENDER_TIME_LIMIT_MINUTES`` (default 15; ``0`` or ``off``: no limit).
"""

from __future__ import annotations

import os

GB = 1024**3
#: fit time above which a model refuses, unless MOVIE_RECOMMENDER_TIME_LIMIT_MINUTES says otherwise
DEFAULT_TIME_LIMIT_MINUTES = 15.0

__all__ = ["DEFAULT_TIME_LIMIT_MINUTES", "ModelRefusedError", "available_memory", "check_memory", "check_time",
           "time_limit"]


class ModelRefusedError(ValueError):
    """The model would need more memory than there is, or longer than the time limit; the message says
    how much and what to change."""


def available_memory() -> int:
    """Bytes the model may use: ``MOVIE_RECOMMENDER_MEMORY_LIMIT_GB``, else MemAvailable (Linux), else total RAM."""
    forced = os.environ.get("MOVIE_RECOMMENDER_MEMORY_LIMIT_GB", "").strip()
    if forced:
        try:
            gigabytes = float(forced)
        except ValueError:
            gigabytes = float("nan")
        if not gigabytes > 0:
            raise ValueError(
                f"MOVIE_RECOMMENDER_MEMORY_LIMIT_GB must be a number of gigabytes above 0, got {forced!r}: "
                "fix it or unset it (then the memory available is the limit)."
            )
        return int(gigabytes * GB)
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def check_memory(name: str, needed: int, fix: str, shape: tuple[int, int, int]) -> None:
    """Raise :class:`ModelRefusedError` when ``needed`` bytes exceed the available memory."""
    limit = available_memory()
    if needed > limit:
        users, items, ratings = shape
        raise ModelRefusedError(
            f"{name} would need about {needed / GB:.1f} GB of memory for {users:,} users, {items:,} movies "
            f"and {ratings:,} ratings, but {limit / GB:.1f} GB are available. {fix}"
        )


def time_limit() -> float | None:
    """Seconds a model's fit may take: ``MOVIE_RECOMMENDER_TIME_LIMIT_MINUTES`` (``0`` or ``off``: None, no
    limit), else :data:`DEFAULT_TIME_LIMIT_MINUTES`."""
    given = os.environ.get("MOVIE_RECOMMENDER_TIME_LIMIT_MINUTES", "").strip().lower()
    if not given:
        return DEFAULT_TIME_LIMIT_MINUTES * 60
    if given in ("off", "none", "0"):
        return None
    try:
        minutes = float(given)
    except ValueError:
        raise ValueError(
            f"MOVIE_RECOMMENDER_TIME_LIMIT_MINUTES must be a number of minutes or off, got {given!r}."
        ) from None
    return None if minutes <= 0 else minutes * 60


def check_limit_settings() -> None:
    """Read ``MOVIE_RECOMMENDER_MEMORY_LIMIT_GB`` and ``MOVIE_RECOMMENDER_TIME_LIMIT_MINUTES``: a ValueError
    saying what is wrong when either is set to something that is not a limit (the run checks this before
    its first node, so that a typo is not found only when the first model is fitted)."""
    available_memory()
    time_limit()


def check_time(name: str, estimate: tuple[float, str] | None, shape: tuple[int, int, int]) -> None:
    """Raise :class:`ModelRefusedError` when the estimated fit time (seconds, fix) exceeds :func:`time_limit`."""
    limit = time_limit()
    if estimate is None or limit is None or estimate[0] <= limit:
        return
    users, items, ratings = shape
    raise ModelRefusedError(
        f"{name} would take about {estimate[0] / 60:.0f} minutes to fit {users:,} users, {items:,} movies and "
        f"{ratings:,} ratings (on 2 cores), over the limit of {limit / 60:.0f} minutes. {estimate[1]} Or set "
        "MOVIE_RECOMMENDER_TIME_LIMIT_MINUTES to a longer time (off: no limit) to fit it anyway."
    )
