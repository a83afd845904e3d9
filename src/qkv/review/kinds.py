"""The kinds the checker's stages hand each other: which step of attention a printed fragment
is (Role), and what the checker says of a printed number (Status).

Both are string enums, so that they print and serialise (JSON, the report's tables) as the
plain words they stand for, and compare equal to them.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A step of attention, as the checker recomputes it (review/model.py)."""

    X = "x"  # the input, one row per token
    MEM = "mem"  # the encoder's states keys and values come from (cross-attention)
    WQ = "wq"
    WK = "wk"
    WV = "wv"
    MASK = "mask"  # 0/1 (1 may attend) or 0/−∞
    XT = "xt"  # Xᵀ, printed to multiply with
    Q = "q"
    K = "k"
    V = "v"
    SCORES = "scores"  # Q·Kᵀ
    SCALED = "scaled"  # … times the scale
    MASKED = "masked"  # … with −∞ where a query may not look
    EXPS = "exps"  # e^score of a softmax written out
    NORM = "norm"  # their row sums
    WEIGHTS = "weights"  # softmax, row by row
    SUMS = "sums"  # each row of the weights added up
    WEIGHTED = "weighted"  # weight·value of one query, key by key
    OUTPUT = "output"  # weights·V
    EQUATION = "equation"  # arithmetic written out, judged by itself
    COPY = "copy"  # a row printed again


class Status(StrEnum):
    """What the checker says of one printed number."""

    RIGHT = "right"  # the true value rounds to it
    CARRIED = "carried"  # it follows from correctly rounded numbers printed before it
    ROOT = "root"  # a mistake of its own
    CONSEQUENCE = "consequence"  # wrong only because it follows from a mistake
    DIAGNOSIS = "diagnosis"  # part of a fragment computed a known wrong way


WRONG = frozenset({Status.ROOT, Status.CONSEQUENCE, Status.DIAGNOSIS})
EXPLAINED = frozenset({Status.RIGHT, Status.CARRIED, Status.CONSEQUENCE, Status.DIAGNOSIS})
