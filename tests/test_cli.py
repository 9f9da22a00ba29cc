"""The project's `kedro run`: user errors as one message, everything else as before."""

import logging

import click
import pytest
from click.testing import CliRunner

from movie_recommender.cli import HideWhileUserErrorPropagates, exit_on_user_error
from movie_recommender.errors import UserError


def record() -> logging.LogRecord:
    return logging.LogRecord("kedro.runner", logging.WARNING, __file__, 1, "Repeat the previous command", (), None)


def test_kedro_logs_are_hidden_only_while_a_user_error_propagates():
    quiet = HideWhileUserErrorPropagates()
    assert quiet.filter(record())  # no exception at all
    try:
        try:
            raise UserError("user_id 7 has no ratings")
        except UserError as error:
            raise RuntimeError("Failed while loading data") from error  # e.g. Kedro's wrapper
    except RuntimeError:
        assert not quiet.filter(record())
    try:
        raise KeyError("a bug")
    except KeyError:
        assert quiet.filter(record())  # a bug keeps Kedro's whole report


@pytest.mark.parametrize(
    ("error", "exit_code", "output"),
    [
        (UserError("Parameter top_n must be a whole number >= 1, got 0."), 1, "Error: Parameter top_n must be a"),
        (None, 0, ""),
    ],
)
def test_user_error_is_one_line_and_status_1(error, exit_code, output):
    @click.command()
    def command():
        if error:
            raise RuntimeError("wrapped") from error

    result = CliRunner().invoke(exit_on_user_error(command))
    assert result.exit_code == exit_code
    assert result.output.startswith(output) and result.output.count("\n") == (1 if error else 0)


def test_other_errors_propagate():
    @click.command()
    def command():
        raise KeyError("a bug")

    result = CliRunner().invoke(exit_on_user_error(command))
    assert isinstance(result.exception, KeyError)
