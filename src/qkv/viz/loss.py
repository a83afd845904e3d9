"""The loss curve of a training run (its log.csv): train and val loss against the step."""

from __future__ import annotations

from typing import Any

from qkv.errors import InputError
from qkv.losslog import Row


def loss_figure(rows: list[Row], title: str = "") -> Any:
    """A matplotlib Figure: train and val loss by step, and the throughput in the legend."""
    if not rows:
        raise InputError("the loss log has no rows yet (the first evaluation writes one)")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from qkv.viz.heatmap import plain_text

    steps = [r.step for r in rows]
    fig = Figure(figsize=(7.0, 4.2), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.plot(steps, [r.train_loss for r in rows], marker="o", markersize=3, label="train loss")
    ax.plot(steps, [r.val_loss for r in rows], marker="s", markersize=3, label="val loss")
    best = min(rows, key=lambda r: r.val_loss)
    ax.annotate(
        f"best val {best.val_loss:.3f}",
        (best.step, best.val_loss),
        textcoords="offset points",
        xytext=(6, 6),
        ha="left",
        fontsize=8,
    )
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
    ax.set_xlabel("step")
    ax.set_ylabel("loss (cross-entropy, nats)")
    last = rows[-1]
    ax.set_title(
        plain_text(title or "training loss")
        + f"  ·  {last.elapsed_s:,.0f} s, {last.tokens_per_s:,.0f} tok/s at the end",
        fontsize=10,
    )
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig
