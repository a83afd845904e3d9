"""`qkv serve` against the ceiling of its own framework, measured in one run.

The ceiling is a bare FastAPI app (one route answering a small JSON object) on the same
uvicorn settings as `qkv serve` (qkv.serve.connections.config), in its own process. Both are
driven by the same lean client: several processes, each keeping its connections open and
writing raw HTTP/1.1 requests on them (no HTTP library: a request costs the client far less
CPU than the server, which the script measures and prints, so the client is not what is
measured). Targets are taken in interleaved rounds (ceiling, qkv, ceiling, qkv, ...) so that
whatever else runs on the machine weighs on both alike.

    python benchmarks/serve_ceiling.py [--connections 16] [--clients 2] [--seconds 4] [--rounds 3]

Prints, per target: requests/s, p50 and p99 latency, the server's and the client's CPU time
per request, and requests/s as a fraction of the ceiling's (issue 25's target: /api/trace
presets >= 0.6x, p99 <= 25 ms at 16 connections).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from urllib.parse import quote

TARGETS = {  # name -> (server, path)
    "ceiling /hello": ("ceiling", "/hello"),
    "qkv /healthz": ("qkv", "/healthz"),
    "qkv /api/trace 笔记本": ("qkv", "/api/trace?example=" + quote("笔记本")),
    "qkv /api/trace search": ("qkv", "/api/trace?example=search&lang=en"),
}

CEILING_APP = textwrap.dedent(
    """
    import sys
    import uvicorn
    from fastapi import FastAPI
    from qkv.serve.connections import config

    app = FastAPI()

    @app.get("/hello")
    async def hello():
        return {"status": "ok"}

    uvicorn.Server(config(app, host="127.0.0.1", port=int(sys.argv[1]))).run()
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int, path: str, seconds: float = 60) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"no server on port {port} after {seconds:.0f} s")


def _read_response(sock: socket.socket, buf: bytearray) -> None:
    """One response (Content-Length bodies: what both servers send) off the stream."""
    while True:
        head_end = buf.find(b"\r\n\r\n")
        if head_end >= 0:
            head = bytes(buf[:head_end]).lower()
            if not head.startswith(b"http/1.1 200"):
                raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
            at = head.find(b"content-length:")
            length = int(head[at + 15 : head.find(b"\r\n", at)]) if at >= 0 else 0
            total = head_end + 4 + length
            if len(buf) >= total:
                del buf[:total]
                return
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed")
        buf += chunk


def _client(port: int, path: str, connections: int, seconds: float, out: mp.Queue) -> None:
    """One client process: its connections served round-robin, one request in flight on
    each (a closed loop), latencies in seconds."""
    import selectors

    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    sel = selectors.DefaultSelector()
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(connections)]
    state = {}
    for s in socks:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sel.register(s, selectors.EVENT_READ)
        state[s] = [bytearray(), time.perf_counter()]
        s.sendall(request)
    latencies: list[float] = []
    start = time.perf_counter()
    cpu0 = time.process_time()
    while time.perf_counter() - start < seconds:
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            buf, sent = state[s]
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed")
            buf += chunk
            if buf.find(b"\r\n\r\n") < 0:
                continue
            _read_response(s, buf)  # the rest of it is on its way
            now = time.perf_counter()
            latencies.append(now - sent)
            state[s][1] = now
            s.sendall(request)
    out.put((latencies, time.process_time() - cpu0, time.perf_counter() - start))
    for s in socks:
        s.close()


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(pid: int, port: int, path: str, args: argparse.Namespace) -> dict[str, float]:
    queue: mp.Queue = mp.Queue()
    per = max(1, args.connections // args.clients)
    procs = [
        mp.Process(target=_client, args=(port, path, per, args.seconds, queue))
        for _ in range(args.clients)
    ]
    cpu0 = _cpu_seconds(pid)
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    server_cpu = _cpu_seconds(pid) - cpu0
    latencies = sorted(x for r in results for x in r[0])
    n = len(latencies)
    wall = max(r[2] for r in results)
    return {
        "rps": n / wall,
        "p50": statistics.median(latencies) * 1e3,
        "p99": latencies[min(n - 1, int(0.99 * n))] * 1e3,
        "server_ms": server_cpu / n * 1e3,
        "client_ms": sum(r[1] for r in results) / n * 1e3,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--clients", type=int, default=2, help="client processes")
    ap.add_argument("--seconds", type=float, default=4.0, help="per target and round")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    ports = {"ceiling": _free_port(), "qkv": _free_port()}
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "HOME": home, "XDG_CACHE_HOME": home}
        servers = {
            "ceiling": subprocess.Popen(
                [sys.executable, "-c", CEILING_APP, str(ports["ceiling"])], env=env
            ),
            "qkv": subprocess.Popen(
                [sys.executable, "-m", "qkv", "serve", "--port", str(ports["qkv"])],
                env=env,
                stderr=subprocess.DEVNULL,
            ),
        }
        try:
            _wait(ports["ceiling"], "/hello")
            _wait(ports["qkv"], "/healthz")
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in TARGETS}
            for _ in range(args.rounds):
                for name, (server, path) in TARGETS.items():
                    runs[name].append(_measure(servers[server].pid, ports[server], path, args))
        finally:
            for p in servers.values():
                p.terminate()
                p.wait(10)
    _report(runs, args)


def _report(runs: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> None:
    import platform

    med = {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for n, rs in runs.items()}
    ceiling = med["ceiling /hello"]["rps"]
    print(
        f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{args.connections} connections from {args.clients} client processes, "
        f"{args.rounds} rounds of {args.seconds:g} s; medians over rounds"
    )
    print("| target | req/s | × ceiling | p50 ms | p99 ms | server CPU ms | client CPU ms |")
    print("|---|---|---|---|---|---|---|")
    for name, m in med.items():
        print(
            f"| {name} | {m['rps']:,.0f} | {m['rps'] / ceiling:.2f}× | {m['p50']:.1f} | "
            f"{m['p99']:.1f} | {m['server_ms']:.2f} | {m['client_ms']:.2f} |"
        )


if __name__ == "__main__":
    main()
