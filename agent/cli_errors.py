"""The errors a user can cause on the command line: one line on stderr, exit code 2."""

from __future__ import annotations

import functools

import click


class UserError(click.ClickException):
    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"error: {self.message}", err=True)


def user_errors(fn):
    """Turn the errors a user can cause (ConfigError, StoreError) into one line and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from agent.config import ConfigError
        from archives.store import StoreError

        try:
            return fn(*args, **kwargs)
        except (ConfigError, StoreError) as exc:
            raise UserError(str(exc)) from None

    return wrapper
