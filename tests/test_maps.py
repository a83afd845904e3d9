"""AttentionMaps as a user meets it in Python."""

from __future__ import annotations

import numpy as np

from qkv.maps import AttentionMaps


def test_attention_maps_print_in_one_line():
    maps = AttentionMaps(np.full((2, 3, 8, 8), 1 / 8, dtype=np.float32), list("abcdefgh"))
    assert str(maps) == repr(maps)
    assert repr(maps).startswith("<AttentionMaps: 2 layer(s) × 3 head(s), 8 × 8 weights")
    assert "\n" not in repr(maps) and "'f', …]" in repr(maps)
