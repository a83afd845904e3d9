import math

import numpy as np
import pytest

from qkv.core.attention import attention
from qkv.core.examples import EXAMPLES, find_example
from qkv.core.masks import causal_mask
from qkv.core.scale import resolve_scale
from qkv.core.softmax import masked_softmax
from qkv.core.trace import trace
from qkv.errors import InputError

X = [[1, 2, 1, 2, 1], [1, 1, 1, 2, 1], [3, 2, 1, 1, 1]]


def test_article_example_unscaled_matches_hand_values():
    t = trace(X, scale="none", tokens=["笔", "记", "本"])
    assert t.ids == ["x", "q", "k", "v", "scores", "weights", "output"]
    s = t["scores"]
    assert s.exact.tolist() == [[11, 9, 11], [9, 8, 9], [11, 9, 16]]
    w = t.weights
    # e^0 / (e^0 + e^-2 + e^0)
    assert w[0, 0] == pytest.approx(1 / (2 + math.exp(-2)), rel=1e-15)
    assert w[0, 1] == pytest.approx(math.exp(-2) / (2 + math.exp(-2)), rel=1e-15)
    assert round(w[0, 1], 4) == 0.0634  # the article printed 0.064
    assert round(w[1, 1], 4) == 0.1554  # the article printed 0.156
    assert round(w[2, 0], 5) == 0.00669  # the article printed 0.0069
    np.testing.assert_allclose(t.output[0], [1.9366, 1.9366, 1, 1.5317, 1], atol=5e-5)
    assert t["weights"].exponents[2].tolist() == [-5, -7, 0]


def test_article_example_scaled_by_sqrt_dk():
    t = trace(X)  # default scale 1/sqrt(5)
    assert t.ids == ["x", "q", "k", "v", "scores", "scaled", "weights", "output"]
    assert t.scale == pytest.approx(1 / math.sqrt(5))
    assert t["scaled"].exact is None  # 11/sqrt(5) is not rational
    np.testing.assert_allclose(t["scaled"].matrix, np.array(t["scores"].matrix) / math.sqrt(5))
    assert round(t.weights[2, 2], 3) == 0.869


def test_preset_notebook_contrast_shows_the_scaling_effect():
    t = find_example("notebook").trace("zh")
    assert t["x"].rows == ["笔", "记", "本"]
    assert t.scale == 1.0 and "scaled" not in t
    row = t.contrast.rows[2]
    assert row[:2] == ("本", "本")
    assert round(row[2], 3) == 0.992 and round(row[3], 3) == 0.869


def test_search_preset_ranks_by_weighted_value():
    t = find_example("search").trace("en")
    assert t.ids == ["q", "k", "v", "scores", "scaled", "weights", "weighted", "output"]
    assert t["scaled"].exact.tolist() == [[2, 1.5, 1.5, 0.5, 0.5]]  # 1/sqrt(4) is exact
    w = t.weights[0]
    e = np.exp([0, -0.5, -0.5, -1.5, -1.5])
    np.testing.assert_allclose(w, e / e.sum(), rtol=1e-14)
    v = np.array([0.6, 0.9, 0.5, 0.8, 0.3])
    np.testing.assert_allclose(t["weighted"].matrix[:, 0], w * v, rtol=1e-14)
    assert t.output[0, 0] == pytest.approx(float(w @ v), rel=1e-14)
    assert [r[0] for r in t.ranking] == [
        "laptop",
        "paper notebook",
        "tablet",
        "fountain pen",
        "desk lamp",
    ]


def test_causal_alignments_with_fewer_queries_than_keys():
    br = causal_mask(2, 4, "bottom_right")
    tl = causal_mask(2, 4, "top_left")
    assert br.tolist() == [[True, True, True, False], [True, True, True, True]]
    assert tl.tolist() == [[True, False, False, False], [True, True, False, False]]
    assert (causal_mask(3, 3, "bottom_right") == causal_mask(3, 3, "top_left")).all()


