"""The funnel's chain step for engines without a fast as-of join (Spark, PostgreSQL, warehouses):
the same earliest-next-event rule as :func:`kit.funnel._engine._next_level`, by window functions."""
from __future__ import annotations

import ibis.expr.types as ir

from kit.engines import next_at_or_after


def next_level(level: ir.Table, step_events: ir.Table, j: int, window: ir.IntervalScalar, keys: list[str],
               ts: str, step: str, time_column) -> ir.Table:
    """The chains of ``level`` that reach step ``j`` (see ``_engine._next_level``): the earliest
    step-``j`` event at or after ``time_column(j - 1)`` with the same keys, kept if it lies within
    the window of ``time_column(0)``."""
    right = step_events.filter(step_events[step] == j).select(*keys, __rts=step_events[ts])
    found = next_at_or_after(level, time_column(j - 1), right, "__rts", keys, name="__next")
    reached = found.filter(found.__next.notnull() & (found.__next <= found[time_column(0)] + window))
    return reached.select(*level.columns, **{time_column(j): reached.__next})
