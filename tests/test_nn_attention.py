"""qkv.nn.functional.attention against qkv.core (float64) the way FlashAttention tests kernels:
our error must stay within a small multiple of a same-dtype naive implementation's error."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from qkv.core.attention import attention as core_attention  # noqa: E402
from qkv.nn import attention  # noqa: E402
from qkv.nn.masks import causal_mask  # noqa: E402

BACKENDS = ("math", "tiled", "sdpa", "auto")
DTYPES = (torch.float64, torch.float32, torch.bfloat16)
SHAPES = ((1, 7), (2, 5), (5, 2), (113, 203), (1023, 1024))


def naive(q, k, v, allowed, scale):
    """A plain same-dtype attention (with GQA by repetition) for the error baseline."""
    if q.shape[-3] != k.shape[-3]:
        g = q.shape[-3] // k.shape[-3]
        k, v = k.repeat_interleave(g, dim=-3), v.repeat_interleave(g, dim=-3)
    s = (q @ k.transpose(-1, -2)) * scale
    live = torch.ones((*s.shape[:-1], 1), dtype=torch.bool)
    if allowed is not None:
        s = s.masked_fill(~allowed, float("-inf"))
        live = allowed.any(-1, keepdim=True)
        s = s.masked_fill(~live, 0.0)  # keep empty rows finite, zero them after
    w = torch.softmax(s, dim=-1) * live
    lse = torch.logsumexp(s, dim=-1).masked_fill(~live.squeeze(-1), float("-inf"))
    return w @ v, lse


def make_case(n_q, n_k, dtype, *, heads=(2, 2), d=16, causal=None, masked=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    hq, hkv = heads
    q = torch.randn(1, hq, n_q, d, generator=g, dtype=torch.float64)
    k = torch.randn(1, hkv, n_k, d, generator=g, dtype=torch.float64)
    v = torch.randn(1, hkv, n_k, d, generator=g, dtype=torch.float64)
    mask = None
    if masked:
        mask = torch.rand(1, hq, n_q, n_k, generator=g) > 0.3
        mask[..., n_q // 2, :] = False  # a fully masked row in every head
    allowed = mask
    if causal is not None:
        c = causal_mask(n_q, n_k, causal)
        allowed = c if allowed is None else allowed & c
    return q.to(dtype), k.to(dtype), v.to(dtype), mask, allowed


def reference(q, k, v, mask, causal, scale):
    """float64 output and logsumexp from the NumPy core."""
    out, lse = core_attention(
        q.double().numpy(),
        k.double().numpy(),
        v.double().numpy(),
        mask=None if mask is None else mask.numpy(),
        causal=causal or False,
        scale=scale,
        return_lse=True,
    )
    return torch.from_numpy(out), torch.from_numpy(lse)


def floor(dtype, ref, n=1):
    """Rounding noise of dtype at ref's magnitude; sums over n terms add sqrt(n) of it."""
    return 4 * torch.finfo(dtype).eps * max(1.0, float(ref.abs().max())) * math.sqrt(n)


def max_err(a, b):
    a, b = a.double(), b.double()
    both_inf = torch.isinf(a) & torch.isinf(b) & (a == b)
    return float(torch.where(both_inf, 0.0, (a - b).abs()).max())


CASES = [
    (shape, dtype, causal, masked)
    for shape in SHAPES
    for dtype in DTYPES
    for causal, masked in ((None, False), ("bottom_right", False), ("top_left", True), (None, True))
    if not (shape == (1023, 1024) and dtype == torch.float64 and masked)
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "shape, dtype, causal, masked",
    CASES,
    ids=[f"{s[0]}x{s[1]}-{str(d)[6:]}-{c}-{'mask' if m else 'nomask'}" for s, d, c, m in CASES],
)
def test_forward_within_naive_error(backend, shape, dtype, causal, masked):
    n_q, n_k = shape
    heads = (4, 2) if n_q == 113 else (2, 2)  # GQA on one shape
    q, k, v, mask, allowed = make_case(n_q, n_k, dtype, heads=heads, causal=causal, masked=masked)
    scale = 1 / math.sqrt(q.shape[-1])
    ref_out, ref_lse = reference(q, k, v, mask, causal, scale)
    naive_out, naive_lse = naive(q, k, v, allowed, scale)
    want_lse = backend in ("math", "tiled")
    result = attention(
        q, k, v, mask=mask, causal=causal or False, backend=backend, return_lse=want_lse
    )
    out, lse = result if want_lse else (result, None)
    assert out.dtype == dtype and out.shape == ref_out.shape
    assert not torch.isnan(out).any()
    # The floor allows for the order of a sum over n_k terms, which changes with the blocks
    # and with the number of threads (float64's own rounding is a few ulps either way).
    bound = 2 * max_err(naive_out, ref_out) + floor(dtype, ref_out, n_k)
    assert max_err(out, ref_out) <= bound
    if lse is not None:
        assert torch.equal(torch.isneginf(lse), torch.isneginf(ref_lse))
        bound = 2 * max_err(naive_lse, ref_lse) + floor(dtype, ref_lse, n_k)
        assert max_err(lse, ref_lse) <= bound
    if allowed is not None:
        empty = ~allowed.expand(*out.shape[:-1], n_k).any(-1)
        assert (out[empty] == 0).all()


