"""qkv serve: the interactive page and its JSON API on a local server (the web extra)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from qkv.errors import InputError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="an interactive attention explainer in the browser (the web extra)",
        description="Serve the page (hand calculation with live editing, why 1/√d_k, a tiny "
        "GPT's next token, a real model's heads, the article checker) and its JSON API "
        "(documented at /docs). Offline: every script is served by qkv.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free)")
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests whose Host header is NAME (repeatable; by default only "
        "127.0.0.1, localhost, ::1 and the --host address: other names are refused, which "
        "stops DNS rebinding)",
    )
    p.add_argument("--open", action="store_true", help="open the page in a browser")
    p.add_argument(
        "--checkpoint",
        metavar="DIR_OR_FILE",
        help="the tiny GPT (from qkv gpt train); default ./qkv-gpt if it has one, else one "
        "trained in the background on first use and kept in the user's cache folder",
    )
    p.set_defaults(run=run)


def _socket(host: str, port: int) -> Any:
    import socket

    from qkv.serve import limits

    if not 0 <= port <= 65535:
        raise InputError(f"--port must be between 0 and 65535, not {port}")
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror:
        raise InputError(f"--host {host!r} is not an address of this machine") from None
    sock = socket.socket(info[0], socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(info[4])
        # listening from here: a client that reads the URL printed next is queued, not refused
        sock.listen(limits.MAX_CONNECTIONS)
    except OSError as e:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port} ({e.strerror})") from None
    return sock


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from qkv.serve.app import create_app
    except ImportError:
        raise InputError("qkv serve needs the web extra: pip install 'qkv[web]'") from None
    from qkv.serve.connections import config
    from qkv.serve.models import cache_dir, find_gpt
    from qkv.serve.origin import allowed_hosts

    bad = next((h for h in args.allow_host if not h or "/" in h or " " in h), None)
    if bad is not None:
        raise InputError(f"--allow-host {bad!r} is not a host name")
    hosts = allowed_hosts(args.host, args.allow_host)
    app = create_app(find_gpt(args.checkpoint, cache_dir()), hosts)
    server = uvicorn.Server(config(app))
    from qkv.serve import heap

    heap.settle()  # everything made so far lives as long as the server
    sock = _socket(args.host, args.port)
    host, port = sock.getsockname()[:2]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    print(f"qkv serve: {url} (API: {url}docs; Ctrl-C stops)", file=sys.stderr)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"qkv serve: warning: {args.host} may be reachable from other machines; requests "
            f"must name one of these hosts: {', '.join(hosts)} (--allow-host adds one)",
            file=sys.stderr,
        )
    if args.open:
        import threading
        import webbrowser

        threading.Timer(0.5, webbrowser.open, (url,)).start()
    _more_files()
    server.run(sockets=[sock])
    return 0


def _more_files() -> None:
    """Raise the soft limit of open files to the hard one (at most the connections the
    server keeps, and some): each connection is a file."""
    import resource

    from qkv.serve import limits

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = limits.MAX_CONNECTIONS + 256
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, new), hard))
