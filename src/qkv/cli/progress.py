"""What `qkv gpt train` prints while it trains: a bar on a terminal, plain lines elsewhere."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console

from qkv.terminal import printable

PLAIN_LINES = 20  # a plain line every 1/20 of the run ...
PLAIN_SECONDS = 10.0  # ... or every 10 s, whichever comes first


def duration(seconds: float) -> str:
    """3 min 12 s, 1 h 02 min, 4.2 s."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(round(seconds), 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def milliseconds(ms: float) -> str:
    """12.3, or 579 from 100 ms on."""
    return f"{ms:.1f}" if ms < 100 else f"{ms:,.0f}"


def speed(p: Any) -> str:
    """12.3 ms/step  15,000 tok/s  (MFU 31.2% where known)."""
    text = f"{milliseconds(p.ms_per_step)} ms/step  {p.tokens_per_s:,.0f} tok/s"
    return text if p.mfu is None else f"{text}  MFU {100 * p.mfu:.1f}%"


class TrainDisplay:
    """The header, then the progress of training (reports of qkv.gpt.train.Progress).

    On a terminal, a rich progress bar, started at the first report with its numbers (never a
    "step 0/400 loss nan" first). Elsewhere (a pipe, a log file, CI), where a bar prints
    nothing until it ends, a plain line every twentieth of the run or every PLAIN_SECONDS,
    whichever comes first, flushed at once. Evaluations get a line of their own either way.
    Speed is the run's average so far over its steps alone (evaluations and checkpoints left
    out): ms per step, tokens trained on ÷ the time in steps, and MFU where the device's peak
    is known (qkv.gpt.train.PEAKS)."""

    def __init__(
        self,
        header: str,
        total: int,
        console: Console | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.header, self.total = header, total
        self.console = console or Console()
        self.live = self.console.is_terminal
        self.clock = clock
        self.every = max(1, total // PLAIN_LINES)
        self.bar: Any = None
        self.task: Any = None
        self.started = False
        self.last_line = 0.0
        self.last: Any = None  # the last report
        self.begun = False

    def begin(self) -> None:
        """The header, when training is about to start (its inputs checked): at once, not
        after a first step that may take half a minute (a large preset on a CPU)."""
        if not self.begun:
            self.begun = True
            self._line(self.header)

    def __call__(self, p: Any) -> None:
        if not self.started:
            self._start(p)
        elif self.live:
            self.bar.update(self.task, completed=p.step, loss=p.loss, speed=speed(p))
        elif p.step % self.every == 0 or self.clock() - self.last_line >= PLAIN_SECONDS:
            self._plain(p)
        self.last = p
        if p.val_loss is not None:
            mark = " (best so far: checkpoint.pt)" if p.saved else ""
            self._line(
                f"step {p.step}: train loss {p.train_loss:.4f}, val loss {p.val_loss:.4f}{mark}"
            )

    def _start(self, p: Any) -> None:
        self.started = True
        self.begin()
        if not self.live:
            self._plain(p)
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        columns = (
            TextColumn("[bold]step {task.completed}/{task.total}"),
            BarColumn(),
            TextColumn("loss {task.fields[loss]:.3f}  {task.fields[speed]}"),
            TimeRemainingColumn(),
        )
        self.bar = Progress(*columns, console=self.console, transient=False)
        # the task holds the first report's numbers before the bar is first drawn
        self.task = self.bar.add_task(
            "train", total=self.total, completed=p.step, loss=p.loss, speed=speed(p)
        )
        self.bar.start()

    def _plain(self, p: Any) -> None:
        self.last_line = self.clock()
        self._line(
            f"step {p.step}/{self.total}  loss {p.loss:.4f}  {speed(p)}  {duration(p.elapsed)}"
        )

    def _line(self, text: str) -> None:
        if self.bar is not None:
            self.bar.console.print(printable(text), markup=False, highlight=False)
        else:
            self.console.print(printable(text), markup=False, highlight=False, soft_wrap=True)
            self.console.file.flush()  # a pipe shows the line now, not when training ends

    def summary(self) -> str | None:
        """The closing line: steps, total time and the average throughput of this run."""
        p = self.last
        if p is None:
            return None
        stepping = p.tokens / p.tokens_per_s if p.tokens_per_s else p.elapsed
        ms = milliseconds(p.ms_per_step)
        return (
            f"trained to step {p.step} in {duration(p.elapsed)}: {p.tokens:,} tokens, "
            f"{p.tokens_per_s:,.0f} tokens/s and {ms} ms a step on average; "
            f"evaluations and checkpoints {duration(max(0.0, p.elapsed - stepping))}"
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
