"""Text from strangers, made safe to print on a terminal.

A token, a file name or a model's output may hold control characters: ESC starts the escape
sequences that move the cursor, retitle the window or rewrite what was printed before; bidi
overrides reorder what the reader sees. Each becomes a visible stand-in of one character
(ESC -> ␛, U+202E -> �), so columns stay where they were.
"""

from __future__ import annotations

_C0 = {c: 0x2400 + c for c in range(0x20) if chr(c) not in "\t\n"}  # ␀ … ␟ (Control Pictures)
_OTHER = {0x7F: 0x2421}  # DEL -> ␡
_OTHER.update({c: 0xFFFD for c in range(0x80, 0xA0)})  # C1 controls, 0x9B is CSI
_OTHER.update({c: 0xFFFD for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})  # bidi
TABLE = {**_C0, **_OTHER}


def printable(text: str) -> str:
    """``text`` with control characters (but tab and newline) replaced one for one."""
    return text.translate(TABLE)
