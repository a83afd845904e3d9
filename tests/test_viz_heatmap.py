"""Heatmaps: content, labels, fonts, formats (qkv.viz needs matplotlib, the `viz` extra)."""

import warnings

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from qkv.core.examples import find_example
from qkv.core.trace import trace
from qkv.errors import InputError
from qkv.maps import AttentionMaps
from qkv.viz import fonts
from qkv.viz.heatmap import heatmap, maps_heatmap, save, trace_heatmap


def pixels(path):
    import matplotlib.image

    return matplotlib.image.imread(str(path))


def test_png_pixels_follow_the_matrix(tmp_path):
    a = save(heatmap(np.eye(3), list("abc"), list("abc")), tmp_path / "a.png")
    b = save(heatmap(np.ones((3, 3)) - np.eye(3), list("abc"), list("abc")), tmp_path / "b.png")
    pa, pb = pixels(a), pixels(b)
    assert pa.shape == pb.shape and pa.shape[0] > 100 and pa.shape[1] > 100
    assert np.abs(pa - pb).mean() > 0.005  # different matrices, different pictures
    c = save(heatmap(np.eye(3), list("abc"), list("abc")), tmp_path / "c.png")
    assert np.array_equal(pixels(c), pa)  # and the same matrix, the same picture


def test_svg_keeps_labels_and_values_as_escaped_text(tmp_path):
    t = trace([[1, 0], [0, 1]], tokens=["<script>", "cat"], scale="none")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no CJK here: no warning expected
        path = save(trace_heatmap(t, "weights"), tmp_path / "w.svg")
    svg = path.read_text(encoding="utf-8")
    assert "&lt;script&gt;" in svg and "<script>" not in svg
    assert "cat" in svg and "0.731" in svg and "0.269" in svg  # e/(1+e), 1/(1+e)


def test_chinese_labels_without_a_cjk_font_warn_and_never_draw_boxes(tmp_path, monkeypatch):
    monkeypatch.setattr(fonts, "find_cjk_font", lambda: None)
    t = find_example("笔记本").trace("zh")
    with pytest.warns(fonts.CJKFontWarning, match="fonts-wqy-microhei"):
        fig = trace_heatmap(t, "scores")
    svg = save(fig, tmp_path / "s.svg").read_text(encoding="utf-8")
    assert "U+7B14" in svg and "笔" not in svg  # 笔 as its code point, not an empty box


@pytest.mark.filterwarnings("ignore:Glyph")  # the stand-in font really lacks the glyphs
def test_chinese_labels_with_a_cjk_font_are_drawn_as_text(tmp_path, monkeypatch):
    monkeypatch.setattr(fonts, "find_cjk_font", lambda: "DejaVu Sans")
    t = find_example("笔记本").trace("zh")
    svg = save(trace_heatmap(t, "weights"), tmp_path / "w.svg").read_text(encoding="utf-8")
    assert "笔" in svg and "0.0634" in svg and "DejaVu Sans" in svg


def test_pdf_and_maps(tmp_path):
    maps = AttentionMaps(np.random.default_rng(0).random((2, 3, 4, 4)), list("abcd"))
    path = save(maps_heatmap(maps, 1, 2), tmp_path / "m.pdf")
    assert path.read_bytes().startswith(b"%PDF")
    with pytest.raises(InputError, match="outside 2 layers x 3 heads"):
        maps_heatmap(maps, 2, 0)


def test_bad_requests(tmp_path):
    fig = heatmap(np.eye(2), ["a", "b"], ["a", "b"])
    with pytest.raises(InputError, match=r"\.png, \.svg or \.pdf"):
        save(fig, tmp_path / "x.gif")
    with pytest.raises(InputError, match="does not exist"):
        save(fig, tmp_path / "nowhere" / "x.png")
    with pytest.raises(InputError, match="2x3 labels"):
        heatmap(np.eye(2), ["a", "b"], ["a", "b", "c"])
    t = find_example("笔记本").trace("en")
    with pytest.raises(InputError, match="no step 'nope'"):
        trace_heatmap(t, "nope")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing half-written


def test_cli_viz(tmp_path, capsys):
    from qkv.cli.main import main

    out = tmp_path / "w.svg"
    assert (
        main(["viz", "--example", "笔记本", "--step", "weights", "--lang", "en", "-o", str(out)])
        == 0
    )
    assert "0.0634" in out.read_text(encoding="utf-8")
    err = capsys.readouterr().err
    if fonts.find_cjk_font() is None:
        assert err.startswith("qkv viz: warning: no CJK font found") and err.count("\n") == 1
    maps = AttentionMaps(np.full((1, 2, 3, 3), 1 / 3), list("xyz"))
    npz = maps.save(tmp_path / "m.npz")
    png = tmp_path / "m.png"
    assert main(["viz", "--maps", str(npz), "--layer", "1", "--head", "2", "-o", str(png)]) == 0
    assert pixels(png).shape[0] > 100
    capsys.readouterr()
    assert main(["viz", "--maps", str(npz), "--head", "3", "-o", str(png)]) == 2
    assert "outside 1 layers x 2 heads" in capsys.readouterr().err
    assert main(["viz", "--step", "nope", "-o", str(png)]) == 2


