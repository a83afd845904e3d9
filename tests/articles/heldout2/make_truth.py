#!/usr/bin/env python3
"""Held-out corpus for `qkv check`: writes every article and its truth file.

Each article is built from quantities (leaves: numbers the author chose; derived: numbers the
author computed, possibly with a planted mistake). Every printed number is a placeholder
«name|i,j» in the text, so its line is known. After the article is laid out, the truth is
computed from the true relations (numpy float64):

  local  = f(printed inputs)          -> a number far from it is a ROOT (true = local)
  exact  = f(exact chain from leaves) -> a number that rounds from it is right
  ccl    = f(inputs with wrong numbers corrected)
           -> locally consistent but far from ccl: CONSEQUENCE (true = exact)
           -> locally consistent, close to ccl but not to exact: RIGHT_CARRIED

Numbers too close to a rounding boundary, or too close to the interval a checker could get
from the printed (rounded) inputs, stop the script: every judgement here is unambiguous.

Only numpy and the standard library are used. Run:  python3 make_truth.py
"""

from __future__ import annotations

import json
import math
import os
import re
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
UMINUS = "\u2212"
ARTICLES = []


def article(fn):
    ARTICLES.append(fn)
    return fn


# ----------------------------------------------------------------------------- number formats


def parse_num(s: str) -> float:
    t = s.strip().replace(UMINUS, "-").replace("\u2013", "-").replace("\\infty", "inf")
    if t in ("-inf", "-∞", "-Inf", "-Infinity", "-1e9"):
        return -math.inf if "inf" in t.lower() or "∞" in t else -1e9
    if t.endswith("."):
        t += "0"
    return float(t)


def _dec(s: str) -> int:
    t = s.replace(UMINUS, "-")
    m = t.lower().split("e")[0]
    return len(m.split(".")[1]) if "." in m else 0


class Fmt:
    """Turns an array into the strings an author prints, and says each string's precision."""

    def strings(self, a: np.ndarray) -> np.ndarray:
        out = np.empty(a.shape, dtype=object)
        for idx in np.ndindex(a.shape):
            out[idx] = self.one(float(a[idx]))
        return out

    def one(self, v: float) -> str:
        raise NotImplementedError

    def ulp(self, strings: np.ndarray, idx) -> float:
        raise NotImplementedError


class Fixed(Fmt):
    def __init__(self, d: int, minus: str = "-", inf: str = "-inf", plus: bool = False):
        self.d, self.minus, self.inf, self.plus = d, minus, inf, plus

    def one(self, v):
        if v == -math.inf:
            return self.inf
        r = f"{v:.{self.d}f}"
        if r.startswith("-") and float(r) == 0.0:
            r = r[1:]
        if self.plus and not r.startswith("-"):
            r = "+" + r
        return r.replace("-", self.minus)

    def ulp(self, strings, idx):
        return 10.0 ** -self.d


class Int(Fixed):
    def __init__(self, minus: str = "-", inf: str = "-inf"):
        super().__init__(0, minus, inf)


class Trim(Fmt):
    """d decimals, trailing zeros dropped ("1.5", "2", or numpy-like "2." with dot=True).
    Judged at the precision of the decimals beside it: the quantity's most decimals."""

    def __init__(self, d: int, dot: bool = False, minus: str = "-", inf: str = "-inf"):
        self.d, self.dot, self.minus, self.inf = d, dot, minus, inf

    def one(self, v):
        if v == -math.inf:
            return self.inf
        r = f"{v:.{self.d}f}"
        if r.startswith("-") and float(r) == 0.0:
            r = r[1:]
        r = r.rstrip("0")
        if not self.dot:
            r = r.rstrip(".")
        return r.replace("-", self.minus)

    def ulp(self, strings, idx):
        return 10.0 ** -max(_dec(s) for s in strings.flat if "inf" not in s and "∞" not in s)


class Sci(Fmt):
    def __init__(self, d: int, upper: bool = False):
        self.d, self.upper = d, upper

    def one(self, v):
        r = f"{v:.{self.d}e}"
        return r.upper() if self.upper else r

    def ulp(self, strings, idx):
        s = strings[idx].lower()
        e = int(s.split("e")[1])
        return 10.0 ** (e - self.d)


class NumpyFmt(Fmt):
    """Exactly what numpy prints (np.array2string), element by element."""

    TOKEN = re.compile(r"-?inf|nan|-?\d+\.?\d*(?:e[+-]\d+)?")

    def __init__(self, precision: int = 8, suppress: bool = False):
        self.p, self.suppress = precision, suppress

    def text(self, a: np.ndarray, sep: str = " ", prefix: str = "") -> str:
        return np.array2string(
            a, precision=self.p, suppress_small=self.suppress, separator=sep, prefix=prefix,
            floatmode="maxprec", max_line_width=75,
        )

    def strings(self, a):
        toks = self.TOKEN.findall(self.text(a))
        assert len(toks) == a.size, (toks, a.shape)
        return np.array(toks, dtype=object).reshape(a.shape)

    def ulp(self, strings, idx):
        s = strings[idx]
        finite = [t for t in strings.flat if "inf" not in t and "nan" not in t]
        if "e" in s:
            md = max(_dec(t) for t in finite)
            return 10.0 ** (int(s.split("e")[1]) - md)
        return 10.0 ** -max(_dec(t) for t in finite)


class TorchFmt(Fmt):
    """torch's default print: 4 decimals, '1.' for all-integer tensors, sci for wide ranges."""

    def __init__(self, precision: int = 4):
        self.p = precision

    def mode(self, a):
        fin = np.abs(a[np.isfinite(a)])
        nz = fin[fin > 0]
        if fin.size and np.all(fin == np.round(fin)):
            return "int"
        if nz.size and (nz.max() / nz.min() > 1000 or nz.max() > 1e8):
            return "sci"
        return "fixed"

    def strings(self, a):
        mode = self.mode(a)
        out = np.empty(a.shape, dtype=object)
        for idx in np.ndindex(a.shape):
            v = float(a[idx])
            if v == -math.inf:
                out[idx] = "-inf"
            elif mode == "int":
                out[idx] = f"{v:.0f}."
            elif mode == "sci":
                out[idx] = f"{v:.{self.p}e}"
            else:
                out[idx] = f"{v:.{self.p}f}"
        return out

    def ulp(self, strings, idx):
        s = strings[idx]
        if "e" in s:
            return 10.0 ** (int(s.split("e")[1]) - self.p)
        return 10.0 ** -_dec(s)


# ----------------------------------------------------------------------------- attention maths


def softmax(s: np.ndarray) -> np.ndarray:
    s = np.asarray(s, dtype=float)
    m = np.max(s, axis=-1, keepdims=True)
    e = np.exp(s - m)
    return e / e.sum(axis=-1, keepdims=True)


def T(a):
    return np.swapaxes(a, -1, -2)


def swap_last(v: float, d: int) -> float:
    """v written with d decimals, its last two digits swapped (a typo)."""
    s = f"{v:.{d}f}"
    return float(s[:-2] + s[-1] + s[-2])


def causal(n: int, m: int | None = None) -> np.ndarray:
    m = n if m is None else m
    return np.tril(np.ones((n, m), dtype=bool))


def masked(s, keep):
    return np.where(keep, s, -np.inf)


def setv(a, idx, v):
    a = np.array(a, dtype=float, copy=True)
    a[idx] = v
    return a


# ----------------------------------------------------------------------------- the article model


class Qty:
    def __init__(self, name, deps, fn, val, fmt, leaf):
        self.name, self.deps, self.fn, self.val, self.fmt, self.leaf = (
            name, deps, fn, np.asarray(val, dtype=float), fmt, leaf)
        self.strings = fmt.strings(self.val)
        self.pv = np.vectorize(parse_num, otypes=[float])(self.strings) if self.val.size else self.val


PH = re.compile(r"«([^|»]+)(?:\|([^»]*))?»")


class Line:
    def __init__(self, text, claims):
        self.text, self.claims = text, claims


class Article:
    def __init__(self, name, ext, lang, kind, desc, exit_code=None, notes=""):
        self.name, self.ext, self.lang, self.kind, self.desc = name, ext, lang, kind, desc
        self.exit_code, self.notes = exit_code, notes
        self.Q: dict[str, Qty] = {}
        self.lines: list[Line] = []  # md / txt / html
        self.cells: list[dict] = []  # ipynb
        self.nb_lang = "python"
        self.failed: list[str] = []

    # quantities -----------------------------------------------------------------------
    def leaf(self, name, values, fmt=None):
        fmt = fmt or Trim(4)
        q = Qty(name, [], None, values, fmt, True)
        self.Q[name] = q
        return q.pv

    def der(self, name, deps, fn, fmt, carry=True, author=None, tweak=None):
        """A number the author computed: by `author` (default: the true fn) from the printed
        (carry=True) or internal values of deps, then `tweak`ed (a planted mistake)."""
        src = [self.Q[d].pv if carry else self.Q[d].val for d in deps]
        val = np.asarray((author or fn)(*src), dtype=float)
        if tweak is not None:
            val = np.asarray(tweak(val.copy()), dtype=float)
        q = Qty(name, deps, fn, val, fmt, False)
        self.Q[name] = q
        return q.pv

    def require(self, cond, msg="a claim in the prose"):
        """A statement the prose makes about the numbers; variants where it is false are skipped."""
        if not cond:
            self.failed.append(f"{self.name}: prose claim false: {msg}")

    def s(self, name, idx=()):
        return self.Q[name].strings[idx]

    # text ------------------------------------------------------------------------------
    def resolve(self, tpl: str) -> Line:
        claims = []

        def sub(m):
            name, ix = m.group(1), m.group(2)
            idx = tuple(int(x) for x in ix.split(",")) if ix else ()
            q = self.Q[name]
            st = q.strings[idx]
            claims.append((name, idx, st))
            return st

        text = PH.sub(sub, tpl)
        assert "«" not in text and "»" not in text, tpl
        return Line(text, claims)

    def add(self, text: str):
        """Append lines (a template). A leading newline becomes a blank line after earlier
        text, and is dropped at the start or after a blank line."""
        if text.startswith("\n") and (not self.lines or self.lines[-1].text.strip() == ""):
            text = text[1:]
        if text.endswith("\n"):
            text = text[:-1]
        for t in text.split("\n"):
            self.lines.append(self.resolve(t))

    def addl(self, lines):
        for t in lines:
            self.lines.append(self.resolve(t))

    # notebooks -------------------------------------------------------------------------
    def md_cell(self, text):
        self.cells.append({"type": "markdown", "source": self._tl(text)})

    def code_cell(self, src, outputs=(), n=None):
        outs = []
        for o in outputs:
            kind = o[0]
            if kind == "stream":
                outs.append({"kind": "stream", "text": self._tl(o[1])})
            elif kind == "result":
                outs.append({"kind": "result", "text": self._tl(o[1]),
                             "html": self._tl(o[2]) if len(o) > 2 and o[2] else None})
        self.cells.append({"type": "code", "source": self._tl(src), "outputs": outs, "n": n})

    def _tl(self, text):
        if isinstance(text, list):
            text = "\n".join(text)
        if text.startswith("\n"):
            text = text[1:]
        return [self.resolve(t) for t in text.split("\n")]


# ----------------------------------------------------------------------------- template helpers


def row(name, i, n, sep=", ", l="[", r="]"):
    return l + sep.join(f"«{name}|{i},{j}»" for j in range(n)) + r


def vec(name, n, sep=", ", l="[", r="]"):
    return l + sep.join(f"«{name}|{j}»" for j in range(n)) + r


def pylist(A, name):
    a = A.Q[name].val
    if a.ndim == 1:
        return vec(name, a.shape[0])
    return "[" + ", ".join(row(name, i, a.shape[1]) for i in range(a.shape[0])) + "]"


def lines_pylist(A, name, indent=" ", sep=", "):
    a = A.Q[name].val
    n, m = a.shape
    out = []
    for i in range(n):
        pre = "[" if i == 0 else indent
        post = "]" if i == n - 1 else sep.rstrip()
        out.append(pre + row(name, i, m, sep) + post)
    return out


def md_table(A, name, cols, rows=None, corner="", pipes=True, align=None, tr=False):
    a = A.Q[name].val
    n, m = a.shape
    hdr = ([corner] if rows is not None else []) + list(cols)
    al = align or "---"
    seps = [al] * len(hdr)
    out = []
    wrap = (lambda cells: "| " + " | ".join(cells) + " |") if pipes else (lambda c: " | ".join(c))
    out.append(wrap(hdr))
    out.append(wrap(seps) if pipes else "|".join(seps))
    rng_i = range(m) if tr else range(n)
    for i in rng_i:
        cells = ([rows[i]] if rows is not None else [])
        if tr:
            cells += [f"«{name}|{j},{i}»" for j in range(n)]
        else:
            cells += [f"«{name}|{i},{j}»" for j in range(m)]
        out.append(wrap(cells))
    return out


def _grid(A, name, cols, rows, corner):
    a = A.Q[name].val
    n, m = a.shape
    hdr = ([corner] if rows is not None else []) + list(cols)
    body = []
    for i in range(n):
        body.append(([rows[i]] if rows is not None else []) +
                    [(A.s(name, (i, j)), f"«{name}|{i},{j}»") for j in range(m)])
    def w(c):
        return _width(c[0] if isinstance(c, tuple) else c)
    widths = [max([_width(hdr[k])] + [w(r[k]) for r in body]) for k in range(len(hdr))]
    return hdr, body, widths


def _width(s):
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in s)


def _pad(c, w, right=True):
    if isinstance(c, str) and right:
        right = False  # labels are left-aligned, numbers right-aligned
    s = c[0] if isinstance(c, tuple) else c
    t = c[1] if isinstance(c, tuple) else c
    p = " " * (w - _width(s))
    return p + t if right else t + p


def _gridt(A, header, body):
    res = [[(A.resolve(c).text, c) for c in r] for r in body]
    widths = [max([_width(header[k])] + [_width(r[k][0]) for r in res]) for k in range(len(header))]
    return res, widths


def grid_ascii(A, header, body, first_left=True):
    """ASCII table of cell templates (numbers right-aligned, first column left-aligned)."""
    res, w = _gridt(A, header, body)
    bar = "+" + "+".join("-" * (x + 2) for x in w) + "+"
    out = [bar, "|" + "|".join(" " + h + " " * (x - _width(h)) + " " for h, x in zip(header, w)) + "|", bar]
    for r in res:
        cells = []
        for k, ((txt, tpl), x) in enumerate(zip(r, w)):
            pad = " " * (x - _width(txt))
            cells.append(" " + (tpl + pad if (k == 0 and first_left) else pad + tpl) + " ")
        out.append("|" + "|".join(cells) + "|")
    out.append(bar)
    return out


def grid_md(A, header, body, pipes=True, align=None):
    res, w = _gridt(A, header, body)
    def fmt(cells):
        inner = " | ".join(cells)
        return "| " + inner + " |" if pipes else inner.rstrip()
    out = [fmt([h + " " * (x - _width(h)) for h, x in zip(header, w)])]
    out.append(fmt([(align or "-") * x if not align else align for x in w]) if pipes else
               " | ".join("-" * x for x in w))
    for r in res:
        out.append(fmt([tpl + " " * (x - _width(txt)) for (txt, tpl), x in zip(r, w)]))
    return out


def ascii_table(A, name, cols, rows=None, corner=""):
    hdr, body, w = _grid(A, name, cols, rows, corner)
    bar = "+" + "+".join("-" * (x + 2) for x in w) + "+"
    out = [bar, "|" + "|".join(" " + _pad(h, x, False) + " " for h, x in zip(hdr, w)) + "|",
           bar.replace("-", "=")]
    for r in body:
        out.append("|" + "|".join(" " + _pad(c, x) + " " for c, x in zip(r, w)) + "|")
    out.append(bar)
    return out


def box_table(A, name, cols, rows=None, corner=""):
    hdr, body, w = _grid(A, name, cols, rows, corner)
    out = ["┌" + "┬".join("─" * (x + 2) for x in w) + "┐",
           "│" + "│".join(" " + _pad(h, x, False) + " " for h, x in zip(hdr, w)) + "│",
           "├" + "┼".join("─" * (x + 2) for x in w) + "┤"]
    for r in body:
        out.append("│" + "│".join(" " + _pad(c, x) + " " for c, x in zip(r, w)) + "│")
    out.append("└" + "┴".join("─" * (x + 2) for x in w) + "┘")
    return out


def html_table(A, name, cols, rows=None, corner="", one_line=False, cls=None):
    a = A.Q[name].val
    n, m = a.shape
    head = "<tr>" + "".join(f"<th>{c}</th>" for c in ([corner] if rows is not None else []) + list(cols)) + "</tr>"
    trs = []
    for i in range(n):
        cells = (f"<th>{rows[i]}</th>" if rows is not None else "") + "".join(
            f"<td>«{name}|{i},{j}»</td>" for j in range(m))
        trs.append("<tr>" + cells + "</tr>")
    open_ = f'<table class="{cls}">' if cls else "<table>"
    if one_line:
        return [open_ + "<thead>" + head + "</thead><tbody>" + "".join(trs) + "</tbody></table>"]
    return [open_, "<thead>", head, "</thead>", "<tbody>"] + trs + ["</tbody>", "</table>"]


def latex(A, name, env="bmatrix", inline=False, idx_prefix=()):
    a = A.Q[name].val
    if a.ndim == 1:
        body = [" & ".join(f"«{name}|{j}»" for j in range(a.shape[0]))]
    else:
        body = [" & ".join(f"«{name}|{i},{j}»" for j in range(a.shape[1])) for i in range(a.shape[0])]
    if env == "array":
        begin = r"\begin{array}{" + "c" * (a.shape[-1]) + "}"
    else:
        begin = r"\begin{" + env + "}"
    end = r"\end{" + env + "}"
    if inline:
        return begin + " " + r" \\ ".join(body) + " " + end
    return [begin] + [b + r" \\" for b in body[:-1]] + [body[-1]] + [end]


def np_lines(A, name, style="str", label=None):
    """numpy's own layout (print(a) or repr(a)), numbers as placeholders."""
    q = A.Q[name]
    fmt = q.fmt
    assert isinstance(fmt, NumpyFmt)
    if style == "repr":
        txt = "array(" + fmt.text(q.val, sep=", ", prefix="array(") + ")"
    else:
        txt = fmt.text(q.val, sep=" ")
    idxs = list(np.ndindex(q.val.shape))
    k = 0
    out = []

    for ln in txt.split("\n"):
        def sub(m):
            nonlocal k
            idx = idxs[k]
            assert m.group(0) == q.strings[idx], (m.group(0), q.strings[idx])
            k += 1
            return f"«{name}|{','.join(map(str, idx))}»"

        out.append(NumpyFmt.TOKEN.sub(sub, ln))
    assert k == len(idxs)
    if label:
        out[0] = label + out[0]
    return out


def torch_lines(A, name, grad_fn=None, batch=False, label=""):
    """torch's print: tensor([[a, b],\n        [c, d]], grad_fn=<...>); 3-D arrays as batches."""
    q = A.Q[name]
    a = q.val
    strs = q.strings
    width = max(len(s) for s in strs.flat)

    def cell(idx):
        return " " * (width - len(strs[idx])) + f"«{name}|{','.join(map(str, idx))}»"

    def rows2d(mat_idx, n, m, first_pre, pre):
        out = []
        for i in range(n):
            body = ", ".join(cell(mat_idx + (i, j)) for j in range(m))
            out.append((first_pre if i == 0 else pre) + body + ("]" if i == n - 1 else "],"))
        return out

    if a.ndim == 1:
        out = ["tensor([" + ", ".join(cell((j,)) for j in range(a.shape[0])) + "]"]
    elif a.ndim == 2 and not batch:
        out = rows2d((), a.shape[0], a.shape[1], "tensor([[", " " * 8 + "[")
        out[-1] += "]"
    elif a.ndim == 2:
        out = rows2d((), a.shape[0], a.shape[1], "tensor([[[", " " * 9 + "[")
        out[-1] += "]]"
    else:
        out = []
        for b in range(a.shape[0]):
            blk = rows2d((b,), a.shape[1], a.shape[2], "tensor([[[" if b == 0 else " " * 8 + "[[",
                         " " * 9 + "[")
            blk[-1] += "]" + ("," if b < a.shape[0] - 1 else "]")
            out += blk
            if b < a.shape[0] - 1:
                out.append("")
    out[-1] += f", grad_fn=<{grad_fn}>)" if grad_fn else ")"
    out[0] = label + out[0]
    return out


def df_lines(A, name, cols, rows):
    """pandas DataFrame text display."""
    a = A.Q[name].val
    n, m = a.shape
    strs = A.Q[name].strings
    iw = max(_width(r) for r in rows)
    cw = [max(_width(cols[j]), max(len(strs[i, j]) for i in range(n))) for j in range(m)]
    out = [" " * iw + "".join("  " + " " * (cw[j] - _width(cols[j])) + cols[j] for j in range(m))]
    for i in range(n):
        out.append(rows[i] + " " * (iw - _width(rows[i])) + "".join(
            "  " + " " * (cw[j] - len(strs[i, j])) + f"«{name}|{i},{j}»" for j in range(m)))
    return out


