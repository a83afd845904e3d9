"""`qkv serve` attacked while it is measured (issue 21's acceptance).

The real server (the CLI, in its own process, on a loopback port) gets, all at once:

- CHECKS clients each posting a maximal /api/check body (just under 1 MB: 31,000
  labelled vectors, which keep the checker busy to its 3.5 s budget) in a closed
  loop, honouring Retry-After (--hammer: again at once);
- SLOW connections each declaring a 990,000-byte /api/check body and sending it 8 KB at a
  time, slowly (what once made the server hold a gigabyte), reconnecting when dropped;

and, once the attack runs, two measured phases of --seconds each:

- closed loop: /api/trace with fresh bodies (computed, never cached) from --trace-clients
  clients, and /healthz offered at --healthz-rate requests/s (open loop: latency counted
  from when each request was due);
- open loop: /api/trace offered at --trace-rate requests/s, /healthz as before.

The server's RSS (with its checking processes) is sampled every 0.25 s, and every answer of
every client, attackers included, is counted by status. Every client group is its own
process, so the client is not one interpreter's bottleneck (but on a small machine all of
them share the cores with the server: the client CPU is printed).

    python benchmarks/serve_abuse.py [--seconds 20] [--checks 40] [--slow 1000]

Targets: /healthz p99 <= 100 ms, RSS <= 1.5 GB, no 500, /api/trace >= 100 requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

LOCAL = "127.0.0.1"
SLOW_BODY = 990_000
JSON = {"content-type": "application/json"}


def maximal_article() -> str:
    """About 990 KB of JSON: 31,000 labelled vectors ("q7 = [0.412, 0.037, 0.905]"), which
    keep the checker busy to its 3.5 s budget ("too complex", a 422)."""
    rng = random.Random(0)
    lines = []
    for k in range(40_000):
        lines.append(f"q{k} = [{rng.random():.3f}, {rng.random():.3f}, {rng.random():.3f}]")
        if len(lines) % 1000 == 0 and len(json.dumps({"text": "\n".join(lines)})) > 990_000:
            break
    return "\n".join(lines[:-1000])


def trace_body(rng: random.Random) -> bytes:
    n, d = rng.randint(2, 6), rng.randint(2, 6)
    x = [[rng.randint(-9, 9) for _ in range(d)] for _ in range(n)]
    return json.dumps({"x": x, "tokens": [f"t{i}_{rng.random():.6f}" for i in range(n)]}).encode()


# ------------------------------------------------------------------ the client groups


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def _checks(url: str, n: int, until: float, hammer: bool) -> dict[str, Any]:
    import httpx

    body = json.dumps({"text": maximal_article(), "name": "a.md"}).encode()
    statuses: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def one() -> None:
            while time.time() < until:
                try:
                    r = await client.post("/api/check", content=body, headers=JSON)
                    statuses[str(r.status_code)] += 1
                    if r.status_code == 503 and not hammer:
                        await asyncio.sleep(float(r.headers.get("retry-after", "1")))
                except httpx.HTTPError as e:
                    statuses[type(e).__name__] += 1
                    await asyncio.sleep(0.5)

        await asyncio.gather(*(one() for _ in range(n)))
    return {"statuses": statuses}


async def _slow(host: str, port: int, n: int, until: float, hammer: bool) -> dict[str, Any]:
    """n connections, each declaring a large body and sending it slowly, reconnecting."""
    statuses: Counter[str] = Counter()
    held = [0]
    head = (
        f"POST /api/check HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {SLOW_BODY}\r\n\r\n"
    ).encode()
    chunk = b" " * 8192

    async def one(k: int) -> None:
        await asyncio.sleep(k * 0.01)  # connect gradually, as a botnet would
        while time.time() < until:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                statuses["connect failed"] += 1
                await asyncio.sleep(1)
                continue
            held[0] += 1
            try:
                writer.write(head)
                sent = 0
                while time.time() < until and sent < SLOW_BODY - len(chunk):
                    writer.write(chunk)
                    await writer.drain()
                    sent += len(chunk)
                    try:  # an answer (503, 408) or the close ends this connection
                        line = await asyncio.wait_for(reader.readline(), 0.5)
                    except TimeoutError:
                        continue
                    found = re.match(rb"HTTP/1\.1 (\d+)", line)
                    statuses[found.group(1).decode() if found else "closed"] += 1
                    break
            except (ConnectionError, OSError):
                statuses["reset"] += 1
            finally:
                held[0] -= 1
                writer.close()
            await asyncio.sleep(0 if hammer else 2)  # the server's Retry-After

    await asyncio.gather(*(one(k) for k in range(n)))
    return {"statuses": statuses}


async def _healthz(url: str, rate: float, start: float, until: float) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def one(due: float) -> None:
            try:
                r = await client.get("/healthz")
                statuses[str(r.status_code)] += 1
            except httpx.HTTPError as e:
                statuses[type(e).__name__] += 1
            latencies.append(time.time() - due)

        await _open_loop(one, rate, start, until)
    return {"latencies": latencies, "statuses": statuses}


async def _open_loop(one: Any, rate: float, start: float, until: float) -> None:
    tasks = []
    k = 0
    while (due := start + k / rate) < until:
        await asyncio.sleep(max(0.0, due - time.time()))
        tasks.append(asyncio.create_task(one(due)))
        k += 1
    await asyncio.gather(*tasks)


async def _trace(
    url: str, clients: int, rate: float, start: float, until: float, seed: int
) -> dict[str, Any]:
    """Closed loop with ``clients`` clients, or open loop at ``rate`` requests/s."""
    import httpx

    rng = random.Random(seed)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=max(clients, 64))
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def one(due: float) -> None:
            try:
                r = await client.post("/api/trace", content=trace_body(rng), headers=JSON)
                statuses[str(r.status_code)] += 1
            except httpx.HTTPError as e:
                statuses[type(e).__name__] += 1
            latencies.append(time.time() - due)

        if rate > 0:
            await _open_loop(one, rate, start, until)
        else:
            await asyncio.sleep(max(0.0, start - time.time()))

            async def loop() -> None:
                while time.time() < until:
                    await one(time.time())

            await asyncio.gather(*(loop() for _ in range(clients)))
    return {"latencies": latencies, "statuses": statuses, "open": rate > 0}


def _group(kind: str, label: str, args: tuple[Any, ...], out: Any) -> None:
    """One client process: run its group, report what it saw and the CPU it used."""
    coroutine = {"checks": _checks, "slow": _slow, "healthz": _healthz, "trace": _trace}[kind]
    result = asyncio.run(coroutine(*args))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu"] = usage.ru_utime + usage.ru_stime
    out.put((label, result))


# ------------------------------------------------------------------ the server


def start_server() -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "qkv", "serve", "--port", "0"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    found = re.search(r"(http://[\d.]+:\d+)/", line)
    if not found:
        proc.kill()
        raise SystemExit(f"the server did not start: {line}")
    return proc, found.group(1)


def _tree(pid: int) -> list[int]:
    children = {pid}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.add(int(entry.name))
    return sorted(children)


def _rss(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        found = re.search(r"VmRSS:\s+(\d+) kB", status)
        total += int(found.group(1)) * 1024 if found else 0
    return total


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.last, self.stop = pid, 0, 0, False

    def run(self) -> None:
        while not self.stop:
            self.last = _rss(_tree(self.pid))
            self.peak = max(self.peak, self.last)
            time.sleep(0.25)


def _cpu(pid: int) -> float:
    """CPU seconds of the server process and its children (the checking processes)."""
    total = 0.0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


# ------------------------------------------------------------------ the run


Group = tuple[str, str, tuple[Any, ...]]  # kind, label, arguments


def start_groups(groups: list[Group]) -> tuple[list[Any], Any]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_group, args=(*group, out)) for group in groups]
    for p in procs:
        p.start()
    return procs, out


def collect(procs: list[Any], out: Any) -> dict[str, dict[str, Any]]:
    """The results by label, those of one label merged."""
    merged: dict[str, dict[str, Any]] = {}
    for _ in procs:
        label, r = out.get()
        m = merged.setdefault(label, {"latencies": [], "statuses": Counter(), "cpu": 0.0})
        m["latencies"] += r.get("latencies", [])
        m["statuses"].update(r["statuses"])
        m["cpu"] += r["cpu"]
    for p in procs:
        p.join()
    return merged


def summarize(name: str, result: dict[str, Any], seconds: float | None = None) -> str:
    lat = [x * 1000 for x in result.get("latencies", [])]
    n = len(lat)
    ok = result["statuses"].get("200", 0)
    rate = f"{ok / seconds:7.1f}" if seconds else "      -"
    codes = ", ".join(f"{k}: {v}" for k, v in sorted(result["statuses"].items()))
    if not lat:
        return f"| {name} | {rate} | - | - | - | {codes} |"
    return (
        f"| {name} | {rate} | {statistics.median(lat):.1f} | {_percentile(lat, 0.99):.1f} | "
        f"{max(lat):.1f} | {codes} ({n} requests) |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20, help="each measured phase")
    ap.add_argument("--ramp", type=float, default=8, help="attack alone before measuring")
    ap.add_argument("--checks", type=int, default=40)
    ap.add_argument("--slow", type=int, default=1000)
    ap.add_argument("--slow-processes", type=int, default=4)
    ap.add_argument("--trace-clients", type=int, default=8, help="closed loop, in 2 processes")
    ap.add_argument("--trace-rate", type=float, default=150, help="open loop, requests/s")
    ap.add_argument("--healthz-rate", type=float, default=20)
    ap.add_argument("--hammer", action="store_true", help="attackers ignore Retry-After")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = ap.parse_args()

    server, url = start_server()
    port = int(url.rsplit(":", 1)[1])
    rss = RssSampler(server.pid)
    rss.start()
    try:
        import httpx

        httpx.post(f"{url}/api/check", json={"text": "q = [1, 2]"}, timeout=60)  # a worker
        results = phases(args, url, port, server.pid)
    finally:
        rss.stop = True
        server.terminate()
        server.wait(10)
    report(args, results, rss.peak)


def phases(args: Any, url: str, port: int, pid: int) -> dict[str, dict[str, Any]]:
    """The baseline (no attack), then the attack with its two measured phases."""
    t = args.seconds
    halves = [args.trace_clients // 2, args.trace_clients - args.trace_clients // 2]

    def measured(label: str, start: float, closed: bool) -> list[Group]:
        end = start + t
        rate = args.trace_rate / 2
        trace: list[Group] = [
            ("trace", f"trace {label}", (url, k if closed else 0, 0 if closed else rate,
                                         start, end, 7 * len(label) + i))
            for i, k in enumerate(halves)
        ]  # fmt: skip
        return [("healthz", f"healthz {label}", (url, args.healthz_rate, start, end)), *trace]

    now = time.time() + 3  # the clients' start-up
    procs, out = start_groups(measured("baseline", now, closed=True))
    baseline = collect(procs, out)
    t0 = time.time()
    until = t0 + args.ramp + 2 * t + 5
    attack: list[Group] = [("checks", "checks", (url, args.checks, until, args.hammer))]
    per = -(-args.slow // args.slow_processes)
    for k in range(args.slow_processes):
        n = max(0, min(per, args.slow - k * per))
        attack.append(("slow", "slow", (LOCAL, port, n, until, args.hammer)))
    attackers, attack_out = start_groups(attack)
    a = t0 + args.ramp
    cpu0 = _cpu(pid)
    procs, out = start_groups(measured("closed", a, True) + measured("open", a + t, False))
    results = {**baseline, **collect(procs, out)}
    results["server cpu"] = {"seconds": _cpu(pid) - cpu0}
    return {**results, **collect(attackers, attack_out)}


def report(args: Any, r: dict[str, dict[str, Any]], peak: int) -> None:
    every: Counter[str] = Counter()
    for group in r.values():
        if "statuses" in group:
            every.update(group["statuses"])
    print(
        f"attack: {args.checks} clients posting maximal /api/check bodies, {args.slow} slow "
        f"connections{' (both ignoring Retry-After)' if args.hammer else ''}; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print("\n| phase | /api/trace req/s | p50 ms | p99 ms | max ms | answers |")
    print("|---|---|---|---|---|---|")
    h, c = args.healthz_rate, args.trace_clients
    rows = [
        (f"no attack: /healthz, {h:g}/s offered", "healthz baseline", None),
        (f"no attack: /api/trace, {c} clients", "trace baseline", args.seconds),
        (f"attack: /healthz, {h:g}/s offered", "healthz closed", None),
        (f"attack: /api/trace closed loop, {c} clients", "trace closed", args.seconds),
        (f"attack: /healthz, {h:g}/s offered", "healthz open", None),
        (
            f"attack: /api/trace open loop, {args.trace_rate:g}/s offered",
            "trace open",
            args.seconds,
        ),
        ("attack: /api/check (the attackers')", "checks", None),
        ("attack: slow connections (the attackers')", "slow", None),
    ]
    for name, label, seconds in rows:
        print(summarize(name, r[label], seconds))
    clients = sum(g["cpu"] for g in r.values() if "cpu" in g)
    print(
        f"\nserver RSS peak {peak / 1e6:,.0f} MB (with its checking processes); answers 500: "
        f"{every.get('500', 0)}; CPU s in the attack's measured phases: server "
        f"{r['server cpu']['seconds']:.1f}; all clients {clients:.1f} (whole run)"
    )
    attacked = r["healthz closed"]["latencies"] + r["healthz open"]["latencies"]
    p99 = _percentile(attacked, 0.99) * 1000
    base99 = _percentile(r["healthz baseline"]["latencies"], 0.99) * 1000
    rate = r["trace closed"]["statuses"].get("200", 0) / args.seconds
    verdict = {
        f"/healthz p99 <= 100 ms (no attack: {base99:.0f} ms)": p99 <= 100,
        "RSS <= 1.5 GB": peak <= 1.5e9,
        "no 500": every.get("500", 0) == 0,
        "/api/trace >= 100 req/s": rate >= 100,
    }
    print("targets: " + "; ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in verdict.items()))
    if args.json:
        figures = {
            "healthz_p99_ms": p99,
            "healthz_p99_ms_without_attack": base99,
            "rss_peak_bytes": peak,
            "answers_500": every.get("500", 0),
            "trace_closed_rps": rate,
            "statuses": dict(every),
        }
        Path(args.json).write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
