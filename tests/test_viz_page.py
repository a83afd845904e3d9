"""The offline HTML views: size, escaping, and (in headless Chromium) interaction."""

import re

import numpy as np
import pytest

from qkv.cli.main import main
from qkv.errors import InputError
from qkv.maps import AttentionMaps
from qkv.viz.page import encode, page

XSS = "<img src=x onerror=alert(1)>"
SHOWN_XSS = "<img␣src=x␣onerror=alert(1)>"  # as labels show it (qkv.viz.labels)


def random_maps(n, layers, heads, tokens=None, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.random((layers, heads, n, n)).astype(np.float32) ** 8
    w = np.tril(w) + 1e-9
    w /= w.sum(-1, keepdims=True)
    return AttentionMaps(w, tokens or [f"t{i}" for i in range(n)])


def _unpack(data, key, dtype):
    import base64

    return np.frombuffer(base64.b64decode(data[key]), dtype)


def test_encoding_keeps_the_strongest_keys_in_thousandths():
    w = np.zeros((1, 1, 2, 3), dtype=np.float32)
    w[0, 0, 0] = [0.7, 0.2954, 0.0046]  # the last is below 0.01: dropped
    w[0, 0, 1] = [0.0, 0.0, 1.0]  # 0 in every head: masked
    data = encode(AttentionMaps(w, ["a", "b"]), top=8)
    assert _unpack(data, "counts", np.uint8).tolist() == [2, 1]
    assert _unpack(data, "idx", np.uint16).tolist() == [0, 1, 2]
    assert _unpack(data, "w", np.uint16).tolist() == [700, 295, 1000]  # round(w, 3) exactly
    assert _unpack(data, "cut", np.uint8).tolist() == [0, 0]
    masked = np.unpackbits(_unpack(data, "masked", np.uint8))[:6].reshape(2, 3)
    assert masked.tolist() == [[0, 0, 0], [1, 1, 0]]


def test_rows_with_more_strong_keys_than_kept_are_flagged():
    w = np.full((1, 2, 1, 20), 0.05, dtype=np.float32)  # head 1: 20 keys of 0.05
    w[0, 1, 0] = [0.9, 0.1] + [0.0] * 18  # head 2: two keys
    data = encode(AttentionMaps(w, ["q"]), top=8)
    assert _unpack(data, "counts", np.uint8).tolist() == [8, 2]
    assert _unpack(data, "cut", np.uint8).tolist() == [1, 0]
    masked = np.unpackbits(_unpack(data, "masked", np.uint8))[:20]
    assert masked.sum() == 0  # head 1 attends everywhere: nothing is masked


def test_views_layer_and_head_are_checked():
    maps = random_maps(4, 2, 3)
    for view in ("model", "head"):
        assert f'"view": "{view}"' in page(maps, view=view, layer=1, head=2)
    with pytest.raises(InputError, match="layer 3, head 1 is outside 2 layers x 3 heads"):
        page(maps, layer=2)
    with pytest.raises(InputError, match="model or head"):
        page(maps, view="grid")


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
    assert '"view": "model", "layer": 0, "head": 0' in out.read_text(encoding="utf-8")
    args = ["viz", "--maps", str(npz), "--view", "head", "--layer", "2", "--head", "3"]
    assert main([*args, "-o", str(out)]) == 0
    assert '"view": "head", "layer": 1, "head": 2' in out.read_text(encoding="utf-8")
    capsys.readouterr()
    assert main([*args[:-1], "4", "-o", str(out)]) == 2
    assert "layer 2, head 4 is outside 2 layers x 3 heads" in capsys.readouterr().err
    trace = tmp_path / "trace.html"
    assert main(["viz", "--view", "trace", "--lang", "en", "-o", str(trace)]) == 0
    assert "0.0634" in trace.read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["viz", "--maps", str(npz), "--view", "head", "-o", str(tmp_path / "x.png")]) == 2
    assert "FILE.html" in capsys.readouterr().err


def _open(browser, tmp_path, maps, **options):
    path = tmp_path / "view.html"
    path.write_text(page(maps, **options), encoding="utf-8")
    tab = browser.new_page()
    dialogs, errors = [], []
    tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.goto(path.as_uri())
    return tab, dialogs, errors


