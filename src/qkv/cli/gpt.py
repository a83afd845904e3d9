"""qkv gpt: train a tiny GPT, sample from it, probe its next-token probabilities, see its heads."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import Any

from qkv import limits
from qkv.cli.output import say
from qkv.errors import InputError
from qkv.terminal import printable

DEFAULT_DIR = "qkv-gpt"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "gpt",
        help="a tiny GPT: train, sample, probe, attention",
        description="Train a tiny GPT on your CPU or GPU and watch next-token prediction.",
    )
    verbs = p.add_subparsers(dest="gpt_verb", metavar="VERB", required=True)

    t = verbs.add_parser(
        "train",
        help="train on a text (default: the built-in Chinese corpus)",
        description="Train the tiny GPT on a text (default: the built-in Chinese corpus) and "
        "write a checkpoint to --out, evaluated and saved as it goes.",
    )
    t.add_argument("--text", metavar="FILE", help="a UTF-8 training text")
    t.add_argument(
        "--preset",
        help="tiny (default), baby, small, or shakespeare-char (nanoGPT's, for a GPU); "
        "--resume takes the checkpoint's",
    )
    t.add_argument(
        "--steps", "--max-iters", type=int, help="training steps (default: the preset's)"
    )
    group = t.add_argument_group("the preset's settings, overridden (nanoGPT's names)")
    for flag, kind, what in OVERRIDES:
        group.add_argument(f"--{flag}", type=kind, metavar=flag.split("-")[-1].upper(), help=what)
    t.add_argument("--out", default=DEFAULT_DIR, metavar="DIR", help=f"default {DEFAULT_DIR}")
    t.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    _saving_args(t)
    t.add_argument(
        "--nproc",
        type=int,
        default=1,
        metavar="N",
        help="train data-parallel in N processes on this machine (launched as torchrun does; "
        "or run torchrun --nproc-per-node N -m qkv gpt train ...)",
    )
    t.add_argument(
        "--nnodes",
        type=int,
        default=1,
        metavar="M",
        help="train on M machines, --nproc processes each, run there with the same command; "
        "needs --rdzv-endpoint",
    )
    t.add_argument(
        "--rdzv-endpoint",
        metavar="HOST:PORT",
        help="where the machines meet (torch's c10d rendezvous, on the first machine): it "
        "listens on the network without authentication, so use it only on a trusted network. "
        "Without it, --nproc processes meet through a private file and listen on no network",
    )
    t.add_argument(
        "--grad-accum",
        type=int,
        default=1,
        metavar="K",
        help="cut each process's share of the batch into K micro-batches (the same global batch)",
    )
    _device_arg(t)
    _threads_arg(t, "per process")
    t.add_argument(
        "--compile", action="store_true", help="compile the model with torch.compile (faster)"
    )
    t.set_defaults(run=run_train)

    s = verbs.add_parser(
        "sample",
        help="generate text after a prompt (with a KV cache)",
        description="Generate text after a prompt with a trained checkpoint, one character "
        "at a time (with a KV cache); the prompt may come from --start FILE (as nanoGPT's "
        "start=FILE:...). --num-samples N draws N samples, sample i with seed --seed + i - 1, "
        "separated by a line of dashes.",
    )
    _checkpoint_arg(s)
    start = s.add_mutually_exclusive_group()
    start.add_argument(
        "--prompt",
        help="the text to continue (default: a newline, as nanoGPT starts, or the "
        "vocabulary's first character when the text had no newline)",
    )
    start.add_argument(
        "--start",
        metavar="FILE",
        help="read the prompt from FILE (UTF-8; FILE:path as nanoGPT writes it works too)",
    )
    s.add_argument(
        "--num-samples", type=int, default=1, metavar="N", help="how many samples (default 1)"
    )
    s.add_argument("--max-new-tokens", type=int, default=100, help="how many (default 100)")
    s.add_argument("--temperature", type=finite, default=0.8, help="0 means greedy")
    s.add_argument("--top-k", type=int, help="sample among the K likeliest characters")
    s.add_argument("--top-p", type=finite, help="sample among the likeliest P of probability")
    s.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    s.add_argument("--no-cache", action="store_true", help="recompute the context every token")
    _device_arg(s)
    _threads_arg(s, "")
    s.set_defaults(run=run_sample)

    pr = verbs.add_parser(
        "probe",
        help="probabilities of candidate words after a prompt",
        description="How likely the model finds each candidate word after a prompt, and the "
        "likeliest next characters.",
    )
    _checkpoint_arg(pr)
    pr.add_argument("--prompt", required=True, help="the text before the candidates")
    pr.add_argument("--candidates", default="", metavar="A,B", help="words, comma-separated")
    pr.add_argument("--top", type=int, default=10, help="how many next characters to list")
    pr.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    _device_arg(pr)
    pr.set_defaults(run=run_probe)

    a = verbs.add_parser(
        "attention",
        help="every layer's and head's attention for a prompt",
        description="Every layer's and head's attention weights for a prompt, as a .npz that "
        "qkv viz --maps draws.",
    )
    _checkpoint_arg(a)
    a.add_argument("--prompt", required=True, help="the text whose attention to record")
    a.add_argument("-o", "--output", default="attention.npz", help="the .npz to write")
    a.add_argument("--html", metavar="FILE.html", help="also write the model and head views")
    _device_arg(a)
    a.set_defaults(run=run_attention)


def _saving_args(t: argparse.ArgumentParser) -> None:
    """--resume, --save, --eval-iters."""
    t.add_argument(
        "--resume",
        action="store_true",
        help="continue the last state in --out (last.pt) exactly where it stopped, on the "
        "text it was trained on unless --text names one",
    )
    t.add_argument(
        "--save",
        choices=("both", "best", "last"),
        default="both",
        help="at every evaluation, keep the best validation loss's state (checkpoint.pt), "
        "the last state (last.pt), or both (the default)",
    )
    t.add_argument(
        "--eval-iters",
        type=positive,
        metavar="N",
        help="batches per evaluation, on each of train and val (default: the preset's on a "
        "GPU; on the CPU at most 3 for every 10 steps between evaluations, so that "
        "evaluating takes about a fifth of the training time)",
    )


def positive(text: str) -> int:
    """A whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:24]!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text[:24]} is not at least 1")
    return value


