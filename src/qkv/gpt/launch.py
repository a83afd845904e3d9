"""Starting the processes of a data-parallel run (``qkv gpt train --nproc N``).

On one machine nothing listens on the network. torch's elastic launcher (what torchrun runs)
keeps its rendezvous in a TCPStore that listens on every interface, has no authentication and
whose contents the launcher unpickles: anyone who can reach the port can run code as the
trainer. So here the N processes are started directly, and they meet through a
torch.distributed.FileStore in a private folder (0700, removed at the end); gloo and NCCL
connect them over the loopback interface only. The training text, read once by the command
(a pipe or a FIFO cannot be read N times), waits for them in the same folder.

Across machines (``--nnodes M --rdzv-endpoint HOST:PORT``) the elastic launcher is used as
torchrun uses it, and its rendezvous listens on the network: that is only for a trusted
network, as torchrun's own documentation says.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

# what the launcher tells the processes it starts (torchrun's names, and qkv's two)
STORE = "QKV_RANK_STORE"  # the FileStore's path: join through it, not through MASTER_ADDR
TEXT_NAME = "QKV_TEXT_NAME"  # what the text handed over was called (for the messages)
GRACE_S = 5.0  # a process asked to stop gets this long before it is killed
IFF_LOOPBACK = 0x8  # <linux/if.h>


def loopback_interface() -> str:
    """The name of the loopback network interface ("lo" on Linux, "lo0" on macOS)."""
    import socket

    names = [name for _, name in socket.if_nameindex()]
    for name in names:
        try:
            flags = int(Path(f"/sys/class/net/{name}/flags").read_text(), 16)
        except (OSError, ValueError):
            continue
        if flags & IFF_LOOPBACK:
            return name
    return next((n for n in names if n.startswith("lo")), "lo")


def local(nproc: int, argv: Sequence[str], text: str | None, source: str) -> int:
    """Run ``python -m qkv <argv>`` as ranks 0 .. nproc-1 of one group on this machine; the
    exit code of the first that fails, or 0. ``text``: handed to each as ``--text``."""
    with tempfile.TemporaryDirectory(prefix="qkv-ranks-") as folder:  # mode 0700
        env = _private_env(folder, nproc)
        args = [*argv, *_hand_over(text, source, folder, env)]
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "qkv", *args],
                env={**env, "RANK": str(rank), "LOCAL_RANK": str(rank)},
                stdin=subprocess.DEVNULL,
            )
            for rank in range(nproc)
        ]
        return wait(procs)


def _hand_over(text: str | None, source: str, folder: str, env: dict[str, str]) -> list[str]:
    """The arguments that give the processes the text read here: a file only this user can
    read, in the private folder (and its name for their messages in ``env``)."""
    if text is None:
        return []
    path = Path(folder) / "text.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    env[TEXT_NAME] = source
    return ["--text", str(path)]


def _private_env(folder: str, nproc: int) -> dict[str, str]:
    """The environment of the processes: their group, joined through a file, on loopback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MASTER_", "TORCHELASTIC"))}
    lo = loopback_interface()
    env.update(
        {
            STORE: str(Path(folder) / "store"),
            "WORLD_SIZE": str(nproc),
            "LOCAL_WORLD_SIZE": str(nproc),
            "GLOO_SOCKET_IFNAME": lo,  # else gloo binds the address the host name resolves to
            "NCCL_SOCKET_IFNAME": lo,  # NCCL's bootstrap sockets, on CUDA
        }
    )
    return env


def wait(procs: list[subprocess.Popen[bytes]]) -> int:
    """Wait for every process; when one fails, stop the others. Its exit code (1 for one
    killed by a signal), or 0; 130 when interrupted."""
    code = 0
    try:
        while any(p.poll() is None for p in procs):
            failed = [p.returncode for p in procs if p.returncode not in (None, 0)]
            if failed and code == 0:
                code = failed[0] if failed[0] > 0 else 1
                stop(procs, signal.SIGTERM)
            time.sleep(0.05)
    except KeyboardInterrupt:  # Ctrl-C reached them too: give them time to say so
        stop(procs, signal.SIGINT)
        return 130
    if code == 0:
        failed = [p.returncode for p in procs if p.returncode != 0]
        code = (failed[0] if failed[0] > 0 else 1) if failed else 0
    return code


def stop(procs: list[subprocess.Popen[bytes]], how: signal.Signals) -> None:
    """Send ``how`` to the processes still running; kill those still there after GRACE_S."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(how)
    deadline = time.monotonic() + GRACE_S
    for p in procs:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def hosts(
    nproc: int, nnodes: int, endpoint: str, argv: Sequence[str], text: str | None, source: str
) -> int:
    """Run ``python -m qkv <argv>`` in nproc processes on each of nnodes machines, which meet
    at torch's c10d rendezvous on ``endpoint`` (the same command runs on every machine);
    the first failing process's exit code, or 0."""
    with tempfile.TemporaryDirectory(prefix="qkv-ranks-") as folder:
        env: dict[str, str] = {}
        args = [*argv, *_hand_over(text, source, folder, env)]
        os.environ.update(env)  # the launcher gives its processes this environment
        return _elastic(nproc, nnodes, endpoint, args)


def _elastic(nproc: int, nnodes: int, endpoint: str, argv: Sequence[str]) -> int:
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    # the processes say what went wrong themselves; the launcher's log would repeat it
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    config = LaunchConfig(
        min_nodes=nnodes,
        max_nodes=nnodes,
        nproc_per_node=nproc,
        rdzv_backend="c10d",
        rdzv_endpoint=endpoint,
        run_id="qkv-gpt-train",  # the same on every machine, as torchrun's default "none"
        max_restarts=0,
        monitor_interval=0.1,
    )
    try:
        elastic_launch(config, sys.executable)("-m", "qkv", *argv)
    except ChildFailedError as e:
        first = min(e.failures.values(), key=lambda f: f.timestamp)
        return first.exitcode if first.exitcode > 0 else 1
    return 0
