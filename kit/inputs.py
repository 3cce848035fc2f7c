"""What the analysis functions accept, checked once for all of them: tables, small frames, levels, periods.

Functions take an Ibis table or a pandas DataFrame (``as_table`` wraps pandas with
``ibis.memtable`` so one code path serves both); small aggregates come back to pandas through
Arrow (``fetch``). A bad input raises ``ValueError`` naming what was expected and what came.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from kit.contract import require_columns
from kit.quarter import Quarter


def as_table(data: Any, what: str = "data") -> ir.Table:
    """An Ibis table from an Ibis table or a pandas DataFrame (one code path serves both)."""
    if isinstance(data, ir.Table):
        return data
    if isinstance(data, pd.DataFrame):
        # through Arrow: ibis' own pandas schema inference warns under pandas 3
        return ibis.memtable(pa.Table.from_pandas(data, preserve_index=False))
    raise ValueError(f"{what} must be an Ibis table or a pandas DataFrame, got {type(data).__name__}")


def fetch(expr: ir.Table) -> pd.DataFrame:
    """Execute a small aggregate and return pandas (through Arrow, which keeps list columns as lists)."""
    return expr.to_pyarrow().to_pandas()


def as_frame(data: Any, what: str = "data", columns: list[str] | None = None) -> pd.DataFrame:
    """A pandas DataFrame from a small (already aggregated) Ibis table or a DataFrame.

    With ``columns``, only those (checked present, the frame copied).
    """
    if not isinstance(data, (pd.DataFrame, ir.Table)):
        raise ValueError(f"{what} must be a pandas DataFrame or an Ibis table, got {type(data).__name__}")
    if columns is not None:
        require_columns(data, columns, what)
        return data[columns].copy() if isinstance(data, pd.DataFrame) else fetch(data.select(*columns))
    return data if isinstance(data, pd.DataFrame) else fetch(data)


def check_alpha(alpha: Any) -> float:
    """A significance level strictly between 0 and 1 (the interval level is ``1 - alpha``)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie between 0 and 1, got {alpha!r}")
    return alpha


def period_dates(period: Any) -> tuple[dt.date, dt.date]:
    """A quarter (``"2025Q4"`` or a :class:`Quarter`) or a ``(start, end)`` pair of dates, both inclusive."""
    if isinstance(period, (tuple, list)) and len(period) == 2:
        start, end = (pd.Timestamp(x).date() for x in period)
    else:
        q = Quarter(period)
        start, end = q.start, q.end
    if end < start:
        raise ValueError(f"period {period!r}: the end {end} is before the start {start}")
    return start, end


def period_bounds(period: Any) -> tuple[dt.datetime, dt.datetime] | None:
    """:func:`period_dates` as naive local ``[lower, upper)`` timestamps (None stays None)."""
    if period is None:
        return None
    start, end = period_dates(period)
    return dt.datetime.combine(start, dt.time()), dt.datetime.combine(end + dt.timedelta(days=1), dt.time())
