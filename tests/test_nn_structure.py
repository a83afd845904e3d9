"""Structured masks (window, lengths, document ids) in every backend of qkv.nn on the CPU,
against qkv.core in float64 with FlashAttention's tolerance rule; flex_attention runs eagerly
here (its compiled CPU kernel is tested under the `compile` marker, CUDA under `cuda`)."""

import math
import warnings
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from qkv.core.attention import attention as core_attention  # noqa: E402
from qkv.core.masks import structure_mask  # noqa: E402
from qkv.nn import attention, flex, routes  # noqa: E402
from qkv.nn import functional as F  # noqa: E402
from qkv.nn.call import Call  # noqa: E402
from qkv.nn.structure import Structure  # noqa: E402
from tests.test_nn_attention import floor, grads, max_err, naive  # noqa: E402


@pytest.fixture(autouse=True)
def eager_flex(monkeypatch):
    """flex_attention without compiling: the same semantics, seconds instead of minutes."""
    monkeypatch.setattr(flex, "COMPILE", False)


def docs_sorted(n, parts, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, parts, (n,), generator=g).sort().values


# (L, S, heads, batch, structure kwargs, user mask?)
CASES = {
    "window": (7, 11, (2, 2), 1, dict(window=(2, 1)), False),
    "window-top-left-more-queries": (11, 7, (2, 2), 1, dict(window=3, causal="top_left"), False),
    "lengths-causal-gqa": (130, 300, (4, 2), 2, dict(lengths=[5, 300], causal=True), False),
    "documents-causal": (
        300,
        300,
        (2, 1),
        1,
        dict(document_ids=docs_sorted(300, 4, 0), causal=True),
        False,
    ),
    "everything-and-a-mask": (
        130,
        300,
        (2, 2),
        2,
        dict(
            document_ids=torch.stack([docs_sorted(300, 3, 1), docs_sorted(300, 5, 2)]),
            window=(64, 0),
            lengths=[200, 250],
        ),
        True,
    ),
    "narrow-window-long": (600, 700, (2, 2), 1, dict(window=(16, 16)), False),
    "decode-one-token": (
        1,
        50,
        (4, 1),
        2,
        dict(window=(8, 0), causal=True, lengths=[50, 20]),
        False,
    ),
}


def make(case, dtype, seed=0):
    n_q, n_k, (hq, hkv), b, kw, masked = CASES[case]
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, hq, n_q, 16, generator=g, dtype=torch.float64)
    k = torch.randn(b, hkv, n_k, 16, generator=g, dtype=torch.float64)
    v = torch.randn(b, hkv, n_k, 16, generator=g, dtype=torch.float64)
    mask = None
    if masked:
        mask = torch.rand(b, 1, n_q, n_k, generator=g) > 0.2
        mask[:, :, 3, :] = False  # a fully masked row
    return q.to(dtype), k.to(dtype), v.to(dtype), mask, kw


def reference(q, k, v, mask, kw):
    """float64 output, logsumexp and the allowed (B, H, L, S) from the NumPy core."""
    np_kw = {key: (val.numpy() if torch.is_tensor(val) else val) for key, val in kw.items()}
    out, lse = core_attention(
        q.double().numpy(),
        k.double().numpy(),
        v.double().numpy(),
        mask=None if mask is None else mask.numpy(),
        return_lse=True,
        **np_kw,
    )
    shape = (q.shape[0], q.shape[1], q.shape[2], k.shape[2])
    causal = kw.get("causal") or False
    causal = None if causal is False else ("bottom_right" if causal is True else causal)
    allowed = structure_mask(
        shape, causal, kw.get("window"), np_kw.get("lengths"), np_kw.get("document_ids")
    )
    allowed = torch.from_numpy(np.broadcast_to(allowed, shape).copy())
    if mask is not None:
        allowed = allowed & mask
    return torch.from_numpy(out), torch.from_numpy(lse), allowed


LSE = {"math", "tiled", "flex"}
GRAD_CASES = ("lengths-causal-gqa", "everything-and-a-mask", "narrow-window-long")


