"""Which backend runs a call under backend="auto": the README's table, in code.

    weights asked                                  math (the only one that forms them)
    logsumexp and dropout                          math
    dropout                                        sdpa (flex_attention has none)
    CUDA, flex usable, no float mask, and
      the logsumexp, a window, lengths or
      documents                                    flex (block masks; SDPA cannot say these)
    logsumexp                                      tiled (CPU: flex there has no logsumexp)
    CPU, a window, lengths, documents or
      bottom-right causal (L != S), no float
      mask, at least CPU_TILED_WORK scores, and
      tiled computes at most CPU_TILED_SHARE of
      the blocks (CPU_TILED_SHARE_KEYS when
      lengths are all: SDPA's mask is B x S)       tiled (it skips the blocks nobody sees)
    anything else                                  sdpa: its flags (no mask, is_causal) where
                                                   they say the call exactly, causal_lower_right
                                                   for bottom-right causal on CUDA without flex,
                                                   else a mask tensor

Bottom-right causal with L != S on CUDA goes to SDPA with causal_lower_right: on one H200
(torch 2.11, bf16, H 16, d 128, L = N/2; benchmarks/attention_gpu.py, 2026-11-27) it ran at
0.48-0.57x of square causal flash, qkv's compiled flex at 0.09x (N = 4096). An earlier H100
probe with one hand-made block mask had flex at 267-370 TFLOP/s against 257-319; qkv's flex
path (a block mask built per call, symbolic lengths) does not reach that yet.

The CPU rows, from benchmarks/routes_cpu.py (2026-12-08, 2 idle x86_64 cores, torch 2.13.0,
fp32, H 8, d 64; torch SDPA with a dense mask made once = 1; medians of 3-9 rounds, forward /
forward+backward; "share": the blocks tiled computes):

    case (share at N = 1024 / 4096)         N     qkv sdpa      tiled
    window N/8, causal (0.44 / 0.18)        512   0.79 / 0.94   0.34 / 0.44
                                            1024  0.77 / 0.95   0.92 / 1.11
                                            4096  0.66 / 0.90   3.84 / 3.92
    window N/2, causal (0.56 / 0.42)        1024  0.81 / 0.95   0.86 / 0.92
                                            4096  0.73 / 0.81   2.08 / 2.03
    4 documents, causal (0.25 / 0.16)       512   0.78 / 0.94   0.46 / 0.57
                                            1024  0.81 / 0.95   1.04 / 1.40
                                            4096  0.72 / 0.89   3.77 / 3.98
    lengths N/2, 3N/4 (0.75 / 0.75)         1024  0.95 / 1.00   0.68 / 0.73
                                            4096  1.00 / 0.89   0.88 / 0.97
    lengths N/8, N/4 (0.25 / 0.25)          512   0.94 / 0.84   0.62 / 0.42
                                            1024  0.95 / 0.99   1.20 / 1.91
                                            4096  0.92 / 1.10   2.23 / 2.91
    bottom-right, L = N/2 (0.88 / 0.78)     1024  0.90 / 0.97   0.56 / 0.69
                                            2048  0.91 / 0.97   0.85 / 0.93  (share 0.81)
                                            4096  0.94 / 0.95   1.18 / 1.07

Below 8 x 1024 x 1024 scores (N = 512 at 8 heads) SDPA with its mask wins every case: the
tiled call's fixed costs (the block map, the workers) are not yet paid back. Above it, tiled
wins wherever it skips enough: a band, documents or bottom-right causal make SDPA take an
(L, S) mask (built every call, and every score computed), so tiled wins up to 0.78 of the
blocks and loses at 0.81 (CPU_TILED_SHARE = 0.8); lengths alone give SDPA a (B, 1, 1, S) mask
that costs it little, so tiled wins at 0.25 of the blocks and loses at 0.75 (the limit, 0.5,
lies between; no case was measured there). Compiled flex_attention is not a CPU route: it has
no backward there, and on the machine above it does not compile these masks at all (torch
2.13.0+cpu: "InductorError: LoweringException: AssertionError").
"""

from __future__ import annotations

from typing import Protocol


class Call(Protocol):
    """What decides the route: the facts auto() reads from a qkv.nn.call.Call (the one call
    type; tests give these facts alone). ``flex`` and ``share`` cost work, and are read only
    where the table needs them."""

    @property
    def device(self) -> str: ...  # torch.device.type
    @property
    def weights(self) -> bool: ...
    @property
    def lse(self) -> bool: ...
    @property
    def dropout(self) -> bool: ...
    @property
    def mask_kind(self) -> str: ...  # "none", "bool" or "float": the user's mask
    @property
    def structured(self) -> bool: ...  # a window, lengths or document ids
    @property
    def bottom_right(self) -> bool: ...  # causal, bottom-right, L != S, hiding something
    @property
    def flex(self) -> bool: ...  # flex_attention can run this call here
    @property
    def work(self) -> int: ...  # batch x L x S: the scores of the whole call
    @property
    def share(self) -> float: ...  # of the score blocks, those tiled computes
    @property
    def keys_only(self) -> bool: ...  # lengths alone: SDPA's mask is (B, 1, 1, S)


# The CPU's structured masks: see the module docstring for the measurements
CPU_TILED_WORK = 8 * 1024 * 1024  # scores; below, SDPA with its mask is as fast or faster
CPU_TILED_SHARE = 0.8  # a band, documents, bottom-right causal: SDPA needs an (L, S) mask
CPU_TILED_SHARE_KEYS = 0.5  # lengths alone: SDPA's (B, 1, 1, S) mask costs it little


def worth_asking(work: int) -> bool:
    """Whether the CPU table looks at tiled's share for a call of this size (asking builds
    the block map: some 30 small tensor operations)."""
    return work >= CPU_TILED_WORK


def auto(call: Call) -> str:
    """The backend for backend="auto"."""
    if call.weights or (call.lse and call.dropout):
        return "math"
    if call.dropout:
        return "sdpa"
    on_flex = call.lse or call.structured
    if call.device == "cuda" and call.mask_kind != "float" and on_flex and call.flex:
        return "flex"
    if call.lse:
        return "tiled"
    cpu_structure = call.device == "cpu" and (call.structured or call.bottom_right)
    if cpu_structure and call.mask_kind != "float" and _tiled_pays(call):
        return "tiled"
    return "sdpa"


def _tiled_pays(call: Call) -> bool:
    limit = CPU_TILED_SHARE_KEYS if call.keys_only else CPU_TILED_SHARE
    return worth_asking(call.work) and call.share <= limit
