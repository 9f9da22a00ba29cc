"""Parameter checks shared by the nodes: one clear message per bad value."""

from __future__ import annotations

from numbers import Integral


def require_int(name: str, value: object, minimum: int) -> int:
    """Return ``value`` if it is a whole number >= ``minimum``, else raise a message naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(
            f"Parameter {name} must be a whole number >= {minimum}, got {value!r}. "
            f"Set it in conf/base/parameters.yml or on the command line, e.g. kedro run --params {name}={max(minimum, 10)}."
        )
    return int(value)
