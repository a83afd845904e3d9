"""Text from strangers that can be written out: no lone surrogates.

A Python str may hold U+D800–U+DFFF alone: JSON's "\\ud800" escape makes one, and so does a
command-line byte that is not UTF-8 (Python keeps it as U+DC80–U+DCFF). No UTF-8 output can
hold them, so every renderer, the JSON encoder and the terminal would fail on them later,
far from the input: they are refused where they come in.
"""

from __future__ import annotations

from qkv.errors import InputError


def ensure_text(value: str, what: str) -> str:
    """``value``, or InputError naming ``what`` and where in it the first surrogate is."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InputError(f"{what}: character {e.start + 1} is {describe(value[e.start])}") from None
    return value


def describe(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # how Python keeps a byte that did not decode
        return f"the byte 0x{code - 0xDC00:02X}, which is not UTF-8"
    return f"\\u{code:04x}, half of a UTF-16 surrogate pair (not text)"
