"""Errors a user can cause and fix (no Kedro here, so the library, the datasets and the CLI share it)."""

from __future__ import annotations


class UserError(ValueError):
    """Something the user can fix: a missing archive, a bad parameter, an unknown user, bad input data.

    Its message says what is wrong and what to do. ``kedro run`` prints that message alone (no
    traceback) and exits with status 1; see ``movie_recommender.cli``.
    """


def find_user_error(error: BaseException | None) -> UserError | None:
    """The first :class:`UserError` in ``error``'s chain of causes and contexts, or None."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, UserError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None
