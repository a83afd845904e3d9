"""Data-parallel training on torch.distributed: the processes, DDP, and each rank's batches.

torchrun (or ``qkv gpt train --nproc N``, which starts them itself: qkv.gpt.launch) starts N
processes and tells each its RANK and WORLD_SIZE; they join one group: gloo on the CPU, NCCL
on CUDA (each process on the GPU of its LOCAL_RANK). The sampler: every rank draws the same
global batch from the same seeded generator and keeps its own 1/N of the windows, cut again
into ``grad_accum`` micro-batches. So N processes see exactly the batches one process sees,
and the gradient DistributedDataParallel averages is the gradient of the global batch: the
loss curve does not depend on N (but for float round-off). Rank 0 alone evaluates, writes
checkpoints and logs.
"""

from __future__ import annotations

import datetime
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NoReturn

import torch
import torch.distributed as dist
from torch import nn

from qkv.errors import InputError
from qkv.gpt.launch import STORE

# a peer that stops answering without dying (a dead one is noticed at once) fails the others
# after this; evaluation and checkpoints on rank 0 take far less
TIMEOUT = datetime.timedelta(minutes=10)


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """Rank 0: the one that evaluates, saves and prints."""
        return self.rank == 0


ONE = Ranks()  # a single process


def current() -> Ranks:
    """This process's place in the default group (one process when there is none)."""
    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size())
    return ONE


def launched() -> Ranks:
    """What torchrun's environment says this process is (one process when not launched)."""
    try:
        return Ranks(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        raise InputError("RANK and WORLD_SIZE must be integers (torchrun sets them)") from None


@contextmanager
def process_group(ranks: Ranks, device: torch.device | None = None) -> Iterator[None]:
    """Join the group for the duration (nothing to join for one process): NCCL when the
    processes train on CUDA, else gloo. Started by ``--nproc`` (qkv.gpt.launch), they meet
    through a FileStore; started by torchrun, through its TCPStore (MASTER_ADDR)."""
    if ranks.world == 1:
        yield
        return
    backend = "nccl" if device is not None and device.type == "cuda" else "gloo"
    store_path = os.environ.get(STORE)
    try:
        if device is not None and device.type == "cuda":
            torch.cuda.set_device(device)
        if store_path:
            store = dist.FileStore(store_path, ranks.world)
            dist.init_process_group(
                backend, store=store, rank=ranks.rank, world_size=ranks.world, timeout=TIMEOUT
            )
        else:
            dist.init_process_group(backend, timeout=TIMEOUT)
    except (ValueError, RuntimeError) as e:  # a WORLD_SIZE without torchrun's other variables
        raise InputError(f"cannot join the torch.distributed group: {e}") from None
    try:
        yield
    finally:
        dist.destroy_process_group()


def leave(code: int) -> NoReturn:
    """End a rank's process once its group is gone and its files are written, without the
    interpreter's teardown: there, under load, gloo's threads were sometimes destroyed while
    still joinable ("terminate called without an active exception", SIGABRT), and the
    launcher reported a run that had finished and saved as failed."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def wrap(model: nn.Module, ranks: Ranks) -> nn.Module:
    """DistributedDataParallel around the model when there are several processes."""
    if ranks.world == 1:
        return model
    device = next(model.parameters()).device
    ids = None if device.type == "cpu" else [device]
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def check_batch(batch_size: int, ranks: Ranks, grad_accum: int) -> None:
    if grad_accum < 1:
        raise InputError(f"--grad-accum must be at least 1, not {grad_accum}")
    if batch_size % (ranks.world * grad_accum):
        raise InputError(
            f"the batch of {batch_size} does not split into {ranks.world} process(es) × "
            f"{grad_accum} micro-batch(es) of equal size; choose --nproc and --grad-accum "
            f"whose product divides {batch_size}"
        )


def my_part(starts: torch.Tensor, ranks: Ranks, grad_accum: int) -> tuple[torch.Tensor, ...]:
    """This rank's micro-batches of the global batch's window starts."""
    per = len(starts) // ranks.world
    return starts[ranks.rank * per : (ranks.rank + 1) * per].chunk(grad_accum)


def mean(value: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """The mean of a scalar over the ranks (the loss of the global batch)."""
    if ranks.world > 1:
        dist.all_reduce(value)
        value = value / ranks.world
    return value
