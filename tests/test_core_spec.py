"""AttentionSpec (qkv.core.spec): one value for what an attention call means, read the same
way from Python keywords, `qkv explain`'s flags and the HTTP query, recorded in Trace JSON."""

import json
import math
from fractions import Fraction

import numpy as np
import pytest

from qkv.cli.main import main
from qkv.core.attention import attention
from qkv.core.spec import AttentionSpec, spec_changes
from qkv.core.trace import Trace, trace
from qkv.errors import InputError
from tests.plain import plain_attention

X = [[1, 2, 1], [0, 1, 1], [2, 0, 1]]


@pytest.mark.parametrize(
    "spec",
    [
        AttentionSpec(),
        AttentionSpec(scale=Fraction(1, 3), causal="top_left", window=(2, 0)),
        AttentionSpec(scale="none", query_lengths=(1, 2, 3), document_ids=(0, 0, 1), heads=3),
        AttentionSpec(mask=np.array([[0.0, -np.inf], [1.5, 0.0]])),
        AttentionSpec(mask=[[True, False], [True, True]], mask_means="block", dropout_p=0.1),
        AttentionSpec(scale=0.25, row_lengths=[3, 1], score="additive"),
    ],
)
def test_json_round_trip(spec):
    back = AttentionSpec.from_json(spec.to_json())
    assert back.to_dict() == spec.to_dict()
    json.loads(spec.to_json())  # plain JSON: no NaN or Infinity


def test_keywords_are_normalised_and_hashable():
    spec = AttentionSpec(causal=True, window=1, query_lengths=[2, 3], scale=None)
    assert spec == AttentionSpec(causal="bottom_right", window=(1, 1), query_lengths=(2, 3))
    assert spec.scale == "sqrt" and hash(spec) == hash(AttentionSpec(**spec.__dict__))
    assert AttentionSpec(mask=[[0.0, -1.0]]).mask_means == "add"
    assert AttentionSpec(mask=[[1, 0]]).mask_means == "allow"


def test_spec_and_its_keywords_are_not_both_given():
    with pytest.raises(InputError, match="give spec= or causal=, not both"):
        trace(X, causal=True, spec=AttentionSpec())
    with pytest.raises(InputError, match="per query, not per batch row"):
        trace(X, spec=AttentionSpec(row_lengths=(1,)))


def test_trace_takes_a_spec_and_records_it():
    spec = AttentionSpec(scale="none", causal="top_left", query_lengths=(3, 1, 2))
    t = trace(X, spec=spec)
    assert t.spec == spec
    same = trace(X, scale="none", causal="top_left", lengths=[3, 1, 2])
    np.testing.assert_array_equal(t.weights, same.weights)
    d = json.loads(t.to_json())
    assert d["schema"] == "qkv.trace/1" and d["spec"]["causal"] == "top_left"
    assert Trace.from_json(t.to_json()).spec == spec


def test_block_polarity_hides_where_true():
    hide = np.array([[False, True, False], [False, False, True], [True, False, False]])
    t = trace(X, spec=AttentionSpec(mask=hide, mask_means="block"))
    assert np.all((t.weights == 0) == hide)
    np.testing.assert_array_equal(t.weights, trace(X, mask=~hide).weights)


def test_core_attention_takes_a_spec_with_lengths_per_query():
    rng = np.random.default_rng(0)
    q, k, v = rng.normal(size=(3, 2)), rng.normal(size=(4, 2)), rng.normal(size=(4, 2))
    spec = AttentionSpec(scale=0.5, window=(1, 1), query_lengths=(4, 2, 3))
    out = attention(q, k, v, spec=spec)
    allowed = [[j < n and abs(j - (i + 1)) <= 1 for j in range(4)] for i, n in enumerate((4, 2, 3))]
    ref, _ = plain_attention(q.tolist(), k.tolist(), v.tolist(), 0.5, allowed)
    np.testing.assert_allclose(out, ref, rtol=1e-12)


def test_text_options_are_parsed_once():
    changes = spec_changes(mask="causal-top-left+window:2,0+documents:0,0,1", lengths="2,3,3")
    assert changes == {
        "query_lengths": (2, 3, 3),
        "causal": "top_left",
        "window": (2, 0),
        "document_ids": (0, 0, 1),
    }
    assert spec_changes(heads=1, score="dot") == {}  # the defaults change nothing
    with pytest.raises(InputError, match=r"^lengths and mask length:N both"):
        spec_changes(mask="length:2", lengths="2", dash="")
    with pytest.raises(InputError, match=r"^--mask 'window:x'"):
        spec_changes(mask="window:x")


