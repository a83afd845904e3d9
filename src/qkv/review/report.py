"""The checker's findings for people (terminal, Markdown) and machines (JSON)."""

from __future__ import annotations

from dataclasses import dataclass

from qkv.core.exact import fmt
from qkv.review.match import Finding, Judged
from qkv.review.messages import t

SCHEMA = "qkv.check/1"


@dataclass
class Report:
    file: str
    judged: list[Judged]

    @property
    def findings(self) -> list[Finding]:
        return [f for j in self.judged for f in j.findings]

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def checked(self) -> int:
        return sum(j.checked for j in self.judged)

    def to_dict(self) -> dict[str, object]:
        return {
            "schema": SCHEMA,
            "file": self.file,
            "ok": self.ok,
            "checked": self.checked,
            "matrices": [j.to_dict() for j in self.judged],
            "findings": [f.to_dict() for f in self.findings],
        }


def _true_text(j: Judged, f: Finding) -> str:
    claim = j.matrix.cells[f.row][f.col]  # type: ignore[index]
    assert f.expected is not None
    if claim.decimals == 0 and claim.exponent is None:
        return fmt(f.expected, 3)
    text = claim.rounded(f.expected, extra=1)
    if f.expected != 0 and float(text.replace("−", "-").replace("∞", "inf")) == 0:
        return fmt(f.expected, 3)
    return text


def _setting_text(j: Judged, lang: str) -> str:
    s = j.setting
    if s is None or j.quantity not in ("scaled", "masked", "weights", "output"):
        return ""
    scale = {"none": "setting.unscaled", "sqrt": "setting.scaled", "double": "setting.double"}
    parts = [t(lang, scale[s.scale])]
    if s.causal:
        parts.append(t(lang, "setting.causal"))
    return ", ".join(parts)


def _label(labels: list[str] | None, i: int) -> str:
    return f"{i + 1} ({labels[i]})" if labels and i < len(labels) else str(i + 1)


def lines(report: Report, lang: str) -> list[str]:
    """One line per finding or unrecognised matrix."""
    out = []
    for j in report.judged:
        m = j.matrix
        if j.status == "unrecognised":
            out.append(t(lang, "check.unrecognised", index=m.index, line=m.line))
        for f in j.findings:
            if f.kind == "mismatch":
                out.append(
                    t(
                        lang,
                        "check.mismatch",
                        line=f.line,
                        row=_label(m.row_labels, f.row or 0),
                        col=_label(m.col_labels, f.col or 0),
                        claimed=f.claimed,
                        true=_true_text(j, f),
                        rounded=f.expected_rounded,
                    )
                )
            else:
                out.append(
                    t(
                        lang,
                        "check.diagnosis",
                        index=m.index,
                        line=m.line,
                        quantity=t(lang, f"qty.{j.quantity}"),
                        text=t(lang, f"diag.{f.kind}"),
                    )
                )
    return out


def _rows(report: Report, lang: str) -> list[list[str]]:
    return [
        [
            str(j.matrix.index),
            str(j.matrix.line),
            "x".join(map(str, j.matrix.shape)),
            t(lang, f"qty.{j.quantity or 'unrecognised'}"),
            _setting_text(j, lang),
            t(lang, f"status.{j.status}"),
        ]
        for j in report.judged
    ]


HEADERS = ("index", "line", "shape", "quantity", "setting", "status")


def print_report(report: Report, lang: str) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    console.print(Text(t(lang, "check.title", file=report.file), style="bold underline"))
    wrong = sum(1 for f in report.findings)
    console.print(
        Text(
            t(
                lang,
                "check.summary",
                matrices=len(report.judged),
                checked=report.checked,
                wrong=wrong,
            ),
            style="dim",
        )
    )
    table = Table(box=None, header_style="bold cyan", pad_edge=True)
    for h in HEADERS:
        table.add_column(Text(t(lang, f"check.col.{h}")))
    styles = {
        "ok": "green",
        "input": "dim",
        "mismatch": "red",
        "diagnosis": "red",
        "unrecognised": "yellow",
    }
    for j, row in zip(report.judged, _rows(report, lang), strict=True):
        table.add_row(*(Text(c) for c in row[:-1]), Text(row[-1], style=styles[j.status]))
    console.print(table)
    found = lines(report, lang)
    if report.ok and not found:
        console.print(Text(t(lang, "check.ok"), style="green"))
        return
    console.print(Text(t(lang, "check.findings"), style="bold"))
    for line in found:
        console.print(Text("  • ") + Text(line))


def markdown(report: Report, lang: str) -> str:
    from qkv.markup import cell, table

    out = [
        f"### {cell(t(lang, 'check.title', file=report.file))}",
        "",
        t(
            lang,
            "check.summary",
            matrices=len(report.judged),
            checked=report.checked,
            wrong=len(report.findings),
        ),
        "",
    ]
    out += table(
        t(lang, "check.col.index"),
        [t(lang, f"check.col.{h}") for h in HEADERS[1:]],
        [(r[0], r[1:]) for r in _rows(report, lang)],
    )
    out.append("")
    found = lines(report, lang)
    if report.ok and not found:
        out.append(t(lang, "check.ok"))
    else:
        out += [f"**{t(lang, 'check.findings')}**", ""]
        out += [f"- {cell(line)}" for line in found]
    return "\n".join(out) + "\n"
