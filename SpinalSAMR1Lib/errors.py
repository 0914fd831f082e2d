"""Errors that reach users as one clear line (the CLI prints them and exits 2)."""


class UserError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""