def df_html(A, name, cols, rows):
    a = A.Q[name].val
    n, m = a.shape
    out = ['<div>', '<table border="1" class="dataframe">', '  <thead>',
           '    <tr style="text-align: right;">', '      <th></th>']
    out += [f"      <th>{c}</th>" for c in cols]
    out += ["    </tr>", "  </thead>", "  <tbody>"]
    for i in range(n):
        out.append("    <tr>")
        out.append(f"      <th>{rows[i]}</th>")
        out += [f"      <td>«{name}|{i},{j}»</td>" for j in range(m)]
        out.append("    </tr>")
    out += ["  </tbody>", "</table>", "</div>"]
    return out


# ----------------------------------------------------------------------------- truth engine


class Ambiguous(Exception):
    pass


def _changed(f, base):
    shape = np.shape(base)
    f = np.atleast_1d(np.asarray(f, float))
    base = np.atleast_1d(base)
    d = np.abs(f - base)
    both_inf = ~np.isfinite(f) & ~np.isfinite(base) & (f == base)
    d[both_inf] = 0.0
    d[~np.isfinite(d)] = np.inf
    return d.reshape(shape)


def sensitivity(fn, vals, halves, base):
    """Linearised bound on how far f moves when each rounded printed input moves half an ulp."""
    bound = np.zeros_like(base)
    for k, (v, h) in enumerate(zip(vals, halves)):
        for idx in [i for i in np.ndindex(h.shape) if h[i] != 0]:
            worst = np.zeros_like(base)
            for sg in (1.0, -1.0):
                vv = v.copy()
                vv[idx] += sg * h[idx]
                args = list(vals)
                args[k] = vv
                worst = np.maximum(worst, _changed(fn(*args), base))
            bound += worst
    return bound


def influence(fn, vals, k, idx, base):
    vv = vals[k].copy()
    vv[idx] += 1e-6 * max(1.0, abs(vv[idx]))
    args = list(vals)
    args[k] = vv
    tol = 1e-12 * np.maximum(1.0, np.abs(np.where(np.isfinite(base), base, 0)))
    return np.asarray(_changed(fn(*args), base) > tol)


