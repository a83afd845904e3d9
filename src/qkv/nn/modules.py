"""Attention modules: the article's ScaledDotProductAttention, made safe, and a
MultiHeadAttention with GQA and a KV cache.

Mapping from torch.nn.MultiheadAttention (``MultiHeadAttention.from_torch`` copies weights):

| torch.nn.MultiheadAttention       | qkv.nn.MultiHeadAttention                              |
|-----------------------------------|--------------------------------------------------------|
| batch_first=False (default)       | batch_first=True (default); False is supported         |
| in_proj_weight, in_proj_bias      | qkv_proj.weight, qkv_proj.bias (same layout: Q, K, V)  |
| out_proj                          | out_proj                                               |
| key_padding_mask, True = padding  | key_padding_mask, True = padding (the same)            |
| attn_mask bool, True = BLOCKED    | attn_mask bool, True = MAY ATTEND (as SDPA): pass ~m   |
| attn_mask float, added            | attn_mask float, added (the same)                      |
| is_causal (a hint; needs a mask)  | causal=True: bottom-right aligned, no mask needed      |
| need_weights=True (default)       | need_weights=False (default)                           |
| fully masked row -> NaN           | fully masked row -> output 0, weights 0                |
| -                                 | num_kv_heads (GQA), cache (KV cache for decoding)      |
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from qkv.core.spec import AttentionSpec
from qkv.nn.functional import attention


class ScaledDotProductAttention(nn.Module):
    """The article's class, with its call signature, mask convention and return value.

    ``forward(q, k, v, mask=None) -> (output, attn)`` where ``mask == 0`` means masked and
    scores are ``q / temperature @ kᵀ``. Differences from the article, all deliberate:

    - a fully masked row gives output 0 and weights 0 (the article's -1e9 fill makes it a
      uniform average of the values, and -1e9 overflows in float16);
    - ``attn`` is returned before dropout, so each row sums to 1 (the article returns it after
      dropout); dropout still applies to the weights used for the output in training;
    - softmax runs in float32 for float16/bfloat16 inputs.
    """

    def __init__(self, temperature: float, attn_dropout: float = 0.1):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature!r}")
        self.temperature = temperature
        self.dropout = nn.Dropout(attn_dropout)

    def forward(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        allowed = None if mask is None else mask != 0
        out, attn = attention(
            q,
            k,
            v,
            mask=allowed,
            scale=1.0 / self.temperature,
            dropout_p=self.dropout.p,
            training=self.training,
            return_weights=True,
            backend="math",
        )
        return out, attn


class KVCache:
    """Keys and values of the tokens seen so far, for incremental decoding.

    Preallocated to ``max_len`` on first use, so appending a token copies only that token.
    """

    def __init__(self, max_len: int):
        if max_len < 1:
            raise ValueError(f"max_len must be at least 1, got {max_len}")
        self.max_len = max_len
        self.length = 0
        self._k: torch.Tensor | None = None
        self._v: torch.Tensor | None = None

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add (B, H, T, d) keys and values; return all of them so far."""
        t = k.shape[-2]
        if self._k is not None and self._v is not None and not self._fits(k, v):
            if self.length:
                raise ValueError(
                    f"the KV cache holds keys of shape {tuple(self._k.shape[:-2])} "
                    f"(batch, heads), these are {tuple(k.shape[:-2])}: reset() the cache "
                    "or use one per sequence"
                )
            self._k = self._v = None  # empty: start again at the new shape
        if self.length + t > self.max_len:
            raise ValueError(f"KV cache full: {self.length} + {t} tokens > max_len {self.max_len}")
        if self._k is None or self._v is None:
            self._k = k.new_empty(*k.shape[:-2], self.max_len, k.shape[-1])
            self._v = v.new_empty(*v.shape[:-2], self.max_len, v.shape[-1])
        self._k.narrow(-2, self.length, t).copy_(k)
        self._v.narrow(-2, self.length, t).copy_(v)
        self.length += t
        return self._k.narrow(-2, 0, self.length), self._v.narrow(-2, 0, self.length)

    def _fits(self, k: torch.Tensor, v: torch.Tensor) -> bool:
        """k and v have the batch, heads and width of what the cache holds."""
        assert self._k is not None and self._v is not None
        old = (self._k.shape[:-2], self._k.shape[-1], self._v.shape[:-2], self._v.shape[-1])
        return old == (k.shape[:-2], k.shape[-1], v.shape[:-2], v.shape[-1])

    def reset(self) -> None:
        self.length = 0


