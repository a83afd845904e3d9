"""Inside a real model: one head of its attention computed by hand with its own numbers, and
checked against what the model did (``explain_model``). torch and transformers are imported
only when a model is loaded."""

from qkv.inside.explain import Check, Mismatch, ModelExplanation, check_heads, explain_model

__all__ = ["Check", "Mismatch", "ModelExplanation", "check_heads", "explain_model"]
