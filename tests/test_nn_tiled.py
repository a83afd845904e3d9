"""The tiled backend's machinery: which blocks it computes, how large they are, the worker
threads, and the two ways of masking a block; every structured mask across many blocks,
forward and backward, against the float64 math backend."""

import math
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from qkv.core.masks import structure_mask  # noqa: E402
from qkv.nn import attention, blocks, tiled, workers  # noqa: E402
from qkv.nn.blocks import BlockMap, block_sizes  # noqa: E402
from qkv.nn.masks import causal_mask  # noqa: E402
from tests.test_nn_attention import floor, grads, max_err  # noqa: E402
from tests.test_nn_structure import CASES, make, reference, structures  # noqa: E402


@pytest.fixture
def threads():
    """Set torch's threads for a test, and put them back after."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


@pytest.fixture
def small_blocks(monkeypatch):
    """16 x 32 blocks whatever the shapes, so that small cases cross many blocks."""
    monkeypatch.setattr(tiled, "block_sizes", lambda *a: (16, 32))


def dense_blocks(dense, bq, bk):
    """(any, all) of each block of a dense (B, L, S) mask, over the batch: the truth."""
    n_q, n_k = dense.shape[-2:]
    nq, nk = math.ceil(n_q / bq), math.ceil(n_k / bk)
    some = torch.zeros(nq, nk, dtype=torch.bool)
    every = torch.zeros(nq, nk, dtype=torch.bool)
    for i in range(nq):
        for j in range(nk):
            block = dense[:, i * bq : (i + 1) * bq, j * bk : (j + 1) * bk]
            some[i, j], every[i, j] = bool(block.any()), bool(block.all())
    return some, every


def as_tables(bmap):
    nq, nk = len(bmap.rows), len(bmap.cols)
    live = torch.zeros(nq, nk, dtype=torch.bool)
    full = torch.zeros(nq, nk, dtype=torch.bool)
    for i, pairs in enumerate(bmap.rows):
        for j, f in pairs:
            live[i, j], full[i, j] = True, f
    for j, pairs in enumerate(bmap.cols):  # the columns say the same as the rows
        assert sorted(pairs) == sorted((i, bool(full[i, j])) for i in range(nq) if live[i, j])
    return live, full


@settings(max_examples=300, deadline=None)
@given(structures(), st.integers(1, 6), st.integers(1, 6))
def test_a_structure_s_live_blocks_are_those_with_a_visible_pair(built, bq, bk):
    """No block with a visible pair is skipped, and a block called full needs no mask. With
    one rule alone (a band, lengths, or sorted documents: packed sequences) no empty block is
    computed either; rules together are judged each on its own, so a block each rule shows
    something of may still be empty."""
    s, batch = built
    dense = s.dense(torch.device("cpu")).expand(batch, 1, s.n_q, s.n_k)[:, 0]
    live, full = as_tables(BlockMap.build(s.n_q, s.n_k, bq, bk, structure=s))
    some, every = dense_blocks(dense, bq, bk)
    assert not (some & ~live).any()  # never skips what some query sees
    assert not (full & ~every).any()  # never leaves a hidden pair unmasked
    docs = s.key_docs
    rules = (s.has_band, s.lengths is not None, docs is not None)
    if sum(rules) == 1 and (docs is None or bool((docs.diff(dim=-1) >= 0).all())):
        assert torch.equal(live, some)


@pytest.mark.parametrize("n_q, n_k", [(40, 40), (24, 70), (70, 24), (1, 33)])
@pytest.mark.parametrize("offset_of", ["bottom_right", "top_left"])
def test_causal_and_user_mask_blocks(n_q, n_k, offset_of):
    from qkv.nn.masks import causal_offset

    offset = causal_offset(n_q, n_k, offset_of)
    g = torch.Generator().manual_seed(0)
    user = torch.rand(2, 1, n_q, n_k, generator=g) > 0.3
    user[..., : n_q // 2, 16:] = False  # whole blocks hidden by the user's mask
    dense = causal_mask(n_q, n_k, offset_of) & user
    live, full = as_tables(BlockMap.build(n_q, n_k, 8, 16, offset=offset, allowed=user))
    some, every = dense_blocks(dense.reshape(-1, n_q, n_k), 8, 16)
    assert torch.equal(live, some) and torch.equal(full, every)
    key_padding = torch.ones(2, 1, 1, n_k, dtype=torch.bool)  # one row, broadcast
    key_padding[..., n_k // 2 :] = False
    live, full = as_tables(BlockMap.build(n_q, n_k, 8, 16, allowed=key_padding))
    some, every = dense_blocks(key_padding.expand(2, 1, n_q, n_k).reshape(-1, n_q, n_k), 8, 16)
    assert torch.equal(live, some) and torch.equal(full, every)


def test_block_sizes_keep_the_bytes_and_fit_the_sequences():
    bq, bk = block_sizes(8, 4096, 4096, torch.float32)
    assert bq * bk * 8 * 4 == blocks.BLOCK_BYTES[4] and bk == blocks.BLOCK_K
    bq64, bk64 = block_sizes(8, 4096, 4096, torch.float64)  # twice the bytes a number
    assert bq64 * bk64 * 8 * 8 <= blocks.BLOCK_BYTES[8] and bk64 <= bk
    wide = block_sizes(64, 4096, 4096, torch.float32)  # a wider batch: shorter blocks
    assert wide[0] * wide[1] * 64 * 4 <= blocks.BLOCK_BYTES[4]
    assert wide[0] >= blocks.LEAST_Q and wide[1] >= blocks.LEAST_K
    assert block_sizes(8, 1, 50, torch.float32) == (16, 64)  # a decode step: one block
    huge = block_sizes(4096, 4096, 4096, torch.float32)  # never below the least blocks
    assert huge == (blocks.LEAST_Q, blocks.LEAST_K)


def count_pairs(monkeypatch):
    """Count the 16 x 32 score blocks tiled computes (products into its scratch buffers)."""
    seen = []
    real = torch.matmul

    def matmul(a, b, *, out=None):
        if out is not None and tuple(out.shape[-2:]) == (16, 32):
            seen.append(1)
        return real(a, b) if out is None else real(a, b, out=out)

    monkeypatch.setattr(torch, "matmul", matmul)
    return seen


@pytest.mark.parametrize("case", ["window", "lengths", "documents", "bottom-right"])
def test_no_empty_block_is_ever_touched(case, monkeypatch, threads):
    """The forward computes each block that holds a visible pair once, and no other; the
    backward two products (p and dp) for each of them."""
    threads(1)  # in this thread: the counting sees every product
    n = 256
    kw = {
        "window": {"window": (32, 0), "causal": True},
        "lengths": {"lengths": [100, 40]},
        "documents": {"document_ids": torch.arange(n) * 4 // n, "causal": True},
        "bottom-right": {"causal": True},
    }[case]
    n_q = 64 if case == "bottom-right" else n
    q = torch.randn(2, 2, n_q, 8, requires_grad=True)
    k, v = (torch.randn(2, 2, n, 8, requires_grad=True) for _ in "kv")
    monkeypatch.setattr(tiled, "block_sizes", lambda *a: (16, 32))
    np_kw = {key: (val.numpy() if torch.is_tensor(val) else val) for key, val in kw.items()}
    lengths = np_kw.get("lengths")
    dense = structure_mask(
        (2, 1, n_q, n),
        "bottom_right" if kw.get("causal") else None,
        kw.get("window"),
        None if lengths is None else np.asarray(lengths),
        np_kw.get("document_ids"),
    )
    dense = torch.from_numpy(np.broadcast_to(dense, (2, 1, n_q, n)).reshape(-1, n_q, n).copy())
    live = int(dense_blocks(dense, 16, 32)[0].sum())
    assert live < math.ceil(n_q / 16) * math.ceil(n / 32)
    seen = count_pairs(monkeypatch)
    out = attention(q, k, v, backend="tiled", **kw)
    assert len(seen) == live
    seen.clear()
    out.sum().backward()
    assert len(seen) == 2 * live


@pytest.mark.parametrize("case", list(CASES))
def test_structured_masks_across_many_blocks(case, small_blocks, threads):
    """Forward, logsumexp and gradients of every structured case with 16 x 32 blocks and
    two workers, against the math backend in float64."""
    threads(2)
    q, k, v, mask, kw = make(case, torch.float32, seed=2)
    ref_out, ref_lse, allowed = reference(q, k, v, mask, kw)
    out, lse = attention(q, k, v, mask=mask, backend="tiled", return_lse=True, **kw)
    n_k = k.shape[-2]
    assert max_err(out, ref_out) <= floor(torch.float32, ref_out, n_k) * 4
    assert torch.equal(torch.isneginf(lse), ~allowed.any(-1))
    assert max_err(lse, ref_lse) <= floor(torch.float32, ref_lse, n_k) * 4
    g = torch.randn(*q.shape[:-1], v.shape[-1], generator=torch.Generator().manual_seed(1))

    def fn(be):
        return lambda a, b, c: attention(a, b, c, mask=mask, backend=be, **kw)

    want = grads(fn("math"), q.double(), k.double(), v.double(), g.double())
    got = grads(fn("tiled"), q, k, v, g)
    n = max(q.shape[-2], n_k)
    for name, w, o in zip("qkv", want, got, strict=True):
        assert max_err(o, w) <= 50 * floor(torch.float32, w, n), name


def test_two_workers_give_what_one_thread_gives(small_blocks, threads):
    """Rows are computed alike by whichever worker takes them (the forward is the same to
    the bit); the backward adds dq's parts in another order."""
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 4, 150, 16, generator=g, requires_grad=True) for _ in "qkv")
    results = []
    for n in (1, 2):
        threads(n)
        out, lse = attention(q, k, v, causal=True, backend="tiled", return_lse=True)
        results.append((out, lse, *torch.autograd.grad((out * out).sum(), (q, k, v))))
    one, two = results
    assert torch.equal(one[0], two[0]) and torch.equal(one[1], two[1])
    for a, b in zip(one[2:], two[2:], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_workers_run_one_thread_each_and_leave_the_caller_s_alone(threads):
    threads(2)
    seen, lock = [], threading.Lock()

    def record(_):
        with lock:
            seen.append((torch.get_num_threads(), workers.threads_for(torch.device("cpu"))))

    workers.parallel_for(record, range(8), 2)
    assert seen == [(1, 1)] * 8  # one intra-op thread each, and no nesting
    assert torch.get_num_threads() == 2
    started = []
    t = threading.Thread(target=lambda: started.append(torch.get_num_threads()))
    t.start()
    t.join()
    assert started == [2]  # new threads still start with the process default


def test_a_worker_s_error_is_raised_in_the_caller():
    def fail(i):
        if i == 3:
            raise ValueError("block 3")

    with pytest.raises(ValueError, match="block 3"):
        workers.parallel_for(fail, range(8), 2)
    workers.parallel_for(lambda i: None, range(4), 2)  # the pool still works


def test_tiled_in_inference_mode_and_under_autocast(small_blocks, threads):
    """The workers take the caller's inference mode (in-place updates of inference tensors
    need it) and compute in float32 under autocast, as the caller's thread does."""
    threads(2)
    q, k, v = (torch.randn(1, 2, 100, 16) for _ in "qkv")
    want = attention(q, k, v, causal=True, backend="math")
    with torch.inference_mode():
        got = attention(q, k, v, causal=True, backend="tiled")
    torch.testing.assert_close(got, want)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = attention(q, k, v, causal=True, backend="tiled")
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want)


