"""qkv.core: the definition of attention in float64 NumPy, and the hand calculation.

It imports nothing of qkv but ``qkv.errors``: the faces (render, review, nn, viz, gpt, cli)
import the core, never the other way round. Faces that show core objects (HTML in Jupyter,
text for ``print``) register themselves in :mod:`qkv.core.display`.
"""