HEAT = "document.querySelector('.heat').toDataURL()"
LINES = "document.querySelector('.lines').toDataURL()"


@pytest.mark.browser
def test_model_view_grid_heatmap_legend_and_hover(browser, tmp_path):
    tokens = [XSS, *[f"w{i}" for i in range(11)]]
    tab, dialogs, errors = _open(browser, tmp_path, random_maps(12, 2, 3, tokens), layer=1, head=2)
    assert tab.locator(".qkv-model-view").count() == 1 and tab.locator(".lines").count() == 0
    assert tab.evaluate("document.querySelector('.heat').dataset.layer") == "1"  # --layer 2
    assert tab.evaluate("document.querySelector('.heat').dataset.head") == "2"  # --head 3
    before = tab.evaluate(HEAT)
    tab.select_option(".controls select.head", "0")
    assert tab.evaluate(HEAT) != before
    tab.locator(".grid canvas[data-layer='0'][data-head='1']").click()
    assert tab.evaluate("document.querySelector('select.layer').value") == "0"
    legend = tab.locator(".legend").inner_text()
    assert "below 0.01" in legend and "masked" in legend
    assert dialogs == [] and errors == [] and tab.locator("img").count() == 0


def _hover_cell(tab, i, j):
    """Move the mouse over cell (i, j) of the heatmap; the line under it."""
    box = tab.evaluate(
        """([i, j]) => { const c = document.querySelector('.heat'), r = c.getBoundingClientRect();
        const n = 3, cell = Math.max(2, Math.min(48, Math.floor(480 / n)));
        const left = c.width - n * cell - 2, top = c.height - n * cell - 2;
        return [r.left + (left + (j + 0.5) * cell) * r.width / c.width,
                r.top + (top + (i + 0.5) * cell) * r.height / c.height]; }""",
        [i, j],
    )
    tab.mouse.move(*box)
    return tab.locator(".hover").inner_text()


@pytest.mark.browser
def test_hover_tells_weights_below_001_and_masked_apart(browser, tmp_path):
    w = np.zeros((1, 1, 3, 3), dtype=np.float32)
    w[0, 0, 0] = [1.0, 0.0, 0.0]
    w[0, 0, 1] = [0.4685, 0.5315, 0.0]
    w[0, 0, 2] = [0.9955, 0.0040, 0.0005]  # below 0.01, not masked
    tab, _, errors = _open(browser, tmp_path, AttentionMaps(w, ["笔", "记", "本"]))
    shown = f"{float(np.float32(0.4685)):.3f}"  # 0.46849998: correctly rounded, 0.468
    assert _hover_cell(tab, 1, 0) == f"记 → 笔: {shown}" and shown == "0.468"
    assert _hover_cell(tab, 2, 1) == "本 → 记: below 0.01"
    assert _hover_cell(tab, 0, 2) == "笔 → 本: masked (0 in every head)"
    assert errors == []


@pytest.mark.browser
def test_head_view_lines_in_each_heads_colour(browser, tmp_path):
    tokens = [XSS, "</script><script>alert(2)</script>", *[f"w{i}" for i in range(10)]]
    tab, dialogs, errors = _open(browser, tmp_path, random_maps(12, 2, 3, tokens), view="head")
    assert tab.locator(".qkv-head-view").count() == 1 and tab.locator(".heat").count() == 0
    colours = tab.evaluate(
        "[...document.querySelectorAll('.chip')].map(b => getComputedStyle(b).borderTopColor)"
    )
    assert len(set(colours)) == 3  # one colour per head
    one = tab.evaluate(LINES)
    tab.locator(".chip[data-head='1']").click()  # head 2 joins head 1
    assert tab.evaluate(LINES) != one
    tab.locator(".tok[data-side='q'][data-index='5']").click()  # only this token's lines
    tab.locator(".tok[data-side='k'][data-index='0']").hover()
    assert tab.locator(".hover").inner_text().startswith(f"w3 → {SHOWN_XSS}: head 1 ")
    assert tab.locator(".tok", has_text=SHOWN_XSS).count() == 2  # text, query side and key side
    tab.select_option("select.layout", "horizontal")
    assert tab.evaluate("document.querySelector('.lines').width") > 12 * 13
    assert tab.locator("img").count() == 0 and dialogs == [] and errors == []