def rate(text: str) -> float:
    """A learning rate: finite and > 0."""
    value = finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text[:24]} is not greater than 0")
    return value


def fraction(text: str) -> float:
    """A dropout probability in [0, 1)."""
    value = finite(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text[:24]} is not in [0, 1)")
    return value


# flag, type, help: each sets the field of GPTConfig or TrainConfig of the same name (FIELDS)
OVERRIDES: tuple[tuple[str, Any, str], ...] = (
    ("lr", rate, "the peak learning rate (the minimum stays a tenth of it)"),
    ("batch-size", positive, "sequences per step"),
    ("block-size", positive, "the context, in characters"),
    ("n-layer", positive, "Transformer blocks"),
    ("n-head", positive, "attention heads per block"),
    ("n-embd", positive, "the embedding width (a multiple of --n-head)"),
    ("dropout", fraction, "dropout probability in training"),
    ("eval-interval", positive, "steps between evaluations (and checkpoints)"),
)
MODEL_FIELDS = ("block_size", "n_layer", "n_head", "n_embd", "dropout")


def _device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="where the model runs (auto, the default: CUDA when there is a GPU)",
    )


def _threads_arg(p: argparse.ArgumentParser, each: str) -> None:
    from qkv.cpus import default_threads

    shared = ", shared among --nproc processes" if each else ""
    p.add_argument(
        "--threads",
        type=positive,
        metavar="N",
        help=f"torch's CPU threads{' ' + each if each else ''} (default: OMP_NUM_THREADS when "
        f"it is set, else the CPUs this process may run on{shared}: {default_threads()} here)",
    )


