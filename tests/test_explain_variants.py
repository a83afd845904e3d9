"""qkv explain --heads/--wo, --lengths and --score additive: held against qkv.nn, plain loops
(tests/plain.py) and exact arithmetic, in every format."""

import json
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qkv.cli.main import main
from qkv.core.attention import attention
from qkv.core.examples import find_example
from qkv.core.trace import Trace, trace
from qkv.errors import InputError
from qkv.render import render
from tests.plain import plain_attention

X4 = [[1, 0, 2, -1], [0, 1, 1, 1], [2, 1, 0, 1]]
WQ = [[1, 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0], [0, 0, 1, 1]]
WK = [[0, 1, 1, 0], [1, 0, 0, 1], [1, 0, 1, 0], [0, 1, 0, 0]]
WV = [[1, 2, 0, 0], [0, 1, 0, 1], [1, 0, 1, 0], [0, 0, 2, 1]]
WO = [[1, 0, 0, 1], [0, 1, 1, 0], [1, 1, 0, 0], [0, 0, 1, 1]]


def run(capsys, *args):
    code = main(["explain", *args])
    out, err = capsys.readouterr()
    return code, out, err


def plain_multi_head(x, wq, wk, wv, wo, heads, allowed=None):
    """Multi-head attention with loops: project, slice, attend per head, concatenate, W_O."""

    def mm(a, b):
        return [
            [sum(a[i][t] * b[t][j] for t in range(len(b))) for j in range(len(b[0]))]
            for i in range(len(a))
        ]

    q, k, v = mm(x, wq), mm(x, wk), mm(x, wv)
    dh = len(q[0]) // heads
    concat = [[] for _ in x]
    for h in range(heads):
        cols = slice(h * dh, (h + 1) * dh)
        out, _ = plain_attention(
            [r[cols] for r in q],
            [r[cols] for r in k],
            [r[cols] for r in v],
            1 / math.sqrt(dh),
            allowed,
        )
        for row, part in zip(concat, out, strict=True):
            row.extend(part)
    return mm(concat, wo) if wo is not None else concat


# -- multi-head ---------------------------------------------------------------------------


def test_heads_split_columns_and_concatenate_against_plain_loops():
    t = trace(X4, wq=WQ, wk=WK, wv=WV, wo=WO, heads=2)
    assert t.heads == 2 and t.d_k == 2 and t.scale == pytest.approx(2**-0.5)
    for h in (1, 2):
        assert f"h{h}.scores" in t and f"h{h}.weights" in t and f"h{h}.output" in t
    np.testing.assert_array_equal(t["h2.q"].matrix, t["q"].matrix[:, 2:])
    assert t["h2.q"].cols == ["3", "4"]
    np.testing.assert_allclose(t["concat"].matrix[:, :2], t["h1.output"].matrix)
    expected = plain_multi_head(X4, WQ, WK, WV, WO, 2)
    np.testing.assert_allclose(t.output, expected, rtol=1e-12, atol=1e-12)
    assert t.ids[-3:] == ["concat", "wo", "output"]


def test_head_scores_stay_exact():
    t = trace(X4, wq=WQ, wk=WK, wv=WV, heads=2)
    q, k = np.array(X4) @ np.array(WQ), np.array(X4) @ np.array(WK)
    assert t["h2.scores"].exact[0, 1] == Fraction(int(q[0, 2:] @ k[1, 2:]))
    assert t.ids[-1] == "output" and t["output"].formula == "O = [O₁ | O₂]"


