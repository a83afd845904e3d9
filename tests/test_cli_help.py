"""Every verb and sub-verb explains itself in --help: a description and a help for each
option."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from qkv.cli.main import build_parser


def parsers(p: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield p
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                yield from parsers(child)


def test_every_verb_has_a_description_and_every_option_a_help():
    seen = list(parsers(build_parser()))
    assert {"qkv gpt train", "qkv gpt sample", "qkv viz", "qkv check"} <= {p.prog for p in seen}
    for p in seen:
        assert p.description and p.description.strip(), f"{p.prog} --help has no description"
        for action in p._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help, f"{p.prog} {'/'.join(action.option_strings)} has no help"