def grads(fn, q, k, v, g):
    q, k, v = (t.detach().clone().requires_grad_(True) for t in (q, k, v))
    out = fn(q, k, v)
    (out.float() * g).sum().backward()
    return q.grad, k.grad, v.grad


GRAD_CASES = [
    ((2, 5), None, True),
    ((5, 2), "bottom_right", False),
    ((113, 203), "top_left", True),
    ((257, 600), "bottom_right", True),
    ((600, 257), None, False),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d)[6:])
@pytest.mark.parametrize("shape, causal, masked", GRAD_CASES)
def test_gradients_within_naive_error(backend, dtype, shape, causal, masked):
    n_q, n_k = shape
    q, k, v, mask, allowed = make_case(
        n_q, n_k, dtype, heads=(4, 2), causal=causal, masked=masked, seed=1
    )
    scale = 1 / math.sqrt(q.shape[-1])
    g = torch.randn(1, 4, n_q, v.shape[-1], generator=torch.Generator().manual_seed(2))

    def ours(a, b, c):
        return attention(a, b, c, mask=mask, causal=causal or False, backend=backend)

    ref = grads(
        lambda a, b, c: attention(a, b, c, mask=mask, causal=causal or False, backend="math"),
        q.double(),
        k.double(),
        v.double(),
        g.double(),
    )
    base = grads(lambda a, b, c: naive(a, b, c, allowed, scale)[0], q, k, v, g)
    got = grads(ours, q, k, v, g)
    for name, r, b, o in zip("qkv", ref, base, got, strict=True):
        assert not torch.isnan(o).any(), name
        # the float64 reference has float64's own rounding: allow for the summation order
        assert max_err(o, r) <= 3 * max_err(b, r) + floor(dtype, r, max(n_q, n_k)), name
    if allowed is not None:  # fully masked query rows get exactly zero gradient
        empty = ~allowed.expand(1, 4, n_q, n_k).any(-1)
        assert (got[0][empty] == 0).all()


