"""Numbers as written in an article, and what each one claims.

"0.064" claims that the true value rounds to 0.064: |true - 0.064| <= 0.0005. "9.05E-04" claims
|true - 9.05e-4| <= 0.005e-4. "2" claims it rounds to 2. "-∞" claims a masked entry.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

MAX_DIGITS = 30  # digits of one written number
MAX_EXPONENT = 300  # |e| of one written number; floats end near 1e308
_NUMBER = re.compile(
    r"""^(?P<sign>[-+−]?)\s*
        (?P<int>\d+)(?:\.(?P<frac>\d*))?
        (?:[eE](?P<exp>[-+−]?\d+))?$""",
    re.VERBOSE,
)
_INF = re.compile(r"^(?P<sign>[-+−]?)\s*(?:∞|\\infty|inf|infinity)$", re.IGNORECASE)
# Quotes, $ and emphasis around a number; stripped from the front, and from the back by
# matching the reversed text ("[…]+$" tried at every start is quadratic in a run of them).
_DECOR = re.compile(r"[\s$“”\"'‘’「」`*_]+")
# "× 10^-4" at the end, found from the sign (a "\s*" before it, or a lazy "(.*?)", tried
# from every space of a long run of them, was quadratic): the mantissa is what stands before
_TIMES_TEN = re.compile(r"(?:\\times|×|x)\s*10\^\{?([-+−]?\d+)\}?$")


@dataclass(frozen=True)
class Claim:
    """One number as written: its value and how precisely it was written."""

    text: str
    value: float  # -inf for a masked entry
    half_unit: float  # half of the last written digit's place; 0 for ±∞
    decimals: int  # digits after the point (of the mantissa in E notation)
    exponent: int | None  # the E exponent when written in E notation
    # the precision the author worked at, when the fragment shows it better than this number
    # does (0.69 among 0.0566 and 0.254 was printed with %.3g: the author had 0.690)
    carry_half: float | None = None
    long: bool = False  # six or more significant digits: printed by code

    @property
    def masked(self) -> bool:
        return math.isinf(self.value)

    def consistent(self, true: float) -> bool:
        """Does the true value round to what is written?"""
        return self.fits(true, true)

    def fits(self, lo: float, hi: float, strict: bool = False) -> bool:
        """Could some true value in [lo, hi] be written as this claim?

        Numbers printed with six or more significant digits come from code, mostly in float32:
        they may differ from the float64 value by float32's rounding, which is allowed.
        ``strict``: the ends of [lo, hi] are themselves rounding bounds, never reached, so a
        value just touching them does not count.
        """
        if math.isnan(lo) or math.isnan(hi):
            return False
        if self.masked or math.isinf(lo) or math.isinf(hi):
            return lo <= self.value <= hi
        tol = self.half_unit * ((1 - 1e-6) if strict else (1 + 1e-9)) + 1e-15
        if self.long:
            tol += 4e-6 * abs(self.value)
        return lo - tol <= self.value <= hi + tol

    @property
    def significant(self) -> int:
        """How many significant digits were written."""
        return significant_digits(self.text)

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
    s = text.strip()
    if (head := _DECOR.match(s)) is not None:
        s = s[head.end() :]
    if (tail := _DECOR.match(s[::-1])) is not None:
        s = s[: len(s) - tail.end()]
    return s


def parse_claim(text: str) -> Claim | None:
    """A written number, or None when the text is not a number."""
    t = clean(text).replace("−", "-").replace(",", "") if text else ""
    t = t.replace("{", "").replace("}", "") if t.startswith(("-\\infty", "\\infty")) else t
    if not t:
        return None
    m = _INF.match(t)
    if m:  # -∞ marks a masked score; +∞ is nothing a step of attention gives
        return Claim(text.strip(), -math.inf, 0.0, 0, None) if m["sign"] in ("-", "−") else None
    tm = _TIMES_TEN.search(t)  # 9.05 \times 10^{-4}
    if tm:
        t = f"{t[: tm.start()].rstrip()}e{tm[1].replace('−', '-')}"
    m = _NUMBER.match(t)
    if not m:
        return None
    frac = m["frac"] or ""
    decimals = len(frac)
    if len(m["int"]) + decimals > MAX_DIGITS:
        return None  # not a number anybody computed by hand
    exponent = int(m["exp"].replace("−", "-")) if m["exp"] is not None else None
    if exponent is not None and abs(exponent) > MAX_EXPONENT:
        return None  # 1e400 is no attention weight (and overflows a float)
    value = float(f"{m['sign'].replace('−', '-')}{m['int']}.{frac or '0'}e{exponent or 0}")
    half = 0.5 * 10.0 ** ((exponent or 0) - decimals)
    text = text.strip()
    return Claim(text, value, half, decimals, exponent, long=significant_digits(text) >= 6)


def significant_digits(text: str) -> int:
    """How many significant digits a number was written with."""
    mantissa = re.split(r"[eE]", text)[0]
    return len(re.sub(r"\D", "", mantissa).lstrip("0"))
