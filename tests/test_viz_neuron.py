"""The neuron view: q_i[t]·k_j[t] term by term, exact, summing to the trace's score."""

import json
import re
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from qkv.cli.main import main
from qkv.core.examples import find_example
from qkv.core.trace import trace
from qkv.errors import InputError
from qkv.viz.browser import CHROMIUM, launch
from qkv.viz.neuron import neuron_data, neuron_page

XSS = "<img src=x onerror=alert(1)>"
SHOWN_XSS = "<img␣src=x␣onerror=alert(1)>"  # as labels show it (qkv.viz.labels)


def test_products_sum_to_every_score_exactly():
    t = find_example("笔记本").trace("zh")
    data = neuron_data(t)
    assert data["exact"] and data["dims"] == ["1", "2", "3", "4", "5"]
    q, k, s = t["q"].exact, t["k"].exact, t["scores"].exact
    for i in range(3):
        for j in range(3):
            pair = data["pairs"][i][j]
            assert pair["products"] == [str(q[i, u] * k[j, u]) for u in range(5)]
            assert Fraction(pair["sums"][-1]) == s[i, j] and pair["score"] == str(s[i, j])
    assert data["pairs"][2][1]["sums"] == ["3", "5", "6", "8", "9"]  # 本·记 = 9
    assert data["pairs"][2][1]["weight"] == "0.000905"


def test_scaled_masked_and_fractions():
    t = trace([[Fraction(1, 3), -1], [2, 3]], tokens=["a", "b"], causal=True)
    data = neuron_data(t)
    pair = data["pairs"][0][0]
    assert pair["products"] == ["1/9", "1"] and pair["sums"] == ["1/9", "10/9"]
    assert pair["scaled"] == "0.786"  # 10/9 / √2
    assert data["pairs"][0][1]["weight"] == "masked"


def test_one_head_of_a_multi_head_trace():
    x = [[1, 0, 2, 1], [0, 1, 1, 3]]
    t = trace(x, heads=2)
    data = neuron_data(t, head=2)
    assert data["head"] == 2 and data["dims"] == ["3", "4"]
    assert data["pairs"][1][0]["score"] == str(1 * 2 + 3 * 1)
    with pytest.raises(InputError, match="outside the trace's 2 heads"):
        neuron_data(t, head=3)
    with pytest.raises(InputError, match="additive scores have none"):
        neuron_data(trace(x, score="additive"))


def test_page_escapes_labels_and_draws_the_first_pair_without_scripts():
    t = trace([[1, 2], [3, -4]], tokens=[XSS, "b"])
    html = neuron_page(t, 1, 0)
    assert XSS not in html and "&lt;img" in html
    data = json.loads(re.search(r'type="application/json">(.*?)</script>', html).group(1))
    assert data["queries"][0] == XSS and data["query"] == 1  # as JSON, set as text by the script
    body = re.search(r'<tbody id="rows">(.*?)</tbody>', html).group(1)
    assert "<td>3</td><td>×</td><td>1</td><td>=</td><td>3</td>" in body
    assert 'class="neg"' in body  # -4·2 = -8
    assert "b · " in html and "score = -5" in html
    with pytest.raises(InputError, match="outside 2 queries x 2 keys"):
        neuron_page(t, 2, 0)


def test_cli_neuron_view(tmp_path, capsys):
    target = tmp_path / "neuron.html"
    assert main(["viz", "--view", "neuron", "--query", "本", "--key", "2", "-o", str(target)]) == 0
    html = target.read_text(encoding="utf-8")
    assert "score = 9" in html and "0.000905" in html
    capsys.readouterr()
    assert main(["viz", "--view", "neuron", "--query", "9", "-o", str(target)]) == 2
    assert "--query 9 is out of range 1..3" in capsys.readouterr().err
    assert main(["viz", "--view", "neuron", "-o", str(tmp_path / "n.png")]) == 2
    assert "FILE.html" in capsys.readouterr().err


@pytest.mark.browser
def test_choosing_another_pair_redraws(tmp_path):
    pytest.importorskip("playwright")
    if not Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is None:
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    t = trace(np.array([[1, 2], [3, -4]]), tokens=[XSS, "b"], scale="none")
    path = tmp_path / "neuron.html"
    path.write_text(neuron_page(t), encoding="utf-8")
    with sync_playwright() as p:
        b = launch(p)
        try:
            tab = b.new_page()
            dialogs, errors = [], []
            tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            tab.on("pageerror", lambda e: errors.append(str(e)))
            tab.goto(path.as_uri())
            assert "score = 5" in tab.inner_text("#result")  # 1·1 + 2·2
            tab.select_option("#key", "1")
            assert "score = -5" in tab.inner_text("#result")  # 1·3 + 2·(-4)
            assert tab.locator("#rows tr").count() == 2
            assert tab.locator("#rows span.neg").count() == 1
            assert SHOWN_XSS in tab.inner_text("#result") and not dialogs and not errors
        finally:
            b.close()


@pytest.mark.browser
def test_cross_attention_pages_label_the_keys(tmp_path):
    """Maps with other keys than queries (cross-attention): the key side shows key_tokens."""
    pytest.importorskip("playwright")
    if not Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is None:
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    from qkv.maps import AttentionMaps
    from qkv.viz.page import page

    w = np.full((1, 2, 2, 3), 1 / 3, dtype=np.float32)
    maps = AttentionMaps(w, ["a", "dog"], {"key_tokens": ["the", XSS, "mat"]})
    path = tmp_path / "cross.html"
    path.write_text(page(maps, view="head"), encoding="utf-8")
    with sync_playwright() as p:
        b = launch(p)
        try:
            tab = b.new_page()
            errors = []
            tab.on("pageerror", lambda e: errors.append(str(e)))
            tab.goto(path.as_uri())
            keys = tab.locator(".tok[data-side='k']").all_inner_texts()
            queries = tab.locator(".tok[data-side='q']").all_inner_texts()
            assert keys == ["the", SHOWN_XSS, "mat"] and queries == ["a", "dog"]
            tab.locator(".tok[data-side='q'][data-index='1']").click()
            tab.locator(".tok[data-side='k'][data-index='2']").hover()
            assert tab.locator(".hover").inner_text().startswith("dog → mat: head 1 0.333")
            assert errors == []
        finally:
            b.close()


def test_whitespace_tokens_show_visibly_and_the_data_keeps_them():
    t = trace([[1, 2], [3, -4]], tokens=[" ", "a\tb"])
    html = neuron_page(t, 1, 0)
    data = json.loads(re.search(r'type="application/json">(.*?)</script>', html).group(1))
    assert data["queries"] == [" ", "a\tb"] and data["query_labels"] == ["␣", "a⇥b"]
    assert '<option value="0" selected>1: ␣</option>' in neuron_page(t)
    assert "a⇥b · ␣: score = " in html
