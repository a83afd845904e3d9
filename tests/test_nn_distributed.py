"""Ring attention on 2 and 4 gloo processes against the single-process result.

Each rank computes the whole-sequence reference itself (the same seeded inputs), runs
ring_attention on its shard, and reports the largest errors of its shard of the output, the
logsumexp and the three gradients. float64: equal to the single-process tiled backend to
1e-12. float32: within 2× the error of the single-process float32 run, both against float64
(FlashAttention's rule), plus a rounding floor.
"""

from __future__ import annotations

import os
import time

import pytest

torch = pytest.importorskip("torch")

from qkv.nn import attention  # noqa: E402
from qkv.nn.distributed import ring_attention, zigzag_shard, zigzag_unshard  # noqa: E402
from qkv.nn.shards import pieces, segments  # noqa: E402
from tests.ranks import RankFailed, run_ranks  # noqa: E402

NAMES = ("out", "lse", "dq", "dk", "dv")


def shard(x, rank, world, layout, dim=-2):
    return zigzag_shard(x, rank, world, dim) if layout == "zigzag" else x.chunk(world, dim)[rank]


def make_inputs(c, dtype):
    """The whole sequence's q, k, v, output and lse gradients and mask, in dtype."""
    g = torch.Generator().manual_seed(c.get("seed", 0))
    hq, hkv = c.get("heads", (2, 2))
    n_q, n_k = c["n"]

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    q, k, v = randn(2, hq, n_q, 8), randn(2, hkv, n_k, 8), randn(2, hkv, n_k, 6)
    dout, dlse = randn(2, hq, n_q, 6), randn(2, hq, n_q)
    mask = None
    if c.get("mask") == "bool":
        mask = torch.rand(1, hq, n_q, n_k, generator=g) > 0.4
        mask[..., n_q // 3, :] = False  # a row that sees nothing
    elif c.get("mask") == "padding":
        mask = torch.ones(2, 1, 1, n_k, dtype=torch.bool)
        mask[1, ..., -5:] = False
    elif c.get("mask") == "float":
        mask = randn(1, 1, n_q, n_k)
    if mask is not None and mask.is_floating_point():
        mask = mask.to(dtype)
    return [t.to(dtype) for t in (q, k, v, dout)] + [dlse], mask


def run(fn, q, k, v, dout, dlse, mask, use_lse):
    """Output, lse and the gradients of sum(out·dout) (+ sum(lse·dlse) over finite lse)."""
    q, k, v = (t.detach().clone().requires_grad_(True) for t in (q, k, v))
    out, lse = fn(q, k, v, mask)
    loss = (out * dout).sum()
    if use_lse:
        loss = loss + (lse.masked_fill(torch.isinf(lse), 0.0) * dlse).sum()
    loss.backward()
    return out.detach(), lse.detach(), q.grad, k.grad, v.grad


def errors(got, want):
    """Largest |a - b| per result (equal infinities count as 0)."""
    out = []
    for a, b in zip(got, want, strict=True):
        a, b = a.double(), b.double()
        same_inf = torch.isinf(a) & torch.isinf(b) & (a == b)
        out.append(float(torch.where(same_inf, 0.0, (a - b).abs()).max()))
    return out


def ring_case(rank, world, c, dtype):
    """(ring errors, single-process errors) of this rank's shard against float64."""
    layout, causal = c.get("layout", "zigzag"), c.get("causal", False)
    use_lse = c.get("lse", False)
    (q, k, v, dout, dlse), mask = make_inputs(c, torch.float64)

    def single(q, k, v, m):
        return attention(q, k, v, mask=m, causal=causal, backend="tiled", return_lse=True)

    want = run(single, q, k, v, dout, dlse, mask, use_lse)
    low = [t.to(dtype) for t in (q, k, v, dout)]
    lowmask = mask if mask is None or mask.dtype == torch.bool else mask.to(dtype)
    alone = run(single, *low, dlse, lowmask, use_lse)

    def cut(x, dim=-2):
        return shard(x, rank, world, layout, dim)

    def ring(q, k, v, m):
        return ring_attention(
            q,
            k,
            v,
            mask=m,
            causal=causal,
            layout=layout,
            return_lse=True,
            piece_keys=c.get("piece"),
        )

    mine = None if lowmask is None else (lowmask if lowmask.shape[-2] == 1 else cut(lowmask))
    got = run(ring, *(cut(t) for t in low), cut(dlse, -1), mine, use_lse)
    dims = (-2, -1, -2, -2, -2)
    want = [cut(t, d) for t, d in zip(want, dims, strict=True)]
    alone = [cut(t, d) for t, d in zip(alone, dims, strict=True)]
    return errors(got, want), errors(alone, want), [float(t.double().abs().max()) for t in want]


# n: (whole query length, whole key length); piece: keys per message (several rounds)
CASES = {
    "full-contiguous": dict(n=(32, 32), layout="contiguous"),
    "full-zigzag-pieces": dict(n=(32, 32), piece=3),
    "causal-contiguous": dict(n=(32, 32), causal=True, layout="contiguous", piece=5),
    "causal-zigzag": dict(n=(32, 32), causal=True),
    "causal-zigzag-pieces": dict(n=(32, 32), causal=True, piece=3),
    "bottom-right-longer-keys": dict(n=(24, 40), causal=True, piece=3),
    "top-left-longer-keys": dict(n=(24, 40), causal="top_left"),
    "bottom-right-longer-queries": dict(n=(40, 24), causal=True, layout="contiguous", piece=2),
    "top-left-longer-queries": dict(n=(40, 24), causal="top_left", layout="contiguous"),
    "odd-shards": dict(n=(34, 34), causal=True, layout="contiguous", piece=4),  # 17 a rank
    "zigzag-odd-chunks": dict(n=(52, 52), causal=True, piece=4),
    "gqa-causal": dict(n=(32, 32), heads=(4, 2), causal=True, piece=3),
    "gqa-one-kv-head-padding-mask": dict(n=(32, 32), heads=(4, 1), mask="padding"),
    "bool-mask-causal": dict(n=(32, 32), causal=True, mask="bool", piece=3),
    "bool-mask-contiguous": dict(n=(32, 32), layout="contiguous", mask="bool"),
    "float-mask-causal": dict(n=(32, 32), causal=True, mask="float"),
    "lse-gradient": dict(n=(32, 32), causal=True, lse=True, piece=5),
}
CASES4 = ("full-contiguous", "causal-contiguous", "causal-zigzag-pieces", "gqa-causal",
          "bool-mask-causal", "bottom-right-longer-keys", "zigzag-odd-chunks")  # fmt: skip
# 4 ranks: every length must split into 8 zigzag chunks
CASES4_N = {"bottom-right-longer-keys": (32, 48), "zigzag-odd-chunks": (56, 56)}


def all_cases(rank, world, names):
    out = {}
    for name in names:
        c = dict(CASES[name])
        if world == 4 and name in CASES4_N:
            c["n"] = CASES4_N[name]
        out[name] = {
            str(dt): ring_case(rank, world, c, dt) for dt in (torch.float64, torch.float32)
        }
    return out


@pytest.fixture(scope="module")
def measured():
    """Every case on 2 ranks and the 4-rank ones on 4: {world: {case: {dtype: errors}}},
    the largest over the ranks."""
    out = {}
    for world, names in ((2, list(CASES)), (4, list(CASES4))):
        per_rank = run_ranks(all_cases, world, names, timeout=240)
        out[world] = {
            name: {
                dt: [[max(r[name][dt][i][j] for r in per_rank) for j in range(5)] for i in range(3)]
                for dt in per_rank[0][name]
            }
            for name in names
        }
    return out


PARAMS = [(2, name) for name in CASES] + [(4, name) for name in CASES4]


@pytest.mark.parametrize("world, name", PARAMS, ids=[f"{w}ranks-{n}" for w, n in PARAMS])
def test_float64_equals_the_single_process_result(measured, world, name):
    ring, _, scale = measured[world][name]["torch.float64"]
    for what, err, size in zip(NAMES, ring, scale, strict=True):
        assert err <= 1e-12 * max(1.0, size), f"{what}: {err:.2e}"


@pytest.mark.parametrize("world, name", PARAMS, ids=[f"{w}ranks-{n}" for w, n in PARAMS])
def test_float32_within_twice_the_single_process_error(measured, world, name):
    ring, alone, scale = measured[world][name]["torch.float32"]
    for what, err, base, size in zip(NAMES, ring, alone, scale, strict=True):
        floor = torch.finfo(torch.float32).eps * max(1.0, size)  # one rounding
        assert err <= 2 * base + floor, f"{what}: ring {err:.2e}, one process {base:.2e}"


def test_zigzag_shards_put_back_and_balance():
    x = torch.arange(2 * 16 * 3).view(2, 16, 3)
    parts = [zigzag_shard(x, r, 4, dim=1) for r in range(4)]
    assert parts[0][0, :, 0].tolist() == [0, 3, 42, 45]  # rank 0: chunks 0 and 7
    assert torch.equal(zigzag_unshard(parts, dim=1), x)
    rows = [segments("zigzag", r, 4, 4) for r in range(4)]
    # under a causal mask, rank r's queries see (r + 1) + (8 - r) chunks' worth of keys
    seen = [sum(s.start // 2 + 1 for s in segs) for segs in rows]
    assert len(set(seen)) == 1
    with pytest.raises(ValueError, match="divisible by 2 × world_size = 6"):
        zigzag_shard(x, 0, 3, dim=1)
    with pytest.raises(ValueError, match="rank must be in"):
        zigzag_shard(x, 4, 4, dim=1)


def test_pieces_cover_every_key_once():
    segs = segments("zigzag", 1, 3, 14)  # two chunks of 7
    cut = pieces(segs, 3)
    assert [[s.length for s in p] for p in cut] == [[3, 3], [3, 3], [1, 1]]
    keys = sorted(i for p in cut for s in p for i in range(s.start, s.start + s.length))
    assert keys == list(range(7, 14)) + list(range(28, 35))


def test_without_torch_distributed_it_says_so():
    q = torch.randn(1, 4, 8)
    with pytest.raises(ValueError, match="init_process_group"):
        ring_attention(q, q, q)


def disagreements(rank, world):
    """Each kind of mistake a rank can make, and what every rank then raised."""
    import torch.distributed as dist

    said = {}
    q = torch.randn(1, 2, 8, 4)
    wide = q.to(torch.float64 if rank else torch.float32)
    tries = {
        "uneven": lambda: ring_attention(q[..., : 8 - 2 * rank, :], q, q),
        "dtype": lambda: ring_attention(wide, wide, wide),
        "refused": lambda: ring_attention(q, q, q, scale=-1.0 if rank else None),
        "causal": lambda: ring_attention(q, q, q, causal=bool(rank)),
        "key mask": lambda: ring_attention(q, q, q, mask=torch.ones(8, 8, dtype=torch.bool)),
        "odd zigzag": lambda: ring_attention(q[..., :7, :], q[..., :7, :], q[..., :7, :]),
    }
    for name, call in tries.items():
        try:
            call()
            said[name] = "no error"
        except ValueError as e:
            said[name] = str(e)
    groups = [dist.new_group([r]) for r in range(world)]  # every rank makes every group
    alone = ring_attention(q, q, q, causal=True, group=groups[rank], return_lse=True)
    plain = attention(q, q, q, causal=True, backend="tiled", return_lse=True)
    said["group of one"] = all(torch.equal(a, b) for a, b in zip(alone, plain, strict=True))
    return said


def test_ranks_that_disagree_all_raise_the_same_clear_error():
    first, second = run_ranks(disagreements, 2, timeout=60)
    assert first["uneven"] == second["uneven"]
    assert "query shard length" in first["uneven"] and "8 on rank 0, 6 on rank 1" in first["uneven"]
    assert "dtype" in first["dtype"] and "torch.float64 on rank 1" in second["dtype"]
    assert "scale must be a positive" in second["refused"]
    assert "rank 1 refused its inputs" in first["refused"]
    assert "causal" in first["causal"] and first["causal"] == second["causal"]
    assert "it needs all 16 of the sequence" in first["key mask"]
    assert "shard lengths must be even" in first["odd zigzag"]
    assert first["group of one"] and second["group of one"]


def nan_behind_the_mask(rank, world):
    """NaN in keys and values no query may see (padding), and in a query that sees nothing."""
    g = torch.Generator().manual_seed(5)
    q, k, v = (torch.randn(1, 2, 16, 4, generator=g, dtype=torch.float64) for _ in range(3))
    pad = torch.ones(1, 1, 1, 16, dtype=torch.bool)
    pad[..., 5] = False  # key 5: nobody may look at it
    mask = pad.expand(1, 2, 16, 16).clone()
    mask[..., 9, :] = False  # query 9 may look at nothing
    k[..., 5, :], v[..., 5, :], q[..., 9, :] = float("nan"), float("nan"), float("nan")
    mine = zigzag_shard(mask, rank, world)
    q, k, v = (zigzag_shard(t, rank, world).requires_grad_(True) for t in (q, k, v))
    out = ring_attention(q, k, v, mask=mine, causal=True)
    out.sum().backward()
    return [bool(torch.isfinite(t).all()) for t in (out, q.grad, k.grad, v.grad)]


def test_nan_behind_the_mask_does_not_leak():
    assert run_ranks(nan_behind_the_mask, 2, timeout=60) == [[True] * 4] * 2


def dies_in_the_ring(rank, world):
    """The last rank exits in the middle of the ring; the others must raise, not wait."""
    from qkv.nn import ring

    if rank == world - 1:
        calls = []
        real = ring.Ring.exchange

        def exchange(self, send, recv, tag):
            calls.append(1)
            if len(calls) == 3:
                os._exit(9)
            return real(self, send, recv, tag)

        ring.Ring.exchange = exchange
    q = torch.randn(1, 2, 64, 8, requires_grad=True)
    t0 = time.monotonic()
    try:
        ring_attention(q, q, q, causal=True, piece_keys=4).sum().backward()
    except Exception as e:
        return ("raised", type(e).__name__, time.monotonic() - t0)
    return ("finished", "", time.monotonic() - t0)


@pytest.mark.parametrize("world", [2, 3])
def test_a_killed_rank_makes_the_others_fail_not_hang(world):
    results = run_ranks(dies_in_the_ring, world, timeout=60, allow=True)
    assert results[-1] == ("died", 9)
    for kind, error, seconds in results[:-1]:
        assert kind == "raised" and error == "RuntimeError"
        assert seconds < 30, seconds  # gloo notices the closed connection at once


def test_run_ranks_reports_a_failing_rank():
    with pytest.raises(RankFailed, match="rank 1: ZeroDivisionError"):
        run_ranks(_divide, 2, timeout=60)


def _divide(rank, world):
    return 1 / (1 - rank)


def test_nothing_of_size_n_squared():
    """The forward pass of 2 ranks allocates nothing near (N, N): peak bytes stay O(N)."""
    grown = run_ranks(_peak_bytes, 2, timeout=60)
    n = 4096
    assert max(grown) < n * n * 4 / 8, grown  # an (N, N) float32 matrix would be 64 MB


def _peak_bytes(rank, world):
    import resource

    q = torch.randn(1, 1, 2048, 16)
    ring_attention(q[..., :64, :], q[..., :64, :], q[..., :64, :], causal=True)  # warm up
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ring_attention(q, q, q, causal=True)
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024
