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


def test_a_mistyped_flag_is_told_by_its_verb_with_the_likely_one(capsys):
    import pytest

    from qkv.cli.main import main

    with pytest.raises(SystemExit) as e:
        main(["explain", "--exmaple", "search"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("qkv explain: error: unrecognized arguments: --exmaple search")
    assert "did you mean --example?" in err and err.endswith("(see qkv explain --help)")
    with pytest.raises(SystemExit):
        main(["gpt", "train", "--stpes", "3"])
    assert "qkv gpt train: error: unrecognized arguments: --stpes 3; did you mean --steps?" in (
        capsys.readouterr().err
    )
