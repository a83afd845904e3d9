"""The flex backend: torch's flex_attention, compiled, for what SDPA's flags cannot say.

Bottom-right causal with L != S, sliding windows, lengths, document ids and the logsumexp run
as one fused kernel that skips the blocks nobody may see. The block mask is made from the
structure's rule block by block (qkv.nn.structure), never from an (L, S) tensor; a user's
boolean mask, when there is one, is read by the mask_mod and its blocks are classified from it.

Compiling. flex_attention is fast only compiled (eager, it forms every score). One compiled
function is kept per *key*: the device, dtype, batch, heads, head dims, which rules are present
and whether the logsumexp or a backward pass is asked. Within a key, lengths (L, S) are dynamic
and the numbers of the rules (offsets, window sizes, lengths, documents) are tensors the
mask_mod closes over, which flex turns into graph inputs: new sequence lengths and new masks
reuse the kernel instead of recompiling it until torch's recompile limit sends every call to the
slow eager path (what a plain ``torch.compile(flex_attention, dynamic=False)`` did after 8
shapes on an H100). Each key compiles its own copy of the call (_own_code), so each has its
own recompile budget on every torch. The compiled functions are kept in a bounded LRU cache
(``COMPILED`` of them, the most recently used: a long-running server that sees many head
counts or dtypes does not keep every kernel it ever compiled), as the block masks are
(``BLOCK_MASKS``).

Where no compiler is at hand (no Triton for CUDA, no C++ compiler for the CPU) or compiling
fails, ``unavailable()`` says why: backend="flex" raises with that reason, backend="auto" takes
SDPA with a mask tensor instead (qkv.nn.functional). On the CPU, torch 2.13's compiled
flex_attention does inference only, without the logsumexp.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import types
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable
from itertools import count
from typing import Any, Generic, TypeVar

import torch

from qkv.nn.structure import MaskMod, Structure

BLOCK = 128  # flex_attention's own block size
DTYPES = (torch.float16, torch.bfloat16, torch.float32)
COMPILE = True  # False: run flex_attention eagerly (slow; for tests of the semantics on a CPU)
DYNAMIC: bool | None = None  # None: symbolic lengths on CUDA only (_dynamic)

Tensor = torch.Tensor
V = TypeVar("V")


class Lru(Generic[V]):
    """A bounded cache: at most ``size`` entries, the least recently used dropped first."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"an LRU cache holds at least 1 entry, not {size}")
        self.size = size
        self._entries: OrderedDict[Hashable, V] = OrderedDict()

    def get(self, key: Hashable) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: Hashable, value: V) -> V:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return value

    def pop(self, key: Hashable) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries


COMPILED = 32  # compiled functions kept: above torch's recompile limit (8) with room to spare
_compiled: Lru[Callable[..., Any]] = Lru(COMPILED)
_failed_keys: Lru[str] = Lru(256)  # why compiling failed, for a key: not again
_code_names = count()  # each compiled copy of the call gets a name of its own


def unavailable(device: torch.device) -> str | None:
    """Why flex_attention cannot be compiled for ``device`` here; None when it can."""
    try:
        from torch.nn.attention import flex_attention  # noqa: F401
    except ImportError:
        return f"this torch ({torch.__version__}) has no torch.nn.attention.flex_attention"
    if not COMPILE:
        return None
    if device.type == "cuda":
        if not _has_triton():
            return "compiling flex_attention for CUDA needs Triton, which is not installed"
        return None
    if device.type == "cpu":
        cxx = os.environ.get("CXX", "g++")
        if shutil.which(cxx) is None:
            return f"compiling flex_attention for the CPU needs a C++ compiler ({cxx} not found)"
        return None
    return f"flex_attention does not run on {device.type}"


@functools.cache
def _has_triton() -> bool:
    """Looked up once: searching the path for a module not yet imported takes time."""
    return importlib.util.find_spec("triton") is not None


def refuses(q: Tensor, k: Tensor, lse: bool, grad: bool) -> str | None:
    """Why flex_attention cannot run this call (shapes, dtype, CPU limits); None when it can."""
    if q.dtype not in DTYPES:
        return f"flex_attention takes {', '.join(str(d)[6:] for d in DTYPES)}, not {q.dtype}"
    if not 2 <= q.dim() <= 4:
        return f"flex_attention takes up to (batch, heads, L, d), not {q.dim()} dims"
    if q.device.type == "cpu" and grad:
        return "flex_attention has no backward pass on the CPU (torch 2.13)"
    if q.device.type == "cpu" and lse and COMPILE:
        return "compiled flex_attention returns no logsumexp on the CPU (torch 2.13)"
    return unavailable(q.device)


