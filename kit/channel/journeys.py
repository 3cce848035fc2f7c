"""Customer journeys for attribution, built in the engine from ``touchpoints`` and ``orders``.

A touch belongs to the user's *next* order if that order is paid within ``lookback`` of the touch
(a touch at the same instant as an order counts before it). The touches leading to one order form
a converting journey; the touches between two orders that led to no order within the lookback form
a journey that did not convert (a "null"). Converting journeys are those whose order was paid in
the quarter; null journeys those whose touches fall in the quarter. Orders with no touch in their
lookback window are counted (``attrs["orders_without_touch"]``) but carry no path to attribute.

Only the grouped journeys reach pandas: one row per distinct (path, lags).
"""
from __future__ import annotations

import datetime as _dt
import re
from typing import Any

import ibis
import pandas as pd

from kit.channel._common import fetch, resolve_params, resolve_source
from kit.quarter import Quarter

_LOOKBACK = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([DdHh])\s*$")


def parse_lookback(lookback: "str | _dt.timedelta | pd.Timedelta") -> pd.Timedelta:
    """'30D' / '12H' (or a timedelta) → a positive Timedelta."""
    if isinstance(lookback, (pd.Timedelta, _dt.timedelta)):
        value = pd.Timedelta(lookback)
    else:
        match = _LOOKBACK.match(str(lookback))
        if not match:
            raise ValueError(f"lookback {lookback!r} is not a window like '30D' (days) or '12H' (hours)")
        value = pd.Timedelta(float(match.group(1)), unit=match.group(2).upper().replace("H", "h"))
    if value <= pd.Timedelta(0):
        raise ValueError(f"lookback must be positive, got {lookback!r}")
    return value


def gmv_orders(orders, gmv_basis: str):
    """The orders that count as GMV under the params' ``gmv_basis``."""
    return orders.filter(orders.status == "paid") if gmv_basis == "net_of_refunds" else orders


def _touches(journey_rows, seconds) -> ibis.Expr:
    """A journey's touches as one list of (ts, tie, channel, lag in whole days) records."""
    lag = (seconds / 86400).floor().cast("int64")
    return ibis.struct({"ts": journey_rows.ts, "tie": journey_rows.tie, "channel": journey_rows.channel,
                        "lag": lag}).collect()


def _path_and_lags(journeys):
    """``path`` and ``lags`` in time order (ties by ``tie``). Sorting each small list of records
    costs far less in DuckDB than an aggregate with ORDER BY over every group."""
    ordered = journeys.__touches.sort()
    return journeys.mutate(path=ordered.map(lambda t: t["channel"]), lags=ordered.map(lambda t: t["lag"]))