@pytest.mark.parametrize("dtype", (torch.float32, torch.bfloat16), ids=lambda d: str(d)[6:])
@pytest.mark.parametrize("backend", ("math", "sdpa", "tiled", "flex", "auto"))
@pytest.mark.parametrize("case", CASES)
def test_structured_masks_within_naive_error(case, backend, dtype):
    q, k, v, mask, kw = make(case, dtype)
    scale = 1 / math.sqrt(q.shape[-1])
    ref_out, ref_lse, allowed = reference(q, k, v, mask, kw)
    naive_out, naive_lse = naive(q, k, v, allowed, scale)
    want_lse = backend in LSE
    result = attention(q, k, v, mask=mask, backend=backend, return_lse=want_lse, **kw)
    out, lse = result if want_lse else (result, None)
    assert out.dtype == dtype and out.shape == ref_out.shape
    assert not torch.isnan(out).any()
    n_k = k.shape[-2]
    assert max_err(out, ref_out) <= 2 * max_err(naive_out, ref_out) + floor(dtype, ref_out, n_k)
    empty = ~allowed.any(-1)
    assert (out[empty] == 0).all()
    if lse is not None:
        assert torch.equal(torch.isneginf(lse), empty)
        bound = 2 * max_err(naive_lse, ref_lse) + floor(dtype, ref_lse, n_k)
        assert max_err(lse, ref_lse) <= bound


@pytest.mark.parametrize("backend", ("math", "sdpa", "tiled"))
@pytest.mark.parametrize("case", GRAD_CASES)
def test_structured_gradients_within_naive_error(case, backend):
    q, k, v, mask, kw = make(case, torch.float32, seed=1)
    scale = 1 / math.sqrt(q.shape[-1])
    _, _, allowed = reference(q, k, v, mask, kw)
    g = torch.randn(*q.shape[:-1], v.shape[-1], generator=torch.Generator().manual_seed(3))

    def fn(be):
        return lambda a, b, c: attention(a, b, c, mask=mask, backend=be, **kw)

    ref = grads(fn("math"), q.double(), k.double(), v.double(), g.double())
    base = grads(lambda a, b, c: naive(a, b, c, allowed, scale)[0], q, k, v, g)
    got = grads(fn(backend), q, k, v, g)
    n = max(q.shape[-2], k.shape[-2])
    for name, r, b, o in zip("qkv", ref, base, got, strict=True):
        assert not torch.isnan(o).any(), name
        assert max_err(o, r) <= 3 * max_err(b, r) + floor(torch.float32, r, n), name
    empty = ~allowed.expand(*q.shape[:-1], k.shape[-2]).any(-1)
    assert (got[0][empty] == 0).all()


@pytest.mark.parametrize("backend", ("math", "sdpa", "tiled", "flex"))
def test_nan_in_padding_does_not_leak(backend):
    q, k, v, _, _ = make("lengths-causal-gqa", torch.float32, seed=4)
    lengths = [5, 300]
    dirty_k, dirty_v = k.clone(), v.clone()
    dirty_k[0, :, 5:] = float("nan")  # padding of row 0
    dirty_v[0, :, 5:] = float("inf")
    clean_k, clean_v = k.clone(), v.clone()
    clean_k[0, :, 5:] = 0
    clean_v[0, :, 5:] = 0
    got = attention(q, dirty_k, dirty_v, lengths=lengths, causal=True, backend=backend)
    want = attention(q, clean_k, clean_v, lengths=lengths, causal=True, backend=backend)
    torch.testing.assert_close(got, want)


def test_the_nn_structure_is_the_core_rule():
    """Structure.dense (torch) and structure_mask (NumPy) from the same arguments."""
    g = torch.Generator().manual_seed(5)
    for n_q, n_k, causal, window in ((5, 9, "top_left", (2, 0)), (9, 5, "bottom_right", 1)):
        q, k = torch.randn(3, 2, n_q, 4), torch.randn(3, 2, n_k, 4)
        lengths = torch.randint(0, n_k + 1, (3,), generator=g)
        docs = torch.randint(0, 3, (3, n_k), generator=g)
        st_ = Structure.build(
            q, k, causal=causal, align=causal, window=window, lengths=lengths, document_ids=docs
        )
        want = structure_mask((3, 2, n_q, n_k), causal, window, lengths.numpy(), docs.numpy())
        dense = st_.dense(q.device).expand(3, 2, n_q, n_k)
        np.testing.assert_array_equal(dense.numpy(), np.broadcast_to(want, dense.shape))


