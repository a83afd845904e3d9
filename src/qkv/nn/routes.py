"""Which backend runs a call under backend="auto": the README's table, in code.

    weights asked                                  math (the only one that forms them)
    logsumexp and dropout                          math
    dropout                                        sdpa (flex_attention has none)
    CUDA, flex usable, no float mask, and
      the logsumexp, a window, lengths, documents,
      or bottom-right causal with L != S           flex (block masks; SDPA cannot say these)
    logsumexp                                      tiled (CPU: flex there has no logsumexp)
    anything else                                  sdpa: its flags (no mask, is_causal) where
                                                   they say the call exactly, causal_lower_right
                                                   for bottom-right causal on CUDA without flex,
                                                   else a mask tensor

Bottom-right causal with L != S on CUDA: flex_attention (compiled) ran at 267-370 TFLOP/s and
SDPA with causal_lower_right at 257-319 on the same problems (one H100, torch 2.11, bf16,
H 16, d 128; /work/shared/measurements), so flex is chosen; benchmarks/attention_gpu.py measures
both again and says which is faster on the machine at hand.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Call:
    """What decides the route: the device and what the call asks."""

    device: str  # torch.device.type
    weights: bool
    lse: bool
    dropout: bool
    mask: str  # "none", "bool" or "float": the user's mask
    structured: bool  # a window, lengths or document ids
    bottom_right: bool  # causal, bottom-right, L != S, hiding something
    flex: bool  # flex_attention can run this call here (qkv.nn.flex.unavailable is None)


def auto(call: Call) -> str:
    """The backend for backend="auto"."""
    if call.weights or (call.lse and call.dropout):
        return "math"
    if call.dropout:
        return "sdpa"
    on_flex = call.lse or call.structured or call.bottom_right
    if call.device == "cuda" and call.flex and call.mask != "float" and on_flex:
        return "flex"
    return "tiled" if call.lse else "sdpa"
