"""AttentionSpec: everything that defines what one attention call means, in one frozen value.

    scale            1/sqrt(d_k) ("sqrt", or None), 1 ("none"), or a number
    causal           the causal mask's alignment: "bottom_right", "top_left" or None
    window           (left, right) keys around each query's position, or None
    query_lengths    one valid length per query (or one for all): query i sees keys j < n_i
    row_lengths      one valid length per batch row (dim 0): the rest of the row is padding
    document_ids     one id per key, (S,) or (B, S): attention only within a document
    mask, mask_means an explicit mask and its polarity: "allow" (True = may attend, as torch
                     SDPA), "block" (True = hidden, as a key_padding_mask) or "add" (added to
                     the scaled scores); inferred from the dtype when not said
    heads            split the columns into heads (the hand calculation)
    score            "dot" (Q·Kᵀ) or "additive" (Bahdanau)
    dropout_p        dropout on the weights after the softmax, in training only

Every face builds one the same way: ``qkv explain``'s flags and the HTTP API through
:func:`spec_changes` (the --mask words, lengths, scale, heads, score), Python through keyword
arguments; ``trace()``, ``qkv.core.attention`` and ``qkv.nn.functional.attention`` take it as
``spec=``. The rules are qkv.core.masks' (README, "Semantics"); this module only names them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from fractions import Fraction
from typing import Any, Literal

import numpy as np

from qkv.core.masks import Align, normalize_causal, normalize_window
from qkv.core.scale import ScaleArg
from qkv.errors import InputError

MaskMeans = Literal["allow", "block", "add"]
MASK_MEANS = ("allow", "block", "add")
SCHEMA = "qkv.spec/1"


@dataclass(frozen=True)
class AttentionSpec:
    """One attention call's meaning (this module's docstring says each field). Lists are
    kept as tuples, so a spec of plain values is hashable and compares by value; arrays and
    tensors are kept as given (not copied): compare specs that hold them by ``to_dict()``."""

    scale: ScaleArg = "sqrt"
    causal: Align | None = None
    window: tuple[int, int] | None = None
    query_lengths: tuple[int, ...] | None = None
    row_lengths: Any = None
    document_ids: Any = None
    mask: Any = None
    mask_means: MaskMeans | None = None
    heads: int = 1
    score: str = "dot"
    dropout_p: float = 0.0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if self.scale is None:
            set_(self, "scale", "sqrt")
        set_(self, "causal", normalize_causal(self.causal))  # True, "causal", ... -> alignment
        window = list(self.window) if isinstance(self.window, tuple) else self.window
        set_(self, "window", normalize_window(window))
        for name in ("query_lengths", "row_lengths", "document_ids"):
            set_(self, name, _tuple(getattr(self, name)))
        if self.mask is None and self.mask_means is not None:
            raise InputError("mask_means says how to read a mask; give the mask too")
        if self.mask is not None:
            set_(self, "mask", _tuple(self.mask))
            if self.mask_means is None:
                set_(self, "mask_means", _means_of(self.mask))
            elif self.mask_means not in MASK_MEANS:
                raise InputError(f"mask_means must be allow, block or add, not {self.mask_means!r}")

    def replace(self, **changes: Any) -> AttentionSpec:
        """A copy with ``changes`` (field names as keyword arguments)."""
        if "mask" in changes and "mask_means" not in changes:
            changes["mask_means"] = None  # read the new mask's polarity from its dtype
        return replace(self, **changes)

    def may_attend(self) -> Any:
        """The explicit mask in the form the backends take: True = may attend (a boolean,
        NumPy or torch), or numbers added to the scaled scores; None without a mask."""
        m = self.mask
        if m is None:
            return None
        m = np.asarray(m) if isinstance(m, tuple) else m
        boolean = "bool" in str(m.dtype)
        if self.mask_means == "block":
            return m == 0 if not boolean else ~m
        if self.mask_means == "allow" and "float" in str(m.dtype):
            return m != 0
        if self.mask_means == "add" and boolean:
            raise InputError("a boolean mask cannot be added to the scores; say allow or block")
        return m

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values: every field, in order, plus the schema."""
        d: dict[str, Any] = {"schema": SCHEMA}
        for f in fields(self):
            d[f.name] = _json_value(getattr(self, f.name))
        d["scale"] = _scale_json(self.scale)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AttentionSpec:
        if d.get("schema", SCHEMA) != SCHEMA:
            raise InputError(f"not a {SCHEMA} spec (schema: {d.get('schema')!r})")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known - {"schema"})
        if unknown:
            raise InputError(f"unknown spec field {unknown[0]!r}; fields: {', '.join(known)}")
        values = {k: _from_json(v) for k, v in d.items() if k in known}
        if isinstance(values.get("scale"), str) and "/" in values["scale"]:
            values["scale"] = Fraction(values["scale"])
        return cls(**values)

    def to_json(self) -> str:
        import json

        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> AttentionSpec:
        import json

        try:
            d = json.loads(text)
        except ValueError as e:
            raise InputError(f"spec: not JSON ({e})") from None
        if not isinstance(d, dict):
            raise InputError("spec: a JSON object is expected")
        return cls.from_dict(d)


