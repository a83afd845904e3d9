"""Load on `qkv serve`: the real server (the CLI, in its own process, on a loopback port) and
16 concurrent clients (httpx, asyncio), 5,000 requests across the endpoints in phases, each
bounded in count and in time. Prints requests/s, p50 and p99 latency and errors per phase.

    python benchmarks/serve_load.py [--checkpoint DIR] [--clients 16] [--scale 1.0] [--rate R]

Targets on two cores: /api/trace >= 300 requests/s with p99 <= 50 ms, /api/next >= 100
requests/s, 0 errors. A p99 is a property of a load below saturation: closed loop, 16 clients
keep 16 requests in flight, so the mean latency is 16 / (requests/s) whatever the server does
(Little's law); --rate R offers R requests/s instead (open loop) and measures the latency a
user sees at that load. /healthz, which computes nothing, is the ceiling of the HTTP stack and
this client in the same run; the CPU each request cost the server and the client is printed
too (on a shared machine requests/s depend on what else runs). Without --checkpoint the tiny
GPT is an untrained model of the tiny preset's shape (the same work per request as a trained
one), made in a temporary folder. The client shares the machine's cores with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

Request = tuple[str, str, dict[str, Any], Any]  # method, path, query, JSON body


def tiny_checkpoint(folder: Path) -> Path:
    import torch

    from qkv.gpt import checkpoint
    from qkv.gpt.config import TrainConfig, preset
    from qkv.gpt.data import CharTokenizer, builtin_corpus
    from qkv.gpt.model import GPT

    torch.manual_seed(0)
    tok = CharTokenizer.from_text(builtin_corpus())
    config, _ = preset("tiny")
    from dataclasses import replace

    model = GPT(replace(config, vocab_size=len(tok)))
    checkpoint.save(folder / "checkpoint.pt", model, None, 1, 9.9, TrainConfig(steps=1), tok)
    return folder


def start_server(checkpoint: Path) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "qkv", "serve", "--port", "0", "--checkpoint", str(checkpoint)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    found = re.search(r"(http://[\d.]+:\d+)/", line)
    if not found:
        proc.kill()
        raise SystemExit(f"the server did not start: {line}")
    return proc, found.group(1)


def random_body(rng: random.Random) -> dict[str, Any]:
    n, d = rng.randint(2, 6), rng.randint(2, 6)
    x = [[str(rng.randint(-3, 3)) for _ in range(d)] for _ in range(n)]
    return {"x": x, "tokens": [f"t{i}" for i in range(n)]}


PROMPTS = ["我爱吃", "他喜欢喝", "我们去", "妈妈每天都吃", "小明想去", "你爱"]


def phases(rng: random.Random, scale: float) -> list[tuple[str, int, Callable[[], Request]]]:
    presets = [
        {"example": e, "lang": lang, "mask": m}
        for e in ("笔记本", "search")
        for lang in ("zh", "en")
        for m in ("none", "causal")
    ]

    def mixed() -> Request:
        return rng.choice([trace_get, trace_post, next_token, layout, why])()

    def trace_get() -> Request:
        return "GET", "/api/trace", rng.choice(presets), None

    def trace_post() -> Request:
        return "POST", "/api/trace", {"mask": rng.choice(["none", "causal"])}, random_body(rng)

    def layout() -> Request:
        return "POST", "/api/layout", {"lang": "zh"}, random_body(rng)

    def next_token() -> Request:
        q = {"prompt": rng.choice(PROMPTS), "temperature": rng.choice([0.5, 0.8, 1.0, 1.5])}
        return "GET", "/api/next", {**q, "top_k": rng.choice([0, 5, 10])}, None

    def why() -> Request:
        return "GET", "/api/scale", {"d_k": rng.choice([1, 4, 16, 64, 256, 1024])}, None

    def maps() -> Request:
        return "GET", "/api/gpt/maps", {"prompt": rng.choice(PROMPTS)}, None

    def health() -> Request:
        return "GET", "/healthz", {}, None

    plan = [
        ("GET /healthz (the stack alone)", 250, health),
        ("GET /api/trace (presets)", 1000, trace_get),
        ("POST /api/trace (random X)", 750, trace_post),
        ("POST /api/layout (random X)", 500, layout),
        ("GET /api/next", 1000, next_token),
        ("GET /api/gpt/maps", 250, maps),
        ("GET /api/scale", 250, why),
        ("mixed", 1000, mixed),
    ]
    return [(name, max(1, int(n * scale)), make) for name, n, make in plan]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_phase(
    client: httpx.AsyncClient,
    make: Callable[[], Request],
    count: int,
    clients: int,
    limit: float,
    server: int,
    rate: float | None = None,
) -> dict[str, Any]:
    """Closed loop (each client sends its next request when its last one is answered), or,
    with ``rate``, open loop: request i is due at start + i / rate whether or not earlier ones
    are answered, and its latency counts from when it was due (queueing included: no
    coordinated omission)."""
    todo = [make() for _ in range(count)]
    sent = itertools.count()
    latencies: list[float] = []
    errors: list[str] = []
    cpu = cpu_seconds(server), time.process_time()
    start = time.perf_counter()

    async def worker() -> None:
        while todo and time.perf_counter() - start < limit:
            method, path, query, body = todo.pop()
            t0 = time.perf_counter()
            if rate is not None:
                due = start + next(sent) / rate
                await asyncio.sleep(max(0.0, due - t0))
                t0 = due
            try:
                r = await client.request(method, path, params=query, json=body)
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {path}: {r.text[:80]}")
            except httpx.HTTPError as e:
                errors.append(f"{type(e).__name__} {path}")
            latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*(worker() for _ in range(clients)))
    wall = time.perf_counter() - start
    lat = sorted(latencies)
    server_cpu, client_cpu = cpu_seconds(server) - cpu[0], time.process_time() - cpu[1]
    return {
        "server_cpu_ms": 1000 * server_cpu / max(1, len(lat)),
        "client_cpu_ms": 1000 * client_cpu / max(1, len(lat)),
        "requests": len(lat),
        "errors": len(errors),
        "first_errors": errors[:3],
        "rps": len(lat) / wall,
        "p50_ms": 1000 * statistics.median(lat),
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))],
        "seconds": wall,
    }


async def load(
    url: str, clients: int, scale: float, limit: float, server: int, rate: float | None = None
) -> list[tuple[str, Any]]:
    rng = random.Random(0)
    pool = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=pool, timeout=30) as client:
        # warm up: the GPT loads (torch is imported) on first use; the check and maps too
        for _ in range(600):
            status = (await client.get("/api/gpt/status")).json()
            if status["state"] in ("ready", "failed"):
                break
            await asyncio.sleep(0.1)
        for path, query in [("/api/next", {"prompt": "我"}), ("/api/gpt/maps", {"prompt": "我"})]:
            (await client.get(path, params=query)).raise_for_status()
        results = []
        for name, count, make in phases(rng, scale):
            result = await run_phase(client, make, count, clients, limit, server, rate)
            results.append((name, result))
        return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", help="a tiny GPT from qkv gpt train (default: untrained)")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every phase's requests")
    ap.add_argument("--limit", type=float, default=60.0, help="seconds at most per phase")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument(
        "--rate",
        type=float,
        metavar="R",
        help="open loop: offer R requests/s (at most --clients in flight), latency from when "
        "each was due; without it each client sends its next request when answered",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(args.checkpoint) if args.checkpoint else tiny_checkpoint(Path(tmp))
        proc, url = start_server(ckpt)
        try:
            work = load(url, args.clients, args.scale, args.limit, proc.pid, args.rate)
            results = asyncio.run(work)
        finally:
            proc.terminate()
            proc.wait(10)
    total = sum(r["requests"] for _, r in results)
    errors = sum(r["errors"] for _, r in results)
    offered = f", {args.rate:g} requests/s offered" if args.rate else " (closed loop)"
    print(f"qkv serve on {url}, {args.clients} clients{offered}, {os.cpu_count()} CPUs seen")
    print(
        f"{'phase':30} {'requests':>8} {'errors':>6} {'req/s':>6} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'server CPU ms/req':>17} {'client CPU ms/req':>17}"
    )
    for name, r in results:
        print(
            f"{name:30} {r['requests']:8d} {r['errors']:6d} {r['rps']:6.0f} "
            f"{r['p50_ms']:7.1f} {r['p99_ms']:7.1f} {r['server_cpu_ms']:17.2f} "
            f"{r['client_cpu_ms']:17.2f}"
        )
        for e in r["first_errors"]:
            print(f"    {e}")
    print(f"total {total} requests, {errors} errors")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(results), indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
