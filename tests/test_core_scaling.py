"""Why 1/√d_k, measured (qkv.core.scaling), and the local-window and 0/1 masks."""

import math

import numpy as np
import pytest

from qkv.core.masks import window_mask
from qkv.core.parse import parse_mask
from qkv.core.scaling import measure
from qkv.errors import InputError


@pytest.mark.parametrize("d_k", [1, 16, 1024])
def test_unscaled_scores_spread_like_sqrt_dk(d_k):
    r = measure(d_k)
    assert r.unscaled.score_std == pytest.approx(math.sqrt(d_k), rel=0.1)
    assert r.scaled.score_std == pytest.approx(1.0, rel=0.1)
    assert measure(d_k) == r  # seeded


def test_the_softmax_saturates_and_its_gradient_fades_without_the_scale():
    small, big = measure(4), measure(1024)
    assert big.unscaled.top_weight > 0.9 and big.unscaled.saturated > 0.5
    assert big.unscaled.gradient < big.scaled.gradient / 3
    # scaled, d_k hardly matters
    assert big.scaled.top_weight == pytest.approx(small.scaled.top_weight, abs=0.05)
    assert big.scaled.saturated == 0


def test_the_jacobian_norm_is_that_of_the_explicit_matrix():
    from qkv.core.scaling import _spread

    rng = np.random.default_rng(1)
    scores = rng.standard_normal((5, 7)) * 3
    e = np.exp(scores - scores.max(-1, keepdims=True))
    a = e / e.sum(-1, keepdims=True)
    norms = [np.linalg.norm(np.diag(r) - np.outer(r, r)) for r in a]
    assert _spread(scores).gradient == pytest.approx(np.mean(norms), rel=1e-12)


def test_bad_measurements_are_refused():
    with pytest.raises(InputError, match="d_k must be between 1"):
        measure(0)


@pytest.mark.parametrize(("n", "s", "w"), [(4, 4, 0), (4, 4, 1), (2, 5, 1), (5, 3, 2)])
def test_window_mask_against_a_loop(n, s, w):
    offset = s - n  # bottom-right, as the causal mask
    plain = [[abs(j - (i + offset)) <= w for j in range(s)] for i in range(n)]
    assert window_mask(n, s, w).tolist() == plain
    with pytest.raises(InputError, match="0 or more"):
        window_mask(n, s, -1)


def test_a_01_matrix_is_a_boolean_mask():
    assert parse_mask("1 0\n0 1", "mask") == [[True, False], [False, True]]
    with pytest.raises(InputError, match="row 2, column 1 is 2; use 0 or 1"):
        parse_mask("1 0\n2 1", "mask")
