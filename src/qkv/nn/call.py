"""Call: one attention call, resolved, and the facts that route it.

qkv.nn.functional resolves the arguments (or the AttentionSpec) once into a Call: the tensors,
the mask in may-attend form, the causal alignment where it hides something, the structure,
the scale and the dropout, and what the caller asks back (weights, logsumexp). Every backend
takes it; qkv.nn.routes.auto reads the facts it needs from it (device, mask kind, ...), and
the two that cost work (whether flex can run the call, the share of blocks tiled computes)
are computed only when the route reaches them, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch

from qkv.nn import flex, tiled
from qkv.nn.masks import Align, broadcast_shape, causal_offset
from qkv.nn.structure import Structure


@dataclass(frozen=True)
class Call:
    """One call's inputs, resolved (what every backend takes), and what it asks back."""

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    mask: torch.Tensor | None  # True = may attend, or float added to the scores
    align: Align | None  # the causal mask, when it hides something
    structure: Structure | None  # windows, lengths, documents (and causal with them)
    scale: float
    dropout_p: float  # 0 outside training
    weights: bool = False  # the weights are asked
    lse: bool = False  # the logsumexp is asked

    @property
    def device(self) -> str:
        return self.q.device.type

    @property
    def dropout(self) -> bool:
        return self.dropout_p > 0

    @property
    def mask_kind(self) -> str:
        """ "none", "bool" or "float": the user's mask."""
        if self.mask is None:
            return "none"
        return "bool" if self.mask.dtype == torch.bool else "float"

    @property
    def structured(self) -> bool:
        """A window, lengths or document ids."""
        return self.structure is not None

    @property
    def bottom_right(self) -> bool:
        """Causal, bottom-right, L != S, hiding something."""
        return self.align == "bottom_right" and self.q.shape[-2] != self.k.shape[-2]

    @cached_property
    def work(self) -> int:
        """batch x L x S: the scores of the whole call."""
        batch = 1
        for size in broadcast_shape(self.q.shape[:-2], self.k.shape[:-2]) or ():
            batch *= size
        return batch * self.q.shape[-2] * self.k.shape[-2]

    @property
    def keys_only(self) -> bool:
        """Lengths are the only structure: the mask SDPA gets is (B, 1, 1, S)."""
        s = self.structure
        if s is None or self.mask is not None or self.align is not None:
            return False
        return s.lengths is not None and s.key_docs is None and not s.has_band

    @cached_property
    def flex(self) -> bool:
        """flex_attention can run this call here."""
        return self.flex_refuses() is None

    @cached_property
    def share(self) -> float:
        """The share of the score blocks that the tiled backend computes (it skips those that
        a causal mask or a structure hides entirely; a user's mask is not looked at here)."""
        q, k = self.q, self.k
        offset = None
        if self.structure is None and self.align is not None:
            offset = causal_offset(q.shape[-2], k.shape[-2], self.align)
        tiling = tiled.Tiling(None, None, self.scale, offset, structure=self.structure)
        blocks = tiling.blocks(q, k)
        return blocks.live / max(1, len(blocks.rows) * len(blocks.cols))

    def flex_refuses(self) -> str | None:
        """Why flex_attention cannot run this call here, or None."""
        if self.mask is not None and self.mask.dtype != torch.bool:
            return "flex takes boolean masks only; use 'tiled' or 'math' for a float mask"
        grad = torch.is_grad_enabled() and any(t.requires_grad for t in (self.q, self.k, self.v))
        return flex.refuses(self.q, self.k, self.lse, grad)
