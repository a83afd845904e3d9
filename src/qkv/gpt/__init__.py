"""qkv.gpt: a tiny GPT you train on a laptop CPU (needs torch)."""

from qkv.gpt.config import PRESETS, GPTConfig, TrainConfig
from qkv.gpt.data import CharTokenizer, builtin_corpus
from qkv.gpt.model import GPT

__all__ = ["GPT", "PRESETS", "CharTokenizer", "GPTConfig", "TrainConfig", "builtin_corpus"]
