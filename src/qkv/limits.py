"""Every size limit of qkv, in one place (README, "Limits"; docs/SECURITY.md).

Inputs from strangers (matrices, articles, .npz maps, checkpoints, training texts) are
checked against these before any work is done, so that a small file cannot make qkv compute
for minutes or allocate gigabytes. Each limit is far above what its use needs: a hand
calculation has a handful of tokens, the largest preset GPT has 3 M parameters.

This module imports nothing: the NumPy core may read it (as it reads qkv.errors).
"""

from __future__ import annotations

MB = 1_000_000

# Bytes read from one file or pipe, counted while reading (never from what stat says).
ARTICLE_BYTES = 5 * MB  # qkv check FILE
MATRIX_FILE_BYTES = 5 * MB  # qkv explain --input, --x @FILE, --mask FILE
TEXT_BYTES = 50 * MB  # qkv gpt train --text
LOG_BYTES = 16 * MB  # a training run's log.csv (qkv viz --loss)
PROMPT_FILE_BYTES = 256 * 1024  # qkv gpt sample --start FILE (then MAX_PROMPT_CHARS)
MAPS_FILE_BYTES = 256 * MB  # an attention-maps .npz
CHECKPOINT_BYTES = 512 * MB  # a GPT checkpoint
# A pipe, FIFO or device that sends nothing for this long is an error, not a wait forever
# (a terminal on standard input is exempt: a person may be typing).
PIPE_IDLE_SECONDS = 4.0

# Numbers as written (qkv.core.parse): exact arithmetic on 1e100000000 would take minutes.
MAX_DIGITS = 40  # significant digits of one number (float64 holds 17)
MAX_EXPONENT = 300  # |E| of the number's decimal exponent, as in 1.5e12 (float64: 308)

# qkv explain and qkv.trace(): a hand calculation, and its JSON.
MAX_TOKENS = 256  # rows of X, Q, K or V (queries and keys): 65,536 scores a step
MAX_DIM = 1024  # columns of any matrix (d, d_k, d_v)
MAX_CELLS = 32_768  # numbers in one matrix (256 tokens x 128)
MAX_LABEL = 200  # characters of one token label (here and in attention maps)
# Exact (Fraction) products only while each factor fits this many bits and a product takes at
# most EXACT_WORK multiply-adds (a learner is not computing beyond that by hand); else floats.
EXACT_BITS = 128
EXACT_WORK = 200_000
MAX_TABLE = 64  # rows or columns of a table (text, Markdown, LaTeX, HTML); JSON has no limit

# qkv check: an article's lines and a notebook's cells, counted before anything is built
MAX_ARTICLE_LINES = 200_000  # a long article has a few thousand
MAX_NOTEBOOK_CELLS = 10_000  # a long notebook has a few hundred

# Attention maps (.npz, models): declared shape x dtype is checked before anything is loaded.
MAX_MAP_CELLS = 40_000_000  # layers x heads x queries x keys (512 tokens x 12 x 12 = 37.7 M)
MAX_MAP_TOKENS = 100_000  # queries or keys
MAX_MAP_LAYERS = 256  # layers, and heads a layer
MAX_MAP_HEADS = 4_096  # layers x heads (one summary row, one thumbnail each)
MAP_TOKEN_BYTES = 64 * MB  # the tokens array of a .npz, declared length x itemsize
MAP_META_BYTES = 4 * MB  # its meta text
# Entries of a zip archive and bytes of its central directory, read from its end record before
# zipfile builds an object per entry (qkv.archive): an .npz of maps has three arrays; a
# checkpoint one entry per tensor (a 64-layer model with its optimizer: a few thousand)
MAP_ZIP_ENTRIES = 64
MAP_ZIP_DIRECTORY = 64 * 1024
CHECKPOINT_ZIP_ENTRIES = 20_000
CHECKPOINT_ZIP_DIRECTORY = 4 * MB

# The tiny GPT: what a checkpoint may declare, what a training text may hold.
MAX_VOCAB = 20_000  # distinct characters (a Chinese text needs ~10,000; Unicode has 150,000)
MAX_GPT_PARAMS = 40_000_000  # parameters a checkpoint's configuration implies (160 MB, with
# AdamW's two moments 480 MB: within CHECKPOINT_BYTES; preset shakespeare-char has 10.7 M)
MAX_LAYERS = 64
MAX_HEADS = 64
MAX_EMBED = 4_096  # n_embd
MAX_BATCH_TOKENS = 1_000_000  # batch_size x block_size of one training step (--resume)
MAX_CONTEXT = 1_024  # block_size (presets: 32 to 128)
MAX_PROMPT_CHARS = 10_000
MAX_NEW_TOKENS = 10_000
MAX_SAMPLES = 100  # qkv gpt sample --num-samples
MAX_CANDIDATES = 100  # qkv gpt probe --candidates: one forward pass each
MAX_SEED = 2**63 - 1
