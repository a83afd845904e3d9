"""Token labels as pictures and views show them: whitespace made visible.

A character-level model's tokens include " ", "\\n" and "\\t", which a label would draw as
nothing. Pictures and views show ␣ for a space, ⏎ for a line break and ⇥ for a tab; the data
(a trace's JSON, a maps .npz, the JSON inside a page) keeps the real token.
"""

from __future__ import annotations

import re

SPACE, LINE_BREAK, TAB = "␣", "⏎", "⇥"
# What str.splitlines() breaks at; "\r\n" is one break.
_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029") | {"\r\n"}
_WHITESPACE = re.compile(r"\r\n|\s")  # \s: every character str.isspace() accepts


def visible(token: str) -> str:
    """``token`` with each whitespace character as a visible mark: "a b\\n" -> "a␣b⏎"."""
    return _WHITESPACE.sub(_mark, token)


def _mark(m: re.Match[str]) -> str:
    c = m.group()
    return TAB if c == "\t" else LINE_BREAK if c in _BREAKS else SPACE


def visible_all(tokens: list[str]) -> list[str]:
    return [visible(t) for t in tokens]