@pytest.mark.browser
def test_trace_page_shows_the_hand_calculation(browser, tmp_path):
    out = tmp_path / "trace.html"
    assert main(["viz", "--view", "trace", "--lang", "en", "-o", str(out)]) == 0
    tab = browser.new_page()
    tab.goto(out.as_uri())
    assert "0.0634" in tab.locator("#step-weights").inner_text()


@pytest.mark.parametrize("k", [1, 3, 8, 19, 20, 25])
def test_the_strongest_keys_are_those_a_stable_sort_keeps_in_its_order(k):
    """argpartition keeps what a stable argsort keeps, in the same order, ties included: on
    weights with many equal values (quantised), a row of all-equal weights, NaN and -0.0."""
    from qkv.viz.page import strongest_keys

    rng = np.random.default_rng(k)
    w = np.round(rng.random((3, 40, 20)) * 8).astype(np.float32) / 8  # many ties
    w[0, 0] = 0.25  # a whole row of equals
    w[0, 1, ::3] = np.nan
    w[1, 2, :5] = -0.0
    want = np.argsort(-w, axis=-1, kind="stable")[..., :k]
    np.testing.assert_array_equal(strongest_keys(w, k), want)


@pytest.mark.parametrize("example", ["bijiben", "search"])
def test_the_hand_calculation_is_in_every_view(tmp_path, capsys, example):
    """`--view head`, `model` and `summary` needed --maps or --model: a preset could not be
    shown there."""
    import json

    from qkv.core.examples import find_example

    weights = find_example(example).trace("en")["weights"]
    for view in ("head", "model"):
        out = tmp_path / f"{view}.html"
        args = ["--example", example, "--lang", "en", "--view", view, "-o", str(out)]
        assert main(["viz", *args]) == 0
        html = out.read_text(encoding="utf-8")
        data = json.loads(re.search(r'id="qkv-data">(.*?)</script>', html).group(1))
        assert (data["layers"], data["heads"], data["n"], data["s"]) == (1, 1, *weights.shape)
        assert data["key_tokens"] == weights.cols and data["tokens"] == weights.rows
        assert "1 layer × 1 head" in html
    capsys.readouterr()
    npz = tmp_path / "preset.npz"
    args = ["viz", "--example", example, "--view", "summary", "--format", "json"]
    assert main([*args, "--save", str(npz)]) == 0
    (head,) = json.loads(capsys.readouterr().out)["heads"]
    assert head["first"] == pytest.approx(weights.matrix[:, 0].mean())
    assert np.allclose(AttentionMaps.load(npz).maps[0, 0], weights.matrix, atol=1e-7)
    assert main(["viz", "--example", example, "--view", "head", "--head", "2", "-o", "h.html"]) == 2
    assert "head 2 is outside 1 layers x 1 heads" in capsys.readouterr().err


def test_a_hand_calculations_mask_travels_with_its_maps(tmp_path):
    """Masked: what the trace's mask says, not every weight that is 0 (here e^-1000 is)."""
    from qkv.core.trace import trace

    t = trace([[1000, 0], [0, 1000], [1, 1]], causal=True, scale="none", heads=1)
    maps = AttentionMaps.from_trace(t)
    assert t["weights"].matrix[1, 0] == 0  # underflowed, not masked
    expected = [[False, True, True], [False, False, True], [False, False, False]]
    assert maps.masked().tolist() == expected
    assert AttentionMaps.load(maps.save(tmp_path / "m.npz")).masked().tolist() == expected
    masked = np.unpackbits(_unpack(encode(maps), "masked", np.uint8))[:9].reshape(3, 3)
    assert masked.tolist() == np.array(expected, dtype=int).tolist()
    two = AttentionMaps.from_trace(trace([[1, 0, 2, 1], [0, 1, 1, 3]], heads=2))
    assert two.maps.shape == (1, 2, 2, 2)
    with pytest.raises(InputError, match="'mask' must be 2 texts of 2 characters"):
        AttentionMaps(two.maps, two.tokens, {"mask": ["10", "1x"]})


