"""Numbers as written in an article, and what each one claims.

"0.064" claims that the true value rounds to 0.064: |true - 0.064| <= 0.0005. "9.05E-04" claims
|true - 9.05e-4| <= 0.005e-4. "2" claims it rounds to 2. "-∞" claims a masked entry.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_NUMBER = re.compile(
    r"""^(?P<sign>[-+−]?)\s*
        (?P<int>\d+)(?:\.(?P<frac>\d*))?
        (?:[eE](?P<exp>[-+−]?\d+))?$""",
    re.VERBOSE,
)
_INF = re.compile(r"^(?P<sign>[-+−]?)\s*(?:∞|\\infty|inf|infinity)$", re.IGNORECASE)
_DECOR = re.compile(r"^[\s$“”\"'‘’「」`*_]+|[\s$“”\"'‘’「」`*_]+$")
_TIMES_TEN = re.compile(r"^(.*?)\s*(?:\\times|×|x)\s*10\^\{?([-+−]?\d+)\}?$")


@dataclass(frozen=True)
class Claim:
    """One number as written: its value and how precisely it was written."""

    text: str
    value: float  # -inf for a masked entry
    half_unit: float  # half of the last written digit's place; 0 for ±∞
    decimals: int  # digits after the point (of the mantissa in E notation)
    exponent: int | None  # the E exponent when written in E notation

    @property
    def masked(self) -> bool:
        return math.isinf(self.value)

    def consistent(self, true: float) -> bool:
        """Does the true value round to what is written?"""
        if math.isnan(true):
            return False
        if self.masked or math.isinf(true):
            return self.value == true
        return abs(true - self.value) <= self.half_unit * (1 + 1e-9) + 1e-15

    def rounded(self, true: float, extra: int = 0) -> str:
        """The true value written with the same precision as the claim (plus ``extra``)."""
        if math.isinf(true):
            return "-∞" if true < 0 else "∞"
        if self.exponent is not None:
            mantissa = true / 10**self.exponent
            return f"{mantissa:.{self.decimals + extra}f}E{self.exponent:+03d}"
        text = f"{true:.{self.decimals + extra}f}"
        return "0" if text.strip("-0.") == "" else text


def clean(text: str) -> str:
    """Strip quotes, $ and emphasis around a cell."""
    return _DECOR.sub("", text.strip())


def parse_claim(text: str) -> Claim | None:
    """A written number, or None when the text is not a number."""
    t = clean(text).replace("−", "-").replace(",", "") if text else ""
    t = t.replace("{", "").replace("}", "") if t.startswith(("-\\infty", "\\infty")) else t
    if not t:
        return None
    m = _INF.match(t)
    if m:
        return Claim(
            text.strip(), -math.inf if m["sign"] in "-−" and m["sign"] else math.inf, 0.0, 0, None
        )
    tm = _TIMES_TEN.match(t)  # 9.05 \times 10^{-4}
    if tm:
        t = f"{tm[1]}e{tm[2].replace('−', '-')}"
    m = _NUMBER.match(t)
    if not m:
        return None
    frac = m["frac"] or ""
    decimals = len(frac)
    exponent = int(m["exp"].replace("−", "-")) if m["exp"] is not None else None
    value = float(f"{m['sign'].replace('−', '-')}{m['int']}.{frac or '0'}e{exponent or 0}")
    half = 0.5 * 10.0 ** ((exponent or 0) - decimals)
    return Claim(text.strip(), value, half, decimals, exponent)
