"""Writing results: to stdout, or to a file replaced atomically (never half-written)."""

from __future__ import annotations

import sys
from pathlib import Path

from qkv.errors import InputError


def write_text(text: str, path: str | None) -> None:
    if path is None or path == "-":
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    target = Path(path)
    if not target.parent.exists():
        raise InputError(f"cannot write {path}: folder {target.parent} does not exist")
    from qkv.atomic import write_atomic

    write_atomic(target, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def read_text(path: str, what: str, limit: int = 50_000_000) -> str:
    """A UTF-8 text file (or - for stdin), with one-line errors for the usual mistakes."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            p = Path(path)
            if p.is_dir():
                raise InputError(f"{what} {path} is a folder, not a file")
            if p.stat().st_size > limit:
                raise InputError(f"{what} {path} is larger than {limit // 1_000_000} MB")
            data = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist") from None
    except PermissionError:
        raise InputError(f"{what} {path} cannot be read (permission denied)") from None
    if len(data) > limit:
        raise InputError(f"{what} from stdin is larger than {limit // 1_000_000} MB")
    if b"\0" in data[:8192]:
        raise InputError(f"{what} {path} is a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"{what} {path} is not UTF-8 text (byte {e.start})") from None