def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    structure: Structure,
    allowed: Tensor | None,
    scale: float,
    return_lse: bool,
) -> tuple[Tensor, Tensor | None]:
    """(output, logsumexp or None) of q (..., Hq, L, d) against k, v (..., Hkv, S, d), up to
    4 dims; ``allowed``: a user's boolean mask (broadcastable), ANDed with the structure."""
    rank = q.dim()
    q4, k4, v4 = (_four(t) for t in (q, k, v))
    batch = max(q4.shape[0], k4.shape[0])
    q4, k4, v4 = (t.expand(batch, *t.shape[1:]) for t in (q4, k4, v4))
    mask4 = None if allowed is None else _four(allowed)
    block_mask = _cached_block_mask(structure, mask4, q4, batch)
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))
    key = (
        q.device.type,
        q.device.index,
        q.dtype,
        batch,
        q4.shape[1],
        k4.shape[1],
        q4.shape[-1],
        v4.shape[-1],
        _signature(structure, mask4),
        return_lse,
        grad,
        None if _dynamic(q.device) else (structure.n_q, structure.n_k),
        _dynamic(q.device),
    )
    out, lse = _run(key, q4, k4, v4, block_mask, scale, return_lse)
    out = out.reshape(*out.shape[4 - rank :]) if rank < 4 else out
    if lse is not None and rank < 4:
        lse = lse.reshape(*lse.shape[4 - rank :])
    return out, lse


def _four(t: Tensor) -> Tensor:
    """(L, d) or (H, L, d) or (B, H, L, d) as (B, H, L, d), a view."""
    while t.dim() < 4:
        t = t.unsqueeze(0)
    return t


def _signature(structure: Structure, mask: Tensor | None) -> tuple[bool, ...]:
    """Which rules the mask_mod holds: all that a compiled kernel depends on (the numbers are
    its inputs)."""
    return (
        structure.lo is not None,
        structure.hi is not None,
        structure.lengths is not None,
        structure.key_docs is not None,
        mask is not None,
    )


BLOCK_MASKS = 16  # block masks kept, the most recently used
_block_masks: Lru[tuple[Any, tuple[Tensor, ...]]] = Lru(BLOCK_MASKS)


def _cached_block_mask(structure: Structure, mask: Tensor | None, q: Tensor, batch: int) -> Any:
    """The block mask of the last calls with the same structure, else a new one. Making one
    takes some 350 small tensor operations (about 3.5 ms a call on an H200, more than the
    kernel at N = 4096); a training loop asks for the same one every step. Tensors are keyed
    by identity and version (in-place changes bump it), and the entry holds them, so an id
    cannot be reused while it is kept."""
    tensors = tuple(t for t in (structure.lengths, structure.key_docs) if t is not None)
    # a user's mask is not kept: it may be large, and it is usually made anew for each call;
    # inference tensors have no version counter
    if mask is not None or any(t.is_inference() for t in tensors):
        return _block_mask(structure, mask, q, batch)
    key = (
        q.device,
        batch,
        structure.n_q,
        structure.n_k,
        structure.lo,
        structure.hi,
        structure.offset,
        tuple((id(t), t._version) for t in tensors),
        (structure.lengths is not None, structure.key_docs is not None),
    )
    hit = _block_masks.get(key)
    if hit is not None:
        return hit[0]
    block_mask = _block_mask(structure, mask, q, batch)
    _block_masks.put(key, (block_mask, tensors))
    return block_mask


def _block_mask(structure: Structure, mask: Tensor | None, q: Tensor, batch: int) -> Any:
    from torch.nn.attention.flex_attention import BlockMask

    partial, full = structure.blocks(BLOCK, BLOCK, batch, q.device)
    mask_mod = structure.mask_mod(batch, q.device)
    if mask is not None:
        partial, full = _with_user_mask(partial, full, mask, structure)
        whole = mask.expand(batch, mask.shape[1], structure.n_q, structure.n_k)  # a view
        mask_mod = _and_user_mask(mask_mod, whole)
    kv_num, kv_idx = _ordered(partial)
    full_num, full_idx = _ordered(full)
    return BlockMask.from_kv_blocks(
        kv_num,
        kv_idx,
        full_num,
        full_idx,
        BLOCK_SIZE=BLOCK,
        mask_mod=mask_mod,
        seq_lengths=(structure.n_q, structure.n_k),
    )


def _ordered(blocks: Tensor) -> tuple[Tensor, Tensor]:
    """(count, indices) of the True blocks of each row, those first (flex's block format)."""
    count = blocks.sum(dim=-1, dtype=torch.int32)
    order = torch.argsort((~blocks).to(torch.int8), dim=-1, stable=True)
    return count.contiguous(), order.to(torch.int32).contiguous()


