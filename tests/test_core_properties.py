"""qkv.core against the plain implementation in tests/plain.py, on random inputs."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from qkv.core.attention import attention
from qkv.core.trace import trace
from tests.plain import plain_attention

finite = st.floats(-10, 10, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def qkv_inputs(draw, max_n=6, max_d=5):
    n_q = draw(st.integers(1, max_n))
    n_k = draw(st.integers(1, max_n))
    d = draw(st.integers(1, max_d))
    dv = draw(st.integers(1, max_d))
    q = draw(arrays(np.float64, (n_q, d), elements=finite))
    k = draw(arrays(np.float64, (n_k, d), elements=finite))
    v = draw(arrays(np.float64, (n_k, dv), elements=finite))
    mask = draw(arrays(np.bool_, (n_q, n_k)))
    return q, k, v, mask


@settings(max_examples=150, deadline=None)
@given(qkv_inputs())
def test_matches_plain_implementation(inputs):
    q, k, v, mask = inputs
    out, w = attention(q, k, v, mask=mask, scale=0.5, return_weights=True)
    ref_out, ref_w = plain_attention(q.tolist(), k.tolist(), v.tolist(), 0.5, mask.tolist())
    np.testing.assert_allclose(w, ref_w, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(out, ref_out, rtol=1e-11, atol=1e-11)


@settings(max_examples=150, deadline=None)
@given(qkv_inputs())
def test_rows_sum_to_one_and_output_in_convex_hull(inputs):
    q, k, v, mask = inputs
    out, w = attention(q, k, v, mask=mask, return_weights=True)
    live = mask.any(axis=1)
    np.testing.assert_allclose(w[live].sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(w >= 0) and np.all(w[~mask] == 0)
    assert np.all(out[~live] == 0)
    # each output row is a convex combination of the attended rows of V
    for i in np.flatnonzero(live):
        rows = v[mask[i]]
        assert np.all(out[i] <= rows.max(axis=0) + 1e-9)
        assert np.all(out[i] >= rows.min(axis=0) - 1e-9)


@settings(max_examples=100, deadline=None)
@given(qkv_inputs(), st.randoms(use_true_random=False))
def test_permutation_equivariance(inputs, rnd):
    q, k, v, _ = inputs
    pq = list(range(len(q)))
    pk = list(range(len(k)))
    rnd.shuffle(pq)
    rnd.shuffle(pk)
    out = attention(q, k, v)
    permuted = attention(q[pq], k[pk], v[pk])  # permuting queries permutes rows;
    np.testing.assert_allclose(permuted, out[pq], rtol=1e-12, atol=1e-12)  # keys: no change


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 5), st.integers(1, 4)),
        elements=st.floats(-1e3, 1e3, allow_nan=False, width=64),
    ),
)
def test_no_overflow_at_large_magnitudes(x):
    t = trace(x, scale="none")  # scores up to ~4e6
    assert np.all(np.isfinite(t.weights)) and np.all(np.isfinite(t.output))
    np.testing.assert_allclose(t.weights.sum(axis=1), 1.0, rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(qkv_inputs())
def test_trace_agrees_with_batched_attention(inputs):
    q, k, v, mask = inputs
    t = trace(q=q, k=k, v=v, mask=mask)
    np.testing.assert_allclose(t.output, attention(q, k, v, mask=mask), rtol=1e-13, atol=1e-13)


def _check_exact_matches_floats(t):
    """Every step's exact numbers (what the rendered hand calculation prints) are its floats,
    and every softmax exponent s - max is the one the floats give."""
    for step in t.steps:
        if step.exact is None:
            continue
        finite = np.isfinite(step.matrix)
        as_float = np.vectorize(float, otypes=[np.float64])(step.exact[finite])
        np.testing.assert_allclose(as_float, step.matrix[finite], rtol=1e-12, atol=1e-12)
    for step in t.steps:
        if step.exponents is None:
            continue
        for i, j in np.argwhere(np.vectorize(lambda e: e is not None)(step.exponents)):
            scores = t[step.id.replace("weights", "masked")].matrix
            assert float(step.exponents[i, j]) == pytest.approx(
                scores[i, j] - scores[i][np.isfinite(scores[i])].max(), abs=1e-9
            )


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.int64, st.tuples(st.integers(1, 4), st.integers(1, 3)), elements=st.integers(-3, 3)),
    st.data(),
)
def test_exact_masked_scores_equal_the_floats(x, data):
    # issue 22: the exact fractions behind masked scores could drift from the floats
    n = x.shape[0]
    whole = st.integers(-6, 6).map(float)  # a float mask of whole numbers has an exact form
    bias = data.draw(arrays(np.float64, (n, n), elements=whole))
    scale = data.draw(st.sampled_from(["none", 0.5, 2]))
    t = trace(x, scale=scale, mask=bias)
    assert t["masked"].exact is not None  # integers, a rational scale, whole numbers: exact
    _check_exact_matches_floats(t)
    s = x @ x.T * (1.0 if scale == "none" else scale) + bias
    np.testing.assert_allclose(t["masked"].matrix, s, rtol=1e-12)


def test_exact_masked_scores_are_printed_by_the_hand_calculation():
    from qkv.render import render

    t = trace([[1, 0], [0, 1]], scale=Fraction(1, 2), mask=np.array([[0.0, -3.0], [2.0, 0.0]]))
    assert t["masked"].exact.tolist() == [[Fraction(1, 2), -3], [2, Fraction(1, 2)]]
    text = render(t, "markdown", lang="en")
    assert "| t1 | 0.5 | -3 |" in text and "e^0 / (e^0 + e^-3.5) = 0.971" in text


def _allowed_by_hand(n_q, n_k, lengths, window):
    """Lengths AND window, written out: query i (at key position i + S - L) sees key j when
    j < lengths[i] and |j - position| <= window."""
    return np.array(
        [[j < lengths[i] and abs(j - (i + n_k - n_q)) <= window for j in range(n_k)]
         for i in range(n_q)]
    )  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(qkv_inputs(), st.integers(0, 3), st.data())
def test_lengths_and_window_are_anded(inputs, window, data):
    # issue 22: lengths OR-ed with a window instead of AND-ed passed the core tests
    q, k, v, _ = inputs
    n_q, n_k = len(q), len(k)
    lengths = data.draw(st.lists(st.integers(0, n_k), min_size=n_q, max_size=n_q))
    allowed = _allowed_by_hand(n_q, n_k, lengths, window)
    t = trace(q=q, k=k, v=v, scale=0.5, lengths=lengths, window=window)
    ref_out, ref_w = plain_attention(q.tolist(), k.tolist(), v.tolist(), 0.5, allowed.tolist())
    np.testing.assert_allclose(t.weights, ref_w, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(t.output, ref_out, rtol=1e-11, atol=1e-11)
