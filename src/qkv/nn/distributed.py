"""qkv.nn.distributed: attention over a sequence spread over the ranks of a process group.

    out = ring_attention(q, k, v, causal=True)     # q, k, v: this rank's shard (..., N/P, d)

Each of the P ranks holds a shard of the sequence: its queries, keys and values. Its queries
stay; the keys and values travel around the ring (qkv.nn.ring), and the output is this rank's
shard of what qkv.nn.attention gives for the whole sequence, with the same semantics
(README, "Semantics"), forward and backward. torch.distributed must be initialised (torchrun
does it); gloo runs on CPU tensors and NCCL on CUDA tensors, with the same code.

Layouts (qkv.nn.shards): ``"zigzag"`` (the default) for shards cut by :func:`zigzag_shard`,
which balance a causal mask's work; ``"contiguous"`` for shards cut in order (torch.chunk).

Masks: the rows of the whole (..., N_q, N_k) mask that belong to this rank's queries, cut like
the queries (zigzag_shard(mask, rank, P, dim=-2)), with every key's column in sequence order:
(..., N_q/P, N_k). A key-padding mask (..., 1, N_k) and a mask with one column broadcast.
Keys travel, so every rank needs every key's column; a mask of (..., N_q/P, N_k/P) is refused.

Every rank must call it with the same shapes, dtype, options and need for gradients: the ranks
check this together first and all raise the same error when they disagree (a different shard
length on one rank: "uneven shards"), instead of hanging.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from qkv.nn import blockwise, shards
from qkv.nn.functional import attention
from qkv.nn.gqa import group_heads, ungroup_heads
from qkv.nn.masks import causal_offset, combine, normalize_causal
from qkv.nn.ring import Plan, Ring
from qkv.nn.ring import backward as ring_backward
from qkv.nn.ring import forward as ring_forward
from qkv.nn.shards import LAYOUTS, zigzag_shard, zigzag_unshard
from qkv.nn.validate import validate_mask, validate_scale, validate_tensors

__all__ = ["LAYOUTS", "ring_attention", "zigzag_shard", "zigzag_unshard"]

LEAST_PIECE = 512  # key rows per segment of a piece, at least: fewer, larger messages


def ring_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    group: Any = None,
    causal: bool | str = False,
    mask: torch.Tensor | None = None,
    scale: float | None = None,
    return_lse: bool = False,
    layout: str = "zigzag",
    piece_keys: int | None = None,
) -> Any:
    """This rank's shard of softmax(mask(q kᵀ · scale)) v over the whole sequence.

    q (..., L/P, d), k (..., S/P, d), v (..., S/P, dv): this rank's shards (GQA: fewer heads
    in k and v). Returns the output (..., L/P, dv), and with ``return_lse`` the logsumexp
    (..., L/P). ``causal`` aligns the whole sequences (L and S), as qkv.nn.attention does.
    ``piece_keys``: keys of each shard segment sent per message (default: about 1/16 of a shard,
    at least 512); fewer use less memory, more send fewer messages. In a group of one it is
    qkv.nn.attention(backend="tiled").
    """
    ring = _ring(group)
    if ring.world == 1:
        _check_options(layout, piece_keys)
        return attention(
            q, k, v, mask=mask, causal=causal, scale=scale, return_lse=return_lse, backend="tiled"
        )
    problem = None
    try:
        _check(q, k, v, mask, causal, scale, layout, piece_keys, ring.group)
        values = _describe(q, k, v, mask, causal, scale, layout, piece_keys)
    except ValueError as e:  # InputError (a bad causal) is one too
        problem, values = e, [0] * len(_FIELDS)
    _agree(ring, problem, values)
    allowed, bias = combine(mask, None, q.shape[-2], ring.world * k.shape[-2], q.device)
    gq, _, _, gallowed, gbias, q_shape = group_heads(q, k, v, allowed, bias)
    wide = torch.promote_types(q.dtype, torch.float32)
    gbias = None if gbias is None else gbias.to(wide)
    plan = _plan(ring, gq, k, causal, scale, layout, piece_keys, (gallowed, gbias, q_shape))
    # autocast as the caller set it: the ring upcasts its inputs itself
    blocks = blockwise.Blocks(plan, ring_forward, ring_backward, autocast_off=False)
    out, lse = blockwise.apply(gq.to(wide), k, v, blocks)
    out = ungroup_heads(out, q_shape, 2).to(q.dtype)
    return (out, ungroup_heads(lse, q_shape, 1)) if return_lse else out


def _ring(group: Any) -> Ring:
    if not (dist.is_available() and dist.is_initialized()):
        raise ValueError(
            "ring_attention needs torch.distributed: call torch.distributed.init_process_group "
            "first (torchrun sets up its environment); in one process use qkv.nn.attention"
        )
    return Ring.of(group)


def _check_options(layout: str, piece_keys: int | None) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    if piece_keys is not None and not (isinstance(piece_keys, int) and piece_keys >= 1):
        raise ValueError(f"piece_keys must be a positive integer or None, not {piece_keys!r}")


def _check(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    causal: bool | str,
    scale: float | None,
    layout: str,
    piece_keys: int | None,
    group: Any,
) -> None:
    """This rank's inputs, alone (the ranks compare theirs after)."""
    world = dist.get_world_size(group)
    validate_tensors(q, k, v)
    validate_scale(scale)
    normalize_causal(causal)
    _check_options(layout, piece_keys)
    if q.dim() < 2 or 0 in (q.shape[-2], k.shape[-2]):
        raise ValueError("ring_attention needs at least one query and one key on every rank")
    if layout == "zigzag" and (q.shape[-2] % 2 or k.shape[-2] % 2):
        raise ValueError(
            f"layout 'zigzag' holds two equal chunks per rank, so shard lengths must be even; "
            f"q has {q.shape[-2]} and k {k.shape[-2]} (zigzag_shard cuts them; or use "
            "layout='contiguous')"
        )
    backend = dist.get_backend(group)
    if q.is_cuda != (backend == "nccl"):
        raise ValueError(f"the {backend} backend cannot run on {q.device} tensors")
    if mask is not None:
        _check_mask(mask, q, k, world)


