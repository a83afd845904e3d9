"""Numbers as a person writes them (1, -0.5, 1e-3, 3/4), kept exact, within qkv.limits.

The size of a written number is checked on its text, before the number is built: exact
arithmetic on 1e100000000 (a 332-million-bit integer) would take minutes, and 1e400 does not
fit a float64. A number is 0 or between 1e-MAX_EXPONENT and 1e+MAX_EXPONENT in size, with at
most MAX_DIGITS significant digits.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from qkv import limits
from qkv.errors import InputError

_PLAIN = re.compile(r"\s*[-+]?([0-9]{1,15})(?:\.([0-9]{1,15}))?\s*")
_DECIMAL = re.compile(r"[-+]?(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?")
LOG10_2 = 0.30102999566398120


def parse_number(text: str, where: str) -> Fraction:
    """One number as written (with U+2212 as minus); InputError if it is not one."""
    plain = _PLAIN.fullmatch(text)
    if plain:  # the common case (-1.25), whose size needs no check: 3 times faster
        digits, frac = plain.group(1), plain.group(2) or ""
        n = int(digits + frac)
        return Fraction(-n if text.lstrip()[0] == "-" else n, 10 ** len(frac))
    t = text.strip().replace("−", "-").replace("＋", "+")
    if not t:
        raise InputError(f"{where} is empty")
    low = t.lower().lstrip("+-")
    if low in ("nan", "inf", "infinity", "∞"):
        raise InputError(f"{where} is {t}; only finite numbers are allowed")
    check_written_size(t, where)
    try:
        q = Fraction(t)
    except (ValueError, ZeroDivisionError):
        raise InputError(f"{where}: {short(text.strip())!r} is not a number") from None
    check_magnitude(q, where)
    return q


def check_written_size(t: str, where: str) -> None:
    """InputError for a number written with too many digits or too large an exponent."""
    body = t.replace("_", "")
    if "/" in body:  # a fraction: a whole number on each side
        if any(len(side.strip().lstrip("+-")) > limits.MAX_DIGITS for side in body.split("/")):
            raise InputError(
                f"{where}: {short(t)!r} has more than {limits.MAX_DIGITS} digits on a side"
            )
        return
    m = _DECIMAL.fullmatch(body)
    if m is None:
        return  # not a decimal: Fraction() says so
    whole, frac, exp = m.group(1), m.group(2) or "", m.group(3) or "0"
    digits = (whole + frac).lstrip("0")
    if not digits:
        return  # zero, however written
    if len(whole + frac) > limits.MAX_DIGITS + limits.MAX_EXPONENT:
        raise InputError(f"{where}: {short(t)!r} is written with {len(whole + frac):,} digits")
    significant = len(digits.rstrip("0"))
    if significant > limits.MAX_DIGITS:
        raise InputError(
            f"{where}: {short(t)!r} has {significant} significant digits; "
            f"qkv keeps at most {limits.MAX_DIGITS}"
        )
    big = len(exp.lstrip("+-").lstrip("0")) > 6  # int() of a huge exponent is itself slow
    e = (-(10**7) if exp.startswith("-") else 10**7) if big else int(exp)
    lead = whole.lstrip("0")
    first = len(lead) - 1 if lead else -(len(frac) - len(frac.lstrip("0")) + 1)
    size_error(e + first, repr(short(t)), where)


def check_magnitude(q: Fraction, where: str) -> None:
    """InputError unless q is 0 or between 1e-MAX_EXPONENT and 1e+MAX_EXPONENT in size."""
    if q == 0:
        return
    # log10 |q| within 1 from the bit lengths: cheap for any size
    e = int((abs(q.numerator).bit_length() - q.denominator.bit_length()) * LOG10_2)
    if abs(e) > limits.MAX_EXPONENT:
        size_error(e, f"a number near 1e{e}", where)


def size_error(e: int, shown: str, where: str) -> None:
    """InputError when a number with decimal exponent e (as in 1.5e12) is out of bounds."""
    bound = limits.MAX_EXPONENT
    if e > bound:
        raise InputError(f"{where}: {shown} is too large (numbers are at most 1e{bound} in size)")
    if e < -bound:
        raise InputError(
            f"{where}: {shown} is too small (numbers are 0 or at least 1e-{bound} in size)"
        )


def short(text: str, n: int = 24) -> str:
    """The start of a long text, for an error message that fits one line."""
    return text if len(text) <= n else text[: n - 1] + "…"


def describe(value: Any) -> str:
    """A JSON value for an error message: 'a list', 'true', '"abc"'; never Fraction(1, 1)."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, Fraction):
        return str(value)
    return repr(short(str(value)))