def texts_outside(fig) -> list[str]:
    """The drawn texts (visible tick labels, axis titles, title) that reach past the picture."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    ax = fig.axes[0]
    (x0, x1), (y1, y0) = ax.get_xlim(), ax.get_ylim()
    ticks = [t for t in ax.get_xticklabels() if x0 <= t.get_position()[0] <= x1]
    ticks += [t for t in ax.get_yticklabels() if y0 <= t.get_position()[1] <= y1]
    bad = []
    for t in [*ticks, ax.xaxis.label, ax.yaxis.label, ax.title]:
        b = t.get_window_extent(renderer)
        if t.get_text() and (b.x0 < 0 or b.y0 < 0 or b.x1 > width or b.y1 > height):
            bad.append(t.get_text())
    return bad


@pytest.mark.parametrize("n", [3, 5, 8, 20])
def test_labels_stay_inside_the_picture(n):
    """'[CLS]' was drawn as 'CLS]': the row labels' first pixels fell off the left edge."""
    tokens = ["[CLS]", *(f"w{i}" for i in range(n - 2)), "[SEP]"]
    maps = AttentionMaps(np.full((1, 1, n, n), 1 / n), tokens)
    assert texts_outside(maps_heatmap(maps, 0, 0)) == []
    t = trace(np.eye(n)[:, :3].tolist(), tokens=tokens, scale="none")
    assert texts_outside(trace_heatmap(t, "weights")) == []


def test_axes_say_which_are_queries_and_keys():
    t = find_example("笔记本").trace("en")
    for step, rows, cols in [
        ("weights", "query", "key"),
        ("scores", "query", "key"),
        ("x", "token", "dimension"),
        ("output", "query", "dimension"),
    ]:
        ax = trace_heatmap(t, step).axes[0]
        assert (ax.get_ylabel(), ax.get_xlabel()) == (rows, cols), step
        assert ax.xaxis.get_label_position() == "top"  # over the key labels
    maps = AttentionMaps(np.full((1, 1, 2, 2), 0.5), ["a", "b"])
    ax = maps_heatmap(maps, 0, 0).axes[0]
    assert (ax.get_ylabel(), ax.get_xlabel()) == ("query", "key")


def test_chinese_scores_with_a_real_cjk_font_draw_every_glyph(tmp_path, capsys):
    """Kᵀ's ᵀ is not in WenQuanYi: it comes from the fallback font, with no missing-glyph
    warning (which matplotlib printed with its file path)."""
    if fonts.find_cjk_font() is None:
        pytest.skip("no CJK font installed (Debian: fonts-wqy-microhei)")
    from qkv.cli.main import main

    t = find_example("笔记本").trace("zh")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        save(trace_heatmap(t, "scores"), tmp_path / "s.png")
        save(trace_heatmap(t, "scores"), tmp_path / "s.pdf")
    assert [str(w.message) for w in caught] == []
    out = tmp_path / "cli.png"
    assert main(["viz", "--step", "scores", "--lang", "zh", "-o", str(out)]) == 0
    assert capsys.readouterr().err == ""


def test_fonts_installed_after_matplotlib_built_its_cache_are_found(monkeypatch):
    """apt-get install fonts-wqy-microhei after pip install matplotlib: the cache lacks it."""
    from matplotlib import font_manager

    if fonts.find_cjk_font() is None:
        pytest.skip("no CJK font installed (Debian: fonts-wqy-microhei)")
    everything = font_manager.fontManager.ttflist

    def cjk(name: str) -> bool:  # any family find_cjk_font takes (a machine may have several)
        return name in fonts.CJK_FAMILIES or "CJK" in name or "Han" in name.split()

    cjk_files = {f.fname for f in everything if cjk(f.name)}
    stale = font_manager.FontManager.__new__(font_manager.FontManager)
    stale.__dict__.update(font_manager.fontManager.__dict__)
    stale.ttflist = [f for f in everything if f.fname not in cjk_files]  # as a stale cache
    monkeypatch.setattr(font_manager, "fontManager", stale)
    fonts.find_cjk_font.cache_clear()
    try:
        found = fonts.find_cjk_font()
        assert found is not None
        readded = {f.fname for f in stale.ttflist if f.name == found}
        assert readded and readded <= cjk_files  # added from the system's fonts
    finally:
        fonts.find_cjk_font.cache_clear()


