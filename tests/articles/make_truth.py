#!/usr/bin/env python3
"""Build the qkv-check test corpus: every article and its truth file.

Run from this folder:  python make_truth.py

Each article is a function that receives a Builder and returns the article
(text, or a notebook dict).  The function holds the article's inputs, computes
the exact values with numpy float64, and prints what the article prints: for
correct steps the exact value rounded at the printed precision, for planted
mistakes the wrong value (``B.on(root_id)``), and for later steps whatever the
article computes from its own printed numbers.

Every computed number goes through the Builder, which records the printed
text, the value the article's own chain gives, and the exact value.  The
article is built several times: once with all planted mistakes, once without
any, and once with each mistake removed.  From those runs every printed number
is classified:

* root         -- a planted mistake (marked with ``root=`` where printed);
* consequence  -- wrong against the exact value, and its value changes when a
                  root is removed (``follows_from`` lists those roots);
* right_carried-- wrong against the exact value but depending on no root: it
                  follows from the article's own correctly rounded numbers.

A printed number "claims" the interval of its written precision: "0.064"
claims |true - 0.064| <= 0.0005; a number written without decimals ("2",
"1.", "0.") among decimals is judged at the most decimals of its matrix /
vector / equation; scientific numbers at their mantissa precision.

Only numpy and the standard library are used.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

M0, M1, M2 = "\ue000", "\ue001", "\ue002"
MARK_RE = re.compile(M0 + r"(\d+)" + M1 + "(.*?)" + M2)
NUM_RE = re.compile(r"-?(?:inf|nan|\d+(?:\.\d*)?(?:e[+-]?\d+)?)")
ALL = object()


# ----------------------------------------------------------------------------
# maths
# ----------------------------------------------------------------------------


def softmax(x, axis=-1):
    x = np.asarray(x, dtype=np.float64)
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / e.sum(axis=axis, keepdims=True)


def A(x):
    return np.array(x, dtype=np.float64)


def r(x, d):
    """Round half away from zero at d decimals, as a person writing it would."""
    x = np.asarray(x, dtype=np.float64)
    q = 10.0**d
    return np.sign(x) * np.floor(np.abs(x) * q + 0.5 + 1e-9) / q


def causal(n, m=None):
    m = n if m is None else m
    return np.triu(np.ones((n, m), dtype=bool), k=1)


def masked(S, mask):
    S = np.array(S, dtype=np.float64)
    S[mask] = -np.inf
    return S


# ----------------------------------------------------------------------------
# claims
# ----------------------------------------------------------------------------


def parse_claim(text):
    """(value, decimals, sci_half) of a printed number; sci_half None if not sci."""
    t = text.strip().replace("\u2212", "-").replace("E", "e")
    m = re.fullmatch(r"(-?)(\d+)(?:\.(\d*))?(?:e([+-]?\d+))?", t)
    if not m:
        raise ValueError(f"cannot parse printed number {text!r}")
    sign, ip, fp, ex = m.groups()
    fp = fp or ""
    val = float(f"{sign}{ip}.{fp or '0'}") * (10.0 ** int(ex) if ex else 1.0)
    if ex:
        return val, len(fp), 0.5 * 10.0 ** (int(ex) - len(fp))
    return val, len(fp), None


def half_unit(text, group_dec):
    val, dec, sci_half = parse_claim(text)
    if sci_half is not None:
        return val, sci_half
    d = dec if dec > 0 else group_dec
    return val, 0.5 * 10.0**-d


# ----------------------------------------------------------------------------
# the builder
# ----------------------------------------------------------------------------


class Builder:
    def __init__(self, enabled):
        self.enabled = enabled
        self.reg = []
        self.ngroups = 0
        self.declared = []
        self.meta = {}
        self.carried = False  # the article computes later steps from rounded numbers

    # planted mistakes ---------------------------------------------------
    def on(self, rid):
        if rid not in self.declared:
            self.declared.append(rid)
        return self.enabled is ALL or rid in self.enabled

    def plant(self, rid, good, bad):
        return bad if self.on(rid) else good

    # registration ---------------------------------------------------------
    def group(self):
        self.ngroups += 1
        return self.ngroups

    def mark(self, text, shown, exact, group, root=None, what=""):
        idx = len(self.reg)
        self.reg.append(
            dict(text=text, shown=float(shown), exact=float(exact), group=group,
                 root=root, what=what)
        )
        return f"{M0}{idx}{M1}{text}{M2}"

    # scalar ---------------------------------------------------------------
    def n(self, x, exact=None, spec=".4f", root=None, what="", group=None):
        """One number in prose.  exact=None: an input, printed but not judged."""
        text = fmt(x, spec)
        if exact is None:
            return text
        g = group if group is not None else self.group()
        return self.mark(text, x, exact, g, root, what)

    # matrices ---------------------------------------------------------------
    def cells(self, M, E=None, spec=".4f", roots=None, name="", rl=None, cl=None,
              inf="-inf", group=None):
        """2-D list of printed cells (marked when E is given)."""
        M = np.asarray(M, dtype=np.float64)
        one_d = M.ndim == 1
        M2d = M.reshape(1, -1) if one_d else M
        E2d = None if E is None else np.asarray(E, dtype=np.float64).reshape(M2d.shape)
        roots = roots or {}
        g = group if group is not None else self.group()
        out = []
        for i in range(M2d.shape[0]):
            row = []
            for j in range(M2d.shape[1]):
                x = M2d[i, j]
                if np.isinf(x):
                    row.append(inf if x < 0 else inf.lstrip("-\u2212"))
                    continue
                text = fmt(x, spec)
                if E2d is None:
                    row.append(text)
                    continue
                key = j if one_d else (i, j)
                what = describe(name, i, j, one_d, rl, cl)
                row.append(self.mark(text, x, E2d[i, j], g, roots.get(key), what))
            out.append(row)
        return out[0] if one_d else out

    def vec(self, v, E=None, spec=".4f", roots=None, name="", sep=", ", cl=None, br="[]"):
        cs = self.cells(v, E, spec, roots, name, cl=cl)
        return br[0] + sep.join(cs) + br[1]

    def pylist(self, M, E=None, spec=".4f", roots=None, name="", sep=", ", rl=None, cl=None):
        cs = self.cells(M, E, spec, roots, name, rl=rl, cl=cl)
        return "[" + sep.join("[" + sep.join(row) + "]" for row in cs) + "]"

    def np_print(self, M, E=None, roots=None, name="", precision=4, suppress=True,
                 as_repr=False, sep=" ", rl=None, cl=None, floatmode="maxprec"):
        """numpy's own print of M; numbers marked in row-major order."""
        M = np.asarray(M, dtype=np.float64)
        with np.printoptions(precision=precision, suppress=suppress, floatmode=floatmode):
            if as_repr:
                s = "array(" + np.array2string(M, separator=", ", prefix="array(") + ")"
            else:
                s = np.array2string(M, separator=sep)
        if E is None:
            return s
        E = np.asarray(E, dtype=np.float64)
        roots = roots or {}
        g = self.group()
        flat_m, flat_e = M.reshape(-1), E.reshape(-1)
        toks = list(NUM_RE.finditer(s))
        assert len(toks) == M.size, (s, M.shape)
        pieces, last = [], 0
        for k, t in enumerate(toks):
            pieces.append(s[last:t.start()])
            if np.isinf(flat_m[k]):
                pieces.append(t.group())
            else:
                idx = np.unravel_index(k, M.shape)
                key = idx[0] if M.ndim == 1 else tuple(int(a) for a in idx[-2:])
                i, j = (0, idx[0]) if M.ndim == 1 else (idx[-2], idx[-1])
                what = describe(name, i, j, M.ndim == 1, rl, cl)
                pieces.append(self.mark(t.group(), flat_m[k], flat_e[k], g,
                                        roots.get(key), what))
            last = t.end()
        pieces.append(s[last:])
        return "".join(pieces)

    def torch_print(self, M, E=None, roots=None, name="", grad_fn=None, batch=False,
                    rl=None, cl=None):
        """A print in torch's style (sci mode, 4 decimals, right-aligned)."""
        M = np.asarray(M, dtype=np.float64)
        fin = M[np.isfinite(M)]
        nz = np.abs(fin[fin != 0])
        if fin.size and np.all(fin == np.round(fin)):
            f = lambda x: f"{x:.0f}."  # noqa: E731
            if nz.size and (nz.max() / nz.min() > 1000 or nz.max() > 1e8):
                f = lambda x: f"{x:.4e}"  # noqa: E731
        elif nz.size and (nz.max() / nz.min() > 1000 or nz.max() > 1e8 or nz.min() < 1e-4):
            f = lambda x: f"{x:.4e}"  # noqa: E731
        else:
            f = lambda x: f"{x:.4f}"  # noqa: E731
        M2d = M.reshape(1, -1) if M.ndim == 1 else M
        texts = [["-inf" if np.isneginf(x) else ("inf" if np.isinf(x) else f(x)) for x in row]
                 for row in M2d]
        w = max(len(t) for row in texts for t in row)
        E2d = None if E is None else np.asarray(E, dtype=np.float64).reshape(M2d.shape)
        roots = roots or {}
        g = self.group()
        rows = []
        for i, row in enumerate(texts):
            cs = []
            for j, t in enumerate(row):
                pad = " " * (w - len(t))
                if E2d is None or np.isinf(M2d[i, j]):
                    cs.append(pad + t)
                else:
                    key = j if M.ndim == 1 else (i, j)
                    what = describe(name, i, j, M.ndim == 1, rl, cl)
                    cs.append(pad + self.mark(t, M2d[i, j], E2d[i, j], g, roots.get(key), what))
            rows.append(", ".join(cs))
        tail = f", grad_fn=<{grad_fn}>)" if grad_fn else ")"
        if M.ndim == 1:
            return "tensor([" + rows[0] + "]" + tail
        if batch:
            ind = " " * 9
            return "tensor([[[" + ("],\n" + ind + "[").join(rows) + "]]]" + tail
        ind = " " * 8
        return "tensor([[" + ("],\n" + ind + "[").join(rows) + "]]" + tail


def fmt(x, spec):
    if callable(spec):
        return spec(x)
    if spec == "int":
        return f"{x:.0f}"
    if spec == "g":
        return f"{x:g}"
    if spec.startswith("E"):  # "E2" -> 9.05E-04
        return f"{x:.{int(spec[1:])}E}"
    if spec.startswith("e"):
        return f"{x:.{int(spec[1:])}e}"
    s = format(float(x), spec)
    if s.startswith("-") and float(s) == 0:
        s = s[1:]
    return s


def describe(name, i, j, one_d, rl, cl):
    if one_d:
        lab = f" ({cl[j]})" if cl else ""
        return f"{name}, entry {j + 1}{lab}"
    rlab = f" ({rl[i]})" if rl else ""
    clab = f" ({cl[j]})" if cl else ""
    return f"{name}, row {i + 1}{rlab}, column {j + 1}{clab}"


def vis(s):
    return MARK_RE.sub(lambda m: m.group(2), s)


def vlen(s):
    n = 0
    for ch in vis(s):
        n += 2 if ord(ch) > 0x2E7F else 1
    return n


def rjust(s, w):
    return " " * (w - vlen(s)) + s


def ljust(s, w):
    return s + " " * (w - vlen(s))


# ----------------------------------------------------------------------------
# table renderers (take cells already formatted / marked)
# ----------------------------------------------------------------------------


def gfm(cells, header=None, rl=None, corner="", align=True, lead=True, sep_style="---"):
    rows = [list(r) for r in cells]
    if rl is not None:
        rows = [[rl[i]] + r for i, r in enumerate(rows)]
        if header is not None:
            header = [corner] + list(header)
    if header is None:
        header = [""] * len(rows[0])
    allrows = [header] + rows
    ncol = len(header)
    w = [max(vlen(r[c]) for r in allrows) for c in range(ncol)] if align else [0] * ncol
    w = [max(x, 3) if align else 0 for x in w]

    def line(r):
        cs = [ljust(c, w[k]) if align else c for k, c in enumerate(r)]
        if lead:
            return "| " + " | ".join(cs) + " |"
        return " | ".join(cs) + " |"

    if align:
        seps = ["-" * w[k] for k in range(ncol)]
        sepl = ("| " + " | ".join(seps) + " |") if lead else " | ".join(seps) + " |"
    else:
        sepl = ("|" if lead else "") + "|".join([sep_style] * ncol) + "|"
    return "\n".join([line(header), sepl] + [line(r) for r in rows])


