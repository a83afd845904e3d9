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
    tokens_per_s: float  # tokens trained on in this run ÷ the time in its steps (no evaluations)
    train_loss: float | None = None  # set at evaluation steps
    val_loss: float | None = None
    saved: bool = False  # the best checkpoint was written at this evaluation
    tokens: int = 0  # tokens trained on in this run (a resumed run counts from its start)
    elapsed: float = 0.0  # wall seconds since this run's first step began
    ms_per_step: float = 0.0  # the mean time of this run's steps, evaluations left out
    mfu: float | None = None  # model FLOPs utilisation, where the device's peak is known


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


def sized_eval(t: TrainConfig, device: torch.device, start: int = 0) -> TrainConfig:
    """Evaluation sized to the device: the preset's batches on a GPU; on the CPU at most 3
    for every 10 steps between evaluations (a forward pass costs about a third of a step, so
    evaluating train and val then takes about a fifth of the training time). ``start``: the
    step a resumed run starts at."""
    if device.type != "cpu":
        return t
    between = min(t.eval_interval, max(1, t.steps - start))
    return replace(t, eval_batches=min(t.eval_batches, max(1, math.ceil(0.3 * between))))


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
    save: str = "both",
    meta: dict[str, object] | None = None,
    on_start: Callable[[], None] | None = None,
) -> dict[str, float]:
    """Train on text; at every evaluation keep the best validation loss's state in
    out/checkpoint.pt and the last state in out/last.pt (``save``: "best", "last" or "both").
    ``resume`` continues last.pt (else checkpoint.pt) exactly: its RNG states, optimizer and
    data position make the losses those of an uninterrupted run (one process; with several
    and dropout, in distribution). ``meta``: the preset's name and the text's path and
    digest, kept in the checkpoints (qkv.gpt.state.OPTIONAL). ``on_start``: called once
    the inputs are checked, before the first step.

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
    if save not in SAVES:
        raise InputError(f"--save must be one of {', '.join(SAVES)}, not {save!r}")
    with run_folder.held(out, ranks.main):
        options = _Options(seed, resume, grad_accum, on_progress, device, compile, save, on_start)
        return _train(text, model_config, train_config, out, path, ranks, options, meta or {})


SAVES = ("both", "best", "last")


@dataclass(frozen=True)
class _Options:
    seed: int
    resume: bool
    grad_accum: int
    on_progress: Callable[[Progress], None] | None
    device: torch.device | None
    compile: bool
    save: str = "both"
    on_start: Callable[[], None] | None = None


def _train(
    text: str,
    model_config: GPTConfig,
    train_config: TrainConfig,
    out: Path,
    path: Path,
    ranks: parallel.Ranks,
    options: _Options,
    meta: dict[str, object],
) -> dict[str, float]:
    torch.manual_seed(options.seed)
    device = options.device or torch.device("cpu")
    run = prepare(
        text, model_config, train_config, path, options.resume, options.grad_accum, ranks, device
    )
    run.meta.update({k: v for k, v in meta.items() if v is not None or k == "text"})
    t = run.config
    optimizer = _optimizer(run)
    log = _start_log(out, options.resume) if ranks.main else None
    run.gen = _generators(run, options.seed, ranks, device)
    model = run.model
    model.train()
    forward: Forward = torch.compile(model) if options.compile else model
    step = _stepper(model, forward, ranks, options.grad_accum)
    if options.on_start is not None:
        options.on_start()
    tokens = t.batch_size * model.config.block_size  # the global batch, on all ranks together
    rate = _Rate(time.perf_counter(), flops_per_token(model) * tokens, peak_flops(device))
    before = 0.0 if log is None else log.elapsed_before  # earlier runs' time, for log.csv
    last: dict[str, float] = {}
    for i in range(run.step, t.steps):
        began = time.perf_counter()
        loss = step(optimizer, run.train_data, t, i, run.gen)
        rate.training += time.perf_counter() - began
        report = Progress(i + 1, t.steps, loss, 0.0, tokens=(i + 1 - run.step) * tokens)
        evaluated = ranks.main and ((i + 1) % t.eval_interval == 0 or i + 1 == t.steps)
        if evaluated:
            last = _evaluate(forward, optimizer, run, report, options, path)
        rate.fill(report, i + 1 - run.step)
        if evaluated and log is not None:
            log.add(_log_row(report, before))
        if options.on_progress is not None:
            options.on_progress(report)
    return {**last, "best_val": run.best, "best_step": run.best_step}


@dataclass
class _Rate:
    """A run's clocks: wall time since its first step, and the time in its steps alone."""

    start: float
    flops_per_step: float  # the model's FLOPs for one global batch (forward and backward)
    peak: float | None  # the device's peak FLOP/s, where known
    training: float = 0.0  # seconds in steps, evaluations and checkpoints left out

    def fill(self, report: Progress, steps: int) -> None:
        """The report's times: elapsed (wall) and the rates of the steps alone. Throughput
        is the run's average, not the last step's (which swings tenfold on a shared machine)."""
        report.elapsed = time.perf_counter() - self.start
        seconds = max(self.training, 1e-9)
        report.tokens_per_s = report.tokens / seconds
        report.ms_per_step = 1000 * self.training / max(steps, 1)
        if self.peak:
            report.mfu = self.flops_per_step * steps / seconds / self.peak


