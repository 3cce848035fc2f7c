"""Checking and normalising what callers pass to the funnel functions (steps, window, columns, period)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import ibis
import ibis.expr.types as ir
import pandas as pd

from kit import contract
from kit import format as fmt
from kit.contract import EVENTS


@dataclass(frozen=True)
class Step:
    """One funnel step: a label and the rule that says which events are this step."""

    label: str
    event: str | None = None                      # a contract event name, or None for a custom rule
    rule: Callable[[ir.Table], ir.BooleanValue] | None = None

    def matches(self, table: ir.Table) -> ir.BooleanValue:
        if self.event is not None:
            return table["event"] == self.event
        return self.rule(table)


def parse_steps(steps: Any) -> list[Step]:
    """Steps are event names or ``(label, rule)`` pairs; the rule is an Ibis deferred or a callable."""
    if isinstance(steps, (str, bytes)) or steps is None:
        raise ValueError(f"steps must be a list of event names (or (label, rule) pairs), got {steps!r}")
    steps = list(steps)
    if not steps:
        raise ValueError("steps is empty: a funnel needs at least one step, e.g. ['home_view', 'pdp_view', 'pay']")
    parsed: list[Step] = []
    for position, step in enumerate(steps, start=1):
        if isinstance(step, str):
            if step not in EVENTS:
                raise ValueError(f"unknown step name {step!r} (step {position} of {len(steps)}): the event names are "
                                 f"{', '.join(EVENTS)}; for another rule pass a (label, rule) pair")
            parsed.append(Step(step, event=step))
        elif isinstance(step, tuple) and len(step) == 2 and isinstance(step[0], str):
            label, rule = step
            if isinstance(rule, ibis.common.deferred.Deferred):
                deferred = rule
                rule = lambda t, d=deferred: d.resolve(t)  # noqa: E731 - bind the deferred to the table
            elif not callable(rule):
                raise ValueError(f"step {position} ({label!r}): the rule must be an Ibis expression such as "
                                 f"ibis._.event == 'pdp_view' or a function of the table, got {type(rule).__name__}")
            parsed.append(Step(label, rule=rule))
        else:
            raise ValueError(f"step {position} must be an event name or a (label, rule) pair, got {step!r}")
    labels = [s.label for s in parsed]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"steps repeat {', '.join(map(repr, repeated))}: each step must be a different kind of event "
                         f"(one event fills at most one step), so a step cannot appear twice")
    return parsed


def parse_window(window: Any) -> pd.Timedelta:
    """``"1D"``, ``"30min"``, ``"2h"``, a ``timedelta`` or ``pd.Timedelta``; must be positive."""
    try:
        value = pd.Timedelta(window)
    except (ValueError, TypeError) as error:
        raise ValueError(f"window {window!r} is not a duration; write it like '1D', '30min', '2h' or pass a timedelta") from error
    if pd.isna(value) or value <= pd.Timedelta(0):
        raise ValueError(f"window must be a positive duration (the conversion window after the first step), got {window!r}")
    return value


def as_list(columns: Any, what: str) -> list[str]:
    if columns is None:
        return []
    if isinstance(columns, str):
        return [columns]
    columns = list(columns)
    if not all(isinstance(c, str) for c in columns):
        raise ValueError(f"{what} must be a column name or a list of column names, got {columns!r}")
    return columns


def require_columns(table: ir.Table, needed: dict[str, str], what: str = "events") -> None:
    """Raise naming the table, the missing column, why it is needed and the columns present."""
    contract.require_columns(table, needed, f"{what} table")
    if "ts" in needed and not table["ts"].type().is_timestamp():
        raise ValueError(f"{what} table: column 'ts' must be a timestamp (naive local time), the data has {table['ts'].type()}")


def interval_literal(window: pd.Timedelta) -> ir.IntervalScalar:
    """The window as an engine interval, exact to the microsecond."""
    return ibis.interval(int(window / pd.Timedelta(microseconds=1)), unit="us")


def describe_window(window: pd.Timedelta) -> str:
    seconds = int(window.total_seconds())
    if window == pd.Timedelta(seconds=seconds):
        for size, word in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
            if seconds % size == 0:
                n = seconds // size
                return f"{n} {fmt.plural(n, word)}"
    return str(window)
