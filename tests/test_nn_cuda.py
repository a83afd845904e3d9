"""qkv.nn on CUDA: the semantics grid of test_nn_attention for every backend, flex_attention
included (float32, bfloat16, float16; causal both ways; masks with fully masked rows; GQA;
the output, the logsumexp and the gradients against float64), structured masks, and compiled
kernels reused across lengths. Skipped, with the reason, where there is no CUDA."""

import math

import pytest

torch = pytest.importorskip("torch")

from qkv.nn import attention, flex  # noqa: E402
from tests.test_nn_attention import floor, max_err  # noqa: E402
from tests.test_nn_structure import CASES, reference  # noqa: E402

pytestmark = pytest.mark.cuda

DEV = "cuda"
DTYPES = (torch.float32, torch.bfloat16, torch.float16)
SHAPES = ((5, 2), (113, 203), (300, 129), (1023, 1024))
COMBOS = ((None, False), ("bottom_right", False), ("top_left", True), (None, True))
LSE = ("math", "tiled", "flex")


def naive(q, k, v, allowed, scale):
    """The same-dtype attention everything is measured against (GQA by repetition)."""
    if q.shape[-3] != k.shape[-3]:
        g = q.shape[-3] // k.shape[-3]
        k, v = k.repeat_interleave(g, dim=-3), v.repeat_interleave(g, dim=-3)
    s = (q @ k.transpose(-1, -2)) * scale
    s = s.masked_fill(~allowed, float("-inf"))
    live = allowed.any(-1, keepdim=True)
    s = s.masked_fill(~live, 0.0)
    w = torch.softmax(s.float(), dim=-1).to(q.dtype) * live
    lse = torch.logsumexp(s.float(), dim=-1).masked_fill(~live.squeeze(-1), float("-inf"))
    return w @ v, lse


def allowed_of(n_q, n_k, causal, mask):
    i = torch.arange(n_q, device=DEV)[:, None]
    j = torch.arange(n_k, device=DEV)[None, :]
    a = torch.ones(n_q, n_k, dtype=torch.bool, device=DEV)
    if causal is not None:
        a = j <= i + (n_k - n_q if causal == "bottom_right" else 0)
    return a if mask is None else a & mask


def run(fn, q, k, v, g, gl):
    """out, lse and (dq, dk, dv) of the loss (out · g) + (finite lse · gl)."""
    q, k, v = (t.detach().clone().requires_grad_(True) for t in (q, k, v))
    result = fn(q, k, v)
    out, lse = result if isinstance(result, tuple) else (result, None)
    loss = (out.float() * g).sum()
    if lse is not None:
        loss = loss + (lse.masked_fill(torch.isinf(lse), 0.0).float() * gl).sum()
    loss.backward()
    return out.detach(), None if lse is None else lse.detach(), (q.grad, k.grad, v.grad)


def flex_case(backend, shape, dtype, causal, masked):
    """flex compiles a kernel per dtype and rule set: every rule set in bfloat16, one in the
    other dtypes (keeps the compiling inside the GPU check's minutes). auto takes flex for
    bottom-right causal with L != S."""
    if backend == "auto" and not (causal == "bottom_right" and shape[0] != shape[1]):
        return True
    if backend not in ("flex", "auto"):
        return True
    return dtype == torch.bfloat16 or (causal, masked) in (
        ("top_left", True),
        ("bottom_right", False),
    )


CASES_GRID = [
    (shape, dtype, causal, masked)
    for shape in SHAPES
    for dtype in DTYPES
    for causal, masked in COMBOS
]


