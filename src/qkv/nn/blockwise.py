"""One autograd wrapper for attention computed block by block: `tiled` on one device and the
ring across ranks share it. Forward saves q, k, v, the output and the logsumexp; backward
recomputes each block's weights from them (FlashAttention's backward) with the plan the call
was given, and hands each input a gradient of its own shape and dtype."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

OptTensor = Tensor | None


@dataclass(frozen=True)
class Blocks:
    """How one call's blocks are computed: forward(q, k, v, plan) -> (output, logsumexp) and
    backward(q, k, v, out, lse, dout, dlse, plan) -> (dq, dk, dv) (qkv.nn.tiled, qkv.nn.ring)."""

    plan: Any  # tiled.Tiling or ring.Plan
    forward: Callable[..., tuple[Tensor, Tensor]]
    backward: Callable[..., tuple[Tensor, Tensor, Tensor]]
    autocast_off: bool  # arithmetic in the inputs' dtype, whatever autocast says


def reduce_to(grad: Tensor, shape: torch.Size) -> Tensor:
    """Sum a gradient over the dimensions its input was broadcast along (GQA groups)."""
    while grad.dim() > len(shape):
        grad = grad.sum(0)
    dims = [i for i, (g, s) in enumerate(zip(grad.shape, shape, strict=True)) if s == 1 and g != 1]
    return grad.sum(dims, keepdim=True) if dims else grad


def _fit(grad: Tensor, like: Tensor) -> Tensor:
    return reduce_to(grad, like.shape).to(like.dtype)


def _autocast(blocks: Blocks, q: Tensor) -> Any:
    if blocks.autocast_off:
        return torch.autocast(q.device.type, enabled=False)
    return contextlib.nullcontext()


class BlockwiseAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, q: Tensor, k: Tensor, v: Tensor, blocks: Blocks) -> tuple[Tensor, Tensor]:
        with _autocast(blocks, q):
            out, lse = blocks.forward(q, k, v, blocks.plan)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.blocks = blocks
        return out, lse

    @staticmethod
    def backward(ctx: Any, dout: Tensor, dlse: Tensor) -> tuple[OptTensor, ...]:
        q, k, v, out, lse = ctx.saved_tensors
        b = ctx.blocks
        with _autocast(b, q):
            dq, dk, dv = b.backward(q, k, v, out, lse, dout.contiguous(), dlse, b.plan)
        return _fit(dq, q), _fit(dk, k), _fit(dv, v), None


def apply(q: Tensor, k: Tensor, v: Tensor, blocks: Blocks) -> tuple[Tensor, Tensor]:
    """(output, logsumexp), differentiable in q, k and v."""
    out, lse = BlockwiseAttention.apply(q, k, v, blocks)  # type: ignore[no-untyped-call]
    return out, lse
