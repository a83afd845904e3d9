"""Training: AdamW, warm-up then cosine learning rate, evaluation, best-val checkpoints."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel

from qkv import limits
from qkv.cpus import default_threads
from qkv.errors import InputError
from qkv.gpt import checkpoint, parallel, run_folder
from qkv.gpt.config import GPTConfig, TrainConfig
from qkv.gpt.data import CharTokenizer
from qkv.gpt.device import autocast
from qkv.gpt.model import GPT
from qkv.gpt.run_folder import check_links
from qkv.losslog import LossLog, Row

# the model's forward: the module itself, or what torch.compile made of it
Forward = Callable[..., tuple[torch.Tensor, torch.Tensor | None, list[torch.Tensor]]]


@dataclass
class Progress:
    step: int
    steps: int
    loss: float
    tokens_per_s: float  # tokens trained on in this run ÷ its wall time so far (evaluations too)
    train_loss: float | None = None  # set at evaluation steps
    val_loss: float | None = None
    saved: bool = False
    tokens: int = 0  # tokens trained on in this run (a resumed run counts from its start)
    elapsed: float = 0.0  # wall seconds since this run's first step began


def cpu_threads(threads: int | None = None) -> int:
    """torch's CPU threads for this process: ``threads`` when given, else qkv.cpus'
    default (OMP_NUM_THREADS when set, else this process's share of its CPUs)."""
    if threads is None:
        return default_threads()
    if threads < 1:
        raise InputError(f"threads must be at least 1, not {threads}")
    return threads


def configure_cpu(threads: int | None = None) -> int:
    """Threads as :func:`cpu_threads` says, and denormals flushed to zero: tiny gradients
    otherwise take the slow path of the floating-point unit, which costs a CPU training step
    much time. Returns the threads."""
    n = cpu_threads(threads)
    torch.set_num_threads(n)
    torch.set_flush_denormal(True)
    return n


def split(data: torch.Tensor, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    n = int(0.9 * len(data))
    train, val = data[:n], data[n:]
    if len(val) < block_size + 2:
        need = math.ceil((block_size + 2) / 0.1)
        raise InputError(
            f"the corpus is too short: {len(data)} characters; this preset needs at least {need}"
        )
    return train, val


def batch(
    data: torch.Tensor, size: int, block: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """size random windows of block + 1 tokens: inputs and next-token targets (B, T)."""
    return windows(data, starts(data, size, block, gen), block)


def starts(data: torch.Tensor, size: int, block: int, gen: torch.Generator) -> torch.Tensor:
    return torch.randint(len(data) - block - 1, (size,), generator=gen)


def windows(
    data: torch.Tensor, starts: torch.Tensor, block: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The windows starting at ``starts``, cut from data where it lies (the GPU's copy of the
    corpus: no batch crosses from the CPU each step)."""
    starts = starts.to(data.device)
    offsets = starts[:, None] + torch.arange(block + 1, device=data.device)
    chunk = data[offsets]  # (B, T + 1)
    return chunk[:, :-1], chunk[:, 1:]


def lr_at(step: int, t: TrainConfig) -> float:
    if step < t.warmup:
        return t.lr * (step + 1) / t.warmup
    progress = min(1.0, (step - t.warmup) / max(1, t.steps - t.warmup))
    return t.min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (t.lr - t.min_lr)


@torch.no_grad()
def evaluate(
    model: GPT, data: torch.Tensor, t: TrainConfig, seed: int, forward: Forward | None = None
) -> float:
    """The mean loss of eval_batches batches; ``forward``: the model's compiled forward."""
    model.eval()
    run = model if forward is None else forward
    gen = torch.Generator().manual_seed(seed)  # the same batches at every evaluation
    total = torch.zeros((), dtype=torch.float64, device=data.device)
    with autocast(data.device):
        for _ in range(t.eval_batches):
            total += _loss(run, *batch(data, t.batch_size, model.config.block_size, gen)).double()
    model.train()
    return float(total.item()) / t.eval_batches  # one wait for the GPU, not one a batch


def _loss(forward: Forward, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    _, loss, _ = forward(x, y)
    assert loss is not None  # targets given
    return loss


def optimizer_for(model: torch.nn.Module, t: TrainConfig, fused: bool = True) -> torch.optim.AdamW:
    """AdamW, weight decay on matrices only. fused: one kernel for all parameters (torch >= 2.4
    has it on the CPU too), several times faster than the default for-each version."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": t.weight_decay}, {"params": rest, "weight_decay": 0.0}],
        lr=t.lr,
        betas=(0.9, 0.99),
        fused=fused,
    )


def train(
    text: str,
    model_config: GPTConfig,
    train_config: TrainConfig,
    out: Path,
    *,
    seed: int = 0,
    resume: bool = False,
    grad_accum: int = 1,
    on_progress: Callable[[Progress], None] | None = None,
    device: torch.device | None = None,
    compile: bool = False,
) -> dict[str, float]:
    """Train on text; keep the checkpoint with the best validation loss at out/checkpoint.pt.

    In a torch.distributed group (torchrun), every process runs this with the same arguments:
    each takes its share of every global batch (qkv.gpt.parallel), and rank 0 alone evaluates
    and saves. ``grad_accum`` cuts each process's share into that many micro-batches (less
    memory, the same global batch). on_progress is called on every rank. ``device``: where
    the model and the corpus live (default the CPU); on CUDA the steps run under bfloat16
    autocast. ``compile``: the forward pass through torch.compile (the checkpoint keeps the
    plain model's names). The run holds its folder's lock while it trains (qkv.gpt.run_folder):
    a second run into the same folder is refused.
    """
    path = prepare_out(out)
    ranks = parallel.current()
    with run_folder.held(out, ranks.main):
        options = _Options(seed, resume, grad_accum, on_progress, device, compile)
        return _train(text, model_config, train_config, out, path, ranks, options)


@dataclass(frozen=True)
class _Options:
    seed: int
    resume: bool
    grad_accum: int
    on_progress: Callable[[Progress], None] | None
    device: torch.device | None
    compile: bool


def _train(
    text: str,
    model_config: GPTConfig,
    train_config: TrainConfig,
    out: Path,
    path: Path,
    ranks: parallel.Ranks,
    options: _Options,
) -> dict[str, float]:
    seed, resume, grad_accum = options.seed, options.resume, options.grad_accum
    on_progress, device, compile = options.on_progress, options.device, options.compile
    torch.manual_seed(seed)
    device = device or torch.device("cpu")
    run = prepare(text, model_config, train_config, path, resume, grad_accum, ranks, device)
    if ranks.world > 1:  # the same model everywhere, but each process its own dropout masks
        torch.manual_seed(seed + 1 + ranks.rank)
    t = run.config
    optimizer = _optimizer(run)
    log = _start_log(out, resume) if ranks.main else None
    gen = torch.Generator().manual_seed(seed + run.step)
    model = run.model
    model.train()
    forward: Forward = torch.compile(model) if compile else model
    step = _stepper(model, forward, ranks, grad_accum)
    tokens = t.batch_size * model.config.block_size  # the global batch, on all ranks together
    start = time.perf_counter()
    before = 0.0 if log is None else log.elapsed_before  # earlier runs' time, for log.csv
    last: dict[str, float] = {}
    best = run.best
    for i in range(run.step, t.steps):
        loss = step(optimizer, run.train_data, t, i, gen)
        report = Progress(i + 1, t.steps, loss, 0.0, tokens=(i + 1 - run.step) * tokens)
        evaluated = ranks.main and ((i + 1) % t.eval_interval == 0 or i + 1 == t.steps)
        if evaluated:
            best, last = _evaluate(model, forward, optimizer, run, report, best, seed, path)
        # the average since the start, not the last step's rate (which skips evaluations and
        # swings tenfold on a shared machine): what a user can divide by the clock
        report.elapsed = time.perf_counter() - start
        report.tokens_per_s = report.tokens / max(report.elapsed, 1e-9)
        if evaluated and log is not None:
            log.add(_log_row(report, before))
        if on_progress is not None:
            on_progress(report)
    return {**last, "best_val": best}


def _optimizer(run: _Run) -> torch.optim.Optimizer:
    """AdamW for the run's model (made after the model moved: fused on its device), with the
    checkpoint's state when resuming, checked."""
    optimizer = optimizer_for(run.model, run.config)
    if run.optimizer_state is not None:
        try:
            optimizer.load_state_dict(run.optimizer_state)
            _check_optimizer(optimizer)
        except (ValueError, KeyError, TypeError, RuntimeError, IndexError):
            raise InputError("the checkpoint's optimizer state does not fit its model") from None
    return optimizer


def _start_log(out: Path, resume: bool) -> LossLog:
    """The run folder, made now (a refused run leaves nothing behind), and its log.csv."""
    _make_out(out)
    return LossLog.start(out, resume)


def _log_row(report: Progress, before: float) -> Row:
    """An evaluation's row of log.csv: its losses, the run's throughput, and the time since
    the first run began (``before``: the earlier runs' time, from the log)."""
    assert report.train_loss is not None and report.val_loss is not None
    elapsed = before + report.elapsed
    return Row(report.step, report.train_loss, report.val_loss, report.tokens_per_s, elapsed)


def _evaluate(
    model: GPT,
    forward: Forward,
    optimizer: torch.optim.Optimizer,
    run: _Run,
    report: Progress,
    best: float,
    seed: int,
    path: Path,
) -> tuple[float, dict[str, float]]:
    """Fill in the report's losses; save a checkpoint when validation improves. The best
    validation loss, and this evaluation's numbers."""
    t = run.config
    train_loss = report.train_loss = evaluate(model, run.train_data, t, seed + 1, forward)
    val_loss = report.val_loss = evaluate(model, run.val_data, t, seed + 2, forward)
    if val_loss < best:
        best = val_loss
        checkpoint.save(path, model, optimizer, report.step, best, t, run.tokenizer)
        report.saved = True
    return best, {"step": report.step, "train_loss": train_loss, "val_loss": val_loss}


def check_vocabulary(text: str) -> None:
    """A character model's vocabulary is every distinct character: at most MAX_VOCAB."""
    distinct = len(set(text))
    if distinct > limits.MAX_VOCAB:
        raise InputError(
            f"the text has {distinct:,} distinct characters; a character model of qkv "
            f"takes at most {limits.MAX_VOCAB:,}"
        )


def _check_optimizer(optimizer: torch.optim.Optimizer) -> None:
    """AdamW's moments have their parameter's shape and dtype (a stranger's may not)."""
    for group in optimizer.param_groups:
        betas, eps, decay = group.get("betas"), group.get("eps"), group.get("weight_decay")
        if not (
            isinstance(betas, (tuple, list))
            and len(betas) == 2
            and all(isinstance(b, float) and 0 <= b < 1 for b in betas)
            and isinstance(eps, float)
            and 0 < eps < 1
            and isinstance(decay, float)
            and 0 <= decay < 1
        ):
            raise ValueError("hyperparameters")
        for p in group["params"]:
            for key, value in optimizer.state.get(p, {}).items():
                if key == "step":
                    if torch.as_tensor(value).numel() != 1:
                        raise ValueError("step")
                elif not (
                    isinstance(value, torch.Tensor)
                    and value.shape == p.shape
                    and value.dtype == p.dtype
                ):
                    raise ValueError(key)


def prepare_out(out: Path) -> Path:
    """The checkpoint's path in ``out``, checked now (not at the first evaluation, minutes
    later): a folder, or one that can be made; the folder itself is made when training
    starts, so that a refused run leaves nothing behind."""
    from qkv.files import check_target

    check_links(out)
    target = out / checkpoint.FILENAME
    if out.is_dir():
        return check_target(target, "checkpoint")
    if out.exists() or out.is_symlink():
        raise InputError(f"--out {out} is not a folder")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise InputError(f"--out {out}: cannot make a folder in {parent}")
    return target


def _make_out(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot make the folder {out} ({e.strerror})") from None


@dataclass
class _Run:
    """Where training starts: a new model, or a checkpoint's model, optimizer and step."""

    model: GPT
    tokenizer: CharTokenizer
    config: TrainConfig
    step: int = 0
    best: float = math.inf
    optimizer_state: dict[str, object] | None = None
    train_data: torch.Tensor = field(default_factory=lambda: torch.empty(0))
    val_data: torch.Tensor = field(default_factory=lambda: torch.empty(0))


def prepare(
    text: str,
    model_config: GPTConfig,
    train_config: TrainConfig,
    path: Path,
    resume: bool,
    grad_accum: int = 1,
    ranks: parallel.Ranks = parallel.ONE,
    device: torch.device | None = None,
) -> _Run:
    """Where training starts, with its data; every check of the inputs happens here, before
    any process waits for another (a launcher calls it first to refuse bad input once)."""
    if resume:
        run = _resume(path, text, train_config)
    else:
        run = _start(path, text, model_config, train_config)
    if run.step >= run.config.steps:
        raise InputError(f"the checkpoint is at step {run.step}; ask for more --steps than that")
    parallel.check_batch(run.config.batch_size, ranks, grad_accum)
    data = torch.tensor(run.tokenizer.encode(text, "the corpus"), dtype=torch.long)
    run.train_data, run.val_data = split(data, run.model.config.block_size)
    if device is not None:  # checkpoints load on the CPU and move here
        run.model.to(device)
        run.train_data, run.val_data = run.train_data.to(device), run.val_data.to(device)
    return run


def _start(path: Path, text: str, model_config: GPTConfig, train_config: TrainConfig) -> _Run:
    if path.exists():
        raise InputError(f"{path} exists; use --resume to continue it, or another --out")
    if not text:
        raise InputError("the corpus is empty")
    check_vocabulary(text)
    tokenizer = CharTokenizer.from_text(text)
    model = GPT(replace(model_config, vocab_size=len(tokenizer)))
    return _Run(model, tokenizer, train_config)


def _resume(path: Path, text: str, train_config: TrainConfig) -> _Run:
    """The checkpoint's state; its training settings win over the preset's, but for steps."""
    state = checkpoint.load(path)
    model, tokenizer = checkpoint.restore(state)
    config = replace(train_config, **{k: v for k, v in state["train"].items() if k != "steps"})
    missing = tokenizer.unknown(text)
    if missing:
        raise InputError(
            f"the text has {len(missing)} characters the checkpoint's "
            "vocabulary lacks; resume with the text it was trained on"
        )
    return _Run(
        model,
        tokenizer,
        config,
        int(state["step"]),
        float(state["best_val"]),
        state["optimizer"],
    )


Step = Callable[[torch.optim.Optimizer, torch.Tensor, TrainConfig, int, torch.Generator], float]


def _stepper(model: GPT, forward: Forward, ranks: parallel.Ranks, grad_accum: int) -> Step:
    """The step function, chosen once: one process with whole batches takes the plain step,
    with nothing added to it. ``forward``: the model, or its compiled forward."""
    if ranks.world == 1 and grad_accum == 1:
        return lambda optimizer, data, t, step, gen: _step(
            model, forward, optimizer, data, t, step, gen
        )
    ddp = parallel.wrap(model, ranks)
    # compiled: the DDP wrapper, as torch advises (its hooks stay outside the graphs)
    run = ddp if forward is model else torch.compile(ddp)

    def parallel_step(
        optimizer: torch.optim.Optimizer,
        data: torch.Tensor,
        t: TrainConfig,
        step: int,
        gen: torch.Generator,
    ) -> float:
        return _parallel_step(model, ddp, run, optimizer, data, t, step, gen, ranks, grad_accum)

    return parallel_step


def _step(
    model: GPT,
    forward: Forward,
    optimizer: torch.optim.Optimizer,
    data: torch.Tensor,
    t: TrainConfig,
    step: int,
    gen: torch.Generator,
) -> float:
    """One optimizer step at this step's learning rate; the batch's loss."""
    for group in optimizer.param_groups:
        group["lr"] = lr_at(step, t)
    x, y = batch(data, t.batch_size, model.config.block_size, gen)
    with autocast(data.device):
        loss = _loss(forward, x, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return float(loss.item())


def _parallel_step(
    model: GPT,
    ddp: torch.nn.Module,
    forward: Forward,
    optimizer: torch.optim.Optimizer,
    data: torch.Tensor,
    t: TrainConfig,
    step: int,
    gen: torch.Generator,
    ranks: parallel.Ranks,
    grad_accum: int,
) -> float:
    """_step for a share of the global batch in micro-batches; DDP averages the gradients
    over the ranks at the last one (``ddp``: the wrapper whose no_sync says so; ``forward``:
    it, or its compiled forward). The global batch's loss."""
    for group in optimizer.param_groups:
        group["lr"] = lr_at(step, t)
    block = model.config.block_size
    micro = parallel.my_part(starts(data, t.batch_size, block, gen), ranks, grad_accum)
    optimizer.zero_grad(set_to_none=True)
    total = torch.zeros((), device=data.device)
    no_sync = ddp.no_sync if isinstance(ddp, DistributedDataParallel) else nullcontext
    for i, part in enumerate(micro):
        with no_sync() if i < len(micro) - 1 else nullcontext():  # DDP: sync at the last
            with autocast(data.device):
                loss = _loss(forward, *windows(data, part, block))
            (loss / grad_accum).backward()
        total += loss.detach()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return float(parallel.mean(total / grad_accum, ranks).item())