def test_causal_bottom_right_with_more_queries_than_keys_masks_early_rows_fully():
    rng = np.random.default_rng(0)
    q, k, v = rng.normal(size=(5, 3)), rng.normal(size=(2, 3)), rng.normal(size=(2, 4))
    out, w, lse = attention(q, k, v, causal=True, return_weights=True, return_lse=True)
    # query i sees keys j <= i + 2 - 5: rows 0..2 see nothing
    assert np.all(w[:3] == 0) and np.all(out[:3] == 0)
    assert np.all(np.isneginf(lse[:3])) and np.all(np.isfinite(lse[3:]))
    assert w[3].tolist()[1] == 0 and w[3, 0] == 1.0
    np.testing.assert_allclose(w[4].sum(), 1.0)


def test_trace_causal_top_left_matches_attention():
    rng = np.random.default_rng(1)
    q, k, v = rng.normal(size=(3, 2)), rng.normal(size=(5, 2)), rng.normal(size=(5, 2))
    t = trace(q=q, k=k, v=v, causal="top_left")
    assert "masked" in t and t.causal == "top_left"
    assert np.isneginf(t["masked"].matrix[0, 1])
    np.testing.assert_allclose(t.output, attention(q, k, v, causal="top_left"), rtol=1e-14)


def test_fully_masked_row_gives_zero_weights_and_output():
    mask = np.array([[True, False], [False, False]])
    t = trace([[1, 2], [3, 4]], mask=mask)
    assert t.weights[1].tolist() == [0, 0] and t.output[1].tolist() == [0, 0]
    assert t.weights[0].tolist() == [1, 0]
    assert not np.any(np.isnan(t.output))


def test_nan_in_masked_out_positions_does_not_leak():
    q = np.array([[1.0, 0.0], [0.0, 1.0]])
    k = np.array([[1.0, 1.0], [np.nan, 2.0]])
    v = np.array([[1.0, 2.0], [np.nan, np.inf]])
    mask = np.array([[True, False], [True, False]])
    out = attention(q, k, v, mask=mask)
    np.testing.assert_allclose(out, [[1, 2], [1, 2]])
    # a query that does attend the NaN value sees NaN
    out2 = attention(q, k, v, mask=np.array([[True, True], [True, False]]))
    assert np.isnan(out2[0]).all() and np.isfinite(out2[1]).all()


def test_large_scores_do_not_overflow():
    x = np.array([[100.0, 0.0], [0.0, 100.0]])  # scores 1e4
    t = trace(x, scale="none")
    np.testing.assert_allclose(t.weights, np.eye(2))
    w, lse = masked_softmax(np.array([[1e4, 1e4 - 1.0]]))
    np.testing.assert_allclose(w, [[1 / (1 + math.exp(-1)), math.exp(-1) / (1 + math.exp(-1))]])
    assert lse[0] == pytest.approx(1e4 + math.log1p(math.exp(-1)))


def test_additive_mask_adds_to_scaled_scores():
    rng = np.random.default_rng(2)
    q, k, v = rng.normal(size=(2, 3)), rng.normal(size=(4, 3)), rng.normal(size=(4, 1))
    bias = rng.normal(size=(2, 4))
    bias[0, 1] = -np.inf
    _, w = attention(q, k, v, mask=bias, return_weights=True)
    s = q @ k.T / math.sqrt(3) + bias
    e = np.exp(s - s.max(axis=1, keepdims=True))
    np.testing.assert_allclose(w, e / e.sum(axis=1, keepdims=True), rtol=1e-13)
    assert w[0, 1] == 0


