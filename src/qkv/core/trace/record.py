"""Trace and Step: every intermediate of one attention computation, labelled, and its JSON.

A Trace is data. Renderers (qkv.render) lay it out; they compute nothing. ``str(trace)`` and
Jupyter's HTML come from whichever face registered itself in :mod:`qkv.core.display`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from qkv.core import display
from qkv.core.spec import AttentionSpec

SCHEMA = "qkv.trace/1"


@dataclass
class Step:
    """One labelled matrix of the chain X -> Q, K, V -> scores -> ... -> output.

    ``exact`` holds Fractions where the value is exact (integers and rationals a person can
    write down); ``mask`` is True where a query may attend (masked and weights steps);
    ``exponents`` holds s - m for each softmax term (weights step), None where masked;
    ``operands`` names the steps whose product this is, for expansions, and ``bias`` the
    step added to it (Q = X·W_Q + b_Q).
    Multi-head steps are named "h2.scores": head 2's step "scores" (see ``base``, ``head``).
    """

    id: str
    matrix: np.ndarray
    rows: list[str]
    cols: list[str]
    formula: str
    latex: str
    exact: np.ndarray | None = None
    mask: np.ndarray | None = None
    exponents: np.ndarray | None = None
    operands: tuple[str, str] | None = None
    same_as: str | None = None
    bias: str | None = None

    @property
    def shape(self) -> tuple[int, int]:
        n, m = self.matrix.shape
        return n, m

    @property
    def base(self) -> str:
        """The step without its head: "scores" for "h2.scores"."""
        return self.id.rpartition(".")[2]

    @property
    def head(self) -> int | None:
        """The head (1-based) of a multi-head step, None for the others."""
        prefix, dot, _ = self.id.partition(".")
        return int(prefix[1:]) if dot and prefix[1:].isdigit() else None

    @property
    def prefix(self) -> str:
        """ "h2." for head 2's steps, "" for the others: the id of a sibling step."""
        return self.id[: len(self.id) - len(self.base)]

    def exact_at(self, i: int, j: int) -> Fraction | None:
        return None if self.exact is None else self.exact[i, j]

    def to_dict(self) -> dict[str, Any]:
        finite = np.isfinite(self.matrix)
        d: dict[str, Any] = {
            "id": self.id,
            "matrix": [
                [float(v) if ok else None for v, ok in zip(row, frow, strict=True)]
                for row, frow in zip(self.matrix.tolist(), finite.tolist(), strict=True)
            ],
            "rows": list(self.rows),
            "cols": list(self.cols),
            "formula": self.formula,
            "latex": self.latex,
        }
        if self.exact is not None:
            d["exact"] = [[_fraction_text(q) for q in row] for row in self.exact.tolist()]
        if self.mask is not None:
            d["mask"] = np.asarray(self.mask, dtype=bool).tolist()
        if self.exponents is not None:
            d["exponents"] = [
                [None if e is None else _number_json(e) for e in row]
                for row in self.exponents.tolist()
            ]
        if self.operands is not None:
            d["operands"] = list(self.operands)
        if self.same_as is not None:
            d["same_as"] = self.same_as
        if self.bias is not None:
            d["bias"] = self.bias
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Step:
        matrix = np.array(
            [[(-np.inf if v is None else v) for v in row] for row in d["matrix"]], dtype=np.float64
        ).reshape(len(d["rows"]), len(d["cols"]))
        exact = None
        if "exact" in d:
            exact = np.empty(matrix.shape, dtype=object)
            for i, row in enumerate(d["exact"]):
                for j, q in enumerate(row):
                    exact[i, j] = None if q is None else Fraction(q)
        exponents = None
        if "exponents" in d:
            exponents = np.empty(matrix.shape, dtype=object)
            for i, row in enumerate(d["exponents"]):
                for j, e in enumerate(row):
                    exponents[i, j] = None if e is None else _number_from_json(e)
        return cls(
            id=d["id"],
            matrix=matrix,
            rows=list(d["rows"]),
            cols=list(d["cols"]),
            formula=d["formula"],
            latex=d["latex"],
            exact=exact,
            mask=None if "mask" not in d else np.array(d["mask"], dtype=bool),
            exponents=exponents,
            operands=(d["operands"][0], d["operands"][1]) if "operands" in d else None,
            same_as=d.get("same_as"),
            bias=d.get("bias"),
        )


@dataclass
class ScaleContrast:
    """What 1/sqrt(d_k) changes: each row's largest unscaled weight, before and after."""

    scale: float
    scale_text: str
    weights: np.ndarray  # the weights with 1/sqrt(d_k) applied
    rows: list[tuple[str, str, float, float]]  # (row token, col token, before, after)