@st.composite
def structures(draw):
    n_q, n_k = draw(st.integers(1, 23)), draw(st.integers(1, 23))
    batch = draw(st.integers(1, 3))
    causal = draw(st.sampled_from([None, "bottom_right", "top_left"]))
    window = draw(st.one_of(st.none(), st.tuples(st.integers(0, 6), st.integers(0, 6))))
    per_row = st.lists(st.integers(0, n_k + 2), min_size=batch, max_size=batch)
    lengths = draw(st.one_of(st.none(), per_row))
    docs = draw(st.one_of(st.none(), st.lists(st.integers(0, 3), min_size=n_k, max_size=n_k)))
    if docs is not None and draw(st.booleans()):
        docs = sorted(docs)
    if window is None and lengths is None and docs is None:
        window = (1, 1)
    q, k = torch.zeros(batch, 1, n_q, 1), torch.zeros(batch, 1, n_k, 1)
    return Structure.build(
        q,
        k,
        causal=causal,
        align=causal,
        window=window,
        lengths=None if lengths is None else torch.tensor(lengths),
        document_ids=None if docs is None else torch.tensor(docs),
    ), batch


@settings(max_examples=300, deadline=None)
@given(structures(), st.integers(1, 6), st.integers(1, 6))
def test_block_classes_never_hide_a_visible_key_or_show_a_hidden_one(built, bq, bk):
    """flex_attention's block mask: an empty block holds no visible pair; a full block lies
    inside the sequences and every pair in it is visible (the blocks tiled computes are
    tested with these structures in tests/test_nn_tiled.py)."""
    s, batch = built
    dense = s.dense(torch.device("cpu")).expand(batch, 1, s.n_q, s.n_k)[:, 0]
    partial, full = (t[:, 0] for t in s.blocks(bq, bk, batch, torch.device("cpu")))
    assert not (partial & full).any()
    for b in range(batch):
        for i in range(partial.shape[-2]):
            for j in range(partial.shape[-1]):
                block = dense[b, i * bq : (i + 1) * bq, j * bk : (j + 1) * bk]
                if block.any():
                    assert partial[b, i, j] or full[b, i, j]
                if full[b, i, j]:
                    assert block.shape == (bq, bk) and block.all()


@settings(max_examples=200, deadline=None)
@given(structures())
def test_needs_cleaning_is_right_about_bands(built):
    s, batch = built
    dense = s.dense(torch.device("cpu")).expand(batch, 1, s.n_q, s.n_k)
    everyone = bool(dense.any(-1).all()) and bool(dense.any(-2).all())
    if not s.needs_cleaning():
        assert everyone


BIG = routes.CPU_TILED_WORK


def row(**kw):
    base = dict(
        device="cuda",
        weights=False,
        lse=False,
        dropout=False,
        mask_kind="none",
        structured=False,
        bottom_right=False,
        flex=True,
        work=0,
        share=1.0,
        keys_only=False,
    )
    return SimpleNamespace(**{**base, **kw})  # the facts of a qkv.nn.call.Call