def test_gqa_query_head_uses_its_group():
    rng = np.random.default_rng(3)
    q = rng.normal(size=(1, 4, 3, 8))
    k, v = rng.normal(size=(1, 2, 5, 8)), rng.normal(size=(1, 2, 5, 8))
    out = attention(q, k, v)
    for h in range(4):
        np.testing.assert_allclose(out[0, h], attention(q[0, h], k[0, h // 2], v[0, h // 2]))
    with pytest.raises(InputError, match="not a multiple"):
        attention(rng.normal(size=(1, 3, 2, 8)), k, v)


def test_projections_are_exact():
    t = trace([[1, 2], [3, 4]], wq=[[1, 0, 1], [0, 1, 1]], wk=[[1, 0, 0], [0, 1, 0]], scale="none")
    assert t.ids == ["x", "wq", "wk", "q", "k", "v", "scores", "weights", "output"]
    assert t["q"].exact.tolist() == [[1, 2, 3], [3, 4, 7]]
    assert t["v"].same_as == "x" and t["q"].same_as is None
    assert t["scores"].exact.tolist() == [[5, 11], [11, 25]]


def test_scales():
    assert resolve_scale("none", 5)[:2] == (1.0, "1")
    assert resolve_scale("sqrt", 4)[2] == 0.5
    assert resolve_scale("0.25", 9)[0] == 0.25
    for bad in ("abc", "0", "-1", "inf"):
        with pytest.raises(InputError):
            resolve_scale(bad, 4)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(x=[[1, 2], [3]]), "X row 2 has 1 number, expected 2"),
        (dict(x=[]), "X is empty"),
        (dict(x=[[1, float("nan")]]), "X row 1, column 2 is nan"),
        (dict(x=[[1, 2]], wq=[[1, 2, 3]]), "X has 2 columns, W_Q has 1 row"),
        (dict(x=[[1, 2]], tokens=["a", "b"]), "2 tokens given for 1 row of X"),
        (dict(x=[[1, 2]], mask=np.ones((2, 2), bool)), "mask is 2x2, expected 1x1"),
        (dict(q=[[1, 2]], k=[[1, 2, 3]], v=[[1]]), "Q has 2 columns, K has 3"),
        (dict(q=[[1, 2]], k=[[1, 2]]), "missing v"),
        (dict(x=[[1e200, 1e200]], scale="none"), "overflows"),
        (dict(x=[["a", 1]]), "X row 1, column 1: 'a' is not a number"),
    ],
)
def test_bad_input_names_what_and_where(kwargs, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        trace(**kwargs)


def test_examples_have_unique_names():
    names = [n for e in EXAMPLES for n in (e.name, *e.aliases)]
    assert len(names) == len(set(names))
    with pytest.raises(InputError, match="unknown example"):
        find_example("nope")


def _softmax_rows(s: np.ndarray) -> np.ndarray:
    """softmax by hand, for the tests below (no qkv code)."""
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_scale_contrast_keeps_a_float_mask():
    # issue 22: the contrast read the raw scores and forgot the mask (0.982 -> 0.670)
    x = np.array([[1.0, 2.0], [2.0, 1.0]])
    bias = np.array([[0.0, -3.0], [0.0, 0.0]])
    t = trace(x, scale="none", mask=bias, contrast=True)
    unscaled, scaled = _softmax_rows(x @ x.T + bias), _softmax_rows(x @ x.T / math.sqrt(2) + bias)
    np.testing.assert_allclose(t.contrast.weights, scaled, rtol=1e-14)
    assert round(t.contrast.rows[0][2], 3) == 0.982 and round(t.contrast.rows[0][3], 3) == 0.976
    for i, (_, _, before, after) in enumerate(t.contrast.rows):
        j = int(np.argmax(unscaled[i]))
        assert before == pytest.approx(unscaled[i, j]) and after == pytest.approx(scaled[i, j])


@pytest.mark.parametrize("seed", range(5))
def test_scale_contrast_with_random_masks_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, size=(4, 3))
    bias = rng.normal(size=(4, 4)) * 2
    bias[rng.random((4, 4)) < 0.3] = -np.inf
    bias[:, 0] = 0.0  # every query sees a key
    t = trace(x, scale="none", mask=bias, lengths=[4, 3, 2, 4], contrast=True)
    s = x @ x.T / math.sqrt(3) + np.where(np.isfinite(bias), bias, 0.0)
    keep = np.isfinite(bias) & (np.arange(4)[None, :] < np.array([4, 3, 2, 4])[:, None])
    expected = _softmax_rows(np.where(keep, s, -np.inf))
    np.testing.assert_allclose(t.contrast.weights, expected, rtol=1e-12, atol=1e-300)