@dataclass(repr=False)
class Trace:
    """All steps of one attention computation, in order, plus its settings."""

    steps: list[Step]
    scale: float
    scale_text: str
    d_k: int
    causal: str | None = None
    example: str | None = None
    contrast: ScaleContrast | None = None
    ranking: list[tuple[str, float, float]] = field(default_factory=list)
    heads: int = 1
    score: str = "dot"  # "dot" (Q·Kᵀ) or "additive" (vᵀ tanh(W_q q + W_k k))
    lengths: list[int] | None = None  # valid keys per query (padding mask)
    spec: AttentionSpec | None = None  # what the call meant (qkv.core.spec): its JSON "spec"
    # the language asked for (qkv.explain(lang=...)): how str() and Jupyter show this trace;
    # None follows the locale, as the CLI does. Not part of the computation or its JSON.
    lang: str | None = field(default=None, compare=False)

    def __getitem__(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(f"no step {step_id!r}; steps: {', '.join(self.ids)}")

    def __contains__(self, step_id: object) -> bool:
        return any(s.id == step_id for s in self.steps)

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.steps]

    def first(self, base: str) -> Step:
        """The first step named ``base`` ("scores"), of any head."""
        for step in self.steps:
            if step.base == base:
                return step
        raise KeyError(f"no step {base!r}; steps: {', '.join(self.ids)}")

    @property
    def output(self) -> np.ndarray:
        return self["output"].matrix

    @property
    def weights(self) -> np.ndarray:
        return self["weights"].matrix

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "schema": SCHEMA,
            "scale": self.scale,
            "scale_text": self.scale_text,
            "d_k": self.d_k,
            "causal": self.causal,
            "example": self.example,
            "steps": [s.to_dict() for s in self.steps],
        }
        if self.contrast is not None:
            c = self.contrast
            d["contrast"] = {
                "scale": c.scale,
                "scale_text": c.scale_text,
                "weights": c.weights.tolist(),
                "rows": [list(r) for r in c.rows],
            }
        if self.ranking:
            d["ranking"] = [list(r) for r in self.ranking]
        # Written only when used, so that a plain trace's JSON stays as it was.
        if self.heads != 1:
            d["heads"] = self.heads
        if self.score != "dot":
            d["score"] = self.score
        if self.lengths is not None:
            d["lengths"] = list(self.lengths)
        if self.spec is not None:
            d["spec"] = self.spec.to_dict()
        return d

    def to_json(self) -> str:
        """Indented JSON with each matrix row on one line."""
        return dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trace:
        if d.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} document (schema: {d.get('schema')!r})")
        contrast = None
        if "contrast" in d:
            c = d["contrast"]
            contrast = ScaleContrast(
                scale=c["scale"],
                scale_text=c["scale_text"],
                weights=np.array(c["weights"], dtype=np.float64),
                rows=[(str(a), str(b), float(x), float(y)) for a, b, x, y in c["rows"]],
            )
        return cls(
            steps=[Step.from_dict(s) for s in d["steps"]],
            scale=d["scale"],
            scale_text=d["scale_text"],
            d_k=d["d_k"],
            causal=d.get("causal"),
            example=d.get("example"),
            contrast=contrast,
            ranking=[(str(t), float(w), float(x)) for t, w, x in d.get("ranking", [])],
            heads=int(d.get("heads", 1)),
            score=str(d.get("score", "dot")),
            lengths=None if d.get("lengths") is None else [int(n) for n in d["lengths"]],
            spec=None if d.get("spec") is None else AttentionSpec.from_dict(d["spec"]),
        )

    @classmethod
    def from_json(cls, text: str) -> Trace:
        import json

        return cls.from_dict(json.loads(text))

    def __repr__(self) -> str:
        n_q, n_k = self.first("scores").shape
        name = f" {self.example}" if self.example else ""
        return f"<Trace{name}: {' → '.join(self.ids)}; {n_q} queries × {n_k} keys>"

    def __str__(self) -> str:
        """The hand calculation as a person reads it (when qkv.render is installed)."""
        return display.show("text", self) or repr(self)

    def _repr_html_(self) -> str | None:
        return display.show("html", self)


def dumps(obj: Any, indent: int = 0) -> str:
    """JSON, indented, but a list of scalars (a matrix row, a label list) stays on one line."""
    import json  # here, not at the top: `qkv explain` should not pay for it

    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [
            f"{inner}{json.dumps(k, ensure_ascii=False)}: {dumps(v, indent + 1)}"
            for k, v in obj.items()
        ]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(obj, (list, tuple)):
        if all(not isinstance(v, (list, tuple, dict)) for v in obj):
            return json.dumps(list(obj), ensure_ascii=False)
        return "[\n" + ",\n".join(inner + dumps(v, indent + 1) for v in obj) + f"\n{pad}]"
    return json.dumps(obj, ensure_ascii=False)


def _fraction_text(q: Fraction | None) -> str | None:
    return None if q is None else str(q)


def _number_json(e: Fraction | float) -> str | float:
    return str(e) if isinstance(e, Fraction) else float(e)


def _number_from_json(e: str | float) -> Fraction | float:
    return Fraction(e) if isinstance(e, str) else float(e)
