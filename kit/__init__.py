"""E-commerce operations analysis kit.

Flat entry points::

    import kit
    src = kit.connect()                      # embedded DuckDB over data/sample
    orders = src.table("orders", quarter="2025Q4")
    q = kit.Quarter("2025Q4"); q.previous(); q.year_ago()
    p = kit.params.load("2025Q4")

The analysis modules (``kit.ab``, ``kit.funnel``, ``kit.promo``, ``kit.channel``) are imported on
first use so that ``import kit`` stays fast.
"""
from __future__ import annotations

import importlib

from kit import params
from kit.contract import ContractError
from kit.quarter import Quarter
from kit.source import Source, connect

__all__ = ["ContractError", "Quarter", "Source", "connect", "params", "ab", "funnel", "promo", "channel", "overview"]

_LAZY = {"ab", "funnel", "promo", "channel", "overview", "report", "synth"}


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(f"kit.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'kit' has no attribute {name!r}")
