"""AttentionMaps: layers x heads x queries x keys, with the tokens; saved as .npz.

What a model's attention looks like, in one small object that the pictures draw.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qkv.errors import InputError

SCHEMA = "qkv.maps/1"


@dataclass
class AttentionMaps:
    maps: np.ndarray  # (layers, heads, queries, keys), float32
    tokens: list[str]  # one per query (and key, for self-attention)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.maps.ndim != 4:
            raise InputError(
                f"attention maps must be layers x heads x N x N, got {self.maps.shape}"
            )
        if self.maps.shape[-2] != len(self.tokens):
            raise InputError(f"{len(self.tokens)} tokens for maps with {self.maps.shape[-2]} rows")

    @property
    def layers(self) -> int:
        return self.maps.shape[0]

    @property
    def heads(self) -> int:
        return self.maps.shape[1]

    def save(self, path: str | Path) -> Path:
        """Write a .npz (atomically: a failed write leaves no half file)."""
        from qkv.atomic import write_atomic

        path = Path(path)
        meta = json.dumps({"schema": SCHEMA, **self.meta}, ensure_ascii=False)
        write_atomic(
            path,
            lambda tmp: np.savez_compressed(
                tmp,
                maps=self.maps.astype(np.float32),
                tokens=np.array(self.tokens, dtype=str),
                meta=np.array(meta),
            ),
        )
        return path

    def _repr_html_(self) -> str:
        """Jupyter: the shape, the tokens, each head's summary, and one head as a picture."""
        from html import escape

        from qkv.viz.summary import summarise

        rows = "".join(
            f"<tr><td>{h.layer}</td><td>{h.head}</td><td>{h.entropy:.2f}</td>"
            f"<td>{h.first:.2f}</td><td>{h.previous:.2f}</td><td>{h.same:.2f}</td>"
            f"<td>{h.distance:.2f}</td></tr>"
            for h in summarise(self)
        )
        tokens = " ".join(f"<code>{escape(t)}</code>" for t in self.tokens[:64])
        more = f" … ({len(self.tokens)} tokens)" if len(self.tokens) > 64 else ""
        return (
            f"<div class='qkv-maps'><p>{self.layers} layers × {self.heads} heads × "
            f"{len(self.tokens)} tokens: {tokens}{more}</p>{_picture(self)}"
            "<table><thead><tr><th>layer</th><th>head</th><th>entropy (bits)</th>"
            "<th>first</th><th>previous</th><th>same</th><th>distance</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></div>"
        )

    @classmethod
    def load(cls, path: str | Path) -> AttentionMaps:
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if meta.get("schema") != SCHEMA:
                    raise InputError(f"{path}: not a {SCHEMA} file (schema {meta.get('schema')!r})")
                return cls(data["maps"], [str(t) for t in data["tokens"]], meta)
        except FileNotFoundError:
            raise InputError(f"{path} does not exist") from None
        except (OSError, ValueError, KeyError) as e:
            raise InputError(f"{path} is not a readable attention-maps file ({e})") from None


def _picture(maps: AttentionMaps) -> str:
    """The last layer's first head as an inline PNG, when matplotlib is there."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return ""
    import base64
    import io
    import warnings

    from qkv.viz.heatmap import maps_heatmap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a missing CJK font is said by qkv viz, not here
        fig = maps_heatmap(maps, maps.layers - 1, 0)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f"<img alt='layer {maps.layers}, head 1' src='data:image/png;base64,{data}'>"