def test_masks_as_a_bias_only_where_every_score_is_finite(small_blocks):
    """Finite scores: a -inf bias is added (fast). Scores that may overflow: masked_fill,
    so that inf - inf never reaches a row from a key it may not see."""
    q, k, v = (torch.randn(1, 2, 64, 16) for _ in "qkv")
    assert tiled._finite_scores(q, k, 0.36)
    assert not tiled._finite_scores(q * 1e30, k * 1e10, 0.36)
    assert not tiled._finite_scores(q, k.masked_fill(k > 2, float("nan")), 0.36)
    assert not tiled._finite_scores(q, k, 0.36, torch.tensor([0.0, float("inf")]))
    assert tiled._finite_scores(q, k, 0.36, torch.tensor([0.0, float("-inf")]))
    # a huge query against one key: inf there, which its causal mask hides
    big_q, big_k = q.clone(), k.clone()
    big_q[..., 10, :] = 1e19
    big_k[..., 40, :] = 1e19
    out = attention(big_q, big_k, v, causal=True, backend="tiled")
    want = attention(big_q.double(), big_k.double(), v.double(), causal=True, backend="math")
    assert not torch.isnan(out).any()
    torch.testing.assert_close(out.double(), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("rise", [0.0, 40.0, 600.0])
def test_later_blocks_far_above_the_first_are_still_exact(rise, small_blocks):
    """Blocks taken against the rows' m as it stands: scores that climb block by block make
    weights above 1 (rise 40: scaled back by powers of 2) or past float32's range (rise 600:
    the block is taken again against its own maximum); the result is the same."""
    g = torch.Generator().manual_seed(7)
    q = torch.randn(1, 2, 48, 16, generator=g)
    k = torch.randn(1, 2, 160, 16, generator=g)
    v = torch.randn(1, 2, 160, 16, generator=g)
    q[..., 0] = 1.0
    k[..., 0] = torch.arange(160) / 32 * rise  # each 32-key block `rise` higher
    out, lse = attention(q, k, v, backend="tiled", return_lse=True, scale=0.25)
    want, want_lse = attention(
        q.double(), k.double(), v.double(), backend="math", return_lse=True, scale=0.25
    )
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.double(), want, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(lse.double(), want_lse, rtol=1e-5, atol=1e-4)