def seed(text: str) -> int:
    """A seed torch accepts: a whole number 0 .. 2**63 - 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:24]!r} is not a whole number") from None
    if not 0 <= value <= limits.MAX_SEED:
        raise argparse.ArgumentTypeError(f"{text[:24]} is not between 0 and 2**63 - 1")
    return value


def finite(text: str) -> float:
    """A finite number (nan and inf are refused here, not found later as NaN weights)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:24]!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text[:24]} is not a finite number")
    return value


def _checkpoint_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint",
        default=DEFAULT_DIR,
        metavar="DIR_OR_FILE",
        help=f"a run folder (default {DEFAULT_DIR}), whose best validation state "
        "(checkpoint.pt) is used, or a checkpoint file: DIR/last.pt for the last state",
    )


def _load(path: str, device_name: str, threads: int | None = None) -> tuple[Any, Any]:
    """The checkpoint's model on --device (checkpoints load on the CPU, from any device)."""
    from qkv.gpt import checkpoint, device
    from qkv.gpt.train import configure_cpu

    where = device.resolve(device_name)
    configure_cpu(threads)
    model, tok = checkpoint.restore(checkpoint.load(Path(path)))
    return model.to(where), tok


def run_train(args: argparse.Namespace) -> int:
    from qkv.gpt import device, parallel

    where = device.resolve(args.device)
    model_config, train_config = _train_configs(args, where)
    text, source = _corpus(args)
    ranks = parallel.launched()
    for flag, value in (("--nproc", args.nproc), ("--nnodes", args.nnodes)):
        if value < 1:
            raise InputError(f"{flag} must be at least 1, not {value}")
    if args.nnodes > 1 and not args.rdzv_endpoint:
        raise InputError("--nnodes: the machines meet at --rdzv-endpoint HOST:PORT; name it")
    if args.nproc > 1 or args.rdzv_endpoint:
        if ranks.world > 1:
            raise InputError("--nproc starts the processes itself; under torchrun leave it out")
        return _launch(args, text, model_config, train_config)
    try:
        with parallel.process_group(ranks, where):
            code = _train(args, text, source, model_config, train_config, ranks.main, where)
    except InputError:
        if ranks.main:
            raise
        return 2  # rank 0 says what is wrong; the others only stop
    if ranks.world > 1:
        parallel.leave(code)
    return code


def _train_configs(args: argparse.Namespace, where: Any) -> tuple[Any, Any]:
    from dataclasses import replace

    from qkv.gpt.config import preset
    from qkv.gpt.train import prepare_out, sized_eval

    state = _resumed(args)
    model_config, train_config = preset(args.preset)
    if state is not None:  # its settings win (qkv.gpt.train._resume); its steps by default
        kept = {k: v for k, v in state["train"].items() if k != "eval_batches"}
        train_config = replace(train_config, **kept)
    if args.steps is not None:
        if args.steps < 1:
            raise InputError(f"--steps must be at least 1, not {args.steps}")
        train_config = replace(train_config, steps=args.steps)
    given = {
        flag.replace("-", "_"): getattr(args, flag.replace("-", "_"))
        for flag, _, _ in OVERRIDES
        if getattr(args, flag.replace("-", "_")) is not None
    }
    if given and args.resume:
        flag = "--" + next(iter(given)).replace("_", "-")
        raise InputError(f"{flag}: a resumed run keeps its checkpoint's settings (but --steps)")
    model_config = replace(model_config, **{k: v for k, v in given.items() if k in MODEL_FIELDS})
    train_config = replace(
        train_config, **{k: v for k, v in given.items() if k not in MODEL_FIELDS}
    )
    if "lr" in given:  # the cosine schedule ends at a tenth of the peak, as in every preset
        train_config = replace(train_config, min_lr=given["lr"] / 10)
    if args.eval_iters is None:
        start = 0 if state is None else state["step"]
        train_config = sized_eval(train_config, where, start)
    else:
        train_config = replace(train_config, eval_batches=args.eval_iters)
    _check_configs(model_config, train_config)
    prepare_out(Path(args.out))  # a bad --out now, not after minutes of training
    return model_config, train_config