def _check_mask(mask: torch.Tensor, q: torch.Tensor, k: torch.Tensor, world: int) -> None:
    n_k = k.shape[-2]
    if isinstance(mask, torch.Tensor) and mask.dim() >= 1 and mask.shape[-1] == n_k != 1:
        raise ValueError(
            f"the mask has {n_k} key columns, this rank's shard of the keys; it needs all "
            f"{world * n_k} of the sequence, in order (its rows are this rank's queries)"
        )
    validate_mask(mask, (*q.shape[:-1], world * n_k))
    if mask.requires_grad:
        raise ValueError("ring_attention does not differentiate a float mask")


def _dtype_name(code: int) -> str:
    return str(_DTYPES[code]) if 0 <= code < len(_DTYPES) else "another dtype"


def _scale_bits(s: float) -> int:
    return int(struct.unpack("<q", struct.pack("<d", s))[0])


def _scale_of(bits: int) -> str:
    return repr(struct.unpack("<d", struct.pack("<q", bits))[0])


_DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)
_CAUSAL = (None, "bottom_right", "top_left")
_MASKS = ("none", "boolean", "float")


@dataclass(frozen=True)
class _Field:
    name: str
    show: Callable[[int], str] = str


_FIELDS = (
    _Field("whether its inputs are valid"),
    _Field("the dtype", _dtype_name),
    _Field("the query shard length (uneven shards: each rank holds N/P rows)"),
    _Field("the key shard length (uneven shards: each rank holds N/P rows)"),
    _Field("the head dim"),
    _Field("the value head dim"),
    _Field("the shape of q but for its length", lambda _: "differs"),
    _Field("the shape of k and v but for their length", lambda _: "differs"),
    _Field("the mask", lambda c: _MASKS[c]),
    _Field("the mask's shape", lambda _: "differs"),
    _Field("causal", lambda c: str(_CAUSAL[c])),
    _Field("the layout", lambda c: LAYOUTS[c]),
    _Field("the scale", _scale_of),
    _Field("piece_keys"),
    _Field("needing gradients", lambda g: "yes" if g else "no"),
)


