"""The structured masks of qkv.core.masks against loops written from their definitions."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qkv.core.attention import attention
from qkv.core.masks import (
    causal_mask,
    documents_mask,
    lengths_mask,
    normalize_window,
    structure_mask,
    window_mask,
)
from qkv.errors import InputError


def loop_mask(n_q, n_k, *, causal=None, window=None, lengths=None, docs=None, batch=1):
    """(batch, L, S) from the definitions: query i stands at key position i + offset (bottom-
    right unless causal is top-left); causal: j <= position; window (l, r): position - l <= j
    <= position + r; lengths[b]: j < lengths[b]; docs: same document as the key at the
    query's position, and nothing for a query outside the keys."""
    offset = 0 if causal == "top_left" else n_k - n_q
    out = np.zeros((batch, n_q, n_k), dtype=bool)
    for b in range(batch):
        for i in range(n_q):
            p = i + offset
            for j in range(n_k):
                ok = True
                if causal is not None:
                    ok &= j <= p
                if window is not None:
                    ok &= p - window[0] <= j <= p + window[1]
                if lengths is not None:
                    ok &= j < lengths[b]
                if docs is not None:
                    row = docs[b] if np.ndim(docs) == 2 else docs
                    ok &= 0 <= p < n_k and row[p] == row[j]
                out[b, i, j] = ok
    return out


sizes = st.integers(1, 9)
windows = st.one_of(st.none(), st.integers(0, 4), st.tuples(st.integers(0, 4), st.integers(0, 4)))
aligns = st.sampled_from([None, "bottom_right", "top_left"])


@settings(max_examples=200, deadline=None)
@given(
    sizes,
    sizes,
    aligns,
    windows,
    st.booleans(),
    st.booleans(),
    st.integers(1, 3),
    st.randoms(use_true_random=False),
)
def test_structure_mask_follows_the_definitions(
    n_q, n_k, causal, window, with_lengths, with_docs, batch, rnd
):
    lengths = [rnd.randint(0, n_k + 1) for _ in range(batch)] if with_lengths else None
    docs = None
    if with_docs:
        docs = sorted(rnd.randint(0, 3) for _ in range(n_k))
        if rnd.random() < 0.5:  # one row of ids per batch row, not sorted
            docs = [[rnd.randint(0, 2) for _ in range(n_k)] for _ in range(batch)]
    shape = (batch, 2, n_q, n_k)
    got = structure_mask(shape, causal, window, lengths, docs)
    w = normalize_window(window)
    want = loop_mask(n_q, n_k, causal=causal, window=w, lengths=lengths, docs=docs, batch=batch)
    if got is None:
        assert causal is None and w is None and lengths is None and docs is None
        return
    got = np.broadcast_to(got, shape)
    for h in range(2):
        np.testing.assert_array_equal(got[:, h], want)


def test_window_width_means_both_sides_and_agrees_with_the_causal_offset():
    assert window_mask(5, 7, 1).tolist() == window_mask(5, 7, (1, 1)).tolist()
    # a window with nothing on the right, as wide as the keys, is the causal mask
    for align in ("bottom_right", "top_left"):
        np.testing.assert_array_equal(window_mask(5, 7, (7, 0), align), causal_mask(5, 7, align))
    assert window_mask(3, 3, (0, 0)).tolist() == np.eye(3, dtype=bool).tolist()


def test_lengths_and_documents_shapes():
    m = lengths_mask([2, 0], 3, 4)
    assert m.shape == (2, 1, 1, 3)
    assert m[:, 0, 0].tolist() == [[True, True, False], [False, False, False]]
    d = documents_mask([0, 0, 1, 1], 2, 2, 2)  # two queries at positions 2 and 3
    assert d.tolist() == [[False, False, True, True], [False, False, True, True]]
    d = documents_mask([[0, 1, 1], [5, 5, 6]], 3, 0, 4)
    assert d.shape == (2, 1, 3, 3)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: normalize_window(-1), "0 or more"),
        (lambda: normalize_window((1, 2, 3)), "left, right"),
        (lambda: normalize_window(1.5), "left, right"),
        (lambda: lengths_mask([1.5], 3, 3), "whole numbers"),
        (lambda: lengths_mask([-1], 3, 3), "0 or more"),
        (lambda: lengths_mask([[1]], 3, 3), "one number per batch row"),
        (lambda: documents_mask([[[0]]], 1, 0, 3), "document_ids must be"),
        (lambda: documents_mask([True, False], 1, 0, 3), "whole numbers"),
        (lambda: structure_mask((2, 3, 3), None, lengths=[1, 2, 3]), "do not fit the batch"),
    ],
)
def test_bad_structures_are_input_errors(call, message):
    with pytest.raises(InputError, match=message):
        call()


def test_attention_with_structure_hides_what_it_says():
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=(2, 1, 6, 4)) for _ in range(3))
    out, w = attention(q, k, v, window=(1, 0), lengths=[6, 3], return_weights=True)
    assert (w[0, 0][~window_mask(6, 6, (1, 0))] == 0).all()
    assert (w[1, 0][:, 3:] == 0).all()
    # queries 4 and 5 of row 1 see keys 3..5 only by the window: all padding, so nothing
    assert (w[1, 0, 4:] == 0).all() and (out[1, 0, 4:] == 0).all()
    np.testing.assert_allclose(w.sum(-1)[0], 1.0)
