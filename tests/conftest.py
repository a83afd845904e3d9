import os

# The renderers read the terminal width; keep output stable in tests.
os.environ.setdefault("COLUMNS", "120")

# QKV_TEST_THREADS=N runs the suite with N torch threads (the results must not depend on it).
if os.environ.get("QKV_TEST_THREADS"):
    import torch

    torch.set_num_threads(int(os.environ["QKV_TEST_THREADS"]))
