"""Headless Chromium for the HTML views' tests and benchmark: Debian's chromium driven by the
playwright package (never `playwright install`, which downloads a browser)."""

from __future__ import annotations

import os
from typing import Any

CHROMIUM = os.environ.get("QKV_CHROMIUM", "/usr/bin/chromium")
# Without the networking flags Chromium keeps trying hosts this closed network refuses.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(playwright: Any) -> Any:
    """A headless browser from a started ``sync_playwright()``."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