@pytest.mark.parametrize(
    ("call", "backend"),
    [
        (row(weights=True), "math"),
        (row(lse=True, dropout=True), "math"),
        (row(dropout=True, structured=True), "sdpa"),
        (row(structured=True), "flex"),
        (row(bottom_right=True), "sdpa"),  # causal_lower_right: measured faster on an H200
        (row(lse=True, mask_kind="bool"), "flex"),
        (row(lse=True, mask_kind="float"), "tiled"),
        (row(structured=True, mask_kind="float"), "sdpa"),
        (row(), "sdpa"),
        (row(mask_kind="bool"), "sdpa"),
        (row(structured=True, flex=False), "sdpa"),
        (row(lse=True, flex=False), "tiled"),
        (row(device="cpu", structured=True), "sdpa"),  # small: SDPA with its mask
        (row(device="cpu", lse=True), "tiled"),
        # the CPU's table: tiled where it skips enough, SDPA where the mask costs it little
        (row(device="cpu", structured=True, work=BIG, share=0.2), "tiled"),
        (row(device="cpu", bottom_right=True, work=BIG, share=0.75), "tiled"),
        (row(device="cpu", structured=True, work=BIG, share=0.9), "sdpa"),
        (row(device="cpu", structured=True, work=BIG, share=0.4, keys_only=True), "tiled"),
        (row(device="cpu", structured=True, work=BIG, share=0.75, keys_only=True), "sdpa"),
        (row(device="cpu", structured=True, work=BIG // 4, share=0.2), "sdpa"),
        (row(device="cpu", structured=True, work=BIG, share=0.2, mask_kind="float"), "sdpa"),
        (row(device="cpu", structured=True, work=BIG, share=0.2, dropout=True), "sdpa"),
    ],
)
def test_auto_routes(call, backend):
    assert routes.auto(call) == backend


@pytest.mark.parametrize(
    "kw, n, want",
    [
        (dict(window=(128, 0), causal=True), 1024, "tiled"),  # share 0.25 of 8 x 1024 x 1024
        (dict(window=(16, 0), causal=True), 128, "sdpa"),  # small: the mask is cheap
        (dict(lengths=[1024, 1024]), 1024, "sdpa"),  # lengths at full length: nothing skipped
        (dict(lengths=[128, 256]), 1024, "tiled"),
        (dict(causal=True), 1024, "sdpa"),  # square causal: SDPA's is_causal
    ],
)
def test_route_on_the_cpu_follows_the_table(kw, n, want):
    q = torch.randn(2, 4, n, 8)
    assert F.route(q, q, q, **kw) == want
    assert F.route(q, q, q, return_lse=True, **kw) == "tiled"
    assert F.route(q, q, q, return_weights=True, **kw) == "math"


def test_flex_without_a_compiler_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(flex, "COMPILE", True)
    monkeypatch.setenv("CXX", "/nonexistent/c++")
    q = torch.randn(1, 1, 4, 8)
    assert "C++ compiler" in flex.unavailable(q.device)
    with pytest.raises(ValueError, match=r"backend 'flex' cannot run this call: .*C\+\+ compiler"):
        attention(q, q, q, causal=True, backend="flex")


def test_flex_refuses_what_torch_cannot_do_on_the_cpu(monkeypatch):
    q = torch.randn(1, 1, 4, 8, requires_grad=True)
    with pytest.raises(ValueError, match="no backward pass on the CPU"):
        attention(q, q, q, window=1, backend="flex")
    with pytest.raises(ValueError, match="float64"):
        attention(*(torch.randn(4, 8, dtype=torch.float64),) * 3, window=1, backend="flex")
    with pytest.raises(ValueError, match="no dropout"):
        attention(q, q, q, window=1, backend="flex", dropout_p=0.5, training=True)
    monkeypatch.setattr(flex, "COMPILE", True)
    with torch.no_grad(), pytest.raises(ValueError, match="no logsumexp on the CPU"):
        attention(q, q, q, window=1, backend="flex", return_lse=True)


def test_a_failed_compile_falls_back_to_sdpa_with_a_warning(monkeypatch):
    q, k, v, _, kw = make("window", torch.float32)

    def fail(*args, **kwargs):
        raise flex.CompileFailed("compiling flex_attention failed: no luck")

    monkeypatch.setattr(flex, "attention", fail)
    structure = Structure.build(
        q, k, causal=None, align=None, window=(2, 1), lengths=None, document_ids=None
    )
    call = Call(q, k, v, None, None, structure, 0.25, 0.0)
    with pytest.raises(RuntimeError, match=r"backend 'flex': compiling .* no luck; use backend"):
        F._flex(call, fallback=False)
    with pytest.warns(RuntimeWarning, match="no luck; qkv.nn.attention takes SDPA"):
        out, lse = F._flex(call, fallback=True)
    assert lse is None
    torch.testing.assert_close(out, attention(q, k, v, scale=0.25, backend="sdpa", **kw))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, lse = F._flex(replace(call, lse=True), fallback=True)
    tiled = attention(q, k, v, scale=0.25, backend="tiled", return_lse=True, **kw)
    torch.testing.assert_close(lse, tiled[1])


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (dict(lengths=[1, 2]), "one number per batch row"),
        (dict(lengths=[1.0]), "whole numbers"),
        (dict(lengths=[-1]), "0 or more"),
        (dict(document_ids=[0, 1]), "document_ids must be"),
        (dict(window=(1, -2)), "0 or more"),
        (dict(window="wide"), "window must be"),
    ],
)
def test_bad_structures_are_value_errors(kw, message):
    q = torch.randn(1, 2, 3, 4)
    with pytest.raises(ValueError, match=message):
        attention(q, q, q, **kw)


