"""qkv serve under abuse (issue 21): requests a web page on another site can send, computations
past the server's capacity, connections that send nothing or send slowly, checks that run
too long or too large, and the sockets the server holds. The long, measured version of the
load is benchmarks/serve_abuse.py."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

import httpx
from fastapi.testclient import TestClient

from qkv.serve import limits
from qkv.serve.app import create_app
from qkv.serve.connections import HeaderDeadline
from qkv.serve.gate import Busy, Gate
from qkv.serve.models import GPTSource
from qkv.serve.origin import allowed_hosts
from qkv.serve.workers import TooLong, Workers
from tests import sockets
from tests.serving import running

JSON = {"content-type": "application/json"}
BODY = json.dumps({"x": [[1, 2], [3, 4]]})


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return create_app(GPTSource(tmp_path_factory.mktemp("none") / "checkpoint.pt"))


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as c:
        yield c


# ------------------------------------------------------------------ requests from elsewhere


def test_a_host_the_server_does_not_know_is_refused(client):
    """No Host check: a page on evil.example, rebound to 127.0.0.1, could read the API."""
    for host in ("evil.example", "127.0.0.1.evil.example", "localhost.", ""):
        r = client.get("/api/trace", headers={"host": host})
        assert r.status_code == 400, host
    for host in ("127.0.0.1:8000", "localhost", "[::1]:8000"):
        assert client.get("/healthz", headers={"host": host}).status_code == 200, host


def test_allow_host_adds_a_name(tmp_path):
    hosts = allowed_hosts("0.0.0.0", ["qkv.lan"])
    assert "qkv.lan" in hosts and "0.0.0.0" not in hosts
    app = create_app(GPTSource(tmp_path / "none.pt"), hosts)
    with TestClient(app, base_url="http://qkv.lan") as c:
        assert c.get("/healthz").status_code == 200
        assert c.get("/healthz", headers={"host": "other.lan"}).status_code == 400


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"content-type": "text/plain"},
        {"content-type": "application/x-www-form-urlencoded"},
        {"content-type": "multipart/form-data; boundary=x"},
    ],
)
def test_a_post_that_is_not_json_is_415(client, headers):
    """text/plain POSTs (which any page may send without asking) were computed."""
    for path in ("/api/trace", "/api/layout", "/api/check", "/api/gpt/start"):
        r = client.post(path, content=BODY, headers=headers)
        assert r.status_code == 415, (path, r.text)


def test_a_post_from_another_origin_is_403(client):
    for headers in (
        {"origin": "http://evil.example"},
        {"origin": "null"},
        {"origin": "http://127.0.0.1:1"},  # another server on this machine
        {"sec-fetch-site": "cross-site"},
    ):
        r = client.post("/api/trace", content=BODY, headers={**JSON, **headers})
        assert r.status_code == 403, headers
    same = {"origin": "http://127.0.0.1", "sec-fetch-site": "same-origin"}
    assert client.post("/api/trace", content=BODY, headers={**JSON, **same}).status_code == 200


def test_no_get_starts_a_training(tmp_path):
    """GET /api/gpt/status (or /api/next) started a 400-step training run."""
    target = tmp_path / "cache" / "gpt" / "checkpoint.pt"
    app = create_app(GPTSource(target, train_steps=2, trains=True))
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as c:
        for _ in range(3):
            assert c.get("/api/gpt/status").json()["state"] in ("idle", "loading", "untrained")
            assert c.get("/api/next", params={"prompt": "我"}).status_code == 503
            time.sleep(0.2)
        assert c.get("/api/gpt/status").json()["state"] == "untrained"
        assert not target.parent.exists()


# ------------------------------------------------------------------ capacity


def test_a_full_gate_answers_503_at_once():
    async def main() -> list[str]:
        gate = Gate("computations", limit=2, queue=3)
        release = asyncio.Event()
        outcomes: list[str] = []

        async def one() -> None:
            try:
                async with gate.place():
                    await release.wait()
                outcomes.append("done")
            except Busy:
                outcomes.append("busy")

        tasks = [asyncio.create_task(one()) for _ in range(8)]
        await asyncio.sleep(0.05)
        assert (gate.running, gate.waiting) == (2, 3)
        release.set()
        await asyncio.gather(*tasks)
        return outcomes

    outcomes = asyncio.run(main())
    assert outcomes.count("busy") == 3 and outcomes.count("done") == 5


@pytest.mark.parametrize(
    "gate, path, body",
    [("compute", "/api/trace?digits=7", BODY), ("checks", "/api/check", '{"text": "x"}')],
)
def test_503_from_a_full_gate_says_when_to_retry(app, client, gate, path, body):
    """A POST past a full gate is refused before its body is read (Shed)."""
    saved = getattr(app.state, gate)
    setattr(app.state, gate, Gate(gate, limit=0, queue=0))
    try:
        r = client.post(path, content=body, headers=JSON)
    finally:
        setattr(app.state, gate, saved)
    assert r.status_code == 503 and r.headers["retry-after"] == "2"
    assert "busy" in r.json()["error"] and r.headers["connection"] == "close"


def test_a_check_past_its_time_is_stopped_and_its_process_replaced():
    workers = Workers(size=1, seconds=1.0)
    try:
        start = time.monotonic()
        with pytest.raises(TooLong):
            asyncio.run(workers.run(time.sleep, 30))
        assert time.monotonic() - start < 10
        assert asyncio.run(workers.run(sum, [1, 2, 3])) == 6  # a new process took its place
    finally:
        workers.close()


def test_a_check_past_its_memory_ends_in_its_own_process():
    workers = Workers(size=1, memory=400 << 20)
    try:
        with pytest.raises(MemoryError):
            asyncio.run(workers.run(bytearray, 1 << 30))
        assert asyncio.run(workers.run(len, "abc")) == 3
    finally:
        workers.close()


def test_large_bodies_share_a_budget(tmp_path, monkeypatch):
    """1,000 connections holding almost 1 MB each made the server hold 1 GB."""
    monkeypatch.setattr(limits, "BODY_BUDGET", 300_000)
    app = create_app(GPTSource(tmp_path / "none.pt"))
    big = json.dumps({"text": "x" * 200_000})
    with TestClient(app, base_url="http://127.0.0.1") as c:
        for _ in range(2):  # the budget is free again after each request
            assert c.post("/api/check", content=big, headers=JSON).status_code == 200
        too_big = json.dumps({"text": "x" * 400_000})
        r = c.post("/api/check", content=too_big, headers=JSON)
        assert r.status_code == 503 and r.headers["retry-after"] == "2"
        assert r.headers["connection"] == "close"
        assert c.post("/api/trace", content=BODY, headers=JSON).status_code == 200  # small


# ------------------------------------------------------------------ connections


@pytest.fixture
def served(app, monkeypatch):
    monkeypatch.setattr(HeaderDeadline, "seconds", 0.5)
    monkeypatch.setattr(limits, "BODY_SECONDS", 0.5)
    monkeypatch.setattr(limits, "CHECK_QUEUE", 2)  # fewer checks wait: a shorter test
    with running(create_app(GPTSource(app.state.gpt.source.checkpoint))) as url:
        yield url


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _closed_within(sock: socket.socket, seconds: float) -> bytes:
    """What the server sent before it closed the connection (fails if it stays open)."""
    sock.settimeout(seconds)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        pytest.fail(f"the connection was still open after {seconds} s")
    return data


def test_a_connection_that_sends_nothing_is_closed(served):
    with socket.create_connection(("127.0.0.1", _port(served))) as s:
        assert _closed_within(s, 5) == b""


def test_a_request_whose_headers_trickle_is_closed(served):
    with socket.create_connection(("127.0.0.1", _port(served))) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert _closed_within(s, 5) == b""


def test_a_body_that_does_not_arrive_in_time_is_408(served):
    with socket.create_connection(("127.0.0.1", _port(served))) as s:
        head = "POST /api/trace HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        s.sendall(f"{head}Content-Length: 1000\r\n\r\n{{".encode())
        answer = _closed_within(s, 5)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]


def test_healthz_answers_while_every_computation_is_busy(monkeypatch, served):
    """/healthz waited in the same worker pool as the computations."""
    hostile = "\n".join("x = [" + ", ".join("1" for _ in range(200)) + "]" for _ in range(1200))
    codes: list[int] = []

    def check() -> None:
        r = httpx.post(f"{served}/api/check", json={"text": hostile}, timeout=60)
        codes.append(r.status_code)

    threads = [threading.Thread(target=check) for _ in range(limits.CHECK_WORKERS + 5)]
    for t in threads:
        t.start()
    worst = 0.0
    with httpx.Client(base_url=served, timeout=10) as c:
        while any(t.is_alive() for t in threads):
            start = time.perf_counter()
            assert c.get("/healthz").status_code == 200
            worst = max(worst, time.perf_counter() - start)
            time.sleep(0.05)
    for t in threads:
        t.join()
    assert 503 in codes and set(codes) <= {200, 422, 503}, codes
    assert worst < 1.0, f"/healthz took {worst:.2f} s"


# ------------------------------------------------------------------ sockets


def test_serve_listens_on_loopback_only():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "qkv", "serve", "--port", "0", "--checkpoint", "none"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        if "no checkpoint" in line:  # --checkpoint must exist: start without one
            proc.wait()
            proc = subprocess.Popen(
                [sys.executable, "-m", "qkv", "serve", "--port", "0"],
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            assert proc.stderr is not None
            line = proc.stderr.readline()
        url = re.search(r"(http://[\d.]+:\d+)/", line)
        assert url, line
        # a check starts the server's checking processes: they must not listen either
        r = httpx.post(f"{url.group(1)}/api/check", json={"text": "q = [1, 2]"}, timeout=60)
        assert r.status_code == 200
        held = sockets.listening(sockets.tree(proc.pid))
        assert len(sockets.tree(proc.pid)) >= 2  # the server and its checking process
        assert held and not sockets.beyond_loopback(held), held
    finally:
        proc.terminate()
        proc.wait(10)
