"""check(): article text -> Report."""

from __future__ import annotations

from qkv.review.extract import extract
from qkv.review.match import judge
from qkv.review.report import Report


def check(text: str, name: str = "<text>") -> Report:
    """Extract every matrix, match it, judge its numbers. InputError when nothing to check."""
    return Report(name, judge(extract(text)))
