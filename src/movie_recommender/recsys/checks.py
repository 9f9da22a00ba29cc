"""Argument checks shared by the library's models."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np


def check_count(name: str, value: object, minimum: int = 1) -> int:
    """Return ``value`` as an int if it is a whole number >= ``minimum`` (not a bool), else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}.")
    return int(value)


def check_number(
    name: str, value: object, minimum: float = 0.0, strict: bool = False, maximum: float | None = None
) -> float:
    """Return ``value`` as a float if it is a finite real number (not a bool) ``>= minimum``
    (``> minimum`` when ``strict``) and ``<= maximum`` if given; else raise ValueError naming it."""
    bound = f"{'>' if strict else '>='} {minimum:g}" + ("" if maximum is None else f" and <= {maximum:g}")
    ok = not isinstance(value, bool) and isinstance(value, Real) and bool(np.isfinite(value))
    if ok:
        ok = (value > minimum if strict else value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        raise ValueError(f"{name} must be a number {bound} (finite), got {value!r}.")
    return float(value)
