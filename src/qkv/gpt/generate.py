"""Sampling with a KV cache, next-token probabilities, and attention maps of a prompt.

The model sees at most block_size tokens. When the window is full it keeps the last half
and starts over (cached or not, so both see the same context and give the same tokens):
with absolute positions, a cache cannot slide one token at a time.

The model may be on a GPU: token ids go to its device, and the last position's logits come
back to the CPU to be picked from (a CPU generator draws the same tokens on either device).
"""

from __future__ import annotations

import math
import sys

import numpy as np
import torch

from qkv.errors import InputError
from qkv.gpt.data import CharTokenizer
from qkv.gpt.model import GPT
from qkv.maps import AttentionMaps, check_shape


def distribution(logits: torch.Tensor, temperature: float, top_k: int | None) -> torch.Tensor:
    """What sampling draws from: softmax(logits / temperature) over the top_k largest logits
    (temperature 0, or one too small to divide by: all mass on the largest).

    Shifted by the maximum before dividing: the largest is 0 and the rest are <= 0 whatever
    the temperature, so a tiny one (1e-45) never makes inf - inf.
    """
    if temperature < sys.float_info.min:
        return torch.nn.functional.one_hot(torch.argmax(logits), logits.numel()).to(logits.dtype)
    logits = (logits - logits.max()) / temperature
    if top_k is not None and top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.softmax(logits, dim=-1)


def _ids(model: GPT, ids: list[int]) -> torch.Tensor:
    """(1, T) token ids on the model's device."""
    return torch.tensor([ids], device=model.wte.weight.device)


def _pick(
    logits: torch.Tensor,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    gen: torch.Generator | None,
) -> int:
    """One token from the last position's logits (V,), drawn in float64."""
    if temperature < sys.float_info.min:  # greedy
        return int(torch.argmax(logits))
    probs = distribution(logits.double(), temperature, top_k)
    if top_p is not None and top_p < 1.0:
        sorted_p, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_p, dim=0) - sorted_p < top_p  # smallest set reaching top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_p[keep])
    return int(torch.multinomial(probs, 1, generator=gen))


@torch.inference_mode()
def generate(
    model: GPT,
    prompt: list[int],
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    use_cache: bool = True,
) -> list[int]:
    """The prompt followed by max_new_tokens sampled tokens (temperature 0: greedy)."""
    if not prompt:
        raise InputError("the prompt is empty")
    model.eval()
    window = model.config.block_size
    keep = max(1, window // 2)
    gen = None if seed is None else torch.Generator().manual_seed(seed)
    tokens = list(prompt)
    start = max(0, len(tokens) - window)  # first token of the current context window
    caches = model.new_caches() if use_cache else None
    fed = 0  # tokens of the window already in the cache
    for _ in range(max_new_tokens):
        if len(tokens) - start > window:  # full: keep the last half and start over
            start = len(tokens) - keep
            caches = model.new_caches() if use_cache else None
            fed = 0
        if caches is not None:
            logits, _, _ = model(_ids(model, tokens[start + fed :]), caches=caches)
            fed = len(tokens) - start
        else:
            logits, _, _ = model(_ids(model, tokens[start:]))
        tokens.append(_pick(logits[0, -1].float().cpu(), temperature, top_k, top_p, gen))
    return tokens


@torch.inference_mode()
def word_probability(model: GPT, tok: CharTokenizer, prompt: str, word: str) -> float:
    """P(word | prompt), one character at a time: the product of each next-char probability."""
    if len(word) > model.config.block_size:
        raise InputError(
            f"the candidate {word[:12]!r} has {len(word)} characters; the model sees at most "
            f"{model.config.block_size}"
        )
    ids = tok.encode(prompt, "the prompt") + tok.encode(word, f"the candidate {word!r}")
    ids = ids[-(model.config.block_size + 1) :]
    model.eval()
    logits, _, _ = model(_ids(model, ids[:-1]))
    logp = torch.log_softmax(logits[0].float().cpu(), dim=-1)
    n = len(word)
    picked = logp[-n:].gather(1, torch.tensor(ids[-n:])[:, None])
    return math.exp(float(picked.sum()))


@torch.inference_mode()
def next_chars(
    model: GPT,
    tok: CharTokenizer,
    prompt: str,
    top: int = 10,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
) -> list[tuple[str, float]]:
    """The ``top`` likeliest next characters, with the probabilities sampling would use."""
    ids = tok.encode(prompt, "the prompt")[-model.config.block_size :]
    model.eval()
    logits, _, _ = model(_ids(model, ids))
    probs = distribution(logits[0, -1].float().cpu(), temperature, top_k)
    values, order = torch.topk(probs, max(1, min(top, probs.numel())))
    return [(tok.chars[int(i)], float(p)) for p, i in zip(values, order, strict=True)]


@torch.inference_mode()
def attention_maps(model: GPT, tok: CharTokenizer, prompt: str) -> AttentionMaps:
    ids = tok.encode(prompt, "the prompt")
    if len(ids) > model.config.block_size:
        raise InputError(
            f"the prompt has {len(ids)} characters; the model sees at most "
            f"{model.config.block_size}"
        )

    c = model.config
    check_shape((c.n_layer, c.n_head, len(ids), len(ids)), "the prompt's attention maps")
    model.eval()
    _, _, weights = model(_ids(model, ids), need_weights=True)
    maps = np.stack([w[0].float().cpu().numpy() for w in weights])  # (layers, heads, T, T)
    return AttentionMaps(maps, list(prompt), {"source": "qkv.gpt", "prompt": prompt})