def _resumed(args: argparse.Namespace) -> dict[str, Any] | None:
    """The checkpoint --resume continues (None for a new run); args.preset becomes its
    preset (args.label: what the header calls the run)."""
    args.resumed = None
    if not args.resume:
        args.preset = args.label = args.preset or "tiny"
        return None
    from qkv.gpt import checkpoint
    from qkv.gpt.train import resume_path

    path = resume_path(Path(args.out) / checkpoint.FILENAME)
    if not path.exists():
        raise InputError(f"--resume: there is no checkpoint in {args.out}")
    state = checkpoint.load(path)
    name = state.get("preset")
    if args.preset is not None and name is not None and args.preset != name:
        raise InputError(
            f"--preset {args.preset}: the run in {args.out} is {name}; a resumed run keeps "
            "its preset (leave --preset out)"
        )
    args.label = name or args.preset or "the checkpoint's model"
    args.preset = name or args.preset or "tiny"
    args.resumed = (path, state)
    return state


def _check_configs(model_config: Any, train_config: Any) -> None:
    """The options within the limits a checkpoint of them must meet (qkv.gpt.state), with the
    vocabulary at its smallest (the text's is counted when training starts)."""
    from dataclasses import asdict

    from qkv.gpt.state import check_config, check_train

    config = check_config({**asdict(model_config), "vocab_size": 1}, "the options")
    check_train(asdict(train_config), config, "the options")


def _corpus(args: argparse.Namespace) -> tuple[str, str]:
    """The training text and where it comes from: --text, else the text a resumed run was
    trained on (its path and digest are in the checkpoint), else the built-in corpus."""
    again = args.text is None and args.resumed is not None
    if again:
        args.text = _trained_on(*args.resumed)
    if args.text is None:
        from qkv.gpt.data import builtin_corpus

        return builtin_corpus(), "the built-in corpus"
    from qkv.cli.output import read_text
    from qkv.gpt.launch import TEXT_NAME
    from qkv.gpt.train import check_vocabulary

    text = read_text(args.text, "--text", limits.TEXT_BYTES)
    if not text.strip():
        raise InputError(f"--text {args.text} is empty")
    check_vocabulary(text)
    if again and _digest(text) != args.resumed[1]["text"]["sha256"]:
        raise InputError(
            f"--resume: {printable(args.text)} has changed since the run was trained on it; "
            "name the text to continue on with --text"
        )
    # the processes --nproc starts read the text their launcher read, from a private file
    return text, printable(os.environ.get(TEXT_NAME, args.text))


def _trained_on(path: Path, state: dict[str, Any]) -> str | None:
    """The path of the text the checkpoint was trained on (None: the built-in corpus)."""
    if "text" not in state:  # an older qkv's checkpoint: the built-in corpus, as then
        return None
    if state["text"] is None:
        raise InputError(f"--resume: {path} was trained on standard input; name it with --text")
    where = state["text"]["path"]
    if where and not Path(where).is_file():
        raise InputError(
            f"--resume: {path} was trained on {printable(where)}, which is not there now; "
            "name the text with --text"
        )
    return where or None


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _text_meta(args: argparse.Namespace, text: str) -> dict[str, str] | None:
    """What the checkpoint records of the text: its absolute path ("" for the built-in
    corpus; None for standard input) and digest, for --resume without --text."""
    from qkv.gpt.launch import TEXT_NAME

    if args.text is None:
        return {"path": "", "sha256": _digest(text)}
    name = os.environ.get(TEXT_NAME, args.text)
    if name == "-":
        return None
    return {"path": os.path.abspath(name), "sha256": _digest(text)}