def test_page_data_keeps_tokens_and_labels_show_whitespace():
    maps = AttentionMaps(np.full((1, 1, 3, 3), 1 / 3, dtype=np.float32), [" ", "a\n", XSS])
    data = encode(maps)
    assert data["tokens"] == [" ", "a\n", XSS]  # the data: the real tokens
    assert data["labels"] == ["␣", "a⏎", SHOWN_XSS]  # what the view writes (as text)


def _geometry(tab):
    return tab.evaluate(
        """() => { const box = document.querySelector('.headbox').getBoundingClientRect();
        const root = document.querySelector('.qkv-maps').getBoundingClientRect();
        const toks = [...document.querySelectorAll('.tok')];
        return { width: box.width, height: box.height, root: root.width,
          font: Math.min(...toks.map(t => parseFloat(getComputedStyle(t).fontSize))),
          row: Math.min(...toks.map(t => t.getBoundingClientRect().height)),
          clipped: toks.filter(t => t.scrollWidth > t.clientWidth + 1).length }; }"""
    )


@pytest.mark.browser
def test_head_view_is_sized_to_its_window(browser, tmp_path):
    """5 tokens were drawn in about 170 x 90 px of a 1400 px window, in 12 px rows."""
    tokens = ["The", " ", "cat\n", "sat", "[SEP]"]
    path = tmp_path / "head.html"
    path.write_text(page(random_maps(5, 1, 2, tokens), view="head"), encoding="utf-8")
    tab = browser.new_page(viewport={"width": 1400, "height": 900})
    tab.goto(path.as_uri())
    g = _geometry(tab)
    assert g["width"] >= 0.5 * g["root"] and g["height"] >= 5 * 40  # rows of 40+ px
    assert g["font"] >= 14 and g["row"] >= 40 and g["clipped"] == 0
    texts = tab.locator(".tok[data-side='q']").all_inner_texts()
    assert texts == ["The", "␣", "cat⏎", "sat", "[SEP]"]
    assert tab.locator(".headbox .axis-title").all_inner_texts() == ["query", "key"]
    path.write_text(page(random_maps(40, 1, 2), view="head"), encoding="utf-8")
    tab.goto(path.as_uri())
    g = _geometry(tab)
    assert abs(g["width"] - g["root"]) <= 2 and g["font"] >= 12 and g["row"] >= 20
    tab.set_viewport_size({"width": 700, "height": 900})  # a narrower window: redrawn
    tab.wait_for_function("document.querySelector('.headbox').offsetWidth <= 700")
    assert abs(_geometry(tab)["width"] - _geometry(tab)["root"]) <= 2
    tab.select_option("select.layout", "horizontal")
    g = _geometry(tab)
    assert g["font"] >= 12 and g["width"] >= 40 * 16


@pytest.mark.browser
def test_head_view_in_a_notebook_fills_its_output(browser, tmp_path):
    """In Jupyter the views were a static picture; now head_view() draws into the output's
    width, and two views in one notebook stay apart."""
    from qkv.core.examples import find_example
    from qkv.viz.notebook import head_view, model_view

    first = head_view(find_example("bijiben").trace("en"))._repr_html_()
    second = model_view(random_maps(4, 2, 2))._repr_html_()
    cell = '<div class="output" style="width: 640px">{}</div>'
    path = tmp_path / "notebook.html"
    body = cell.format(first) + cell.format(second)
    path.write_text(f"<!DOCTYPE html><meta charset='utf-8'><body>{body}</body>", encoding="utf-8")
    tab = browser.new_page(viewport={"width": 1400, "height": 900})
    errors = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.goto(path.as_uri())
    g = _geometry(tab)
    assert g["root"] == 640 and 320 <= g["width"] <= 640 and g["font"] >= 14
    assert tab.locator(".qkv-head-view .tok[data-side='k']").count() == 3
    assert tab.locator(".qkv-model-view .heat").count() == 1 and errors == []


@pytest.mark.browser
def test_model_view_names_its_axes_and_the_unit_of_its_colours(browser, tmp_path):
    tab, _, errors = _open(browser, tmp_path, random_maps(3, 1, 2, [" ", "b", "c"]))
    titles = tab.locator(".heataxes .axis-title").all_inner_texts()
    assert titles == ["key →", "query →"]
    assert tab.locator(".legend").inner_text().startswith("weight")
    assert _hover_cell(tab, 0, 0).startswith("␣ → ␣: ")
    assert errors == []
