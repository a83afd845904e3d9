"""The sdpa backend: torch's scaled_dot_product_attention with qkv's semantics mapped onto it.

Its flags say some calls exactly: no mask, and causal aligned top-left (``is_causal``) or with
L == S. Bottom-right causal with L < S on CUDA is torch's ``causal_lower_right``, which torch
sends to its fused kernels. Everything else is a boolean or float mask tensor: the user's mask,
the causal mask and the structure (windows, lengths, documents) folded into one.
"""

from __future__ import annotations

import torch

from qkv.nn.gqa import group_heads
from qkv.nn.masks import Align, causal_offset, combine
from qkv.nn.sanitize import causal_reach, mask_reach, sanitize
from qkv.nn.structure import Structure

Tensor = torch.Tensor


def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    mask: Tensor | None,
    align: Align | None,
    structure: Structure | None,
    scale: float,
    dropout_p: float,
) -> Tensor:
    n_q, n_k = q.shape[-2], k.shape[-2]
    gqa = q.dim() >= 3 and q.shape[-3] != k.shape[-3]
    sdpa = torch.nn.functional.scaled_dot_product_attention
    if mask is None and structure is None:
        if align is None or n_q == n_k or align == "top_left":
            # the fast paths: no mask at all, or torch's own (top-left) is_causal
            if align is not None:
                offset = causal_offset(n_q, n_k, align)
                q, k, v = sanitize(q, k, v, causal_reach(n_q, n_k, offset, q.device))
            causal = align is not None
            return sdpa(q, k, v, dropout_p=dropout_p, is_causal=causal, scale=scale, enable_gqa=gqa)
        if q.is_cuda and n_q < n_k and not gqa:
            # every query sees a key and every key a query: nothing to clean
            from torch.nn.attention.bias import causal_lower_right

            bias = causal_lower_right(n_q, n_k)
            return sdpa(q, k, v, attn_mask=bias, dropout_p=dropout_p, scale=scale)
    return _with_mask(q, k, v, mask, align, structure, scale, dropout_p)


def _with_mask(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None,
    align: Align | None,
    structure: Structure | None,
    scale: float,
    dropout_p: float,
) -> Tensor:
    """SDPA with one mask tensor; rows with nothing to attend are zeroed after."""
    gqa = q.dim() >= 3 and q.shape[-3] != k.shape[-3]
    allowed, bias = combine(mask, align, q.shape[-2], k.shape[-2], q.device)
    if structure is not None:
        dense = structure.dense(q.device)
        allowed = dense if allowed is None else allowed & dense
    empty: Tensor | None = None
    attn_mask = bias
    if allowed is not None:
        gq, gk, gv, gallowed, _, grouped = group_heads(q, k, v, allowed, None)
        gq, gk, gv = sanitize(gq, gk, gv, mask_reach(gq, gk, gallowed))
        if grouped is not None:
            q, k, v = gq.flatten(-4, -3), gk.squeeze(-3), gv.squeeze(-3)
        else:
            q, k, v = gq, gk, gv
        allowed, empty = open_empty_rows(allowed)
        attn_mask = allowed if bias is None else bias.masked_fill(~allowed, float("-inf"))
    out = torch.nn.functional.scaled_dot_product_attention(
        q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, scale=scale, enable_gqa=gqa
    )
    if empty is not None:
        out = out.masked_fill(empty, 0.0)
    return out


def open_empty_rows(allowed: Tensor) -> tuple[Tensor, Tensor | None]:
    """A row with nothing to attend: let SDPA see every key there (the row is zeroed after),
    so that no torch version's NaN for empty rows can reach the output or the gradients.
    Returns the mask to give SDPA and the empty rows (None when there are none)."""
    empty = ~allowed.any(dim=-1, keepdim=True)
    if not bool(empty.any()):
        return allowed, None
    return allowed | empty, empty
