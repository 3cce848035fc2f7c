"""E-commerce operations analysis kit.

Flat entry points::

    import kit
    src = kit.connect()                      # embedded DuckDB over data/sample
    orders = src.table("orders", quarter="2025Q4")
    q = kit.Quarter("2025Q4"); q.previous(); q.year_ago()
    p = kit.params.load("2025Q4")

Every name and module is imported on first use, so that ``import kit`` stays fast.
"""
from __future__ import annotations

import importlib

from kit.analyses import ANALYSES

_ANALYSIS_MODULES = [analysis.module.removeprefix("kit.") for analysis in ANALYSES]
__all__ = ["ContractError", "Quarter", "Source", "connect", "params", *_ANALYSIS_MODULES]

# Imported on first use, so that `import kit` costs nothing until something is used (the `kit`
# command starts its report workers before it imports anything heavy).
_LAZY_MODULES = {"params", "report", "synth", *_ANALYSIS_MODULES}
_LAZY_NAMES = {"ContractError": "kit.contract", "Quarter": "kit.quarter", "Source": "kit.source", "connect": "kit.source"}


def __getattr__(name: str):
    if name in _LAZY_MODULES:
        value = importlib.import_module(f"kit.{name}")
    elif name in _LAZY_NAMES:
        value = getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    else:
        raise AttributeError(f"module 'kit' has no attribute {name!r}")
    globals()[name] = value
    return value