def _describe(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    causal: bool | str,
    scale: float | None,
    layout: str,
    piece_keys: int | None,
) -> list[int]:
    """What must be the same on every rank, as integers, in the order of _FIELDS."""
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))
    kind = 0 if mask is None else (1 if mask.dtype == torch.bool else 2)
    return [
        1,
        _DTYPES.index(q.dtype) if q.dtype in _DTYPES else len(_DTYPES),
        q.shape[-2],
        k.shape[-2],
        q.shape[-1],
        v.shape[-1],
        hash(tuple(q.shape[:-2])),  # the hash of a tuple of ints is the same in every process
        hash(tuple(k.shape[:-2])),
        kind,
        hash(tuple(mask.shape)) if mask is not None else 0,
        _CAUSAL.index(normalize_causal(causal)),
        LAYOUTS.index(layout),
        _scale_bits(1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)),
        piece_keys or 0,
        int(grad),
    ]


def _agree(ring: Ring, problem: ValueError | None, values: list[int]) -> None:
    """Every rank shows the others what it holds; all raise together when they disagree."""
    device = (
        torch.device("cuda", torch.cuda.current_device())
        if dist.get_backend(ring.group) == "nccl"
        else torch.device("cpu")
    )
    mine = torch.tensor(values, dtype=torch.int64, device=device)
    table = [torch.empty_like(mine) for _ in range(ring.world)]
    dist.all_gather(table, mine, group=ring.group)
    rows = [t.tolist() for t in table]
    if problem is not None:
        raise problem
    refused = [r for r, row in enumerate(rows) if row[0] == 0]
    if refused:
        raise ValueError(
            f"ring_attention: rank {', '.join(map(str, refused))} refused its inputs (its own "
            "error says why); every rank stops"
        )
    for i, field in enumerate(_FIELDS):
        seen = [row[i] for row in rows]
        if len(set(seen)) > 1:
            each = ", ".join(f"{field.show(x)} on rank {r}" for r, x in enumerate(seen))
            raise ValueError(f"ring_attention: the ranks disagree on {field.name}: {each}")


def _plan(
    ring: Ring,
    gq: torch.Tensor,
    k: torch.Tensor,
    causal: bool | str,
    scale: float | None,
    layout: str,
    piece_keys: int | None,
    masks: tuple[torch.Tensor | None, torch.Tensor | None, Any],
) -> Plan:
    """Where every block's rows and keys sit in the whole sequence."""
    lay: shards.Layout = "zigzag" if layout == "zigzag" else "contiguous"
    n_q, n_k, world = gq.shape[-2], k.shape[-2], ring.world
    align = normalize_causal(causal)
    offset = None if align is None else causal_offset(world * n_q, world * n_k, align)
    if offset is not None and offset >= world * n_k - 1:
        offset = None  # every query sees every key
    segs = [shards.segments(lay, r, world, n_k) for r in range(world)]
    size = piece_keys or shards.default_piece(n_k, len(segs[0]), LEAST_PIECE)
    allowed, bias, q_shape = masks
    return Plan(
        ring,
        shards.segments(lay, ring.rank, world, n_q),
        tuple(tuple(shards.pieces(s, size)) for s in segs),
        offset,
        allowed,
        bias,
        1.0 / math.sqrt(gq.shape[-1]) if scale is None else float(scale),
        q_shape is not None,
    )