def _launch(args: argparse.Namespace, text: str, model_config: Any, train_config: Any) -> int:
    """Check the inputs here, once, holding the run folder's lock, then start the processes
    that each run this command without --nproc, the text read here handed to them
    (qkv.gpt.launch: on one machine through a private folder; across machines through
    torch's rendezvous, with a warning)."""
    from qkv.gpt import checkpoint, launch, parallel, run_folder
    from qkv.gpt.train import prepare

    path = Path(args.out) / checkpoint.FILENAME
    ranks = parallel.Ranks(0, args.nproc * args.nnodes)
    with run_folder.held(Path(args.out)):
        prepare(text, model_config, train_config, path, args.resume, args.grad_accum, ranks)
        argv = _worker_argv(args)
        text_given = None if args.text is None else text
        source = str(args.text)
        if not args.rdzv_endpoint:
            return launch.local(args.nproc, argv, text_given, source)
        say(
            f"qkv gpt train: warning: torch's rendezvous at {args.rdzv_endpoint} listens on "
            "the network without authentication and unpickles what it is sent: run this "
            "only on a trusted network (as torchrun's documentation says)"
        )
        return launch.hosts(args.nproc, args.nnodes, args.rdzv_endpoint, argv, text_given, source)


def _worker_argv(args: argparse.Namespace) -> list[str]:
    """This command for each process: without --nproc and --text (the text comes apart)."""
    argv = ["gpt", "train", "--preset", args.preset, "--out", args.out, "--seed", str(args.seed)]
    argv += ["--grad-accum", str(args.grad_accum), "--save", args.save]
    argv += [] if args.eval_iters is None else ["--eval-iters", str(args.eval_iters)]
    argv += [] if args.steps is None else ["--steps", str(args.steps)]
    argv += ["--resume"] if args.resume else []
    argv += ["--device", args.device] + (["--compile"] if args.compile else [])
    argv += [] if args.threads is None else ["--threads", str(args.threads)]
    for flag, _, _ in OVERRIDES:
        value = getattr(args, flag.replace("-", "_"))
        argv += [] if value is None else [f"--{flag}", repr(value)]
    return argv


def _train(
    args: argparse.Namespace,
    text: str,
    source: str,
    model_config: Any,
    train_config: Any,
    main: bool,
    where: Any,
) -> int:
    """Train in this process (one of several under torchrun: only rank 0 prints)."""
    from qkv.cli.progress import TrainDisplay
    from qkv.gpt.train import configure_cpu, train

    threads = configure_cpu(args.threads)
    header = _header(args, text, source, train_config, threads, where)
    display = TrainDisplay(header, train_config.steps) if main else None
    meta = {"preset": args.preset, "text": _text_meta(args, text)}
    try:
        result = train(
            text,
            model_config,
            train_config,
            Path(args.out),
            seed=args.seed,
            resume=args.resume,
            grad_accum=args.grad_accum,
            on_progress=display,
            device=where,
            compile=args.compile,
            save=args.save,
            meta=meta,
            on_start=None if display is None else display.begin,
        )
    except KeyboardInterrupt:
        if display is not None:
            display.close()
            say(f"interrupted; the checkpoints of the last evaluation in {args.out} are intact")
        return 130
    finally:
        if display is not None:
            display.close()
    if display is not None:
        done = display.summary()
        for line in ([done] if done else []) + closing(result, Path(args.out), args.save):
            say(line)
    return 0


