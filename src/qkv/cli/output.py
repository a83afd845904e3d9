"""Results to stdout or to a file (qkv.files: complete or nothing, regular files only)."""

from __future__ import annotations

import sys

from qkv import limits
from qkv.terminal import printable


def write_text(text: str, path: str | None) -> None:
    """To stdout (None or "-"), else to the file ``path``."""
    if path is None or path == "-":
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    from qkv.files import write_text as write_file_text

    write_file_text(path, text)


def check_outputs(*paths: str | None) -> None:
    """Refuse bad output targets before any work (qkv.files.check_target)."""
    from qkv.files import check_target

    for path in paths:
        if path is not None and path != "-":
            check_target(path)


def read_text(path: str, what: str, limit: int = limits.MATRIX_FILE_BYTES) -> str:
    """A UTF-8 text file (or - for stdin), at most ``limit`` bytes, one-line errors."""
    from qkv.files import read_text as read_file_text

    return read_file_text(path, what, limit)


def say(text: str) -> None:
    """One line for the terminal, with control characters made visible."""
    print(printable(text))