def line_map(A):
    """[(Line, 1-based file line)] for every line of the written file, and the file text."""
    if A.ext == "md" and not getattr(A, "raw", False):
        tidy_markdown(A)
    if A.ext != "ipynb":
        text = "\n".join(L.text for L in A.lines) + "\n"
        return [(L, i + 1) for i, L in enumerate(A.lines)], text
    objs = []
    sent = nb_dict(A, objs, sentinel=True)
    stext = json.dumps(sent, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    pos = {}
    for n, ln in enumerate(stext.split("\n")):
        m = re.search(r'"@@(\d+)@@"', ln)
        if m:
            pos[int(m.group(1))] = n + 1
    objs2 = []
    real = nb_dict(A, objs2, sentinel=False)
    text = json.dumps(real, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    assert text.count("\n") == stext.count("\n")
    return [(L, pos[k]) for k, L in enumerate(objs)], text


def tidy_markdown(A):
    """A blank line before a pipe table or a heading that directly follows text (outside code)."""
    out, fence = [], False
    for L in A.lines:
        t = L.text.lstrip()
        if t.startswith("```"):
            fence = not fence
        elif not fence and out and out[-1].text.strip() and (
                (t.startswith("|") and not out[-1].text.lstrip().startswith("|")) or
                (t.startswith("#") and not out[-1].text.startswith("#"))):
            out.append(Line("", []))
        out.append(L)
    A.lines = out


def nb_dict(A, objs, sentinel):
    def src(ls):
        out = []
        for i, L in enumerate(ls):
            k = len(objs)
            objs.append(L)
            t = L.text + ("\n" if i < len(ls) - 1 else "")
            out.append(f"@@{k}@@" if sentinel else t)
        return out

    cells = []
    count = 0
    for c in A.cells:
        if c["type"] == "markdown":
            cells.append({"cell_type": "markdown", "metadata": {}, "source": src(c["source"])})
            continue
        count += 1
        n = c["n"] if c["n"] is not None else count
        outs = []
        for o in c["outputs"]:
            if o["kind"] == "stream":
                outs.append({"name": "stdout", "output_type": "stream", "text": src(o["text"])})
            else:
                data = {"text/plain": src(o["text"])}
                if o["html"]:
                    data["text/html"] = src(o["html"])
                outs.append({"data": data, "execution_count": n, "metadata": {},
                             "output_type": "execute_result"})
        cells.append({"cell_type": "code", "execution_count": n, "metadata": {},
                      "outputs": outs, "source": src(c["source"])})
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python", "version": "3.10.12"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def evaluate(A):
    lm, text = line_map(A)
    printed: dict[str, dict] = {}
    for L, ln in lm:
        for name, idx, st in L.claims:
            printed.setdefault(name, {}).setdefault(idx, []).append((st, ln))
    eff, exact, ceff, half, taint = {}, {}, {}, {}, {}
    roots, cons, carried = [], [], []
    checked = 0
    problems = []
    for name, q in A.Q.items():
        pr = printed.get(name, {})
        if q.leaf:
            eff[name] = q.pv.copy()
            exact[name] = q.pv.copy()
            ceff[name] = q.pv.copy()
            half[name] = np.zeros_like(q.pv)
            taint[name] = np.empty(q.pv.shape, dtype=object)
            taint[name].fill(frozenset())
            continue
        dv = [eff[d] for d in q.deps]
        local = np.asarray(q.fn(*dv), float)
        ex = np.asarray(q.fn(*[exact[d] for d in q.deps]), float)
        cc = np.asarray(q.fn(*[ceff[d] for d in q.deps]), float)
        assert local.shape == q.val.shape, (A.name, name, local.shape, q.val.shape)
        bound = sensitivity(q.fn, dv, [half[d] for d in q.deps], local)
        tn = np.empty(local.shape, dtype=object)
        tn.fill(frozenset())
        for k, d in enumerate(q.deps):
            for idx in np.ndindex(taint[d].shape):
                if taint[d][idx]:
                    hit = influence(q.fn, dv, k, idx, local)
                    for o in [i for i in np.ndindex(hit.shape) if hit[i]]:
                        tn[o] = tn[o] | taint[d][idx]
        e, c, h = local.copy(), cc.copy(), np.zeros_like(local)
        for idx, occ in pr.items():
            st = occ[0][0]
            assert all(o[0] == st for o in occ)
            v = q.pv[idx]
            u = q.fmt.ulp(q.strings, idx)
            where = f"{A.name}: {name}{list(idx)} '{st}' line {occ[0][1]}"
            lo, exv, ccv = local[idx], ex[idx], cc[idx]
            e[idx] = v
            c[idx] = v
            if not (math.isfinite(v) and math.isfinite(lo) and math.isfinite(exv)):
                if v == lo == exv:
                    tn[idx] = frozenset()
                    continue
                problems.append(where + f": non-finite mismatch local={lo} exact={exv}")
                continue
            checked += 1
            b = bound[idx] / u
            dl, de, dc = abs(v - lo) / u, abs(v - exv) / u, abs(v - ccv) / u
            info = f" dl={dl:.3f} de={de:.3f} dc={dc:.3f} b={b:.3f} local={lo:.6g} exact={exv:.6g}"
            if abs(v - lo) > 1e-9 * max(1, abs(lo)):
                h[idx] = u / 2
            rt = 0.499 if u <= 1e-6 else 0.48  # 8-digit prints: float64 decides, no tolerance games
            if de <= rt:
                if dl > b + 0.5:
                    problems.append(where + ": right but not from the printed inputs" + info)
                tn[idx] = frozenset()
                continue
            if de < 0.55:
                problems.append(where + ": on a rounding boundary" + info)
                continue
            consistent = dl <= max(0.48, b + 0.45)  # follows from the printed inputs
            if not consistent:
                if dl < max(0.55, b + 0.6):
                    problems.append(where + ": root too close to the rounding interval" + info)
                if len(occ) > 1:
                    problems.append(where + ": wrong number printed twice")
                rid = len(roots)
                roots.append({"line": occ[0][1], "claimed": st, "true": _r(lo),
                              "what": A_what(A, name, idx)})
                tn[idx] = frozenset([rid])
                c[idx] = round(ccv / u) * u
                continue
            if not tn[idx] or dc <= 0.48:
                if tn[idx] or dc > max(0.48, b + 0.45):
                    problems.append(where + ": carried rounding not clear" + info)
                carried.append({"line": occ[0][1], "claimed": st})
                tn[idx] = frozenset()
                continue
            if dc < 0.6:
                problems.append(where + ": consequence too close to the corrected value" + info)
            if len(occ) > 1:
                problems.append(where + ": wrong number printed twice")
            cons.append({"line": occ[0][1], "claimed": st, "true": _r(exv), "_t": tn[idx]})
            c[idx] = round(ccv / u) * u
        eff[name], exact[name], ceff[name], half[name], taint[name] = e, ex, c, h, tn
    for cn in cons:
        cn["follows_from"] = sorted({roots[r]["line"] for r in cn.pop("_t")})
    if len(cons) < getattr(A, "want_cons", 0):
        problems.append(f"{A.name}: only {len(cons)} consequences")
    return text, roots, cons, carried, checked, problems + A.failed


def _r(x):
    return float(f"{x:.10g}")


def A_what(A, name, idx):
    w = getattr(A, "what", {})
    if (name, idx) in w:
        return w[(name, idx)]
    if name in w:
        return w[name]
    return f"{name}{list(idx)} does not follow from the numbers printed before it"


# ----------------------------------------------------------------------------- writing


class Tuner:
    """Picks input variants in mixed radix: variant n of an article. The first variant whose
    numbers all sit clear of rounding boundaries is written."""

    def __init__(self, n):
        self.n, self.radix = n, 1

    def pick(self, options):
        i = (self.n // self.radix) % len(options)
        self.radix *= len(options)
        return options[i]


def make_article(make, limit=400):
    first = None
    for n in range(limit):
        t = Tuner(n)
        A = make(t)
        res = evaluate(A)
        if first is None:
            first = (A, res)
        if not res[5]:
            return A, res
        if n + 1 >= t.radix:
            break
    return first


def build_all(only=None):
    rows = []
    all_problems = []
    for make in ARTICLES:
        if only and not any(make.__name__ == o or o.startswith(make.__name__ + "_") for o in only):
            continue
        A, (text, roots, cons, carried, checked, problems) = make_article(make)
        all_problems += problems
        ext_exit = A.exit_code
        if roots or cons:
            code = 1
        elif ext_exit == 3:
            assert checked == 0, (A.name, checked)
            code = 3
        else:
            assert checked > 0, A.name
            code = 0
        if ext_exit is not None and ext_exit != code:
            all_problems.append(f"{A.name}: planned exit {ext_exit}, got {code}")
        roots.sort(key=lambda r: r["line"])
        cons.sort(key=lambda r: r["line"])
        truth = {"exit": code, "roots": roots, "consequences": cons, "right_carried": carried,
                 "notes": A.notes}
        fname = f"{A.name}.{A.ext}"
        with open(os.path.join(HERE, fname), "w", encoding="utf-8") as f:
            f.write(text)
        with open(os.path.join(HERE, f"{A.name}.truth.json"), "w", encoding="utf-8") as f:
            json.dump(truth, f, indent=2, ensure_ascii=False)
            f.write("\n")
        try:
            verify(fname, truth)
        except AssertionError as e:
            all_problems.append(f"{A.name}: verify failed {e}")
        rows.append((fname, A, code, len(roots), len(cons), len(carried), checked))
    return rows, all_problems


def verify(fname, truth):
    with open(os.path.join(HERE, fname), encoding="utf-8") as f:
        lines = f.read().split("\n")
    if fname.endswith(".ipynb"):
        json.loads("\n".join(lines))
    for key in ("roots", "consequences", "right_carried"):
        for it in truth[key]:
            assert it["claimed"] in lines[it["line"] - 1], (fname, it, lines[it["line"] - 1])
    for c in truth["consequences"]:
        assert c["follows_from"] and all(
            any(r["line"] == l for r in truth["roots"]) for l in c["follows_from"]), (fname, c)


def write_readme(rows):
    out = ["# corpus2: a held-out set of hand-worked attention articles for `qkv check`", "",
           "Written independently of the checker's code and its own test articles. Every",
           "article and its `<name>.truth.json` is generated by `python3 make_truth.py`",
           "(numpy float64 + standard library), which also verifies that each claimed string",
           "stands on the line its truth file names. Truth format: `exit`, `roots`,",
           "`consequences` (with `follows_from` root lines), `right_carried`, `notes`.",
           "Lines are 1-based lines of the file (raw JSON lines for .ipynb, source lines for .html).",
           "", "One line per article: file · language · kind · exit · roots/consequences/carried ·",
           "numbers judged · what it is.", ""]
    tot = [0, 0, 0, 0]
    for fname, A, code, r, c, k, n in rows:
        out.append(f"- `{fname}` · {A.lang} · {A.kind} · exit {code} · {r}/{c}/{k} · {n} · {A.desc}")
        tot[0] += r
        tot[1] += c
        tot[2] += k
        tot[3] += n
    out += ["", f"Totals: {len(rows)} articles, {tot[0]} roots, {tot[1]} consequences, "
            f"{tot[2]} right carried roundings, {tot[3]} derived numbers judged.", "",
            "## How each printed number is judged", "",
            "- precision: the decimals it is written with; numbers written with trailing zeros dropped",
            "  (`2` among `1.94`, numpy's `0.7` among `1.74`) are judged at the most decimals of their",
            "  matrix; scientific notation relative to its exponent.",
            "- right: the exact float64 value (from the leaves) rounds to it (|d| <= 0.48 ulp, 0.499 for",
            "  8-digit prints). Nothing is within 0.48-0.55 ulp of a rounding boundary.",
            "- root: it does not follow from the numbers printed before it, even allowing each printed",
            "  (rounded) input to move half an ulp (linearised interval, margin 0.1 ulp). `true` is",
            "  the value computed from the printed inputs.",
            "- consequence: wrong against the exact value, follows from the printed inputs, and at",
            "  least 0.6 ulp away from what the same computation gives with the wrong inputs corrected.",
            "  `true` is the exact value; `follows_from` the lines of the roots it inherits.",
            "- right_carried: wrong against the exact value only because it was computed from the",
            "  article's own correctly rounded printed numbers.",
            "- Prose statements about the numbers (\"row 2 does not match\", \"doc 3 has the largest",
            "  weight\") are checked by the generator; inputs are chosen from listed variants so that",
            "  all of the above hold.", ""]
    with open(os.path.join(HERE, "README.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(out))
    return tot


def main():
    only = set(sys.argv[1:]) or None
    rows, problems = build_all(only)
    for p in problems:
        print("PROBLEM", p)
    for fname, A, code, r, c, k, n in rows:
        print(f"{fname:45s} {A.lang} exit={code} roots={r} cons={c} carried={k} judged={n}")
    if not only:
        tot = write_readme(rows)
        print("totals", len(rows), tot)
    if problems:
        sys.exit(1)


# ============================================================================= the articles


@article
def en01(t):
    A = Article("en01_stackoverflow_scaled_numpy", "md", "en", "correct",
                "Stack Overflow answer, numpy code with print() outputs (no commas), scaled by 1/sqrt(d_k)",
                exit_code=0, notes="Q, K, V given directly; all outputs printed by numpy at precision=4 "
                "from float64 internals. Nothing wrong.")
    NF = NumpyFmt(4, suppress=True)
    A.leaf("Q", [[1, 0, 1, 0], [0, 2, 0, 2], [1, 1, 1, 1]], NF)
    A.leaf("K", [[1, 0, 1, 0], [0, 1, 0, 1], [2, 0, 0, 1]], NF)
    A.leaf("V", [[1, 2, 0], [0, 1, 3], [3, 0, 2]], NF)
    A.der("S", ["Q", "K"], lambda q, k: q @ k.T, NF, carry=False)
    A.der("Ss", ["S"], lambda s: s / 2.0, NF, carry=False)
    A.der("W", ["Ss"], softmax, NF, carry=False)
    A.der("O", ["W", "V"], lambda w, v: w @ v, NF, carry=False)
    A.add("""
**Answer** (score 37)

The formula is just `softmax(Q Kᵀ / √d_k) V`; the part people usually get wrong is *which axis*
the softmax runs over (it is the last one: every **row** of the score matrix becomes a
probability distribution over the keys). Here is a complete, reproducible toy example with
three tokens and `d_k = 4`, so the scaling factor is `1/√4 = 0.5`:

```python
import numpy as np
np.set_printoptions(precision=4, suppress=True)

Q = np.array([[1, 0, 1, 0],
              [0, 2, 0, 2],
              [1, 1, 1, 1]], dtype=float)
K = np.array([[1, 0, 1, 0],
              [0, 1, 0, 1],
              [2, 0, 0, 1]], dtype=float)
V = np.array([[1, 2, 0],
              [0, 1, 3],
              [3, 0, 2]], dtype=float)

scores = Q @ K.T
print(scores)
```
```
""")
    A.addl(np_lines(A, "S"))
    A.add("""```

Every entry is a plain dot product: `scores[i, j]` is query `i` against key `j`.
Now scale and normalise:

```python
d_k = K.shape[-1]
scaled = scores / np.sqrt(d_k)
print(scaled)
```
```""")
    A.addl(np_lines(A, "Ss"))
    A.add("""```

```python
def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))   # subtract the max for stability
    return e / e.sum(axis=axis, keepdims=True)

weights = softmax(scaled)
print(weights)
```
```""")
    A.addl(np_lines(A, "W"))
    A.add("""```

Each row of `weights` sums to one. The output is the weighted average of the rows of `V`:

```python
out = weights @ V
print(out)
```
```""")
    A.addl(np_lines(A, "O"))
    A.add("""```

If your numbers differ, check (1) that you divide by `sqrt(d_k)` and not by `d_k`, and (2) that
you call `softmax(..., axis=-1)`; `scipy.special.softmax` without `axis` normalises the *whole*
matrix, which is a very common bug.

— edited to add the `suppress=True` print option, thanks @jdoe""")
    return A



@article
def zh02(t):
    A = Article("zh02_zhihu_qkv_projection", "md", "zh", "correct, carried",
                "知乎回答,多个小标题,X·W^Q 学习到的映射,$$bmatrix$$,按 1/√d_k 缩放,两位小数逐步带入",
                exit_code=0, notes="Q/K/V = X·W (row vectors). Scaled scores, weights and outputs are "
                "each computed from the previous step's printed 2-decimal numbers (carried roundings, "
                "all right).")
    A.what = {}
    F2 = Fixed(2)
    A.leaf("X", [[1, 0, 1, 0], [0, 2, 0, 2], [1, 1, 1, 1]], Int())
    A.leaf("WQ", [[1, 0], [0, 1], [1, 0], [0, 1]], Int())
    A.leaf("WK", [[0, 1], [1, 0], [1, 1], [0, 0]], Int())
    A.leaf("WV", [[1, 2], [0, 1], [2, 0], [1, 1]], Int())
    A.der("Q", ["X", "WQ"], lambda x, w: x @ w, Int())
    A.der("K", ["X", "WK"], lambda x, w: x @ w, Int())
    A.der("V", ["X", "WV"], lambda x, w: x @ w, Int())
    A.der("S", ["Q", "K"], lambda q, k: q @ k.T, Int())
    A.der("r2", [], lambda: np.sqrt(2.0), Fixed(3))
    A.der("Ss", ["S"], lambda s: s / np.sqrt(2.0), F2)
    A.der("W", ["Ss"], softmax, F2)
    A.der("O", ["W", "V"], lambda w, v: w @ v, F2)
    A.add(r"""
# Transformer 里的 Q、K、V 到底是怎么来的?能不能手算一遍?

**回答 · 赞同 1.2k · 编辑于 2023-11-02**

看了很多回答都是在讲"查字典"的比喻,比喻没错,但是不动手算一遍总觉得隔着一层。下面我用一个
3 个词、每个词 4 维的小例子,把自注意力从头到尾算一遍,**每一步都可以用计算器复核**。

## 一、输入是什么

假设句子有三个 token,它们的词向量(已经加过位置编码)按行排成矩阵 $X$($3\times4$):

$$
X = """)
    A.addl(latex(A, "X"))
    A.add(r"""$$

## 二、线性映射得到 Q、K、V

自注意力里 $Q$、$K$、$V$ 都不是直接拿 $X$ 来用的,而是分别乘上三个**可学习**的矩阵
(查询映射 $W^Q$、键映射 $W^K$、值映射 $W^V$,形状都是 $4\times2$,即 $d_k = 2$):

$$
W^Q = """)
    A.addl(latex(A, "WQ"))
    A.add(r""",\quad
W^K = """)
    A.addl(latex(A, "WK"))
    A.add(r""",\quad
W^V = """)
    A.addl(latex(A, "WV"))
    A.add(r"""$$

于是(注意是 $XW$,行向量右乘权重):

$$
Q = XW^Q = """)
    A.addl(latex(A, "Q"))
    A.add(r""",\quad K = XW^K = """)
    A.addl(latex(A, "K"))
    A.add(r""",\quad V = XW^V = """)
    A.addl(latex(A, "V"))
    A.add(r"""$$

## 三、打分矩阵 $QK^T$

第 $i$ 行第 $j$ 列就是第 $i$ 个词的查询向量和第 $j$ 个词的键向量的点积,也就是"注意力得分":

$$
QK^T = """)
    A.addl(latex(A, "S"))
    A.add(r"""$$

比如第一行第二列:$q_1\cdot k_2 = «Q|0,0»\times«K|1,0» + «Q|0,1»\times«K|1,1» = «S|0,1»$。

## 四、缩放,然后 softmax

论文里要除以 $\sqrt{d_k}$,这里 $d_k=2$,$\sqrt{2}\approx «r2»$。缩放后(保留两位小数):

$$
\frac{QK^T}{\sqrt{d_k}} = """)
    A.addl(latex(A, "Ss"))
    A.add(r"""$$

对**每一行**做 softmax(我直接用上面两位小数的结果去算的),得到归一化后的权重:

$$
A = \mathrm{softmax}\!\left(\frac{QK^T}{\sqrt{d_k}}\right) = """)
    A.addl(latex(A, "W"))
    A.add(r"""$$

可以看到第二个词几乎只看第一个和第三个词,自己那一列的权重非常小。

## 五、加权求和

最后用权重对 $V$ 的行做加权求和(同样用上面两位小数的权重):

$$
Z = AV = """)
    A.addl(latex(A, "O"))
    A.add(r"""$$

$Z$ 的每一行就是对应 token 融合了上下文之后的新表示。

## 六、小结

1. $Q=XW^Q,\ K=XW^K,\ V=XW^V$,三个矩阵是训练出来的;
2. 打分 → 缩放 → softmax → 加权求和,四步走完;
3. 手算的时候每一步保留两位小数就够了,最后结果和代码差不了多少。

有问题欢迎评论区讨论 🙏

*发布于 北京 · 著作权归作者所有*""")
    return A


@article
def en03(t):
    A = Article("en03_lecture_slides_arithmetic", "md", "en", "correct, carried",
                "lecture-slide notes: labelled vectors q_1 = [..], dot products and softmax written out as arithmetic, unscaled",
                exit_code=0, notes="Query 1 is done by hand: e^x rounded to 3 decimals, the sum and "
                "the weights computed from those rounded numbers (carried), z_1 from the rounded weights. "
                "Rows 2-3 of the final table come from unrounded values.")
    F1 = Fixed(1)
    T2 = Trim(2)
    F3 = Fixed(3)
    A.leaf("q", [[1.0, 0.2], t.pick([[0.0, 1.0], [0.1, 1.0], [0.0, 0.9]]), [0.5, 0.5]], F1)
    A.leaf("k", [[1.0, 1.0], [0.2, 0.5], t.pick([[0.8, -0.5], [0.9, -0.5], [0.8, -0.4], [0.7, -0.5]])], F1)
    A.leaf("v", [[1, 0], [0, 1], t.pick([[2, 2], [2, 3], [3, 2]])], Int())
    A.der("S", ["q", "k"], lambda q, k: q @ k.T, T2)
    A.der("E", ["S"], lambda s: np.exp(s[0]), F3)
    A.der("Z", ["E"], lambda e: e.sum(), F3)
    A.der("a", ["E", "Z"], lambda e, z: e / z, F3)
    A.der("z1", ["a", "v"], lambda a, v: a @ v, F3)
    A.der("W", ["S"], softmax, F3, carry=False)
    A.add(r"""
# CS 4780-ish · Lecture 9 · Attention (notes from slides 14–22)

*Scribe notes, cleaned up after class. Errors are mine, not the instructor's.*

---

### Slide 14 — Setup

Three tokens, *the* / *cat* / *sat*. We skip the projections today and are handed the
queries, keys and values directly (2-dimensional so the arithmetic fits on a slide):

- q_1 = [«q|0,0», «q|0,1»], q_2 = [«q|1,0», «q|1,1»], q_3 = [«q|2,0», «q|2,1»]
- k_1 = [«k|0,0», «k|0,1»], k_2 = [«k|1,0», «k|1,1»], k_3 = [«k|2,0», «k|2,1»]
- v_1 = [«v|0,0», «v|0,1»], v_2 = [«v|1,0», «v|1,1»], v_3 = [«v|2,0», «v|2,1»]

No 1/√d scaling on these slides ("it only changes the temperature, we'll add it back on slide 30").

### Slide 15 — Compatibility scores for *the*

The compatibility of query 1 with each key is a dot product:

- q_1 · k_1 = «q|0,0»×«k|0,0» + «q|0,1»×«k|0,1» = «S|0,0»
- q_1 · k_2 = «q|0,0»×«k|1,0» + «q|0,1»×«k|1,1» = «S|0,1»
- q_1 · k_3 = «q|0,0»×«k|2,0» + «q|0,1»×(«k|2,1») = «S|0,2»

### Slide 16 — Softmax, by hand

Exponentiate (3 decimals is plenty):

- e^«S|0,0» = «E|0»
- e^«S|0,1» = «E|1»
- e^«S|0,2» = «E|2»

Sum: «E|0» + «E|1» + «E|2» = «Z»

Attention weights (normalised):

- α_11 = «E|0» / «Z» = «a|0»
- α_12 = «E|1» / «Z» = «a|1»
- α_13 = «E|2» / «Z» = «a|2»

Sanity check: they add up to one (up to rounding).

### Slide 17 — Context vector for *the*

z_1 = «a|0»·v_1 + «a|1»·v_2 + «a|2»·v_3 = [«z1|0», «z1|1»]

Most of the weight goes to *the* itself, but *sat* pulls the vector towards v_3 = [«v|2,0», «v|2,1»].

### Slide 18 — The other two queries

Same recipe (exercise: redo it by hand). Raw scores, one row per query:

| query | k_1 | k_2 | k_3 |
|---|---|---|---|
| q_2 | «S|1,0» | «S|1,1» | «S|1,2» |
| q_3 | «S|2,0» | «S|2,1» | «S|2,2» |

and the full attention distribution (rows = queries, columns = keys):

| | the | cat | sat |
|:-:|:-:|:-:|:-:|
| the | «W|0,0» | «W|0,1» | «W|0,2» |
| cat | «W|1,0» | «W|1,1» | «W|1,2» |
| sat | «W|2,0» | «W|2,1» | «W|2,2» |

### Slide 19 — Take-aways

* scores → softmax **per row** → weighted sum of values
* nothing here is learned yet; slide 24 adds W^Q, W^K, W^V
* row 1 of the table was computed without rounding the exponentials; it agrees with slide 16
  to three decimals, so rounding e^x to 3 decimals was harmless here.""")
    return A


@article
def zh04(t):
    A = Article("zh04_csdn_torch_causal", "md", "zh", "correct",
                "CSDN 博客:PyTorch 代码+输出,nn.Linear 风格 (out,in) 权重 x·Wᵀ,因果掩码 -inf,tensor(..., grad_fn=...)",
                exit_code=0, notes="q = x @ Wq.T with Wq of shape (3, 4) (nn.Linear). Scaled by "
                "1/sqrt(3); causal mask with -inf; every tensor printed by torch from float32 internals "
                "(here float64; all 4-decimal prints agree).")
    TF = TorchFmt(4)
    A.leaf("x", [[1, 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0], [0, 0, 1, 1]], TF)
    A.leaf("Wq", [[0.2, -0.1, 0.4, 0.0], [0.5, 0.3, -0.2, 0.1], t.pick([[-0.3, 0.2, 0.1, 0.6], [-0.3, 0.2, 0.1, 0.5]])], Fixed(1))
    A.leaf("Wk", [[0.1, 0.4, 0.0, -0.2], [0.3, -0.1, 0.2, 0.2], [0.0, 0.5, 0.3, 0.1]], Fixed(1))
    A.leaf("Wv", [[1.0, 0.0, 0.5, 0.0], [0.0, 1.0, 0.0, 0.5], t.pick([[0.5, 0.5, 1.0, 1.0], [0.5, 0.5, 1.0, 0.0]])], Fixed(1))
    A.der("q", ["x", "Wq"], lambda x, w: x @ w.T, TF, carry=False)
    A.der("k", ["x", "Wk"], lambda x, w: x @ w.T, TF, carry=False)
    A.der("v", ["x", "Wv"], lambda x, w: x @ w.T, TF, carry=False)
    A.der("s", ["q", "k"], lambda q, k: masked(q @ k.T / np.sqrt(3.0), causal(4)), TF, carry=False)
    A.der("a", ["s"], softmax, TF, carry=False)
    A.der("o", ["a", "v"], lambda a, v: a @ v, TF, carry=False)
    wq = lambda i: ", ".join(A.s("Wq", (i, j)) for j in range(4))
    wk = lambda i: ", ".join(A.s("Wk", (i, j)) for j in range(4))
    wv = lambda i: ", ".join(A.s("Wv", (i, j)) for j in range(4))
    A.add(f"""
# 【PyTorch】从零手写 Masked Self-Attention(附完整代码与每一步输出)

> 版权声明:本文为博主原创文章,遵循 CC 4.0 BY-SA 版权协议,转载请附上原文出处链接和本声明。

**文章标签:** `深度学习` `transformer` `pytorch` `注意力机制`

最近在复现 GPT,发现 Decoder 里的**因果掩码(causal mask)**很多人只会调包,不知道里面发生了什么。
这篇把一个 4 个 token 的小例子完整跑一遍,所有中间结果都贴出来,方便大家对照。

## 1. 准备输入和权重

注意 `nn.Linear(in_features, out_features)` 的 `weight` 形状是 `(out, in)`,前向计算是 `x @ W.T`,
这一点很多博客写反了。

```python
import torch
import torch.nn as nn
import torch.nn.functional as F

x = torch.tensor([[1., 0., 1., 0.],
                  [0., 1., 0., 1.],
                  [1., 1., 0., 0.],
                  [0., 0., 1., 1.]])          # 4 个 token,d_model = 4

d_model, d_k = 4, 3
Wq = nn.Linear(d_model, d_k, bias=False)
Wk = nn.Linear(d_model, d_k, bias=False)
Wv = nn.Linear(d_model, d_k, bias=False)
with torch.no_grad():                      # 为了可复现,手动指定权重
    Wq.weight.copy_(torch.tensor([[{wq(0)}],
                                  [{wq(1)}],
                                  [{wq(2)}]]))
    Wk.weight.copy_(torch.tensor([[{wk(0)}],
                                  [{wk(1)}],
                                  [{wk(2)}]]))
    Wv.weight.copy_(torch.tensor([[{wv(0)}],
                                  [{wv(1)}],
                                  [{wv(2)}]]))
```

## 2. 计算 Q、K、V

```python
q, k, v = Wq(x), Wk(x), Wv(x)      # 等价于 x @ W.T
print(q); print(k); print(v)
```

输出:

```""")
    A.addl(torch_lines(A, "q", grad_fn="MmBackward0"))
    A.addl(torch_lines(A, "k", grad_fn="MmBackward0"))
    A.addl(torch_lines(A, "v", grad_fn="MmBackward0"))
    A.add("""```

## 3. 打分 + 缩放 + 因果掩码

因果掩码的意思是第 i 个位置只能看到 1..i,**上三角**填成 `-inf`,softmax 之后就是 0。

```python
scores = q @ k.T / d_k ** 0.5
mask = torch.triu(torch.ones(4, 4, dtype=torch.bool), diagonal=1)
scores = scores.masked_fill(mask, float('-inf'))
print(scores)
```

```""")
    A.addl(torch_lines(A, "s", grad_fn="MaskedFillBackward0"))
    A.add("""```

## 4. softmax 得到注意力权重

```python
attn = F.softmax(scores, dim=-1)
print(attn)
```

```""")
    A.addl(torch_lines(A, "a", grad_fn="SoftmaxBackward0"))
    A.add("""```

第一行只有自己,所以权重是 1;每一行加起来都是 1。

## 5. 加权求和

```python
out = attn @ v
print(out)
```

```""")
    A.addl(torch_lines(A, "o", grad_fn="MmBackward0"))
    A.add("""```

## 6. 和官方实现对比

```python
ref = F.scaled_dot_product_attention(q[None], k[None], v[None], is_causal=True)[0]
print(torch.allclose(out, ref, atol=1e-6))   # True
```

完全一致 ✅。有问题评论区见,觉得有用的话点个赞吧~

---
**相关推荐**
- Transformer 详解(一):位置编码
- 一文看懂 Multi-Head Attention""")
    return A


@article
def en05(t):
    A = Article("en05_course_assignment", "ipynb", "en", "correct",
                "course assignment notebook: numpy repr outputs array([...]) at default precision, causal mask, then cross-attention",
                exit_code=0, notes="Part A: causal self-attention with learned projections (X @ W), "
                "scaled by 1/sqrt(3); Part B: cross-attention, 2 queries against 4 keys. numpy prints "
                "at its default precision (8). Nothing wrong.")
    NP8 = NumpyFmt(8)
    A.leaf("X", [[0.5, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.5]], NP8)
    A.leaf("Wq", [[1.0, 0.0, 0.5], [0.0, 1.0, 0.0], t.pick([[0.5, 0.0, 1.0], [0.5, 0.5, 1.0]])], NP8)
    A.leaf("Wk", [[0.0, 1.0, 0.0], [1.0, 0.0, 0.5], [0.0, 0.5, 1.0]], NP8)
    A.leaf("Wv", [[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], NP8)
    A.der("Q", ["X", "Wq"], lambda x, w: x @ w, NP8, carry=False)
    A.der("K", ["X", "Wk"], lambda x, w: x @ w, NP8, carry=False)
    A.der("V", ["X", "Wv"], lambda x, w: x @ w, NP8, carry=False)
    A.der("S", ["Q", "K"], lambda q, k: masked(q @ k.T / np.sqrt(3.0), causal(4)), NP8, carry=False)
    A.der("P", ["S"], softmax, NP8, carry=False)
    A.der("sums", ["P"], lambda p: p.sum(axis=1), NP8, carry=False)
    A.der("O", ["P", "V"], lambda p, v: p @ v, NP8, carry=False)
    # part B: cross attention
    A.leaf("Yq", [[1.0, 0.0, 1.0], [0.0, 2.0, 0.0]], NP8)
    A.der("Qc", ["Yq", "Wq"], lambda y, w: y @ w, NP8, carry=False)
    A.der("Pc", ["Qc", "K"], lambda q, k: softmax(q @ k.T / np.sqrt(3.0)), NP8, carry=False)
    A.der("Oc", ["Pc", "V"], lambda p, v: p @ v, NP8, carry=False)
    A.md_cell("""# Assignment 3 — Part 2: Self-attention from scratch

**Due:** Friday 23:59. Fill in every `# YOUR CODE HERE`, run all cells, and submit the executed notebook.

In this part you implement single-head **scaled dot-product attention** in numpy:

$$\\mathrm{Attention}(Q,K,V) = \\mathrm{softmax}\\!\\left(\\frac{QK^\\top}{\\sqrt{d_k}} + M\\right)V$$

where $M$ is $0$ where attention is allowed and $-\\infty$ where it is not (the causal mask).""")
    A.code_cell("""import numpy as np

X = np.array([[0.5, 1.0, 0.0],
              [1.0, 0.0, 1.0],
              [0.0, 1.0, 1.0],
              [1.0, 1.0, 0.5]])      # 4 tokens, d_model = 3
W_q = np.array(""" + "[" + ",\n               ".join(pylist_rows(A, "Wq")) + """])
W_k = np.array(""" + "[" + ",\n               ".join(pylist_rows(A, "Wk")) + """])
W_v = np.array(""" + "[" + ",\n               ".join(pylist_rows(A, "Wv")) + """])""", n=1)
    A.md_cell("""### Q2.1 Projections (2 pts)
Compute `Q = X W_q`, `K = X W_k`, `V = X W_v`.""")
    A.code_cell("""# YOUR CODE HERE
Q = X @ W_q
K = X @ W_k
V = X @ W_v
Q""", [("result", np_lines(A, "Q", "repr"))], n=2)
    A.code_cell("K", [("result", np_lines(A, "K", "repr"))], n=3)
    A.code_cell("V", [("result", np_lines(A, "V", "repr"))], n=4)
    A.md_cell("""### Q2.2 Masked scores (3 pts)
Scale by $1/\\sqrt{d_k}$ with $d_k = 3$ and set the entries above the diagonal to `-np.inf`.""")
    A.code_cell("""# YOUR CODE HERE
d_k = K.shape[1]
scores = Q @ K.T / np.sqrt(d_k)
scores[np.triu_indices(4, k=1)] = -np.inf
scores""", [("result", np_lines(A, "S", "repr"))], n=5)
    A.md_cell("""### Q2.3 Softmax (2 pts)
Row-wise softmax. The rows of the result must sum to one.""")
    A.code_cell("""def softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)

P = softmax(scores)
P""", [("result", np_lines(A, "P", "repr"))], n=6)
    A.code_cell("P.sum(axis=1)", [("result", np_lines(A, "sums", "repr"))], n=7)
    A.md_cell("""### Q2.4 Output (1 pt)""")
    A.code_cell("""out = P @ V
out""", [("result", np_lines(A, "O", "repr"))], n=8)
    A.md_cell("""**Autograder:** ✔ `test_projection_shapes` ✔ `test_causal` ✔ `test_rows_sum_to_one` ✔ `test_output`

## Part B — cross-attention (bonus, 2 pts)

Now two *decoder* states attend over the four encoder states above: the queries come from `Y`,
keys and values are the `K` and `V` from Part A. No mask.""")
    A.code_cell("""Y = np.array([[1.0, 0.0, 1.0],
              [0.0, 2.0, 0.0]])
Q_dec = Y @ W_q
print(Q_dec)""", [("stream", np_lines(A, "Qc"))], n=9)
    A.code_cell("""P_cross = softmax(Q_dec @ K.T / np.sqrt(d_k))   # shape (2, 4)
print(P_cross)""", [("stream", np_lines(A, "Pc"))], n=10)
    A.code_cell("""print(P_cross @ V)""", [("stream", np_lines(A, "Oc"))], n=11)
    A.md_cell("""*Reflection (ungraded):* the second decoder state puts most of its weight on the encoder tokens
whose keys have a large second component.""")
    return A


def pylist_rows(A, name):
    a = A.Q[name].val
    return ["[" + ", ".join(f"«{name}|{i},{j}»" for j in range(a.shape[1])) + "]" for i in range(a.shape[0])]


@article
def zh06(t):
    A = Article("zh06_kaggle_pandas_heatmap", "ipynb", "zh", "correct, unrelated tables",
                "Kaggle 风格 notebook:pandas DataFrame 显示注意力权重(text/plain + text/html),另有训练日志表(无关表格)",
                exit_code=0, notes="Q = K = V = X, scaled by 1/sqrt(3). The weights DataFrame is shown "
                "both as text/plain and text/html (same numbers). The training-log DataFrame (epoch, "
                "loss, accuracy, lr) is unrelated and must not be flagged.")
    tokens = ["我", "爱", "机器", "学习"]
    A.leaf("X", [[1.0, 0.0, 1.0], [0.0, 1.0, 0.5], t.pick([[1.5, 0.5, 0.0], [1.5, 0.5, 0.5], [2.0, 0.5, 0.0]]), [0.5, 1.0, 1.0]], Fixed(1))
    R4 = Fixed(4)
    A.der("S", ["X"], lambda x: x @ x.T / np.sqrt(3.0), R4, carry=False)
    A.der("W", ["S"], softmax, R4, carry=False)
    A.der("O", ["W", "X"], lambda w, x: w @ x, R4, carry=False)
    A.md_cell("""# 🔥 自注意力权重可视化 | Self-Attention Heatmap(中文教程)

本 notebook 用一个 4 个词的小句子「我 爱 机器 学习」演示注意力权重是怎么算出来的,
最后画成热力图。**如果对你有帮助,请点个 Upvote ⬆️ 谢谢!**""")
    A.code_cell("""import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
import seaborn as sns
pd.set_option('display.precision', 4)""", n=1)
    A.md_cell("""## 1. 词向量

为了突出计算过程,这里不做线性映射,直接令 $Q=K=V=X$($d=3$)。""")
    xs = ",\n              ".join("[" + ", ".join(f"«X|{i},{j}»" for j in range(3)) + "]" for i in range(4))
    A.code_cell(f"""tokens = ['我', '爱', '机器', '学习']
X = np.array([{xs}])
d = X.shape[1]""", n=2)
    A.md_cell("""## 2. 缩放后的注意力得分 $XX^T/\\sqrt{d}$""")
    A.code_cell("""scores = X @ X.T / np.sqrt(d)
pd.DataFrame(scores, index=tokens, columns=tokens)""",
                [("result", df_lines(A, "S", tokens, tokens), df_html(A, "S", tokens, tokens))], n=3)
    A.md_cell("""## 3. 按行 softmax 得到注意力分布""")
    A.code_cell("""def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)

weights = softmax(scores)
df_w = pd.DataFrame(weights, index=tokens, columns=tokens)
df_w""", [("result", df_lines(A, "W", tokens, tokens), df_html(A, "W", tokens, tokens))], n=4)
    A.code_cell("""plt.figure(figsize=(5, 4))
sns.heatmap(df_w, annot=True, fmt='.2f', cmap='viridis')
plt.title('Attention weights')
plt.show()""", [("result", ["<Figure size 500x400 with 2 Axes>"])], n=5)
    A.md_cell("""## 4. 加权求和得到上下文向量""")
    A.code_cell("""context = weights @ X
pd.DataFrame(context, index=tokens, columns=['dim0', 'dim1', 'dim2'])""",
                [("result", df_lines(A, "O", ["dim0", "dim1", "dim2"], tokens),
                  df_html(A, "O", ["dim0", "dim1", "dim2"], tokens))], n=6)
    A.md_cell("""## 5. (附)训练日志

下面是我在一个小型中文分类数据集上训练 2 层 Transformer 的日志,和上面的例子无关,仅供参考。""")
    log = ["   epoch  train_loss  val_loss  val_acc        lr",
           "0      1      1.9832    1.7415   0.3420  0.000100",
           "1      2      1.5127    1.4410   0.4875  0.000200",
           "2      3      1.2203    1.2986   0.5533  0.000300",
           "3      4      1.0511    1.2012   0.5938  0.000283",
           "4      5      0.9370    1.1847   0.6071  0.000268"]
    html = ['<div>', '<table border="1" class="dataframe">', '  <thead>', '    <tr style="text-align: right;">',
            '      <th></th>', '      <th>epoch</th>', '      <th>train_loss</th>', '      <th>val_loss</th>',
            '      <th>val_acc</th>', '      <th>lr</th>', '    </tr>', '  </thead>', '  <tbody>']
    for r in log[1:]:
        c = r.split()
        html += ['    <tr>', f'      <th>{c[0]}</th>'] + [f'      <td>{x}</td>' for x in c[1:]] + ['    </tr>']
    html += ['  </tbody>', '</table>', '</div>']
    A.code_cell("""log = pd.read_csv('../input/zh-cls-logs/train_log.csv')
log""", [("result", log, html)], n=7)
    A.md_cell("""验证集准确率在第 5 个 epoch 达到约 60%,之后开始过拟合。

**感谢阅读!欢迎在评论区交流 🙌**""")
    return A


@article
def en07(t):
    A = Article("en07_github_readme_boxtables", "md", "en", "correct, unrelated tables",
                "GitHub README of a toy CLI: box-drawing tables of Q, K, V, scores, weights, output; benchmark table",
                exit_code=0, notes="The CLI projects with X @ W, scales by 1/sqrt(2) and prints 3-decimal "
                "box tables. The benchmark table (sequence length vs. milliseconds) is unrelated.")
    F3 = Fixed(3)
    toks = ["I", "love", "cats"]
    A.leaf("X", [[1, 0, 1], [0, 1, 1], [1, 1, 0]], Int())
    A.leaf("WQ", [[0.5, 1.0], [1.0, 0.0], t.pick([[0.0, 0.5], [0.5, 0.5]])], Fixed(1))
    A.leaf("WK", [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]], Fixed(1))
    A.leaf("WV", [[1.0, 2.0], [0.0, 1.0], t.pick([[1.0, 0.0], [2.0, 0.0]])], Fixed(1))
    A.der("Q", ["X", "WQ"], lambda x, w: x @ w, F3, carry=False)
    A.der("K", ["X", "WK"], lambda x, w: x @ w, F3, carry=False)
    A.der("V", ["X", "WV"], lambda x, w: x @ w, F3, carry=False)
    A.der("S", ["Q", "K"], lambda q, k: q @ k.T / np.sqrt(2.0), F3, carry=False)
    A.der("W", ["S"], softmax, F3, carry=False)
    A.der("O", ["W", "V"], lambda w, v: w @ v, F3, carry=False)
    A.require(len({tuple(r) for r in A.Q["W"].strings}) == 3, "distinct weight rows")
    A.add("""
# tinyattn

[![CI](https://img.shields.io/badge/build-passing-brightgreen)]() [![PyPI](https://img.shields.io/badge/pypi-v0.3.1-blue)]()

A ~200-line, dependency-free toy that prints **every intermediate matrix** of single-head
scaled dot-product attention, so you can follow along with a pencil.

## Install

```bash
pip install tinyattn
```

## Quick start

```console
$ tinyattn demo --tokens "I love cats" --d-k 2 --precision 3
embedding X (3 × 3, one row per token):
""")
    A.addl(box_table(A, "X", ["d0", "d1", "d2"], toks, "token"))
    A.add("""projections (learned, fixed by --seed 7):""")
    for nm in ["WQ", "WK", "WV"]:
        A.add(f"  {nm[0]}_{nm[1]} = " + pylist(A, nm))
    A.add("""
Q = X·W_Q""")
    A.addl(box_table(A, "Q", ["q0", "q1"], toks, ""))
    A.add("K = X·W_K")
    A.addl(box_table(A, "K", ["k0", "k1"], toks, ""))
    A.add("V = X·W_V")
    A.addl(box_table(A, "V", ["v0", "v1"], toks, ""))
    A.add("scores = Q·Kᵀ / √2")
    A.addl(box_table(A, "S", toks, toks, "q \\ k"))
    A.add("attention weights = softmax(scores, axis=-1)")
    A.addl(box_table(A, "W", toks, toks, "q \\ k"))
    A.add("output = weights·V")
    A.addl(box_table(A, "O", ["o0", "o1"], toks, ""))
    A.add("""```

Use `--causal` to add a look-ahead mask and `--json` to get machine-readable output.

## Benchmarks

`tinyattn` is not meant to be fast, but people asked. Forward pass, float64, one head,
`d_k = 64`, median of 20 runs on a laptop (i7-1165G7):

| seq len | tinyattn (ms) | numpy reference (ms) | torch CPU (ms) | peak memory (MB) |
|--------:|--------------:|---------------------:|---------------:|-----------------:|
| 128     | 0.41          | 0.19                 | 0.22           | 1.3              |
| 512     | 5.87          | 2.44                 | 1.96           | 8.9              |
| 1024    | 24.3          | 9.71                 | 6.05           | 33.6             |
| 2048    | 101.8         | 40.2                 | 21.7           | 131.2            |

## Roadmap

- [x] causal mask
- [ ] multi-head (`--heads`)
- [ ] HTML heat-map export

## License

MIT © 2024 tinyattn contributors""")
    return A


_rng = np.random.default_rng(20240601)
VARIANTS_4x2 = [_rng.choice([0.0, 0.5, 1.0], p=[0.4, 0.4, 0.2], size=(4, 2)).tolist() for _ in range(40)]
VARIANTS_3x4 = [_rng.choice([0, 1, 2], p=[0.45, 0.45, 0.1], size=(3, 4)).tolist() for _ in range(40)]
VARIANTS_3x3 = [_rng.choice([0.0, 0.5, 1.0], size=(3, 3)).tolist() for _ in range(40)]


@article
def zh08(t):
    A = Article("zh08_email_search_single_query", "txt", "zh", "correct, carried",
                "邮件式纯文本:淘宝搜索例子,单个查询对 5 个商品键,ASCII 表格与 Python 列表,逐步用四舍五入后的数带入",
                exit_code=0, notes="One query against five keys, scaled by the printed 1/sqrt(3) "
                "(1.732); the weights are computed from the printed 2-decimal scaled scores and the "
                "result vector from the printed 3-decimal weights (carried roundings, all right).")
    A.leaf("q", [1, 2, 0], Int())
    A.leaf("K", [[1, 2, 1], [2, 1, 0], t.pick([[0, 1, 2], [0, 1, 1]]), t.pick([[1, 1, 1], [2, 0, 1]]),
                 t.pick([[1, 0, 2], [0, 0, 2], [0, 0, 1]])], Int())
    A.leaf("V", [t.pick([[0.9, 0.3], [0.8, 0.3], [0.9, 0.4]]), [0.7, 0.8], [0.4, 0.2],
                 t.pick([[0.6, 0.1], [0.5, 0.1], [0.6, 0.2]]), t.pick([[0.3, 0.5], [0.2, 0.6], [0.3, 0.6]])], Fixed(1))
    A.der("s", ["q", "K"], lambda q, k: k @ q, Int())
    A.der("r3", [], lambda: np.sqrt(3.0), Fixed(3))
    A.der("ss", ["s", "r3"], lambda s, r: s / np.sqrt(3.0), Fixed(2), author=lambda s, r: s / r)
    A.der("w", ["ss"], softmax, Fixed(3))
    A.der("z", ["w", "V"], lambda w, v: w @ v, Fixed(3))
    w = A.Q["w"].val
    A.require(w[0] > w[1] > max(w[2], w[3]) and w[4] == w.min(), "order of the weights")
    names = ["轻薄笔记本", "游戏笔记本", "笔记本电脑包", "纸质笔记本", "机械键盘"]
    A.add("""
发件人: 李明 <liming@example.com>
收件人: 王老师
日期: 2024年3月12日 星期二 21:47
主题: Re: 关于注意力机制的手算例子(淘宝搜索)

王老师您好,

上次组会您说希望我把"淘宝搜索"那个比喻落到具体数字上,我算了一个最小的例子,麻烦您有空帮忙看看
对不对。为了简单,只有一个查询(用户输入"笔记本"),后台有 5 个商品,每个商品有一个键向量 k 和
一个值向量 v(v 的两维我理解成"好评度"和"广告价值",只是为了好解释)。

查询向量:
    q = """ + vec("q", 3) + """

商品(键 k 和值 v):
""")
    body = [[names[i], "[" + ", ".join(f"«K|{i},{j}»" for j in range(3)) + "]",
             "[" + ", ".join(f"«V|{i},{j}»" for j in range(2)) + "]"] for i in range(5)]
    A.addl(grid_ascii(A, ["商品", "键 k", "值 v"], body))
    A.add("""
第一步,点积算相似度(注意力得分),d = 3,再除以 sqrt(3) ≈ «r3»:
""")
    body = [[names[i], f"«s|{i}»", f"«ss|{i}»"] for i in range(5)]
    A.addl(grid_ascii(A, ["商品", "q·k", "q·k/1.732"], body))
    A.add("""
第二步,对这 5 个数做 softmax(我用的是上面保留两位小数的结果),得到注意力分布:

    weights = """ + vec("w", 5) + """

第三步,用权重对 v 加权求和,得到结果向量(同样用的是上面三位小数的权重):

    z = """ + " + ".join(f"«w|{i}»*v{i + 1}" for i in range(5)) + """
      = """ + vec("z", 2) + """

所以"轻薄笔记本"的权重最大,"游戏笔记本"其次,"机械键盘"最小,结果向量也主要由前两个商品的值决定,
符合直觉。

我的疑问是:
1. 真实系统里 q 和 k 是不是都要先乘一个可学习的矩阵(W^Q, W^K)?
2. 除以 sqrt(d) 在 d 这么小的时候是不是意义不大?

谢谢老师!

李明

> 在 2024年3月11日 18:02,王老师 写道:
> 李明:组会上讲的淘宝例子,你回去用具体的数算一遍,写成邮件发我。
> 王""")
    return A


@article
def en09(t):
    A = Article("en09_medium_post_saved", "html", "en", "correct, carried",
                "saved HTML page of a Medium-like post: <pre> numpy session and <table>s, X·W projections, 2-decimal tables carried",
                exit_code=0, notes="Projections X @ W; scaled by 1/sqrt(2). The tables are rounded to "
                "2 decimals and each step is computed from the previous table (carried). One table "
                "is written on a single HTML line.")
    F2 = Fixed(2)
    toks = ["Thinking", "Machines", "rock"]
    A.leaf("X", [[1, 0, 1, 0], [0, 1, 1, 1], [1, 1, 0, 1]], Int())
    A.leaf("WQ", t.pick(VARIANTS_4x2), Fixed(1))
    A.leaf("WK", t.pick(VARIANTS_4x2[::-1]), Fixed(1))
    A.leaf("WV", [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], t.pick([[0.0, 2.0], [1.0, 2.0]])], Fixed(1))
    A.der("Q", ["X", "WQ"], lambda x, w: x @ w, F2)
    A.der("K", ["X", "WK"], lambda x, w: x @ w, F2)
    A.der("V", ["X", "WV"], lambda x, w: x @ w, F2)
    A.der("S", ["Q", "K"], lambda q, k: q @ k.T / np.sqrt(2.0), F2)
    A.der("W", ["S"], softmax, F2)
    A.der("O", ["W", "V"], lambda w, v: w @ v, F2)
    W = A.Q["W"].val
    A.require(W.min() > 0.05 and len(set(np.round(W, 2).flat)) >= 7, "no row is one-hot; varied")
    A.add("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Self-Attention, Explained With Actual Numbers | by Dana Whitfield | Towards Clarity | Medium</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta property="og:title" content="Self-Attention, Explained With Actual Numbers">
<link rel="stylesheet" href="https://cdn-static.example.net/_/fp/css/main-branding-base.css">
<style>body{font-family:charter,Georgia,serif;max-width:680px;margin:auto}pre{background:#f2f2f2;padding:12px;overflow:auto}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:4px 10px;text-align:right}</style>
</head>
<body>
<div class="metabar"><a href="/">Medium</a> · <a href="/m/signin">Sign in</a></div>
<article>
<h1 class="pw-post-title">Self-Attention, Explained With Actual Numbers</h1>
<p class="pw-subtitle">No hand-waving: three words, four dimensions, and a calculator.</p>
<div class="byline">Dana Whitfield · 7 min read · Feb 3, 2024</div>
<p>Every explanation of the Transformer shows the same boxes and arrows. In this post we push three
tokens, <em>Thinking</em>, <em>Machines</em> and <em>rock</em>, through one attention head and look at
every number on the way. I round everything to two decimals and keep going with the rounded values,
exactly as you would on paper.</p>
<h2>Step 1: embeddings and projection matrices</h2>
<p>Our toy embeddings are 4-dimensional and the head size is d<sub>k</sub> = 2:</p>
<pre><code>&gt;&gt;&gt; X = np.array(""" + pylist(A, "X") + """)
&gt;&gt;&gt; W_Q = np.array(""" + pylist(A, "WQ") + """)
&gt;&gt;&gt; W_K = np.array(""" + pylist(A, "WK") + """)
&gt;&gt;&gt; W_V = np.array(""" + pylist(A, "WV") + """)</code></pre>
<p>Multiplying the embeddings by the three matrices gives the queries, keys and values
(one row per token):</p>""")
    for nm, cap in [("Q", "Queries Q = XW<sup>Q</sup>"), ("K", "Keys K = XW<sup>K</sup>"), ("V", "Values V = XW<sup>V</sup>")]:
        A.add(f"<p><strong>{cap}</strong></p>")
        A.addl(html_table(A, nm, [f"{nm.lower()}<sub>1</sub>", f"{nm.lower()}<sub>2</sub>"], toks, "token"))
    A.add("""<h2>Step 2: scores</h2>
<p>The score of token <em>i</em> for token <em>j</em> is the dot product of query <em>i</em> with key
<em>j</em>, divided by √d<sub>k</sub> = √2:</p>
<figure>""")
    A.addl(html_table(A, "S", toks, toks, "query ↓ / key →", one_line=True, cls="scores"))
    A.add("""<figcaption>Scaled dot-product scores QK<sup>T</sup>/√2.</figcaption>
</figure>
<h2>Step 3: softmax</h2>
<p>Apply softmax to each row (using the rounded scores above):</p>""")
    A.addl(html_table(A, "W", toks, toks, "", cls="weights"))
    A.add("""<p>No row is one-hot: every token keeps some attention on all three tokens, itself included.</p>
<h2>Step 4: weighted sum of values</h2>
<p>Finally each output row is the attention-weighted sum of the value rows:</p>
<pre><code>z_Thinking = """ + " + ".join(f"«W|0,{j}»·v_{toks[j]}" for j in range(3)) + """ = [«O|0,0», «O|0,1»]
z_Machines = """ + " + ".join(f"«W|1,{j}»·v_{toks[j]}" for j in range(3)) + """ = [«O|1,0», «O|1,1»]
z_rock     = """ + " + ".join(f"«W|2,{j}»·v_{toks[j]}" for j in range(3)) + """ = [«O|2,0», «O|2,1»]</code></pre>
<p>That is all a single attention head does. In the next post we will stack eight of them.</p>
<div class="clap">👏 1.4K · 💬 23</div>
</article>
<footer><p>More from Towards Clarity · <a href="/tag/machine-learning">Machine Learning</a> · <a href="/tag/transformers">Transformers</a></p></footer>
</body>
</html>""")
    return A


@article
def zh10(t):
    A = Article("zh10_hexo_padding_mask", "md", "zh", "correct",
                "Hexo 博客(front-matter + MathJax):$$\\begin{array}$$ 与行内 $…$,padding mask(最后一个 token 为 [PAD])",
                exit_code=0, notes="Q = K = V = X; scaled by 1/sqrt(2); the key column of the [PAD] token "
                "is set to -\\infty for every query (the [PAD] query row is still computed, as in most "
                "implementations). 3 decimals from unrounded values. Nothing wrong.")
    A.leaf("X", [[1.0, 0.5], t.pick([[0.2, 1.0], [0.3, 1.0], [0.2, 0.9]]), [0.8, 0.8], [0.0, 0.0]], Fixed(1))
    keep = np.array([[True, True, True, False]] * 4)
    F3 = Fixed(3, inf=r"-\infty")
    A.der("S", ["X"], lambda x: masked(x @ x.T / np.sqrt(2.0), keep), F3, carry=False)
    A.der("W", ["S"], softmax, Fixed(3), carry=False)
    A.der("O", ["W", "X"], lambda w, x: w @ x, Fixed(3), carry=False)
    A.add(r"""
---
title: 手推 Self-Attention 之二:padding mask 到底 mask 了什么
date: 2023-07-16 22:41:09
updated: 2023-07-18 09:12:30
tags: [Transformer, Attention, NLP]
categories: 深度学习
mathjax: true
---

上一篇我们手推了最朴素的自注意力,这一篇加上 **padding mask**。一个 batch 里句子长短不一,短句子要
用 `[PAD]` 补齐,但 `[PAD]` 不是真实的词,不应该被任何 token "注意"到。

<!-- more -->

## 例子

句子「我 爱 你」补齐到长度 4,最后一个位置是 `[PAD]`,它的向量是全零。为了少写几个矩阵,
这里令 $Q=K=V=X$,$d_k=2$:

$$
X=\left[\begin{array}{cc}
«X|0,0» & «X|0,1» \\
«X|1,0» & «X|1,1» \\
«X|2,0» & «X|2,1» \\
«X|3,0» & «X|3,1»
\end{array}\right]
\begin{array}{l}\text{我}\\ \text{爱}\\ \text{你}\\ \text{[PAD]}\end{array}
$$

## 第一步:缩放点积

$s_{ij}=x_i\cdot x_j/\sqrt{2}$,例如 $s_{12}=(«X|0,0»\times«X|1,0»+«X|0,1»\times«X|1,1»)/\sqrt2=«S|0,1»$。

## 第二步:加上 padding mask

padding mask 作用在**键**(列)上:第 4 列全部换成 $-\infty$,其余不变。得到的注意力得分矩阵:

$$
S=\left[\begin{array}{cccc}
«S|0,0» & «S|0,1» & «S|0,2» & «S|0,3» \\
«S|1,0» & «S|1,1» & «S|1,2» & «S|1,3» \\
«S|2,0» & «S|2,1» & «S|2,2» & «S|2,3» \\
«S|3,0» & «S|3,1» & «S|3,2» & «S|3,3»
\end{array}\right]
$$

注意第 4 行(`[PAD]` 自己作为查询)并没有被 mask 掉,它的得分全是 0,只是最后一列被换成了 $-\infty$。

## 第三步:softmax

$$
A=\mathrm{softmax}(S)=\left[\begin{array}{cccc}
«W|0,0» & «W|0,1» & «W|0,2» & «W|0,3» \\
«W|1,0» & «W|1,1» & «W|1,2» & «W|1,3» \\
«W|2,0» & «W|2,1» & «W|2,2» & «W|2,3» \\
«W|3,0» & «W|3,1» & «W|3,2» & «W|3,3»
\end{array}\right]
$$

最后一列全是 0,这正是 padding mask 想要的效果;第 4 行是前三个词的平均,$\frac13\approx«W|3,0»$。

## 第四步:输出

$$
Z=AV=\left[\begin{array}{cc}
«O|0,0» & «O|0,1» \\
«O|1,0» & «O|1,1» \\
«O|2,0» & «O|2,1» \\
«O|3,0» & «O|3,1»
\end{array}\right]
$$

`[PAD]` 那一行的输出在后续计算 loss 时也会被忽略,所以它是多少其实无所谓。

## 代码

```python
scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)
scores = scores.masked_fill(key_padding_mask[:, None, :], float('-inf'))
attn = scores.softmax(dim=-1)
```

下一篇讲 causal mask,敬请期待。""")
    return A


@article
def en11(t):
    A = Article("en11_reading_group_three_examples", "md", "en", "correct, unrelated tables",
                "reading-group notes with three separate worked examples (unscaled 2x2; temperature 0.5; causal mask with 0/1 matrix) and a learning-rate schedule table",
                exit_code=0, notes="Example 1: Q = K = V = X, no scaling. Example 2: one query's logits "
                "divided by a stated temperature 0.5, compared with temperature 1. Example 3: given "
                "scores, a 0/1 causal mask M (0 = blocked, implemented as -1e9), 3 decimals. The "
                "warm-up learning-rate table is unrelated (it is the Transformer schedule, correct).")
    A.leaf("X1", [[1, 0], [0, 1]], Int())
    A.der("S1", ["X1"], lambda x: x @ x.T, Int())
    A.der("W1", ["S1"], softmax, Fixed(3), carry=False)
    A.der("O1", ["W1", "X1"], lambda w, x: w @ x, Fixed(3), carry=False)
    A.leaf("l", [2.0, 1.0, t.pick([0.1, 0.2, 0.3])], Fixed(1))
    A.der("p1", ["l"], softmax, Fixed(3), carry=False)
    A.der("lt", ["l"], lambda l: l / 0.5, Fixed(1), carry=False)
    A.der("p2", ["lt"], softmax, Fixed(3), carry=False)
    A.leaf("v2", [[1, 0], [0, 1], [1, 1]], Int())
    A.der("o1", ["p1", "v2"], lambda p, v: p @ v, Fixed(3), carry=False)
    A.der("o2", ["p2", "v2"], lambda p, v: p @ v, Fixed(3), carry=False)
    A.leaf("S3", [[1.0, 2.0, 0.5], t.pick([[0.3, 1.2, 2.2], [0.4, 1.2, 2.2]]), t.pick([[1.5, 0.5, 1.0], [1.5, 0.4, 1.0], [1.4, 0.5, 1.0]])], Fixed(1))
    A.leaf("M", [[1, 0, 0], [1, 1, 0], [1, 1, 1]], Int())
    A.der("W3", ["S3", "M"], lambda s, m: softmax(np.where(m > 0, s, -np.inf)), Fixed(3), carry=False)
    A.leaf("V3", [[2, 0], [0, 2], [1, 1]], Int())
    A.der("O3", ["W3", "V3"], lambda w, v: w @ v, Fixed(3), carry=False)
    A.add(r"""
# Attention reading group — week 4 worked examples

*Notes by Priya for the Thursday ML reading group. We did three tiny examples on the whiteboard;
here they are typed up. All numbers to 3 decimals.*

## Example 1 — two tokens, no scaling

X = [[«X1|0,0», «X1|0,1»], [«X1|1,0», «X1|1,1»]], and we use Q = K = V = X. The scores are
X Xᵀ = [[«S1|0,0», «S1|0,1»], [«S1|1,0», «S1|1,1»]], so each row is softmax([1, 0]):

    weights = [[«W1|0,0», «W1|0,1»],
               [«W1|1,0», «W1|1,1»]]

and since V is the identity the output equals the weights: [[«O1|0,0», «O1|0,1»], [«O1|1,0», «O1|1,1»]].

## Example 2 — temperature

Here we looked at a single query whose attention logits are ℓ = («l|0», «l|1», «l|2»), against three values
v₁ = («v2|0,0», «v2|0,1»), v₂ = («v2|1,0», «v2|1,1»), v₃ = («v2|2,0», «v2|2,1»).

* τ = 1: softmax(ℓ) = («p1|0», «p1|1», «p1|2»), output = («o1|0», «o1|1»)
* τ = 0.5: ℓ/τ = («lt|0», «lt|1», «lt|2»), softmax(ℓ/τ) = («p2|0», «p2|1», «p2|2»), output = («o2|0», «o2|1»)

Lower temperature → sharper distribution; the output moves towards v₁. (Scaling by 1/√d_k is the
same thing with τ = √d_k.)

## Example 3 — causal mask as a 0/1 matrix

Someone asked how the "mask matrix" in some codebases (1 = keep, 0 = block) relates to the
−∞ version. Given scores S and mask M:

S =
""")
    A.addl(["    " + x for x in lines_pylist(A, "S3")])
    A.add("""
M =
""")
    A.addl(["    " + x for x in lines_pylist(A, "M")])
    A.add("""
`scores.masked_fill(M == 0, -1e9)` then softmax gives

| | k1 | k2 | k3 |
|---|---|---|---|
| q1 | «W3|0,0» | «W3|0,1» | «W3|0,2» |
| q2 | «W3|1,0» | «W3|1,1» | «W3|1,2» |
| q3 | «W3|2,0» | «W3|2,1» | «W3|2,2» |

and with V = [[«V3|0,0», «V3|0,1»], [«V3|1,0», «V3|1,1»], [«V3|2,0», «V3|2,1»]] the outputs are

| | out1 | out2 |
|---|---|---|
| q1 | «O3|0,0» | «O3|0,1» |
| q2 | «O3|1,0» | «O3|1,1» |
| q3 | «O3|2,0» | «O3|2,1» |

## Aside — the learning-rate schedule from the paper

We also discussed the warm-up schedule lr = d_model^-0.5 · min(step^-0.5, step · warmup^-1.5) with
d_model = 512 and warmup = 4000:
""")
    steps = [100, 1000, 4000, 8000, 20000, 100000]
    A.add("| step | lr |")
    A.add("|---:|---:|")
    for st in steps:
        lr = 512 ** -0.5 * min(st ** -0.5, st * 4000 ** -1.5)
        A.add(f"| {st} | {lr:.3e} |")
    A.add("""
Peak is at step 4000. Next week: multi-head attention (bring questions!).""")
    return A


@article
def zh12(t):
    A = Article("zh12_course_batched_torch", "ipynb", "zh", "correct",
                "中文课程作业 notebook:batch=2 的 torch.bmm,三维 tensor 打印 [[[...]]]",
                exit_code=0, notes="Two sequences in a batch, Q, K, V given directly, scaled by 1/sqrt(2); "
                "torch prints of 3-D tensors. Nothing wrong.")
    TF = TorchFmt(4)
    A.leaf("Q", [[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], [[0.5, 1.0], t.pick([[1.0, -1.0], [1.0, -0.5]]), [0.0, 2.0]]], TF)
    A.leaf("K", [[[1.0, 1.0], [0.0, 1.0], [1.0, 0.0]], [[1.0, 0.0], [0.5, 0.5], t.pick([[-1.0, 1.0], [-0.5, 1.0]])]], TF)
    A.leaf("V", [[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], [[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]]], TF)
    A.der("S", ["Q", "K"], lambda q, k: q @ T(k) / np.sqrt(2.0), TF, carry=False)
    A.der("P", ["S"], softmax, TF, carry=False)
    A.der("sums", ["P"], lambda p: p.sum(axis=-1), TF, carry=False)
    A.der("O", ["P", "V"], lambda p, v: p @ v, TF, carry=False)
    A.md_cell("""# 第 5 周作业:批量(batched)缩放点积注意力

**姓名:** 张三  **学号:** 2021xxxx

要求:不使用 `nn.MultiheadAttention`,用 `torch.bmm` 实现 batch 维度上的注意力,并打印每一步的结果。
数据:batch 中有 2 个句子,每个句子 3 个 token,$d_k = 2$。""")
    def t3(name):
        a = A.Q[name].val
        blocks = []
        for b in range(a.shape[0]):
            rows = ", ".join("[" + ", ".join(f"«{name}|{b},{i},{j}»" for j in range(a.shape[2])) + "]" for i in range(a.shape[1]))
            blocks.append("[" + rows + "]")
        return "[" + ",\n                  ".join(blocks) + "]"
    A.code_cell(f"""import torch
torch.set_printoptions(precision=4)

Q = torch.tensor({t3("Q")})
K = torch.tensor({t3("K")})
V = torch.tensor({t3("V")})
print(Q.shape, K.shape, V.shape)""", [("stream", ["torch.Size([2, 3, 2]) torch.Size([2, 3, 2]) torch.Size([2, 3, 2])"])], n=1)
    A.md_cell("""### 1. 打分矩阵(已缩放)

$S = QK^T/\\sqrt{d_k}$,注意 batch 维度上要用 `K.transpose(1, 2)`。""")
    A.code_cell("""d_k = Q.size(-1)
S = torch.bmm(Q, K.transpose(1, 2)) / d_k ** 0.5
S""", [("result", torch_lines(A, "S"))], n=2)
    A.md_cell("""### 2. softmax(沿最后一维)""")
    A.code_cell("""P = torch.softmax(S, dim=-1)
P""", [("result", torch_lines(A, "P"))], n=3)
    A.code_cell("""P.sum(dim=-1)   # 检查:每行和为 1""", [("result", torch_lines(A, "sums"))], n=4)
    A.md_cell("""### 3. 加权求和""")
    A.code_cell("""out = torch.bmm(P, V)
out""", [("result", torch_lines(A, "O"))], n=5)
    A.md_cell("""### 4. 思考题

第一个句子里,第 3 个 token 的输出最接近哪个 value?为什么?

> 答:它的查询 $[1, 1]$ 与第 1 个键的点积最大,所以输出偏向 $v_1$,但由于三个权重相差不大,输出仍在
> $v_2$ 附近。""")
    O = A.Q["O"].val
    P = A.Q["P"].val
    A.require(np.argmax(P[0, 2]) == 0 and np.argmin(np.abs(O[0, 2] - A.Q["V"].val[0]).sum(axis=1)) == 1,
              "thought question answer")
    return A


@article
def en13(t):
    A = Article("en13_cross_attention_confusion", "md", "en", "correct, unrelated tables",
                "blog: cross-attention 2 decoder queries x 4 encoder keys, tables without leading pipes, unicode-subscript vectors, plus a confusion matrix",
                exit_code=0, notes="Cross-attention, queries from the decoder (2), keys/values from the "
                "encoder (4), scaled by 1/sqrt(2), 2 decimals from unrounded values. The confusion "
                "matrix and the precision/recall table are unrelated and must not be flagged.")
    F2 = Fixed(2)
    A.leaf("Q", [[1.0, 0.5], t.pick([[0.0, 1.5], [0.2, 1.5], [0.0, 1.2]])], Fixed(1))
    A.leaf("K", [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], t.pick([[-0.5, 0.5], [-0.5, 1.0]])], Fixed(1))
    A.leaf("V", [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]], Fixed(1))
    A.der("S", ["Q", "K"], lambda q, k: q @ k.T / np.sqrt(2.0), F2, carry=False)
    A.der("W", ["S"], softmax, F2, carry=False)
    A.der("O", ["W", "V"], lambda w, v: w @ v, F2, carry=False)
    src = ["the", "black", "cat", "</s>"]
    sub = "₁₂₃₄"
    A.add(r"""
# Peeking inside cross-attention: a pen-and-paper example

Posted on 2024-05-09 · 6 min read · tags: transformers, seq2seq

In a translation model the decoder does not attend to itself only; in every layer it also looks
at the encoder through **cross-attention**. The queries come from the decoder, the keys and
values from the encoder, so the weight matrix is *not square*. Let's translate
"the black cat" → "le chat noir" and stop after the decoder has produced two tokens.

## The vectors

Encoder keys (one per source token, d_k = 2):
""")
    for i in range(4):
        A.add(f"- k{sub[i]} = («K|{i},0», «K|{i},1»)  ← `{src[i]}`")
    A.add("""
Encoder values:
""")
    for i in range(4):
        A.add(f"- v{sub[i]} = («V|{i},0», «V|{i},1»)")
    A.add("""
Decoder queries for the two target positions:

- q₁ = («Q|0,0», «Q|0,1»)  ← after `<s>`
- q₂ = («Q|1,0», «Q|1,1»)  ← after `le`

## Scores (QKᵀ/√2)
""")
    body = [["q₁"] + [f"«S|0,{j}»" for j in range(4)], ["q₂"] + [f"«S|1,{j}»" for j in range(4)]]
    A.add("")
    A.addl(grid_md(A, ["query"] + src, body, pipes=False))
    A.add("""
## Weights (softmax over the four source tokens)
""")
    body = [["q₁"] + [f"«W|0,{j}»" for j in range(4)], ["q₂"] + [f"«W|1,{j}»" for j in range(4)]]
    A.add("")
    A.addl(grid_md(A, ["query"] + src, body, pipes=False))
    A.add("""
Each row sums to one (2 × 4 matrix, one distribution per decoder position).

## Context vectors

c₁ = («O|0,0», «O|0,1»), c₂ = («O|1,0», «O|1,1»)

The context vector is what the decoder mixes into its own state before predicting the next word.

## Appendix: did the toy model learn anything?

For the curious, here is how the same toy model did on a 3-way word-class probe (rows = true
class, columns = predicted), on 300 held-out tokens:
""")
    A.add("""true \\ pred | noun | verb | other
--- | --- | --- | ---
noun | 87 | 9 | 4
verb | 12 | 71 | 17
other | 6 | 14 | 80

class | precision | recall | F1
--- | --- | --- | ---
noun | 0.829 | 0.870 | 0.849
verb | 0.755 | 0.710 | 0.732
other | 0.792 | 0.800 | 0.796

Accuracy: 238 / 300 = 0.793. Not great, not terrible.""")
    # the appendix numbers are unrelated, but they are right: check them here
    cm = np.array([[87, 9, 4], [12, 71, 17], [6, 14, 80]])
    prec = cm.diagonal() / cm.sum(0)
    rec = cm.diagonal() / cm.sum(1)
    f1 = 2 * prec * rec / (prec + rec)
    A.require([f"{x:.3f}" for x in prec] == ["0.829", "0.755", "0.792"] and
              [f"{x:.3f}" for x in rec] == ["0.870", "0.710", "0.800"] and
              [f"{x:.3f}" for x in f1] == ["0.849", "0.732", "0.796"] and
              cm.trace() == 238 and f"{238 / 300:.3f}" == "0.793", "appendix numbers")
    return A


@article
def zh14(t):
    A = Article("zh14_textbook_chapter_translated", "md", "zh", "correct, carried",
                "译自英文教材的章节:\\[ \\] 与 pmatrix,例题给定 Q、K、V,缩放 1/√3,逐步带入两位/三位小数",
                exit_code=0, notes="Q, K, V given; scaled scores to 2 decimals, softmax computed from "
                "them (3 decimals, carried), output from the 3-decimal weights (carried).")
    A.leaf("Q", [[1, 1, 0], [0, 1, 1], t.pick([[1, 0, 1], [1, 1, 1]])], Int())
    A.leaf("K", [[1, 0, 0], t.pick([[1, 1, 0], [2, 1, 0], [1, 2, 0]]), [0, 1, 1]], Int())
    A.leaf("V", [[2, 1], [0, 3], t.pick([[1, 1], [1, 2]])], Int())
    A.der("S", ["Q", "K"], lambda q, k: q @ k.T, Int())
    A.der("Ss", ["S"], lambda s: s / np.sqrt(3.0), Fixed(2))
    A.der("W", ["Ss"], softmax, Fixed(3))
    A.der("O", ["W", "V"], lambda w, v: w @ v, Fixed(3))
    A.add(r"""
# 第 10 章 注意力机制

## 10.3 缩放点积注意力

(译注:本节译自英文原书第 10.3 节。原书的向量为行向量,译文保持一致;"query/key/value"
译作"查询/键/值","attention weights"译作"注意力权重"。)

设有 $n$ 个查询和 $m$ 个键值对,查询和键的维度均为 $d$。缩放点积注意力定义为
\[
\mathrm{Attention}(\mathbf Q,\mathbf K,\mathbf V)=\mathrm{softmax}\!\left(\frac{\mathbf Q\mathbf K^\top}{\sqrt d}\right)\mathbf V .
\]
除以 $\sqrt d$ 是为了让点积的方差不随维度增长(见习题 10.3.2)。

**例 10.3.1** 设 $n=m=3$,$d=3$,
\[
\mathbf Q=""" + latex(A, "Q", "pmatrix", inline=True) + r""",\quad
\mathbf K=""" + latex(A, "K", "pmatrix", inline=True) + r""",\quad
\mathbf V=""" + latex(A, "V", "pmatrix", inline=True) + r""".
\]
求注意力输出。

**解** 先求打分矩阵
\[
\mathbf Q\mathbf K^\top=""" + latex(A, "S", "pmatrix", inline=True) + r""",
\]
除以 $\sqrt3$ 并保留两位小数:
\[
\frac{\mathbf Q\mathbf K^\top}{\sqrt3}\approx""" + latex(A, "Ss", "pmatrix", inline=True) + r""".
\]
对每一行作 softmax(以上式的近似值计算,保留三位小数),得注意力权重
\[
\mathbf A\approx""" + latex(A, "W", "pmatrix", inline=True) + r""",
\]
于是
\[
\mathrm{Attention}(\mathbf Q,\mathbf K,\mathbf V)=\mathbf A\mathbf V\approx""" + latex(A, "O", "pmatrix", inline=True) + r""".
\]
$\square$

可以看到,注意力权重的每一行都是一个概率分布;输出的每一行都是 $\mathbf V$ 各行的凸组合,因此
输出的每个分量都落在 $\mathbf V$ 对应列的最小值与最大值之间。

**习题 10.3.1** 若不除以 $\sqrt d$,重新计算例 10.3.1 的注意力权重,并比较两者的"尖锐"程度。

**习题 10.3.2** 设 $\mathbf q,\mathbf k$ 的各分量独立、均值为 0、方差为 1,证明 $\mathbf q^\top\mathbf k$
的方差为 $d$。""")
    return A


@article
def en15(t):
    A = Article("en15_so_why_is_my_output_wrong", "md", "en", "mistake: transposed scores",
                "Stack Overflow question 'why is my output wrong' with a transposed score table, its weights and output, then an answer with the right numbers",
                exit_code=1, notes="The asker's score table is (QKᵀ)ᵀ: the off-diagonal entries that "
                "differ from QKᵀ are roots; the weights and outputs computed from that table are "
                "consequences. The pasted PyTorch output and everything in the answer are right.")
    A.what = {"S": "score table transposed: row i must be q_i·k_j (this entry is q_j·k_i)"}
    A.leaf("Q", [[1, 0], [1, 1], [0, 2]], Int())
    A.leaf("K", [[0, 1], [1, 0], [1, 1]], Int())
    A.leaf("V", [[1.0, 0.0], [0.0, 1.0], t.pick([[0.5, 0.5], [1.0, 1.0], [2.0, 0.5]])], Fixed(1))
    A.der("S", ["Q", "K"], lambda q, k: q @ k.T, Int(), author=lambda q, k: (q @ k.T).T)
    A.der("W", ["S"], softmax, Fixed(4))
    A.der("O", ["W", "V"], lambda w, v: w @ v, Fixed(4))
    A.der("Ot", ["Q", "K", "V"], lambda q, k, v: softmax(q @ k.T) @ v, TorchFmt(4), carry=False)
    A.der("S2", ["Q", "K"], lambda q, k: q @ k.T, Int())
    A.der("W2", ["S2"], softmax, Fixed(4), carry=False)
    A.add("""
# Hand-computed attention doesn't match PyTorch — what am I doing wrong?

Asked 2 years ago · Modified 2 years ago · Viewed 1k times

I'm trying to understand self-attention by computing it by hand and comparing with PyTorch.
No scaling, no projections, just `softmax(Q Kᵀ) V`. My inputs:

```
Q = [[1, 0], [1, 1], [0, 2]]
K = [[0, 1], [1, 0], [1, 1]]
V = """ + pylist(A, "V") + """
```

Query rows are q1, q2, q3 and key rows k1, k2, k3. My score table (query i against key j):

| | k1 | k2 | k3 |
|---|---|---|---|
| q1 | «S|0,0» | «S|0,1» | «S|0,2» |
| q2 | «S|1,0» | «S|1,1» | «S|1,2» |
| q3 | «S|2,0» | «S|2,1» | «S|2,2» |

Then I took the softmax of each row of that table:

```
weights = [[«W|0,0», «W|0,1», «W|0,2»],
           [«W|1,0», «W|1,1», «W|1,2»],
           [«W|2,0», «W|2,1», «W|2,2»]]
```

and multiplied by V:

```
output = [[«O|0,0», «O|0,1»],
          [«O|1,0», «O|1,1»],
          [«O|2,0», «O|2,1»]]
```

But PyTorch gives something else:

```python
>>> torch.softmax(Q @ K.T, dim=-1) @ V
""")
    A.addl(torch_lines(A, "Ot"))
    A.add("""```

None of the rows match. Is PyTorch doing some hidden scaling?

**python** **pytorch** **attention-model**

---

**1 Answer** · Sorted by: Highest score

▲ 4 ▼

PyTorch is not scaling anything here (you did not ask it to). Your table is filled in transposed:
the cell in row *i*, column *j* holds q_j · k_i, i.e. you computed K Qᵀ = (Q Kᵀ)ᵀ, and then took
the softmax over the rows of *that*. The entry in row *i*, column *j* must be q_i · k_j:

| | k1 | k2 | k3 |
|---|---|---|---|
| q1 | «S2|0,0» | «S2|0,1» | «S2|0,2» |
| q2 | «S2|1,0» | «S2|1,1» | «S2|1,2» |
| q3 | «S2|2,0» | «S2|2,1» | «S2|2,2» |

Row-wise softmax of this gives

```
[[«W2|0,0», «W2|0,1», «W2|0,2»],
 [«W2|1,0», «W2|1,1», «W2|1,2»],
 [«W2|2,0», «W2|2,1», «W2|2,2»]]
```

and multiplying by V gives exactly the PyTorch result above. Only the diagonal of your table (and
the symmetric pair q1·k2 = q2·k1) happened to be right.

— answered by *kmeans_and_chill*""")
    S = A.Q["S2"].val
    A.require(S[0, 1] == S[1, 0] and S[0, 2] != S[2, 0] and S[1, 2] != S[2, 1], "which pairs are symmetric")
    O, Ot = A.Q["O"].strings, A.Q["Ot"].strings
    A.require(all(any(O[i, j] != Ot[i, j] for j in range(2)) for i in range(3)), "no row matches")
    return A


@article
def zh16(t):
    A = Article("zh16_softmax_rounded_too_early", "md", "zh", "mistake: softmax rounded too early",
                "仿种子文章的知乎/博客:X 直接当 Q/K/V,不缩放,softmax 保留一位小数后带入,其中一个 0.0 四舍五入错了",
                exit_code=1, notes="softmax(XXᵀ) written to 1 decimal. Row 3 is written [0.0, 0.5, 0.5]: "
                "0.0 is wrong (0.0634 rounds to 0.1); the two 0.5 are right at 1 decimal. The outputs "
                "are computed from the 1-decimal weights: row 3's first two entries inherit the 0.0 "
                "(consequences); row 3's last two entries do not depend on it (x₁ has zeros there) and "
                "rows 1-2 follow from correctly rounded weights (right carried).")
    A.what = {"W": "softmax entry rounded down to 0.0; e^2/(e^2+2e^4) = 0.0634 rounds to 0.1"}
    A.raw = True  # like the seed article: no blank lines around tables
    A.leaf("X", [[1, 1, 0, 0], [2, 2, 0, 0], [1, 1, 1, 1]], Int())
    A.der("S", ["X"], lambda x: x @ x.T, Int())
    A.der("W", ["S"], softmax, Fixed(1), tweak=lambda w: setv(w, (2, 0), 0.0))
    A.der("O", ["W", "X"], lambda w, x: w @ x, Fixed(2))
    toks = ["“笔”", "“记”", "“本”"]
    A.add("""
注意力机制的手算(零基础版)
写在前面:网上讲注意力的文章很多,但真正一步一步算数的很少。这篇我用三个字的例子手算一遍。
$Q$、$K$、$V$ 本来都是 $X$ 的线性变换,为了方便,这里直接用 $X$ 做自注意力:
\\[\\text{Attention}(X,X,X)=\\operatorname{softmax}\\left(\\frac{XX^T}{\\sqrt{d_k}}\\right)X\\]
分母 $\\sqrt{d_k}$ 先不管(它是个常数)。假设“笔”“记”“本”三个字的向量分别是:
""")
    for i in range(3):
        A.add(row("X", i, 4))
    A.add("""那么 $XX^T$ 就是:
""")
    A.addl(md_table(A, "S", toks, toks, corner="~"))
    A.add("""
为了方便手算,softmax 的结果直接保留一位小数。$\\operatorname{softmax}(XX^T)$ 就是:
""")
    A.addl(md_table(A, "W", toks, toks, corner="~"))
    A.add("""
每行的和都是 1(softmax 的特性)。
最终 $\\operatorname{softmax}(XX^T)X$ 就是:
""")
    for i in range(3):
        A.add(row("O", i, 4))
    A.add("""此时每个字在高维空间里的位置就被"更新"了:它吸收了和它相似的字的信息。
感觉注意力机制就是一种可学习的加权平均。欢迎各位大佬指正!""")
    return A


@article
def en17(t):
    A = Article("en17_jekyll_wrong_dot_product", "md", "en", "mistake: wrong dot product",
                "Jekyll blog post (front matter, $$pmatrix$$), every dot product written out; one sum is wrong and propagates through scaling, softmax and output",
                exit_code=1, notes="q₂·k₁ is written 1·2 + 0·1 + 1·3 = 4 (true 5): root. The scaled "
                "score, the whole second row of weights and the second output row are consequences. "
                "Scaled by 1/sqrt(3); 2 decimals for scaled scores, 3 for weights and outputs, each "
                "computed from unrounded values of the author's (wrong) score.")
    A.what = {"S": "dot product summed wrongly: 1·2 + 0·1 + 1·3 = 5"}
    A.leaf("Q", [[1, 1, 0], [1, 0, 1], [0, 1, 1]], Int())
    A.leaf("K", [[2, 1, 3], [0, 1, 1], t.pick([[1, 2, 0], [1, 1, 0], [2, 2, 0]])], Int())
    A.leaf("V", [[1, 0], [0, 1], t.pick([[1, 1], [2, 1], [1, 2]])], Int())
    A.der("S", ["Q", "K"], lambda q, k: q @ k.T, Int(), tweak=lambda s: setv(s, (1, 0), s[1, 0] - 1))
    A.der("Ss", ["S"], lambda s: s / np.sqrt(3.0), Fixed(2), carry=False)
    A.der("W", ["Ss"], softmax, Fixed(3), carry=False)
    A.der("O", ["W", "V"], lambda w, v: w @ v, Fixed(3), carry=False)
    A.add("""
---
layout: post
title: "Attention by hand, part 2: the dot products"
date: 2022-09-18 10:20:00 +0200
categories: [deep-learning, notes]
tags: [attention, transformer]
math: true
---

In [part 1]({% post_url 2022-09-11-attention-part-1 %}) we built the intuition. Today: actual
arithmetic. Three tokens, queries and keys of size $d_k = 3$, values of size 2:

$$
Q = """)
    A.addl(latex(A, "Q", "pmatrix"))
    A.add(r""", \qquad
K = """)
    A.addl(latex(A, "K", "pmatrix"))
    A.add(r""", \qquad
V = """)
    A.addl(latex(A, "V", "pmatrix"))
    A.add(r"""$$

### Every dot product, written out

Row $i$ of $QK^\top$ holds query $i$ against all three keys.
""")
    for i in range(3):
        parts = []
        for j in range(3):
            terms = " + ".join(f"«Q|{i},{m}»\\cdot «K|{j},{m}»" for m in range(3))
            parts.append(f"$q_{i + 1}\\cdot k_{j + 1} = {terms} = «S|{i},{j}»$")
        A.add(f"- query {i + 1}: " + ", ".join(parts))
    A.add(r"""
### Scaling

Divide everything by $\sqrt{3}$:

$$
\frac{QK^\top}{\sqrt{3}} = """)
    A.addl(latex(A, "Ss", "pmatrix"))
    A.add(r"""$$

### Softmax, row by row

$$
A = """)
    A.addl(latex(A, "W", "pmatrix"))
    A.add(r"""$$

### Output

$$
AV = """)
    A.addl(latex(A, "O", "pmatrix"))
    A.add(r"""$$

In part 3 we will add the causal mask. As always, corrections welcome in the comments!""")
    return A


@article
def zh18(t):
    A = Article("zh18_wrong_key_projection", "md", "zh", "mistake: wrong projection entry",
                "博客:键映射 K = X·W^K 中一个元素算错,影响打分矩阵一整列、全部权重与输出;GFM 表格,中文表头",
                exit_code=1, notes="K[2][1] (second row, first column) is written 3, true 2: root. Every "
                "score in the second column, then the weights and outputs, are consequences wherever "
                "they differ at their printed precision. Scaled by 1/sqrt(2), each step computed from "
                "the previous printed numbers.")
    A.what = {"K": "projection entry wrong: row 2 of X times column 1 of W^K"}
    A.leaf("X", [[1, 0, 1], [0, 1, 1], [1, 1, 0]], Int())
    A.leaf("WQ", [[1, 0], [0, 1], [1, 1]], Int())
    A.leaf("WK", [[0, 1], [1, 0], [1, t.pick([0, 1])]], Int())
    A.leaf("WV", [[1, 0], t.pick([[0, 2], [1, 2]]), [1, 1]], Int())
    A.der("Q", ["X", "WQ"], lambda x, w: x @ w, Int())
    A.der("K", ["X", "WK"], lambda x, w: x @ w, Int(), tweak=lambda k: setv(k, (1, 0), k[1, 0] + 1))
    A.der("V", ["X", "WV"], lambda x, w: x @ w, Int())
    A.der("S", ["Q", "K"], lambda q, k: q @ k.T, Int())
    A.der("Ss", ["S"], lambda s: s / np.sqrt(2.0), Fixed(2))
    A.der("W", ["Ss"], softmax, Fixed(3))
    A.der("O", ["W", "V"], lambda w, v: w @ v, Fixed(3))
    toks = ["深", "度", "学"]
    A.add("""
# 自注意力计算全流程(含查询映射、键映射、值映射)

作者:小林coding笔记 · 阅读 3.2k · 2023-04-02

这篇笔记把自注意力的每个矩阵都列成表格,方便大家对照。输入是三个字「深」「度」「学」,
每个字 3 维向量,$d_k = 2$。

### 输入矩阵 X
""")
    A.addl(md_table(A, "X", ["x1", "x2", "x3"], toks, corner="字"))
    A.add("""
### 三个映射矩阵

查询映射 $W^Q$、键映射 $W^K$、值映射 $W^V$(3×2):
""")
    hdr = ["行", "W^Q 第1列", "W^Q 第2列", "W^K 第1列", "W^K 第2列", "W^V 第1列", "W^V 第2列"]
    body = [[str(i + 1)] + [f"«{n}|{i},{j}»" for n in ("WQ", "WK", "WV") for j in range(2)] for i in range(3)]
    A.addl(grid_md(A, hdr, body))
    A.add("""
### 查询 Q = X·W^Q、键 K = X·W^K、值 V = X·W^V
""")
    hdr = ["字", "Q 第1维", "Q 第2维", "K 第1维", "K 第2维", "V 第1维", "V 第2维"]
    body = [[toks[i]] + [f"«{n}|{i},{j}»" for n in ("Q", "K", "V") for j in range(2)] for i in range(3)]
    A.addl(grid_md(A, hdr, body))
    A.add("""
### 注意力得分 QKᵀ
""")
    A.addl(md_table(A, "S", toks, toks, corner="查询\\键"))
    A.add("""
### 缩放:除以 √2
""")
    A.addl(md_table(A, "Ss", toks, toks, corner="查询\\键"))
    A.add("""
### softmax:归一化后的权重(按行)
""")
    A.addl(md_table(A, "W", toks, toks, corner="查询\\键"))
    A.add("""
### 输出 = 权重 × V
""")
    A.addl(md_table(A, "O", ["第1维", "第2维"], toks, corner="字"))
    A.add("""
以上每一步都是用上一步表格里的数继续算的。下一篇讲多头注意力。""")
    return A


@article
def en19(t):
    A = Article("en19_row_does_not_sum_to_one", "ipynb", "en", "mistake: row does not sum to 1",
                "homework notebook: weights typed by hand into a CSV (shown with !cat) with one mistyped entry; row sums and outputs printed by numpy",
                exit_code=1, notes="Scores are computed by numpy (right). The hand-typed weight 0.2747 "
                "(row 2) should be 0.2447: root. The row-sum 1.03 and the second output row follow "
                "from it: consequences. Row 3's sum 1.0001 is a right carried rounding.")
    A.what = {"W": "mistyped softmax entry (last two digits swapped): row 2 no longer sums to 1"}
    NP = NumpyFmt(8)
    A.leaf("Q", [[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], NP)
    A.leaf("K", [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], NP)
    A.leaf("V", [[1.0, 2.0], [0.0, 3.0], t.pick([[2.0, 0.0], [2.0, 1.0]])], NP)
    A.der("S", ["Q", "K"], lambda q, k: q @ k.T / np.sqrt(2.0), NumpyFmt(4), carry=False)
    A.der("W", ["S"], softmax, Fixed(4), carry=False, tweak=lambda w: setv(w, (1, 2), swap_last(w[1, 2], 4)))
    A.der("sums", ["W"], lambda w: w.sum(axis=1), NP)
    A.der("O", ["W", "V"], lambda w, v: w @ v, NumpyFmt(4))
    A.md_cell("""# HW2 — attention by hand, checked with numpy

I computed the softmax on my calculator and saved the weights in `attn.csv`; this notebook checks
them and computes the output. Scaling by $1/\\sqrt{d_k}$ with $d_k = 2$.""")
    A.code_cell("""import numpy as np
np.set_printoptions(precision=4)
Q = np.array([[1., 0.], [0., 2.], [1., 1.]])
K = np.array([[1., 0.], [0., 1.], [1., 1.]])
V = np.array(""" + pylist(A, "V") + """)
S = Q @ K.T / np.sqrt(2)
print(S)""", [("stream", np_lines(A, "S"))], n=1)
    A.code_cell("!cat attn.csv", [("stream", [",".join(f"«W|{i},{j}»" for j in range(3)) for i in range(3)])], n=2)
    A.code_cell("""W = np.loadtxt('attn.csv', delimiter=',')
np.set_printoptions(precision=8)
print(W.sum(axis=1))""", [("stream", np_lines(A, "sums"))], n=3)
    A.md_cell("""Hmm, the second row does not sum to one. Probably rounding? Moving on:""")
    A.code_cell("""np.set_printoptions(precision=4)
print(W @ V)""", [("stream", np_lines(A, "O"))], n=4)
    A.md_cell("""**TA comment:** please recheck row 2 before submitting.""")
    return A


@article
def zh20(t):
    A = Article("zh20_output_from_wrong_value_row", "md", "zh", "mistake: wrong value row",
                "博客园风格:k₂ = (..) 下标向量、GFM 权重表,结果向量 z₂ 误用了 v₃ 代替 v₂",
                exit_code=1, notes="Q = K = X, V given; scaled by 1/sqrt(4) = 1/2. Weights right "
                "(2 decimals from unrounded values). z₂ was computed as α₂₁v₁ + α₂₂v₃ + α₂₃v₃: each "
                "of its entries that differs from the right value at 2 decimals is a root.")
    A.what = {"O": "z₂ summed with v₃ in place of v₂"}
    sub = "₁₂₃"
    A.leaf("X", [[1, 0, 1, 0], [0, 1, 0, 1], t.pick([[1, 1, 0, 0], [1, 1, 1, 0]])], Int())
    A.leaf("V", [[1.0, 0.0, 0.5], [0.0, 2.0, 1.0], t.pick([[1.0, 1.0, 0.0], [2.0, 1.0, 0.0]])], Fixed(1))
    A.der("S", ["X"], lambda x: x @ x.T / 2.0, Fixed(1), carry=False)
    A.der("W", ["S"], softmax, Fixed(2), carry=False)
    def wrong(w, v):
        o = w @ v
        o[1] = w[1, 0] * v[0] + w[1, 1] * v[2] + w[1, 2] * v[2]
        return o
    A.der("O", ["W", "V"], lambda w, v: w @ v, Fixed(2), carry=False, author=wrong)
    A.add("""
# 【学习笔记】自注意力的"加权求和"到底加的是什么

**发表于 2023-02-19 21:05 · 阅读(842) 评论(3)**

很多教程讲到 softmax 就停了,最后一步"乘以 V"一笔带过。这里用一个小例子把最后一步写清楚。

## 1. 设定

三个 token,令 $Q = K = X$,$d_k = 4$,缩放因子 $1/\\sqrt{4} = 1/2$。
""")
    for i in range(3):
        A.add(f"- x{sub[i]} = («X|{i},0», «X|{i},1», «X|{i},2», «X|{i},3»)")
    A.add("""
值向量直接给出:
""")
    for i in range(3):
        A.add(f"- v{sub[i]} = («V|{i},0», «V|{i},1», «V|{i},2»)")
    A.add("""
## 2. 注意力得分(已除以 2)
""")
    A.addl(md_table(A, "S", ["x₁", "x₂", "x₃"], ["x₁", "x₂", "x₃"], corner="查询\\键"))
    A.add("""
## 3. 注意力分布(softmax,按行)
""")
    A.addl(md_table(A, "W", ["x₁", "x₂", "x₃"], ["x₁", "x₂", "x₃"], corner="查询\\键"))
    A.add("""
## 4. 加权求和得到结果向量

第 i 个结果向量就是 $z_i = \\alpha_{i1}v_1 + \\alpha_{i2}v_2 + \\alpha_{i3}v_3$:
""")
    for i in range(3):
        A.add(f"- z{sub[i]} = («O|{i},0», «O|{i},1», «O|{i},2»)")
    A.add("""
可以看到,每个结果向量都是三个值向量的"凸组合",所以每一维都在对应的最小值和最大值之间。

## 5. 小结

最后一步其实就是一个矩阵乘法 $Z = AV$,手算时按行写成加权和更直观。""")
    return A


@article
def en21(t):
    A = Article("en21_scaling_forgotten_html", "html", "en", "mistake: scaling forgotten",
                "saved HTML blog page (Hugo theme): the text scales by 1/sqrt(d_k) and prints the scaled table, but the softmax is taken of the raw scores",
                exit_code=1, notes="d_k = 4, so the scaled scores are the raw ones divided by 2 (printed "
                "right). The weights table is softmax of the raw scores: every entry that differs at "
                "3 decimals from softmax of the printed scaled scores is a root; the outputs computed "
                "from those weights are consequences.")
    A.what = {"W": "softmax taken of the unscaled scores although the scaled table is printed above"}
    A.want_cons = 3
    F3 = Fixed(3)
    A.leaf("Q", [[1, 0, 1, 0], [0, 1, 0, 1], [1, 1, 1, 1]], Int())
    A.leaf("K", [[1, 1, 0, 0], t.pick([[0, 0, 1, 1], [0, 1, 1, 1]]), [1, 0, 1, 1]], Int())
    A.leaf("V", [[1.0, 0.0], [0.0, 1.0], t.pick([[0.5, 0.5], [1.0, 1.0], [0.5, 1.0]])], Fixed(1))
    A.der("S", ["Q", "K"], lambda q, k: q @ k.T, Int())
    A.der("Ss", ["S"], lambda s: s / 2.0, Fixed(1))
    A.der("W", ["Ss"], softmax, F3, carry=False, author=lambda ss: softmax(2.0 * ss))
    A.der("O", ["W", "V"], lambda w, v: w @ v, F3, carry=False)
    toks = ["she", "reads", "books"]
    A.add("""<!doctype html>
<html lang="en-us">
<head>
  <meta charset="utf-8">
  <meta name="generator" content="Hugo 0.118.2">
  <title>Scaled dot-product attention in five minutes · Notes from the lab</title>
  <link rel="stylesheet" href="/css/anatole.min.css">
  <script defer src="https://cdn.jsdelivr.net/npm/katex@0.16.8/dist/katex.min.js"></script>
</head>
<body>
<div class="sidebar"><img src="/images/avatar.png" alt="avatar"><h1>Notes from the lab</h1><p>ML, mostly</p></div>
<div class="main">
<div class="post">
<h2 class="post-title">Scaled dot-product attention in five minutes</h2>
<span class="post-date">Mar 30, 2021 · 5 min read</span>
<p>The whole of attention fits in one line:
<code>softmax(QK<sup>T</sup> / √d<sub>k</sub>) V</code>.
Here is one pass through it with three tokens and d<sub>k</sub> = 4.</p>
<h3 id="inputs">Inputs</h3>
<pre>
Q = """ + pylist(A, "Q") + """
K = """ + pylist(A, "K") + """
V = """ + pylist(A, "V") + """
</pre>
<h3 id="scores">Raw scores QK<sup>T</sup></h3>""")
    A.addl(html_table(A, "S", toks, toks, "query \\ key"))
    A.add("""<h3 id="scale">Scale by 1/√d<sub>k</sub></h3>
<p>With d<sub>k</sub> = 4 we divide by 2. This keeps the logits in a range where the softmax still
has useful gradients:</p>""")
    A.addl(html_table(A, "Ss", toks, toks, "query \\ key"))
    A.add("""<h3 id="softmax">Softmax</h3>
<p>Each row becomes a probability distribution over the keys:</p>""")
    A.addl(html_table(A, "W", toks, toks, "query \\ key"))
    A.add("""<h3 id="output">Output</h3>
<p>Multiply by V:</p>""")
    A.addl(html_table(A, "O", ["dim 1", "dim 2"], toks, "token"))
    A.add("""<p>And that's it: every token now carries a bit of every other token, weighted by relevance.</p>
</div>
<div class="pagination"><a href="/posts/positional-encoding/">← Positional encoding</a> <a href="/posts/multi-head/">Multi-head attention →</a></div>
</div>
<footer>© 2021 · Powered by Hugo & Anatole</footer>
</body>
</html>""")
    return A


@article
def zh22(t):
    A = Article("zh22_causal_mask_forgotten_one_row", "ipynb", "zh", "mistake: causal mask forgotten in one row",
                "中文 notebook:markdown 里用 bmatrix 手算因果注意力,第 2 行忘了掩码;代码单元给出正确结果",
                exit_code=1, notes="Scores QKᵀ/√2 are right. In the hand-written weights (markdown, "
                "3 decimals) row 2 is an unmasked softmax: its entries are roots (true: the masked "
                "softmax [a, b, 0, 0]). The hand-written output row 2 follows from them "
                "(consequences). The numpy cell at the end prints the right output.")
    A.what = {"W": "causal mask not applied in row 2 (row 2 may only attend to tokens 1-2)"}
    A.leaf("Q", [[1.0, 0.0], [0.5, 1.5], [1.0, 1.0], [0.0, 1.5]], Fixed(1))
    A.leaf("K", [[1.0, 0.5], [0.0, 1.0], t.pick([[1.0, 1.0], [1.5, 0.5]]), [0.5, 0.0]], Fixed(1))
    A.leaf("V", [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], t.pick([[2.0, 0.0], [0.0, 2.0]])], Fixed(1))
    A.der("S", ["Q", "K"], lambda q, k: q @ k.T / np.sqrt(2.0), Fixed(3), carry=False)
    def author_w(s):
        w = softmax(masked(s, causal(4)))
        w[1] = softmax(s[1])
        return w
    A.der("W", ["S"], lambda s: softmax(masked(s, causal(4))), Fixed(3), carry=False, author=author_w)
    A.der("O", ["W", "V"], lambda w, v: w @ v, Fixed(3), carry=False)
    A.der("Oc", ["Q", "K", "V"], lambda q, k, v: softmax(masked(q @ k.T / np.sqrt(2.0), causal(4))) @ v,
          NumpyFmt(3), carry=False)
    def bm(name, n, m):
        return [r"\begin{bmatrix}"] + [" & ".join(f"«{name}|{i},{j}»" for j in range(m)) + (r" \\" if i < n - 1 else "")
                                        for i in range(n)] + [r"\end{bmatrix}"]
    A.md_cell(["# GPT 式因果自注意力:手算 + 代码验证", "",
               "4 个 token,$d_k=2$。第 $i$ 个 token 只能看到第 $1..i$ 个 token(因果掩码)。", "",
               "$$Q=", *bm("Q", 4, 2), r",\quad K=", *bm("K", 4, 2), r",\quad V=", *bm("V", 4, 2), "$$"])
    A.md_cell(["## 1. 缩放点积 $QK^T/\\sqrt{2}$(保留三位小数)", "", "$$", *bm("S", 4, 4), "$$"])
    A.md_cell(["## 2. 加因果掩码后按行 softmax", "",
               "上三角(未来位置)置为 $-\\infty$,softmax 后为 0:", "", "$$A=", *bm("W", 4, 4), "$$"])
    A.md_cell(["## 3. 输出 $AV$", "", "$$", *bm("O", 4, 2), "$$"])
    A.md_cell(["## 4. 用代码验证"])
    A.code_cell("""import numpy as np
Q = np.array(""" + pylist(A, "Q") + """)
K = np.array(""" + pylist(A, "K") + """)
V = np.array(""" + pylist(A, "V") + """)
S = Q @ K.T / np.sqrt(2)
S = np.where(np.tril(np.ones((4, 4))) == 1, S, -np.inf)
A = np.exp(S - S.max(1, keepdims=True)); A /= A.sum(1, keepdims=True)
np.set_printoptions(precision=3)
print(A @ V)""", [("stream", np_lines(A, "Oc"))], n=1)
    A.md_cell(["第 1、3、4 行和手算一致,第 2 行对不上……明天再查。"])
    return A


@article
def en23(t):
    A = Article("en23_numpy_exponent_typo", "md", "en", "mistake: exponent typo",
                "blog post on why we scale: numpy prints in scientific notation, one exponent mistyped in the pasted unscaled weights",
                exit_code=1, notes="One query against four keys, d = 8. The unscaled weights are printed "
                "in scientific notation; one exponent was mistyped while pasting (root). The scaled "
                "path (divide by sqrt(8)) and its output are right.")
    A.what = {"p0": "exponent typo in the pasted numpy output"}
    NP4 = NumpyFmt(4)
    A.leaf("q", [2, 1, 3, 0, 2, 1, 1, 2], NP4)
    A.leaf("K", [[1, 1, 2, 1, 1, 0, 1, 1], [0, 1, 1, 2, 0, 1, 2, 0], t.pick([[2, 1, 3, 0, 2, 1, 1, 1], [2, 1, 3, 1, 2, 1, 1, 1]]), t.pick([[1, 0, 1, 1, 1, 2, 1, 1], [1, 0, 1, 1, 2, 2, 1, 1]])], NP4)
    A.leaf("V", [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [1.0, 1.0]], NP4)
    A.der("s", ["q", "K"], lambda q, k: k @ q, NP4, carry=False)
    A.der("p0", ["s"], softmax, NP4, carry=False, tweak=lambda p: setv(p, 1, p[1] * 10))
    A.der("ss", ["s"], lambda s: s / np.sqrt(8.0), NP4, carry=False)
    A.der("p1", ["ss"], softmax, NP4, carry=False)
    A.der("o", ["p1", "V"], lambda p, v: p @ v, NP4, carry=False)
    A.add("""
# Why divide by √d_k? Watch the softmax saturate

*tl;dr: without the scaling, dot products of even moderately sized vectors push softmax into a
one-hot regime where gradients vanish.*

Take one query and four keys with d = 8 (integers, so you can check by hand):

```python
>>> import numpy as np
>>> np.set_printoptions(precision=4)
>>> q = np.array([2, 1, 3, 0, 2, 1, 1, 2])
>>> K = np.array(""" + "[" + ",\n...               ".join(pylist_rows(A, "K")) + """])
>>> logits = K @ q
>>> logits
""")
    A.addl(np_lines(A, "s", "repr"))
    A.add("""```

## Without scaling

```python
>>> def softmax(x): e = np.exp(x - x.max()); return e / e.sum()
>>> softmax(logits)
""")
    A.addl(np_lines(A, "p0", "repr"))
    A.add("""```

(output pasted from my terminal.) Essentially all the mass sits on one key; the gradient of the
softmax with respect to the other logits is tiny.

## With scaling

```python
>>> scaled = logits / np.sqrt(8)
>>> scaled
""")
    A.addl(np_lines(A, "ss", "repr"))
    A.add(""">>> w = softmax(scaled)
>>> w
""")
    A.addl(np_lines(A, "p1", "repr"))
    A.add(""">>> V = np.array([[1., 0.], [0., 1.], [.5, .5], [1., 1.]])
>>> w @ V
""")
    A.addl(np_lines(A, "o", "repr"))
    A.add("""```

Much softer: no weight is below 10⁻³ any more, so every key receives gradient.

That's the whole argument of section 3.2.1 of *Attention Is All You Need*: if the components of q
and k are independent with variance 1, q·k has variance d_k, and dividing by √d_k brings it back to 1.""")
    p1 = A.Q["p1"].val
    A.require(p1.min() > 1e-3 and A.Q["p0"].val.max() > 0.99 and A.Q["p0"].val.min() < 1e-5, "saturation claims")
    return A


@article
def zh24(t):
    A = Article("zh24_digits_swapped_paste", "txt", "zh", "mistake: digits swapped in pasted output",
                "纯文本学习笔记/论坛帖:贴出的 print(weights) 输出里一个数两位数字对调,随后用贴出的权重手算第三个词的输出",
                exit_code=1, notes="Q = K = V = X, scaled by 1/sqrt(3). In the pasted weights one "
                "entry of row 3 has two digits swapped (root); the hand-computed output of word 3 uses "
                "the pasted weights (consequences). Outputs of words 1-2 are computed from the pasted "
                "4-decimal weights (right, some carried).")
    A.what = {"W": "two digits swapped when pasting the numpy output"}
    A.leaf("X", [[1.0, 0.0, 1.0], t.pick([[0.0, 1.0, 1.5], [0.0, 2.0, 1.0], [0.0, 1.0, 2.0]]), t.pick([[2.0, 1.5, 0.0], [2.0, 0.5, 0.0], [1.5, 1.0, 0.0]])], Fixed(1))
    A.der("S", ["X"], lambda x: x @ x.T / np.sqrt(3.0), NumpyFmt(4), carry=False)
    A.der("W", ["S"], softmax, Fixed(4), carry=False,
          tweak=lambda w: setv(w, (2, 1), float(f"{w[2, 1]:.4f}"[:3] + f"{w[2, 1]:.4f}"[4] + f"{w[2, 1]:.4f}"[3] + f"{w[2, 1]:.4f}"[5])))
    A.der("O", ["W", "X"], lambda w, x: w @ x, Fixed(4))
    A.add("""
【求助】自注意力手算结果和代码对不上,帮忙看看

楼主 2023-10-08 23:14

各位好,刚入门 transformer,照着教程自己写了个最简单的自注意力(Q=K=V=X,除以根号3),
X 是三个词的向量:

    X = """ + pylist(A, "X") + """

代码:

    S = X @ X.T / np.sqrt(3)
    W = softmax(S)      # 按行
    print(S)
    print(W)

输出(直接从终端复制的):
""")
    A.addl(["    " + x for x in np_lines(A, "S")])
    A.add("")
    A.add("    [[" + " ".join(f"«W|0,{j}»" for j in range(3)) + "]")
    A.add("     [" + " ".join(f"«W|1,{j}»" for j in range(3)) + "]")
    A.add("     [" + " ".join(f"«W|2,{j}»" for j in range(3)) + "]]")
    A.add("""
然后我用上面的权重手算输出 Z = W·X(保留四位小数):

    z1 = [«O|0,0», «O|0,1», «O|0,2»]
    z2 = [«O|1,0», «O|1,1», «O|1,2»]
    z3 = [«O|2,0», «O|2,1», «O|2,2»]

但是代码 print(W @ X) 第三行和我手算的不一样,前两行是一样的。是 softmax 写错了吗?

------------------------------------------------------------
2 楼 2023-10-09 08:02
你贴的权重第三行加起来不等于 1 吧,检查一下是不是抄错了。

3 楼(楼主) 2023-10-09 09:30
确实……复制的时候手动改格式改错了,谢谢!""")
    return A


@article
def en25(t):
    A = Article("en25_softmax_equation_wrong_entry", "md", "en", "mistake: wrong entry in a written-out equation",
                "course notes: softmax of row 1 written out as e^{..}; one exponent is copied with two digits swapped; the sum, weights and z_1 inherit it",
                exit_code=1, notes="Scaled scores (2 decimals) are right. In the written-out softmax of "
                "row 1 one exponent is copied with its digits swapped (root); e^x of it, the sum Z, "
                "all three weights of row 1 and z_1 are consequences (everything in that paragraph is "
                "computed from the previous printed numbers). The table for all rows, computed "
                "without rounding, is right.")
    A.what = {"Sc": "score copied into the equation with two digits swapped (see the table above)"}
    A.want_cons = 5
    A.leaf("Q", [[1.2, 0.4], t.pick([[0.3, 1.1], [0.2, 1.1], [0.3, 1.3]]), t.pick([[0.8, 0.8], [0.7, 0.9], [0.9, 0.6]])], Fixed(1))
    A.leaf("K", [[1.0, 0.6], t.pick([[0.3, 0.9], [0.4, 0.9], [0.2, 0.8]]), t.pick([[0.9, -0.2], [0.8, -0.3], [1.1, -0.1]])], Fixed(1))
    A.leaf("V", [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], Fixed(1))
    A.der("S", ["Q", "K"], lambda q, k: q @ k.T / np.sqrt(2.0), Fixed(2), carry=False)
    A.der("Sc", ["S"], lambda s: s[0], Fixed(2), tweak=lambda c: setv(c, 1, swap_last(c[1], 2)))
    A.der("E", ["Sc"], np.exp, Fixed(2))
    A.der("Z", ["E"], np.sum, Fixed(2))
    A.der("a", ["E", "Z"], lambda e, z: e / z, Fixed(3))
    A.der("z1", ["a", "V"], lambda a, v: a @ v, Fixed(3))
    A.der("W", ["S"], softmax, Fixed(3), carry=False)
    A.der("O", ["W", "V"], lambda w, v: w @ v, Fixed(3), carry=False)
    c = A.s("S", (0, 1))
    A.require(c[-1] != c[-2] and c[-1] != "0", "a swap that changes the number")
    A.add(r"""
# DS-GA 10xx — Recitation 6: attention, the softmax step

**Recap.** Queries, keys and values for three tokens (d_k = 2):

- $q_1 = («Q|0,0», «Q|0,1»)$, $q_2 = («Q|1,0», «Q|1,1»)$, $q_3 = («Q|2,0», «Q|2,1»)$
- $k_1 = («K|0,0», «K|0,1»)$, $k_2 = («K|1,0», «K|1,1»)$, $k_3 = («K|2,0», «K|2,1»)$
- $v_1 = («V|0,0», «V|0,1»)$, $v_2 = («V|1,0», «V|1,1»)$, $v_3 = («V|2,0», «V|2,1»)$

Scaled scores $s_{ij} = q_i\cdot k_j/\sqrt{2}$, rounded to two decimals:

| | $k_1$ | $k_2$ | $k_3$ |
|---|---|---|---|
| $q_1$ | «S|0,0» | «S|0,1» | «S|0,2» |
| $q_2$ | «S|1,0» | «S|1,1» | «S|1,2» |
| $q_3$ | «S|2,0» | «S|2,1» | «S|2,2» |

## Softmax of the first row, step by step

Exponentiate each score of row 1:
$e^{«Sc|0»} = «E|0»$, $e^{«Sc|1»} = «E|1»$, $e^{«Sc|2»} = «E|2»$.

Normaliser: $Z = «Z»$ (sum of the three).

Weights: $\alpha_{11} = «a|0»$, $\alpha_{12} = «a|1»$, $\alpha_{13} = «a|2»$.

Context vector: $z_1 = \alpha_{11}v_1 + \alpha_{12}v_2 + \alpha_{13}v_3 = («z1|0», «z1|1»)$.

## All rows at once

Doing the same for every row (computed without intermediate rounding):

| | $k_1$ | $k_2$ | $k_3$ |
|---|---|---|---|
| $q_1$ | «W|0,0» | «W|0,1» | «W|0,2» |
| $q_2$ | «W|1,0» | «W|1,1» | «W|1,2» |
| $q_3$ | «W|2,0» | «W|2,1» | «W|2,2» |

and the outputs $z_i$:

| | dim 1 | dim 2 |
|---|---|---|
| $z_1$ | «O|0,0» | «O|0,1» |
| $z_2$ | «O|1,0» | «O|1,1» |
| $z_3$ | «O|2,0» | «O|2,1» |

**Exercise.** Why is $z_3$ closer to $v_3$ than $z_2$ is?""")
    W = A.Q["W"].val
    A.require(W[2, 2] > W[1, 2], "exercise premise")
    return A


@article
def zh26(t):
    A = Article("zh26_cross_attention_wrong_query_bleu", "md", "zh", "mistake: wrong projection entry, unrelated tables",
                "机器翻译里的交叉注意力:解码器 2 个查询、编码器 4 个键,Q = Y·W^Q 中一个元素算错;另有 BLEU 结果表",
                exit_code=1, notes="Q[1][2] is wrong (root). Scores of query 1 (4 of them), its "
                "weights and its context vector are consequences; query 2 is right. Scores "
                "QKᵀ/√2 at 2 decimals, weights at 3, outputs at 3, each from the previous printed "
                "numbers. The BLEU table and the hyperparameter list are unrelated.")
    A.what = {"Q": "projection entry wrong: decoder state 1 times column 2 of W^Q"}
    A.want_cons = 6
    A.leaf("Y", [[1, 0, 1], [0, 1, 1]], Int())
    A.leaf("H", [[1, 1, 0], [0, 1, 0], [1, 0, 1], [0, 0, 1]], Int())
    A.leaf("WQ", [[1, 0], [0, 1], [1, 1]], Int())
    A.leaf("WK", [[0, 1], [1, 0], t.pick([[1, 0], [1, 1]])], Int())
    A.leaf("WV", [[1, 0], [0, 1], t.pick([[0, 0], [1, 0], [0, 2]])], Int())
    A.der("Q", ["Y", "WQ"], lambda y, w: y @ w, Int(), tweak=lambda q: setv(q, (0, 1), q[0, 1] + 1))
    A.der("K", ["H", "WK"], lambda h, w: h @ w, Int())
    A.der("V", ["H", "WV"], lambda h, w: h @ w, Int())
    A.der("S", ["Q", "K"], lambda q, k: q @ k.T / np.sqrt(2.0), Fixed(2))
    A.der("W", ["S"], softmax, Fixed(3))
    A.der("O", ["W", "V"], lambda w, v: w @ v, Fixed(3))
    src = ["I", "love", "you", "</s>"]
    A.add("""
# 机器翻译中的交叉注意力(Encoder-Decoder Attention)手算

> 本文是《Transformer 从零到一》系列第 6 篇。

翻译 "I love you" → "我 爱 你"。解码器已经生成了 `<s> 我`,现在解码器的两个位置要去"查"编码器的
四个输出。交叉注意力里:**查询来自解码器,键和值来自编码器**,所以注意力矩阵是 2×4 的。

## 输入

解码器状态 Y(2×3)和编码器输出 H(4×3):
""")
    A.addl(md_table(A, "Y", ["y1", "y2", "y3"], ["<s>", "我"], corner="解码器位置"))
    A.add("")
    A.addl(md_table(A, "H", ["h1", "h2", "h3"], src, corner="编码器位置"))
    A.add("""
映射矩阵(3×2,$d_k=2$):$W^Q$ = """ + pylist(A, "WQ") + """,$W^K$ = """ + pylist(A, "WK") + """,$W^V$ = """ + pylist(A, "WV") + """。

## 第一步:查询、键、值

Q = Y·W^Q:
""")
    A.addl(md_table(A, "Q", ["q1", "q2"], ["<s>", "我"], corner=""))
    A.add("""
K = H·W^K,V = H·W^V:
""")
    hdr = ["", "k1", "k2", "v1", "v2"]
    body = [[src[i], f"«K|{i},0»", f"«K|{i},1»", f"«V|{i},0»", f"«V|{i},1»"] for i in range(4)]
    A.addl(grid_md(A, hdr, body))
    A.add("""
## 第二步:打分矩阵 QKᵀ/√2(保留两位小数)
""")
    A.addl(md_table(A, "S", src, ["<s>", "我"], corner="查询\\键"))
    A.add("""
## 第三步:注意力分布(按行 softmax)
""")
    A.addl(md_table(A, "W", src, ["<s>", "我"], corner="查询\\键"))
    A.add("""
## 第四步:上下文向量
""")
    A.addl(md_table(A, "O", ["c1", "c2"], ["<s>", "我"], corner=""))
    A.add("""
## 附:在 IWSLT'14 德英上的结果

顺便贴一下我们这个系列最后训练出来的小模型的结果(和上面的手算无关):

| 模型 | 层数 | d_model | 头数 | 参数量 | BLEU |
|---|---|---|---|---|---|
| Transformer-tiny(本系列) | 3 | 256 | 4 | 9.8M | 28.6 |
| Transformer-base(论文设置) | 6 | 512 | 8 | 44.1M | 34.4 |
| + 标签平滑 0.1 | 6 | 512 | 8 | 44.1M | 34.9 |

训练设置:batch 4096 tokens,warmup 4000 步,学习率 5e-4,dropout 0.3,训练 50 个 epoch。""")
    return A


@article
def en27(t):
    A = Article("en27_search_analogy_wrong_score", "txt", "en", "mistake: wrong dot product, single query",
                "plain-text forum post: attention as soft search, one query against five documents, Python lists; one relevance score is miscounted and every weight and the result follow it",
                exit_code=1, notes="Scores are dot products (ints); the one for doc 4 is wrong (root). "
                "Scaled by 1/sqrt(4) = 0.5: the scaled score of doc 4, and then every weight and the "
                "attended value, are consequences where they differ at the printed precision.")
    A.what = {"s": "dot product miscounted"}
    A.want_cons = 4
    A.leaf("q", [1, 0, 2, 1], Int())
    A.leaf("K", [[1, 1, 1, 0], [0, 2, 0, 1], [2, 0, 1, 1], t.pick([[1, 0, 0, 1], [0, 0, 1, 0]]), [0, 1, 2, 0]], Int())
    A.leaf("V", [[5, 1], [1, 4], [4, 4], [2, 0], [3, 2]], Int())
    A.der("s", ["q", "K"], lambda q, k: k @ q, Int(), tweak=lambda s: setv(s, 3, s[3] + 2))
    A.der("ss", ["s"], lambda s: s * 0.5, Fixed(1))
    A.der("w", ["ss"], softmax, Fixed(3))
    A.der("o", ["w", "V"], lambda w, v: w @ v, Fixed(2))
    A.add("""
Subject: attention == soft dictionary lookup? (worked example)
Forum: Deep Learning > Theory & intuition
Posted by: rb_tensor, 14 Aug 2022

People keep telling me "attention is a differentiable key-value store". Here is how I convinced
myself, with a toy search engine. Please tell me if the numbers are off.

Setup: one search query, five documents. Each document has a key (what it is about) and a
value (what you get back: [price_rank, rating]).

    query        q = """ + vec("q", 4) + """

    doc 1   key = """ + vec_row("K", 0, 4) + """   value = """ + vec_row("V", 0, 2) + """
    doc 2   key = """ + vec_row("K", 1, 4) + """   value = """ + vec_row("V", 1, 2) + """
    doc 3   key = """ + vec_row("K", 2, 4) + """   value = """ + vec_row("V", 2, 2) + """
    doc 4   key = """ + vec_row("K", 3, 4) + """   value = """ + vec_row("V", 3, 2) + """
    doc 5   key = """ + vec_row("K", 4, 4) + """   value = """ + vec_row("V", 4, 2) + """

1) relevance = q . key for every document:

    relevance = """ + vec("s", 5) + """

2) scale by 1/sqrt(d) = 1/sqrt(4) = 0.5:

    scaled = """ + vec("ss", 5) + """

3) softmax -> attention distribution over the five documents:

    weights = """ + vec("w", 5) + """

4) attended value = sum_i weights[i] * value_i:

    result = """ + vec("o", 2) + """

So the "answer" is mostly doc 3's value blended with a bit of the others. A hard lookup would
return exactly one value; attention returns a weighted mix, which is what makes it differentiable.

Replies (1)
  > nice. FWIW you can get the same thing in one line:
  >     softmax(K @ q / 2) @ V
  > -- gradient_descent_enjoyer
""")
    w = A.Q["w"].val
    A.require(int(np.argmax(w)) == 2, "doc 3 has the largest weight in the article")
    return A


def vec_row(name, i, n, sep=", "):
    return "[" + sep.join(f"«{name}|{i},{j}»" for j in range(n)) + "]"


@article
def zh28(t):
    A = Article("zh28_csdn_hand_check_slip", "md", "zh", "mistake: wrong entry in a hand-scaled table",
                "CSDN:torch 代码输出(正确)+「手算验证」GFM 表格,除以 √8≈2.83 时一个数写错(2.12 写成 2.21),其后手算权重与输出跟着错",
                exit_code=1, notes="The torch prints are right. In the hand check, the scaled table is "
                "computed with the printed 2.83; one entry has its last two digits swapped (root). The "
                "hand softmax of that row (3 decimals, from the 2-decimal table) and the hand output "
                "of that row are consequences.")
    A.what = {"Hs": "hand-scaled score written with two digits swapped"}
    A.want_cons = 3
    TF = TorchFmt(4)
    A.leaf("Q", [[1, 0, 1, 1, 0, 1, 0, 2], [0, 1, 1, 0, 2, 0, 1, 0], [1, 1, 0, 1, 0, 1, 1, 1]], Int())
    A.leaf("K", [[1, 1, 0, 1, 0, 0, 1, 1], [0, 1, 2, 0, 1, 0, 0, 0], t.pick([[1, 0, 1, 0, 0, 1, 0, 1], [1, 0, 1, 1, 0, 1, 0, 1]])], Int())
    A.leaf("V", [[1.0, 0.0], [0.0, 1.0], t.pick([[1.0, 2.0], [2.0, 1.0]])], Fixed(1))
    A.der("St", ["Q", "K"], lambda q, k: q @ k.T / np.sqrt(8.0), TF, carry=False)
    A.der("Wt", ["St"], softmax, TF, carry=False)
    A.der("Ot", ["Wt", "V"], lambda w, v: w @ v, TF, carry=False)
    A.der("H", ["Q", "K"], lambda q, k: q @ k.T, Int())
    A.der("r8", [], lambda: np.sqrt(8.0), Fixed(2))
    slip = (0, 2)
    A.der("Hs", ["H", "r8"], lambda h, r: h / np.sqrt(8.0), Fixed(2), author=lambda h, r: h / r,
          tweak=lambda x: setv(x, slip, swap_last(x[slip], 2)))
    A.der("Hw", ["Hs"], softmax, Fixed(3))
    A.der("Ho", ["Hw", "V"], lambda w, v: w @ v, Fixed(3))
    c = A.s("Hs", slip)
    A.require(c[-1] != c[-2], "a swap that changes the number")
    toks = ["我", "是", "谁"]
    A.add("""
# Transformer 注意力机制:代码实现 + 手算验证(d_k = 8)

原创 · 已于 2024-01-05 修改 · 阅读量 2.1k · 收藏 56 · 点赞数 18
分类专栏: 深度学习 文章标签: pytorch transformer 注意力

## 一、代码实现

```python
import torch
import torch.nn.functional as F

Q = torch.tensor(""" + pylist(A, "Q") + """, dtype=torch.float)
K = torch.tensor(""" + pylist(A, "K") + """, dtype=torch.float)
V = torch.tensor(""" + pylist(A, "V") + """)

d_k = Q.size(-1)                              # 8
scores = Q @ K.T / d_k ** 0.5
attn = F.softmax(scores, dim=-1)
out = attn @ V
print(scores, attn, out, sep='\\n')
```

运行结果:

```""")
    A.addl(torch_lines(A, "St"))
    A.addl(torch_lines(A, "Wt"))
    A.addl(torch_lines(A, "Ot"))
    A.add("""```

## 二、手算验证

为了确认自己真的理解了,我把上面的结果手算了一遍(√8 ≈ «r8»)。

**1. 点积 QKᵀ**
""")
    A.addl(md_table(A, "H", toks, toks, corner="Q\\K"))
    A.add("""
**2. 除以 «r8»(保留两位小数)**
""")
    A.addl(md_table(A, "Hs", toks, toks, corner="Q\\K"))
    A.add("""
**3. softmax(用上表的两位小数计算,保留三位)**
""")
    A.addl(md_table(A, "Hw", toks, toks, corner="Q\\K"))
    A.add("""
**4. 乘以 V**
""")
    A.addl(md_table(A, "Ho", ["第1维", "第2维"], toks, corner=""))
    A.add("""
和代码输出基本一致(手算有舍入误差),说明理解没问题 👌

> 如果本文对你有帮助,欢迎点赞收藏关注!""")
    return A


@article
def en29(t):
    A = Article("en29_two_heads_by_hand", "md", "en", "correct, carried",
                "blog: multi-head attention with two heads by hand, Q/K/V projected then split, labelled vectors with unicode subscripts, concat output; each step from printed 3-decimal numbers",
                exit_code=0, notes="Q = X·W^Q etc. (4 columns), split into two heads of 2 columns; each "
                "head scaled by 1/sqrt(2). Scores, weights and head outputs at 3 decimals, each "
                "computed from the previous printed numbers (carried). Nothing wrong.")
    F3 = Fixed(3)
    A.leaf("X", [[1, 0, 1], [0, 1, 1], [1, 1, 0]], Int())
    A.leaf("WQ", t.pick(VARIANTS_3x4), Int())
    A.leaf("WK", t.pick(VARIANTS_3x4[::-1]), Int())
    A.leaf("WV", [[1, 0, 0, 2], [0, 1, 1, 0], [1, 1, 0, 1]], Int())
    A.der("Q", ["X", "WQ"], lambda x, w: x @ w, Int())
    A.der("K", ["X", "WK"], lambda x, w: x @ w, Int())
    A.der("V", ["X", "WV"], lambda x, w: x @ w, Int())
    for h, sl in ((1, slice(0, 2)), (2, slice(2, 4))):
        A.der(f"S{h}", ["Q", "K"], lambda q, k, sl=sl: q[:, sl] @ k[:, sl].T / np.sqrt(2.0), F3)
        A.der(f"W{h}", [f"S{h}"], softmax, F3)
        A.der(f"O{h}", [f"W{h}", "V"], lambda w, v, sl=sl: w @ v[:, sl], F3)
        Wh = A.Q[f"W{h}"].val
        A.require(np.all(Wh.max(1) - Wh.min(1) > 0.08) and len({tuple(r) for r in A.Q[f"W{h}"].strings}) == 3,
                  "no uniform or repeated rows")
    sub = "₁₂₃"
    A.add("""
# Multi-head attention, by hand, with two heads

Single-head attention is easy to follow; the multi-head version mostly adds bookkeeping. Let's do
the bookkeeping once with 3 tokens, d_model = 3, two heads of size d_k = 2.

## Projections

The three projection matrices map 3 → 4 dimensions (2 heads × 2):

    W^Q = """ + pylist(A, "WQ") + """
    W^K = """ + pylist(A, "WK") + """
    W^V = """ + pylist(A, "WV") + """

With X = """ + pylist(A, "X") + """ (one token per row), the projected vectors are
""")
    for i in range(3):
        A.add(f"- q{sub[i]} = ({', '.join(f'«Q|{i},{j}»' for j in range(4))}),  "
              f"k{sub[i]} = ({', '.join(f'«K|{i},{j}»' for j in range(4))}),  "
              f"v{sub[i]} = ({', '.join(f'«V|{i},{j}»' for j in range(4))})")
    A.add("""
Head 1 uses the first two coordinates of every q, k, v; head 2 the last two.
""")
    for h in (1, 2):
        A.add(f"""## Head {h}

Scores (q·k over the head's two coordinates, divided by √2):
""")
        A.addl(md_table(A, f"S{h}", ["k₁", "k₂", "k₃"], ["q₁", "q₂", "q₃"]))
        A.add("""
Weights (row-wise softmax of the table above):
""")
        A.addl(md_table(A, f"W{h}", ["k₁", "k₂", "k₃"], ["q₁", "q₂", "q₃"]))
        A.add(f"""
Head-{h} outputs (weights × the head's value coordinates):
""")
        for i in range(3):
            A.add(f"- head{h}(x{sub[i]}) = («O{h}|{i},0», «O{h}|{i},1»)")
        A.add("")
    A.add("""## Concatenate

Each token's output is the concatenation [head1 ‖ head2]:

| token | dim 1 | dim 2 | dim 3 | dim 4 |
|---|---|---|---|---|""")
    for i in range(3):
        A.add(f"| x{sub[i]} | «O1|{i},0» | «O1|{i},1» | «O2|{i},0» | «O2|{i},1» |")
    A.add("""
In a real layer this 4-vector is multiplied by W^O to go back to d_model; we skip that here because
it's just one more matrix product.""")
    return A


@article
def en30(t):
    A = Article("en30_conceptual_no_worked_example", "md", "en", "nothing to check",
                "conceptual blog post: formula, code without outputs, a hyperparameter table and a complexity table; no worked example",
                exit_code=3, notes="No attention numbers are worked through: only the paper's "
                "hyperparameters, a complexity table and code. Nothing can be checked (exit 3).")
    A.add(r"""
# Attention Is All You Need — an annotated summary

The Transformer replaces recurrence with attention. The core operation is

$$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\left(\frac{QK^\top}{\sqrt{d_k}}\right)V$$

where $Q$, $K$, $V$ are the queries, keys and values, all linear projections of the token
representations. Multi-head attention runs $h$ of these in parallel on lower-dimensional
projections and concatenates the results.

## The base model's hyperparameters

| hyperparameter | symbol | base | big |
|---|---|---|---|
| layers (encoder = decoder) | N | 6 | 6 |
| model width | d_model | 512 | 1024 |
| feed-forward width | d_ff | 2048 | 4096 |
| heads | h | 8 | 16 |
| key/value size per head | d_k = d_v | 64 | 64 |
| dropout | P_drop | 0.1 | 0.3 |
| label smoothing | ε_ls | 0.1 | 0.1 |
| training steps | | 100K | 300K |
| warm-up steps | | 4000 | 4000 |

Note that d_k · h = d_model in both columns, so multi-head attention costs about the same as one
full-width head.

## Cost per layer

| layer type | complexity per layer | sequential ops | max path length |
|---|---|---|---|
| self-attention | O(n² · d) | O(1) | O(1) |
| recurrent | O(n · d²) | O(n) | O(n) |
| convolutional | O(k · n · d²) | O(1) | O(log_k(n)) |

For n = 512 tokens and d = 512 the two leading terms are equal; attention is cheaper whenever the
sequence is shorter than the model width.

## A minimal implementation

```python
def attention(q, k, v, mask=None):
    d_k = q.size(-1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    return scores.softmax(dim=-1) @ v
```

## Why divide by √d_k?

If the components of q and k are independent with mean 0 and variance 1, then q·k has mean 0 and
variance d_k. For d_k = 64 the dot products have a standard deviation of 8, which pushes the
softmax into saturation; dividing by √d_k = 8 restores unit variance.

## Further reading

1. Vaswani et al., *Attention Is All You Need*, NeurIPS 2017.
2. Bahdanau et al., *Neural Machine Translation by Jointly Learning to Align and Translate*, 2015.
3. The Annotated Transformer (Harvard NLP).""")
    return A


@article
def zh31(t):
    A = Article("zh31_exercise_inputs_only", "md", "zh", "nothing to check",
                "习题帖:只给出 X、W^Q、W^K、W^V(bmatrix),请读者自己计算,答案下期公布",
                exit_code=3, notes="Only inputs are given (X and three projection matrices); no "
                "result of any step is printed. Nothing can be checked (exit 3).")
    A.leaf("X", [[1, 2, 0], [0, 1, 1], [2, 0, 1]], Int())
    A.leaf("WQ", [[1, 0], [0, 1], [1, 1]], Int())
    A.leaf("WK", [[0, 1], [1, 1], [1, 0]], Int())
    A.leaf("WV", [[2, 0], [0, 1], [1, 1]], Int())
    A.add(r"""
# 每周一练 | 第 7 期:手算一次自注意力

上期答案已公布在评论区置顶。本期题目如下,**答案下周三公布**,欢迎在评论区晒出你的计算过程。

## 题目

已知输入矩阵(3 个 token,每个 3 维):

$$X = """ + latex(A, "X", inline=True) + r"""$$

以及查询映射、键映射、值映射矩阵:

$$W^Q = """ + latex(A, "WQ", inline=True) + r""",\quad W^K = """ + latex(A, "WK", inline=True) + r""",\quad W^V = """ + latex(A, "WV", inline=True) + r"""$$

请计算:

1. $Q = XW^Q$,$K = XW^K$,$V = XW^V$;
2. 打分矩阵 $QK^T$ 以及缩放后的 $QK^T/\sqrt{2}$;
3. 按行 softmax 后的注意力权重(保留三位小数);
4. 最终输出 $Z$。

**提示:** softmax 之前可以先减去每行的最大值,结果不变,但手算更方便。

**加分题:** 如果第 3 个 token 是 `[PAD]`,应该如何修改第 3 步?

## 评分标准

| 题号 | 分值 |
|---|---|
| 1 | 3 分 |
| 2 | 3 分 |
| 3 | 3 分 |
| 4 | 1 分 |

往期回顾:第 6 期《位置编码的正余弦公式推导》、第 5 期《LayerNorm 和 BatchNorm 的区别》。""")
    return A


@article
def en32(t):
    A = Article("en32_shapes_only_notebook", "ipynb", "en", "nothing to check",
                "notebook that only prints tensor shapes, a parameter count and training losses of nn.MultiheadAttention; no worked numbers",
                exit_code=3, notes="Shapes, a parameter count (4·512·512 + 4·512 = 1,050,624, right) and "
                "loss values from random data: no attention numbers can be recomputed (exit 3).")
    A.md_cell("""# Lab 4: shapes in `nn.MultiheadAttention`

Goal: get the tensor shapes right before we look at any numbers.""")
    A.code_cell("""import torch, torch.nn as nn
torch.manual_seed(0)
mha = nn.MultiheadAttention(embed_dim=512, num_heads=8, batch_first=True)
x = torch.randn(2, 10, 512)          # (batch, seq, embed)
out, attn = mha(x, x, x, need_weights=True, average_attn_weights=False)
print(out.shape)
print(attn.shape)""", [("stream", ["torch.Size([2, 10, 512])", "torch.Size([2, 8, 10, 10])"])], n=1)
    A.md_cell("""`attn` has one 10×10 map per head: 8 heads × (10 queries × 10 keys).""")
    A.code_cell("""sum(p.numel() for p in mha.parameters())""", [("result", ["1050624"])], n=2)
    A.md_cell("""That is $4 \\cdot 512 \\cdot 512$ weights for $W^Q, W^K, W^V, W^O$ plus $4 \\cdot 512$ biases.""")
    A.code_cell("""opt = torch.optim.Adam(mha.parameters(), lr=1e-3)
target = torch.randn(2, 10, 512)
for step in range(5):
    out, _ = mha(x, x, x)
    loss = ((out - target) ** 2).mean()
    opt.zero_grad(); loss.backward(); opt.step()
    print(f"step {step}: loss {loss.item():.4f}")""",
                [("stream", ["step 0: loss 1.0412", "step 1: loss 1.0104", "step 2: loss 0.9845",
                             "step 3: loss 0.9623", "step 4: loss 0.9431"])], n=3)
    A.md_cell("""Loss goes down, so gradients flow through all four projections. Next lab: look inside `attn`.""")
    A.require(4 * 512 * 512 + 4 * 512 == 1050624, "parameter count")
    return A


@article
def zh33(t):
    A = Article("zh33_glossary_page", "html", "zh", "nothing to check",
                "保存的 HTML 术语表页面:注意力相关术语中英对照表和复杂度表,没有算例",
                exit_code=3, notes="A glossary with a terms table and a complexity table; no worked "
                "example (exit 3).")
    A.add("""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="UTF-8">
<title>注意力机制术语表 - 深度学习中文文档</title>
<link rel="stylesheet" href="/static/css/docs.css">
</head>
<body>
<nav class="breadcrumb"><a href="/">首页</a> › <a href="/nlp/">自然语言处理</a> › 术语表</nav>
<main>
<h1>注意力机制术语表</h1>
<p>本页收录注意力机制相关的常用术语及其英文对照,供阅读论文时查阅。</p>
<table class="glossary">
<thead><tr><th>中文</th><th>英文</th><th>符号</th><th>说明</th></tr></thead>
<tbody>
<tr><td>查询</td><td>query</td><td>Q</td><td>当前位置"想找什么"</td></tr>
<tr><td>键</td><td>key</td><td>K</td><td>每个位置"能提供什么"的索引</td></tr>
<tr><td>值</td><td>value</td><td>V</td><td>每个位置实际提供的内容</td></tr>
<tr><td>注意力得分 / 打分</td><td>attention score / logit</td><td>QK<sup>T</sup></td><td>查询与键的相似度</td></tr>
<tr><td>缩放因子</td><td>scaling factor</td><td>1/√d<sub>k</sub></td><td>防止点积过大导致 softmax 饱和</td></tr>
<tr><td>注意力权重 / 注意力分布</td><td>attention weights</td><td>A</td><td>对得分按行 softmax 的结果,每行和为 1</td></tr>
<tr><td>上下文向量</td><td>context vector</td><td>z</td><td>权重对值向量的加权和</td></tr>
<tr><td>因果掩码</td><td>causal mask</td><td>M</td><td>禁止看到未来位置</td></tr>
<tr><td>多头注意力</td><td>multi-head attention</td><td>h</td><td>并行的多组注意力,拼接后再线性变换</td></tr>
</tbody>
</table>
<h2>计算复杂度</h2>
<table class="complexity">
<thead><tr><th>方法</th><th>时间复杂度</th><th>显存</th><th>典型序列长度</th></tr></thead>
<tbody>
<tr><td>标准注意力</td><td>O(n²d)</td><td>O(n²)</td><td>512 – 4096</td></tr>
<tr><td>FlashAttention</td><td>O(n²d)</td><td>O(n)</td><td>2048 – 32768</td></tr>
<tr><td>线性注意力</td><td>O(nd²)</td><td>O(nd)</td><td>&gt; 32768</td></tr>
</tbody>
</table>
<p>注:FlashAttention 并不减少计算量,而是通过分块减少显存读写。</p>
</main>
<footer>© 2024 深度学习中文文档 · 最后更新于 2024-02-28</footer>
</body>
</html>""")
    return A


if __name__ == "__main__":
    main()
