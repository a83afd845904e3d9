"""The table of words that name each step (review/words.py) is data: every entry names its
phrases as that step, and the table keeps its order, most specific first."""

from __future__ import annotations

import pytest

from qkv.review.check import check
from qkv.review.kinds import Role
from qkv.review.report import to_dict
from qkv.review.roles import describe, role_of
from qkv.review.words import ROLE_WORDS

PHRASES = [(w.role, phrase) for w in ROLE_WORDS for phrase in w.says]


def test_every_entry_has_phrases_to_hold_it_to():
    assert all(w.says for w in ROLE_WORDS)


@pytest.mark.parametrize("role, phrase", PHRASES, ids=[f"{r}:{p}" for r, p in PHRASES])
def test_each_phrase_names_its_step(role, phrase):
    assert role_of(phrase) == role


@pytest.mark.parametrize(
    "phrase, role",
    [
        ("weights for the query", Role.WQ),  # not the attention weights
        ("weighted values", Role.WEIGHTED),  # not the weights
        ("the output, with the weights printed above", Role.OUTPUT),  # what it is made from
        ("softmax of the scores gives the weights", Role.WEIGHTS),  # the result is named last
        ("d_k = 4", None),  # a dimension names no key
    ],
)
def test_the_more_specific_words_win(phrase, role):
    assert role_of(phrase) == role


@pytest.mark.parametrize(
    "words, role, names",
    [
        ("three characters, each a 5-vector, Q = K = V = X:", Role.X, ["x"]),
        ("Q = K = X (no projection):", Role.X, ["x"]),
        ("in self-attention Q=K=V:", Role.Q, ["q", "k", "v"]),
        ("we set Q = X W_Q:", Role.Q, []),  # a product, not another name for X
        ("Q = K = X W:", Role.Q, []),
        ("Q = Xᵀ:", Role.XT, []),
    ],
)
def test_one_matrix_under_several_names(words, role, names):
    d = describe("", [words])
    assert (d.role, d.names) == (role, names)


ALIASED = """三个字 笔、记、本,每个字是一个 5 维向量,Q = K = V = X:

| 字 | x1 | x2 | x3 | x4 | x5 |
|---|---|---|---|---|---|
| 笔 | 2 | 0 | 1 | 1 | 0 |
| 记 | 0 | 1 | 1 | 0 | 1 |
| 本 | 1 | 1 | 0 | 2 | 1 |

得分 X·Xᵀ:

| | 笔 | 记 | 本 |
|---|---|---|---|
| 笔 | 6 | 1 | 4 |
| 记 | 1 | 3 | 2 |
| 本 | 4 | 2 | 7 |
"""


def test_scores_of_an_aliased_input_are_checked():
    """X given as Q = K = V: X·Xᵀ is computed from it, so a slip in the scores is found."""
    right = to_dict(check(ALIASED, "a.md"))
    assert right["exit"] == 0 and right["checked"] == 9
    wrong = to_dict(check(ALIASED.replace("| 记 | 1 | 3 | 2 |", "| 记 | 1 | 4 | 2 |"), "a.md"))
    found = [(f["line"], f["claimed"], f["expected"]) for f in wrong["findings"]]
    assert found == [(14, "4", 3.0)]


def test_masked_scores_in_chinese_name_the_masked_step_not_the_scores():
    from qkv.review.roles import role_of

    for words in ("掩码后分数:", "加掩码后的相似度", "掩码后的注意力分数"):
        assert role_of(words) == "masked", words
    assert role_of("原始分数:") == "scores"
