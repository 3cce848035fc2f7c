"""Input handling shared by the channel functions: tables in, clear errors out."""
from __future__ import annotations

from typing import Any, Iterable

import ibis
import ibis.expr.types as ir
import pandas as pd

from kit import params as params_module


def as_table(data: Any, what: str) -> ir.Table:
    """An Ibis table from an Ibis table or a pandas DataFrame (one code path serves both)."""
    if isinstance(data, ir.Table):
        return data
    if isinstance(data, pd.DataFrame):
        return ibis.memtable(data)
    raise ValueError(f"{what} must be an Ibis table or a pandas DataFrame, got {type(data).__name__}")


def as_frame(data: Any, what: str) -> pd.DataFrame:
    """A pandas DataFrame from a small (already aggregated) Ibis table or a DataFrame."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, ir.Table):
        return fetch(data)
    raise ValueError(f"{what} must be a pandas DataFrame or an Ibis table, got {type(data).__name__}")


def fetch(expr: ir.Table) -> pd.DataFrame:
    """Execute a small aggregate and return pandas (through Arrow, which keeps list columns as lists)."""
    return expr.to_pyarrow().to_pandas()


def known_channels(channels: Iterable[str] | None) -> list[str]:
    """The channel list to validate against: the given one, else the params defaults'."""
    if channels is not None:
        return list(channels)
    return list(params_module.defaults().channels)


def resolve_source(source: Any, params: "params_module.Params"):
    """A kit Source from a Source, a source spec (path/URL/backend) or None (the params' source)."""
    from kit.source import Source, connect

    return source if isinstance(source, Source) else connect(source, params=params)


def resolve_params(quarter: Any, params: "params_module.Params | None") -> "params_module.Params":
    if params is not None:
        return params
    return params_module.load(quarter) if quarter is not None else params_module.defaults()
