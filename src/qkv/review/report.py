"""The checker's findings for people (terminal, Markdown) and machines (JSON, qkv.check/2).

A finding is a root mistake: a number that does not follow from what was printed before it
(or a whole fragment computed a known wrong way). Numbers that are wrong only because they
were computed from a wrong number are listed under the mistake they follow from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from qkv.core.exact import fmt
from qkv.review.document import Document
from qkv.review.examples import Example, Placement
from qkv.review.fragments import Fragment, Skipped
from qkv.review.judge import Judgement, Verdict
from qkv.review.kinds import EXPLAINED, WRONG, Status
from qkv.review.messages import t
from qkv.review.numbers import Claim

SCHEMA = "qkv.check/2"
FILES_SCHEMA = "qkv.check-files/1"  # several articles: {"exit", "files": [qkv.check/2, …]}
EXIT_OK, EXIT_FINDINGS, EXIT_UNREADABLE, EXIT_NOTHING = 0, 1, 2, 3
SEVERITY = (EXIT_OK, EXIT_NOTHING, EXIT_FINDINGS, EXIT_UNREADABLE)  # the worst is last


@dataclass
class Finding:
    """A root mistake: one number, or a whole fragment computed a known wrong way."""

    kind: str  # "mismatch" or a diagnosis (scale_forgotten, softmax_over_columns, ...)
    verdicts: list[Verdict]
    consequences: list[Verdict] = field(default_factory=list)

    @property
    def placement(self) -> Placement:
        return self.verdicts[0].placement

    @property
    def fragment(self) -> Fragment:
        return self.placement.fragment

    @property
    def line(self) -> int:
        return self.verdicts[0].line


@dataclass
class Report:
    file: str
    doc: Document
    fragments: list[Fragment]
    examples: list[Example]
    judgements: list[Judgement]
    skipped: list[Skipped]
    findings: list[Finding] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.findings = _findings(self.judgements)

    @cached_property
    def verdicts(self) -> list[Verdict]:
        """Every judged number once (a fragment placed twice is judged once)."""
        return _unique(self.judgements)

    @cached_property
    def by_fragment(self) -> dict[int, list[Verdict]]:
        out: dict[int, list[Verdict]] = {}
        for v in self.verdicts:
            out.setdefault(v.placement.fragment.index, []).append(v)
        return out

    @property
    def checked(self) -> int:
        return len(self.verdicts)

    @property
    def wrong(self) -> int:
        return sum(v.status in WRONG for v in self.verdicts)

    @property
    def consequences(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.status == Status.CONSEQUENCE]

    @property
    def ok(self) -> bool:
        return self.checked > 0 and self.wrong == 0

    @property
    def exit_code(self) -> int:
        if self.checked == 0:
            return EXIT_NOTHING
        return EXIT_OK if self.wrong == 0 else EXIT_FINDINGS

    def source_line(self, line: int) -> int:
        return self.doc.lines[line].source_line

    def __repr__(self) -> str:
        return (
            f"<qkv check {self.file}: {self.checked} numbers checked, {self.wrong} wrong, "
            f"exit {self.exit_code}>"
        )

    def to_json(self) -> str:
        """The report as JSON (schema qkv.check/2)."""
        from qkv.core.trace import dumps

        return dumps(to_dict(self))

    def markdown(self, lang: str = "en") -> str:
        """The report as a Markdown review comment (zh or en)."""
        return markdown(self, lang)

    def _repr_markdown_(self) -> str:  # a notebook shows the review comment
        return markdown(self, "en")


def _key(v: Verdict) -> tuple[int, int, int]:
    """The printed number a verdict is about (two judgements of one number share it)."""
    return (v.placement.fragment.index, v.r, v.c)


def _findings(judgements: list[Judgement]) -> list[Finding]:
    """Root mistakes in line order, each with the consequences that follow from it."""
    out: list[Finding] = []
    by_root: dict[tuple[int, int, int], Finding] = {}  # a root's number -> its finding
    diagnosed: dict[int, Finding] = {}  # fragment -> its diagnosis
    unique = _unique(judgements)
    for v in unique:
        if v.status == Status.ROOT:
            by_root[_key(v)] = Finding("mismatch", [v])
            out.append(by_root[_key(v)])
        elif v.status == Status.DIAGNOSIS:
            index = v.placement.fragment.index
            if index not in diagnosed:
                diagnosed[index] = Finding(v.diagnosis or "", [])
                out.append(diagnosed[index])
            diagnosed[index].verdicts.append(v)
            by_root[_key(v)] = diagnosed[index]
    for v in unique:
        roots = v.roots() if v.status == Status.CONSEQUENCE else []
        finding = next((by_root[_key(r)] for r in roots if _key(r) in by_root), None)
        if finding is not None:
            finding.consequences.append(v)
    out.sort(key=lambda f: (f.line, f.verdicts[0].c))
    return out


def _unique(judgements: list[Judgement]) -> list[Verdict]:
    """Every judged number once: the first judgement of it (examples before equations),
    except that arithmetic found wrong by itself is wrong as its own left side says,
    whatever an example says of it."""
    chosen: dict[tuple[int, int, int], Verdict] = {}
    for j in judgements:
        for v in j.verdicts:
            key = _key(v)
            wrong_alone = j.example.index == -1 and v.status == Status.ROOT  # its own arithmetic
            if key not in chosen or wrong_alone:
                chosen[key] = v
    return list(chosen.values())


def _label(labels: list[str] | None, i: int) -> str:
    return f"{i + 1} ({labels[i]})" if labels and i < len(labels) else str(i + 1)


def true_text(claim: Claim, true: float) -> str:
    """The true value with a digit more than the claim has, and at least three."""
    return fmt(true, max(claim.significant + 1, 3))


def number_line(report: Report, v: Verdict, lang: str) -> str:
    """'line 46, row 1 (笔), column 2 (记): written 0.064, true value 0.0634 (0.063 …)'."""
    f = v.placement.fragment
    true, rounded = true_text(v.claim, v.true), v.claim.rounded(v.true)
    values = {
        "line": report.source_line(v.line),
        "claimed": v.claim.text,
        "true": true,
        # "true value 2" needs no "(2 at the written precision)"
        "rounded": "" if rounded == true else t(lang, "check.rounded", rounded=rounded),
    }
    if f.vector:
        return t(lang, "check.vector", col=_label(f.col_labels, v.c), **values)
    row, col = _label(f.row_labels, v.r), _label(f.col_labels, v.c)
    return t(lang, "check.mismatch", row=row, col=col, **values)


def finding_line(report: Report, finding: Finding, lang: str) -> str:
    if finding.kind == "mismatch":
        return number_line(report, finding.verdicts[0], lang)
    return t(
        lang,
        "check.diagnosis",
        where=report.doc.where(finding.line, lang),
        quantity=t(lang, f"qty.{finding.placement.role}"),
        text=t(lang, f"diag.{finding.kind}"),
    )


def consequence_line(report: Report, finding: Finding, lang: str) -> str | None:
    if not finding.consequences:
        return None
    lines = sorted({report.source_line(v.line) for v in finding.consequences})
    places = ", ".join(map(str, lines[:8])) + (" …" if len(lines) > 8 else "")
    prefix = "lines " if lang == "en" else "第 "
    suffix = "" if lang == "en" else " 行"
    return t(
        lang, "check.consequences", count=len(finding.consequences), places=prefix + places + suffix
    )


def corrected_line(report: Report, finding: Finding, lang: str) -> str:
    """The true values of a fragment computed a known wrong way: its rows that hold the
    mistake, whole, at the precision they were written with (at most a few rows)."""
    wrong_rows = {v.r for v in finding.verdicts}
    rows: dict[int, list[str]] = {}
    for v in sorted(report.by_fragment.get(finding.fragment.index, []), key=lambda v: (v.r, v.c)):
        if v.r in wrong_rows:
            rows.setdefault(v.r, []).append(v.claim.rounded(v.true))
    shown = [
        t(lang, "check.corrected.row", row=r + 1, values=" ".join(values))
        for r, values in list(rows.items())[:MAX_CORRECTED_ROWS]
    ]
    more = " …" if len(rows) > MAX_CORRECTED_ROWS else ""
    return t(lang, "check.corrected", values=t(lang, "check.corrected.sep").join(shown) + more)


MAX_CORRECTED_ROWS = 4


def lines(report: Report, lang: str) -> list[str]:
    """One line per finding (the true values of a diagnosed fragment and its consequences on
    the next lines)."""
    out = []
    for f in report.findings:
        out.append(finding_line(report, f, lang))
        if f.kind != "mismatch":
            out.append("  " + corrected_line(report, f, lang))
        more = consequence_line(report, f, lang)
        if more:
            out.append("  " + more)
    return out


def summary(report: Report, lang: str) -> str:
    if report.checked == 0:
        return t(lang, "check.nothing")
    if report.wrong == 0:
        return t(lang, "check.ok", checked=report.checked)
    mistaken = sum(len(f.verdicts) for f in report.findings)
    consequences = sum(len(f.consequences) for f in report.findings)
    return t(
        lang,
        "check.summary.roots"
        if mistaken == report.wrong == len(report.findings)
        else "check.summary",
        examples=sum(1 for j in report.judgements if j.verdicts and j.example.index >= 0),
        checked=report.checked,
        wrong=report.wrong,
        mistaken=mistaken,
        roots=len(report.findings),
        consequences=consequences,
    )


def skipped_lines(report: Report, lang: str) -> list[str]:
    return [
        t(lang, "check.skipped", line=report.source_line(s.line), why=s.text(lang))
        for s in sorted(report.skipped, key=lambda s: s.line)
    ]


def _placements(report: Report, f: Fragment) -> tuple[Placement | None, bool, set[Status]]:
    """(first placement of a fragment, whether it was given, its numbers' statuses)."""
    placement, given = None, False
    for e in report.examples:
        for p in e.placements:
            if p.fragment is f:
                placement = placement or p
                given = given or p.given
    statuses = {v.status for v in report.by_fragment.get(f.index, [])}
    return placement, given, statuses


def fragment_status(report: Report, f: Fragment) -> tuple[str, Placement | None]:
    placement, given, statuses = _placements(report, f)
    if placement is None:
        judged = report.by_fragment.get(f.index)
        if not judged:
            return "unplaced", None
        placement = judged[0].placement  # an equation checks itself
    if given and not statuses:
        return "input", placement
    named = (
        (Status.DIAGNOSIS, "diagnosis"),
        (Status.ROOT, "wrong"),
        (Status.CONSEQUENCE, "consequence"),
    )
    for status, name in named:
        if status in statuses:
            return name, placement
    return ("ok" if statuses else "unplaced"), placement


# steps the scale and the masks have not reached yet: their setting does not name them
_BEFORE_SCALING = ("xt", "q", "k", "v", "scores")


def setting_text(j: Judgement, lang: str, role: str | None = None) -> str:
    c = j.convention
    names = {"none": "setting.unscaled", "sqrt": "setting.scaled", "double": "setting.double"}
    parts = []
    if role in _BEFORE_SCALING:
        pass
    elif c.scale in names:
        parts = [t(lang, names[c.scale])]
    else:
        parts = [t(lang, "setting.factor", factor=c.scale)]
    if c.causal and role not in _BEFORE_SCALING:
        parts.append(t(lang, "setting.causal"))
    if c.heads > 1:
        parts.append(t(lang, "setting.head", head=c.head + 1, heads=c.heads))
    if c.padded and role not in _BEFORE_SCALING:
        parts.append(t(lang, "setting.padded", keys=", ".join(str(k + 1) for k in c.padded)))
    if c.transposed:
        parts.append(t(lang, "setting.transposed"))
    return ", ".join(parts)


HEADERS = ("index", "line", "shape", "quantity", "setting", "status")


MAX_ROWS = 40  # a longer table shows only what is not right


def table_rows(report: Report, lang: str) -> list[list[str]]:
    judgements = {id(j.example): j for j in report.judgements}
    rows = []
    for f in report.fragments:
        status, p = fragment_status(report, f)
        if len(report.fragments) > MAX_ROWS and status in ("ok", "input"):
            continue
        example = None
        if p is not None:
            example = next((e for e in report.examples if p in e.placements), None)
        role = p.role if p is not None else "unplaced"
        j = judgements.get(id(example))
        setting = (
            setting_text(j, lang, role) if j is not None and p is not None and not p.given else ""
        )
        rows.append(
            [
                str(f.index + 1),
                str(report.source_line(f.line)),
                "x".join(map(str, f.shape)),
                t(lang, f"qty.{role}"),
                setting,
                t(lang, f"status.{status}"),
            ]
        )
    return rows


def title(report: Report, lang: str) -> str:
    return t(lang, "check.title", file=report.file)


def print_report(report: Report, lang: str) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # findings and notes are never wrapped by rich: one line each, whole, to copy or to grep
    console = Console(soft_wrap=True)
    console.print(Text(title(report, lang), style="bold underline"))
    console.print(Text(summary(report, lang), style="green" if report.ok else "dim"))
    if report.fragments:
        table = Table(box=None, header_style="bold cyan", pad_edge=True)
        for h in HEADERS:  # fold, never "…": a cut line number or shape misleads
            table.add_column(Text(t(lang, f"check.col.{h}")), overflow="fold")
        styles = {"ok": "green", "input": "dim", "wrong": "red", "diagnosis": "red"}
        for row in table_rows(report, lang):
            status_style = next(
                (s for k, s in styles.items() if t(lang, f"status.{k}") == row[-1]), "yellow"
            )
            table.add_row(*(Text(c) for c in row[:-1]), Text(row[-1], style=status_style))
        console.print(table)
    found = lines(report, lang)
    if found:
        console.print(Text(t(lang, "check.findings"), style="bold"))
        for line in found:
            bullet = "    " if line.startswith("  ") else "  • "
            console.print(Text(bullet) + Text(line.strip()))
    readings = reading_lines(report, lang)
    if readings:
        console.print(Text(t(lang, "check.readings"), style="bold"))
        for line in readings:
            console.print(Text("  • ") + Text(line))
    notes = skipped_lines(report, lang)
    if notes:
        console.print(Text(t(lang, "check.skipped.title"), style="bold"))
        for line in notes:
            console.print(Text("  • ") + Text(line))


def markdown(report: Report, lang: str) -> str:
    from qkv.markup import cell, table

    out = [f"### {cell(t(lang, 'check.title', file=report.file))}", "", summary(report, lang), ""]
    rows = table_rows(report, lang)
    if rows:
        cols = [t(lang, f"check.col.{h}") for h in HEADERS[1:]]
        out += table(t(lang, "check.col.index"), cols, [(r[0], r[1:]) for r in rows])
        out.append("")
    found = lines(report, lang)
    if found:
        out += [f"**{t(lang, 'check.findings')}**", ""]
        out += [
            ("  " if line.startswith("  ") else "") + f"- {cell(line.strip())}" for line in found
        ]
    readings = reading_lines(report, lang)
    if readings:
        out += ["", f"**{t(lang, 'check.readings')}**", ""]
        out += [f"- {cell(line)}" for line in readings]
    notes = skipped_lines(report, lang)
    if notes:
        out += ["", f"**{t(lang, 'check.skipped.title')}**", ""]
        out += [f"- {cell(line)}" for line in notes]
    return "\n".join(out) + "\n"


def _number(x: float | None) -> float | str | None:
    import math

    if x is None or math.isfinite(x):
        return x
    if math.isnan(x):
        return "nan"
    return "-inf" if x < 0 else "inf"


def _verdict_dict(report: Report, v: Verdict) -> dict[str, object]:
    f = v.placement.fragment
    d: dict[str, object] = {
        "line": report.source_line(v.line),
        "where": report.doc.where(v.line),
        "fragment": f.index,
        "quantity": v.placement.role,
        "row": v.r,
        "col": v.c,
        "claimed": v.claim.text,
        "expected": _number(v.true),
        "expected_rounded": v.claim.rounded(v.true),
    }
    if v.follows is not None and v.status in WRONG:
        d["from_printed"] = _number(v.follows)
    return d


def to_dict(report: Report) -> dict[str, object]:
    """The report as JSON (schema qkv.check/2, documented in the README)."""
    findings = []
    consequences = []
    for k, f in enumerate(report.findings):
        d: dict[str, object] = {"kind": f.kind, "line": report.source_line(f.line)}
        d["where"] = report.doc.where(f.line)
        d["fragment"] = f.fragment.index
        d["quantity"] = f.placement.role
        if f.kind == "mismatch":
            d.update(_verdict_dict(report, f.verdicts[0]))
        else:
            d["numbers"] = [_verdict_dict(report, v) for v in f.verdicts]
        d["consequences"] = len(f.consequences)
        findings.append(d)
        for v in f.consequences:
            c = _verdict_dict(report, v)
            c["follows_from"] = sorted({report.source_line(r.line) for r in v.roots()})
            c["finding"] = k
            consequences.append(c)
    return {
        "schema": SCHEMA,
        "file": report.file,
        "exit": report.exit_code,
        "ok": report.ok,
        "checked": report.checked,
        "wrong": report.wrong,
        "examples": [_example_dict(report, j) for j in report.judgements if j.example.placements],
        "fragments": [_fragment_dict(report, f) for f in report.fragments],
        "findings": findings,
        "consequences": consequences,
        "skipped": [
            {"line": report.source_line(s.line), "where": report.doc.where(s.line), "why": s.why}
            for s in report.skipped
        ],
        "notes": report.doc.notes,
    }


def _example_dict(report: Report, j: Judgement) -> dict[str, object]:
    first, last = j.example.lines
    return {
        "index": j.example.index,
        "lines": [report.source_line(first), report.source_line(last)],
        "convention": j.convention.to_dict(),
        "given": sorted(j.example.given),
        "checked": len(j.verdicts),
        "explained": sum(v.status in EXPLAINED for v in j.verdicts),
        "wrong": sum(v.status in WRONG for v in j.verdicts),
    }


def reading_lines(report: Report, lang: str) -> list[str]:
    """Each worked example's chosen reading and how many of its numbers it explains (right,
    carried, or following from a reported mistake)."""
    out = []
    for j in report.judgements:
        if j.example.index < 0 or not j.verdicts:
            continue  # arithmetic and copies are judged by themselves
        first, last = j.example.lines
        out.append(
            t(
                lang,
                "check.reading",
                index=j.example.index + 1,
                first=report.source_line(first),
                last=report.source_line(last),
                setting=setting_text(j, lang),
                explained=sum(v.status in EXPLAINED for v in j.verdicts),
                numbers=len(j.verdicts),
            )
        )
    return out


def _fragment_dict(report: Report, f: Fragment) -> dict[str, object]:
    status, p = fragment_status(report, f)
    d: dict[str, object] = {
        "index": f.index,
        "line": report.source_line(f.line),
        "where": report.doc.where(f.line),
        "kind": f.kind,
        "shape": list(f.shape),
        "label": f.label,
        "caption": f.context[0] if f.context else "",
        "status": status,
    }
    if p is not None:
        d["quantity"] = p.role
        d["example"] = next((e.index for e in report.examples if p in e.placements), None)
        d["rows"] = p.rows
        if p.transposed:
            d["transposed"] = True
    return d


# --- several articles in one run -----------------------------------------------------------

FILE_HEADERS = ("file", "checked", "wrong", "mistakes", "result")


def file_row(name: str, report: Report | None, lang: str) -> list[str]:
    """One article's line of the summary table (None: it could not be read)."""
    if report is None:
        return [name, "", "", "", t(lang, "files.unreadable")]
    result = {EXIT_OK: "files.ok", EXIT_FINDINGS: "files.findings", EXIT_NOTHING: "files.nothing"}
    counts = [report.checked, report.wrong, len(report.findings)]
    return [name, *map(str, counts), t(lang, result[report.exit_code])]


def _file_headers(lang: str) -> list[str]:
    return [t(lang, f"files.col.{h}") for h in FILE_HEADERS]


def files_text(rows: list[list[str]], lang: str) -> str:
    from rich.cells import cell_len  # a Chinese character takes two columns

    table = [_file_headers(lang), *rows]
    widths = [max(cell_len(r[k]) for r in table) for k in range(len(FILE_HEADERS))]
    return "\n".join(
        "  ".join(c + " " * (w - cell_len(c)) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    )


def files_markdown(rows: list[list[str]], lang: str) -> str:
    from qkv.markup import cell

    head = _file_headers(lang)
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def print_files(rows: list[list[str]], lang: str) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, header_style="bold cyan", title=t(lang, "files.title", count=len(rows)))
    for h in _file_headers(lang):
        table.add_column(Text(h), overflow="fold")
    for row in rows:
        table.add_row(*(Text(c) for c in row))
    Console().print(table)
