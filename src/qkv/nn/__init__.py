"""qkv.nn: PyTorch attention with the semantics of qkv.core, fast and differentiable."""

from qkv.nn import functional
from qkv.nn.functional import attention
from qkv.nn.modules import MultiHeadAttention, ScaledDotProductAttention

__all__ = ["MultiHeadAttention", "ScaledDotProductAttention", "attention", "functional"]
