"""The online softmax: attention over keys that arrive in parts, merged through the logsumexp.

Per query row, the keys seen so far are summed up by

    m      the largest score seen, or a reference (base 2: scores are pre-multiplied by log2 e)
    total  Σ exp2(s − m)
    acc    Σ exp2(s − m) · v

A new part of the keys whose scores reach higher first rebases the old sums on the new maximum
(multiplies them by exp2(m_old − m_new)); then its own sums, taken against that maximum, are
added. A part may also be taken against m as it stands (add_if_finite): m is then a
reference rather than the maximum, which changes nothing in the result as long as no
exp2(s − m) overflows. At the end output = acc / total and logsumexp = (m + log2 total) · ln 2.
The order and the grouping of the parts do not matter: the tiled backend feeds key blocks of
one sequence; ring attention feeds the blocks of every rank's shard as they arrive
(qkv.nn.ring). This is the one place the rule is written.
"""

from __future__ import annotations

import math

import torch

LOG2E = 1.4426950408889634
LN2 = 0.6931471805599453
NEG_INF = float("-inf")
HEADROOM = 2.0**32  # a part's weight sums above this are scaled back (exp2 overflows at 2^128)


class OnlineSoftmax:
    """The running (m, total, acc) of a set of query rows; updated in place.

    m starts at the dtype's lowest finite number rather than -inf: a row that has seen
    nothing but -inf then needs no special case (exp2(-inf - lowest) is 0 and m - m is 0,
    never NaN), which saves two operations a block. A row keeps total = 0 until it sees a key.
    """

    __slots__ = ("acc", "m", "total")

    def __init__(self, m: torch.Tensor, total: torch.Tensor, acc: torch.Tensor):
        self.m, self.total, self.acc = m, total, acc  # (..., L, 1), (..., L, 1), (..., L, dv)

    @classmethod
    def empty(cls, batch: tuple[int, ...], rows: int, dv: int, like: torch.Tensor) -> OnlineSoftmax:
        """Nothing seen yet: m = the lowest finite number, total = 0, acc = 0, in like's dtype
        and device."""
        return cls(
            like.new_full((*batch, rows, 1), torch.finfo(like.dtype).min),
            like.new_zeros((*batch, rows, 1)),
            like.new_zeros((*batch, rows, dv)),
        )

    def rows(self, i0: int, i1: int) -> OnlineSoftmax:
        """The state of rows i0:i1, as views: updating it updates this one."""
        return OnlineSoftmax(
            self.m[..., i0:i1, :], self.total[..., i0:i1, :], self.acc[..., i0:i1, :]
        )

    def rebase(self, part_max: torch.Tensor) -> torch.Tensor:
        """Raise the maximum to include a new part's (..., rows, 1) and rescale the sums.

        Returns what to subtract from the part's scores before exp2: the new maximum (for a
        row that has seen only -inf, still the lowest finite number: exp2 gives it 0s).
        """
        m_new = torch.maximum(self.m, part_max)
        alpha = torch.sub(self.m, m_new).exp2_()  # rescales what was summed under the old max
        self.total.mul_(alpha)
        self.acc.mul_(alpha)
        self.m.copy_(m_new)
        return m_new

    def add(self, weight_sum: torch.Tensor, weighted_values: torch.Tensor) -> None:
        """Add a part's Σ exp2(s − shift) (..., rows, 1) and Σ exp2(s − shift)·v (..., rows, dv)."""
        self.total.add_(weight_sum)
        self.acc.add_(weighted_values)

    def add_weights(self, p: torch.Tensor, v: torch.Tensor) -> None:
        """Add a part given as its weights p = exp2(s − shift) (..., rows, S) and values v
        (..., S, dv): the same as add(Σ p, p v), with the product summed straight into acc
        (no (..., rows, dv) temporary) when v needs no broadcasting."""
        self.total.add_(p.sum(dim=-1, keepdim=True))
        self._add_product(p, v)

    def _add_product(self, p: torch.Tensor, v: torch.Tensor) -> None:
        """acc += p v."""
        acc = self.acc
        if v.shape[:-2] == acc.shape[:-2] == p.shape[:-2] and acc.dim() >= 3:
            try:
                a3 = acc.view(-1, *acc.shape[-2:])
                p3, v3 = p.view(-1, *p.shape[-2:]), v.view(-1, *v.shape[-2:])
            except RuntimeError:  # a layout that does not flatten: the general way
                pass
            else:
                a3.baddbmm_(p3, v3)
                return
        acc.add_(torch.matmul(p, v))

    def add_if_finite(self, p: torch.Tensor, v: torch.Tensor) -> bool:
        """Add a part whose weights p = exp2(s − m) were taken against this state's m as it
        stands, not against the part's own maximum: the sums stay right whatever m is, as
        long as no weight overflowed. Returns False, adding nothing, when one did (or is NaN):
        the caller takes the part again with :meth:`rebase`. Sums that grow large are scaled
        back by a power of 2 (exact), with m raised to match, so that later parts keep
        their headroom."""
        part = p.sum(dim=-1, keepdim=True)
        top = float(part.max()) if part.numel() else 0.0
        if not math.isfinite(top):
            return False
        self.total.add_(part)
        self._add_product(p, v)
        if top > HEADROOM:
            shift = torch.floor(torch.log2(torch.clamp(self.total, min=1.0)))
            self.m.add_(shift)
            scale = torch.exp2(-shift)
            self.total.mul_(scale)
            self.acc.mul_(scale)
        return True

    def finish(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(output, logsumexp in natural log); a row that saw nothing gives 0 and -inf.

        The output is acc, divided in place: no second (..., L, dv) tensor.
        """
        seen = self.total > 0
        out = self.acc.div_(torch.where(seen, self.total, 1.0))
        lse = torch.where(seen, (self.m + torch.log2(self.total)) * LN2, NEG_INF).squeeze(-1)
        return out, lse