def _tuple(value: Any) -> Any:
    """Lists (nested too) as tuples; arrays, tensors, numbers and None as they are."""
    if isinstance(value, list | tuple):
        return tuple(_tuple(v) for v in value)
    return value


def _means_of(mask: Any) -> MaskMeans:
    """The polarity a mask's dtype says: floats are added, booleans and 0/1 integers allow."""
    dtype = getattr(mask, "dtype", None)
    if dtype is None:
        try:
            dtype = np.asarray(mask).dtype
        except (TypeError, ValueError):
            return "allow"  # ragged: the backend names what is wrong
    return "add" if "float" in str(dtype) else "allow"


def _json_value(value: Any) -> Any:
    """Tuples, arrays and tensors as lists; -inf and inf as strings (JSON has neither)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)  # "-inf", "inf"
    if isinstance(value, np.generic):
        return value.item()
    return value


def _scale_json(scale: ScaleArg) -> Any:
    if isinstance(scale, Fraction):
        return str(scale) if scale.denominator != 1 else int(scale)
    return scale


def _from_json(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_from_json(v) for v in value)
    if value in ("-inf", "inf"):
        return float(value)
    return value


def from_keywords(spec: AttentionSpec | None, **given: Any) -> AttentionSpec:
    """The spec of a call: ``spec`` itself, or one built from the keyword arguments that were
    given (None and False mean not given); both at once is an error."""
    chosen = {k: v for k, v in given.items() if v is not None and v is not False}
    if spec is None:
        return _plain_spec(chosen)
    if not isinstance(spec, AttentionSpec):
        raise InputError(f"spec must be an AttentionSpec, not {type(spec).__name__}")
    if chosen:
        raise InputError(f"give spec= or {next(iter(chosen))}=, not both")
    return spec


DEFAULT = AttentionSpec()
_PLAIN_SPECS: dict[tuple[tuple[str, Any], ...], AttentionSpec] = {}
_PLAIN = (bool, int, float, str, Fraction)


def _plain_spec(chosen: dict[str, Any]) -> AttentionSpec:
    """AttentionSpec(**chosen), the same value again for keywords of plain numbers and words
    (causal=True, scale=0.5): a training loop builds it once, not at every call (3 us)."""
    if not chosen:
        return DEFAULT
    if not all(type(v) in _PLAIN for v in chosen.values()):
        return AttentionSpec(**chosen)
    key = tuple(sorted((k, (type(v), v)) for k, v in chosen.items()))
    spec = _PLAIN_SPECS.get(key)
    if spec is None:
        if len(_PLAIN_SPECS) >= 64:
            _PLAIN_SPECS.clear()
        spec = _PLAIN_SPECS[key] = AttentionSpec(**chosen)
    return spec


# trace()'s keyword arguments that build its spec, and the field each sets
TRACE_SPEC_KEYWORDS = {
    "scale": "scale",
    "mask": "mask",
    "causal": "causal",
    "window": "window",
    "lengths": "query_lengths",
    "document_ids": "document_ids",
    "heads": "heads",
    "score": "score",
}


def trace_spec_fields(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The spec fields that trace()'s keyword arguments ``kwargs`` set (the others ignored)."""
    return {
        field: kwargs[k]
        for k, field in TRACE_SPEC_KEYWORDS.items()
        if kwargs.get(k) is not None and kwargs.get(k) is not False
    }