def flops_per_token(model: GPT) -> float:
    """nanoGPT's estimate (PaLM, appendix B): 6 N + 12 L E T per token for forward and
    backward, N the parameters but the position table."""
    c = model.config
    n = sum(p.numel() for p in model.parameters()) - model.wpe.weight.numel()
    return 6 * n + 12 * c.n_layer * c.n_embd * c.block_size


# Dense bfloat16 peaks of the GPUs we know (FLOP/s), by a piece of the name torch reports.
PEAKS = (("H100 PCIe", 756e12), ("H100", 989e12), ("H200", 989e12), ("A100", 312e12))


def peak_flops(device: torch.device) -> float | None:
    """The device's peak, for MFU: known for a few GPUs under bfloat16; None elsewhere (a
    CPU's depends on its cores, clock and vector units, which torch does not say)."""
    if device.type != "cuda" or not torch.cuda.is_bf16_supported():
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for part, peak in PEAKS if part in name), None)


def _generators(
    run: _Run, seed: int, ranks: parallel.Ranks, device: torch.device
) -> torch.Generator:
    """The batch sampler's generator, and torch's own RNG (dropout), where the run left
    them: a resumed run's from its checkpoint (one process: exactly), a new run's seeded."""
    gen = torch.Generator().manual_seed(seed + run.step)
    if ranks.world > 1:  # the same model everywhere, but each process its own dropout masks
        torch.manual_seed(seed + 1 + ranks.rank)
    rng = run.rng
    if rng is None:
        return gen
    try:
        gen.set_state(rng["data"])
        if ranks.world == 1:
            torch.set_rng_state(rng["torch"])
        if ranks.world == 1 and device.type == "cuda" and rng.get("cuda") is not None:
            torch.cuda.set_rng_state(rng["cuda"], device)
    except (RuntimeError, ValueError, TypeError):
        raise InputError("the checkpoint's RNG states are not torch's") from None
    return gen


def rng_states(gen: torch.Generator, device: torch.device) -> dict[str, torch.Tensor | None]:
    """The RNG states to continue from: torch's (dropout), the sampler's, CUDA's."""
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return {"torch": torch.get_rng_state(), "data": gen.get_state(), "cuda": cuda}


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
    forward: Forward,
    optimizer: torch.optim.Optimizer,
    run: _Run,
    report: Progress,
    options: _Options,
    path: Path,
) -> dict[str, float]:
    """Fill in the report's losses; save the last state, and the best when validation
    improves (as ``options.save`` asks). This evaluation's numbers."""
    t, model, seed = run.config, run.model, options.seed
    train_loss = report.train_loss = evaluate(model, run.train_data, t, seed + 1, forward)
    val_loss = report.val_loss = evaluate(model, run.val_data, t, seed + 2, forward)
    improved = val_loss < run.best
    if improved:
        run.best, run.best_step = val_loss, report.step
    extra = {
        **run.meta,
        "best_step": run.best_step,
        "rng": rng_states(run.gen, run.train_data.device),
    }

    def write(target: Path) -> None:
        checkpoint.save(target, model, optimizer, report.step, run.best, t, run.tokenizer, extra)

    if improved and options.save in ("best", "both"):
        write(path)
        report.saved = True
    if options.save in ("last", "both"):
        write(path.with_name(checkpoint.LAST))
    return {"step": report.step, "train_loss": train_loss, "val_loss": val_loss}


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
        check_target(out / checkpoint.LAST, "checkpoint")
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
    best_step: int = 0
    rng: dict[str, torch.Tensor] | None = None  # a resumed run's RNG states
    meta: dict[str, object] = field(default_factory=dict)  # preset and text, kept as found
    gen: torch.Generator = field(default_factory=torch.Generator)  # the batch sampler


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
    for target in (path, path.with_name(checkpoint.LAST)):
        if target.exists():
            raise InputError(f"{target} exists; use --resume to continue it, or another --out")
    if not text:
        raise InputError("the corpus is empty")
    check_vocabulary(text)
    tokenizer = CharTokenizer.from_text(text)
    model = GPT(replace(model_config, vocab_size=len(tokenizer)))
    return _Run(model, tokenizer, train_config)


def resume_path(path: Path) -> Path:
    """What --resume continues: last.pt beside the best checkpoint ``path``, else the best
    itself (a folder of an older qkv, or trained with --save best); when both are there, the
    newer (a run resumed with --save best leaves an older last.pt behind)."""
    last = path.with_name(checkpoint.LAST)
    if not path.exists():
        return last
    if not last.exists():
        return path
    return last if last.stat().st_mtime_ns >= path.stat().st_mtime_ns else path


def _resume(path: Path, text: str, train_config: TrainConfig) -> _Run:
    """The checkpoint's state; its training settings win over the preset's, but for steps
    and eval_batches (which change no step)."""
    state = checkpoint.load(resume_path(path))
    model, tokenizer = checkpoint.restore(state)
    keep = ("steps", "eval_batches")
    config = replace(train_config, **{k: v for k, v in state["train"].items() if k not in keep})
    missing = tokenizer.unknown(text)
    if missing:
        raise InputError(
            f"the text has {len(missing)} characters the checkpoint's "
            "vocabulary lacks; resume with the text it was trained on (--text FILE)"
        )
    step = int(state["step"])
    run = _Run(model, tokenizer, config, step, float(state["best_val"]), state["optimizer"])
    run.best_step = int(state.get("best_step", step))
    run.rng = state.get("rng")
    run.meta = {k: state[k] for k in ("preset", "text") if k in state}
    return run


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
