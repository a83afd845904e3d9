"""Document -> LaTeX: fragments (amsmath) ready to paste into an article, or with
``standalone`` a whole document for xelatex (ctexart where it has Chinese characters).
"""

from __future__ import annotations

import re

from qkv.render.layout import Document, Table

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "^": r"\^{}",
    "_": r"\_",
    "%": r"\%",
    "~": r"\~{}",
    # symbols a text font may lack, set as mathematics
    "ᵀ": r"$^{\top}$",
    "≤": r"$\le$",
    "≥": r"$\ge$",
    "≈": r"$\approx$",
    "∞": r"$\infty$",
}


def escape(text: str) -> str:
    return "".join(_SPECIAL.get(ch, ch) for ch in text)


_NUMERIC = re.compile(r"[-+−]?(?:\d[\d.,]*(?:e[-+]?\d+)?|∞)|[-+−]?\d*\.\d+(?:e[-+]?\d+)?")


def _number(text: str) -> str:
    if not _NUMERIC.fullmatch(text):
        return rf"\text{{{escape(text)}}}"  # a word in a table of numbers (a token)
    if text == "-∞":
        return r"-\infty"
    if "e" in text and text[0] in "-0123456789":
        mantissa, exponent = text.split("e")
        return rf"{mantissa} \times 10^{{{exponent}}}"
    return text


def matrix(t: Table) -> str:
    """A labelled matrix: token labels in a first column and a header row."""
    spec = "r|" + "r" * len(t.cols)
    head = " & ".join(
        [rf"\text{{{escape(t.corner)}}}"] + [rf"\text{{{escape(c)}}}" for c in t.cols]
    )
    body = [
        " & ".join([rf"\text{{{escape(label)}}}"] + [_number(c) for c in cells])
        for label, cells in t.rows
    ]
    rows = head + " \\\\ \\hline\n" + " \\\\\n".join(body)
    return f"\\left[\\begin{{array}}{{{spec}}}\n{rows}\n\\end{{array}}\\right]"


# a whole document is for xelatex (or tectonic): its text has √, ·, −, ∞ and, even in English,
# Chinese tokens; ctexart sets CJK fonts itself, fontspec's Latin Modern the rest
_CJK = re.compile(r"[\u3000-\u9fff\uf900-\ufaff\uff00-\uffef]")
_PACKAGES = [r"\usepackage{amsmath}", r"\usepackage[margin=2cm]{geometry}", r"\sloppy"]


def render(doc: Document, standalone: bool = False) -> str:
    body = _body(doc)
    if not standalone:
        return body
    cjk = _CJK.search(body) or _CJK.search(doc.title)
    cls = (
        [r"\documentclass{ctexart}"]
        if cjk
        else [r"\documentclass{article}", r"\usepackage{fontspec}"]
    )
    head = [*cls, *_PACKAGES, r"\begin{document}"]
    title = [rf"\section*{{{escape(doc.title)}}}", escape(doc.subtitle), ""]
    return "\n".join([*head, *title, body, r"\end{document}", ""])


def _body(doc: Document) -> str:
    out = [f"% {doc.title}", f"% {doc.subtitle}", ""]
    for sec in doc.sections:
        out += [rf"\paragraph{{{escape(sec.title)}}} {escape(sec.text)}", ""]
        if sec.table is not None:
            lhs = f"{sec.latex} = " if sec.latex else ""
            out += [r"\[", lhs + matrix(sec.table), r"\]", ""]
        if sec.expansion is not None:
            heading, _, latex = sec.expansion
            out += [escape(heading), r"\[", latex, r"\]", ""]
        for note in sec.notes:
            out += [escape(note), ""]
    return "\n".join(out)
