"""The HTML model and head views: page size for long inputs, and time to draw in headless
Chromium (the model view draws the grid and the chosen head's heatmap; choosing another head
redraws the heatmap).

python benchmarks/viz_page.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from qkv.maps import AttentionMaps
from qkv.viz.browser import launch
from qkv.viz.page import page


def maps(n: int, layers: int, heads: int) -> AttentionMaps:
    rng = np.random.default_rng(0)
    w = np.tril(rng.random((layers, heads, n, n)).astype(np.float32) ** 8) + 1e-9
    return AttentionMaps(w / w.sum(-1, keepdims=True), [f"t{i}" for i in range(n)])


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = launch(p)
        for n, layers, heads in ((128, 6, 12), (512, 12, 12)):
            t0 = time.perf_counter()
            html = page(maps(n, layers, heads))
            build = time.perf_counter() - t0
            path = Path(tmp) / f"v{n}.html"
            path.write_text(html, encoding="utf-8")
            tab = browser.new_page()
            t0 = time.perf_counter()
            tab.goto(path.as_uri())
            tab.wait_for_function("document.querySelector('.heat') !== null")
            shown = time.perf_counter() - t0
            t0 = time.perf_counter()
            tab.select_option("select.head", "1")
            switch = time.perf_counter() - t0
            print(
                f"{n} tokens x {layers} layers x {heads} heads: page {len(html) / 1e6:.2f} MB "
                f"(built in {build:.2f} s), drawn in {shown:.2f} s, another head in "
                f"{switch:.2f} s"
            )
        browser.close()


if __name__ == "__main__":
    main()