def test_a_block_mask_is_kept_for_the_same_structure_and_remade_after_a_change():
    """The block mask (some 350 tensor operations to make) is reused while the structure is
    the same, and made again when a tensor it was made from changes in place."""
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 2, 140, 8, generator=g) for _ in range(3))
    lengths = torch.tensor([140, 60])
    docs = torch.arange(140) // 50
    made = []
    real = flex._block_mask
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(flex, "_block_mask", lambda *a: made.append(1) or real(*a))
        flex._block_masks.clear()
        for _ in range(3):
            out = attention(q, k, v, backend="flex", lengths=lengths, document_ids=docs)
        assert len(made) == 1
        lengths[1] = 7  # in place: the version changes, the mask must follow
        out = attention(q, k, v, backend="flex", lengths=lengths, document_ids=docs)
        assert len(made) == 2
    ref = attention(q, k, v, backend="tiled", lengths=lengths, document_ids=docs)
    torch.testing.assert_close(out, ref, atol=2e-6, rtol=2e-6)


def test_the_flex_caches_are_bounded_lrus(monkeypatch):
    """Compiled functions (and block masks) are kept COMPILED (BLOCK_MASKS) at most, the least
    recently used dropped first, each key compiling a code object of its own."""
    cache = flex.Lru(2)
    cache.put("a", 1), cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent: "b" goes first
    cache.put("c", 3)
    assert "b" not in cache and cache.get("a") == 1 and cache.get("c") == 3 and len(cache) == 2
    with pytest.raises(ValueError):
        flex.Lru(0)
    compiled = []
    monkeypatch.setattr(flex, "COMPILE", True)
    monkeypatch.setattr(flex, "_compiled", flex.Lru(flex.COMPILED))
    monkeypatch.setattr(
        torch, "compile", lambda fn, dynamic: compiled.append(fn) or (lambda *a, **kw: fn)
    )
    q = torch.zeros(1, 1, 2, 2)
    for key in range(flex.COMPILED + 5):
        flex._run(("key", key), q, q, q, None, 1.0, False)
    flex._run(("key", flex.COMPILED + 4), q, q, q, None, 1.0, False)  # a hit: no compile
    assert len(compiled) == flex.COMPILED + 5 and flex.compiled_keys() == flex.COMPILED
    assert ("key", 0) not in flex._compiled and ("key", flex.COMPILED + 4) in flex._compiled
    assert len({fn.__code__ for fn in compiled}) == len(compiled)  # a code object each
    assert isinstance(flex._block_masks, flex.Lru) and flex._block_masks.size == flex.BLOCK_MASKS


def test_every_backend_is_registered_with_what_it_can_give_back():
    """One registry (name -> run, weights, lse, dropout) is what the dispatch and its
    refusals read; the names a caller may give are it and auto."""
    from qkv.nn import functional as F

    assert set(F.BACKENDS) == {"auto", *F.REGISTRY}
    q = torch.randn(1, 1, 4, 8)
    for name, can in F.REGISTRY.items():
        if name == "flex":
            continue  # compiles: tests/test_nn_flex_compile.py
        out = F.attention(q, q, q, backend=name, return_lse=can.lse, return_weights=can.weights)
        if not can.lse:
            with pytest.raises(ValueError, match="returns no logsumexp"):
                F.attention(q, q, q, backend=name, return_lse=True)
        if not can.weights:
            with pytest.raises(ValueError, match="never forms the weights"):
                F.attention(q, q, q, backend=name, return_weights=True)
        assert out is not None
