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


class Cancelled(Exception):
    """The user cancelled a long run (a volume, a vertebra, the levels walk, a background job).

    ``partial``: what was finished before, e.g. the label map of the slices done (None for a job that
    has nothing to offer).
    """

    def __init__(self, partial=None, message: str = "cancelled") -> None:
        super().__init__(message)
        self.partial = partial