@pytest.mark.parametrize(
    "flags, query",
    [
        (["--mask", "causal+window:1,0"], {"mask": "causal+window:1,0"}),
        (["--mask", "window:1"], {"mask": "window", "window": 1}),
        (["--lengths", "2,3,3", "--scale", "none"], {"lengths": "2,3,3", "scale": "none"}),
        (["--mask", "documents:0,0,1+causal"], {"mask": "documents:0,0,1+causal"}),
    ],
)
def test_the_cli_and_the_http_api_make_the_same_spec(capsys, flags, query):
    from qkv.serve.hand import Options, make_trace

    assert main(["explain", "--format", "json", "--lang", "en", *flags]) == 0
    from_cli = json.loads(capsys.readouterr().out)
    over_http = make_trace(Options(lang="en", **query), {}).to_dict()
    assert from_cli["spec"] == over_http["spec"]
    assert from_cli["steps"] == json.loads(json.dumps(over_http["steps"]))


def test_a_window_over_http_is_the_spec_window_not_a_mask():
    from qkv.serve.hand import Options, make_trace

    t = make_trace(Options(mask="window", window=1), {"x": X})
    assert t.spec.window == (1, 1) and t.spec.mask is None
    allowed = np.array([[abs(i - j) <= 1 for j in range(3)] for i in range(3)])
    np.testing.assert_array_equal(t["masked"].mask, allowed)
    s = np.array(X) @ np.array(X).T / math.sqrt(3)
    e = np.where(allowed, np.exp(s - s.max(axis=1, keepdims=True)), 0.0)
    np.testing.assert_allclose(t.weights, e / e.sum(axis=1, keepdims=True), rtol=1e-13)


def _allowed_by_hand(spec: AttentionSpec, n_q: int, n_k: int) -> np.ndarray:
    """Which keys each query may see under ``spec``, written out from README "Semantics"."""
    offset = 0 if spec.causal == "top_left" else n_k - n_q  # queries stand at i + offset
    hide = None if spec.mask is None else np.asarray(spec.mask, dtype=bool)
    out = np.ones((n_q, n_k), dtype=bool)
    for i in range(n_q):
        p = i + offset
        for j in range(n_k):
            ok = spec.causal is None or j <= p
            if spec.window is not None:
                ok = ok and p - spec.window[0] <= j <= p + spec.window[1]
            if spec.query_lengths is not None:
                n = spec.query_lengths[i if len(spec.query_lengths) > 1 else 0]
                ok = ok and j < n
            if spec.document_ids is not None:
                ids = spec.document_ids
                ok = ok and 0 <= p < n_k and ids[p] == ids[j]
            if hide is not None:
                ok = ok and (not hide[i, j] if spec.mask_means == "block" else hide[i, j])
            out[i, j] = ok
    return out


@pytest.mark.parametrize("seed", range(40))
def test_random_specs_agree_in_the_hand_calculation_the_reference_and_by_hand(seed):
    rng = np.random.default_rng(seed)
    n_q, n_k, d = int(rng.integers(1, 5)), int(rng.integers(1, 6)), int(rng.integers(1, 4))
    q, k, v = (rng.integers(-3, 4, size=(n, d)) for n in (n_q, n_k, n_k))
    pick = rng.random(6) < 0.5
    mask = rng.random((n_q, n_k)) < 0.7 if pick[4] else None
    spec = AttentionSpec(
        scale=Fraction(1, 2) if pick[0] else "none",
        causal=["bottom_right", "top_left"][int(rng.integers(2))] if pick[1] else None,
        window=(int(rng.integers(0, 3)), int(rng.integers(0, 3))) if pick[2] else None,
        query_lengths=tuple(int(n) for n in rng.integers(0, n_k + 1, size=n_q))
        if pick[3]
        else None,
        document_ids=tuple(sorted(int(i) for i in rng.integers(0, 2, size=n_k)))
        if pick[5]
        else None,
        mask=mask,
        mask_means=["allow", "block"][int(rng.integers(2))] if mask is not None else None,
    )
    allowed = _allowed_by_hand(spec, n_q, n_k)
    scale = 0.5 if pick[0] else 1.0
    ref_out, ref_w = plain_attention(q.tolist(), k.tolist(), v.tolist(), scale, allowed.tolist())
    t = trace(q=q, k=k, v=v, spec=spec)
    np.testing.assert_allclose(t.weights, ref_w, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(t.output, ref_out, rtol=1e-12, atol=1e-12)
    out, w = attention(q, k, v, spec=spec, return_weights=True)
    np.testing.assert_allclose(w, ref_w, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-12)
    masked = t["masked"] if "masked" in t else t["scores"]
    if masked.exact is not None:  # the numbers the hand calculation prints are the floats
        live = np.isfinite(masked.matrix)
        exact = np.array([[float(e) for e in row] for row in masked.exact])
        np.testing.assert_allclose(exact[live], masked.matrix[live], rtol=1e-15)
