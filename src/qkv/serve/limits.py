"""What one request may ask of the server. Past these: a 4xx with {"error": ...}."""

from __future__ import annotations

import os

MAX_BODY = 1_000_000  # bytes of a request body
MAX_TOKENS = 64  # rows of X, Q, K or V in a hand calculation
MAX_DIMS = 64  # columns of X, Q, K, V or of a projection
MAX_MAP_TOKENS = 512  # tokens of a text for a real model's attention maps
MAX_MAP_CHARS = 10_000  # characters of that text, checked before it is tokenized
MAX_PROMPT = 256  # characters of a GPT prompt
MAX_TOP = 100  # next characters listed
MAX_CANDIDATES = 8  # candidate words whose probability is asked
MAX_D_K = 1024  # the √d_k panel's slider
MAX_WINDOW = 64  # keys on each side of a local-window mask
MAX_DIGITS = 15
MODELS = ("minilm",)  # real models the server loads: names, never paths
MAX_LABEL = 100  # characters of one token label

# What the server holds at once, whatever the requests ask (docs/SECURITY.md, "qkv serve").
# Hand calculations, the GPT and the real model run in threads, at most COMPUTATIONS at once
# with QUEUE more waiting; articles are checked in CHECK_WORKERS processes, each check under
# CHECK_SECONDS of wall time and CHECK_MEMORY bytes, with CHECK_QUEUE more waiting. Past a
# queue: 503 with Retry-After. /healthz and the page's files wait for none of them.
COMPUTATIONS = 2  # threads: more only add contention for the interpreter lock
QUEUE = 64
CHECK_WORKERS = max(1, (os.cpu_count() or 2) // 2)  # leave cores to the rest of the server
CHECK_QUEUE = 8
CHECK_SECONDS = 10.0  # the checker's own budget is 3.5 s; this ends what ignores it
CHECK_MEMORY = 1 << 30
CHECK_NICE = 10  # the checking processes' niceness: the server's own process goes first
RETRY_AFTER = 2  # seconds, in a 503
# Bodies: counted while they arrive. Those over SMALL_BODY draw on a budget shared by all
# requests (BODY_BUDGET bytes in flight; over it: 503); every body must arrive within
# BODY_SECONDS (else 408), and a request's headers within HEADER_SECONDS of the connection or
# of the previous answer (else the connection is closed).
SMALL_BODY = 16_384
BODY_BUDGET = 64 * MAX_BODY
BODY_SECONDS = 20.0
HEADER_SECONDS = 10.0
KEEP_ALIVE_SECONDS = 5  # an idle kept-alive connection is closed after this (uvicorn)
SEND_SECONDS = 20.0  # a client that reads no answer in this long is cut off
MAX_CONNECTIONS = 2048  # open connections; past this uvicorn answers 503
