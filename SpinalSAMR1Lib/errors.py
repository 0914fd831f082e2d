"""Errors that reach users as one clear line (the CLI prints them and exits 2).

Anything else that escapes a command is a bug of ours, not the user's fault: the CLI reports it as an
internal error (exit 1) and shows the traceback with ``--debug``.
"""


class UserError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""


class InputError(UserError, ValueError):
    """An argument of the Python API that cannot be used (a prompt outside the volume, an unknown view).

    It is a ``ValueError`` for API callers and a :class:`UserError` for the CLI.
    """
