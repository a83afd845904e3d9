"""Ring attention's loops: each rank keeps its queries, and the K/V shards travel around the ring.

A shard travels as pieces (qkv.nn.shards.pieces: about 1/16 of it each). In round j every rank
packs piece j of its own K/V, and the ring passes the pieces on P − 1 times, so that each rank
sees piece j of every shard. A piece is sent on to the next rank (isend/irecv) while this rank
computes with it, so the transfer overlaps the compute.

Forward, each piece is folded into the running softmax of this rank's queries (qkv.nn.merge,
through tiled.accumulate): the partial results merge through their logsumexp as they arrive, and
no (N, N) tensor or partial output exists. Backward, the pieces make the same trip, and a
gradient buffer travels behind each: every rank adds its share of dK/dV and passes it on; after
P steps it comes back to the rank that owns the piece. dQ stays where the queries are.

Sending a piece at a time, not the whole shard, keeps what the ring adds to a few pieces, so
that a rank needs about 1/P of the single-process memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from qkv.nn import blockwise, tiled
from qkv.nn.masks import broadcast_shape, offset_mask
from qkv.nn.merge import OnlineSoftmax
from qkv.nn.sanitize import Reach, causal_reach, mask_reach, sanitize
from qkv.nn.shards import Segment

Tensor = torch.Tensor
OptTensor = torch.Tensor | None
Piece = tuple[Segment, ...]
KV_TAG, GRAD_TAG = 0, 1  # gloo matches messages by tag; NCCL by order (the same on every rank)


@dataclass(frozen=True)
class Ring:
    """This rank's place in the group: its neighbours as global ranks, as P2POp wants them."""

    group: Any  # a ProcessGroup, or None for the default group
    rank: int
    world: int
    next: int
    prev: int

    @classmethod
    def of(cls, group: Any) -> Ring:
        rank, world = dist.get_rank(group), dist.get_world_size(group)
        pg = group if group is not None else dist.group.WORLD
        assert pg is not None  # initialised: checked by the caller
        return cls(
            group,
            rank,
            world,
            dist.get_global_rank(pg, (rank + 1) % world),
            dist.get_global_rank(pg, (rank - 1) % world),
        )

    def exchange(self, send: Tensor, recv: Tensor, tag: int) -> list[Any]:
        """Send to the next rank and receive from the previous one, both in flight at once
        (one batch, so that NCCL cannot deadlock on the order of the two)."""
        return dist.batch_isend_irecv(
            [
                dist.P2POp(dist.isend, send, self.next, self.group, tag),
                dist.P2POp(dist.irecv, recv, self.prev, self.group, tag),
            ]
        )

    def rotate(self, own: Tensor) -> Iterator[tuple[int, Tensor]]:
        """(source rank, packet) for the P packets of a round, this rank's own first; each is
        already on its way to the next rank while the caller computes with it."""
        current = own
        for step in range(self.world):
            works: list[Any] = []
            incoming = current
            if step < self.world - 1:
                incoming = torch.empty_like(current)
                works = self.exchange(current, incoming, KV_TAG)
            yield (self.rank - step) % self.world, current
            for work in works:
                work.wait()
            current = incoming


@dataclass(frozen=True)
class Plan:
    """What every rank needs to know of every block: where its rows and keys sit."""

    ring: Ring
    q_segments: Piece  # this rank's queries
    key_pieces: tuple[tuple[Piece, ...], ...]  # [source rank][round]
    offset: int | None  # causal: sequence query i sees key j <= i + offset; None: not causal
    allowed: OptTensor  # rows: this rank's queries; columns: every key, in sequence order
    bias: OptTensor
    scale: float
    grouped: bool  # GQA: q is (..., Hkv, G, L, d); key pieces get a group dim of 1

    @property
    def rounds(self) -> int:
        return len(self.key_pieces[0])

    def pairs(self, src: int, j: int) -> Iterator[tuple[Segment, int, Segment, tiled.Tiling]]:
        """(query segment, where the key segment starts in the piece, key segment, tiling) of
        each block of piece j of src's shard that some query may see."""
        at = 0
        for ks in self.key_pieces[src][j]:
            for qs in self.q_segments:
                tiling = self._tiling(qs, ks)
                if tiling is not None:
                    yield qs, at, ks, tiling
            at += ks.length

    def _tiling(self, qs: Segment, ks: Segment) -> tiled.Tiling | None:
        offset = None
        if self.offset is not None:
            o = qs.start - ks.start + self.offset  # the same rule, in the block's own indices
            if qs.length - 1 + o < 0:
                return None  # every key comes after every query
            if o < ks.length - 1:
                offset = o  # else every query sees every key
        return tiled.Tiling(
            _block(self.allowed, qs, ks), _block(self.bias, qs, ks), self.scale, offset
        )


def _block(m: OptTensor, qs: Segment, ks: Segment) -> OptTensor:
    """A mask's block for these queries (its rows, unless it has one) and keys (its columns)."""
    if m is None:
        return None
    if m.shape[-2] != 1:
        m = m[..., qs.local : qs.local + qs.length, :]
    if m.shape[-1] != 1:
        m = m[..., ks.start : ks.start + ks.length]
    return m


def _reach(q: Tensor, k: Tensor, tiling: tiled.Tiling) -> Reach | None:
    """Who may see whom in a block (qkv.nn.sanitize), built only when a value is not finite."""
    allowed, offset = tiling.allowed, tiling.offset
    if allowed is None:
        return None if offset is None else causal_reach(q.shape[-2], k.shape[-2], offset, q.device)

    def reach() -> tuple[Tensor, Tensor]:
        a = allowed
        if offset is not None:
            a = a & offset_mask(q.shape[-2], k.shape[-2], offset, q.device)
        return mask_reach(q, k, a)()

    return reach


class Packets:
    """A piece of K and V in one flat buffer (one message), and the views of it."""

    def __init__(self, k: Tensor, v: Tensor, plan: Plan, wide: torch.dtype):
        self.k, self.v, self.plan, self.wide = k, v, plan, wide

    def shapes(self, n: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        k, v = self.k, self.v
        return (*k.shape[:-2], n, k.shape[-1]), (*v.shape[:-2], n, v.shape[-1])

    def pack(self, j: int) -> Tensor:
        """This rank's piece j, copied into a fresh buffer."""
        piece = self.plan.key_pieces[self.plan.ring.rank][j]
        buf = self.k.new_empty(self._numel(piece))
        kp, vp = self.views(buf, piece)
        at = 0
        for s in piece:
            kp[..., at : at + s.length, :] = self.k[..., s.local : s.local + s.length, :]
            vp[..., at : at + s.length, :] = self.v[..., s.local : s.local + s.length, :]
            at += s.length
        return buf

    def _numel(self, piece: Piece) -> int:
        ks, vs = self.shapes(sum(s.length for s in piece))
        return _prod(ks) + _prod(vs)

    def views(self, buf: Tensor, piece: Piece) -> tuple[Tensor, Tensor]:
        ks, vs = self.shapes(sum(s.length for s in piece))
        nk = _prod(ks)
        return buf[:nk].view(ks), buf[nk:].view(vs)

    def keys(self, buf: Tensor, piece: Piece) -> tuple[Tensor, Tensor]:
        """The piece's k and v in the compute dtype, with GQA's group dim."""
        kp, vp = (t.to(self.wide) for t in self.views(buf, piece))
        if self.plan.grouped:
            kp, vp = kp.unsqueeze(-3), vp.unsqueeze(-3)
        return kp, vp


def _prod(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _blocks(
    q: Tensor, kp: Tensor, vp: Tensor, qs: Segment, at: int, ks: Segment, tiling: tiled.Tiling
) -> tuple[Tensor, Tensor, Tensor]:
    qb = q[..., qs.local : qs.local + qs.length, :]
    kb, vb = kp[..., at : at + ks.length, :], vp[..., at : at + ks.length, :]
    return sanitize(qb, kb, vb, _reach(qb, kb, tiling))


def forward(q: Tensor, k: Tensor, v: Tensor, plan: Plan) -> tuple[Tensor, Tensor]:
    """(output, logsumexp) of this rank's queries q (grouped, float32 or wider) against the
    whole sequence, whose keys and values each rank holds a shard of (k, v)."""
    packets = Packets(k, v, plan, q.dtype)
    batch = broadcast_shape(q.shape[:-2], _key_batch(k, plan)) or ()
    state = OnlineSoftmax.empty(batch, q.shape[-2], v.shape[-1], like=q)
    for j in range(plan.rounds):
        for src, buf in plan.ring.rotate(packets.pack(j)):
            kp, vp = packets.keys(buf, plan.key_pieces[src][j])
            for qs, at, ks, tiling in plan.pairs(src, j):
                qb, kb, vb = _blocks(q, kp, vp, qs, at, ks, tiling)
                tiled.accumulate(qb, kb, vb, tiling, state.rows(qs.local, qs.local + qs.length))
    return state.finish()


def _key_batch(k: Tensor, plan: Plan) -> tuple[int, ...]:
    return (*k.shape[:-2], 1) if plan.grouped else tuple(k.shape[:-2])


@dataclass(frozen=True)
class _Saved:
    """What the backward pass of every block reads: the queries' side, whole."""

    q: Tensor
    lse: Tensor
    delta: Tensor
    dout: Tensor
    dq: Tensor


def backward(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    out: Tensor,
    lse: Tensor,
    dout: Tensor,
    dlse: OptTensor,
    plan: Plan,
) -> tuple[Tensor, Tensor, Tensor]:
    """(dq in the broadcast shape, dk, dv in the compute dtype) of this rank's shards."""
    packets = Packets(k, v, plan, q.dtype)
    batch = broadcast_shape(q.shape[:-2], _key_batch(k, plan)) or ()
    saved = _Saved(
        q, lse, tiled.delta(out, dout, dlse), dout, q.new_zeros(*batch, q.shape[-2], q.shape[-1])
    )
    dk = torch.zeros(k.shape, dtype=q.dtype, device=q.device)
    dv = torch.zeros(v.shape, dtype=q.dtype, device=q.device)
    for j in range(plan.rounds):
        own = _round_grads(saved, packets, j)
        gk, gv = packets.views(own, plan.key_pieces[plan.ring.rank][j])
        at = 0
        for s in plan.key_pieces[plan.ring.rank][j]:
            dk[..., s.local : s.local + s.length, :] = gk[..., at : at + s.length, :]
            dv[..., s.local : s.local + s.length, :] = gv[..., at : at + s.length, :]
            at += s.length
    return saved.dq, dk, dv


def _round_grads(saved: _Saved, packets: Packets, j: int) -> Tensor:
    """Round j backward: dq grows here; each piece's dK/dV buffer is passed on with every
    rank's share added. Returns the buffer of this rank's own piece j, back from its trip."""
    plan = packets.plan
    works: list[Any] = []
    incoming: Tensor | None = None
    for src, buf in plan.ring.rotate(packets.pack(j)):
        grads = _piece_grads(saved, packets, buf, src, j)
        for work in works:  # the buffer the previous rank passed on
            work.wait()
        if incoming is not None:
            grads += incoming
        incoming = torch.empty_like(grads)
        works = plan.ring.exchange(grads, incoming, GRAD_TAG)
    for work in works:
        work.wait()
    assert incoming is not None
    return incoming


def _piece_grads(saved: _Saved, packets: Packets, buf: Tensor, src: int, j: int) -> Tensor:
    """This rank's share of dK/dV for piece j of src's shard, in one flat buffer (k's shape)."""
    plan, piece = packets.plan, packets.plan.key_pieces[src][j]
    kp, vp = packets.keys(buf, piece)
    out = torch.zeros(buf.numel(), dtype=saved.q.dtype, device=buf.device)
    gk, gv = packets.views(out, piece)
    if plan.grouped:
        gk, gv = gk.unsqueeze(-3), gv.unsqueeze(-3)
    for qs, at, ks, tiling in plan.pairs(src, j):
        qb, kb, vb = _blocks(saved.q, kp, vp, qs, at, ks, tiling)
        rows = slice(qs.local, qs.local + qs.length)
        tk, tv = gk[..., at : at + ks.length, :], gv[..., at : at + ks.length, :]
        batch = broadcast_shape(qb.shape[:-2], kb.shape[:-2]) or ()
        wide = batch != tuple(tk.shape[:-2])  # GQA: the G query heads' shares are summed after
        grads = (
            saved.dq[..., rows, :],
            tk.new_zeros(*batch, *tk.shape[-2:]) if wide else tk,
            tv.new_zeros(*batch, *tv.shape[-2:]) if wide else tv,
        )
        tiled.accumulate_grads(
            qb,
            kb,
            vb,
            saved.lse[..., rows],
            delta=saved.delta[..., rows],
            dout=saved.dout[..., rows, :],
            tiling=tiling,
            grads=grads,
        )
        if wide:
            tk += blockwise.reduce_to(grads[1], tk.shape)
            tv += blockwise.reduce_to(grads[2], tv.shape)
    return out
