"""The table of words that name each step (review/words.py) is data: every entry names its
phrases as that step, and the table keeps its order, most specific first."""

from __future__ import annotations

import pytest

from qkv.review.kinds import Role
from qkv.review.roles import role_of
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
