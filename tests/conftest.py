import os

# The renderers read the terminal width; keep output stable in tests.
os.environ.setdefault("COLUMNS", "120")