@pytest.mark.parametrize("backend", ("math", "sdpa", "tiled", "flex", "auto"))
@pytest.mark.parametrize(
    "shape, dtype, causal, masked",
    CASES_GRID,
    ids=[
        f"{s[0]}x{s[1]}-{str(d)[6:]}-{c}-{'mask' if m else 'nomask'}" for s, d, c, m in CASES_GRID
    ],
)
def test_cuda_grid(backend, shape, dtype, causal, masked):
    if not flex_case(backend, shape, dtype, causal, masked):
        pytest.skip("flex: this rule set is compiled in bfloat16 only")
    n_q, n_k = shape
    gen = torch.Generator(device=DEV).manual_seed(0)
    q = torch.randn(1, 4, n_q, 64, device=DEV, generator=gen, dtype=torch.float64)
    k = torch.randn(1, 2, n_k, 64, device=DEV, generator=gen, dtype=torch.float64)
    v = torch.randn(1, 2, n_k, 64, device=DEV, generator=gen, dtype=torch.float64)
    mask = None
    if masked:
        mask = torch.rand(1, 4, n_q, n_k, device=DEV, generator=gen) > 0.3
        mask[..., n_q // 2, :] = False  # a fully masked row
    allowed = allowed_of(n_q, n_k, causal, mask)
    g = torch.randn(1, 4, n_q, 64, device=DEV, generator=gen)
    gl = torch.randn(1, 4, n_q, device=DEV, generator=gen)
    want_lse = backend in LSE
    kw = dict(mask=mask, causal=causal or False, return_lse=want_lse)

    def ours(a, b, c):
        return attention(a, b, c, backend=backend, **kw)

    def ref_fn(a, b, c):
        return attention(a, b, c, backend="math", **{**kw, "return_lse": want_lse})

    scale = 1 / math.sqrt(64)
    low = [t.to(dtype) for t in (q, k, v)]
    out, lse, grads = run(ours, *low, g, gl)
    r_out, r_lse, r_grads = run(ref_fn, q, k, v, g, gl)

    def base(a, b, c):
        out_lse = naive(a, b, c, allowed, scale)
        return out_lse if want_lse else out_lse[0]

    n_out, n_lse, n_grads = run(base, *low, g, gl)
    assert out.dtype == dtype and not torch.isnan(out).any()
    assert max_err(out, r_out) <= 2 * max_err(n_out, r_out) + floor(dtype, r_out, n_k)
    empty = ~allowed.expand(1, 4, n_q, n_k).any(-1)
    assert (out[empty] == 0).all()
    if want_lse:
        assert torch.equal(torch.isneginf(lse), empty)
        assert max_err(lse, r_lse) <= 2 * max_err(n_lse, r_lse) + floor(dtype, r_lse, n_k)
    for name, o, r, b in zip("qkv", grads, r_grads, n_grads, strict=True):
        assert not torch.isnan(o).any(), name
        # a key's gradient sums over every query of every head in its GQA group (2 here)
        terms = 2 * max(n_q, n_k)
        assert max_err(o, r) <= 3 * max_err(b, r) + floor(dtype, r, terms), name
    assert (grads[0][empty] == 0).all()


@pytest.mark.parametrize("backend", ("math", "sdpa", "tiled", "flex", "auto"))
@pytest.mark.parametrize("case", CASES)
def test_cuda_structured_masks(case, backend):
    from tests.test_nn_structure import make

    dtype = torch.bfloat16
    q, k, v, mask, kw = make(case, torch.float32)
    ref_out, ref_lse, allowed = reference(q, k, v, mask, kw)
    q, k, v = (t.to(DEV, dtype) for t in (q, k, v))
    mask = None if mask is None else mask.to(DEV)
    kw = {key: (val.to(DEV) if torch.is_tensor(val) else val) for key, val in kw.items()}
    with torch.no_grad():
        result = attention(q, k, v, mask=mask, backend=backend, return_lse=backend in LSE, **kw)
    out, lse = result if isinstance(result, tuple) else (result, None)
    scale = 1 / math.sqrt(q.shape[-1])
    naive_out, naive_lse = naive(q, k, v, allowed.to(DEV), scale)
    ref_out, ref_lse = ref_out.to(DEV), ref_lse.to(DEV)
    n_k = k.shape[-2]
    assert max_err(out, ref_out) <= 2 * max_err(naive_out, ref_out) + floor(dtype, ref_out, n_k)
    if lse is not None:
        assert max_err(lse, ref_lse) <= 2 * max_err(naive_lse, ref_lse) + floor(dtype, ref_lse, n_k)


def test_cuda_flex_reuses_its_kernel_across_lengths():
    """Dynamic lengths on CUDA: new L and S (and new offsets, windows, lengths) run the
    compiled kernel, never towards torch's recompile limit (the probe's 14.5 TFLOP/s)."""
    from torch._dynamo.utils import counters

    gen = torch.Generator(device=DEV).manual_seed(1)
    graphs = None
    for n_q, n_k in (
        (512, 1024),
        (300, 777),
        (1024, 4096),
        (129, 4000),
        (2048, 2048),
        (64, 9000),
        (1000, 1001),
        (700, 3000),
        (256, 257),
        (1500, 6000),
    ):
        q = torch.randn(2, 4, n_q, 64, device=DEV, dtype=torch.bfloat16, generator=gen)
        k = torch.randn(2, 4, n_k, 64, device=DEV, dtype=torch.bfloat16, generator=gen)
        v = torch.randn(2, 4, n_k, 64, device=DEV, dtype=torch.bfloat16, generator=gen)
        with torch.no_grad():
            out = attention(q, k, v, causal=True, window=(n_k // 3, 0), backend="flex")
            ref = attention(q, k, v, causal=True, window=(n_k // 3, 0), backend="sdpa")
        torch.testing.assert_close(out, ref, atol=2e-2, rtol=2e-2)
        if graphs is None:
            graphs = counters["stats"]["unique_graphs"]
    assert counters["stats"]["unique_graphs"] - graphs <= 2  # one recompile to symbolic sizes


def test_cuda_bottom_right_paths_agree():
    """Bottom-right causal with L < S: flex and SDPA's causal_lower_right give the same."""
    gen = torch.Generator(device=DEV).manual_seed(2)
    q = torch.randn(2, 8, 1024, 128, device=DEV, dtype=torch.bfloat16, generator=gen)
    k, v = (
        torch.randn(2, 8, 2048, 128, device=DEV, dtype=torch.bfloat16, generator=gen) for _ in "kv"
    )
    with torch.no_grad():
        a = attention(q, k, v, causal=True, backend="flex")
        b = attention(q, k, v, causal=True, backend="sdpa")
        c = attention(q.double(), k.double(), v.double(), causal=True, backend="math")
    assert max_err(a, c) < 2e-2 and max_err(b, c) < 2e-2
    assert flex.unavailable(q.device) is None