def colour_bar(fig):
    """The colour bar's axes (the picture's second), or None when there is none."""
    return fig.axes[1] if len(fig.axes) > 1 else None


def _picture_kinds():
    """(name, figure maker, rows, columns, colour-bar unit) for every kind qkv draws."""
    from qkv.losslog import Row
    from qkv.viz.loss import loss_figure
    from qkv.viz.summary import summary_figure

    causal = trace([[1, 0, 2], [0, 1, 1], [1, 1, 0]], causal=True, heads=1)
    heads = trace([[1, 0, 2, 1], [0, 1, 1, 3]], heads=2, wo=np.eye(4).tolist())
    search = find_example("search").trace("en")
    maps = AttentionMaps(np.full((2, 3, 3, 3), 1 / 3), list("abc"))
    kinds = [
        ("weights", lambda: trace_heatmap(causal, "weights"), "query", "key", "weight"),
        ("scores", lambda: trace_heatmap(causal, "scores"), "query", "key", "score"),
        ("scaled", lambda: trace_heatmap(causal, "scaled"), "query", "key", "scaled score"),
        ("masked", lambda: trace_heatmap(causal, "masked"), "query", "key", "score after the mask"),
        ("x", lambda: trace_heatmap(causal, "x"), "token", "dimension", "entry"),
        ("q", lambda: trace_heatmap(causal, "q"), "query", "dimension", "entry"),
        ("k", lambda: trace_heatmap(causal, "k"), "key", "dimension", "entry"),
        ("v", lambda: trace_heatmap(causal, "v"), "key", "dimension", "entry"),
        ("h2.q", lambda: trace_heatmap(heads, "h2.q"), "query", "dimension", "entry"),
        ("h2.weights", lambda: trace_heatmap(heads, "h2.weights"), "query", "key", "weight"),
        ("wo", lambda: trace_heatmap(heads, "wo"), "input dimension", "output dimension", "entry"),
        ("weighted", lambda: trace_heatmap(search, "weighted"), "key", "dimension", "entry"),
        ("maps", lambda: maps_heatmap(maps, 1, 2), "query", "key", "weight"),
    ]
    units = {"entropy": "bits", "first": "weight", "previous": "weight", "same": "weight"}
    units["distance"] = "tokens"
    for measure, unit in units.items():
        maker = lambda m=measure: summary_figure(maps, m)  # noqa: E731
        kinds.append((f"summary {measure}", maker, "layer", "head", unit))
    rows = [Row(10, 2.5, 2.6, 1000.0, 1.0), Row(20, 2.0, 2.2, 1000.0, 2.0)]
    kinds.append(("loss", lambda: loss_figure(rows), "loss (cross-entropy, nats)", "step", None))
    return kinds


@pytest.mark.parametrize("kind", _picture_kinds(), ids=lambda k: k[0])
def test_every_picture_names_its_axes_and_the_unit_of_its_colours(kind):
    """The entropy summary's axes read "key" and "query" (they are heads and layers), and no
    colour bar said what its colours measure."""
    _, make, rows, cols, unit = kind
    fig = make()
    ax = fig.axes[0]
    assert (ax.get_ylabel(), ax.get_xlabel()) == (rows, cols)
    bar = colour_bar(fig)
    if unit is None:
        assert bar is None
    else:
        assert unit in bar.get_ylabel()


