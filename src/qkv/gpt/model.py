"""A decoder-only Transformer on qkv.nn.MultiHeadAttention: causal, pre-norm, tied embeddings.

Shapes: B batch, T tokens, E embedding width, V vocabulary, H heads.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from qkv.gpt.config import GPTConfig
from qkv.nn import MultiHeadAttention
from qkv.nn.modules import KVCache


def _dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Residual and embedding dropout, and no call at all when it is off: decoding makes many
    small steps, and each module call adds Python overhead to every one."""
    return F.dropout(x, p, training=True) if training and p > 0 else x


class MLP(nn.Module):
    """c_proj(gelu(c_fc(x))): widen four times, bend, narrow back (nanoGPT's names)."""

    def __init__(self, c: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(c.n_embd, 4 * c.n_embd, bias=c.bias)
        self.c_proj = nn.Linear(4 * c.n_embd, c.n_embd, bias=c.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.gelu(self.c_fc(x)))


class Block(nn.Module):
    """x + attention(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, c: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(c.n_embd, bias=c.bias)
        self.attn = MultiHeadAttention(c.n_embd, c.n_head, bias=c.bias, dropout=c.dropout)
        self.ln2 = nn.LayerNorm(c.n_embd, bias=c.bias)
        self.mlp = MLP(c)
        self.p = c.dropout

    def forward(
        self, x: torch.Tensor, cache: KVCache | None = None, need_weights: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        a, w = self.attn(
            self.ln1(x),
            causal=True,
            cache=cache,
            need_weights=need_weights,
            average_attn_weights=False,
        )  # a (B, T, E); w (B, H, T, S)
        x = x + _dropout(a, self.p, self.training)
        x = x + _dropout(self.mlp(self.ln2(x)), self.p, self.training)
        return x, w


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        if config.vocab_size < 1:
            raise ValueError("config.vocab_size must be set (from the tokenizer)")
        self.config = c = config
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)
        self.wpe = nn.Embedding(c.block_size, c.n_embd)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.n_layer))
        self.ln_f = nn.LayerNorm(c.n_embd, bias=c.bias)
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # tied: one matrix reads and writes tokens
        self.apply(self._init)
        for name, p in self.named_parameters():  # residual projections, scaled (GPT-2)
            if name.endswith(("attn.out_proj.weight", "mlp.c_proj.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c.n_layer))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def new_caches(self) -> list[KVCache]:
        return [KVCache(self.config.block_size) for _ in self.blocks]

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        caches: list[KVCache] | None = None,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None, list[torch.Tensor]]:
        """(logits (B, T, V), loss or None, per-layer weights (B, H, T, S) if asked)."""
        _, t = idx.shape
        start = caches[0].length if caches else 0
        if start + t > self.config.block_size:
            raise ValueError(f"{start + t} tokens exceed the context of {self.config.block_size}")
        # positions start..start+t-1: a slice of the table (no index tensor per step)
        x = self.wte(idx) + self.wpe.weight[start : start + t]  # (B, T, E)
        x = _dropout(x, self.config.dropout, self.training)
        weights = []
        for i, block in enumerate(self.blocks):
            x, w = block(x, None if caches is None else caches[i], need_weights)
            if w is not None:
                weights.append(w)
        logits = self.lm_head(self.ln_f(x))  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        return logits, loss, weights