def _header(
    args: argparse.Namespace, text: str, source: str, t: Any, threads: int, where: Any
) -> str:
    """training baby on input.txt (1,012 characters, 2 threads), and what it resumes."""
    from qkv.gpt import parallel

    world = parallel.current().world
    if where.type == "cuda":
        import torch

        gpu = torch.cuda.get_device_name(where)
        each = f"{world} × {gpu}" if world > 1 else gpu
        each += ", bfloat16 autocast" if torch.cuda.is_bf16_supported() else ""
    else:
        each = f"{world} processes × {threads}" if world > 1 else f"{threads}"
        each += " threads"
    each += ", compiled" if args.compile else ""
    header = f"training {args.label} on {source} ({len(text):,} characters, {each}); "
    batches = f"{t.eval_batches} batch{'es' if t.eval_batches > 1 else ''}"
    header += f"evaluating {batches} of train and val every {t.eval_interval} steps"
    if args.resumed is not None:
        path, state = args.resumed
        header += f"; resuming {path} at step {state['step']}"
    return header


def closing(result: dict[str, float], out: Path, save: str) -> list[str]:
    """Where the checkpoints are, and a word when validation rose after its best."""
    best, best_step = result["best_val"], int(result["best_step"])
    step, val = int(result.get("step", best_step)), result.get("val_loss", best)
    lines = []
    if save in ("best", "both"):
        lines.append(f"best val loss {best:.4f} at step {best_step}: {out / 'checkpoint.pt'}")
    if save in ("last", "both"):
        lines.append(f"last state, step {step} (val loss {val:.4f}): {out / 'last.pt'}")
    if step > best_step and val > best * OVERFIT:
        keeps = "checkpoint.pt keeps" if save != "last" else "the best was at"
        lines.append(
            f"val loss rose from {best:.2f} at step {best_step} to {val:.2f} at step {step} "
            f"(overfitting: fewer steps or a larger text); {keeps} step {best_step}"
        )
    return lines


OVERFIT = 1.02  # a final val loss 2% above the best is more than evaluation noise


def _prompt_ids(tok: Any, prompt: str) -> list[int]:
    if not prompt:
        raise InputError("--prompt is empty")  # an empty --start FILE too: the same prompt
    if len(prompt) > limits.MAX_PROMPT_CHARS:
        raise InputError(
            f"--prompt has {len(prompt):,} characters; at most {limits.MAX_PROMPT_CHARS:,}"
        )
    return tok.encode(prompt, "the prompt")


def run_sample(args: argparse.Namespace) -> int:
    from qkv.gpt.generate import generate

    if not 1 <= args.max_new_tokens <= limits.MAX_NEW_TOKENS:
        raise InputError(f"--max-new-tokens must be 1 to {limits.MAX_NEW_TOKENS:,}")
    if args.temperature < 0:
        raise InputError("--temperature must be 0 (greedy) or more")
    if args.top_k is not None and args.top_k < 1:
        raise InputError("--top-k must be at least 1")
    if args.top_p is not None and not 0 < args.top_p <= 1:
        raise InputError("--top-p must be in (0, 1]")
    if not 1 <= args.num_samples <= limits.MAX_SAMPLES:
        raise InputError(f"--num-samples must be 1 to {limits.MAX_SAMPLES}")
    if args.seed + args.num_samples - 1 > limits.MAX_SEED:
        raise InputError("--seed + --num-samples goes past 2**63 - 1")
    prompt = args.prompt if args.start is None else _start_file(args.start)
    model, tok = _load(args.checkpoint, args.device, args.threads)
    if prompt is None:  # nanoGPT's start: a newline, where the vocabulary has one
        prompt = "\n" if "\n" in tok.index else tok.chars[0]
    prompt_ids = _prompt_ids(tok, prompt)
    for i in range(args.num_samples):
        if i:
            print("-" * 15)  # nanoGPT's separator
        ids = generate(
            model,
            prompt_ids,
            args.max_new_tokens,
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            seed=args.seed + i,
            use_cache=not args.no_cache,
        )
        say(tok.decode(ids))  # a stranger's vocabulary may hold ESC: shown, not obeyed
    return 0


