import math

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from qkv.nn import MultiHeadAttention, ScaledDotProductAttention  # noqa: E402
from qkv.nn.article import ArticleScaledDotProductAttention as ArticleAttention  # noqa: E402
from qkv.nn.modules import KVCache  # noqa: E402


def test_article_signature_and_results_match_in_eval():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 4, 8), torch.randn(2, 3, 6, 8), torch.randn(2, 3, 6, 5)
    mask = (torch.rand(2, 1, 4, 6) > 0.3).int()
    mask[..., 0] = 1  # no fully masked row here
    ours, theirs = ScaledDotProductAttention(8**0.5).eval(), ArticleAttention(8**0.5).eval()
    out, attn = ours(q, k, v, mask=mask)
    out_a, attn_a = theirs(q, k, v, mask=mask)
    torch.testing.assert_close(out, out_a)
    torch.testing.assert_close(attn, attn_a)


def test_differences_from_the_article_are_the_documented_ones():
    torch.manual_seed(1)
    q, k, v = torch.randn(1, 1, 3, 4), torch.randn(1, 1, 3, 4), torch.randn(1, 1, 3, 2)
    mask = torch.ones(1, 1, 3, 3, dtype=torch.int64)
    mask[..., 1, :] = 0
    out, attn = ScaledDotProductAttention(2.0).eval()(q, k, v, mask)
    out_a, _ = ArticleAttention(2.0).eval()(q, k, v, mask)
    assert (out[..., 1, :] == 0).all() and (attn[..., 1, :] == 0).all()
    torch.testing.assert_close(out_a[..., 1, :], v.mean(dim=-2))  # theirs: a uniform average
    # float16: -1e9 does not fit; ours works
    with pytest.raises(RuntimeError):
        ArticleAttention(2.0).eval()(q.half(), k.half(), v.half(), mask)
    out16, _ = ScaledDotProductAttention(2.0).eval()(q.half(), k.half(), v.half(), mask)
    torch.testing.assert_close(out16.float(), out, atol=2e-3, rtol=2e-3)
    # training: our weights still sum to 1; the article's do not
    torch.manual_seed(2)
    _, attn_t = ScaledDotProductAttention(2.0, attn_dropout=0.5).train()(q, k, v)
    _, attn_at = ArticleAttention(2.0, attn_dropout=0.5).train()(q, k, v)
    torch.testing.assert_close(attn_t.sum(-1), torch.ones(1, 1, 3))
    assert not torch.allclose(attn_at.sum(-1), torch.ones(1, 1, 3))


@pytest.mark.parametrize("batch_first", [True, False])
def test_matches_torch_multihead_attention_with_its_weights(batch_first):
    torch.manual_seed(3)
    e, h, b, n = 32, 4, 2, 7
    theirs = nn.MultiheadAttention(e, h, batch_first=batch_first).eval()
    ours = MultiHeadAttention.from_torch(theirs).eval()
    x = torch.randn(b, n, e) if batch_first else torch.randn(n, b, e)
    pad = torch.zeros(b, n, dtype=torch.bool)
    pad[1, -2:] = True  # the second sequence has two padding tokens
    blocked = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)  # torch: True = blocked
    out_t, w_t = theirs(x, x, x, key_padding_mask=pad, attn_mask=blocked, need_weights=True)
    out_o, w_o = ours(x, key_padding_mask=pad, attn_mask=~blocked, need_weights=True)
    torch.testing.assert_close(out_o, out_t, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(w_o, w_t, atol=1e-6, rtol=1e-5)
    # causal=True is the same as the explicit mask when L == S
    out_c, _ = ours(x, key_padding_mask=pad, causal=True)
    torch.testing.assert_close(out_c, out_t, atol=1e-5, rtol=1e-5)
    # cross-attention path with separate key/value tensors
    mem = torch.randn(b, 5, e) if batch_first else torch.randn(5, b, e)
    out_t2, _ = theirs(x, mem, mem, need_weights=False)
    out_o2, _ = ours(x, mem, mem)
    torch.testing.assert_close(out_o2, out_t2, atol=1e-5, rtol=1e-5)


def test_gradients_match_torch_multihead_attention():
    torch.manual_seed(4)
    theirs = nn.MultiheadAttention(16, 2, batch_first=True)
    ours = MultiHeadAttention.from_torch(theirs)
    x1 = torch.randn(2, 5, 16, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    theirs(x1, x1, x1, need_weights=False)[0].square().sum().backward()
    ours(x2)[0].square().sum().backward()
    torch.testing.assert_close(x2.grad, x1.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(
        ours.qkv_proj.weight.grad, theirs.in_proj_weight.grad, atol=1e-5, rtol=1e-5
    )


def test_fully_masked_row_is_zero_not_nan():
    torch.manual_seed(5)
    ours = MultiHeadAttention(8, 2).eval()
    x = torch.randn(1, 3, 8)
    mask = torch.ones(3, 3, dtype=torch.bool)
    mask[1] = False
    out, w = ours(x, attn_mask=mask, need_weights=True)
    assert not torch.isnan(out).any() and (w[0, 1] == 0).all()
    torch.testing.assert_close(out[0, 1], ours.out_proj.bias)  # zero attention output


@pytest.mark.parametrize("kv_heads", [4, 2, 1])
def test_kv_cache_decoding_equals_full_causal_forward(kv_heads):
    torch.manual_seed(6)
    mha = MultiHeadAttention(32, 4, num_kv_heads=kv_heads).eval()
    x = torch.randn(2, 9, 32)
    full, _ = mha(x, causal=True)
    cache = KVCache(max_len=16)
    prefill, _ = mha(x[:, :4], causal=True, cache=cache)
    steps = [prefill]
    for t in range(4, 9):
        out, _ = mha(x[:, t : t + 1], causal=True, cache=cache)
        steps.append(out)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)
    assert cache.length == 9
    with pytest.raises(ValueError, match="KV cache full"):
        mha(torch.randn(2, 8, 32), cache=cache)


def test_gqa_equals_repeated_kv_heads():
    torch.manual_seed(7)
    gqa = MultiHeadAttention(16, 4, num_kv_heads=2, bias=False).eval()
    full = MultiHeadAttention(16, 4, bias=False).eval()
    hd = 4
    wq, wk, wv = gqa.qkv_proj.weight.split([16, 8, 8])
    rep = lambda w: w.view(2, hd, 16).repeat_interleave(2, dim=0).reshape(16, 16)  # noqa: E731
    with torch.no_grad():
        full.qkv_proj.weight.copy_(torch.cat([wq, rep(wk), rep(wv)]))
        full.out_proj.weight.copy_(gqa.out_proj.weight)
    x = torch.randn(2, 6, 16)
    torch.testing.assert_close(gqa(x, causal=True)[0], full(x, causal=True)[0])


def test_bad_configuration():
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(30, 4)
    with pytest.raises(ValueError, match="num_kv_heads"):
        MultiHeadAttention(32, 4, num_kv_heads=3)
    mha = MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match="query must be"):
        mha(torch.randn(2, 3, 7))
    with pytest.raises(ValueError, match="key_padding_mask"):
        mha(torch.randn(2, 3, 8), key_padding_mask=torch.zeros(2, 4, dtype=torch.bool))
    assert math.isclose(ScaledDotProductAttention(2.0).temperature, 2.0)
