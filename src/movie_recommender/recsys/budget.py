"""Refusing work that cannot fit: a model states its peak memory as a formula of the data's size and
its settings, and ``fit`` stops before it starts when that exceeds the memory available.

Every model's ``peak_memory(n_users, n_items, n_ratings)`` returns (bytes, the setting that lowers
it); ``fit`` calls :func:`check_memory` right after indexing the ratings, before any heavy work.
The limit is the memory the operating system reports as available (``MemAvailable``), or
``MOVIE_RECOMMENDER_MEMORY_LIMIT_GB`` when set.
"""

from __future__ import annotations

import os

GB = 1024**3

__all__ = ["ModelRefusedError", "available_memory", "check_memory"]


class ModelRefusedError(ValueError):
    """The model would need more memory than there is; the message says how much and what to change."""


def available_memory() -> int:
    """Bytes the model may use: ``MOVIE_RECOMMENDER_MEMORY_LIMIT_GB``, else MemAvailable (Linux), else total RAM."""
    forced = os.environ.get("MOVIE_RECOMMENDER_MEMORY_LIMIT_GB", "").strip()
    if forced:
        return int(float(forced) * GB)
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
