"""The checker's interval arithmetic: every value the printed inputs allow lies inside the
bounds, and the bounds are reached (so a right number is never called wrong, and a wrong one
is not excused by loose bounds)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qkv.core.softmax import masked_softmax
from qkv.review import intervals as iv
from qkv.review.intervals import Box


def _box(rng: np.random.Generator, shape: tuple[int, int], spread: float) -> Box:
    centre = rng.normal(0, spread, shape)
    half = rng.choice([0.0, 5e-4, 0.05, 1.0]) * rng.random(shape)
    return Box(centre - half, centre + half)


def _samples(rng: np.random.Generator, box: Box, n: int) -> list[np.ndarray]:
    """Points of the box: random ones and random corners."""
    out = [box.lo + rng.random(box.shape) * (box.hi - box.lo) for _ in range(n)]
    out += [np.where(rng.random(box.shape) < 0.5, box.lo, box.hi) for _ in range(n)]
    return out


def _corner_softmax(s: Box, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The definition, one key at a time: s_j low and every other score high, and back."""
    lo, hi = np.zeros(s.shape), np.zeros(s.shape)
    for j in range(s.shape[1]):
        low, high = s.hi.copy(), s.lo.copy()
        low[:, j], high[:, j] = s.lo[:, j], s.hi[:, j]
        lo[:, j] = masked_softmax(low, allowed)[0][:, j]
        hi[:, j] = masked_softmax(high, allowed)[0][:, j]
    return lo, hi


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 5),
    m=st.integers(1, 6),
    spread=st.sampled_from([1.0, 5.0, 60.0]),
    masked=st.sampled_from([0.0, 0.3]),
)
def test_softmax_bounds_match_the_definition_and_contain_every_point(seed, n, m, spread, masked):
    rng = np.random.default_rng(seed)
    s = _box(rng, (n, m), spread)
    drop = rng.random((n, m)) < masked
    s = Box(np.where(drop, -np.inf, s.lo), np.where(drop, -np.inf, s.hi))
    allowed = ~drop
    got = iv.softmax(s)
    lo, hi = _corner_softmax(s, allowed)
    # closed form against the corner-by-corner definition: equal to float64 rounding
    np.testing.assert_allclose(got.lo, lo, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got.hi, hi, rtol=1e-12, atol=1e-15)
    for point in _samples(rng, s, 10):
        w = masked_softmax(np.where(allowed, point, -np.inf), allowed)[0]
        assert (w >= got.lo - 1e-12).all() and (w <= got.hi + 1e-12).all()


def test_softmax_of_a_fully_masked_row_is_zero_and_a_lone_key_is_one():
    s = Box(
        np.array([[-np.inf, -np.inf], [0.5, -np.inf]]),
        np.array([[-np.inf, -np.inf], [0.7, -np.inf]]),
    )
    got = iv.softmax(s)
    assert got.lo.tolist() == [[0.0, 0.0], [1.0, 0.0]]
    assert got.hi.tolist() == [[0.0, 0.0], [1.0, 0.0]]


@pytest.mark.parametrize("chunk", [1, 7, 1 << 18])
def test_matmul_bounds_are_tight_and_do_not_depend_on_the_chunk(monkeypatch, chunk):
    rng = np.random.default_rng(chunk)
    a, b = _box(rng, (9, 4), 2.0), _box(rng, (4, 5), 2.0)
    whole = iv.matmul(a, b)
    monkeypatch.setattr(iv, "CHUNK", chunk)
    got = iv.matmul(a, b)
    np.testing.assert_array_equal(got.lo, whole.lo)
    np.testing.assert_array_equal(got.hi, whole.hi)
    products = [x @ y for x in _samples(rng, a, 30) for y in _samples(rng, b, 3)]
    assert all((p >= got.lo - 1e-12).all() and (p <= got.hi + 1e-12).all() for p in products)
    # each bound is reached by choosing, per product, the corner that makes it extreme
    i, j = 2, 3
    terms = [
        min(x * y for x in (a.lo[i, k], a.hi[i, k]) for y in (b.lo[k, j], b.hi[k, j]))
        for k in range(4)
    ]
    assert got.lo[i, j] == pytest.approx(sum(terms), rel=1e-12)
