"""The seed article's ScaledDotProductAttention, as printed there, kept for comparison.

Tests and benchmarks hold qkv.nn against it; use qkv.nn.ScaledDotProductAttention instead:
this one turns a fully masked row into a uniform average (-1e9 fill), fails in float16
(-1e9 does not fit), and returns the weights after dropout.
"""

import torch
from torch import nn
from torch.nn import functional as F


class ArticleScaledDotProductAttention(nn.Module):
    def __init__(self, temperature: float, attn_dropout: float = 0.1):
        super().__init__()
        self.temperature = temperature
        self.dropout = nn.Dropout(attn_dropout)

    def forward(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        attn = torch.matmul(q / self.temperature, k.transpose(2, 3))
        if mask is not None:
            attn = attn.masked_fill(mask == 0, -1e9)
        attn = self.dropout(F.softmax(attn, dim=-1))
        output = torch.matmul(attn, v)
        return output, attn
