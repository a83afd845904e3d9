"""qkv serve: the interactive page and its JSON API (FastAPI on uvicorn; the `web` extra).

The server computes nothing itself: qkv.core traces, qkv.review checks, qkv.gpt and qkv.hf
give attention maps and next-token probabilities; the page (static/) only draws. torch and
transformers are imported on the first request that needs them, never at startup.
"""
