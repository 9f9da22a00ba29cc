"""Argument checks shared by the library's models."""

from __future__ import annotations

from numbers import Integral


def check_count(name: str, value: object, minimum: int = 1) -> int:
    """Return ``value`` as an int if it is a whole number >= ``minimum`` (not a bool), else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}.")
    return int(value)