def _torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize(
    "heads, preset",
    [(5, True), (1, True), (2, False), (4, False)],
)
def test_multi_head_trace_agrees_with_nn_multihead_attention_in_float64(heads, preset):
    torch = _torch()
    from qkv.nn import MultiHeadAttention

    if preset:  # the article's 笔记本: X is 3 x 5, Q = K = V = X (identity projections)
        example = find_example("笔记本")
        x = np.array(example.args["x"], dtype=np.float64)
        d = x.shape[1]
        wq = wk = wv = np.eye(d)
        wo = np.arange(d * d, dtype=np.float64).reshape(d, d) % 3 - 1
        t = example.trace("en", scale="sqrt", heads=heads, wo=wo.tolist())
    else:
        x = np.array(X4, dtype=np.float64)
        wq, wk, wv, wo = (np.array(w, dtype=np.float64) for w in (WQ, WK, WV, WO))
        t = trace(x, wq=WQ, wk=WK, wv=WV, wo=WO, heads=heads)
    d = x.shape[1]
    mha = MultiHeadAttention(d, heads, bias=False, dtype=torch.float64).eval()
    with torch.no_grad():  # nn.Linear computes x Wᵀ: its weights are ours transposed
        mha.qkv_proj.weight.copy_(torch.from_numpy(np.concatenate([wq.T, wk.T, wv.T])))
        mha.out_proj.weight.copy_(torch.from_numpy(wo.T))
        out, weights = mha(torch.from_numpy(x)[None], need_weights=True, average_attn_weights=False)
    np.testing.assert_allclose(t.output, out[0].numpy(), rtol=1e-12, atol=1e-12)
    for h in range(heads):
        step = t[f"h{h + 1}.weights"] if heads > 1 else t["weights"]
        np.testing.assert_allclose(step.matrix, weights[0, h].numpy(), rtol=1e-12, atol=1e-14)


def test_heads_json_round_trip_and_every_format():
    t = trace(X4, wq=WQ, wk=WK, wv=WV, wo=WO, heads=2, tokens=["<b>", "a&b", "c"])
    back = Trace.from_json(t.to_json())
    assert back.heads == 2 and back.ids == t.ids
    np.testing.assert_array_equal(back.output, t.output)
    assert json.loads(t.to_json())["heads"] == 2
    assert "heads" not in json.loads(trace(X4).to_json())  # plain traces' JSON unchanged
    md = render(back, "markdown", lang="en")
    assert "## Attention weights A = softmax(S/√d_k) · head 2" in md
    assert "C = [O_{1} \\mid O_{2}]" in md
    assert "Output projection W_O" in md
    assert r"O_{2} = A_{2}V_{2}" in render(t, "latex", lang="en")
    html = render(t, "html", lang="zh")
    assert "第 2 个头" in html and "&lt;b&gt;" in html and "a&amp;b" in html
    assert ">a&b<" not in html and "><b><" not in html
    text = render(t, "text", lang="en")
    assert "Head 2 takes columns 3–4 of Q" in text and "2 heads" in text


def test_cli_heads_with_wo(capsys):
    code, out, err = run(
        capsys,
        "--x", json.dumps(X4), "--wq", json.dumps(WQ), "--wk", json.dumps(WK),
        "--wv", json.dumps(WV), "--wo", json.dumps(WO), "--heads", "2", "--format", "json",
    )  # fmt: skip
    assert code == 0 and err == ""
    data = json.loads(out)
    assert data["heads"] == 2 and data["d_k"] == 2
    np.testing.assert_allclose(
        [[v for v in row] for row in data["steps"][-1]["matrix"]],
        plain_multi_head(X4, WQ, WK, WV, WO, 2),
        rtol=1e-12,
    )


