import math

import numpy as np
import pytest

from qkv.maps import AttentionMaps
from qkv.viz.summary import summarise


def test_known_heads():
    n = 4
    first = np.zeros((n, n))
    first[:, 0] = 1  # everything on the first token
    previous = np.eye(n, k=-1)
    previous[0, 0] = 1  # the first token can only see itself
    uniform = np.tril(np.ones((n, n)))
    uniform /= uniform.sum(-1, keepdims=True)
    maps = AttentionMaps(np.stack([np.stack([first, previous, uniform])]), list("abcd"))
    a, b, c = summarise(maps)
    assert (a.layer, a.head) == (1, 1) and a.first == 1 and a.entropy == 0
    assert a.distance == pytest.approx((0 + 1 + 2 + 3) / 4)
    assert b.previous == 1 and b.same == 0.25 and b.distance == pytest.approx(0.75)
    # query i spreads evenly over i + 1 keys: entropy log2(i + 1)
    assert c.entropy == pytest.approx(np.mean([math.log2(k) for k in range(1, n + 1)]))
    assert c.same == pytest.approx(np.mean([1 / k for k in range(1, n + 1)]))


def test_cli_summary(tmp_path, capsys):
    import json

    from qkv.cli.main import main

    npz = AttentionMaps(np.full((2, 2, 3, 3), 1 / 3), list("xyz")).save(tmp_path / "m.npz")
    assert main(["viz", "--maps", str(npz), "--view", "summary", "--format", "json"]) == 0
    heads = json.loads(capsys.readouterr().out)["heads"]
    assert len(heads) == 4 and heads[0]["entropy"] == pytest.approx(math.log2(3))
    assert main(["viz", "--model", "minilm", "--view", "summary"]) == 2
    assert "--model needs --text" in capsys.readouterr().err


def test_cli_summary_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from qkv.cli.main import main

    npz = AttentionMaps(np.full((2, 2, 3, 3), 1 / 3), list("xyz")).save(tmp_path / "m.npz")
    plot = tmp_path / "entropy.svg"
    assert main(["viz", "--maps", str(npz), "--view", "summary", "-o", str(plot)]) == 0
    svg = plot.read_text(encoding="utf-8")
    assert "entropy per head" in svg and "1.58" in svg and "L2" in svg and "H2" in svg


def test_maps_display_in_jupyter_without_scripts():
    maps = AttentionMaps(np.full((1, 2, 2, 2), 0.5), ["<img src=x onerror=alert(1)>", "b"])
    html = maps._repr_html_()
    assert "&lt;img␣src=x␣onerror=alert(1)&gt;" in html and "<script" not in html
    assert "onerror=alert(1)>" not in html.replace("&gt;", "")  # the label stays text
    assert html.count("<tr>") == 3  # header + two heads
    try:
        import matplotlib  # noqa: F401
    except ImportError:  # no picture without matplotlib, but the table and tokens still show
        assert "<img" not in html
    else:
        assert "data:image/png;base64," in html


def test_cli_summary_explains_its_columns(tmp_path, capsys):
    """first/previous/same/distance are said in words under the table and in --help."""
    from qkv.cli.main import build_parser, main

    npz = AttentionMaps(np.full((1, 2, 3, 3), 1 / 3), list("xyz")).save(tmp_path / "m.npz")
    assert main(["viz", "--maps", str(npz), "--view", "summary"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].split()[:3] == ["layer", "head", "entropy"] and len(out) == 5
    legend = out[-1]
    for column in ("entropy:", "first, previous, same:", "distance:", "just before", "own token"):
        assert column in legend
    sub = build_parser()._subparsers._group_actions[0].choices["viz"]  # type: ignore[union-attr]
    assert "previous" in (sub.epilog or "") and "distance" in sub.format_help()
