"""Errors that mean "the user gave bad input" (CLI: exit 2, one line, no traceback)."""


class InputError(ValueError):
    """Bad user input. The message names what is wrong and where, in one line."""