class MultiHeadAttention(nn.Module):
    """Multi-head attention (with grouped-query attention and a KV cache).

    Inputs are (B, L, E) with ``batch_first=True`` (default), else (L, B, E). Self-attention
    (``key`` and ``value`` omitted or the same tensor as ``query``) uses one fused projection.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        num_kv_heads: int | None = None,
        bias: bool = True,
        dropout: float = 0.0,
        batch_first: bool = True,
        device: Any = None,
        dtype: Any = None,
    ):
        super().__init__()
        num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
        if embed_dim < 1 or num_heads < 1:
            raise ValueError(
                f"embed_dim and num_heads must be at least 1, got {embed_dim} and {num_heads}"
            )
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        if num_kv_heads < 1 or num_heads % num_kv_heads:
            raise ValueError(
                f"num_heads {num_heads} is not a multiple of num_kv_heads {num_kv_heads}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.embed_dim, self.num_heads, self.num_kv_heads = embed_dim, num_heads, num_kv_heads
        self.head_dim = embed_dim // num_heads
        self.kv_dim = num_kv_heads * self.head_dim
        self.dropout, self.batch_first = dropout, batch_first
        kw = {"device": device, "dtype": dtype}
        self.qkv_proj = nn.Linear(embed_dim, embed_dim + 2 * self.kv_dim, bias=bias, **kw)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **kw)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        # As torch.nn.MultiheadAttention: xavier for the input projection, zero biases.
        nn.init.xavier_uniform_(self.qkv_proj.weight)
        if self.qkv_proj.bias is not None:
            nn.init.zeros_(self.qkv_proj.bias)
            nn.init.zeros_(self.out_proj.bias)

    @classmethod
    def from_torch(cls, mha: nn.MultiheadAttention) -> MultiHeadAttention:
        """A copy of a torch.nn.MultiheadAttention's weights (same E for q, k and v)."""
        if not mha._qkv_same_embed_dim:
            raise ValueError("only torch MultiheadAttention with kdim == vdim == embed_dim")
        w = mha.in_proj_weight
        ours = cls(
            mha.embed_dim,
            mha.num_heads,
            bias=mha.in_proj_bias is not None,
            dropout=mha.dropout,
            batch_first=mha.batch_first,
            device=w.device,
            dtype=w.dtype,
        )
        with torch.no_grad():
            ours.qkv_proj.weight.copy_(w)
            ours.out_proj.weight.copy_(mha.out_proj.weight)
            if mha.in_proj_bias is not None:
                ours.qkv_proj.bias.copy_(mha.in_proj_bias)
                ours.out_proj.bias.copy_(mha.out_proj.bias)
        return ours

    def _heads(self, x: torch.Tensor, heads: int) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, heads, self.head_dim).transpose(1, 2)  # (B, H, T, hd)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        *,
        key_padding_mask: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        causal: bool | str = False,
        need_weights: bool = False,
        average_attn_weights: bool = True,
        cache: KVCache | None = None,
        spec: AttentionSpec | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(output, weights or None). Masks: see the module docstring. ``spec`` (qkv.core.spec)
        says the attention instead of ``attn_mask`` and ``causal``, with windows, lengths per
        batch row and documents too; ``key_padding_mask`` is ANDed with its mask, and its
        dropout_p, when 0, is the module's.

        With ``cache``, ``query`` holds only the new tokens; their keys and values are
        appended to the cache and the queries attend to everything cached (bottom-right
        causal alignment makes ``causal=True`` right for any number of new tokens).
        """
        if not self.batch_first:
            query = query.transpose(0, 1)
            key = None if key is None else key.transpose(0, 1)
            value = None if value is None else value.transpose(0, 1)
        if query.dim() != 3 or query.shape[-1] != self.embed_dim:
            raise ValueError(
                f"query must be (batch, length, {self.embed_dim}), got {tuple(query.shape)}"
            )
        q, k, v = self._project(query, key, value)  # (B, H, T, hd), (B, Hkv, S, hd) twice
        if cache is not None:
            k, v = cache.append(k, v)
        result = self._attend(q, k, v, key_padding_mask, attn_mask, causal, need_weights, spec)
        out, weights = result if need_weights else (result, None)
        b, _, t, _ = out.shape
        out = self.out_proj(out.transpose(1, 2).reshape(b, t, self.embed_dim))
        if not self.batch_first:
            out = out.transpose(0, 1)
        if weights is not None and average_attn_weights:
            weights = weights.mean(dim=1)
        return out, weights

    def _attend(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        key_padding_mask: torch.Tensor | None,
        attn_mask: torch.Tensor | None,
        causal: bool | str,
        need_weights: bool,
        spec: AttentionSpec | None,
    ) -> Any:
        """qkv.nn.functional.attention with the module's masks and dropout, or its spec."""
        if spec is None:
            mask = self._mask(key_padding_mask, attn_mask, q.shape[0], k.shape[-2])
            return attention(
                q, k, v, mask=mask, causal=causal, dropout_p=self.dropout,
                training=self.training, return_weights=need_weights,
            )  # fmt: skip
        if attn_mask is not None or causal:
            raise ValueError("give spec= or attn_mask/causal, not both")
        mask = self._mask(key_padding_mask, spec.may_attend(), q.shape[0], k.shape[-2])
        spec = spec.replace(mask=mask, dropout_p=spec.dropout_p or self.dropout)
        return attention(q, k, v, spec=spec, training=self.training, return_weights=need_weights)

    def _project(
        self, query: torch.Tensor, key: torch.Tensor | None, value: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys and values split into heads."""
        e, kv = self.embed_dim, self.kv_dim
        h, hkv = self.num_heads, self.num_kv_heads
        if (key is None or key is query) and (value is None or value is query):
            # self-attention: one projection, split on its last dim, then each into heads.
            # (Split into heads first, the backward's concatenation is (B, H, T, hd) and its
            # transpose back needs a copy of the whole gradient, one per layer and step.)
            q, k, v = self.qkv_proj(query).split([e, kv, kv], dim=-1)
            return self._heads(q, h), self._heads(k, hkv), self._heads(v, hkv)
        key = query if key is None else key
        value = key if value is None else value
        w, b = self.qkv_proj.weight, self.qkv_proj.bias
        q = nn.functional.linear(query, w[:e], None if b is None else b[:e])
        k = nn.functional.linear(key, w[e : e + kv], None if b is None else b[e : e + kv])
        v = nn.functional.linear(value, w[e + kv :], None if b is None else b[e + kv :])
        return self._heads(q, h), self._heads(k, hkv), self._heads(v, hkv)

    @staticmethod
    def _mask(
        key_padding_mask: torch.Tensor | None,
        attn_mask: torch.Tensor | None,
        batch: int,
        n_k: int,
    ) -> torch.Tensor | None:
        """One mask for qkv.nn.functional: bool True = may attend, or float added."""
        mask = attn_mask
        if key_padding_mask is not None:
            if key_padding_mask.shape != (batch, n_k):
                raise ValueError(
                    f"key_padding_mask must be (batch, keys) = ({batch}, {n_k}), "
                    f"got {tuple(key_padding_mask.shape)}"
                )
            if key_padding_mask.dtype != torch.bool:
                raise ValueError("key_padding_mask must be bool (True = padding)")
            keep = ~key_padding_mask[:, None, None, :]  # (B, 1, 1, S)
            if mask is None:
                mask = keep
            elif mask.dtype == torch.bool:
                mask = mask & keep
            else:
                mask = mask.masked_fill(~keep, -math.inf)
        return mask