def test_cli_heads_on_the_preset_with_one_column_each(capsys):
    code, out, _ = run(capsys, "--heads", "5", "--scale", "sqrt", "--lang", "en")
    assert code == 0
    assert "Queries Q · head 5   Q₅ = Q[:, 5]" in out and "O = [O₁ | O₂ | O₃ | O₄ | O₅]" in out
    assert "What 1/√d_k changes" not in out  # the one-head contrast is left out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--heads", "2"], "Q has 5 columns, not divisible into 2 heads"),
        (["--heads", "0"], "heads must be between 1 and"),
        (
            ["--wo", "[[1,0]]"],
            "W_O does not fit: the attention's result has 5 columns, W_O has 1 row",
        ),
        (
            ["--heads", "2", "--score", "additive", "--x", "[[1,0]]"],
            "additive scores are explained",
        ),
    ],
)
def test_bad_heads_are_one_line(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2 and out == "" and message in err and err.count("\n") == 1


# -- padding by valid lengths ---------------------------------------------------------------


def test_lengths_mask_the_keys_beyond_each_querys_length():
    t = trace(X4, lengths=[1, 3, 2], scale="none")
    w = t.weights
    assert t.lengths == [1, 3, 2]
    assert w[0, 1] == 0 and w[0, 2] == 0 and w[2, 2] == 0 and w[1].min() > 0
    allowed = [[j < n for j in range(3)] for n in (1, 3, 2)]
    out, weights = plain_attention(X4, X4, X4, 1.0, allowed)
    np.testing.assert_allclose(w, weights, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(t.output, out, rtol=1e-12)
    assert t["masked"].exact[1, 2] == 2  # the scores stay exact; masked ones are -inf
    assert np.isneginf(t["masked"].matrix[0, 2])


def test_one_length_for_every_query_equals_a_key_padding_mask():
    torch = _torch()
    from qkv.nn import MultiHeadAttention

    t = trace(X4, wq=WQ, wk=WK, wv=WV, wo=WO, heads=2, lengths=2)
    assert t.lengths == [2, 2, 2]
    mha = MultiHeadAttention(4, 2, bias=False, dtype=torch.float64).eval()
    with torch.no_grad():
        w = np.concatenate([np.array(m, dtype=np.float64).T for m in (WQ, WK, WV)])
        mha.qkv_proj.weight.copy_(torch.from_numpy(w))
        mha.out_proj.weight.copy_(torch.from_numpy(np.array(WO, dtype=np.float64).T))
        pad = torch.tensor([[False, False, True]])  # True = padding: the third key
        out, _ = mha(torch.tensor([X4], dtype=torch.float64), key_padding_mask=pad)
    np.testing.assert_allclose(t.output, out[0].numpy(), rtol=1e-12, atol=1e-12)


def test_zero_length_gives_a_zero_row_not_nan():
    t = trace(X4, lengths=[0, 1, 3])
    assert not np.isnan(t.output).any() and (t.weights[0] == 0).all() and (t.output[0] == 0).all()


def test_cli_lengths_in_every_format(capsys, tmp_path):
    for fmt, needle in (
        ("text", "padding: query i sees its first n_i keys (n = 2, 3, 3)"),
        ("markdown", r"padding: query i sees its first n\_i keys"),
        ("latex", r"-\infty"),
        ("html", "padding"),
        ("json", '"lengths": [2, 3, 3]'),
    ):
        target = tmp_path / f"out.{fmt}"
        code, _, err = run(
            capsys, "--lengths", "2,3,3", "--lang", "en", "--format", fmt, "-o", str(target)
        )
        assert code == 0 and err == ""
        assert needle in target.read_text(encoding="utf-8"), fmt
    code, out, _ = run(capsys, "--lengths", "2", "--lang", "zh")
    assert code == 0 and "填充" in out and "有效长度 2, 2, 2" in out
    code, out, _ = run(capsys, "--lengths", "1,2,3", "--lang", "en")
    assert "Valid lengths 1, 2, 3: the keys beyond a query's length are padding" in out


@pytest.mark.parametrize(
    "value, message",
    [
        ("4", "length 1 is 4; a length is between 0 and 3"),
        ("1,2", "2 lengths given for 3 queries"),
        ("a", "give whole numbers"),
        ("-1", "give whole numbers"),
    ],
)
def test_bad_lengths_are_one_line(capsys, value, message):
    code, out, err = run(capsys, "--lengths", value)
    assert code == 2 and out == "" and message in err and err.count("\n") == 1


# -- additive (Bahdanau) scores -------------------------------------------------------------


def plain_additive(q, k, wa_q, wa_k, va):
    """score(i, j) = sum_t va_t tanh((q_i W_q)_t + (k_j W_k)_t), with loops and math.tanh."""
    h = len(va)

    def proj(row, w):
        return [sum(row[s] * w[s][t] for s in range(len(row))) for t in range(h)]

    return [
        [
            sum(va[t] * math.tanh(proj(qi, wa_q)[t] + proj(kj, wa_k)[t]) for t in range(h))
            for kj in k
        ]
        for qi in q
    ]


def test_additive_scores_against_a_plain_loop():
    q = [[1, 0], [Fraction(1, 2), -1]]
    k = [[1, 1, 0], [0, 2, 1], [-1, 0, 1]]
    v = [[1], [2], [3]]
    wa_q = [[1, 0, 2], [0, 1, -1]]
    wa_k = [[1, 1, 0], [0, 1, 0], [2, 0, 1]]
    va = [1, -2, Fraction(1, 2)]
    t = trace(q=q, k=k, v=v, score="additive", wa_q=wa_q, wa_k=wa_k, va=va)
    expected = plain_additive(
        [[float(a) for a in r] for r in q], k, wa_q, wa_k, [float(a) for a in va]
    )
    np.testing.assert_allclose(t["scores"].matrix, expected, rtol=1e-13)
    assert t.scale == 1.0 and t.score == "additive"  # not divided by √d
    top = np.max(expected, axis=1, keepdims=True)
    e = np.exp(np.array(expected) - top)
    np.testing.assert_allclose(t.weights, e / e.sum(axis=1, keepdims=True), rtol=1e-13)
    assert t["qa"].exact[1, 2] == Fraction(2)  # 1/2·2 + (-1)·(-1): exact before tanh
    assert t["scores"].exact is None


def test_additive_defaults_are_identity_and_ones():
    t = trace([[1, 0], [0, 2]], score="additive")
    np.testing.assert_array_equal(t["wa_q"].matrix, np.eye(2))
    np.testing.assert_array_equal(t["va"].matrix, [[1, 1]])
    assert t["scores"].matrix[0, 1] == pytest.approx(math.tanh(1) + math.tanh(2))


def test_additive_in_every_format_and_json(capsys, tmp_path):
    for fmt, needle in (
        ("text", "1·tanh(1 + 1) + 1·tanh(2 + 2)"),
        ("markdown", "tanh is not a rational function"),
        ("latex", r"\tanh(Q^a_i + K^a_j)"),
        ("html", "Additive scores"),
        ("json", '"score": "additive"'),
    ):
        target = tmp_path / f"out.{fmt}"
        code, _, err = run(
            capsys, "--score", "additive", "--lang", "en", "--format", fmt, "-o", str(target)
        )
        assert code == 0 and err == ""
        assert needle in target.read_text(encoding="utf-8"), fmt
    back = Trace.from_json((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert back.score == "additive" and "tanh" in render(back, "text", lang="en")


def test_cli_additive_with_its_weights(capsys):
    code, out, _ = run(
        capsys,
        "--q", "[[1,0]]", "--k", "[[1,0,1],[0,1,1]]", "--v", "[[5],[7]]", "--score", "additive",
        "--wa-q", "[[1,0],[0,1]]", "--wa-k", "[[1,0],[0,1],[1,1]]", "--va", "[[1],[-1]]",
        "--format", "json",
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    scores = next(s for s in data["steps"] if s["id"] == "scores")["matrix"]
    expected = plain_additive(
        [[1, 0]], [[1, 0, 1], [0, 1, 1]], [[1, 0], [0, 1]], [[1, 0], [0, 1], [1, 1]], [1, -1]
    )
    np.testing.assert_allclose(scores, expected, rtol=1e-13)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--wa-q", "[[1]]"], "W_a^q belongs to additive scores (--score additive)"),
        (["--score", "additive", "--wa-q", "[[1]]"], "W_a^q is 1x1, expected 5x1"),
        (["--score", "additive", "--va", "[[1,2]]"], "v_a has 2 numbers, expected 5"),
        (
            ["--score", "additive", "--q", "[[1,0]]", "--k", "[[1]]", "--v", "[[1]]"],
            "W_a^k defaults to the identity, which needs K to have 2 columns",
        ),
    ],
)
def test_bad_additive_input_is_one_line(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2 and out == "" and message in err and err.count("\n") == 1


def test_python_api_rejects_unknown_score():
    with pytest.raises(InputError, match="score must be 'dot' or 'additive'"):
        trace(X4, score="cosine")


# -- properties -----------------------------------------------------------------------------


@st.composite
def multi_head_inputs(draw):
    heads = draw(st.integers(1, 3))
    dh = draw(st.integers(1, 3))
    n, d = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ints = st.integers(-3, 3)
    x = draw(st.lists(st.lists(ints, min_size=d, max_size=d), min_size=n, max_size=n))
    w = [
        draw(
            st.lists(
                st.lists(ints, min_size=heads * dh, max_size=heads * dh), min_size=d, max_size=d
            )
        )
        for _ in range(3)
    ]
    wo = draw(
        st.lists(st.lists(ints, min_size=2, max_size=2), min_size=heads * dh, max_size=heads * dh)
    )
    lengths = draw(st.lists(st.integers(0, n), min_size=n, max_size=n))
    return x, w, wo, heads, lengths


@settings(max_examples=60, deadline=None)
@given(multi_head_inputs())
def test_multi_head_with_lengths_equals_batched_reference_attention(case):
    """The trace's heads against qkv.core.attention on (heads, N, d_h) arrays: the same
    numbers by another path (reshape, one batched call, boolean mask by lengths)."""
    x, (wq, wk, wv), wo, heads, lengths = case
    t = trace(x, wq=wq, wk=wk, wv=wv, wo=wo, heads=heads, lengths=lengths)
    xa = np.array(x, dtype=np.float64)

    def split(w):  # (N, H·dh) -> (H, N, dh)
        m = xa @ np.array(w, dtype=np.float64)
        return m.reshape(len(x), heads, -1).transpose(1, 0, 2)

    n = len(x)
    allowed = np.arange(n)[None, :] < np.array(lengths)[:, None]
    out = attention(split(wq), split(wk), split(wv), mask=allowed)  # (H, N, dh)
    expected = out.transpose(1, 0, 2).reshape(n, -1) @ np.array(wo, dtype=np.float64)
    np.testing.assert_allclose(t.output, expected, rtol=1e-12, atol=1e-12)
    for h in range(heads):
        step = t[f"h{h + 1}.weights"] if heads > 1 else t["weights"]
        assert (step.matrix[~allowed] == 0).all()  # padding gets weight exactly 0


def test_the_additive_preset_keeps_tanh_out_of_saturation():
    """--score additive on the 笔记本 vectors saturates tanh (every weight near 1/3) and
    teaches nothing; the additive preset's numbers keep tanh curved and the weights apart."""
    from qkv.core.examples import find_example

    t = find_example("bahdanau").trace("en")
    assert t.score == "additive"
    hidden = t["qa"].matrix[:, None, :] + t["ka"].matrix[None, :, :]
    assert np.abs(hidden).max() < 1.5  # tanh'(1.5) > 0.18: still curved
    w = t.weights[0]
    assert w.max() - w.min() > 0.3 and np.isclose(w.sum(), 1)
    saturated = find_example("笔记本").trace("en", score="additive").weights
    assert np.ptp(saturated, axis=1).max() < 0.05  # why the preset exists
