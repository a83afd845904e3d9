import json
import os
import subprocess
import sys

import pytest

from qkv.cli.main import main


def run(capsys, *args):
    code = main(["explain", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_default_is_the_article_example_with_corrected_values(capsys):
    code, out, err = run(capsys, "--lang", "en")
    assert code == 0 and err == ""
    assert "0.0634" in out and "0.064 " not in out
    assert "1·1 + 2·2 + 1·1 + 2·2 + 1·1 = 11" in out
    assert "e^0 / (e^0 + e^-2 + e^0) = 0.468" in out
    assert "0.992" in out and "0.869" in out  # the 1/sqrt(d_k) contrast
    assert "Scores" in out


def test_chinese(capsys):
    code, out, _ = run(capsys, "--lang", "zh")
    assert code == 0 and "相似度" in out and "注意力权重" in out


def test_search_example_ranks_products(capsys):
    code, out, _ = run(capsys, "--example", "search", "--lang", "en")
    assert code == 0
    assert out.index("laptop") < out.index("desk lamp")
    assert "Ranking" in out


def test_list_examples(capsys):
    code, out, _ = run(capsys, "--list-examples", "--lang", "en")
    assert code == 0 and "笔记本" in out and "search" in out


def test_user_matrix_is_scaled_by_default(capsys):
    code, out, _ = run(capsys, "--x", "[[1,0],[0,1]]", "--tokens", "a,b", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["scale"] == pytest.approx(2**-0.5)
    assert [s["id"] for s in data["steps"]][-3:] == ["scaled", "weights", "output"]


def test_every_format_to_a_file(tmp_path, capsys):
    for fmt, needle in (
        ("markdown", "| 本 | 11 | 9 | 16 |"),
        ("latex", r"\begin{array}"),
        ("html", "<!DOCTYPE html>"),
        ("json", '"schema": "qkv.trace/1"'),
        ("text", "0.0634"),
    ):
        target = tmp_path / f"out.{fmt}"
        code, out, _ = run(capsys, "--format", fmt, "-o", str(target))
        assert code == 0 and out == ""
        assert needle in target.read_text(encoding="utf-8")


def test_input_files(tmp_path, capsys):
    csv = tmp_path / "x.csv"
    csv.write_text("笔,1,2,1,2,1\n记,1,1,1,2,1\n本,3,2,1,1,1\n", encoding="utf-8")
    code, out, _ = run(capsys, "--input", str(csv), "--scale", "none", "--format", "json")
    data = json.loads(out)
    weights = next(s for s in data["steps"] if s["id"] == "weights")
    assert weights["rows"] == ["笔", "记", "本"]
    assert round(weights["matrix"][1][1], 4) == 0.1554
    brackets = tmp_path / "x.txt"
    brackets.write_text("[1, 2]\n[3, 4]\n", encoding="utf-8")
    assert run(capsys, "--input", str(brackets))[0] == 0
    cross = tmp_path / "cross.json"
    cross.write_text(
        json.dumps(
            {"q": [[1, 0]], "k": [[1, 0], [0, 1]], "v": [[5], [7]], "key_tokens": ["a", "b"]}
        ),
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "--input", str(cross), "--format", "json")
    assert code == 0 and json.loads(out)["steps"][0]["id"] == "q"


def test_cross_attention_and_projections(capsys):
    code, out, _ = run(
        capsys,
        "--q",
        "[[1,0]]",
        "--k",
        "[[1,0],[0,1]]",
        "--v",
        "[[5],[7]]",
        "--scale",
        "none",
        "--format",
        "json",
    )
    assert code == 0
    out_step = json.loads(out)["steps"][-1]
    e = 2.718281828459045
    assert out_step["matrix"][0][0] == pytest.approx((5 * e + 7) / (e + 1))
    _, out, _ = run(
        capsys,
        "--x",
        "[[1,2],[3,4]]",
        "--wq",
        "[[1,0],[0,1]]",
        "--wk",
        "[[2,0],[0,2]]",
        "--format",
        "json",
    )
    assert [s["id"] for s in json.loads(out)["steps"]][:5] == ["x", "wq", "wk", "q", "k"]


def test_masks(tmp_path, capsys):
    code, out, _ = run(capsys, "--mask", "causal", "--lang", "en", "--expand", "1,2")
    assert code == 0 and "masked: 0" in out and "-∞" in out
    mask = tmp_path / "m.csv"
    mask.write_text("1,0,0\n0,0,0\n1,1,1\n")
    code, out, _ = run(capsys, "--mask", str(mask), "--format", "json")
    weights = next(s for s in json.loads(out)["steps"] if s["id"] == "weights")
    assert weights["matrix"][1] == [0, 0, 0] and weights["matrix"][0] == [1, 0, 0]


def test_expand_by_token_label(capsys):
    code, out, _ = run(capsys, "--expand", "本,笔", "--lang", "en")
    assert code == 0 and "3·1 + 2·2 + 1·1 + 1·2 + 1·1 = 11" in out
    assert "e^-5 / (e^-5 + e^-7 + e^0) = 0.00669" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--x", "[[1,2],[3]]"], "--x row 2 has 1 number, expected 2"),
        (["--x", "1,2\n3,x"], "--x row 2, column 2: 'x' is not a number"),
        (["--x", "[]"], "--x is empty"),
        (["--x", "[[1,NaN]]"], "NaN"),
        (["--x", "[[1,2]]", "--wq", "[[1],[2],[3]]"], "X has 2 columns, W_Q has 3 rows"),
        (["--x", "[[1,2]]", "--tokens", "a,b"], "2 tokens given for 1 row of X"),
        (["--x", "[[" + ",".join(["1"] * 3) + "]]" + "", "--expand", "2,1"], "out of range"),
        (["--x", "[" + ",".join(["[1,2]"] * 65) + "]"], "too large for a table"),
        (["--digits", "0"], "--digits"),
        (["--expand", "1"], "ROW,COL"),
        (["--example", "nope"], "unknown example"),
        (["--scale", "zero"], "scale must be"),
        (["--input", "/nonexistent/file.csv"], "does not exist"),
        (["--wq", "[[1]]"], "--wq needs --x"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("qkv explain: error: ")
    assert message in err
    assert out == ""


def test_bad_mask_and_binary_files(tmp_path, capsys):
    mask = tmp_path / "m.csv"
    mask.write_text("1,0\n0,1\n")
    code, _, err = run(capsys, "--mask", str(mask))
    assert code == 2 and "mask is 2x2, expected 3x3" in err
    mask.write_text("1,0,0.5\n0,1,1\n1,1,1\n")
    code, _, err = run(capsys, "--mask", str(mask))
    assert code == 2 and "use 0 or 1" in err
    binary = tmp_path / "x.bin"
    binary.write_bytes(b"\x00\x01\x02garbage")
    code, _, err = run(capsys, "--input", str(binary))
    assert code == 2 and "binary" in err


def test_json_is_allowed_for_large_inputs(capsys):
    rows = "[" + ",".join(["[1,2]"] * 100) + "]"
    code, out, _ = run(capsys, "--x", rows, "--format", "json")
    assert code == 0 and len(json.loads(out)["steps"][-1]["matrix"]) == 100


def test_nothing_half_written_on_error(tmp_path, capsys):
    target = tmp_path / "keep.md"
    target.write_text("old")
    code, _, _ = run(capsys, "--x", "[[1,2],[3]]", "--format", "markdown", "-o", str(target))
    assert code == 2 and target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_module_entry_point_has_no_traceback_and_no_torch():
    probe = (
        "import sys; from qkv.cli.main import main; code = main(sys.argv[1:]); "
        "print('HEAVY', [m for m in ('torch', 'matplotlib', 'transformers') "
        "if m in sys.modules]); sys.exit(code)"
    )
    ok = subprocess.run(
        [sys.executable, "-c", probe, "explain"], capture_output=True, text=True, encoding="utf-8"
    )
    assert ok.returncode == 0 and "HEAVY []" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "qkv", "explain", "--x", "[[1,2],[3]]"],
        capture_output=True,
        text=True,
        encoding="utf-8",
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip() == "qkv explain: error: --x row 2 has 1 number, expected 2"


def test_import_qkv_is_light():
    probe = (
        "import sys, qkv; qkv.explain(); "
        "print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "[]"


def test_csv_with_a_header_row_and_fractions(tmp_path, capsys):
    csv = tmp_path / "x.csv"
    csv.write_text("token,d1,d2,d3\n我,1,0,1/3\n爱,0,2,0\n", encoding="utf-8")
    code, out, err = run(capsys, "--input", str(csv), "--format", "json")
    assert code == 0, err
    x = json.loads(out)["steps"][0]
    assert x["rows"] == ["我", "爱"] and x["cols"] == ["d1", "d2", "d3"]
    assert x["exact"][0][2] == "1/3"
    assert "first row of" in err and "column names (d1, d2, d3)" in err
    assert "first column of" in err and "token labels (我, 爱)" in err


def test_wq_alone_names_the_missing_projection(tmp_path, capsys):
    """K = X without W_K (the article's convention): a W_Q that changes the width needs W_K."""
    w = "[[1,0],[0,1],[1,1]]"
    code, _, err = run(capsys, "--x", "[[1,0,1],[0,2,0]]", "--wq", w, "--scale", "none")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "K = X has 3" in err and "give W_K too (K = X·W_K, 3 x 2)" in err
    x = "[[1,0,1],[0,2,0]]"
    code, _, err = run(capsys, "--x", x, "--wq", w, "--wk", w, "--scale", "none")
    assert code == 0, err


@pytest.mark.parametrize(
    ("locale", "lang", "expected"),
    [
        ("zh_CN.UTF-8", None, "注意力"),
        ("en_US.UTF-8", None, "Attention, step by step"),
        ("zh_CN.UTF-8", "en", "Attention, step by step"),
        ("en_US.UTF-8", "zh", "注意力"),
    ],
)
def test_python_explain_follows_the_locale_like_the_cli(monkeypatch, locale, lang, expected):
    """print(qkv.explain()) speaks the CLI's language (the locale) unless lang= says otherwise;
    and it is the hand calculation as text, not a dataclass dump."""
    import qkv

    for var in ("LC_ALL", "LC_MESSAGES", "LANGUAGE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", locale)
    t = qkv.explain() if lang is None else qkv.explain(lang=lang)
    text = str(t)
    assert expected in text.splitlines()[0]
    assert "Step(" not in text and "array(" not in text
    assert expected in (t._repr_html_() or "")
    cli = subprocess.run(
        [sys.executable, "-m", "qkv", "explain", *(["--lang", lang] if lang else [])],
        capture_output=True,
        text=True,
        env={**os.environ, "LANG": locale},
        timeout=60,
        check=False,
    )
    assert expected in cli.stdout.splitlines()[0]


NOTEBOOK = [[1, 2, 1, 2, 1], [1, 1, 1, 2, 1], [3, 2, 1, 1, 1]]


@pytest.mark.parametrize(
    "spec, structure",
    [
        ("window:1", {"window": 1}),
        ("causal+window:1,0", {"causal": True, "window": (1, 0)}),
        ("causal-top-left+window:0,1", {"causal": "top_left", "window": (0, 1)}),
        ("length:2", {"lengths": [2]}),
        ("documents:0,0,1", {"document_ids": [0, 0, 1]}),
        (
            "causal+documents:0,1,1+length:2",
            {"causal": True, "document_ids": [0, 1, 1], "lengths": [2]},
        ),
    ],
)
def test_structured_masks_are_the_float64_cores(capsys, spec, structure):
    """--mask window:..., length:..., documents:... give the weights of qkv.core.attention
    with the same structured arguments (the one definition of the masks)."""
    import numpy as np

    from qkv.core.attention import attention

    code, out, err = run(capsys, "--mask", spec, "--format", "json")
    assert code == 0 and err == ""
    steps = {s["id"]: s for s in json.loads(out)["steps"]}
    x = np.array(NOTEBOOK, dtype=float)
    _, want = attention(x, x, x, scale="none", return_weights=True, **structure)
    assert np.allclose(steps["weights"]["matrix"], want, atol=1e-12)
    masked = steps["masked"]
    assert np.array_equal(masked["mask"], want > 0)  # masked exactly where it may not look
    nulls = [[v is None for v in row] for row in masked["matrix"]]  # -∞ in JSON
    assert nulls == (want == 0).tolist()


def test_window_is_explained_in_text(capsys):
    code, out, _ = run(capsys, "--mask", "window:1", "--lang", "en", "--expand", "1,3")
    assert code == 0 and "-∞" in out and "masked: 0" in out


@pytest.mark.parametrize(
    "spec, message",
    [
        ("window:x", "'window:x' needs whole numbers"),
        ("window:1,2,3", "window takes W or LEFT,RIGHT"),
        ("window:-1", "needs numbers 0 or more"),
        ("causal+causal", "causal is given twice"),
        ("window:1+nope", "'nope' is not causal"),
        ("documents:0,1", "2 document ids given for 3 keys"),
    ],
)
def test_bad_structured_masks(capsys, spec, message):
    code, _, err = run(capsys, "--mask", spec)
    assert code == 2 and message in err and err.count("\n") == 1


def test_a_mask_inline_or_a_mistyped_mask_word(capsys):
    """--mask takes a matrix inline as --x does; a word that is no mask word says so, not
    that a file is missing."""
    args = ["explain", "--x", "[[1,2],[3,4]]", "--mask", "[[1,0],[1,1]]", "--lang", "en"]
    assert main([*args, "--format", "markdown"]) == 0
    assert "| t1 | 3.54 | -∞ |" in capsys.readouterr().out  # t1 may not see t2
    assert main(["explain", "--mask", "causl"]) == 2
    err = capsys.readouterr().err
    assert "'causl' is neither a mask's words" in err and "does not exist" not in err