def paths(source: Any, quarter: "str | Quarter", lookback: "str | pd.Timedelta | None" = None, *,
          params=None) -> pd.DataFrame:
    """Journeys of ``quarter`` grouped by path: ``path``, ``lags`` (whole days from each touch to the
    conversion, or to the journey's last touch for a null), ``conversions``, ``value``, ``nulls``.

    ``source`` is a :class:`kit.Source` or anything :func:`kit.connect` accepts (``None``: the params'
    source, else the sample); ``params`` default to ``kit.params.load(quarter)``."""
    q = Quarter(quarter)
    p = resolve_params(q.label, params)
    src = resolve_source(source, p)
    window = parse_lookback(lookback if lookback is not None else p.channel.lookback)
    since = q.start - _dt.timedelta(days=window.days + 1)
    quarter_start = _dt.datetime.combine(q.start, _dt.time())
    quarter_end = _dt.datetime.combine(q.end + _dt.timedelta(days=1), _dt.time())

    touches = src.between("touchpoints", since, q.end)
    # Orders up to one lookback past the quarter, so late touches that convert next quarter are not nulls.
    orders = gmv_orders(src.between("orders", since, q.end + _dt.timedelta(days=window.days + 1)), p.gmv_basis)
    # One stream per user: touches (kind 0) and orders (kind 1) in time order; ties put touches first.
    stream = touches.select(user_id="user_id", ts="ts", kind=ibis.literal(0), tie=touches.channel,
                            channel=touches.channel, order_id=ibis.null("string"), gmv=ibis.null("float64")).union(
        orders.select(user_id="user_id", ts="paid_at", kind=ibis.literal(1), tie=orders.order_id,
                      channel=ibis.null("string"), order_id=orders.order_id, gmv=orders.gmv))
    ordered = ibis.window(group_by="user_id", order_by=["ts", "kind", "tie"], preceding=None, following=0)
    stream = stream.mutate(orders_so_far=stream.kind.sum().over(ordered))
    touch_rows = stream.filter(stream.kind == 0).select("user_id", "ts", "tie", "channel", "orders_so_far")
    order_rows = stream.filter(stream.kind == 1).select(
        order_user="user_id", order_number="orders_so_far", order_id="order_id", paid_at="ts", gmv="gmv")
    joined = touch_rows.left_join(order_rows, [touch_rows.user_id == order_rows.order_user,
                                               (touch_rows.orders_so_far + 1) == order_rows.order_number])
    seconds = window.total_seconds()
    gap = (joined.paid_at.epoch_seconds() - joined.ts.epoch_seconds())
    joined = joined.mutate(gap_seconds=gap,
                           converted=joined.paid_at.notnull() & (gap <= seconds))
    converting = joined.filter(joined.converted & (joined.paid_at >= quarter_start) & (joined.paid_at < quarter_end))
    # A touch whose order lands after the quarter converts next quarter: neither a conversion nor a null here.
    lost = joined.filter(~joined.converted & (joined.ts >= quarter_start))

    converted_journeys = converting.group_by("order_id").aggregate(
        __touches=_touches(converting, converting.gap_seconds), value=converting.gmv.max(),
    ).mutate(conversions=ibis.literal(1), nulls=ibis.literal(0))
    last_touch = lost.ts.max().over(group_by=["user_id", "orders_so_far"])
    lost = lost.mutate(since_last=(last_touch.epoch_seconds() - lost.ts.epoch_seconds()))
    null_journeys = lost.group_by(["user_id", "orders_so_far"]).aggregate(
        __touches=_touches(lost, lost.since_last), value=ibis.literal(0.0),
    ).mutate(conversions=ibis.literal(0), nulls=ibis.literal(1))
    converted_journeys, null_journeys = (_path_and_lags(j) for j in (converted_journeys, null_journeys))
    columns = ["path", "lags", "value", "conversions", "nulls"]
    journeys = converted_journeys.select(*columns).union(null_journeys.select(*columns))
    grouped = journeys.group_by(["path", "lags"]).aggregate(
        conversions=journeys.conversions.sum(), value=journeys.value.sum(), nulls=journeys.nulls.sum())
    frame = fetch(grouped)

    quarter_orders = orders.filter((orders.paid_at >= quarter_start) & (orders.paid_at < quarter_end))
    totals = fetch(quarter_orders.aggregate(orders=quarter_orders.count(), gmv=quarter_orders.gmv.sum()))
    frame["path"] = frame["path"].map(tuple)
    frame["lags"] = frame["lags"].map(tuple)
    frame = frame.sort_values(["conversions", "nulls", "path", "lags"], ascending=[False, False, True, True],
                              kind="stable").reset_index(drop=True)
    frame = frame[["path", "lags", "conversions", "value", "nulls"]]
    frame["conversions"] = frame["conversions"].astype("int64")
    frame["nulls"] = frame["nulls"].astype("int64")
    orders_total = int(totals["orders"].iloc[0])
    gmv_total = float(totals["gmv"].iloc[0] or 0.0)
    frame.attrs.update({
        "quarter": q.label, "lookback": str(lookback if lookback is not None else p.channel.lookback),
        "orders": orders_total, "gmv": gmv_total,
        "orders_without_touch": orders_total - int(frame["conversions"].sum()),
        "gmv_without_touch": gmv_total - float(frame["value"].sum()),
    })
    return frame
