"""One spec, every implementation: qkv.core's float64 reference and each torch backend agree
on random AttentionSpecs (qkv.core.spec), given as spec= or as keyword arguments."""

import numpy as np
import pytest
import torch

from qkv.core.attention import attention as core_attention
from qkv.core.spec import AttentionSpec
from qkv.nn.functional import attention, route

BACKENDS = ("math", "tiled", "sdpa")


def random_spec(rng: np.random.Generator, batch: int, n_q: int, n_k: int) -> AttentionSpec:
    pick = rng.integers(0, 2, size=6).astype(bool)
    mask = None
    if pick[5]:
        mask = rng.random((n_q, n_k)) < 0.7
        mask[:, -1] = True
    return AttentionSpec(
        scale=float(rng.choice([0.3, 0.5, 1.0])) if pick[0] else "sqrt",
        causal=str(rng.choice(["bottom_right", "top_left"])) if pick[1] else None,
        window=(int(rng.integers(0, 3)), int(rng.integers(0, 3))) if pick[2] else None,
        row_lengths=tuple(int(n) for n in rng.integers(1, n_k + 1, size=batch))
        if pick[3]
        else None,
        document_ids=tuple(sorted(int(d) for d in rng.integers(0, 2, size=n_k)))
        if pick[4]
        else None,
        mask=mask,
        mask_means=str(rng.choice(["allow", "block"])) if mask is not None else None,
    )


def _torch_spec(spec: AttentionSpec) -> AttentionSpec:
    """The same spec with its mask as a torch tensor, as a PyTorch caller gives it."""
    if spec.mask is None:
        return spec
    return spec.replace(mask=torch.from_numpy(np.asarray(spec.mask)), mask_means=spec.mask_means)


@pytest.mark.parametrize("seed", range(12))
def test_core_and_every_backend_agree_on_a_random_spec(seed):
    rng = np.random.default_rng(seed)
    batch, heads, n_q, n_k, d = 2, 2, int(rng.integers(1, 6)), int(rng.integers(1, 7)), 3
    q, k, v = (rng.normal(size=(batch, heads, n, d)) for n in (n_q, n_k, n_k))
    spec = random_spec(rng, batch, n_q, n_k)
    want = core_attention(q, k, v, spec=spec)
    tq, tk, tv = (torch.from_numpy(a) for a in (q, k, v))
    for backend in BACKENDS:
        got = attention(tq, tk, tv, spec=_torch_spec(spec), backend=backend)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12, err_msg=backend)


def test_spec_and_keywords_give_the_same_call():
    rng = np.random.default_rng(1)
    q, k, v = (torch.from_numpy(rng.normal(size=(2, 1, 4, 3))) for _ in range(3))
    spec = AttentionSpec(causal="top_left", window=(1, 0), row_lengths=(4, 2), scale=0.5)
    by_spec = attention(q, k, v, spec=spec, backend="math")
    by_kw = attention(
        q, k, v, causal="top_left", window=(1, 0), lengths=[4, 2], scale=0.5, backend="math"
    )
    torch.testing.assert_close(by_spec, by_kw, rtol=0, atol=0)
    assert route(q, k, v, spec=spec) == route(
        q, k, v, causal="top_left", window=(1, 0), lengths=[4, 2], scale=0.5
    )
    with pytest.raises(ValueError, match="not both"):
        attention(q, k, v, spec=spec, causal=True)
    with pytest.raises(ValueError, match=r"belong to qkv\.core\.trace"):
        attention(q, k, v, spec=AttentionSpec(query_lengths=(1, 2, 3, 4)))


def test_multi_head_attention_takes_a_spec():
    from qkv.nn.modules import MultiHeadAttention

    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2, batch_first=True).double().eval()
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    padding = torch.tensor([[False] * 5, [False, False, False, True, True]])
    i, j = torch.arange(5)[:, None], torch.arange(5)[None, :]
    band = (j <= i) & (j >= i - 1)  # causal, one key back: written out
    want, _ = mha(x, key_padding_mask=padding, attn_mask=band)
    spec = AttentionSpec(causal=True, window=(1, 0))
    got, _ = mha(x, key_padding_mask=padding, spec=spec)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    got, _ = mha(x, spec=AttentionSpec(causal=True, window=(1, 0), row_lengths=(5, 3)))
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="not both"):
        mha(x, causal=True, spec=spec)