# The text forms of a spec, read the same way from `qkv explain`'s flags and the HTTP API's
# query: --mask causal+window:1,0, --lengths 2,3,3, --scale none, --heads 2, --score additive.

MASK_WORDS = ("causal", "window:", "length:", "documents:")


def is_mask_words(value: str) -> bool:
    """Does --mask give words (causal, window:..., ...), rather than a 0/1 matrix file?"""
    return value.startswith(MASK_WORDS)


def spec_changes(
    *,
    mask: str | None = None,
    lengths: str | None = None,
    scale: str | None = None,
    heads: int | None = None,
    score: str | None = None,
    dash: str = "--",
) -> dict[str, Any]:
    """The spec fields that text options set (only those that change something): the one
    parser of the CLI's flags and the HTTP API's query. ``dash`` prefixes the option names
    in messages ("--" on the command line, "" over HTTP)."""
    changes: dict[str, Any] = {}
    if lengths is not None:
        changes["query_lengths"] = tuple(parse_lengths(lengths, dash))
    if heads is not None and heads != 1:
        changes["heads"] = heads
    if score is not None and score != "dot":
        changes["score"] = score
    if mask is not None:
        words = parse_mask_words(mask, dash)
        if "query_lengths" in words and "query_lengths" in changes:
            raise InputError(
                f"{dash}lengths and {dash}mask length:N both set the padding; give one"
            )
        changes.update(words)
    if scale is not None:
        changes["scale"] = scale
    return changes


def parse_lengths(value: str, dash: str = "--") -> list[int]:
    """ "2" or "2,3,3": valid lengths, one for all queries or one per query."""
    parts = value.replace("，", ",").split(",")
    if not all(p.strip().isascii() and p.strip().isdigit() and len(p.strip()) < 10 for p in parts):
        raise InputError(f"{dash}lengths {value[:40]!r}: give whole numbers such as 2 or 2,3,3")
    return [int(p) for p in parts]


def parse_mask_words(value: str, dash: str = "--") -> dict[str, Any]:
    """causal, causal-top-left, window:W, window:LEFT,RIGHT, length:N, documents:ID,...,
    joined with +: the spec fields they set."""
    changes: dict[str, Any] = {}
    for part in value.split("+"):
        key, setting = _mask_part(part, value, dash)
        if key in changes:
            raise InputError(f"{dash}mask {_cut(value)!r}: {part.partition(':')[0]} is given twice")
        changes[key] = setting
    return changes


def _mask_part(part: str, value: str, dash: str) -> tuple[str, Any]:
    """One part of a --mask spec: (the spec's field, its value)."""
    name, colon, numbers = part.partition(":")
    if not colon:
        try:
            return "causal", normalize_causal(name)
        except InputError:
            pass
    elif name in ("window", "length", "documents"):
        n = _whole_numbers(numbers, part, value, dash)
        if name == "documents":
            return "document_ids", tuple(n)
        if name == "length" and len(n) == 1:
            return "query_lengths", (n[0],)
        if name == "window" and len(n) in (1, 2):
            return "window", (n[0], n[0]) if len(n) == 1 else (n[0], n[1])
        where = f"{dash}mask {_cut(value)!r}: {_cut(part)!r}"
        raise InputError(f"{where}: window takes W or LEFT,RIGHT, length one N")
    raise InputError(
        f"{dash}mask {_cut(value)!r}: {_cut(part)!r} is not causal, causal-top-left, window:W, "
        "window:LEFT,RIGHT, length:N or documents:ID,ID,..."
    )


def _cut(text: str, most: int = 60) -> str:
    """A user's text in a message: at most ``most`` characters (an HTTP query can be long)."""
    return text if len(text) <= most else text[: most - 1] + "…"


def _whole_numbers(text: str, part: str, value: str, dash: str) -> list[int]:
    try:
        numbers = [int(n) for n in text.replace("，", ",").split(",")]
    except ValueError:
        raise InputError(
            f"{dash}mask {_cut(value)!r}: {_cut(part)!r} needs whole numbers after ':'"
        ) from None
    if any(n < 0 for n in numbers):
        raise InputError(f"{dash}mask {_cut(value)!r}: {_cut(part)!r} needs numbers 0 or more")
    return numbers
