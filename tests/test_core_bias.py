"""Biases in the projections (Q = X·W_Q + b_Q) and float-only traces (a model's numbers)."""

from fractions import Fraction

import numpy as np
import pytest

from qkv.core.expand import expand
from qkv.core.trace import Trace, trace
from qkv.errors import InputError

X = [[1, 2], [3, 4]]
W = [[1, 0], [0, 1]]


def test_a_bias_is_added_to_every_row_exactly():
    t = trace(X, wq=W, bq=[1, Fraction(1, 2)], wk=W, bk=[[0], [1]], wv=W, scale="none")
    assert t.ids[:6] == ["x", "wq", "bq", "wk", "bk", "wv"]
    assert t["q"].exact.tolist() == [[2, Fraction(5, 2)], [4, Fraction(9, 2)]]
    assert t["k"].matrix.tolist() == [[1, 3], [3, 5]]
    assert t["q"].formula == "Q = X·W_Q + b_Q" and t["v"].bias is None
    assert expand(t, "q", 0, 1).plain == "1·0 + 2·1 + 0.5 = 2.5"
    again = Trace.from_json(t.to_json())
    assert again["q"].bias == "bq" and again["k"].bias == "bk"


def test_a_bias_needs_its_projection_and_one_number_per_column():
    with pytest.raises(InputError, match="b_K needs W_K"):
        trace(X, wq=W, bk=[1, 2])
    with pytest.raises(InputError, match="b_Q has 3 numbers; W_Q has 2 columns"):
        trace(X, wq=W, bq=[1, 2, 3], wk=W)


def test_float_traces_agree_with_exact_ones_and_carry_no_fractions():
    rng = np.random.default_rng(0)
    x, wq, wk, wv = (rng.normal(size=s) for s in ((3, 4), (4, 2), (4, 2), (4, 3)))
    b = rng.normal(size=2)
    exact = trace(x, wq=wq, wk=wk, wv=wv, bq=b, causal=True)
    fast = trace(x, wq=wq, wk=wk, wv=wv, bq=b, causal=True, exact=False)
    assert all(s.exact is None for s in fast.steps)
    for step in ("q", "scores", "weights", "output"):
        np.testing.assert_allclose(fast[step].matrix, exact[step].matrix, rtol=1e-13, atol=0)


def test_float_inputs_are_checked_as_exact_ones_are():
    with pytest.raises(InputError, match="X row 2, column 1 is nan"):
        trace([[1.0, 2.0], [float("nan"), 1.0]], exact=False)
    with pytest.raises(InputError, match="row 2 has 1 number"):
        trace([[1.0, 2.0], [1.0]], exact=False)
