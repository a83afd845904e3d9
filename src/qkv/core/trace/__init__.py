"""The hand calculation: ``trace()`` computes it (pipeline.py), ``Trace`` holds it (record.py)."""

from qkv.core.trace.pipeline import trace
from qkv.core.trace.record import SCHEMA, ScaleContrast, Step, Trace, dumps

__all__ = ["SCHEMA", "ScaleContrast", "Step", "Trace", "dumps", "trace"]
