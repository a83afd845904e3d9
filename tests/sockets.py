"""The network sockets a process and its descendants listen on, read from /proc (Linux): what
`ss -ltnup` shows for them, without needing ss."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

TCP_LISTEN = "0A"
UDP_UNCONNECTED = "07"


def tree(pid: int) -> set[int]:
    """pid and every process below it."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = {pid}, [pid]
    while todo:
        parent = todo.pop()
        children = [p for p, pp in parents.items() if pp == parent and p not in found]
        found.update(children)
        todo.extend(children)
    return found


def _inodes(pids: set[int]) -> set[str]:
    out = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                out.add(target[8:-1])
    return out


def _address(hex_address: str) -> tuple[str, int]:
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    # the kernel prints each 32-bit word in host (little-endian) order
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words)), int(port, 16)


def listening(pids: set[int]) -> set[tuple[str, str, int]]:
    """(protocol, address, port) of every TCP socket the processes listen on and every UDP
    socket they hold bound."""
    inodes = _inodes(pids)
    out = set()
    for proto, wanted in (("tcp", TCP_LISTEN), ("tcp6", TCP_LISTEN), ("udp", None), ("udp6", None)):
        try:
            rows = Path(f"/proc/self/net/{proto}").read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            state, inode = fields[3], fields[9]
            if inode in inodes and (wanted is None or state == wanted):
                out.add((proto, *_address(fields[1])))
    return out


def beyond_loopback(sockets: set[tuple[str, str, int]]) -> set[tuple[str, str, int]]:
    """Those reachable from another machine: bound to any address but a loopback one (the
    wildcard 0.0.0.0 and :: included)."""
    return {s for s in sockets if not ipaddress.ip_address(s[1]).is_loopback}