def plain_pipe(cells, header, rl=None, corner="~"):
    """The seed's style: no leading pipe, `---|---|` separator, trailing pipe."""
    rows = [list(r) for r in cells]
    if rl is not None:
        rows = [[rl[i]] + r for i, r in enumerate(rows)]
        header = [corner] + list(header)
    out = [" | ".join(header) + " |", "|".join(["---"] * len(header)) + "|"]
    out += [" | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def ascii_table(cells, header=None, rl=None, corner="", right=True):
    rows = [list(r) for r in cells]
    if rl is not None:
        rows = [[rl[i]] + r for i, r in enumerate(rows)]
        if header is not None:
            header = [corner] + list(header)
    allrows = ([header] if header else []) + rows
    ncol = len(allrows[0])
    w = [max(vlen(r[c]) for r in allrows) for c in range(ncol)]
    border = "+" + "+".join("-" * (x + 2) for x in w) + "+"

    def line(r, hdr=False):
        cs = []
        for k, c in enumerate(r):
            cs.append(" " + (rjust(c, w[k]) if right and not hdr else ljust(c, w[k])) + " ")
        return "|" + "|".join(cs) + "|"

    out = [border]
    if header:
        out += [line(header, True), border.replace("-", "=")]
    out += [line(r) for r in rows]
    out.append(border)
    return "\n".join(out)


def box_table(cells, header=None, rl=None, corner=""):
    rows = [list(r) for r in cells]
    if rl is not None:
        rows = [[rl[i]] + r for i, r in enumerate(rows)]
        if header is not None:
            header = [corner] + list(header)
    allrows = ([header] if header else []) + rows
    ncol = len(allrows[0])
    w = [max(vlen(r[c]) for r in allrows) for c in range(ncol)]
    top = "┌" + "┬".join("─" * (x + 2) for x in w) + "┐"
    mid = "├" + "┼".join("─" * (x + 2) for x in w) + "┤"
    bot = "└" + "┴".join("─" * (x + 2) for x in w) + "┘"

    def line(r):
        return "│" + "│".join(" " + rjust(c, w[k]) + " " for k, c in enumerate(r)) + "│"

    out = [top]
    if header:
        out += [line(header), mid]
    out += [line(r) for r in rows]
    out.append(bot)
    return "\n".join(out)


def html_table(cells, header=None, rl=None, corner="", indent="      ", cls=None):
    rows = [list(r) for r in cells]
    if rl is not None:
        rows = [[rl[i]] + r for i, r in enumerate(rows)]
        if header is not None:
            header = [corner] + list(header)
    c = f' class="{cls}"' if cls else ""
    out = [f"{indent}<table{c}>"]
    if header:
        out.append(f"{indent}  <thead>")
        out.append(f"{indent}    <tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>")
        out.append(f"{indent}  </thead>")
    out.append(f"{indent}  <tbody>")
    for r in rows:
        if rl is not None:
            tds = f"<th>{r[0]}</th>" + "".join(f"<td>{x}</td>" for x in r[1:])
        else:
            tds = "".join(f"<td>{x}</td>" for x in r)
        out.append(f"{indent}    <tr>{tds}</tr>")
    out.append(f"{indent}  </tbody>")
    out.append(f"{indent}</table>")
    return "\n".join(out)


def latex(cells, env="bmatrix", sep=" & ", multiline=False, colspec=None):
    rows = [sep.join(r) for r in cells]
    if env == "array":
        spec = colspec or ("c" * len(cells[0]))
        begin, end = r"\left[\begin{array}{" + spec + "}", r"\end{array}\right]"
    else:
        begin, end = r"\begin{" + env + "}", r"\end{" + env + "}"
    if multiline:
        return begin + "\n" + " \\\\\n".join(rows) + "\n" + end
    return begin + " " + r" \\ ".join(rows) + " " + end


def np_lines(cells, sep=", ", indent=" ", prefix=""):
    """A hand-typed multi-line numpy-looking list: `[[a, b],` / ` [c, d]]`."""
    rows = ["[" + sep.join(r) + "]" for r in cells]
    pad = " " * len(prefix)
    out = prefix + "[" + rows[0]
    for row in rows[1:]:
        out += ("," if sep.startswith(",") else "") + "\n" + pad + indent + row
    return out + "]"


# ----------------------------------------------------------------------------
# notebooks
# ----------------------------------------------------------------------------


def _src(text):
    lines = text.split("\n")
    return [ln + "\n" for ln in lines[:-1]] + ([lines[-1]] if lines[-1] else [])


def md_cell(text):
    return {"cell_type": "markdown", "metadata": {}, "source": _src(text)}


def code_cell(src, outputs=(), count=None):
    return {"cell_type": "code", "execution_count": count, "metadata": {},
            "outputs": list(outputs), "source": _src(src)}


def stream(text):
    if not text.endswith("\n"):
        text += "\n"
    return {"name": "stdout", "output_type": "stream", "text": _src(text)}


def result(text, count):
    return {"data": {"text/plain": _src(text)}, "execution_count": count, "metadata": {},
            "output_type": "execute_result"}


def notebook(cells, lang="python"):
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python", "version": "3.11.7"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


# ----------------------------------------------------------------------------
# building, classifying, writing
# ----------------------------------------------------------------------------

ARTICLES = []


def article(fname, lang, kind, notations, setting, planted="none"):
    def deco(fn):
        ARTICLES.append(dict(fn=fn, file=fname, lang=lang, kind=kind, notations=notations,
                             setting=setting, planted=planted))
        return fn
    return deco


def render(obj):
    if isinstance(obj, dict):
        for c in obj["cells"]:
            c["id"] = None
        for k, c in enumerate(obj["cells"]):
            c["id"] = f"c{k:02d}"
        text = json.dumps(obj, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    else:
        text = obj if obj.endswith("\n") else obj + "\n"
    lines = text.split("\n")
    where = {}
    clean = []
    for ln_no, ln in enumerate(lines, start=1):
        for m in MARK_RE.finditer(ln):
            idx = int(m.group(1))
            assert idx not in where, f"number {idx} printed twice"
            where[idx] = ln_no
        clean.append(MARK_RE.sub(lambda m: m.group(2), ln))
    out = "\n".join(clean)
    assert M0 not in out and M1 not in out and M2 not in out, "marker split across lines"
    return out, where


def group_decimals(reg):
    gd = {}
    for e in reg:
        _, dec, sci = parse_claim(e["text"])
        if sci is None:
            gd[e["group"]] = max(gd.get(e["group"], 0), dec)
    return gd


def is_wrong(text, true, gdec):
    claimed, half = half_unit(text, gdec)
    dev = abs(true - claimed)
    margin = abs(dev - half) / half
    return dev > half, margin


def build(spec):
    fn = spec["fn"]
    full = Builder(ALL)
    obj = fn(full)
    roots = list(full.declared)
    text, where = render(obj)
    runs = {}
    for rid in roots:
        b = Builder(set(roots) - {rid})
        fn(b)
        assert len(b.reg) == len(full.reg), f"{spec['file']}: structure depends on {rid}"
        runs[rid] = b
    clean = Builder(set())
    fn(clean)
    assert len(clean.reg) == len(full.reg)

    gd = group_decimals(full.reg)
    truth = {"exit": None, "roots": [], "consequences": [], "right_carried": [],
             "notes": full.meta.get("notes", "")}
    problems = []
    root_line = {}
    for idx, e in enumerate(full.reg):
        if idx not in where:
            problems.append(f"number {idx} {e['text']!r} not in output")
            continue
        wrong, margin = is_wrong(e["text"], e["exact"], gd.get(e["group"], 0))
        if margin < 1e-6:
            problems.append(f"line {where[idx]}: {e['text']!r} sits on a rounding boundary "
                            f"(true {e['exact']!r})")
        if e["root"]:
            if not wrong:
                problems.append(f"root {e['root']} ({e['text']}) is not wrong")
            good = clean.reg[idx]
            gw, _ = is_wrong(good["text"], good["exact"], gd.get(e["group"], 0))
            root_line.setdefault(e["root"], []).append(where[idx])
    for idx, e in enumerate(full.reg):
        wrong, _ = is_wrong(e["text"], e["exact"], gd.get(e["group"], 0))
        line = where.get(idx)
        if e["root"]:
            truth["roots"].append({"line": line, "claimed": e["text"],
                                   "true": round(e["exact"], 8), "what": e["what"]})
            continue
        if not wrong:
            continue
        deps = [rid for rid in roots
                if abs(runs[rid].reg[idx]["shown"] - e["shown"]) > 1e-12
                or runs[rid].reg[idx]["text"] != e["text"]]
        if deps:
            fl = sorted({ln for rid in deps for ln in root_line.get(rid, [])})
            truth["consequences"].append({"line": line, "claimed": e["text"],
                                          "true": round(e["exact"], 8), "follows_from": fl,
                                          "what": e["what"]})
        else:
            if not full.carried:
                problems.append(f"line {line}: {e['text']!r} wrong (true {e['exact']:.6g}) "
                                f"with no planted root: {e['what']}")
            truth["right_carried"].append({"line": line, "claimed": e["text"],
                                           "true": round(e["exact"], 8), "what": e["what"]})
    # a number right at its own precision but wrong at its matrix's precision is ambiguous
    for idx, e in enumerate(full.reg):
        _, dec, sci = parse_claim(e["text"])
        if sci is None and 0 < dec < gd.get(e["group"], 0):
            w_own, _ = is_wrong(e["text"], e["exact"], gd.get(e["group"], 0))
            claimed = parse_claim(e["text"])[0]
            w_strict = abs(e["exact"] - claimed) > 0.5 * 10.0 ** -gd.get(e["group"], 0)
            if w_own != w_strict and not full.meta.get("mixed_precision_ok"):
                problems.append(f"line {where[idx]}: {e['text']!r} judged differently at "
                                f"{dec} and {gd[e['group']]} decimals")
    if full.meta.get("expect_exit") == 3:
        assert not full.reg, f"{spec['file']}: exit-3 article has checkable numbers"
        truth["exit"] = 3
    else:
        assert full.reg, f"{spec['file']}: nothing checkable"
        truth["exit"] = 1 if (truth["roots"] or truth["consequences"]) else 0
    want = {"correct": 0, "carried": 0, "mixed": 0, "planted": 1, "nothing": 3}[spec["kind"]]
    if truth["exit"] != want:
        problems.append(f"exit {truth['exit']} but kind {spec['kind']}")
    if spec["kind"] == "carried" and not truth["right_carried"]:
        problems.append("carried article without a carried rounding")
    truth["checked_numbers"] = len(full.reg)
    return text, truth, problems


def verify_lines(path, truth):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    bad = []
    for key in ("roots", "consequences", "right_carried"):
        for e in truth[key]:
            ln = lines[e["line"] - 1]
            if not re.search(r"(?<![\d.])" + re.escape(e["claimed"]) + r"(?![\d])", ln):
                bad.append(f"{key} line {e['line']}: {e['claimed']!r} not on {ln!r}")
    return bad


# ============================================================================
# shared example data
# ============================================================================

# the three-input example that circulates in illustrated self-attention posts
ILL_X = A([[1, 0, 1, 0], [0, 2, 0, 2], [1, 1, 1, 1]])
ILL_WK = A([[0, 0, 1], [1, 1, 0], [0, 1, 0], [1, 1, 0]])
ILL_WQ = A([[1, 0, 1], [1, 0, 0], [0, 0, 1], [0, 1, 1]])
ILL_WV = A([[0, 2, 0], [0, 3, 0], [1, 0, 3], [1, 1, 0]])


def pyrows(M, indent):
    """Hand-typed integer matrix as a multi-line Python list (input, not judged)."""
    rows = ["[" + ", ".join(fmt(x, "int") for x in row) + "]" for row in M]
    return "[" + (",\n" + " " * indent).join(rows) + "]"


# ============================================================================
# en01: the illustrated example by hand, softmax rounded to [0.0, 0.5, 0.5]
# ============================================================================


@article("en01_illustrated_by_hand.md", "en", "planted",
         "labelled vectors (Input 1: [..], Key for input 1: [..], Query for input 2: [..]), "
         "multi-line Python lists, prose dot products 1·0 + 0·1 + 2·1 = 2, softmax(...) = [...], "
         "numpy print inside code comments",
         "self-attention, unscaled, X·W projections (rows = tokens), one query at a time",
         "softmax of input 1 written [0.0, 0.5, 0.5] (0.0 wrong at 1 dp, true 0.0634); "
         "weighted value 1 and output 1 computed from it")
def en01(B):
    B.carried = True
    X, WK, WQ, WV = ILL_X, ILL_WK, ILL_WQ, ILL_WV
    K, Q, V = X @ WK, X @ WQ, X @ WV
    S = Q @ K.T
    W = softmax(S)
    # the author rounds the weights to one decimal and carries them on
    Wp = r(W, 1)
    Wp[0, 0] = B.plant("r1", Wp[0, 0], 0.0)
    WV1 = Wp[0][:, None] * V          # weighted values for input 1, from printed weights
    WV1e = W[0][:, None] * V
    O, Oe = Wp @ V, W @ V
    B.meta["notes"] = ("Self-attention on the three-input example, no scaling, Q = X·W_Q etc. "
                       "(rows are tokens, W is 4x3). The author rounds the softmax to one decimal "
                       "and computes weighted values and outputs from the rounded weights. "
                       "Only 0.0 in softmax([2,4,4]) = [0.0, 0.5, 0.5] is wrong at one decimal "
                       "(true 0.0634 -> 0.1); 0.5 is right (0.4683). Weighted values computed from "
                       "0.5 (1.0, 4.0, 1.0, 3.0, 1.5) follow from a correctly rounded printed number "
                       "and are carried roundings; the outputs of input 1 also depend on the wrong "
                       "0.0 and are consequences. Outputs 2 and 3 are computed from the 1-dp "
                       "weights (carried). The numpy comment at the end shows exact outputs.")
    dot = lambda q, k: " + ".join(f"{fmt(a, 'int')}·{fmt(b, 'int')}" for a, b in zip(q, k))  # noqa
    t = f"""# Self-attention with a pencil: three inputs, no magic

*Posted in Deep Learning · 9 min read*

Every explanation of Transformers eventually shows the formula softmax(QKᵀ)V and moves on.
I never really *got* it until I pushed actual numbers through it, so that is what this post
does. We take three tiny inputs, turn them into keys, queries and values, and compute the
output for the first input step by step. Nothing is hidden; you can follow along on paper.

## Step 1: the inputs

Three inputs, each a vector of four numbers (think of them as word embeddings):

Input 1: {B.vec(X[0], spec='int')}
Input 2: {B.vec(X[1], spec='int')}
Input 3: {B.vec(X[2], spec='int')}

## Step 2: the weights

Every input gets three representations: a key, a query and a value. Each is produced by
multiplying the input with a weight matrix. In a real model these weights are learned; here
I simply made some up. Each matrix has shape 4 × 3 (input dimension 4, representation
dimension 3).

```python
w_key = {pyrows(WK, 9)}

w_query = {pyrows(WQ, 11)}

w_value = {pyrows(WV, 11)}
```

## Step 3: keys

The key of input 1 is the input (a row vector) times `w_key`. Input 1 has ones in positions 1
and 3, so we just add rows 1 and 3 of `w_key`:

[1, 0, 1, 0] · w_key = [0, 0, 1] + [0, 1, 0] = {B.vec(K[0], K[0], 'int', name='key of input 1')}

The other two work the same way:

Key for input 2: {B.vec(K[1], K[1], 'int', name='key of input 2')}
Key for input 3: {B.vec(K[2], K[2], 'int', name='key of input 3')}

## Step 4: values and queries

Same recipe with `w_value` and `w_query`:

Value for input 1: {B.vec(V[0], V[0], 'int', name='value of input 1')}
Value for input 2: {B.vec(V[1], V[1], 'int', name='value of input 2')}
Value for input 3: {B.vec(V[2], V[2], 'int', name='value of input 3')}

Query for input 1: {B.vec(Q[0], Q[0], 'int', name='query of input 1')}
Query for input 2: {B.vec(Q[1], Q[1], 'int', name='query of input 2')}
Query for input 3: {B.vec(Q[2], Q[2], 'int', name='query of input 3')}

## Step 5: attention scores for input 1

The score of input 1 against each input is the dot product of query 1 with that input's key:

q1 · k1 = {dot(Q[0], K[0])} = {B.n(S[0, 0], S[0, 0], 'int', what='score q1·k1')}
q1 · k2 = {dot(Q[0], K[1])} = {B.n(S[0, 1], S[0, 1], 'int', what='score q1·k2')}
q1 · k3 = {dot(Q[0], K[2])} = {B.n(S[0, 2], S[0, 2], 'int', what='score q1·k3')}

## Step 6: softmax

Softmax turns the three scores into weights that are positive and sum to one. To keep the
arithmetic readable I round to one decimal:

softmax([2, 4, 4]) = {B.vec(Wp[0], W[0], '.1f', roots={0: 'r1'}, name='softmax for input 1')}

So input 1 pays (almost) no attention to itself and splits its attention evenly between
inputs 2 and 3.

## Step 7: multiply each value by its weight

Weighted value 1: {B.vec(WV1[0], WV1e[0], '.1f', name='weighted value 1 (input 1)')}
Weighted value 2: {B.vec(WV1[1], WV1e[1], '.1f', name='weighted value 2 (input 1)')}
Weighted value 3: {B.vec(WV1[2], WV1e[2], '.1f', name='weighted value 3 (input 1)')}

## Step 8: add them up

Summing the three weighted values element-wise gives the first output:

Output 1: {B.vec(O[0], Oe[0], '.1f', name='output 1')}

That's it: one row of self-attention done by hand.

## Steps 9 and 10: inputs 2 and 3

Repeat steps 5 to 8 with query 2 and query 3. For input 2 the scores are
{B.vec(S[1], S[1], 'int', name='scores for input 2')}, the softmax (one decimal again) is
{B.vec(Wp[1], W[1], '.1f', name='softmax for input 2')} and the output is
{B.vec(O[1], Oe[1], '.1f', name='output 2')}.

For input 3: scores {B.vec(S[2], S[2], 'int', name='scores for input 3')}, softmax
{B.vec(Wp[2], W[2], '.1f', name='softmax for input 3')}, output {B.vec(O[2], Oe[2], '.1f', name='output 3')}.

## The same thing in numpy

If you prefer code to paper, here is everything in a few lines:

```python
import numpy as np

x = np.array([[1, 0, 1, 0], [0, 2, 0, 2], [1, 1, 1, 1]], dtype=float)
keys, queries, values = x @ w_key, x @ w_query, x @ w_value

scores = queries @ keys.T
weights = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
print((weights @ values).round(4))
""" + "\n".join("# " + ln for ln in B.np_print(r(Oe, 4), Oe, name='numpy outputs', precision=4).split("\n")) + """
```

In a real Transformer there are many such heads running in parallel, and the outputs are
concatenated and projected again, but the core is exactly what we did above.

*Questions or corrections? Leave a comment below.*
"""
    return t


# ============================================================================
# en02: numpy re-implementation of the illustrated example, as a notebook
# ============================================================================


@article("en02_numpy_selfattention.ipynb", "en", "correct",
         "Jupyter notebook: markdown cells, code cells, stream outputs (numpy print without "
         "commas), execute_result array([...]) with 8-digit scientific notation (e-02, e-06), "
         "then precision=4 suppress=True",
         "self-attention, unscaled, X·W projections (rows = tokens), whole-sequence matrices")
def en02(B):
    X, WK, WQ, WV = ILL_X, ILL_WK, ILL_WQ, ILL_WV
    K, Q, V = X @ WK, X @ WQ, X @ WV
    S = Q @ K.T
    W = softmax(S)
    WVs = W[:, :, None] * V[None, :, :]
    O = WVs.sum(axis=1)
    B.meta["notes"] = ("numpy re-implementation of the three-input example; no scaling; keys = "
                       "x @ w_key with x rows as inputs. All printed outputs are numpy's own prints "
                       "of float64 results (first at default precision in scientific notation, then "
                       "precision=4, suppress=True). Everything is right.")
    n = 0

    def cnt():
        nonlocal n
        n += 1
        return n

    cells = [
        md_cell("# Self-attention from scratch in NumPy\n\n"
                "A companion notebook to the illustrated walk-through: the same three inputs and "
                "the same made-up weights, but every intermediate array is printed so you can "
                "compare it with your own pencil-and-paper version.\n\n"
                "Conventions: inputs are **rows** of `x`, so every projection is `x @ w`."),
        code_cell("import numpy as np", count=cnt()),
        md_cell("## 1. Inputs and weights"),
    ]
    c = cnt()
    cells.append(code_cell("x = np.array([\n    [1, 0, 1, 0],  # input 1\n    [0, 2, 0, 2],  # input 2\n"
                           "    [1, 1, 1, 1],  # input 3\n], dtype=np.float64)\nprint(x)",
                           [stream(B.np_print(X, precision=8, suppress=False))], count=c))
    wsrc = ("w_key = np.array([\n    [0, 0, 1],\n    [1, 1, 0],\n    [0, 1, 0],\n    [1, 1, 0],\n])\n"
            "w_query = np.array([\n    [1, 0, 1],\n    [1, 0, 0],\n    [0, 0, 1],\n    [0, 1, 1],\n])\n"
            "w_value = np.array([\n    [0, 2, 0],\n    [0, 3, 0],\n    [1, 0, 3],\n    [1, 1, 0],\n])")
    cells.append(code_cell(wsrc, count=cnt()))
    cells.append(md_cell("## 2. Keys, queries and values\n\n"
                         "Each input row times a weight matrix gives a 3-dimensional representation."))
    c = cnt()
    cells.append(code_cell("keys = x @ w_key\nkeys",
                           [result(B.np_print(K, K, name="keys", precision=8, suppress=False,
                                              as_repr=True), c)], count=c))
    c = cnt()
    cells.append(code_cell("querys = x @ w_query\nprint(querys)",
                           [stream(B.np_print(Q, Q, name="queries", precision=8, suppress=False))],
                           count=c))
    c = cnt()
    cells.append(code_cell("values = x @ w_value\nvalues",
                           [result(B.np_print(V, V, name="values", precision=8, suppress=False,
                                              as_repr=True), c)], count=c))
    cells.append(md_cell("## 3. Attention scores\n\n"
                         "Row *i* of `querys @ keys.T` holds the dot products of query *i* with "
                         "every key. No scaling in this toy example."))
    c = cnt()
    cells.append(code_cell("attn_scores = querys @ keys.T\nprint(attn_scores)",
                           [stream(B.np_print(S, S, name="attention scores", precision=8,
                                              suppress=False))], count=c))
    cells.append(md_cell("## 4. Softmax over each row"))
    c = cnt()
    cells.append(code_cell("def softmax(z):\n    z = z - z.max(axis=-1, keepdims=True)\n"
                           "    e = np.exp(z)\n    return e / e.sum(axis=-1, keepdims=True)\n\n"
                           "attn_scores_softmax = softmax(attn_scores)\nattn_scores_softmax",
                           [result(B.np_print(W, W, name="softmax of scores", precision=8,
                                              suppress=False, as_repr=True), c)], count=c))
    cells.append(md_cell("Scientific notation makes this hard to read. Four decimals are plenty:"))
    c = cnt()
    cells.append(code_cell("np.set_printoptions(precision=4, suppress=True)\n"
                           "print(attn_scores_softmax)",
                           [stream(B.np_print(W, W, name="softmax of scores (4 dp)"))], count=c))
    c = cnt()
    cells.append(code_cell("attn_scores_softmax.sum(axis=1)",
                           [result(B.np_print(W.sum(axis=1), as_repr=True), c)], count=c))
    cells.append(md_cell("Input 1 puts about 6% of its attention on itself and about 47% on each "
                         "of the other two inputs. Inputs 2 and 3 both look mostly at input 2.\n\n"
                         "## 5. Weighted values\n\n"
                         "`weighted[i, j]` is value *j* scaled by the weight query *i* gives to "
                         "key *j*. Here are the three weighted values for input 1:"))
    c = cnt()
    cells.append(code_cell("weighted = attn_scores_softmax[:, :, None] * values[None, :, :]\n"
                           "print(weighted[0])",
                           [stream(B.np_print(WVs[0], WVs[0], name="weighted values for input 1"))],
                           count=c))
    cells.append(md_cell("## 6. Outputs\n\nSumming over the keys gives one output row per input."))
    c = cnt()
    cells.append(code_cell("outputs = weighted.sum(axis=1)\noutputs",
                           [result(B.np_print(O, O, name="outputs", as_repr=True), c)], count=c))
    c = cnt()
    cells.append(code_cell("np.allclose(outputs, attn_scores_softmax @ values)",
                           [result("True", c)], count=c))
    cells.append(md_cell("The first output, roughly `" + B.vec(O[0], O[0], ".2f", name="output 1 "
                         "(prose)") + "`, is what the hand calculation gives when the softmax is "
                         "not rounded too early."))
    return notebook(cells)


# ============================================================================
# en03: course notes in LaTeX, scaled by 1/sqrt(d_k), projections
# ============================================================================


@article("en03_course_notes_latex.md", "en", "correct",
         "LaTeX bmatrix inside $$ (one-line and multi-line), inline $q_1 = \\begin{bmatrix}..."
         "\\end{bmatrix}$, \\text{} labels, \\frac arithmetic (\\frac{4}{\\sqrt{2}} = 2.828, "
         "\\frac{e^{a}}{e^{a}+...})",
         "self-attention, scaled by 1/sqrt(d_k) with d_k = 2, X·W projections (rows = tokens)")
def en03(B):
    X = A([[1, 0, 1], [0, 1, 1], [1, 1, 0]])
    WQ = A([[1, 0], [0, 1], [1, 1]])
    WK = A([[0, 1], [1, 0], [1, 1]])
    WV = A([[1, 2], [0, 1], [2, 0]])
    Q, K, V = X @ WQ, X @ WK, X @ WV
    S = Q @ K.T
    Ss = S / math.sqrt(2)
    W = softmax(Ss)
    O = W @ V
    B.meta["notes"] = ("Scaled dot-product self-attention, d_k = 2, scores divided by sqrt(2). "
                       "Q = XW^Q (X rows are tokens, W^Q is 3x2). All numbers right at the printed "
                       "precision (3 decimals).")
    L = lambda M, E=None, spec=".3f", name="", ml=False, env="bmatrix": latex(  # noqa: E731
        B.cells(M, E, spec, name=name), env=env, multiline=ml)
    e = lambda v: fmt(v, ".3f")  # noqa: E731
    t = f"""# CS-4xx Lecture 7 — Scaled dot-product attention, worked example

> These notes accompany the lecture slides. Work through the example before the tutorial;
> tutorial question 2 uses the same setup with four tokens.

## 7.1 Setup

We use a three-token sentence *the cat sat* with model dimension $d_{{model}} = 3$ and head
dimension $d_k = d_v = 2$. The token embeddings are the rows of $X$:

$$
X = {L(X, spec='int')}
$$

The projection matrices (normally learned, here chosen by hand) are

$$
W^Q = {L(WQ, spec='int')}, \\quad
W^K = {L(WK, spec='int')}, \\quad
W^V = {L(WV, spec='int')}
$$

## 7.2 Queries, keys and values

Because tokens are rows, we multiply on the right: $Q = XW^Q$, $K = XW^K$, $V = XW^V$.

$$
Q = {L(Q, Q, "int", name="Q")}, \\qquad
K = {L(K, K, "int", name="K")}, \\qquad
V = {L(V, V, "int", name="V")}
$$

For example the query of *the* is $q_1 = {L(Q[:1], Q[:1], "int", name="q_1")}$ and the key
of *cat* is $k_2 = {L(K[1:2], K[1:2], "int", name="k_2")}$.

## 7.3 Scores

The raw scores are all pairwise dot products, $QK^\\top$:

$$
QK^\\top = {L(S, S, "int", name="QK^T", ml=True)}
$$

Dividing by $\\sqrt{{d_k}} = \\sqrt{{2}}$ keeps the scores from growing with the dimension.
For the first entry, $\\frac{{4}}{{\\sqrt{{2}}}} = {B.n(Ss[0, 0], Ss[0, 0], '.3f', what='4/sqrt(2)')}$.
The whole scaled matrix is

$$
\\frac{{QK^\\top}}{{\\sqrt{{d_k}}}} = {L(Ss, Ss, name="scaled scores", ml=True)}
$$

## 7.4 Softmax

Each row is normalised separately. For the first row,

$$
\\alpha_{{11}} = \\frac{{e^{{{e(Ss[0, 0])}}}}}{{e^{{{e(Ss[0, 0])}}} + e^{{{e(Ss[0, 1])}}} + e^{{{e(Ss[0, 2])}}}}} = {B.n(W[0, 0], W[0, 0], '.3f', what='alpha_11')}
$$

and similarly $\\alpha_{{12}} = {B.n(W[0, 1], W[0, 1], '.3f', what='alpha_12')}$,
$\\alpha_{{13}} = {B.n(W[0, 2], W[0, 2], '.3f', what='alpha_13')}$. All three rows:

$$
\\text{{softmax}}\\left(\\frac{{QK^\\top}}{{\\sqrt{{d_k}}}}\\right) = {L(W, W, name="attention weights", ml=True)}
$$

Check: each row sums to 1 (up to rounding).

## 7.5 Output

Finally every token takes the weighted average of the value vectors:

$$
Z = \\text{{softmax}}\\left(\\frac{{QK^\\top}}{{\\sqrt{{d_k}}}}\\right) V = {L(O, O, name="output Z", ml=True)}
$$

The first row, $z_1 = {L(O[:1], O[:1], name="z_1")}$, lies between $v_1$ and $v_2$ because
*the* attends mostly to itself and to *cat*.

**Exercise 7.1.** Repeat the computation without the scaling factor. Which rows become more
peaked? Why does this matter for the gradient of the softmax?
"""
    return t


# ============================================================================
# en04: PyTorch with nn.Linear weights (out, in): Q = X Wᵀ
# ============================================================================

LIN_X = A([[1.0, 0.5, 0.0, 1.0], [0.0, 1.0, 1.0, 0.5], [1.0, 1.0, 0.5, 0.0]])
LIN_WQ = A([[0.2, -0.1, 0.4, 0.3], [0.5, 0.1, -0.2, 0.0], [-0.3, 0.2, 0.1, 0.6]])
LIN_WK = A([[0.1, 0.3, -0.2, 0.5], [-0.4, 0.2, 0.3, 0.1], [0.2, 0.0, 0.6, -0.1]])
LIN_WV = A([[0.3, 0.1, 0.0, -0.2], [0.0, 0.4, 0.2, 0.1], [0.5, -0.3, 0.1, 0.2]])


def param_print(M):
    b = Builder(set())
    s = b.torch_print(M)
    return "Parameter containing:\n" + s[:-1] + ", requires_grad=True)"


@article("en04_pytorch_linear.md", "en", "correct",
         "code blocks with torch prints: Parameter containing: tensor(..., requires_grad=True) "
         "in (out, in) layout, tensor(..., grad_fn=<MmBackward0>), batched tensor([[[...]]]) of "
         "shape (1, 3, 3) with grad_fn=<SoftmaxBackward0>, and torch.Size",
         "self-attention, nn.Linear(4, 3, bias=False) so Q = X·W_qᵀ, scaled by 1/sqrt(3)")
def en04(B):
    X, Wq, Wk, Wv = LIN_X, LIN_WQ, LIN_WK, LIN_WV
    Q, K, V = X @ Wq.T, X @ Wk.T, X @ Wv.T
    S = Q @ K.T / math.sqrt(3)
    W = softmax(S)
    O = W @ V
    B.meta["notes"] = ("PyTorch module with nn.Linear(4, 3, bias=False) projections: the printed "
                       "weights are (out, in) = (3, 4) and q = x @ W_q.T. Scaled by 1/sqrt(3). "
                       "Attention weights and output printed batched with shape (1, 3, 3). "
                       "All numbers right (torch's 4-decimal prints).")
    t = f"""# Writing self-attention in PyTorch (and checking it by hand)

I keep seeing attention implementations that are hard to debug because nobody prints the
intermediate tensors. Below is a minimal single-head module; I fix the weights to small
round numbers so that every step can be verified on paper.

```python
import math
import torch
import torch.nn as nn

class SelfAttention(nn.Module):
    def __init__(self, d_in, d_k):
        super().__init__()
        self.W_q = nn.Linear(d_in, d_k, bias=False)
        self.W_k = nn.Linear(d_in, d_k, bias=False)
        self.W_v = nn.Linear(d_in, d_k, bias=False)
        self.d_k = d_k

    def forward(self, x):
        q, k, v = self.W_q(x), self.W_k(x), self.W_v(x)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_k)
        weights = scores.softmax(dim=-1)
        return weights @ v, weights
```

Note that `nn.Linear` stores its weight as **(out_features, in_features)**, so `self.W_q(x)`
is `x @ W_q.weight.T`, not `x @ W_q.weight`. That transposition trips up a lot of people
when they redo the maths by hand.

## Fixing the weights

```python
torch.manual_seed(0)
attn = SelfAttention(d_in=4, d_k=3)
with torch.no_grad():
    attn.W_q.weight.copy_(torch.tensor({LIN_WQ.tolist()}))
    attn.W_k.weight.copy_(torch.tensor({LIN_WK.tolist()}))
    attn.W_v.weight.copy_(torch.tensor({LIN_WV.tolist()}))
print(attn.W_q.weight)
```

```
{param_print(Wq)}
```

Our "sentence" is three tokens with four features each:

```python
x = torch.tensor({X.tolist()})
```

## Step by step

```python
q = attn.W_q(x); k = attn.W_k(x); v = attn.W_v(x)
print(q); print(k); print(v)
```

```
{B.torch_print(Q, Q, name='q', grad_fn='MmBackward0')}
{B.torch_print(K, K, name='k', grad_fn='MmBackward0')}
{B.torch_print(V, V, name='v', grad_fn='MmBackward0')}
```

The scaled scores, divided by √3 ≈ 1.7321:

```python
scores = q @ k.T / math.sqrt(3)
print(scores)
```

```
{B.torch_print(S, S, name='scaled scores', grad_fn='DivBackward0')}
```

## The batched call

In practice the input has a batch dimension, so let's call the module the way a model would:

```python
out, weights = attn(x.unsqueeze(0))
print(weights.shape)
print(weights)
print(out)
```

```
torch.Size([1, 3, 3])
{B.torch_print(W, W, name='attention weights', grad_fn='SoftmaxBackward0', batch=True)}
{B.torch_print(O, O, name='output', grad_fn='UnsafeViewBackward0', batch=True)}
```

Every row of `weights` sums to one, and the three rows are fairly flat: with weights this
small the scores stay close to zero, so no token dominates. If you multiply all weights by
10 you will see the rows become much peakier — a nice way to build intuition for why the
1/√d_k factor exists.

Compared with `torch.nn.functional.scaled_dot_product_attention(q, k, v)` the outputs agree
to within float32 precision.
"""
    return t


# ============================================================================
# en05: cross-attention, saved HTML page with <table>
# ============================================================================

HTML_HEAD = """<!DOCTYPE html>
<html lang="{lang}">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  <link rel="stylesheet" href="./assets/css/main.css">
  <style>
    table {{ border-collapse: collapse; margin: 1em 0; }}
    th, td {{ border: 1px solid #ccc; padding: 4px 10px; text-align: right; }}
    th {{ background: #f6f6f6; }}
    .caption {{ color: #666; font-size: 0.9em; }}
  </style>
  <script async src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>
</head>
<body>
  <header class="site-header">
    <nav><a href="/">{site}</a> · <a href="/archive/">{archive}</a> · <a href="/about/">{about}</a></nav>
  </header>
  <main>
    <article class="post">
"""

HTML_FOOT = """    </article>
  </main>
  <footer class="site-footer">
    <p>{foot}</p>
  </footer>
</body>
</html>
"""


@article("en05_cross_attention.html", "en", "correct",
         "saved HTML blog page: <table> with <th> row and column labels, MathJax \\( \\) inline "
         "maths, <pre><code> blocks with Python lists",
         "cross-attention: 2 decoder queries against 3 encoder keys, Q = D·W_Q, K = H·W_K, "
         "V = H·W_V, scaled by 1/sqrt(2)")
def en05(B):
    H = A([[1, 0, 1], [0, 1, 0], [1, 1, 1]])
    D = A([[0, 1, 1], [1, 0, 0]])
    WQ = A([[1, 0], [0, 1], [1, 1]])
    WK = A([[1, 1], [0, 1], [1, 0]])
    WV = A([[2, 0], [0, 1], [1, 3]])
    Q, K, V = D @ WQ, H @ WK, H @ WV
    S = Q @ K.T
    Ss = S / math.sqrt(2)
    W = softmax(Ss)
    O = W @ V
    B.meta["notes"] = ("Cross-attention: 2 queries from decoder states D, 3 keys/values from "
                       "encoder states H (rows are tokens, X·W). Scaled by 1/sqrt(d_k), d_k = 2. "
                       "Tables in HTML with labels. All right.")
    src = ["the", "black", "cat"]
    tgt = ["le", "chat"]
    T = lambda M, E=None, spec=".3f", name="", rl=None, cl=None: html_table(  # noqa: E731
        B.cells(M, E, spec, name=name, rl=rl, cl=cl), header=cl, rl=rl)
    head = HTML_HEAD.format(lang="en", title="Cross-attention, one number at a time | Notes on ML",
                            site="Notes on ML", archive="Archive", about="About")
    body = f"""      <h1>Cross-attention, one number at a time</h1>
      <p class="meta">March 2024 · 7 min read · <a href="/tags/transformers/">transformers</a></p>

      <p>Self-attention gets all the press, but the part of the original Transformer that actually
      does the translating is <em>cross-attention</em>: the decoder asks questions, the encoder
      answers. In this post we translate <q>the black cat</q> into French and look at the moment
      the decoder has produced <q>le chat</q> so far. The queries come from the decoder, the
      keys and values from the encoder, so the score matrix is 2&nbsp;×&nbsp;3 instead of square.</p>

      <h2>The states</h2>
      <p>Encoder states (one row per English token), \\(H\\):</p>
{T(H, spec="int", rl=src, cl=["h1", "h2", "h3"])}
      <p>Decoder states (one row per French token produced so far), \\(D\\):</p>
{T(D, spec="int", rl=tgt, cl=["d1", "d2", "d3"])}
      <p>The projections, with \\(d_k = 2\\):</p>
      <pre><code>W_Q = {B.pylist(WQ, spec="int")}
W_K = {B.pylist(WK, spec="int")}
W_V = {B.pylist(WV, spec="int")}</code></pre>

      <h2>Queries, keys, values</h2>
      <p>Queries are computed from the <strong>decoder</strong> states, keys and values from the
      <strong>encoder</strong> states: \\(Q = D W_Q\\), \\(K = H W_K\\), \\(V = H W_V\\).</p>
      <pre><code>Q = {B.pylist(Q, Q, spec="int", name="Q")}
K = {B.pylist(K, K, spec="int", name="K")}
V = {B.pylist(V, V, spec="int", name="V")}</code></pre>

      <h2>Scores</h2>
      <p>Every decoder query is compared with every encoder key, \\(QK^T\\):</p>
{T(S, S, spec="int", name="scores QK^T", rl=tgt, cl=src)}
      <p class="caption">Table 1. Raw dot products.</p>
      <p>Divided by \\(\\sqrt{{2}}\\):</p>
{T(Ss, Ss, name="scaled scores", rl=tgt, cl=src)}
      <p class="caption">Table 2. Scaled scores.</p>

      <h2>Attention weights</h2>
      <p>A softmax along each row turns the scores into a distribution over the English words:</p>
{T(W, W, name="attention weights", rl=tgt, cl=src)}
      <p class="caption">Table 3. Cross-attention weights. Each row sums to 1.</p>
      <p>At the position of <q>le</q>, about {fmt(100 * W[0, 2], ".0f")}% of the attention goes to
      <q>cat</q>, which is exactly the word the decoder needs for its next output, <q>chat</q>.
      At <q>chat</q> the weights are spread between <q>the</q> and <q>cat</q>.</p>

      <h2>Context vectors</h2>
      <p>The weighted sum of the encoder values gives one context vector per decoder position:</p>
{T(O, O, name="context vectors", rl=tgt, cl=["dim 1", "dim 2"])}
      <p class="caption">Table 4. Output of the cross-attention layer.</p>

      <p>Notice that nothing forces the table to be square: with 2 queries and 3 keys we get a
      2&nbsp;×&nbsp;3 weight matrix and a 2&nbsp;×&nbsp;2 output, one row per query.</p>
"""
    foot = HTML_FOOT.format(foot="© 2024 Notes on ML · Built with Jekyll")
    return head + body + foot


# ============================================================================
# en06: d_k = 64, scores given, divided by 8, ASCII tables in a plain-text file
# ============================================================================


@article("en06_dk64_ascii.txt", "en", "correct",
         "plain text with ASCII tables (+------+ borders, === header rule), prose arithmetic "
         "'112 / 8 = 14', labelled value vectors v1 = [..]",
         "self-attention, two tokens, d_k = 64 stated, scores given (64-dim vectors not shown), "
         "divided by 8, softmax, weighted sum of the first four value dimensions")
def en06(B):
    S = A([[112, 96], [88, 120]])
    Ss = S / 8.0
    W = softmax(Ss)
    V = A([[0.5, 1.0, -0.5, 2.0], [1.5, 0.0, 0.5, -1.0]])
    O = W @ V
    B.meta["notes"] = ("The raw scores 112, 96, 88, 120 are given (from 64-dim vectors that are "
                       "not shown) and cannot be checked; the division by sqrt(64) = 8, the softmax "
                       "and the weighted sum of the shown value dimensions can. All right.")
    words = ["Thinking", "Machines"]
    tb = lambda M, E, spec, name: ascii_table(  # noqa: E731
        B.cells(M, E, spec, name=name, rl=["q1", "q2"], cl=["k1", "k2"]),
        header=["k1 (Thinking)", "k2 (Machines)"], rl=["q1 (Thinking)", "q2 (Machines)"])
    t = f"""SELF-ATTENTION IN NUMBERS: THE TWO-WORD EXAMPLE
===============================================

(notes for our reading group, week 3 -- plain text so it survives the mailing list)

We follow the classic two-word input "Thinking Machines". Embeddings have 512 dimensions
and each head works with queries, keys and values of size d_k = 64. We obviously can't
write 64-dimensional vectors out by hand, so assume the dot products have already been
computed. These are the numbers we'll use:

{tb(S, None, "int", "")}
   table 1: raw scores q_i . k_j

1. Scale
--------
The paper divides every score by sqrt(d_k). With d_k = 64 that is sqrt(64) = 8:

    112 / 8 = {B.n(Ss[0, 0], Ss[0, 0], 'int', what='112 / 8')}
     96 / 8 = {B.n(Ss[0, 1], Ss[0, 1], 'int', what='96 / 8')}
     88 / 8 = {B.n(Ss[1, 0], Ss[1, 0], 'int', what='88 / 8')}
    120 / 8 = {B.n(Ss[1, 1], Ss[1, 1], 'int', what='120 / 8')}

{tb(Ss, Ss, "int", "scaled scores")}
   table 2: scores / 8

2. Softmax
----------
For "Thinking" (row q1): e^14 / (e^14 + e^12) = 1 / (1 + e^-2) = {B.n(W[0, 0], W[0, 0], '.3f', what='softmax q1,k1')},
and the rest, {B.n(W[0, 1], W[0, 1], '.3f', what='softmax q1,k2')}, goes to "Machines".

For "Machines" (row q2) the scores are 11 and 15, a gap of 4, so the weights are much more
lopsided:

{tb(W, W, ".3f", "softmax")}
   table 3: softmax per row

3. Weighted sum of the values
-----------------------------
Again we only look at the first four of the 64 value dimensions:

    v1 = [0.5, 1.0, -0.5, 2.0]     (Thinking)
    v2 = [1.5, 0.0, 0.5, -1.0]     (Machines)

    z1 = {fmt(W[0, 0], '.3f')} * v1 + {fmt(W[0, 1], '.3f')} * v2 = {B.vec(O[0], O[0], '.3f', name='z1')}
    z2 = {fmt(W[1, 0], '.3f')} * v1 + {fmt(W[1, 1], '.3f')} * v2 = {B.vec(O[1], O[1], '.3f', name='z2')}

(z1 and z2 computed with the unrounded weights.)

{ascii_table(B.cells(O, O, ".3f", name="output z", rl=["z1", "z2"]), header=["dim 1", "dim 2", "dim 3", "dim 4"], rl=["z1", "z2"])}
   table 4: first four dimensions of the outputs

Discussion points for Thursday:
  * Why 8? What happens to the softmax if we skip the division (try 112 vs 96 directly)?
  * The outputs are convex combinations of v1 and v2: check that every entry of z1 lies
    between the corresponding entries of v1 and v2.
"""
    return t


# ============================================================================
# en07: carried rounding, weights printed at 2 dp, outputs from those
# ============================================================================


@article("en07_rounded_weights_carried.md", "en", "carried",
         "GFM pipe tables without row/column labels, prose arithmetic with rounded weights "
         "(0.33·1 + 0.33·0 + 0.33·1 = 0.66), Python list on one line",
         "self-attention without projections (Q = K = V = X), unscaled; outputs computed from "
         "the 2-dp weights printed in the article")
def en07(B):
    B.carried = True
    X = A([[1, 1, 1, 0], [0, 0, 1, 0], [1, 1, 1, 1]])
    S = X @ X.T
    W = softmax(S)
    Wp = r(W, 2)
    O, Oe = Wp @ X, W @ X
    B.meta["notes"] = ("Q = K = V = X, no scaling. The weights are printed at 2 decimals and the "
                       "author says the outputs are computed from these rounded weights; the "
                       "outputs that differ from the exact values (0.66 for 2/3, 0.99 for 1.00, "
                       "...) follow from the printed weights and are right.")
    g = lambda M, E, spec, name: gfm(B.cells(M, E, spec, name=name),  # noqa: E731
                                     header=[f"col {k + 1}" for k in range(np.shape(M)[1])])
    row = lambda i: " + ".join(f"{fmt(Wp[1, k], '.2f')}·{fmt(X[k, 0], 'int')}" for k in range(3))  # noqa
    t = f"""# Attention is a weighted average (and that's all it is)

People sometimes ask me what self-attention "really does". My answer: it replaces every
token by a weighted average of all tokens, and the weights come from dot products. Let me
show it with the smallest example I could come up with, and no learned weights at all:
queries, keys and values are all just the input matrix.

## The input

Three tokens, four features each:

{g(X, None, "int", "X")}

As a Python list: `X = {B.pylist(X, spec="int")}`.

## Dot products

Multiply X by its own transpose. Entry (i, j) is the dot product of token i with token j:

{g(S, S, "int", "X X^T")}

Token 3 is the "loudest" (it has the most ones), which is why it wins the diagonal.

## Softmax, rounded

Softmax on each row (I round to two decimals, which is plenty for a blog post):

{g(Wp, W, ".2f", "softmax weights")}

Row 2 is perfectly uniform because token 2 has the same dot product (1) with everybody.

## Weighted average

Now the output for each token is its row of weights times X. I'm computing these from the
rounded weights in the table above, so you can redo them with a calculator. For token 2,
first column:

{row(0)} = {B.n(O[1, 0], Oe[1, 0], '.2f', what='output row 2, column 1 (prose)')}

and the full output matrix:

{g(O, Oe, ".2f", "output")}

The rows don't add up to anything in particular; what matters is that row 2 is now the
average of all three tokens, row 1 is pulled half-way towards token 3, and row 3 stays
close to itself.

*If you use the exact weights instead of the rounded ones, a few entries change in the
second decimal, e.g. row 2 becomes 0.67, 0.67, 1.00, 0.33.*
"""
    return t


# ============================================================================
# en08: a wrong dot product in prose, softmax and output computed from it
# ============================================================================


@article("en08_wrong_dot_product.md", "en", "planted",
         "plain-text pipe tables without leading pipe, caption directly above the table (no "
         "blank line), prose dot products 1·1 + 2·2 + 1·1 = 7, softmax written as a vector, "
         "inline-code bullet list of rows (`x2 = [0, 1, 2]`)",
         "self-attention without projections, unscaled")
def en08(B):
    X = A([[1, 2, 1], [0, 1, 2], [2, 1, 0]])
    S = X @ X.T
    Sp = S.copy()
    Sp[0, 0] = B.plant("r1", S[0, 0], 7.0)
    W, Wp = softmax(S), softmax(Sp)
    O, Op = W @ X, Wp @ X
    B.meta["notes"] = ("Q = K = V = X, no scaling. The dot product x1·x1 = 1·1 + 2·2 + 1·1 is "
                       "written as 7 (true 6). The score table repeats the 7 (consequence), the "
                       "softmax of row 1 and output row 1 are computed from [7, 4, 4] "
                       "(consequences). Rows 2 and 3 are right.")
    toks = ["I", "like", "tea"]
    dot = lambda a, b: " + ".join(f"{fmt(p, 'int')}·{fmt(q, 'int')}" for p, q in zip(a, b))  # noqa
    t = f"""# Hand-computing self-attention for "I like tea"

This is the worked example from my study notes, cleaned up a little. No projection
matrices: to see the mechanism itself I use the embeddings directly as queries, keys and
values, and I skip the √d_k scaling.

The three embeddings:

- `x1 = [1, 2, 1]`  (I)
- `x2 = [0, 1, 2]`  (like)
- `x3 = [2, 1, 0]`  (tea)

## Scores for "I"

Dot products of x1 with every token:

- x1 · x1 = {dot(X[0], X[0])} = {B.n(Sp[0, 0], S[0, 0], 'int', root='r1', what='x1·x1')}
- x1 · x2 = {dot(X[0], X[1])} = {B.n(Sp[0, 1], S[0, 1], 'int', what='x1·x2')}
- x1 · x3 = {dot(X[0], X[2])} = {B.n(Sp[0, 2], S[0, 2], 'int', what='x1·x3')}

Doing the same for "like" and "tea" gives the full score matrix:
{plain_pipe(B.cells(Sp, S, 'int', name='score matrix', rl=toks, cl=toks), toks, rl=toks, corner='score')}

## Softmax

Row by row. For "I": softmax({B.vec(Sp[0], S[0], 'int', name='scores of I (echo)')}) = {B.vec(Wp[0], W[0], '.3f', name='softmax of I')}.
"I" attends mostly to itself, which makes sense given its large self-score.

All three rows:
{plain_pipe(B.cells(Wp, W, '.3f', name='attention weights', rl=toks, cl=toks), toks, rl=toks, corner='weight')}

## Output

Each output row is the weighted sum of x1, x2, x3 with that row's weights:
{plain_pipe(B.cells(Op, O, '.3f', name='output', rl=toks), ['d1', 'd2', 'd3'], rl=toks, corner='output')}

So after one round of attention, "I" = {B.vec(Op[0], O[0], '.3f', name='output of I (prose)')} — still
mostly itself, with a little of "like" and "tea" mixed in.

Next time: adding W_Q, W_K and W_V and seeing how they change the picture.
"""
    return t


def swap_last2(x, d=4):
    """Typo: the last two printed digits swapped (0.8412 -> 0.8421)."""
    s = fmt(x, f".{d}f")
    t = s[:-2] + s[-1] + s[-2]
    assert t != s, s
    return float(t)


# ============================================================================
# en09: PyTorch printout with an output entry off in the 4th decimal
# ============================================================================


@article("en09_sdpa_printout_typo.md", "en", "planted",
         "code blocks with torch prints tensor([[...]]) without grad_fn, Python lists inside "
         "torch.tensor(...) source lines, a YAML front matter",
         "scaled dot-product attention on given Q, K, V (no projections), d_k = 4, scale 0.5")
def en09(B):
    Q = A([[0.5, 1.0, 0.0, 1.5], [1.0, 0.0, 1.0, 0.5], [0.0, 0.5, 1.5, 1.0]])
    K = A([[1.0, 0.5, 0.5, 0.0], [0.0, 1.0, 0.5, 1.0], [1.5, 0.0, 0.0, 0.5]])
    V = A([[1.0, 0.0, 2.0], [0.0, 1.5, 1.0], [0.5, 1.0, 0.0]])
    S = Q @ K.T * 0.5
    W = softmax(S)
    O = W @ V
    Op = r(O, 4)
    Op[1, 2] = B.plant("r1", Op[1, 2], swap_last2(O[1, 2]))
    B.meta["notes"] = ("Q, K, V given directly; scores scaled by 1/sqrt(4) = 0.5. The pasted "
                       "output has one entry (row 2, column 3) with its last two digits swapped. "
                       "Nothing is computed from it.")
    t = f"""---
title: "Scaled dot-product attention: checking F.scaled_dot_product_attention by hand"
date: 2024-05-02
tags: [pytorch, transformers]
---

PyTorch 2 ships a fused `F.scaled_dot_product_attention`. Before trusting it inside a model
I wanted to see that it does exactly what the paper says, so I wrote the naive version next
to it and printed everything.

```python
import torch
import torch.nn.functional as F

torch.set_printoptions(precision=4)

Q = torch.tensor({Q.tolist()})
K = torch.tensor({K.tolist()})
V = torch.tensor({V.tolist()})
d_k = Q.shape[-1]
```

Three tokens, d_k = 4, so the scale is 1/√4 = 0.5.

```python
scores = Q @ K.T / d_k ** 0.5
print(scores)
```

```
{B.torch_print(S, S, name='scaled scores')}
```

```python
weights = F.softmax(scores, dim=-1)
print(weights)
```

```
{B.torch_print(W, W, name='attention weights')}
```

Row 1 is dominated by key 2: query 1 and key 2 share the large last coordinate.

```python
out = weights @ V
print(out)
```

```
{B.torch_print(Op, O, name='output', roots={(1, 2): 'r1'})}
```

And the fused kernel:

```python
ref = F.scaled_dot_product_attention(Q[None], K[None], V[None])[0]
print(torch.allclose(out, ref, atol=1e-6))
```

```
True
```

Same result, so the fused version really is just softmax(QKᵀ/√d_k)V — without
materialising the 3 × 3 weight matrix, which is the whole point once the sequence has
thousands of tokens.
"""
    return t


# ============================================================================
# en10: the text divides by sqrt(d_k) but the weights are softmax of raw scores
# ============================================================================


@article("en10_forgot_scaling_pmatrix.md", "en", "planted",
         "LaTeX pmatrix and vmatrix inside \\[ ... \\], inline $d_k = 4$, \\text{} labels, "
         "one-line matrices",
         "attention on given Q, K, V, d_k = 4, the text divides by sqrt(d_k) = 2")
def en10(B):
    Q = A([[2, 0, 1, 1], [0, 1, 2, 0], [1, 1, 0, 2]])
    K = A([[1, 0, 1, 0], [0, 2, 1, 1], [1, 1, 0, 1]])
    V = A([[1, 0, 2], [0, 1, 1], [2, 1, 0]])
    S = Q @ K.T
    Ss = S / 2.0
    W = softmax(Ss)
    Wbad = softmax(S)
    Wp = r(W, 3).copy()
    roots = {}
    for i in range(3):
        rid = f"r{i + 1}"
        good = r(W[i], 3)
        bad = r(Wbad[i], 3)
        Wp[i] = B.plant(rid, good, bad)
        for j in range(3):
            if abs(bad[j] - W[i, j]) > 0.0005:
                roots[(i, j)] = rid
    # outputs are computed from the (unrounded) weights the author actually used
    Wused = np.vstack([softmax(S[i]) if B.on(f"r{i + 1}") else softmax(Ss[i]) for i in range(3)])
    Op = Wused @ V
    O = W @ V
    B.meta["notes"] = ("d_k = 4; the text and the scaled-score matrix divide by 2, but the "
                       "attention weights printed are softmax of the unscaled scores (every row). "
                       "Each wrong weight is a root (one root id per row); the outputs are computed "
                       "from those weights and are consequences.")
    P = lambda M, E=None, spec=".3f", name="", env="pmatrix", roots=None: latex(  # noqa: E731
        B.cells(M, E, spec, name=name, roots=roots), env=env)
    t = f"""# Scaled dot-product attention in three matrices

*Study notes, chapter 3 (attention). Written in Markdown + MathJax.*

The whole of attention fits into one formula:

\\[
\\text{{Attention}}(Q, K, V) = \\text{{softmax}}\\left(\\frac{{QK^\\top}}{{\\sqrt{{d_k}}}}\\right)V
\\]

Let's evaluate it for three tokens with $d_k = 4$. The queries, keys and values (already
projected) are

\\[
Q = {P(Q, spec='int')}, \\quad
K = {P(K, spec='int', env='vmatrix')}, \\quad
V = {P(V, spec='int')}
\\]

**Step 1 — dot products.** Query $i$ against key $j$:

\\[
QK^\\top = {P(S, S, spec='int', name='QK^T')}
\\]

**Step 2 — scale.** $\\sqrt{{d_k}} = \\sqrt{{4}} = 2$, so every score is halved:

\\[
\\frac{{QK^\\top}}{{\\sqrt{{d_k}}}} = {P(Ss, Ss, spec='.1f', name='scaled scores')}
\\]

**Step 3 — softmax** of the scaled scores, along each row:

\\[
\\text{{weights}} = {P(Wp, W, name='attention weights', roots=roots)}
\\]

Query 2 looks almost only at key 2, and query 3 splits its attention between keys 2 and 3.

**Step 4 — weighted sum of the values:**

\\[
\\text{{output}} = \\text{{weights}} \\cdot V = {P(Op, O, name='output')}
\\]

So token 2's new representation, $({', '.join(B.cells(Op[1], O[1], '.3f', name='output row 2 (inline)'))})$,
is essentially $v_2$, as the weights predicted.
"""
    return t


# ============================================================================
# en11: causal self-attention on an HTML page, row 3 left unmasked
# ============================================================================


@article("en11_causal_mask.html", "en", "planted",
         "saved HTML page (Hugo-like theme): <table> with <th> labels, −∞ cells in the masked "
         "score table, zeros in the upper triangle of the weights, <pre> block with a Python list",
         "causal (decoder) self-attention, 4 tokens, X·W projections, scaled by 1/sqrt(2)")
def en11(B):
    X = A([[1, 0, 0], [0, 1, 1], [1, 1, 0], [0, 0, 1]])
    WQ = A([[1, 0], [1, 1], [0, 2]])
    WK = A([[0, 1], [1, 0], [1, 2]])
    WV = A([[1, 0], [0, 2], [3, 1]])
    Q, K, V = X @ WQ, X @ WK, X @ WV
    S = Q @ K.T / math.sqrt(2)
    mask = causal(4)
    Sm = masked(S, mask)
    W = softmax(Sm)
    Wused = W.copy()
    if B.on("r1"):
        Wused[2] = softmax(S[2])          # row 3 computed without its mask
    Wp = r(Wused, 3)
    roots = {(2, j): "r1" for j in range(4) if abs(Wused[2, j] - W[2, j]) > 0.0005}
    O, Op = W @ V, Wused @ V
    B.meta["notes"] = ("Causal self-attention, scaled by 1/sqrt(2), X·W projections. The masked "
                       "score table is right, but the weights of row 3 are a softmax over all four "
                       "keys (the future key 4 is not masked): the four row-3 weights are roots "
                       "(0.xxx in the upper triangle instead of 0.000); output row 3 is computed "
                       "from them (consequences).")
    toks = ["&lt;s&gt;", "the", "cat", "sat"]
    T = lambda M, E=None, spec=".3f", name="", cl=None, roots=None, inf="−∞": html_table(  # noqa
        B.cells(M, E, spec, name=name, rl=toks, cl=cl or toks, roots=roots, inf=inf),
        header=cl or toks, rl=toks, corner="token" if cl else "query \\ key", indent="        ")
    head = """<!DOCTYPE html>
<html lang="en-us">
<head>
<meta charset="utf-8">
<meta name="generator" content="Hugo 0.121.1">
<title>Masking the future: causal attention by hand · bits &amp; heads</title>
<meta name="description" content="A four-token causal self-attention example worked out by hand.">
<link rel="stylesheet" href="/css/style.min.css">
</head>
<body class="single">
<div class="container">
  <header><h2 class="site-title"><a href="/">bits &amp; heads</a></h2></header>
  <div class="content">
    <div class="post">
      <h1 class="post-title">Masking the future: causal attention by hand</h1>
      <div class="post-date">Jan 14, 2024</div>
"""
    body = f"""      <p>A language model that predicts the next word must not peek at it. In a decoder this is
      done with a <em>causal mask</em>: before the softmax, every score where the key comes
      after the query is replaced by minus infinity, so its weight becomes exactly zero.
      Here is the whole computation for the four tokens <code>&lt;s&gt; the cat sat</code>.</p>

      <h3>Inputs and projections</h3>
      <pre>X   = {B.pylist(X, spec="int")}
W_Q = {B.pylist(WQ, spec="int")}
W_K = {B.pylist(WK, spec="int")}
W_V = {B.pylist(WV, spec="int")}</pre>
      <p>Tokens are rows, so <code>Q = X @ W_Q</code> and so on:</p>
      <pre>Q = {B.pylist(Q, Q, spec="int", name="Q")}
K = {B.pylist(K, K, spec="int", name="K")}
V = {B.pylist(V, V, spec="int", name="V")}</pre>

      <h3>Masked, scaled scores</h3>
      <p>Scores are <code>Q @ K.T / sqrt(2)</code>; the upper triangle is masked:</p>
{T(Sm, Sm, name="masked scaled scores")}

      <h3>Attention weights</h3>
      <p>Softmax along each row. Because e<sup>−∞</sup> = 0, the masked cells get weight 0:</p>
{T(Wp, W, name="attention weights", roots=roots)}
      <p>The first token can only attend to itself, so its row is a single 1.</p>

      <h3>Output</h3>
{T(Op, O, name="output", cl=["dim 1", "dim 2"])}
      <p>Row 1 is simply v<sub>1</sub>, and each later row mixes only the values of the tokens
      seen so far. That is the property that lets us train on all positions of a sentence in
      parallel.</p>
"""
    foot = """    </div>
  </div>
  <footer><p>&copy; 2024 bits &amp; heads. Powered by Hugo.</p></footer>
</div>
</body>
</html>
"""
    return head + body + foot


# ============================================================================
# en12: cross-attention, ASCII tables in code fences, a digit swap in the weights
# ============================================================================


@article("en12_cross_attention_ascii.md", "en", "planted",
         "ASCII tables (+----+ borders) inside ``` fences with token labels, a one-line "
         "Python list per matrix, prose 'weighted sum' with the weights repeated",
         "cross-attention, 3 queries x 4 keys, Q, K, V given, scaled by 1/sqrt(2); outputs "
         "computed from the printed 2-dp weights")
def en12(B):
    B.carried = True
    Q = A([[1, 0], [0, 1], [1, 1]])
    K = A([[1, 1], [2, 0], [0, 2], [1, -1]])
    V = A([[1, 0, 1], [2, 1, 0], [0, 2, 1], [1, 1, 1]])
    S = Q @ K.T / math.sqrt(2)
    W = softmax(S)
    Wp = r(W, 2)
    good = Wp[1, 2]
    s = fmt(good, ".2f")
    Wp[1, 2] = B.plant("r1", good, float(s[:-2] + s[-1] + s[-2]))
    O, Op = W @ V, Wp @ V
    B.meta["notes"] = ("Cross-attention (3 decoder queries, 4 encoder keys), Q, K, V given, scaled "
                       "by 1/sqrt(2). The weight of query 2 on key 3 has its two digits swapped "
                       f"({s} written {fmt(Wp[1, 2], '.2f')}); the context vectors are computed from "
                       "the printed 2-dp weights, so row 2 inherits the typo (consequences) while "
                       "the small differences in rows 1 and 3 are carried roundings.")
    qs, ks = ["y1", "y2", "y3"], ["x1", "x2", "x3", "x4"]
    tb = lambda M, E, spec, name, cl, roots=None: ascii_table(  # noqa: E731
        B.cells(M, E, spec, name=name, rl=qs, cl=cl, roots=roots), header=cl, rl=qs, corner="")
    t = f"""# Cross-attention for people who like tables

In an encoder-decoder model the decoder does not only attend to itself; it also looks at the
encoder's output. The mechanics are the same as self-attention, except that the queries come
from one sequence (the decoder, `y`) and the keys and values from another (the encoder, `x`).
Here are 3 decoder positions and 4 encoder positions with d_k = 2.

Decoder queries, encoder keys and encoder values (already projected):

```
Q = {B.pylist(Q, spec='int')}
K = {B.pylist(K, spec='int')}
V = {B.pylist(V, spec='int')}
```

## Scores

S = Q Kᵀ / √2, one row per decoder position, one column per encoder position:

```
{tb(S, S, '.3f', 'scaled scores', ks)}
```

## Weights

Softmax along each row, rounded to two decimals:

```
{tb(Wp, W, '.2f', 'cross-attention weights', ks, roots={(1, 2): 'r1'})}
```

## Context vectors

Each decoder position gets the weighted sum of the encoder values, using the weights above.
For y1 that is {' + '.join(fmt(Wp[0, k], '.2f') + '·v' + str(k + 1) for k in range(4))}, giving
{B.vec(Op[0], O[0], '.2f', name='context y1 (prose)')}. All three:

```
{tb(Op, O, '.2f', 'context vectors', ['c1', 'c2', 'c3'])}
```

The decoder position y2 ends up mostly with information from x3, y1 from x1 and x2, and y3
spreads its attention over the first three encoder positions. None of them is "forbidden" to
look anywhere: unlike the decoder's self-attention, cross-attention has no causal mask.
"""
    return t


# ============================================================================
# en13: cheat sheet with model sizes, positional encodings, memory table
# ============================================================================

GPT2_SIZES = [("GPT-2 small", 12, 768, 12, "124M"), ("GPT-2 medium", 24, 1024, 16, "355M"),
              ("GPT-2 large", 36, 1280, 20, "774M"), ("GPT-2 XL", 48, 1600, 25, "1.5B")]


def pe_table(npos, d):
    P = np.zeros((npos, d))
    for pos in range(npos):
        for i in range(0, d, 2):
            P[pos, i] = math.sin(pos / 10000 ** (i / d))
            P[pos, i + 1] = math.cos(pos / 10000 ** (i / d))
    return P


@article("en13_cheatsheet_mixed_tables.md", "en", "mixed",
         "GFM table of model sizes (layers, d_model, heads, d_head, parameters), box-drawing "
         "tables (┌─┬─┐) for a positional-encoding table and for the attention example, a "
         "memory table (n, n², MiB)",
         "self-attention without projections, scaled by 1/sqrt(4) = 0.5; the other tables are "
         "not attention")
def en13(B):
    X = A([[1, 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0]])
    S = X @ X.T
    Ss = S / 2.0
    W = softmax(Ss)
    O = W @ X
    P = pe_table(4, 4)
    B.meta["notes"] = ("A cheat sheet with three non-attention tables (GPT-2 sizes, sinusoidal "
                       "positional encodings for d_model = 4, memory of the n x n score matrix) and "
                       "a correct attention example (Q = K = V = X, scaled by 1/2) in box-drawing "
                       "tables. Only the attention numbers are registered; the other tables are "
                       "right too and must not produce findings.")
    sizes = gfm([[name, str(L), str(d), str(h), str(d // h), p] for name, L, d, h, p in GPT2_SIZES],
                header=["model", "layers", "d_model", "heads", "d_head", "parameters"])
    pe_cells = [[fmt(x, ".4f") for x in row] for row in P]
    pe = box_table(pe_cells, header=["dim 0 (sin)", "dim 1 (cos)", "dim 2 (sin)", "dim 3 (cos)"],
                   rl=["pos 0", "pos 1", "pos 2", "pos 3"], corner="")
    mem = gfm([[f"{n:,}", f"{n * n:,}", fmt(n * n * 2 / 2**20, 'g')] for n in (512, 2048, 8192)],
              header=["sequence length n", "entries n²", "fp16 MiB per head"])
    toks = ["a", "b", "c"]
    bx = lambda M, E, spec, name, cl: box_table(  # noqa: E731
        B.cells(M, E, spec, name=name, rl=toks, cl=cl), header=cl, rl=toks, corner="")
    t = f"""# Transformer cheat sheet

A one-page reference I keep open while reading papers. Numbers first, then one tiny worked
example of attention so I remember which way the softmax goes.

## 1. Model sizes

{sizes}

Every GPT-2 variant uses 64-dimensional heads; bigger models get more heads, not bigger ones.

## 2. Sinusoidal positional encodings

PE(pos, 2i) = sin(pos / 10000^(2i/d_model)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d_model)).
For a toy d_model = 4 the first four positions are:

{pe}

Dimension pair (0, 1) rotates once every 2π positions, pair (2, 3) a hundred times slower.

## 3. Memory of the score matrix

The n × n score matrix is what makes vanilla attention quadratic:

{mem}

## 4. Attention in one small example

Three tokens a, b, c with d = 4, no projections (Q = K = V = X) and the usual 1/√d scaling,
here 1/√4 = 1/2.

X:

{box_table([[fmt(x, 'int') for x in row] for row in X], header=['x1', 'x2', 'x3', 'x4'], rl=toks)}

Scaled scores XXᵀ / 2:

{bx(Ss, Ss, '.1f', 'scaled scores', toks)}

Softmax over each row (rows sum to 1):

{bx(W, W, '.4f', 'softmax weights', toks)}

Output = weights · X:

{bx(O, O, '.4f', 'output', ['x1', 'x2', 'x3', 'x4'])}

Token c, which overlaps with both a and b, ends up as the most even mixture.
"""
    return t


# ============================================================================
# en14: prose only -- nothing to check
# ============================================================================


@article("en14_intuition_prose_only.md", "en", "nothing",
         "prose, the attention formula in LaTeX, a table of symbols and shapes, a GFM table of "
         "model sizes",
         "no worked example")
def en14(B):
    B.meta["expect_exit"] = 3
    B.meta["notes"] = ("An intuition post: formula, shapes, model sizes, no worked example and no "
                       "computed attention number. Expected exit 3.")
    sizes = gfm([[name, str(L), str(d), str(h), p] for name, L, d, h, p in GPT2_SIZES],
                header=["model", "layers", "d_model", "heads", "parameters"])
    t = f"""# An intuition for attention (no maths degree required)

You have probably seen this formula a hundred times:

$$
\\mathrm{{Attention}}(Q, K, V) = \\mathrm{{softmax}}\\!\\left(\\frac{{QK^\\top}}{{\\sqrt{{d_k}}}}\\right) V
$$

Here is how I explain it to colleagues who do not work in machine learning.

## A library, not a dictionary

A Python dictionary returns exactly one value for a key, and only if the key matches
exactly. Attention is a *soft* dictionary: your query is compared with every key, every
value is returned, and each one is weighted by how well its key matched. Good matches count
a lot, poor matches count a little, none counts zero.

## Who asks, who answers

In self-attention every word plays all three roles at once. "it" in *the animal didn't cross
the street because it was too tired* sends out a query that is close to the key of
"animal", so the output for "it" borrows heavily from the value of "animal".

## Shapes

| symbol | shape | meaning |
|---|---|---|
| X | n × d_model | one row per token |
| W_Q, W_K | d_model × d_k | learned projections |
| W_V | d_model × d_v | learned projection |
| QKᵀ | n × n | one score per pair of tokens |
| output | n × d_v | one new vector per token |

## Why the square root?

Dot products of long random vectors have a large variance, which pushes the softmax into a
regime where one weight is close to one and the gradients of all others vanish. Dividing by
the square root of the key dimension keeps the scores in a reasonable range.

## How big are real models?

{sizes}

Each of these runs the formula above once per head, per layer, per token. In the next post
we will actually push numbers through it.
"""
    return t


# ============================================================================
# en15: an exercise notebook with inputs only -- nothing to check
# ============================================================================


@article("en15_exercise_inputs_only.ipynb", "en", "nothing",
         "Jupyter notebook: markdown cells, code cells printing the given matrices (numpy "
         "prints), an empty solution cell",
         "exercise sheet: only the inputs (X, W_Q, W_K, W_V) are printed; no computed step")
def en15(B):
    B.meta["expect_exit"] = 3
    B.meta["notes"] = ("Exercise notebook: X and three weight matrices are printed, the solution "
                       "cells are empty. Nothing computed; expected exit 3.")
    X = A([[1, 0, 2, 0], [0, 1, 1, 1], [2, 1, 0, 1]])
    Wq = A([[0.5, 0.0], [0.0, 1.0], [1.0, 0.5], [0.5, 0.5]])
    Wk = A([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [1.0, 0.5]])
    Wv = A([[1.0, 2.0], [0.0, 1.0], [1.0, 0.0], [2.0, 1.0]])
    cells = [
        md_cell("# Exercise 3 — Self-attention by hand\n\n"
                "Compute the output of one self-attention head **by hand** (paper or markdown), "
                "then check it with numpy in the last cell.\n\n"
                "* tokens are the rows of `X`\n"
                "* projections are `X @ W_q`, `X @ W_k`, `X @ W_v`\n"
                "* scale the scores by $1/\\sqrt{d_k}$ with $d_k = 2$"),
        code_cell("import numpy as np\nnp.set_printoptions(precision=3, suppress=True)", count=1),
        code_cell(f"X = np.array({X.astype(int).tolist()}, dtype=float)\nprint(X)",
                  [stream(B.np_print(X, precision=3))], count=2),
        code_cell(f"W_q = np.array({Wq.tolist()})\nW_k = np.array({Wk.tolist()})\n"
                  f"W_v = np.array({Wv.tolist()})\nprint(W_q, W_k, W_v, sep='\\n\\n')",
                  [stream(B.np_print(Wq, precision=3) + "\n\n" + B.np_print(Wk, precision=3)
                          + "\n\n" + B.np_print(Wv, precision=3))], count=3),
        md_cell("**Task 1.** Write down $Q$, $K$ and $V$.\n\n"
                "**Task 2.** Compute the scaled scores and the attention weights (3 decimals).\n\n"
                "**Task 3.** Compute the output. Which token attends most to itself?"),
        code_cell("# your solution here\n", count=None),
        md_cell("*Hand in the notebook with your solution cells executed.*"),
    ]
    return notebook(cells)


# ============================================================================
# en16: a Q&A with several one-line matrices and code comments
# ============================================================================


@article("en16_qa_one_liners.md", "en", "correct",
         "several matrices on one line (`Q = K = [[1,0],[0,1]]  V = [[1,2],[3,4]]`), Python "
         "lists on one line, x_1: [..] labelled vectors, code comments with results "
         "(# [[2, 1, 1], ...]), prose arithmetic e^0.7071 / (e^0.7071 + e^0) = 0.6698",
         "three small self-attention examples: scaled by 1/sqrt(2) with Q = K given; a "
         "scaled-up version; Q = K = V = X unscaled")
def en16(B):
    Q = A([[1, 0], [0, 1]])
    V = A([[1, 2], [3, 4]])
    S = Q @ Q.T / math.sqrt(2)
    W = softmax(S)
    O = W @ V
    Q10 = Q * 10
    S10 = Q10 @ Q10.T / math.sqrt(2)
    W10 = softmax(S10)
    O10 = W10 @ V
    X = A([[1, 0, 1], [0, 1, 1], [1, 1, 0]])
    SX = X @ X.T
    WX = softmax(SX)
    OX = WX @ X
    B.meta["notes"] = ("Q&A page. Example 1: Q = K = I (2x2), V = [[1,2],[3,4]], d_k = 2, scaled; "
                       "example 2: Q = K = 10 I; example 3: x_1..x_3 with Q = K = V = X, unscaled, "
                       "results given in code comments. All right.")
    t = f"""**Why is the attention not one-hot when Q and K are identical?**

Asked 2 years ago · Modified 1 year ago · Viewed 3k times

I'm testing a hand-written attention function on the smallest input I could think of:

```
Q = K = [[1,0],[0,1]]  V = [[1,2],[3,4]]  d_k = 2
```

I expected each query to pick exactly its own key, so the output should just be V. Instead I get

```
weights = {B.pylist(W, W, '.4f', name='weights (question)')}
output  = {B.pylist(O, O, '.4f', name='output (question)')}
```

Is my softmax broken?

---

**Answer** (score 14)

Nothing is broken. Softmax never outputs exact zeros, and with such small scores the
difference between "match" and "no match" is tiny. The scaled scores are

    QKᵀ/√2 = {B.pylist(S, S, '.4f', name='scaled scores (answer)')}

so for the first query the weight on key 1 is

    e^0.7071 / (e^0.7071 + e^0) = {B.n(W[0, 0], W[0, 0], '.4f', what='weight q1,k1 (answer)')}

and the remaining {B.n(W[0, 1], W[0, 1], '.4f', what='weight q1,k2 (answer)')} goes to key 2. The output row is
{fmt(W[0, 0], '.4f')}·[1, 2] + {fmt(W[0, 1], '.4f')}·[3, 4] = {B.vec(O[0], O[0], '.4f', name='output row 1 (answer)')}, exactly what you got.

Make the vectors longer and the picture changes. With ten times larger queries and keys:

```
Q = K = [[10,0],[0,10]]  V = [[1,2],[3,4]]
weights ≈ {B.pylist(W10, W10, '.4f', name='weights, scaled-up example')}
output  ≈ {B.pylist(O10, O10, '.4f', name='output, scaled-up example')}
```

Now the weights are one-hot to four decimals and the output is V.

---

**Answer** (score 5)

To add to the above, here is a three-token check without scaling that you can paste into
your tests. Token vectors:

x_1: [1, 0, 1]
x_2: [0, 1, 1]
x_3: [1, 1, 0]

```python
X = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0]], dtype=float)
scores = X @ X.T           # {B.pylist(SX, SX, 'int', name='scores (code comment)')}
weights = softmax(scores)  # {B.pylist(WX[:1], WX[:1], '.4f', name='weights row 1 (code comment)')[:-1]}, ...]
out = weights @ X          # {B.pylist(OX[:1], OX[:1], '.4f', name='output row 1 (code comment)')[:-1]}, ...]
```

Every token attends most to itself (score 2 versus 1), with weight
{B.n(WX[0, 0], WX[0, 0], '.4f', what='self weight (answer 2)')}. For token 1 the first weighted value is
{fmt(WX[0, 0], '.4f')} * [1, 0, 1] = {B.vec(WX[0, 0] * X[0], WX[0, 0] * X[0], lambda x: fmt(x, '.4f') if x else '0', name='weighted value 1 of token 1')}, and the other two add
{fmt(WX[0, 1], '.4f')} * [0, 1, 1] and {fmt(WX[0, 2], '.4f')} * [1, 1, 0].
"""
    return t


# ============================================================================
# en17: LaTeX array environment, 2-dp weights carried into the outputs
# ============================================================================


@article("en17_latex_array_carried.md", "en", "carried",
         "LaTeX \\left[\\begin{array}{ccc} ... \\end{array}\\right] inside $$, inline $...$ "
         "numbers, \\frac{e^{...}}{...} arithmetic, output rows written as "
         "0.52 \\cdot [1, 2] + ...",
         "self-attention, Q = K = V = X, scaled by 1/sqrt(2); outputs computed from the printed "
         "2-dp weights")
def en17(B):
    B.carried = True
    X = A([[1, 2], [3, 1], [0, 1]])
    S = X @ X.T / math.sqrt(2)
    W = softmax(S)
    Wp = r(W, 2)
    O, Oe = Wp @ X, W @ X
    B.meta["notes"] = ("Q = K = V = X (3 tokens, d = 2), scaled by 1/sqrt(2). Scaled scores at "
                       "3 dp, weights at 2 dp, outputs computed from the 2-dp weights: entries "
                       "that differ from the exact outputs follow from the printed weights.")
    L = lambda M, E=None, spec=".2f", name="": latex(  # noqa: E731
        B.cells(M, E, spec, name=name), env="array", multiline=True)
    f2 = lambda x: fmt(x, ".2f")  # noqa: E731
    e3 = lambda x: fmt(x, ".3f")  # noqa: E731
    t = f"""# Self-attention with two-dimensional tokens

Two dimensions are the most we can draw, so let's use them. Three tokens with embeddings
$x_1 = (1, 2)$, $x_2 = (3, 1)$ and $x_3 = (0, 1)$; no projections, so $Q = K = V = X$, and
$d_k = 2$.

$$
X = {L(X, spec="int")}
$$

## Scores

$$
\\frac{{XX^\\top}}{{\\sqrt{{2}}}} = {L(S, S, ".3f", "scaled scores")}
$$

## Weights

For token 1:
$\\alpha_{{11}} = \\frac{{e^{{{e3(S[0, 0])}}}}}{{e^{{{e3(S[0, 0])}}} + e^{{{e3(S[0, 1])}}} + e^{{{e3(S[0, 2])}}}}} = {B.n(Wp[0, 0], W[0, 0], '.2f', what='alpha_11')}$.
All weights, rounded to two decimals:

$$
A = {L(Wp, W, ".2f", "weights A")}
$$

## Outputs

I compute the outputs from the rounded weights in $A$:

$$
z_1 = {f2(Wp[0, 0])} \\cdot [1, 2] + {f2(Wp[0, 1])} \\cdot [3, 1] + {f2(Wp[0, 2])} \\cdot [0, 1] = [{', '.join(B.cells(O[0], Oe[0], '.2f', name='z_1'))}]
$$

and in the same way

$$
Z = AX = {L(O, Oe, ".2f", "Z")}
$$

Token 2 is the longest vector: it takes almost all of its own attention and half of token
1's, so $z_1$ and $z_2$ are pulled towards $x_2 = (3, 1)$. Token 3 is short, its scores are
small, and its weights stay closest to uniform.
"""
    return t


def strip0(d):
    """Author's habit: '1.50' -> '1.5', '1.00' -> '1'."""
    def f(x):
        s = fmt(x, f".{d}f")
        return s.rstrip("0").rstrip(".") if "." in s else s
    return f


# ============================================================================
# zh01: plain-text pipe tables in the seed's style, correct
# ============================================================================


@article("zh01_xxt_plain_tables.txt", "zh", "correct",
         "纯文本：无前导竖线的管道表格（表头与表格之间无空行，'~' 角标），逐行给出的向量 [1, 0, 1, 1, 0]，"
         "输出行去掉末尾的零（'1.5'、'1' 与两位小数混排）",
         "自注意力，不做投影（Q = K = V = X），不缩放：softmax(XXᵀ)X")
def zh01(B):
    X = A([[1, 0, 1, 1, 0], [0, 1, 1, 0, 1], [1, 1, 0, 1, 1]])
    S = X @ X.T
    W = softmax(S)
    O = W @ X
    B.meta["notes"] = ("Q = K = V = X, unscaled softmax(XX^T)X. Output rows printed with trailing "
                       "zeros removed ('1' among 2-dp numbers is judged at 2 dp). All right.")
    toks = ["“猫”", "“吃”", "“鱼”"]
    rowv = lambda i: "[" + ", ".join(B.cells(O[i], O[i], strip0(2), name=f"输出第{i + 1}行")) + "]"  # noqa
    t = f"""自注意力手算一遍，其实没那么难
很多同学看完 Transformer 论文还是一头雾水，我的建议是：拿一个最小的例子，自己用笔算一遍。下面这个例子只有三个字，每个字 5 维，全程不需要计算器以外的任何工具。
为了突出注意力本身，这里先不引入 $W^Q$、$W^K$、$W^V$，直接令 $Q = K = V = X$，也先不除以 $\\sqrt{{d_k}}$。
公式：$\\operatorname{{softmax}}(XX^T)X$
假设“猫吃鱼”三个字的向量分别是：
[1, 0, 1, 1, 0]
[0, 1, 1, 0, 1]
[1, 1, 0, 1, 1]
$X^T$ 为：
{plain_pipe([[fmt(x, 'int') for x in row] for row in X.T], toks)}
第一步，$XX^T$（每个字和每个字做点积）：
{plain_pipe(B.cells(S, S, 'int', name='XX^T', rl=toks, cl=toks), toks, rl=toks)}
可以看到对角线上“鱼”最大（4），因为它的向量里 1 最多。
第二步，对每一行做 softmax，$\\operatorname{{softmax}}(XX^T)$ 为：
{plain_pipe(B.cells(W, W, '.3f', name='softmax(XX^T)', rl=toks, cl=toks), toks, rl=toks)}
每一行加起来都是 1。“猫”和“吃”都把最多的注意力给了自己和“鱼”。
第三步，用权重对 $X$ 加权求和，$\\operatorname{{softmax}}(XX^T)X$ 为：
{rowv(0)}
{rowv(1)}
{rowv(2)}
这就是三个字经过一次自注意力之后的新表示。和原来的 0/1 向量相比，每个字都“吸收”了其他字的一部分信息。
下一篇我们加上 $W^Q$、$W^K$、$W^V$ 和缩放因子，再算一遍。
"""
    return t


# ============================================================================
# zh02: CSDN-style post, GFM tables with token labels, scaled, projections
# ============================================================================


@article("zh02_csdn_gfm_scaled.md", "zh", "correct",
         "GFM 管道表格（行列均带词标签）、LaTeX 行内公式、代码块；表格标题写在上一行",
         "自注意力，X·W 投影（W^Q、W^K、W^V 为 4×3，行是词），除以 √d_k = √3")
def zh02(B):
    X = A([[1, 0, 1, 0], [0, 1, 0, 1], [1, 1, 1, 0], [0, 0, 1, 1]])
    WQ = A([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    WK = A([[0, 1, 1], [1, 0, 0], [0, 1, 0], [1, 0, 1]])
    WV = A([[1, 0, 0], [0, 2, 1], [1, 0, 1], [0, 1, 0]])
    Q, K, V = X @ WQ, X @ WK, X @ WV
    S = Q @ K.T
    Ss = S / math.sqrt(3)
    W = softmax(Ss)
    O = W @ V
    B.meta["notes"] = ("Q = XW^Q etc. with X rows as tokens, d_k = 3, scores divided by sqrt(3). "
                       "Tables labelled with the four characters. All right at 4 dp.")
    toks = ["机", "器", "学", "习"]
    g = lambda M, E=None, spec="int", name="", cl=None: gfm(  # noqa: E731
        B.cells(M, E, spec, name=name, rl=toks, cl=cl or toks), header=cl or toks, rl=toks,
        corner="")
    dims3 = ["d1", "d2", "d3"]
    t = f"""# 【Transformer】Self-Attention 详细计算过程（附完整数值例子）

> 本文为博主原创文章，转载请附上原文出处链接和本声明。

最近在复习 Transformer，发现网上很多文章只贴公式不给数，于是自己造了一个小例子，把缩放点积注意力（Scaled Dot-Product Attention）从头到尾算了一遍，分享出来，有错误欢迎评论区指正。

## 一、输入

输入句子为“机器学习”，共 4 个词（这里一个字当一个词），每个词用 4 维向量表示，组成输入矩阵 $X$（每一行是一个词）：

{g(X, cl=["x1", "x2", "x3", "x4"])}

## 二、三个权重矩阵

查询权重矩阵 $W^Q$、键权重矩阵 $W^K$、值权重矩阵 $W^V$ 的形状都是 4×3（实际中是训练出来的，这里随便给的）：

$W^Q$：

{gfm([[fmt(x, 'int') for x in row] for row in WQ], header=dims3)}

$W^K$：

{gfm([[fmt(x, 'int') for x in row] for row in WK], header=dims3)}

$W^V$：

{gfm([[fmt(x, 'int') for x in row] for row in WV], header=dims3)}

## 三、计算 Q、K、V

$Q = XW^Q$，$K = XW^K$，$V = XW^V$：

Q 矩阵

{g(Q, Q, name="Q", cl=dims3)}

K 矩阵

{g(K, K, name="K", cl=dims3)}

V 矩阵

{g(V, V, name="V", cl=dims3)}

## 四、注意力分数

$QK^T$ 的第 $i$ 行第 $j$ 列表示第 $i$ 个词的查询和第 $j$ 个词的键的点积：

{g(S, S, name="QK^T")}

这里 $d_k = 3$，所以要除以 $\\sqrt{{3}} \\approx 1.7321$，得到缩放后的分数：

{g(Ss, Ss, ".4f", name="QK^T / sqrt(3)")}

## 五、Softmax

对每一行做 softmax，得到注意力权重：

{g(W, W, ".4f", name="attention weights")}

“机”“学”“习”都把最多的注意力放在“学”上，“器”则在“机”和“学”之间平分。

## 六、加权求和

最后用注意力权重对 $V$ 加权求和，得到输出 $Z$：

{g(O, O, ".4f", name="Z", cl=dims3)}

## 七、代码验证

```python
import numpy as np
X = np.array({X.astype(int).tolist()})
WQ = np.array({WQ.astype(int).tolist()})
WK = np.array({WK.astype(int).tolist()})
WV = np.array({WV.astype(int).tolist()})
Q, K, V = X @ WQ, X @ WK, X @ WV
scores = Q @ K.T / np.sqrt(3)
weights = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
print(np.round(weights @ V, 4))
```

运行结果与上表一致。如果觉得有帮助，点个赞再走吧~
"""
    return t


# ============================================================================
# zh03: Zhihu-style, box-drawing tables, causal mask with -∞
# ============================================================================


@article("zh03_zhihu_box_causal.md", "zh", "correct",
         "box-drawing 表格（┌─┬─┐ │ └─┴─┘，带行列标签），掩码分数中的 -∞，上三角为 0 的权重，"
         "行内 LaTeX $W_q$，查询权重矩阵 Wq 等中文名称",
         "因果（解码器）自注意力，3 个词，X·W 投影（3×2），除以 √2")
def zh03(B):
    X = A([[1, 1, 0], [0, 1, 2], [2, 0, 1]])
    WQ = A([[1, 0], [0, 1], [1, 1]])
    WK = A([[1, 1], [0, 1], [1, 0]])
    WV = A([[2, 0], [1, 1], [0, 3]])
    Q, K, V = X @ WQ, X @ WK, X @ WV
    S = Q @ K.T / math.sqrt(2)
    Sm = masked(S, causal(3))
    W = softmax(Sm)
    O = W @ V
    B.meta["notes"] = ("Causal self-attention, X·W projections, divided by sqrt(2); masked scores "
                       "shown with -∞ in the upper triangle, weights with 0.000. All right.")
    toks = ["今天", "天气", "不错"]
    bx = lambda M, E=None, spec=".3f", name="", cl=None, inf="-∞": box_table(  # noqa: E731
        B.cells(M, E, spec, name=name, rl=toks, cl=cl or toks, inf=inf), header=cl or toks,
        rl=toks)
    t = f"""# 一文看懂 Masked Self-Attention（附手算）

**问题：GPT 为什么看不到后面的词？**

答案就是 Masked Self-Attention，也叫因果注意力。下面我用一个只有三个词的例子，把“遮住未来”这件事从头算一遍。

## 1. 输入与权重

句子是“今天 天气 不错”，每个词 3 维：

{box_table([[fmt(x, 'int') for x in row] for row in X], header=['e1', 'e2', 'e3'], rl=toks)}

查询权重矩阵 $W_q$、键权重矩阵 $W_k$、值权重矩阵 $W_v$（3×2）：

```
Wq = {B.pylist(WQ, spec='int')}
Wk = {B.pylist(WK, spec='int')}
Wv = {B.pylist(WV, spec='int')}
```

## 2. Q、K、V

行向量右乘权重矩阵：$Q = XW_q$，$K = XW_k$，$V = XW_v$。

{box_table(B.cells(np.hstack([Q, K, V]), np.hstack([Q, K, V]), 'int', name='Q | K | V', rl=toks), header=['q1', 'q2', 'k1', 'k2', 'v1', 'v2'], rl=toks)}

## 3. 打分并缩放

$QK^T/\\sqrt{{2}}$，然后把上三角（未来的位置）填成 -∞：

{bx(Sm, Sm, name="masked scaled scores")}

## 4. softmax

$e^{{-\\infty}} = 0$，所以被遮住的位置权重正好是 0：

{bx(W, W, name="attention weights")}

第一个词只能看见自己，所以权重是 1；“天气”有 {fmt(100 * W[1, 1], '.0f')}% 的注意力在自己身上。

## 5. 输出

{bx(O, O, name="output", cl=["z1", "z2"])}

可以验证：第一行就是“今天”自己的值向量 $v_1$，第二行只混合了 $v_1$ 和 $v_2$，完全没有用到“不错”的信息。这就是训练时可以并行、推理时却要一个词一个词生成的原因。

---
*觉得有用的话点个赞同吧，评论区可以讨论 KV Cache。*
"""
    return t


# ============================================================================
# zh04: notebook, causal mask, numpy prints with -inf and zeros
# ============================================================================


@article("zh04_notebook_causal.ipynb", "zh", "correct",
         "Jupyter notebook（中文 markdown 单元格）：numpy 打印（无逗号、多行）、array([...]) 执行结果、"
         "-inf 掩码、上三角为 0. 的权重、print 输出的标签行",
         "因果自注意力，4 个词，X·W 投影（W 为 3×3 小数），除以 √3")
def zh04(B):
    X = A([[1.0, 0.0, 1.0], [0.0, 2.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    WQ = A([[0.2, 0.4, 0.0], [0.1, 0.0, 0.3], [0.5, 0.2, 0.1]])
    WK = A([[0.3, 0.0, 0.2], [0.0, 0.5, 0.1], [0.4, 0.1, 0.0]])
    WV = A([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.5, 0.5, 0.0]])
    Q, K, V = X @ WQ, X @ WK, X @ WV
    S = Q @ K.T / math.sqrt(3)
    Sm = masked(S, causal(4))
    W = softmax(Sm)
    O = W @ V
    B.meta["notes"] = ("Causal self-attention in numpy, X·W projections with decimal weights, "
                       "scaled by 1/sqrt(3); masked scores printed with -inf, weights with 0. in "
                       "the upper triangle. All printed by numpy (precision 4). All right.")
    n = iter(range(1, 100))
    cells = [
        md_cell("# 因果自注意力（Causal Self-Attention）numpy 实现\n\n"
                "本 notebook 用 numpy 从零实现带掩码的自注意力，每一步都打印出来，方便和手算对照。\n\n"
                "约定：$X$ 的每一行是一个词，$Q = XW_Q$，$K = XW_K$，$V = XW_V$，"
                "$d_k = 3$，分数除以 $\\sqrt{3}$。"),
        code_cell("import numpy as np\nnp.set_printoptions(precision=4, suppress=True)",
                  count=next(n)),
        md_cell("## 输入\n\n句子：“我 喜欢 深度 学习”，每个词 3 维。"),
    ]
    c = next(n)
    cells.append(code_cell(f"X = np.array({X.tolist()})\nprint(X)",
                           [stream(B.np_print(X))], count=c))
    c = next(n)
    cells.append(code_cell(f"W_Q = np.array({WQ.tolist()})\nW_K = np.array({WK.tolist()})\n"
                           f"W_V = np.array({WV.tolist()})", count=c))
    c = next(n)
    cells.append(code_cell("Q = X @ W_Q\nK = X @ W_K\nV = X @ W_V\n"
                           "print('Q =\\n', Q)\nprint('K =\\n', K)\nprint('V =\\n', V)",
                           [stream("Q =\n " + B.np_print(Q, Q, name="Q") + "\nK =\n "
                                   + B.np_print(K, K, name="K") + "\nV =\n "
                                   + B.np_print(V, V, name="V"))], count=c))
    cells.append(md_cell("## 注意力分数与因果掩码\n\n"
                         "第 $i$ 个词只能看到第 $1 \\dots i$ 个词，所以分数矩阵的上三角要填成 $-\\infty$，"
                         "softmax 之后这些位置的权重就是 0。"))
    c = next(n)
    cells.append(code_cell("d_k = K.shape[1]\nscores = Q @ K.T / np.sqrt(d_k)\n"
                           "mask = np.triu(np.ones((4, 4), dtype=bool), k=1)\n"
                           "scores[mask] = -np.inf\nprint(scores)",
                           [stream(B.np_print(Sm, Sm, name="masked scaled scores"))], count=c))
    c = next(n)
    cells.append(code_cell("def softmax(x):\n    x = x - x.max(axis=-1, keepdims=True)\n"
                           "    e = np.exp(x)\n    return e / e.sum(axis=-1, keepdims=True)\n\n"
                           "weights = softmax(scores)\nweights",
                           [result(B.np_print(W, W, name="attention weights", as_repr=True), c)],
                           count=c))
    cells.append(md_cell("可以看到上三角全是 0，第一行只有自己，权重为 1。"))
    c = next(n)
    cells.append(code_cell("out = weights @ V\nout",
                           [result(B.np_print(O, O, name="output", as_repr=True), c)], count=c))
    cells.append(md_cell("## 小结\n\n"
                         "1. 掩码一定要加在 softmax **之前**；\n"
                         "2. 输出第 $i$ 行只依赖 $v_1, \\dots, v_i$；\n"
                         "3. 第 4 个词“学习”的输出 `" + B.vec(O[3], O[3], ".4f", name="output row 4 "
                         "(summary)") + "` 是前 4 个值向量的加权平均。"))
    return notebook(cells)


# ============================================================================
# zh05: textbook page, pmatrix inside \[ \], one query at a time, 权重 = [..]
# ============================================================================


@article("zh05_textbook_one_query.md", "zh", "correct",
         "教材风格：\\[ ... \\] 中的 pmatrix、\\frac 写出的 softmax、逐个查询计算（第 1 个词的得分、"
         "权重 = [..]、输出 z_1 = (..)），最后给出整体矩阵",
         "自注意力，X·W 投影（2×2），除以 √2，一次一个查询")
def zh05(B):
    X = A([[1.0, 0.5], [0.5, 1.0], [1.0, 1.0]])
    WQ = A([[1, 0], [1, 1]])
    WK = A([[0, 1], [1, 1]])
    WV = A([[2, 0], [0, 1]])
    Q, K, V = X @ WQ, X @ WK, X @ WV
    S = Q @ K.T
    Ss = S / math.sqrt(2)
    W = softmax(Ss)
    O = W @ V
    B.meta["notes"] = ("Self-attention, X·W projections (2x2), scaled by 1/sqrt(2). Worked one "
                       "query at a time (scores, scaled scores, 权重 = [..], z_i), then the full "
                       "matrices. All right.")
    P = lambda M, E=None, spec=".3f", name="": latex(B.cells(M, E, spec, name=name), "pmatrix")  # noqa
    v = lambda x, e, spec, name: "(" + ", ".join(B.cells(x, e, spec, name=name)) + ")"  # noqa
    parts = []
    for i in range(3):
        e = lambda x: fmt(x, ".3f")  # noqa: E731
        parts.append(f"""**第 {i + 1} 个词。** 查询向量 $q_{i + 1} = {v(Q[i], Q[i], '.2f', f'q_{i + 1}')}$，与三个键的点积为

\\[
s_{{{i + 1}j}} = q_{i + 1} \\cdot k_j = {v(S[i], S[i], '.2f', f'scores of word {i + 1}')}, \\qquad
\\frac{{s_{{{i + 1}j}}}}{{\\sqrt{{2}}}} = {v(Ss[i], Ss[i], '.3f', f'scaled scores of word {i + 1}')}
\\]

\\[
\\alpha_{{{i + 1}1}} = \\frac{{e^{{{e(Ss[i, 0])}}}}}{{e^{{{e(Ss[i, 0])}}} + e^{{{e(Ss[i, 1])}}} + e^{{{e(Ss[i, 2])}}}}} = {B.n(W[i, 0], W[i, 0], '.3f', what=f'alpha_{i + 1}1')}
\\]

权重 = [{', '.join(B.cells(W[i], W[i], '.3f', name=f'权重 of word {i + 1}'))}]

\\[
z_{i + 1} = \\sum_j \\alpha_{{{i + 1}j}} v_j = {v(O[i], O[i], '.3f', f'z_{i + 1}')}
\\]
""")
    t = f"""## 3.2 自注意力的计算过程

**例 3.2** 设输入序列含 3 个词，词向量维度 $d = 2$，输入矩阵与投影矩阵为

\\[
X = {P(X, spec='.1f')}, \\quad
W^Q = {P(WQ, spec='int')}, \\quad
W^K = {P(WK, spec='int')}, \\quad
W^V = {P(WV, spec='int')}.
\\]

求缩放点积自注意力的输出。

**解** 先求查询、键、值矩阵（$X$ 的每一行为一个词向量，故右乘投影矩阵）：

\\[
Q = XW^Q = {P(Q, Q, '.1f', 'Q')}, \\quad
K = XW^K = {P(K, K, '.1f', 'K')}, \\quad
V = XW^V = {P(V, V, '.1f', 'V')}.
\\]

这里 $d_k = 2$，缩放因子为 $1/\\sqrt{{2}}$。下面逐个词计算。

{chr(10).join(parts)}
将三行合在一起，即得注意力权重矩阵与输出矩阵：

\\[
A = \\operatorname{{softmax}}\\left(\\frac{{QK^T}}{{\\sqrt{{d_k}}}}\\right) = {P(W, W, '.3f', 'A')}, \\qquad
Z = AV = {P(O, O, '.3f', 'Z')}.
\\]

**注** 第 3 个词的向量最长，它与每个查询的点积都最大，因此每一行中它得到的权重都最高。这说明未经归一化的向量长度会直接影响注意力的分配，这也是实际模型中普遍使用层归一化的原因之一。
"""
    return t


# ============================================================================
# zh06: inline-code bullets, 权重 = [..], several matrices on one line
# ============================================================================


@article("zh06_bullets_small_examples.md", "zh", "correct",
         "行内代码列表项（- `q1 = [1, 0]`、- `k1 = [1, 0]`, `k2 = [0, 1]`）、"
         "`得分 = [1, 0]；softmax = [..]` 同一行、权重 = [..]、一行内多个矩阵 "
         "(Q = [[..]]  K = [[..]]  V = [[..]])、numpy 打印写在代码注释里",
         "三个小例子：不缩放的单个查询；d_k = 2 缩放；2×2 的 Q、K、V 不缩放")
def zh06(B):
    q1, k = A([1, 0]), A([[1, 0], [0, 1]])
    s1 = k @ q1
    w1 = softmax(s1)
    q2, k2, v2 = A([2, 2]), A([[1, 1], [1, -1]]), A([[1, 0], [0, 1]])
    s2 = k2 @ q2
    s2s = s2 / math.sqrt(2)
    w2 = softmax(s2s)
    o2 = w2 @ v2
    Q3, K3, V3 = A([[1, 0], [0, 1]]), A([[1, 1], [0, 1]]), A([[2, 0], [0, 2]])
    S3 = Q3 @ K3.T
    W3 = softmax(S3)
    O3 = W3 @ V3
    B.meta["notes"] = ("Three small examples. 1: q1 = [1,0], keys [1,0], [0,1], unscaled: scores "
                       "[1, 0], softmax [0.731, 0.269]. 2: d_k = 2, scaled. 3: Q, K, V on one line, "
                       "unscaled, output in a code comment as a numpy print. All right.")
    t = f"""# 注意力机制三个小例子，看完就会算

评论区有朋友说上一篇例子太大，算不动。这次换三个最小的例子，每个都能口算（softmax 除外）。

## 例 1：一个查询，两个键

- `q1 = [1, 0]`
- `k1 = [1, 0]`, `k2 = [0, 1]`

得分 = {B.vec(s1, s1, 'int', name='例1 得分')}；softmax = {B.vec(w1, w1, '.3f', name='例1 softmax')}

也就是说 `q1` 有 {fmt(100 * w1[0], '.1f')}% 的注意力给了 `k1`。注意这里没有除以 $\\sqrt{{d_k}}$。

## 例 2：加上缩放

- `q = [2, 2]`
- `k1 = [1, 1]`, `k2 = [1, -1]`
- `v1 = [1, 0]`, `v2 = [0, 1]`
- $d_k = 2$

点积：`q·k1 = 4`，`q·k2 = 0`。除以 $\\sqrt{{2}}$ 后为 {B.n(s2s[0], s2s[0], '.3f', what='例2 缩放得分 1')} 和 {B.n(s2s[1], s2s[1], '.3f', what='例2 缩放得分 2')}。

权重 = {B.vec(w2, w2, '.3f', name='例2 权重')}

输出 = {fmt(w2[0], '.3f')} × v1 + {fmt(w2[1], '.3f')} × v2 = {B.vec(o2, o2, '.3f', name='例2 输出')}

## 例 3：矩阵形式

Q = [[1, 0], [0, 1]]  K = [[1, 1], [0, 1]]  V = [[2, 0], [0, 2]]

不缩放，直接算：

```python
import numpy as np
Q = np.array([[1., 0.], [0., 1.]])
K = np.array([[1., 1.], [0., 1.]])
V = np.array([[2., 0.], [0., 2.]])
S = Q @ K.T
# {B.pylist(S3, S3, 'int', name='例3 S (注释)')}
W = np.exp(S) / np.exp(S).sum(axis=1, keepdims=True)
print(W @ V)
""" + "\n".join("# " + ln for ln in B.np_print(O3, O3, name='例3 输出 (注释)', precision=4).split("\n")) + f"""
```

第二个查询和两个键的点积都是 1，所以权重是 {B.vec(W3[1], W3[1], '.1f', name='例3 第二行权重')}，输出正好是两个值向量的平均。

---
三个例子的规律：点积越大，权重越大；缩放让分布更平缓；输出永远是值向量的加权平均。
"""
    return t


# ============================================================================
# zh07: a typo in K flows into the scores, weights and outputs
# ============================================================================


@article("zh07_key_typo_gfm.md", "zh", "planted",
         "GFM 管道表格（行列带词标签），K 表中一个数抄错，一行写出的 k2 = [..]",
         "自注意力，X·W 投影（3×2），除以 √2")
def zh07(B):
    X = A([[1, 0, 1], [1, 1, 0], [0, 1, 1]])
    WQ = A([[1, 0], [0, 1], [1, 1]])
    WK = A([[0, 1], [1, 1], [1, 0]])
    WV = A([[1, 0], [0, 2], [1, 1]])
    Q, K, V = X @ WQ, X @ WK, X @ WV
    Kp = K.copy()
    Kp[1, 1] = B.plant("r1", K[1, 1], 3.0)
    S, Sp = Q @ K.T, Q @ Kp.T
    Ss, Ssp = S / math.sqrt(2), Sp / math.sqrt(2)
    W, Wp = softmax(Ss), softmax(Ssp)
    O, Op = W @ V, Wp @ V
    B.meta["notes"] = ("K = XW^K; the key of the 2nd word is written [1, 3] instead of [1, 2] (one "
                       "root in the K table). The k2 line in the prose repeats it (consequence); "
                       "the second column of QK^T and of the scaled scores, every softmax row and "
                       "every output row are computed from it (consequences).")
    toks = ["北京", "欢迎", "你"]
    g = lambda M, E=None, spec="int", name="", cl=None, roots=None: gfm(  # noqa: E731
        B.cells(M, E, spec, name=name, rl=toks, cl=cl or toks, roots=roots), header=cl or toks,
        rl=toks, corner="")
    t = f"""# 手把手计算 Self-Attention：以“北京欢迎你”为例

Transformer 的核心就是自注意力。本文用一个三个词的句子，把 $Q$、$K$、$V$ 到最终输出的每一个数都算出来。

## 1. 输入

| 词 | x1 | x2 | x3 |
|---|---|---|---|
| 北京 | 1 | 0 | 1 |
| 欢迎 | 1 | 1 | 0 |
| 你 | 0 | 1 | 1 |

## 2. 投影矩阵

$W^Q$ = [[1, 0], [0, 1], [1, 1]]，$W^K$ = [[0, 1], [1, 1], [1, 0]]，$W^V$ = [[1, 0], [0, 2], [1, 1]]

## 3. 计算 Q、K、V

查询矩阵 $Q = XW^Q$：

{g(Q, Q, name="Q", cl=["q_1", "q_2"])}

键矩阵 $K = XW^K$：

{g(Kp, K, name="K", cl=["k_1", "k_2"], roots={(1, 1): "r1"})}

值矩阵 $V = XW^V$：

{g(V, V, name="V", cl=["v_1", "v_2"])}

以“欢迎”为例，它的键向量 k2 = {B.vec(Kp[1], K[1], 'int', name='k2 (prose)')}。

## 4. 注意力分数

$QK^T$：

{g(Sp, S, name="QK^T")}

除以 $\\sqrt{{d_k}} = \\sqrt{{2}}$：

{g(Ssp, Ss, ".3f", name="scaled scores")}

## 5. 注意力权重

对每一行做 softmax：

{g(Wp, W, ".3f", name="attention weights")}

可以看到三个词都把最多的注意力给了“欢迎”。

## 6. 输出

$Z = \\operatorname{{softmax}}(QK^T/\\sqrt{{d_k}})V$：

{g(Op, O, ".3f", name="output Z", cl=["z_1", "z_2"])}

以上就是自注意力的全部计算过程。多头注意力只是把这个过程做 $h$ 次，再把结果拼接起来。
"""
    return t


# ============================================================================
# zh08: V's last column does not follow from X·W_V
# ============================================================================


@article("zh08_value_column_box.md", "zh", "planted",
         "box-drawing 表格（┌─┬─┐），值矩阵最后一列抄错，加权和写成一行算式",
         "自注意力，X·W 投影（4×3），除以 √3")
def zh08(B):
    X = A([[1, 0, 1, 0], [0, 1, 1, 1], [1, 1, 0, 0]])
    WQ = A([[0, 1, 0], [1, 0, 1], [0, 0, 1], [1, 0, 0]])
    WK = A([[0, 1, 0], [1, 0, 1], [0, 0, 1], [1, 1, 0]])
    WV = A([[1, 2, 0], [0, 1, 1], [2, 0, 1], [1, 0, 2]])
    Q, K, V = X @ WQ, X @ WK, X @ WV
    WVmis = WV.copy()
    WVmis[0, 2] = 2.0                 # the author reads W^V[1,3] as 2
    Vp = V.copy()
    Vp[:, 2] = B.plant("r1", V[:, 2], (X @ WVmis)[:, 2])
    roots = {(i, 2): "r1" for i in range(3) if Vp[i, 2] != V[i, 2]} if B.on("r1") else {}
    S = Q @ K.T / math.sqrt(3)
    W = softmax(S)
    O, Op = W @ V, W @ Vp
    B.meta["notes"] = ("V = XW^V, but the last column of the printed V is computed with W^V[1,3] "
                       "read as 2 instead of 0: rows 1 and 3 of that column are wrong (roots). The "
                       "outputs' last column is computed from the printed V (consequences).")
    toks = ["我", "爱", "你"]
    bx = lambda M, E=None, spec=".3f", name="", cl=None, roots=None: box_table(  # noqa: E731
        B.cells(M, E, spec, name=name, rl=toks, cl=cl or toks, roots=roots), header=cl or toks,
        rl=toks)
    dims = ["第1维", "第2维", "第3维"]
    t = f"""# 自注意力计算实例（表格版）

上一篇有读者反映公式太多，这一篇全部用表格。

输入 X（3 个词，4 维）：

{box_table([[fmt(x, 'int') for x in row] for row in X], header=['x1', 'x2', 'x3', 'x4'], rl=toks)}

三个权重矩阵都是 4×3：

W_Q：
{box_table([[fmt(x, 'int') for x in row] for row in WQ])}

W_K：
{box_table([[fmt(x, 'int') for x in row] for row in WK])}

W_V：
{box_table([[fmt(x, 'int') for x in row] for row in WV])}

第一步：Q = X·W_Q，K = X·W_K，V = X·W_V

Q：
{bx(Q, Q, 'int', 'Q', dims)}

K：
{bx(K, K, 'int', 'K', dims)}

V：
{bx(Vp, V, 'int', 'V', dims, roots=roots)}

第二步：注意力分数 Q·Kᵀ / √3（d_k = 3）

{bx(S, S, '.3f', 'scaled scores')}

第三步：softmax（按行）

{bx(W, W, '.3f', 'attention weights')}

第四步：加权求和。以“我”为例：

z1 = {fmt(W[0, 0], '.3f')}×v1 + {fmt(W[0, 1], '.3f')}×v2 + {fmt(W[0, 2], '.3f')}×v3 = {B.vec(Op[0], O[0], '.3f', name='z1 (算式)')}

全部输出：

{bx(Op, O, '.3f', 'output', dims)}

“我”和三个词的相似度差不多，所以它的注意力分布最平均；“爱”则几乎只看自己。
"""
    return t


# ============================================================================
# zh09: softmax taken over columns
# ============================================================================


@article("zh09_column_softmax.txt", "zh", "planted",
         "纯文本：无前导竖线的管道表格（说明文字后直接接表格，无空行），'~' 角标，逐行向量",
         "自注意力，X·W 投影（3×2），不缩放；softmax 误按列归一化")
def zh09(B):
    X = A([[1, 2, 0], [0, 1, 2], [2, 0, 1]])
    WQ = A([[1, 0], [0, 1], [1, 1]])
    WK = A([[1, 1], [1, 0], [0, 1]])
    Q, K = X @ WQ, X @ WK
    V = X
    S = Q @ K.T
    W = softmax(S, axis=1)
    Wc = softmax(S, axis=0)
    Wused = W.copy()
    roots = {}
    for j in range(3):
        if B.on(f"c{j + 1}"):
            Wused[:, j] = Wc[:, j]
    for i in range(3):
        for j in range(3):
            if abs(Wc[i, j] - W[i, j]) > 0.0005 and B.on(f"c{j + 1}"):
                roots[(i, j)] = f"c{j + 1}"
    O, Op = W @ V, Wused @ V
    B.meta["notes"] = ("Q = XW^Q, K = XW^K, V = X (no value projection), unscaled. The text says "
                       "softmax by row, but the author normalises each column (columns sum to 1): every "
                       "weight that differs from the row softmax at 3 dp is a root (one root id per "
                       "column); the outputs are computed from these weights (consequences).")
    toks = ["“深”", "“度”", "“学”"]
    outs = "\n".join("[" + ", ".join(B.cells(Op[i], O[i], ".3f", name=f"输出第{i + 1}行")) + "]"
                     for i in range(3))
    t = f"""注意力权重到底怎么算？用三个字算给你看
这是我学习 Transformer 时整理的笔记，例子很小，大家可以拿笔验证。
输入是“深度学”三个字，每个字 3 维：
[1, 2, 0]
[0, 1, 2]
[2, 0, 1]
查询权重 Wq = [[1, 0], [0, 1], [1, 1]]，键权重 Wk = [[1, 1], [1, 0], [0, 1]]，值直接用输入 X。
Q = X·Wq 为：
{plain_pipe(B.cells(Q, Q, 'int', name='Q', rl=toks), ['q1', 'q2'], rl=toks)}
K = X·Wk 为：
{plain_pipe(B.cells(K, K, 'int', name='K', rl=toks), ['k1', 'k2'], rl=toks)}
相似度 Q·Kᵀ 为（为了简单，这里不除以 √d_k）：
{plain_pipe(B.cells(S, S, 'int', name='Q·K^T', rl=toks, cl=toks), toks, rl=toks)}
然后按行做 softmax（每个字对三个字的相似度归一化），把相似度变成概率：
{plain_pipe(B.cells(Wused, W, '.3f', name='softmax', rl=toks, cl=toks, roots=roots), toks, rl=toks)}
最后用概率对 V（也就是 X）加权求和，得到三个字的新向量：
{outs}
可以看到“度”的新向量数值最大，因为它在每一列里都分到了最多的概率。
"""
    return t


# ============================================================================
# zh10: notebook whose softmax normalises over the whole matrix
# ============================================================================


@article("zh10_notebook_global_softmax.ipynb", "zh", "planted",
         "Jupyter notebook：markdown 单元格中的 $$\\begin{bmatrix}...\\end{bmatrix}$$、"
         "代码单元格、numpy 打印（带逗号的 array([...]) 和不带逗号的 print）",
         "自注意力，X·W 投影，除以 √2；softmax 的分母误用了整个矩阵的和")
def zh10(B):
    X = A([[1, 0, 1], [0, 1, 0], [1, 1, 1]])
    WQ = A([[1, 0], [0, 2], [1, 1]])
    WK = A([[1, 1], [0, 1], [1, 0]])
    WV = A([[1, 0], [1, 1], [0, 2]])
    Q, K, V = X @ WQ, X @ WK, X @ WV
    S = Q @ K.T / math.sqrt(2)
    W = softmax(S)
    G = np.exp(S) / np.exp(S).sum()
    Wused = W.copy()
    roots = {}
    for i in range(3):
        if B.on(f"r{i + 1}"):
            Wused[i] = G[i]
            for j in range(3):
                if abs(r(G[i, j], 4) - W[i, j]) > 0.00005:
                    roots[(i, j)] = f"r{i + 1}"
    O, Op = W @ V, Wused @ V
    B.meta["notes"] = ("Q = XW_Q etc., scaled by 1/sqrt(2). The markdown says softmax over each "
                       "row, but the code divides by the sum over the whole matrix "
                       "(np.exp(scores).sum() without axis): all nine weights are roots (one root "
                       "id per row); the outputs are computed from them (consequences). The rows "
                       "of the printed weights do not sum to 1.")
    L = lambda M: latex([[fmt(x, "int") for x in row] for row in M], "bmatrix")  # noqa: E731
    n = iter(range(1, 100))
    cells = [
        md_cell("# 用 numpy 实现缩放点积注意力\n\n"
                "课程作业第二题。输入 3 个词，每个词 3 维，投影到 $d_k = 2$：\n\n"
                f"$$X = {L(X)}, \\quad W_Q = {L(WQ)}, \\quad W_K = {L(WK)}, \\quad W_V = {L(WV)}$$\n\n"
                "公式：$\\text{Attention}(Q,K,V) = \\text{softmax}\\left(\\frac{QK^T}{\\sqrt{d_k}}"
                "\\right)V$，其中 softmax 对每一行做归一化。"),
        code_cell("import numpy as np\nnp.set_printoptions(precision=4, suppress=True)",
                  count=next(n)),
        code_cell(f"X = np.array({X.astype(int).tolist()}, dtype=float)\n"
                  f"W_Q = np.array({WQ.astype(int).tolist()}, dtype=float)\n"
                  f"W_K = np.array({WK.astype(int).tolist()}, dtype=float)\n"
                  f"W_V = np.array({WV.astype(int).tolist()}, dtype=float)", count=next(n)),
        md_cell("### 1. 计算 Q、K、V"),
    ]
    c = next(n)
    cells.append(code_cell("Q = X @ W_Q\nK = X @ W_K\nV = X @ W_V\nQ, K, V",
                           [result("(" + ",\n ".join(
                               B.np_print(M, M, name=nm, as_repr=True).replace("\n", "\n ")
                               for M, nm in ((Q, "Q"), (K, "K"), (V, "V"))) + ")", c)],
                           count=c))
    cells.append(md_cell("### 2. 缩放后的注意力分数"))
    c = next(n)
    cells.append(code_cell("scores = Q @ K.T / np.sqrt(2)\nprint(scores)",
                           [stream(B.np_print(S, S, name="scaled scores"))], count=c))
    cells.append(md_cell("### 3. softmax 得到注意力权重"))
    c = next(n)
    cells.append(code_cell("weights = np.exp(scores) / np.exp(scores).sum()\nprint(weights)",
                           [stream(B.np_print(r(Wused, 4), W, name="attention weights",
                                              roots=roots))], count=c))
    cells.append(md_cell("### 4. 输出"))
    c = next(n)
    cells.append(code_cell("out = weights @ V\nprint(out)",
                           [stream(B.np_print(Op, O, name="output"))], count=c))
    cells.append(md_cell("第 3 个词的输出最大，因为它和所有词的相似度都最高。"))
    return notebook(cells)


# ============================================================================
# zh11: three wrong softmax numbers in a GFM table, like the seed
# ============================================================================


@article("zh11_three_softmax_roots.md", "zh", "planted",
         "GFM 管道表格（行列带“字”标签，'~' 角标）、科学计数法 9.11E-04 与三位小数混排、"
         "逐行输出向量（'2'、'1' 与两位小数混排）",
         "自注意力，Q = K = V = X，不缩放：softmax(XXᵀ)X")
def zh11(B):
    X = A([[2, 1, 0, 1], [1, 1, 1, 0], [1, 2, 2, 2]])
    S = X @ X.T
    W = softmax(S)
    O = W @ X
    Wp = W.copy()
    Wp[0, 1] = B.plant("r1", W[0, 1], 0.025)
    Wp[1, 2] = B.plant("r2", W[1, 2], 0.788)
    Wp[2, 1] = B.plant("r3", W[2, 1], 3.53e-4)
    B.meta["notes"] = ("softmax(XX^T)X without scaling or projections. Three softmax entries are "
                       "misprinted (0.025 for 0.0243, 0.788 for 0.7870, 3.53E-04 for 3.35E-04); the "
                       "outputs are computed from the exact weights and are right, so there are "
                       "three roots and no consequences.")
    toks = ["“学”", "“而”", "“习”"]
    sm = lambda x: fmt(x, "E2") if x < 0.001 else fmt(x, ".3f")  # noqa: E731
    cells = B.cells(Wp, W, sm, name="softmax(XX^T)", rl=toks, cl=toks,
                    roots={(0, 1): "r1", (1, 2): "r2", (2, 1): "r3"})
    rowv = lambda i: "[" + ", ".join(B.cells(O[i], O[i], strip0(2), name=f"output row {i + 1}")) + "]"  # noqa
    t = f"""# 注意力机制手算：以“学而习”为例

Transformer 里的注意力，一句话概括就是：**用相似度当权重，对所有词做加权平均**。下面直接上例子。

为了简单，$Q$、$K$、$V$ 都直接取输入 $X$，也不除以 $\\sqrt{{d_k}}$，公式就是

$$\\operatorname{{softmax}}(XX^T)X$$

“学”“而”“习”三个字的向量：

- 学：[2, 1, 0, 1]
- 而：[1, 1, 1, 0]
- 习：[1, 2, 2, 2]

## $XX^T$

{gfm(B.cells(S, S, 'int', name='XX^T', rl=toks, cl=toks), header=toks, rl=toks, corner='~', align=False)}

## $\\operatorname{{softmax}}(XX^T)$

{gfm(cells, header=toks, rl=toks, corner='~', align=False)}

“习”和自己的相似度是 13，远大于和别人的 6 和 5，所以几乎全部注意力都在自己身上。

## $\\operatorname{{softmax}}(XX^T)X$

{rowv(0)}
{rowv(1)}
{rowv(2)}

“学”的新向量被“习”拉了一把（第 3、4 维变大），“习”几乎没变。
"""
    return t


# ============================================================================
# zh18: numpy re-implementation of the illustrated example, pasted prints with typos
# ============================================================================


@article("zh18_numpy_repro_typos.md", "zh", "planted",
         "代码块中粘贴的 numpy 打印：默认精度的科学计数法（6.33789383e-02）、多行无逗号、"
         "array([...])；输出中一处两位数字颠倒，权重中一处指数写错",
         "复现三输入示例：自注意力，不缩放，X·W 投影")
def zh18(B):
    X, WK, WQ, WV = ILL_X, ILL_WK, ILL_WQ, ILL_WV
    K, Q, V = X @ WK, X @ WQ, X @ WV
    S = Q @ K.T
    W = softmax(S)
    O = W @ V
    Wp = W.copy()
    Wp[2, 0] = B.plant("r1", W[2, 0], W[2, 0] * 10)        # e-04 pasted as e-03
    Op = r(O, 4)
    Op[2, 1] = B.plant("r2", Op[2, 1], 7.7959)              # 7.7599 typed 7.7959
    B.meta["notes"] = ("Re-implementation of the three-input example (no scaling, keys = x @ w_key). "
                       "Two transcription errors in pasted prints: the softmax entry 2.95387223e-04 "
                       "appears as 2.95387223e-03, and the output 7.7599 as 7.7959. Both are roots; "
                       "nothing is computed from them.")
    t = f"""# 复现“图解自注意力”里的例子（numpy 版）

很多人都看过那篇图解 Self-Attention 的英文文章：3 个输入、4 维向量、随便给的三个权重矩阵。原文为了好算把 softmax 四舍五入到了一位小数，结果和代码跑出来的对不上，评论区不少人问。这里用 numpy 严格算一遍，贴出每一步的输出。

## 输入和权重

```python
import numpy as np

x = np.array([[1, 0, 1, 0],
              [0, 2, 0, 2],
              [1, 1, 1, 1]], dtype=float)
w_key   = np.array([[0, 0, 1], [1, 1, 0], [0, 1, 0], [1, 1, 0]], dtype=float)
w_query = np.array([[1, 0, 1], [1, 0, 0], [0, 0, 1], [0, 1, 1]], dtype=float)
w_value = np.array([[0, 2, 0], [0, 3, 0], [1, 0, 3], [1, 1, 0]], dtype=float)
```

## 键、查询、值

```python
keys = x @ w_key
querys = x @ w_query
values = x @ w_value
print(keys)
print(querys)
print(values)
```

输出：

```
{B.np_print(K, K, name='keys', precision=8, suppress=False)}
{B.np_print(Q, Q, name='querys', precision=8, suppress=False)}
{B.np_print(V, V, name='values', precision=8, suppress=False)}
```

## 注意力得分

```python
attn_scores = querys @ keys.T
print(attn_scores)
```

```
{B.np_print(S, S, name='attn_scores', precision=8, suppress=False)}
```

## softmax

```python
from scipy.special import softmax
attn_scores_softmax = softmax(attn_scores, axis=-1)
print(attn_scores_softmax)
```

```
{B.np_print(Wp, W, name='softmax', precision=8, suppress=False, roots={(2, 0): 'r1'})}
```

第一行是 {B.vec(W[0], W[0], ".4f", name="softmax row 1 (prose)")}，第一个输入对自己的权重并不是 0。

## 输出

```python
outputs = attn_scores_softmax @ values
print(outputs.round(4))
```

```
{B.np_print(Op, O, name='outputs', precision=4, roots={(2, 1): 'r2'})}
```

第一个输入的输出是 {B.vec(O[0], O[0], ".4f", name="output 1 (prose)")}，和原文的结果有出入，差别就来自 softmax 的提前取整。
"""
    return t


# ============================================================================
# zh12: scaled scores rounded to 2 dp, everything after computed from them
# ============================================================================


@article("zh12_carried_two_decimals.md", "zh", "carried",
         "GFM 管道表格（行列带标签）、带 $...$ 的行内公式、逐项写出的加权和算式",
         "自注意力，Q = K = V = X，除以 √3；缩放分数保留两位小数，softmax 由两位小数的分数算出"
         "（三位小数），输出由三位小数的权重算出")
def zh12(B):
    B.carried = True
    X = A([[1, 2, 0], [2, 1, 1], [0, 1, 2]])
    S = X @ X.T
    Ss = S / math.sqrt(3)
    Ssp = r(Ss, 2)
    W = softmax(Ss)
    Wp = r(softmax(Ssp), 3)
    O, Op = W @ X, Wp @ X
    B.meta["notes"] = ("Q = K = V = X, scaled by 1/sqrt(3). The author rounds the scaled scores "
                       "to 2 dp, computes the softmax (3 dp) from the rounded scores and the output "
                       "(3 dp) from the 3-dp weights. Entries that differ from the exact values "
                       "follow from the printed numbers (carried roundings).")
    toks = ["苹果", "香蕉", "橙子"]
    g = lambda M, E=None, spec="int", name="", cl=None: gfm(  # noqa: E731
        B.cells(M, E, spec, name=name, rl=toks, cl=cl or toks), header=cl or toks, rl=toks,
        corner="")
    terms = " + ".join(f"{fmt(Wp[0, k], '.3f')}×{fmt(X[k, 1], 'int')}" for k in range(3))
    t = f"""# 缩放点积注意力：一步一步手算（保留两位小数版）

考试的时候不让用电脑，只能按计算器，所以我习惯每一步都先取两位小数再往下算。下面用水果的例子演示整个过程（$Q=K=V=X$，$d_k=3$）。

## 输入

{g(X, cl=["甜度", "酸度", "水分"])}

## 第一步：相似度 $XX^T$

{g(S, S, name="XX^T")}

## 第二步：除以 $\\sqrt{{3}} \\approx 1.732$，保留两位小数

{g(Ssp, Ss, ".2f", name="scaled scores")}

## 第三步：softmax（用上面两位小数的分数算）

{g(Wp, W, ".3f", name="softmax weights")}

“香蕉”和自己最像，所以它的第二列权重最大。

## 第四步：加权求和（用上面的权重算）

以“苹果”的第 2 维为例：{terms} = {B.n(Op[0, 1], O[0, 1], '.3f', what='output 苹果, 酸度 (prose)')}

全部结果：

{g(Op, O, ".3f", name="output", cl=["甜度", "酸度", "水分"])}

考试时这样写就可以拿满分，最后一位有一点误差没关系。
"""
    return t


# ============================================================================
# zh13: plain text, ASCII tables, weights rounded to 1 dp and carried
# ============================================================================


@article("zh13_ascii_carried_one_decimal.txt", "zh", "carried",
         "纯文本 ASCII 表格（+----+ 边框，=== 表头线），逐个查询的 'q1 = [..]' 向量，"
         "一位小数的权重，0.1×[..] + 0.9×[..] 形式的加权和",
         "自注意力，X·W 投影（2×2），不缩放，一次一个查询；权重保留一位小数，输出由一位小数的权重算出")
def zh13(B):
    B.carried = True
    X = A([[1, 0], [1, 1], [0, 2]])
    WQ = A([[1, 1], [0, 1]])
    WK = A([[1, 0], [1, 1]])
    WV = A([[2, 0], [1, 3]])
    Q, K, V = X @ WQ, X @ WK, X @ WV
    S = Q @ K.T
    W = softmax(S)
    Wp = r(W, 1)
    O, Op = W @ V, Wp @ V
    B.meta["notes"] = ("Q = XW_Q etc. (2x2 weights), unscaled, one query at a time. Weights "
                       "rounded to 1 dp for mental arithmetic; outputs computed from the 1-dp "
                       "weights (carried roundings, right).")
    toks = ["w1", "w2", "w3"]
    lines = []
    for i in range(3):
        terms = " + ".join(f"{fmt(Wp[i, k], '.1f')}×{B.vec(V[k], spec='int')}" for k in range(3))
        lines.append(f"""查询 {i + 1}：q{i + 1} = {B.vec(Q[i], Q[i], 'int', name=f'q{i + 1}')}
  得分 = [{', '.join(f'q{i + 1}·k{j + 1}' for j in range(3))}] = {B.vec(S[i], S[i], 'int', name=f'得分 {i + 1}')}
  权重 ≈ {B.vec(Wp[i], W[i], '.1f', name=f'权重 {i + 1}')}
  输出 = {terms}
       = {B.vec(Op[i], O[i], '.1f', name=f'输出 {i + 1}')}
""")
    t = f"""=================================================
 自注意力 心算版（不缩放、权重取一位小数）
=================================================

说明：为了方便口算，softmax 的结果只保留一位小数，后面的输出都用
这一位小数的权重来算。精确值见文末。

一、输入与投影

{ascii_table([[fmt(x, 'int') for x in row] for row in X], header=['d1', 'd2'], rl=toks, corner='词')}

  Wq = [[1, 1], [0, 1]]    Wk = [[1, 0], [1, 1]]    Wv = [[2, 0], [1, 3]]

  Q = X·Wq, K = X·Wk, V = X·Wv:

{ascii_table(B.cells(np.hstack([Q, K, V]), np.hstack([Q, K, V]), 'int', name='Q|K|V', rl=toks), header=['q_a', 'q_b', 'k_a', 'k_b', 'v_a', 'v_b'], rl=toks, corner='词')}

二、逐个查询

{chr(10).join(lines)}
三、汇总

{ascii_table(B.cells(Wp, W, '.1f', name='权重矩阵', rl=toks, cl=toks), header=toks, rl=toks, corner='权重')}

{ascii_table(B.cells(Op, O, '.1f', name='输出矩阵', rl=toks), header=['o_a', 'o_b'], rl=toks, corner='输出')}

附：精确值（numpy 计算，保留四位小数）

{ascii_table(B.cells(O, O, '.4f', name='精确输出', rl=toks), header=['o_a', 'o_b'], rl=toks, corner='输出')}

可以看到心算版与精确值最多差 0.15 左右，考试够用了。
"""
    return t


# ============================================================================
# zh14: a sentiment-model post with a confusion matrix and an attention table
# ============================================================================


@article("zh14_confusion_matrix_mixed.md", "zh", "mixed",
         "GFM 表格：混淆矩阵（3×3 计数）、精确率/召回率表、训练日志表；注意力分数与 softmax 表"
         "（行列带词标签）",
         "注意力：模型给出的 [CLS] 行分数（不可验证）→ softmax（可验证）；其余表格与注意力无关")
def zh14(B):
    S = A([[2.1, 0.3, 1.2, 3.0], [0.5, 1.8, 0.9, 0.2], [1.1, 0.4, 2.2, 1.5], [2.6, 0.1, 1.9, 2.8]])
    W = softmax(S)
    C = np.array([[412, 35, 13], [41, 288, 51], [9, 44, 407]])
    prec = C.diagonal() / C.sum(axis=0)
    rec = C.diagonal() / C.sum(axis=1)
    f1 = 2 * prec * rec / (prec + rec)
    acc = C.diagonal().sum() / C.sum()
    B.meta["notes"] = ("Mixed post: the confusion matrix, precision/recall/F1 and the training log "
                       "are not attention and are all right. The attention scores are given by the "
                       "model (inputs); the softmax table is computed from them (right). Nothing "
                       "wrong; a checker must not treat the confusion matrix as scores or weights.")
    toks = ["[CLS]", "电影", "很", "好看"]
    labels = ["正面", "中性", "负面"]
    cm = gfm([[str(x) for x in row] for row in C], header=labels, rl=labels, corner="真实 \\ 预测")
    pr = gfm([[fmt(prec[k], ".3f"), fmt(rec[k], ".3f"), fmt(f1[k], ".3f")] for k in range(3)],
             header=["精确率", "召回率", "F1"], rl=labels, corner="类别")
    log = gfm([["1", "0.8123", "0.7420"], ["2", "0.5391", "0.8015"], ["3", "0.4127", "0.8247"]],
              header=["epoch", "train loss", "val acc"])
    t = f"""# 基于 BERT 的三分类情感分析：结果与注意力可视化

上周把影评情感分类（正面 / 中性 / 负面）的实验跑完了，这里记录一下结果，顺便看看模型的注意力到底在看哪里。

## 训练日志

{log}

## 测试集混淆矩阵

测试集共 {C.sum()} 条：

{cm}

准确率 = ({' + '.join(str(x) for x in C.diagonal())}) / {C.sum()} = {fmt(acc, '.4f')}。

各类别指标：

{pr}

中性类最难，和正面、负面都有不少混淆，这和人工标注时的分歧情况一致。

## 注意力看了哪里？

取最后一层第 3 个头，对句子“电影 很 好看”（加上 [CLS]）把注意力分数打印出来（已经除过 $\\sqrt{{d_k}}$）：

{gfm([[fmt(x, '.1f') for x in row] for row in S], header=toks, rl=toks, corner="")}

对每一行做 softmax 得到注意力权重：

{gfm(B.cells(W, W, '.3f', name='attention weights', rl=toks, cl=toks), header=toks, rl=toks, corner='')}

[CLS] 把 {fmt(100 * W[0, 3], '.0f')}% 的注意力放在了“好看”上，而“好看”也主要关注 [CLS] 和它自己，说明模型确实抓住了决定情感的词。
"""
    return t


# ============================================================================
# zh15: prose only -- nothing to check
# ============================================================================


@article("zh15_prose_only.md", "zh", "nothing",
         "纯文字解释、LaTeX 公式、没有输出的 PyTorch 代码块、形状说明",
         "没有数值例子")
def zh15(B):
    B.meta["expect_exit"] = 3
    B.meta["notes"] = ("Explanation only: formula, code without printed output, shapes. No worked "
                       "example; expected exit 3.")
    t = """# 自注意力机制的直观理解

## 为什么需要注意力

RNN 处理长句子时，前面的信息要一步一步传到后面，传得越远丢得越多。注意力机制换了个思路：每个词直接去“看”句子里所有的词，需要谁的信息就从谁那里拿，距离不再是问题。

## 三个角色

每个词会生成三个向量：

- **查询（Query）**：我想找什么样的信息；
- **键（Key）**：我这里有什么样的信息；
- **值（Value）**：我真正要交出去的信息。

查询和键做点积得到相似度，相似度经过 softmax 变成权重，再用权重对值加权求和，就是这个词的新表示。写成矩阵形式：

$$
\\mathrm{Attention}(Q, K, V) = \\mathrm{softmax}\\left(\\frac{QK^{T}}{\\sqrt{d_k}}\\right)V
$$

其中 $Q$ 的形状是 $n \\times d_k$，$K$ 是 $n \\times d_k$，$V$ 是 $n \\times d_v$，得到的权重矩阵是 $n \\times n$，输出是 $n \\times d_v$。

## 为什么要除以 $\\sqrt{d_k}$

当 $d_k$ 比较大时，点积的数值会很大，softmax 会变得非常“尖”，几乎只有一个位置的权重接近 1，其余接近 0，梯度也会变得很小。除以 $\\sqrt{d_k}$ 可以把点积的方差拉回到 1 左右。

## 代码

```python
import math
import torch

def attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    weights = scores.softmax(dim=-1)
    return weights @ v, weights
```

## 小结

注意力的本质就是一次“软查表”：不是只取最匹配的那一项，而是按匹配程度把所有项都取一点。下一篇会用具体的数字把这个过程完整算一遍。
"""
    return t


# ============================================================================
# zh16: PyTorch, nn.Linear weights, causal mask with -inf, batched prints
# ============================================================================


@article("zh16_torch_causal_batched.md", "zh", "correct",
         "代码块中的 torch 打印：Parameter containing（(out, in) 布局）、带 -inf 的分数、"
         "上三角为 0.0000 的权重、批量 tensor([[[...]]]) 形状 (1, 3, 3)、grad_fn=<...>",
         "因果自注意力，nn.Linear(3, 2, bias=False) 投影，Q = X·W_qᵀ，除以 √2")
def zh16(B):
    X = A([[0.5, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    Wq = A([[0.6, -0.2, 0.4], [0.1, 0.5, -0.3]])
    Wk = A([[0.3, 0.4, -0.1], [-0.2, 0.6, 0.5]])
    Wv = A([[1.0, 0.0, 0.5], [0.0, 1.0, -0.5]])
    Q, K, V = X @ Wq.T, X @ Wk.T, X @ Wv.T
    S = Q @ K.T / math.sqrt(2)
    Sm = masked(S, causal(3))
    W = softmax(Sm)
    O = W @ V
    B.meta["notes"] = ("PyTorch with nn.Linear(3, 2, bias=False): weights printed (out, in) = (2, 3), "
                       "q = x @ W_q.T. Causal mask with masked_fill(-inf), scaled by 1/sqrt(2). "
                       "Batched prints of shape (1, 3, 3) and (1, 3, 2). All right.")
    t = f"""# PyTorch 实现 Masked Self-Attention 并逐步打印中间结果

写 GPT 的时候最容易出错的就是 mask。这篇用一个 3 个 token 的例子，把每一步的张量都打印出来，方便大家对照检查自己的实现。

## 模型定义

```python
import math
import torch
import torch.nn as nn

class CausalSelfAttention(nn.Module):
    def __init__(self, d_model=3, d_k=2):
        super().__init__()
        self.w_q = nn.Linear(d_model, d_k, bias=False)
        self.w_k = nn.Linear(d_model, d_k, bias=False)
        self.w_v = nn.Linear(d_model, d_k, bias=False)

    def forward(self, x):                      # x: (batch, seq, d_model)
        q, k, v = self.w_q(x), self.w_k(x), self.w_v(x)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
        seq = x.size(1)
        mask = torch.triu(torch.ones(seq, seq, dtype=torch.bool), diagonal=1)
        scores = scores.masked_fill(mask, float("-inf"))
        self.scores = scores
        weights = scores.softmax(dim=-1)
        return weights @ v, weights
```

注意 `nn.Linear` 的权重形状是 `(out_features, in_features)`，前向计算是 `x @ W.T`。

## 固定权重

```python
m = CausalSelfAttention()
with torch.no_grad():
    m.w_q.weight.copy_(torch.tensor({Wq.tolist()}))
    m.w_k.weight.copy_(torch.tensor({Wk.tolist()}))
    m.w_v.weight.copy_(torch.tensor({Wv.tolist()}))
print(m.w_q.weight)
print(m.w_k.weight)
print(m.w_v.weight)
```

```
{param_print(Wq)}
{param_print(Wk)}
{param_print(Wv)}
```

## 前向计算

```python
x = torch.tensor([{X.tolist()}])   # (1, 3, 3)
out, weights = m(x)
print(m.w_q(x))
print(m.w_k(x))
print(m.w_v(x))
```

```
{B.torch_print(Q, Q, name='q', grad_fn='UnsafeViewBackward0', batch=True)}
{B.torch_print(K, K, name='k', grad_fn='UnsafeViewBackward0', batch=True)}
{B.torch_print(V, V, name='v', grad_fn='UnsafeViewBackward0', batch=True)}
```

mask 之后的分数（已经除以 √2），上三角是 -inf：

```python
print(m.scores)
```

```
{B.torch_print(Sm, Sm, name='masked scores', grad_fn='MaskedFillBackward0', batch=True)}
```

softmax 之后的注意力权重，形状 (1, 3, 3)：

```python
print(weights.shape)
print(weights)
```

```
torch.Size([1, 3, 3])
{B.torch_print(W, W, name='attention weights', grad_fn='SoftmaxBackward0', batch=True)}
```

输出：

```python
print(out)
```

```
{B.torch_print(O, O, name='output', grad_fn='UnsafeViewBackward0', batch=True)}
```

第一个 token 只能看到自己，所以输出的第一行就等于 v 的第一行；第二行是 v 前两行的加权平均，依此类推。
"""
    return t


# ============================================================================
# zh17: HTML page, one query at a time, 2-dp weights carried
# ============================================================================


@article("zh17_html_carried.html", "zh", "carried",
         "保存的 HTML 页面（Hexo 风格）：<table> 带 <th> 标签、<code> 中的向量、逐个查询的段落、"
         "0.28 × [3, 2] + ... 的加权和",
         "自注意力，X·W 投影，除以 √2，一次一个查询；权重保留两位小数，输出由两位小数的权重算出")
def zh17(B):
    B.carried = True
    X = A([[1, 1, 0], [0, 1, 1], [1, 0, 1]])
    WQ = A([[1, 0], [1, 1], [0, 1]])
    WK = A([[1, 1], [0, 1], [1, 0]])
    WV = A([[1, 2], [2, 0], [0, 1]])
    Q, K, V = X @ WQ, X @ WK, X @ WV
    S = Q @ K.T
    Ss = S / math.sqrt(2)
    W = softmax(Ss)
    Wp = r(W, 2)
    O, Op = W @ V, Wp @ V
    B.meta["notes"] = ("Self-attention with X·W projections, scaled by 1/sqrt(2), one query at a "
                       "time in HTML paragraphs, then HTML tables. Weights rounded to 2 dp; outputs "
                       "computed from the 2-dp weights (carried roundings, right).")
    toks = ["春", "夏", "秋"]
    paras = []
    for i in range(3):
        terms = " + ".join(f"{fmt(Wp[i, k], '.2f')} × {B.vec(V[k], spec='int')}" for k in range(3))
        paras.append(f"""      <h3>第 {i + 1} 个词“{toks[i]}”</h3>
      <p>查询向量 <code>q{i + 1} = {B.vec(Q[i], Q[i], 'int', name=f'q{i + 1}')}</code>，与三个键的点积为
      <code>{B.vec(S[i], S[i], 'int', name=f'scores {i + 1}')}</code>，除以 √2 后为
      <code>{B.vec(Ss[i], Ss[i], '.3f', name=f'scaled scores {i + 1}')}</code>。</p>
      <p>softmax 得到权重（保留两位小数）：<code>{B.vec(Wp[i], W[i], '.2f', name=f'weights {i + 1}')}</code>。</p>
      <p>输出 = {terms} = <code>{B.vec(Op[i], O[i], '.2f', name=f'output {i + 1}')}</code></p>
""")
    T = lambda M, E, spec, name, cl: html_table(  # noqa: E731
        B.cells(M, E, spec, name=name, rl=toks, cl=cl), header=cl, rl=toks, indent="      ")
    t = f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
  <meta charset="UTF-8">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <title>自注意力逐词计算（附表格） | 小陈的技术博客</title>
  <meta name="keywords" content="Transformer,自注意力,Self-Attention">
  <link rel="stylesheet" href="/css/main.css">
</head>
<body>
  <div id="header"><a href="/">小陈的技术博客</a></div>
  <div id="main">
    <div class="post-content">
      <h1>自注意力逐词计算（附表格）</h1>
      <p class="post-meta">发表于 2023-11-08 | 分类于 深度学习</p>
      <p>输入三个词“春”“夏”“秋”，词向量为 <code>x1 = [1, 1, 0]</code>、<code>x2 = [0, 1, 1]</code>、<code>x3 = [1, 0, 1]</code>。
      投影矩阵 <code>W_Q = [[1, 0], [1, 1], [0, 1]]</code>、<code>W_K = [[1, 1], [0, 1], [1, 0]]</code>、
      <code>W_V = [[1, 2], [2, 0], [0, 1]]</code>，d_k = 2。</p>
      <p>先算出键和值：</p>
{T(np.hstack([K, V]), np.hstack([K, V]), 'int', 'K|V', ['k_a', 'k_b', 'v_a', 'v_b'])}
      <p>下面一个词一个词地算。为了方便笔算，权重只保留两位小数，输出也用这两位小数的权重来算。</p>
{chr(10).join(paras)}
      <h2>汇总</h2>
      <p>注意力权重：</p>
{T(Wp, W, '.2f', '注意力权重', toks)}
      <p>输出：</p>
{T(Op, O, '.2f', '输出', ['o_a', 'o_b'])}
      <p>因为权重是四舍五入后的，所以每行加起来不一定正好是 1，输出的最后一位也可能和精确结果差 0.01。</p>
    </div>
  </div>
  <div id="footer">© 2023 小陈 | Powered by Hexo</div>
</body>
</html>
"""
    return t


# ============================================================================
# zh19: d_k = 64, scores given, divided by 8
# ============================================================================


@article("zh19_dk64_divide_by_8.md", "zh", "correct",
         "GFM 管道表格（无行列标签）、'96 / 8 = 12' 形式的除法、'得分'、'概率'、"
         "逐行写出的值向量 v1 = [..]",
         "自注意力，d_k = 64（向量不展示，直接给出点积得分），除以 √64 = 8，softmax，"
         "对值向量前 3 维加权求和")
def zh19(B):
    S = A([[96, 80, 72], [64, 104, 88], [56, 72, 120]])
    Ss = S / 8.0
    W = softmax(Ss)
    V = A([[1.0, 0.0, 2.0], [0.5, 1.5, 0.0], [2.0, 1.0, 1.0]])
    O = W @ V
    B.meta["notes"] = ("Scores given (64-dim vectors not shown, not checkable); divided by 8 "
                       "(d_k = 64), softmax (4 dp), weighted sum of the shown first three value "
                       "dimensions (4 dp). All right.")
    divs = "\n".join(f"- {fmt(S[0, j], 'int')} / 8 = {B.n(Ss[0, j], Ss[0, j], 'int', what=f'{S[0, j]:.0f} / 8')}"
                     for j in range(3))
    t = f"""# 为什么要除以 8？——Transformer 论文里的 $\\sqrt{{d_k}}$ 手算演示

原论文里每个头的维度 $d_k = 64$，所以缩放因子是 $\\sqrt{{64}} = 8$。64 维的向量没法写在纸上，这里直接给出三个词两两之间的点积得分（已经算好，不用验证）：

{gfm([[fmt(x, 'int') for x in row] for row in S], header=["k1", "k2", "k3"])}

第一行（第 1 个词作为查询）除以 8：

{divs}

整个得分矩阵除以 8 以后：

{gfm(B.cells(Ss, Ss, 'int', name='得分 / 8'), header=["k1", "k2", "k3"])}

对每一行做 softmax，得到概率：

{gfm(B.cells(W, W, '.4f', name='概率'), header=["k1", "k2", "k3"])}

如果不除以 8，第一行的得分差距是 16 和 24，softmax 之后第一个词的概率会非常接近 1，其他位置几乎拿不到梯度。

最后用概率对值向量加权。值向量同样只展示前 3 维：

v1 = [1.0, 0.0, 2.0]
v2 = [0.5, 1.5, 0.0]
v3 = [2.0, 1.0, 1.0]

输出（前 3 维）：

{gfm(B.cells(O, O, '.4f', name='输出'), header=["dim1", "dim2", "dim3"])}

第 3 个词几乎只看自己，所以它的输出基本就是 v3。
"""
    return t


# ============================================================================
# ARTICLES_END
# ============================================================================


PLANTED = {
    "en08_wrong_dot_product.md":
        "x1·x1 written 7 (true 6); the score table, softmax([7, 4, 4]) and output row 1 follow",
    "en09_sdpa_printout_typo.md":
        "pasted output entry (row 2, col 3) with its last two digits swapped; nothing follows",
    "en10_forgot_scaling_pmatrix.md":
        "scaled scores right, but the weights are softmax of the unscaled scores (9 roots, "
        "one id per row); outputs follow",
    "en11_causal_mask.html":
        "row 3 of the weights is a softmax over all 4 keys (future key not masked); output "
        "row 3 follows",
    "en12_cross_attention_ascii.md":
        "one 2-dp weight with its digits swapped; context vector y2 computed from it",
    "zh07_key_typo_gfm.md":
        "one entry of K = XW^K wrong (3 for 2); k2 echo, scores, scaled scores, all weights and "
        "outputs follow",
    "zh08_value_column_box.md":
        "last column of V computed with one misread W^V entry (2 roots); last output column "
        "follows",
    "zh09_column_softmax.txt":
        "softmax normalised over columns (6 wrong weights, one id per column); outputs follow",
    "zh10_notebook_global_softmax.ipynb":
        "code divides by the sum of the whole matrix (9 wrong weights, one id per row); outputs "
        "follow",
    "zh11_three_softmax_roots.md":
        "three softmax entries misprinted (0.025, 0.788, 3.53E-04); outputs are right",
    "zh18_numpy_repro_typos.md":
        "pasted prints: 2.95387223e-04 shown as e-03, 7.7599 shown as 7.7959; nothing follows",
}


def planted_text(spec):
    if spec["file"] in PLANTED:
        return PLANTED[spec["file"]]
    if spec["kind"] == "carried":
        return "none; later steps are computed from the article's own rounded numbers"
    return spec["planted"]


def write_readme(rows, total):
    kinds = {"correct": "correct", "carried": "correct, carried roundings", "mixed":
             "correct + non-attention tables", "planted": "planted mistakes",
             "nothing": "nothing checkable"}
    out = [
        "# qkv check test corpus",
        "",
        "Articles that work attention through by hand, written for this project (none is copied",
        "from a real article), each with a truth file `<name>.truth.json`. Everything here is",
        "generated by `python make_truth.py` (run from this folder; numpy + standard library):",
        "the script holds each article's inputs and what it prints, computes the exact values in",
        "float64, writes the article and its truth file, and checks that every claimed number",
        "really is on the line the truth file names.",
        "",
        "Truth files: `exit` (0 all checked numbers right, 1 findings, 3 nothing checkable);",
        "`roots` (wrong from the numbers printed before them, with the true value); `consequences`",
        "(wrong only because they follow from a wrong printed number; `follows_from` lists the",
        "root lines); `right_carried` (differ from the exact value but follow from the article's",
        "own correctly rounded printed numbers: must not be flagged); `checked_numbers` (how many",
        "computed numbers the script registered). `line` is the 1-based line of the file (raw",
        "JSON line for .ipynb, HTML source line for .html). A printed number claims the interval",
        "of its written precision; a number written without decimals among decimals is judged at",
        "the most decimals of its matrix/vector; scientific numbers at their mantissa precision.",
        "",
        f"Totals: {len(rows)} articles, {total['roots']} root mistakes, "
        f"{total['consequences']} consequences, {total['right_carried']} right carried roundings.",
        "",
        "| file | lang | kind | exit | roots / cons. / carried | notations | setting | planted |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for spec, truth in rows:
        cnt = (f"{len(truth['roots'])} / {len(truth['consequences'])} / "
               f"{len(truth['right_carried'])}")
        cells = [f"`{spec['file']}`", spec["lang"], kinds[spec["kind"]], str(truth["exit"]), cnt,
                 spec["notations"], spec["setting"], planted_text(spec)]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    out += [
        "",
        "Notes for whoever runs a checker on this corpus:",
        "",
        "- `en01`: softmax([2, 4, 4]) is printed [0.0, 0.5, 0.5]; at one decimal only 0.0 is wrong",
        "  (0.4683 rounds to 0.5). The weighted values computed from 0.5 (1.0, 4.0, 3.0, 1.5) are",
        "  therefore right carried roundings, while the outputs of input 1 also depend on the wrong",
        "  0.0 and are consequences.",
        "- Echoes of a wrong number (the score 7 repeated in a table and in softmax([7, 4, 4]) in",
        "  `en08`, k2 = [1, 3] repeated in `zh07`) are listed as consequences of the root.",
        "- `en06`, `zh19`: the raw scores (112, 96, ...) come from 64-dimensional vectors that are not",
        "  shown; they are inputs. Only the division by 8, the softmax and the weighted sums can be",
        "  checked.",
        "- `zh14`, `en13`: confusion matrix, precision/recall, training log, model sizes,",
        "  positional encodings and memory tables are not attention (and are right anyway).",
        "- `zh03`, `zh13`, `zh17`: Q, K and V (or K and V) are printed side by side in one table.",
        "- Numbers in prose that are not registered (percentages such as 77%, `q·k1 = 4` in",
        "  inline code, the exact-value remark at the end of `en07`) are right.",
        "- `en10`: the scaled scores are printed right, but the weights are the softmax of the",
        "  unscaled scores. An all-unscaled convention would explain the weights and outputs; the",
        "  text (formula, 'softmax of the scaled scores') fixes the scaled one, so the weights are",
        "  roots. `zh09` likewise says 'softmax by row' while its weights are normalised by column.",
        "- Roots that come from one mistake but sit in different rows/columns get one root id per",
        "  row (en10, zh10) or per column (zh09), so `follows_from` of an output names the lines",
        "  of the weights it was computed from.",
    ]
    with open("README.md", "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


def main(argv):
    only = set(argv[1:])
    os.chdir(HERE)
    readme = []
    total = {"roots": 0, "consequences": 0, "right_carried": 0}
    failed = False
    for spec in sorted(ARTICLES, key=lambda a: a["file"]):
        if only and spec["file"] not in only:
            continue
        text, truth, problems = build(spec)
        truth = {"file": spec["file"], "lang": spec["lang"], **truth}
        with open(spec["file"], "w", encoding="utf-8") as f:
            f.write(text)
        base = spec["file"].rsplit(".", 1)[0]
        with open(base + ".truth.json", "w", encoding="utf-8") as f:
            json.dump(truth, f, indent=2, ensure_ascii=False)
            f.write("\n")
        problems += verify_lines(spec["file"], truth)
        for k in total:
            total[k] += len(truth[k])
        status = "ok" if not problems else "PROBLEMS"
        print(f"{spec['file']:42s} exit {truth['exit']}  roots {len(truth['roots']):2d}  "
              f"cons {len(truth['consequences']):2d}  carried {len(truth['right_carried']):2d}  "
              f"checked {truth['checked_numbers']:3d}  {status}")
        for p in problems:
            print("    " + p)
            failed = True
        readme.append((spec, truth))
    print("total", total)
    if not only:
        write_readme(readme, total)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    sys.exit(main(sys.argv))
