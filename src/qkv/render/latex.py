"""Document -> LaTeX fragments (amsmath), ready to paste into an article.

Chinese labels need a CJK-capable engine (xelatex with xeCJK, or ctex).
"""

from __future__ import annotations

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
}


def escape(text: str) -> str:
    return "".join(_SPECIAL.get(ch, ch) for ch in text)


def _number(text: str) -> str:
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


def render(doc: Document) -> str:
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
