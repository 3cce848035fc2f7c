"""The sample data generator with planted truths (``kit synth`` / ``python -m kit.synth``).

``generate(out, seed, scale)`` writes the contract's tables as Parquet plus ``truth.json`` (the
planted values; schema in docs/truth-schema.md). Same seed and scale → byte-identical files.
"""
from __future__ import annotations

from kit.synth.plan import DEFAULT_SEED


def generate(*args, **kwargs):
    """Generate the sample (see :func:`kit.synth.generator.generate`)."""
    from kit.synth.generator import generate as _generate

    return _generate(*args, **kwargs)


__all__ = ["DEFAULT_SEED", "generate"]
