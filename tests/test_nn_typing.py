"""qkv.nn.attention's return type follows return_weights and return_lse, for a type checker
(mypy on a snippet that uses it, in the test's folder)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
api = pytest.importorskip("mypy.api")

SNIPPET = """
from typing import assert_type
import torch
from qkv.nn import attention

q = torch.zeros(1, 1, 2, 4)
assert_type(attention(q, q, q), torch.Tensor)
assert_type(attention(q, q, q, causal=True, backend="math"), torch.Tensor)
assert_type(attention(q, q, q, return_weights=True), tuple[torch.Tensor, torch.Tensor])
assert_type(attention(q, q, q, return_lse=True), tuple[torch.Tensor, torch.Tensor])
assert_type(
    attention(q, q, q, return_weights=True, return_lse=True),
    tuple[torch.Tensor, torch.Tensor, torch.Tensor],
)
flag: bool = bool(q.sum() > 0)
assert_type(attention(q, q, q, return_lse=flag), torch.Tensor | tuple[torch.Tensor, ...])
"""


def _mypy(tmp_path, code: str) -> tuple[str, int]:
    f = tmp_path / "use.py"
    f.write_text(code, encoding="utf-8")
    out, err, status = api.run(
        [
            str(f),
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--follow-imports=silent",
        ]
    )
    return out + err, status


@pytest.mark.slow  # mypy reads torch: about a minute
def test_the_return_type_follows_what_is_asked(tmp_path):
    wrong = "assert_type(attention(q, q, q), tuple[torch.Tensor, torch.Tensor])\n"
    code = SNIPPET + wrong
    last = code.count("\n")  # the planted line's number
    out, status = _mypy(tmp_path, code)
    # every expectation holds but the one planted wrong on the last line
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert status == 1 and len(errors) == 1 and f"use.py:{last}:" in errors[0], out
