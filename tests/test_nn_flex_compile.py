"""flex_attention compiled for the CPU (inference only in torch 2.13): the block masks qkv
makes are those the kernel really skips by, and the compiled kernels are reused across
lengths, offsets and masks instead of recompiled. Minutes of compiling: -m compile."""

import math

import pytest

torch = pytest.importorskip("torch")

from qkv.nn import attention, flex  # noqa: E402
from tests.test_nn_attention import floor, max_err, naive  # noqa: E402
from tests.test_nn_structure import CASES, make, reference  # noqa: E402

pytestmark = pytest.mark.compile


@pytest.fixture(autouse=True)
def compiled():
    if flex.unavailable(torch.device("cpu")):
        pytest.skip(flex.unavailable(torch.device("cpu")))


@pytest.mark.parametrize("case", CASES)
def test_compiled_flex_within_naive_error(case):
    q, k, v, mask, kw = make(case, torch.float32)
    scale = 1 / math.sqrt(q.shape[-1])
    ref_out, _, allowed = reference(q, k, v, mask, kw)
    naive_out, _ = naive(q, k, v, allowed, scale)
    with torch.no_grad():
        out = attention(q, k, v, mask=mask, backend="flex", **kw)
    bound = 2 * max_err(naive_out, ref_out) + floor(torch.float32, ref_out, k.shape[-2])
    assert max_err(out, ref_out) <= bound
    assert (out[~allowed.any(-1)] == 0).all()


def test_new_windows_lengths_and_documents_reuse_the_compiled_kernel():
    """The numbers of the rules are inputs of the kernel: new ones run it again, uncompiled.
    (On the CPU each (L, S) is compiled for; CUDA's symbolic lengths are tested there.)"""
    from torch._dynamo.utils import counters

    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 2, 200, 16, generator=g)
    k, v = torch.randn(2, 2, 300, 16, generator=g), torch.randn(2, 2, 300, 16, generator=g)
    calls = [
        dict(window=(16, 0), lengths=[300, 20], causal=True),
        dict(window=(40, 2), lengths=[5, 300], causal="top_left"),
        dict(window=(1, 1), lengths=[0, 299]),
        dict(window=(500, 0), lengths=[299, 130], causal=True),
        dict(window=(7, 7), lengths=[300, 300], causal="top_left"),
    ]
    with torch.no_grad():
        attention(q, k, v, backend="flex", **calls[0])  # compiles
        keys, graphs = flex.compiled_keys(), counters["stats"]["unique_graphs"]
        for kw in calls:
            out = attention(q, k, v, backend="flex", **kw)
            ref = attention(q, k, v, backend="tiled", **kw)
            torch.testing.assert_close(out, ref, atol=2e-5, rtol=2e-5)
    assert flex.compiled_keys() == keys
    assert counters["stats"]["unique_graphs"] == graphs


def test_more_keys_than_the_recompile_limit_stay_compiled():
    """Each key compiles its own copy of the call (its own code object), so keys never share
    torch.compile's recompile budget: on torch 2.11 they did, and past 8 keys every call ran
    eagerly, forming all L x S scores (830x SDPA's memory on an H200)."""
    import warnings

    import torch._dynamo

    limit = torch._dynamo.config.recompile_limit
    g = torch.Generator().manual_seed(1)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # flex's "called without torch.compile"
        for heads in range(1, limit + 3):  # a new key each: the number of heads
            q, k, v = (torch.randn(1, heads, 130, 8, generator=g) for _ in range(3))
            out = attention(q, k, v, backend="flex", window=(3, 0), causal=True)
            ref = attention(q, k, v, backend="tiled", window=(3, 0), causal=True)
            torch.testing.assert_close(out, ref, atol=2e-5, rtol=2e-5)
    assert flex.compiled_keys() >= limit + 2