@pytest.mark.parametrize("backend", ("math", "tiled"))
def test_gradcheck_float64(backend):
    q, k, v, mask, _ = make_case(3, 5, torch.float64, heads=(2, 1), d=4, masked=True)
    inputs = tuple(t.requires_grad_(True) for t in (q, k, v))

    def fn(a, b, c):
        out, lse = attention(a, b, c, mask=mask, backend=backend, return_lse=True)
        return out, lse.masked_fill(torch.isinf(lse), 0.0)

    assert torch.autograd.gradcheck(fn, inputs)
    assert torch.autograd.gradcheck(
        lambda a, b, c: attention(a, b, c, causal=True, backend=backend), inputs
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_in_masked_out_positions_does_not_leak(backend):
    q, k, v, _, _ = make_case(6, 9, torch.float32, heads=(2, 2), seed=3)
    mask = torch.ones(1, 2, 6, 9, dtype=torch.bool)
    mask[..., :, 7:] = False  # keys 7 and 8: padding, nobody attends them
    mask[..., 2, :] = False  # query 2 attends nothing
    clean = [t.clone() for t in (q, k, v)]
    dirty = [t.clone() for t in (q, k, v)]
    for t in dirty[1:]:
        t[..., 7:, :] = float("nan")
    dirty[0][..., 2, :] = float("inf")
    g = torch.randn(1, 2, 6, 16)
    fn = lambda a, b, c: attention(a, b, c, mask=mask, backend=backend)  # noqa: E731
    ref = grads(fn, *clean, g)
    got = grads(fn, *dirty, g)
    torch.testing.assert_close(fn(*dirty), fn(*clean))
    for r, o in zip(ref, got, strict=True):
        assert not torch.isnan(o).any()
        torch.testing.assert_close(o, r)


def test_fully_masked_float_mask_and_bias():
    q, k, v, _, _ = make_case(4, 6, torch.float32, seed=4)
    bias = torch.randn(4, 6)
    bias[1] = float("-inf")
    ref_out, _ref_lse = reference(q, k, v, bias, None, 0.25)
    for backend in BACKENDS:
        out = attention(q, k, v, mask=bias, backend=backend, scale=0.25)
        torch.testing.assert_close(out.double(), ref_out, atol=1e-5, rtol=1e-5)
        assert (out[..., 1, :] == 0).all()


def test_weights_before_dropout_sum_to_one():
    q, k, v, _, _ = make_case(5, 5, torch.float32, seed=5)
    torch.manual_seed(0)
    out, w = attention(q, k, v, dropout_p=0.5, training=True, return_weights=True)
    torch.testing.assert_close(w.sum(-1), torch.ones(1, 2, 5))
    plain = attention(q, k, v)
    assert not torch.allclose(out, plain)  # dropout did act on the output
    torch.testing.assert_close(attention(q, k, v, dropout_p=0.5, training=False), plain)


def test_unbatched_and_return_order():
    q, k, v = torch.randn(3, 4), torch.randn(5, 4), torch.randn(5, 2)
    out, w, lse = attention(q, k, v, return_weights=True, return_lse=True)
    ref_out, ref_w, ref_lse = core_attention(
        q.numpy(), k.numpy(), v.numpy(), return_weights=True, return_lse=True
    )
    np.testing.assert_allclose(out.numpy(), ref_out, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w.numpy(), ref_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(lse.numpy(), ref_lse, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(q=torch.randn(4), k=torch.randn(4), v=torch.randn(4)), "rank"),
        (dict(q=torch.randn(2, 3, 4), k=torch.randn(2, 5, 4), v=torch.randn(2, 5)), "rank"),
        (
            dict(q=torch.randn(2, 3, 4), k=torch.randn(2, 5, 8), v=torch.randn(2, 5, 8)),
            "head dims differ",
        ),
        (
            dict(q=torch.randn(3, 3, 4), k=torch.randn(2, 5, 4), v=torch.randn(2, 5, 4)),
            "not a multiple",
        ),
        (
            dict(
                q=torch.randn(3, 4),
                k=torch.randn(5, 4),
                v=torch.randn(5, 4),
                mask=torch.ones(4, 5, dtype=torch.bool),
            ),
            "does not broadcast",
        ),
        (
            dict(q=torch.randn(3, 4), k=torch.randn(5, 4), v=torch.randn(5, 4), dropout_p=1.0),
            "dropout_p",
        ),
        (
            dict(
                q=torch.ones(3, 4, dtype=torch.long),
                k=torch.ones(5, 4, dtype=torch.long),
                v=torch.ones(5, 4, dtype=torch.long),
            ),
            "floating-point",
        ),
        (
            dict(
                q=torch.randn(3, 4),
                k=torch.randn(5, 4),
                v=torch.randn(5, 4),
                mask=torch.ones(3, 5, dtype=torch.int32),
            ),
            "bool",
        ),
        (
            dict(q=torch.randn(3, 4), k=torch.randn(5, 4), v=torch.randn(5, 4), backend="flash"),
            "backend",
        ),
        (
            dict(
                q=torch.randn(3, 4),
                k=torch.randn(5, 4),
                v=torch.randn(5, 4),
                backend="sdpa",
                return_weights=True,
            ),
            "sdpa",
        ),
        (
            dict(q=torch.randn(3, 4), k=torch.randn(5, 4), v=torch.randn(5, 4), causal="diagonal"),
            "causal",
        ),
    ],
)
def test_bad_input_is_a_value_error_that_names_it(kwargs, message):
    with pytest.raises(ValueError, match=message):
        attention(**kwargs)


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_outside_a_causal_mask_does_not_leak(backend):
    # top-left, S > L: keys 4.. are seen by no query; bottom-right, L > S: queries 0..2 see none
    for n_q, n_k, align, where in ((4, 7, "top_left", "keys"), (7, 4, "bottom_right", "queries")):
        q, k, v, _, _ = make_case(n_q, n_k, torch.float32, heads=(4, 2), seed=6)
        dirty = [t.clone() for t in (q, k, v)]
        if where == "keys":
            dirty[1][..., 4:, :] = float("nan")
            dirty[2][..., 4:, :] = float("nan")
        else:
            dirty[0][..., :3, :] = float("nan")
        g = torch.randn(1, 4, n_q, 16)
        fn = lambda a, b, c: attention(a, b, c, causal=align, backend=backend)  # noqa: B023, E731
        clean = [t.clone() for t in (q, k, v)]
        if where == "keys":
            clean[1][..., 4:, :] = 0
            clean[2][..., 4:, :] = 0
        else:
            clean[0][..., :3, :] = 0
        torch.testing.assert_close(fn(*dirty), fn(*clean))
        for r, o in zip(grads(fn, *clean, g), grads(fn, *dirty, g), strict=True):
            assert not torch.isnan(o).any()
            torch.testing.assert_close(o, r)
