"""What one request may ask of the server. Past these: a 4xx with {"error": ...}."""

from __future__ import annotations

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
