"""qkv.core against the plain implementation in tests/plain.py, on random inputs."""

import numpy as np
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