def _cell_texts(fig) -> dict[tuple[int, int], str]:
    """The digits written on each cell, by (row, column)."""
    ax = fig.axes[0]
    return {
        (round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts
    }


def test_masked_cells_are_drawn_as_masked_never_as_a_weight_of_zero(tmp_path):
    """A causal mask's cells were coloured and printed "0.00" like a real near-zero weight."""
    t = trace([[1, 0, 2], [0, 1, 1], [1, 1, 0]], causal=True, tokens=list("abc"))
    w = np.zeros((1, 1, 3, 3), dtype=np.float32)
    w[0, 0] = [[1, 0, 0], [0.999, 0.001, 0], [0.5, 0.25, 0.25]]  # 0.001: a real weight
    maps = AttentionMaps(w, list("abc"))
    for fig, masked_text in [
        (trace_heatmap(t, "weights"), ""),
        (trace_heatmap(t, "masked"), "-∞"),  # the masked scores keep their -∞
        (maps_heatmap(maps, 0, 0), ""),
    ]:
        texts = _cell_texts(fig)
        for i, j in [(0, 1), (0, 2), (1, 2)]:
            assert texts[i, j] == masked_text
        assert texts[2, 0] not in ("", "-∞")
        ax = fig.axes[0]
        assert [x.get_text() for x in ax.get_legend().get_texts()] == ["masked"]
        assert ax.images[0].get_array().mask.tolist() == [[0, 1, 1], [0, 0, 1], [0, 0, 0]]
        hatched = [p for p in ax.patches if p.get_hatch()]
        assert len(hatched) == 2  # a run a row: (0, 1..2) and (1, 2)
    assert _cell_texts(maps_heatmap(maps, 0, 0))[1, 1] == "0.00"  # small, not masked
    png = save(maps_heatmap(maps, 0, 0), tmp_path / "m.png")
    from qkv.viz.heatmap import MASKED_COLOUR

    assert MASKED_COLOUR.lower() == "#d4d4d4"
    grey = np.array([0xD4, 0xD4, 0xD4]) / 255
    picture = pixels(png)[..., :3]
    assert (np.abs(picture - grey).max(axis=-1) < 0.01).sum() > 1000  # grey cells are drawn


def test_unmasked_maps_and_summaries_have_no_masked_legend():
    maps = AttentionMaps(np.full((1, 1, 2, 2), 0.5), ["a", "b"])
    assert maps_heatmap(maps, 0, 0).axes[0].get_legend() is None


def test_dpi_sets_the_pixels_and_bad_values_are_one_line(tmp_path, capsys):
    from qkv.cli import viz as cli_viz
    from qkv.cli.main import main
    from qkv.viz import heatmap as hm

    assert (cli_viz.DEFAULT_DPI, cli_viz.MIN_DPI, cli_viz.MAX_DPI) == (
        hm.DEFAULT_DPI,
        hm.MIN_DPI,
        hm.MAX_DPI,
    )
    default, low = tmp_path / "d.png", tmp_path / "l.png"
    assert main(["viz", "--step", "weights", "--lang", "en", "-o", str(default)]) == 0
    assert main(["viz", "--step", "weights", "--lang", "en", "--dpi", "75", "-o", str(low)]) == 0
    h, w = pixels(default).shape[:2]
    assert w >= 500  # a 3 x 3 heatmap at the default 150 dpi (it was 333 px at 100)
    lh, lw = pixels(low).shape[:2]
    assert abs(lh - h / 2) <= 1 and abs(lw - w / 2) <= 1
    capsys.readouterr()
    for args, message in [
        (["--dpi", "10", "-o", str(tmp_path / "x.png")], "--dpi 10: choose 50 to 600"),
        (["--view", "trace", "--dpi", "200", "-o", str(tmp_path / "x.html")], "for pictures"),
    ]:
        assert main(["viz", *args]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err
    big = AttentionMaps(np.full((1, 1, 256, 256), 1 / 256, dtype=np.float32), ["t"] * 256)
    with pytest.raises(InputError, match="choose a lower --dpi"):
        save(maps_heatmap(big, 0, 0), tmp_path / "big.png", dpi=600)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.png", "l.png"]


def test_whitespace_tokens_are_drawn_visibly_and_saved_as_they_are(tmp_path):
    """A character-level model's " " and "\\n" were blank labels (and "\\n" a box)."""
    tokens = [" ", "\n", "a b", "\t", "x"]
    maps = AttentionMaps(np.full((1, 1, 5, 5), 0.2, dtype=np.float32), tokens)
    ax = maps_heatmap(maps, 0, 0).axes[0]
    shown = ["␣", "⏎", "a␣b", "⇥", "x"]
    assert [t.get_text() for t in ax.get_yticklabels()] == shown
    assert [t.get_text() for t in ax.get_xticklabels()] == shown
    t = trace(np.eye(2).tolist(), tokens=["é ", "\r\n"])
    ax = trace_heatmap(t, "weights").axes[0]
    assert [x.get_text() for x in ax.get_yticklabels()] == ["é␣", "⏎"]
    again = AttentionMaps.load(maps.save(tmp_path / "m.npz"))
    assert again.tokens == tokens  # the data keeps the real tokens


def test_every_whitespace_character_gets_a_mark():
    import sys

    from qkv.viz.labels import visible

    spaces = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    assert all(visible(c) in ("␣", "⏎", "⇥") for c in spaces)
    assert visible("a\r\nb\u3000c\u2028") == "a⏎b␣c⏎"
    assert visible("<b>&") == "<b>&"  # nothing else changes; escaping is the writer's


def test_warnings_become_lines_but_not_another_codes_unclosed_files(capsys):
    """A ResourceWarning collected during a picture (a file some earlier code left open) is
    not the picture's warning; matplotlib's and qkv's are."""
    import warnings

    from qkv.cli.viz import warnings_as_lines

    with warnings_as_lines():
        warnings.warn("unclosed file <_io.TextIOWrapper name=14>", ResourceWarning, stacklevel=1)
        warnings.warn("no CJK font found", UserWarning, stacklevel=1)
    assert capsys.readouterr().err == "qkv viz: warning: no CJK font found\n"
