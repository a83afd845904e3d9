"""Which backend runs a call under backend="auto": the README's table, in code.

    weights asked                                  math (the only one that forms them)
    logsumexp and dropout                          math
    dropout                                        sdpa (flex_attention has none)
    CUDA, flex usable, no float mask, and
      the logsumexp, a window, lengths or
      documents                                    flex (block masks; SDPA cannot say these)
    logsumexp                                      tiled (CPU: flex there has no logsumexp)
    anything else                                  sdpa: its flags (no mask, is_causal) where
                                                   they say the call exactly, causal_lower_right
                                                   for bottom-right causal on CUDA without flex,
                                                   else a mask tensor

Bottom-right causal with L != S on CUDA goes to SDPA with causal_lower_right: on one H200
(torch 2.11, bf16, H 16, d 128, L = N/2; benchmarks/attention_gpu.py, 2026-11-27) it ran at
0.48-0.57x of square causal flash, qkv's compiled flex at 0.09x (N = 4096). An earlier H100
probe with one hand-made block mask had flex at 267-370 TFLOP/s against 257-319; qkv's flex
path (a block mask built per call, symbolic lengths) does not reach that yet.
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
    on_flex = call.lse or call.structured
    if call.device == "cuda" and call.flex and call.mask != "float" and on_flex:
        return "flex"
    return "tiled" if call.lse else "sdpa"
