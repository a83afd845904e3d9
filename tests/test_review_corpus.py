"""Every article in tests/articles against its truth file.

The truth files were computed independently of the checker (tests/articles/make_truth.py,
heldout2/make_truth.py and heldout3/make_truth.py hold the articles' inputs and compute every
true value with NumPy; the older articles' truths list the errors planted by hand). For each
article the checker must give the expected exit code, flag exactly the wrong numbers (each
where its mistake is made, or as following from an earlier one), give each mistake's true
value (or what the printed numbers before it give), and flag none of the carried roundings.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from qkv.review.check import check
from qkv.review.report import to_dict

ARTICLES = Path(__file__).parent / "articles"
TRUTHS = sorted(ARTICLES.rglob("*.truth.json"))
# heldout2/ was written by someone who had not seen the checker, to measure it; this one still
# shows a gap: an exponent copied wrong inside written-out arithmetic (e^{0.95} for the score
# 0.59) is no step the checker models.
# heldout3's en26 counts three weights of a fragment computed without the stated scaling as
# right (its truth lets printed integer scores move by ±0.5); the checker names the whole
# fragment "scaling left out".
KNOWN_GAPS = {"en25_softmax_equation_wrong_entry", "en26_reddit_forgot_scaling"}


def _slack(root: dict) -> float:
    """How far a stated true value may be from ours: 0.1 %, or half a unit of the written
    number's last place (a truth may state the true value at the precision it was printed)."""
    decimals = len(root["claimed"].split(".")[1]) if "." in root["claimed"] else 0
    return max(1e-3 * abs(root["true"]), 1e-6, 0.5 * 10.0**-decimals if decimals > 2 else 0)


def article_of(truth: Path) -> Path:
    stem = truth.name.removesuffix(".truth.json")
    folder = truth.parent
    (article,) = [p for p in folder.glob(stem + ".*") if not p.name.endswith(".truth.json")]
    return article


def flagged(
    report: dict[str, object],
) -> tuple[Counter[tuple[int, str]], Counter[tuple[int, str]], dict]:
    roots: Counter[tuple[int, str]] = Counter()
    true_values: dict[tuple[int, str], list[tuple[float, float | None]]] = {}
    for f in report["findings"]:  # type: ignore[attr-defined]
        for n in [f] if f["kind"] == "mismatch" else f["numbers"]:
            roots[(n["line"], n["claimed"])] += 1
            # the true value, and what the printed numbers before it give
            true_values.setdefault((n["line"], n["claimed"]), []).append(
                (n["expected"], n.get("from_printed"))
            )
    consequences = Counter((c["line"], c["claimed"]) for c in report["consequences"])  # type: ignore[attr-defined]
    return roots, consequences, true_values


def test_the_corpus_is_large_and_varied():
    suffixes = Counter(article_of(t).suffix for t in TRUTHS)
    assert len(TRUTHS) >= 25
    assert suffixes[".ipynb"] >= 2 and suffixes[".html"] >= 2 and suffixes[".md"] >= 10
    exits = Counter(json.loads(t.read_text(encoding="utf-8"))["exit"] for t in TRUTHS)
    assert exits[0] >= 10 and exits[1] >= 10 and exits[3] >= 2


@pytest.mark.parametrize(
    "truth_path",
    [
        pytest.param(t, marks=pytest.mark.xfail(strict=True, reason="a known gap"))
        if t.name.removesuffix(".truth.json") in KNOWN_GAPS
        else t
        for t in TRUTHS
    ],
    ids=lambda p: p.name.removesuffix(".truth.json"),
)
def test_article_against_its_truth(truth_path):
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    article = article_of(truth_path)
    report = to_dict(check(article.read_text(encoding="utf-8"), article.name))
    assert report["exit"] == truth["exit"]
    roots, consequences, true_values = flagged(report)
    want_roots = Counter((r["line"], r["claimed"]) for r in truth["roots"])
    want_consequences = Counter((c["line"], c["claimed"]) for c in truth["consequences"])
    assert roots == want_roots
    assert consequences == want_consequences
    for r in truth["roots"]:  # a truth may state either (the same written number: one each)
        options = true_values[(r["line"], r["claimed"])]
        match = [
            k
            for k, values in enumerate(options)
            if any(v is not None and abs(v - r["true"]) <= _slack(r) for v in values)
        ]
        assert match, (r, options)
        options.pop(match[0])
    carried = {(c["line"], c["claimed"]) for c in truth.get("right_carried", [])}
    assert not carried & set(roots + consequences)