def _start_file(value: str) -> str:
    """The prompt in a file (qkv.files' byte limit; one trailing newline is not prompt)."""
    from qkv.cli.output import read_text

    path = value[len("FILE:") :] if value.startswith("FILE:") else value
    text = read_text(path, "--start", limits.PROMPT_FILE_BYTES)
    text = text[:-1] if text.endswith("\n") else text
    if not text:
        raise InputError(f"--start {path} is empty")
    return text


def run_probe(args: argparse.Namespace) -> int:
    import json

    from qkv.gpt.generate import next_chars, word_probability

    if args.top < 1:
        raise InputError(f"--top must be at least 1, not {args.top}")
    words = [w.strip() for w in args.candidates.replace("，", ",").split(",") if w.strip()]
    if len(words) > limits.MAX_CANDIDATES:
        raise InputError(
            f"--candidates lists {len(words):,} words; at most {limits.MAX_CANDIDATES}"
        )
    model, tok = _load(args.checkpoint, args.device)
    _prompt_ids(tok, args.prompt)
    probs = [(w, word_probability(model, tok, args.prompt, w)) for w in words]
    top = next_chars(model, tok, args.prompt, args.top)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "schema": "qkv.probe/1",
                    "prompt": args.prompt,
                    "candidates": [{"word": w, "probability": p} for w, p in probs],
                    "next": [{"char": c, "probability": p} for c, p in top],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    if probs:
        table = Table(title=Text(printable(f"P(word | {args.prompt})")), box=None)
        table.add_column("word")
        table.add_column("probability", justify="right")
        for w, p in sorted(probs, key=lambda x: -x[1]):
            table.add_row(Text(printable(w)), f"{p:.3g}")
        console.print(table)
        if len(probs) >= 2:
            (w1, p1), (w2, p2) = sorted(probs, key=lambda x: -x[1])[:2]
            ratio = "∞" if p2 == 0 else f"{p1 / p2:,.0f}"
            console.print(Text(printable(f"{w1} is {ratio}× as likely as {w2}")))
    table = Table(title=Text(printable(f"next character after {args.prompt}")), box=None)
    table.add_column("char")
    table.add_column("probability", justify="right")
    for c, p in top:
        table.add_row(Text(repr(c) if c.isspace() or not c.isprintable() else c), f"{p:.3g}")
    console.print(table)
    return 0


def run_attention(args: argparse.Namespace) -> int:
    from qkv.cli.output import check_outputs, write_text
    from qkv.gpt.generate import attention_maps

    if args.html is not None and not args.html.endswith(".html"):
        raise InputError("--html needs a FILE.html")
    check_outputs(args.output, args.html)  # refused before anything is written
    from qkv.gpt.checkpoint import in_folder

    source = Path(args.checkpoint)
    source = in_folder(source) if source.is_dir() else source
    outputs = [Path(p).resolve() for p in (args.output, args.html) if p is not None]
    if source.resolve() in outputs:
        raise InputError(f"{source} is the checkpoint read; write the maps elsewhere")
    if len(set(outputs)) < len(outputs):
        raise InputError("-o and --html name the same file")
    model, tok = _load(args.checkpoint, args.device)
    _prompt_ids(tok, args.prompt)
    maps = attention_maps(model, tok, args.prompt)
    page_text = None
    if args.html:
        from qkv.viz.page import page

        page_text = page(maps, title=f"{args.prompt} (qkv gpt)")
    out = maps.save(args.output)
    say(f"{maps.layers} layers x {maps.heads} heads x {len(maps.tokens)} tokens -> {out}")
    if page_text is not None:
        write_text(page_text, args.html)
        say(f"views -> {args.html}")
    last = maps.tokens[-1]
    for layer in range(maps.layers):
        tops = [maps.tokens[int(maps.maps[layer, h, -1].argmax())] for h in range(maps.heads)]
        print(
            f"layer {layer + 1}: {last!r} attends most to "
            + ", ".join(f"head {h + 1}: {t!r}" for h, t in enumerate(tops))
        )
    return 0
