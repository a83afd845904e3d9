"""The offline HTML views: size, escaping, and (in headless Chromium) interaction."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from qkv.cli.main import main
from qkv.maps import AttentionMaps
from qkv.viz.browser import CHROMIUM, launch
from qkv.viz.page import encode, page

XSS = "<img src=x onerror=alert(1)>"


def random_maps(n, layers, heads, tokens=None, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.random((layers, heads, n, n)).astype(np.float32) ** 8
    w = np.tril(w) + 1e-9
    w /= w.sum(-1, keepdims=True)
    return AttentionMaps(w, tokens or [f"t{i}" for i in range(n)])


def test_encoding_keeps_the_strongest_keys():
    w = np.zeros((1, 1, 2, 3), dtype=np.float32)
    w[0, 0, 0] = [0.7, 0.295, 0.005]  # the last is below 0.01: dropped
    w[0, 0, 1] = [0.0, 0.0, 1.0]
    data = encode(AttentionMaps(w, ["a", "b"]), top=8)
    import base64

    counts = np.frombuffer(base64.b64decode(data["counts"]), np.uint8)
    idx = np.frombuffer(base64.b64decode(data["idx"]), np.uint16)
    weights = np.frombuffer(base64.b64decode(data["w"]), np.uint8)
    assert counts.tolist() == [2, 1] and idx.tolist() == [0, 1, 2]
    assert weights.tolist() == [round(0.7 * 255), round(0.295 * 255), 255]


def test_long_input_stays_small_and_labels_are_never_markup():
    maps = random_maps(512, 12, 12)
    assert len(page(maps).encode()) <= 5_000_000
    small = random_maps(3, 1, 1, tokens=[XSS, "</script><script>alert(2)</script>", "猫"])
    html = page(small, title=XSS)
    assert XSS not in html and "</script><script>" not in html
    assert "http://" not in html and "https://" not in html  # offline: nothing fetched


def test_cli_pages(tmp_path, capsys):
    npz = random_maps(5, 2, 3).save(tmp_path / "m.npz")
    out = tmp_path / "view.html"
    assert main(["viz", "--maps", str(npz), "--view", "model", "-o", str(out)]) == 0
    assert "qkv-data" in out.read_text(encoding="utf-8")
    trace = tmp_path / "trace.html"
    assert main(["viz", "--view", "trace", "--lang", "en", "-o", str(trace)]) == 0
    assert "0.0634" in trace.read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["viz", "--maps", str(npz), "--view", "head", "-o", str(tmp_path / "x.png")]) == 2
    assert "FILE.html" in capsys.readouterr().err


@pytest.fixture(scope="module")
def browser():
    pytest.importorskip("playwright")
    if not Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is None:
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.mark.browser
def test_choosing_another_head_changes_the_drawing(browser, tmp_path):
    path = tmp_path / "view.html"
    path.write_text(
        page(random_maps(12, 2, 3, tokens=[XSS, *[f"w{i}" for i in range(11)]])), encoding="utf-8"
    )
    tab = browser.new_page()
    dialogs, errors = [], []
    tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.goto(path.as_uri())
    lines = "document.getElementById('lines').toDataURL()"
    heat = "document.getElementById('heat').toDataURL()"
    before = tab.evaluate(lines), tab.evaluate(heat)
    tab.select_option("#headsel", "2")
    after = tab.evaluate(lines), tab.evaluate(heat)
    assert before[0] != after[0] and before[1] != after[1]
    tab.locator("#grid canvas[data-layer='1'][data-head='0']").click()
    assert tab.evaluate("document.getElementById('layer').value") == "1"
    assert tab.evaluate(lines) != after[0]
    # the token named like an XSS payload is text on the page, and nothing ran
    assert tab.locator(".tok", has_text=XSS).count() == 2  # query side and key side
    assert tab.locator("img").count() == 0 and dialogs == [] and errors == []
    # choosing one token keeps only its lines
    all_lines = tab.evaluate(lines)
    tab.locator(".tok[data-side='q'][data-index='5']").click()
    assert tab.evaluate(lines) != all_lines
    tab.select_option("#layout", "horizontal")
    assert tab.evaluate("document.getElementById('lines').width") > 12 * 13


@pytest.mark.browser
def test_trace_page_shows_the_hand_calculation(browser, tmp_path):
    out = tmp_path / "trace.html"
    assert main(["viz", "--view", "trace", "--lang", "en", "-o", str(out)]) == 0
    tab = browser.new_page()
    tab.goto(out.as_uri())
    assert "0.0634" in tab.locator("#step-weights").inner_text()
