"""The reader's language: zh when the locale says Chinese, else en."""

from __future__ import annotations

import os


def default_lang() -> str:
    """zh when the locale (LC_ALL, LC_MESSAGES, LANG, LANGUAGE, first set wins) is Chinese."""
    for var in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = os.environ.get(var)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"