def _with_user_mask(
    partial: Tensor, full: Tensor, mask: Tensor, structure: Structure
) -> tuple[Tensor, Tensor]:
    """Blocks ANDed with a user's (B, H, L, S) boolean mask's own blocks (any / all True)."""
    nq, nk = partial.shape[-2:]
    pad_q, pad_k = nq * BLOCK - structure.n_q, nk * BLOCK - structure.n_k
    m = mask.expand(*mask.shape[:2], structure.n_q, structure.n_k)
    m = torch.nn.functional.pad(m, (0, pad_k, 0, pad_q))  # False beyond the sequences
    m = m.reshape(*m.shape[:2], nq, BLOCK, nk, BLOCK)
    some, every = m.any(dim=(3, 5)), m.all(dim=(3, 5))
    live = (partial | full) & some
    full = full & every
    return live & ~full, full


def _and_user_mask(rule: MaskMod, mask: Tensor) -> MaskMod:
    def mask_mod(b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
        heads = mask.shape[1]
        return rule(b, h, q_idx, kv_idx) & mask[b, h % heads, q_idx, kv_idx]

    return mask_mod


def _run(
    key: tuple[Any, ...],
    q: Tensor,
    k: Tensor,
    v: Tensor,
    block_mask: Any,
    scale: float,
    lse: bool,
) -> tuple[Tensor, Tensor | None]:
    from torch.nn.attention import flex_attention as flex

    kwargs: dict[str, Any] = {"block_mask": block_mask, "scale": scale}
    kwargs["enable_gqa"] = q.shape[1] != k.shape[1]
    if lse:
        aux = getattr(flex, "AuxRequest", None)
        kwargs.update({"return_aux": aux(lse=True)} if aux is not None else {"return_lse": True})
    if not COMPILE:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # flex_attention's note that eager is slow
            return _unpack(flex.flex_attention(q, k, v, **kwargs), lse)
    failed = _failed_keys.get(key)
    if failed is not None:
        raise CompileFailed(failed)
    fn = _compiled.get(key)
    if fn is None:
        target = _own_code(next(_code_names))
        fn = _compiled.put(key, torch.compile(target, dynamic=_dynamic(q.device)))
    try:
        return _unpack(fn(q, k, v, **kwargs), lse)
    except torch.OutOfMemoryError:
        raise
    except Exception as e:  # compilers fail in many ways: say why, and do not try again
        why = f"compiling flex_attention failed: {type(e).__name__}: {_first_error(e)}"
        _failed_keys.put(key, why)
        _compiled.pop(key)
        raise CompileFailed(why) from e


def _dynamic(device: torch.device) -> bool:
    """Lengths as symbols (one kernel for every L and S) on CUDA. On the CPU, torch 2.13's
    C++ flex template with symbolic lengths can generate code that does not compile (seen
    here after several kernels in one process), so there each (L, S) is compiled for.
    DYNAMIC, when set, decides instead (benchmarks/attention_gpu.py measures both)."""
    return device.type == "cuda" if DYNAMIC is None else DYNAMIC


def _flex_call(q: Tensor, k: Tensor, v: Tensor, **kwargs: Any) -> Any:
    from torch.nn.attention.flex_attention import flex_attention

    return flex_attention(q, k, v, **kwargs)


def _own_code(n: int) -> Callable[..., Any]:
    """_flex_call with a code object of its own. torch.compile keeps its compiled graphs and
    its recompile budget per code object: keys compiling flex_attention itself share one
    budget of 8, and past it every call ran eagerly, forming all L x S scores (seen on an
    H200 with torch 2.11: 830x SDPA's memory)."""
    code = _flex_call.__code__.replace(co_name=f"_flex_call_{n}")
    return types.FunctionType(code, _flex_call.__globals__, code.co_name)


def _first_error(e: Exception) -> str:
    """The line of a compiler's long message that says what went wrong."""
    lines = str(e).splitlines()
    for line in lines:
        if "error:" in line:
            return line.strip()[:300]
    return (lines[0] if lines else repr(e))[:300]


class CompileFailed(RuntimeError):
    """flex_attention could not be compiled for a call (backend="auto" then takes SDPA)."""


def _unpack(result: Any, lse: bool) -> tuple[Tensor, Tensor | None]:
    if not lse:
        return result, None
    out, aux = result
    return out, getattr(aux, "lse", aux)


def compiled_keys() -> int:
    """How many compiled functions are kept (for tests and benchmarks; at most COMPILED)."""
    return len(_compiled)
