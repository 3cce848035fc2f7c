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

from kit.channel._common import resolve_params, resolve_source
from kit.engines import has_fast_asof, has_record_arrays, next_at_or_after
from kit.inputs import fetch
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


def _touch(rows, **extra) -> ibis.Expr:
    """One touch as a record. Records sort by ``ts``, then ``channel`` (the tie-break of touches at the
    same instant); sorting each journey's small list costs far less in DuckDB than an aggregate with
    ORDER BY over every group."""
    return ibis.struct({"ts": rows.ts, "channel": rows.channel, **extra})


def _lag_days(seconds) -> ibis.Expr:
    """Whole days in a gap given in seconds."""
    return (seconds / 86400).floor().cast("int64")


def _seconds_between(later, earlier) -> ibis.Expr:
    """Exact seconds from ``earlier`` to ``later`` (Spark's epoch seconds drop the fraction, which
    moves a gap of 29 days 23:59:59.6 across a day or the lookback's edge)."""
    return later.delta(earlier, unit="microsecond") / 1e6


def _path_and_lags(journeys, lag) -> ibis.Table:
    """``path`` and ``lags`` from each journey's ``touches`` put in time order; ``lag(journeys, touch)``
    is a touch's lag in days."""
    journeys = journeys.mutate(touches=journeys.touches.sort())
    return journeys.mutate(path=journeys.touches.map(lambda t: t["channel"]),
                           lags=journeys.touches.map(lambda t: lag(journeys, t)))


def _ordered_path_and_lags(touches, keys, lag, **aggregates) -> ibis.Table:
    """``path`` and ``lags`` per journey (``keys``) as arrays aggregated in (ts, channel) order."""
    order = [touches.ts, touches.channel]
    return touches.group_by(keys).aggregate(path=touches.channel.collect(order_by=order),
                                            lags=lag.collect(order_by=order), **aggregates)


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
    # A touch belongs to the user's first order paid at or after it (a touch at the same instant counts
    # before the order; of orders paid at the same instant the smallest order_id comes first, the others
    # get no touches). An as-of join finds it: far cheaper than numbering a merged stream of touches
    # and orders with a window over every touch. Most touches are of users with no order in the window:
    # they skip the join (and its sort) and carry no order.
    next_orders = orders.group_by(order_user=orders.user_id, paid_at=orders.paid_at).aggregate(
        order_id=orders.order_id.min(), gmv=orders.gmv.argmin(orders.order_id))
    buyers = next_orders.select(buyer=next_orders.order_user).distinct()
    of_buyers = touches.semi_join(buyers, touches.user_id == buyers.buyer)
    if has_fast_asof(touches):
        matched = of_buyers.asof_join(next_orders, of_buyers.ts <= next_orders.paid_at,
                                      predicates=[of_buyers.user_id == next_orders.order_user])
    else:  # the same match by one ordered pass, then the order's id and value by an equi-join
        times = next_orders.select(user_id=next_orders.order_user, paid_at=next_orders.paid_at)
        found = next_at_or_after(of_buyers, "ts", times, "paid_at", ["user_id"], name="__paid_at")
        matched = found.left_join(next_orders, [found.user_id == next_orders.order_user,
                                                found.__paid_at == next_orders.paid_at])
    columns = ["user_id", "ts", "channel", "paid_at", "order_id", "gmv"]
    unmatched = touches.anti_join(buyers, touches.user_id == buyers.buyer).mutate(
        **{name: ibis.null(next_orders[name].type()) for name in ("paid_at", "order_id", "gmv")})
    joined = matched.select(*columns).union(unmatched.select(*columns))
    seconds = window.total_seconds()
    gap = _seconds_between(joined.paid_at, joined.ts)
    joined = joined.mutate(gap_seconds=gap,
                           converted=joined.paid_at.notnull() & (gap <= seconds))
    converting = joined.filter(joined.converted & (joined.paid_at >= quarter_start) & (joined.paid_at < quarter_end))
    # A touch whose order lands after the quarter converts next quarter: neither a conversion nor a null here.
    lost = joined.filter(~joined.converted & (joined.ts >= quarter_start))

    # Touches between two orders (or after the last) that led to none: one null journey per user and
    # next order; lags count from the journey's last touch.
    if has_record_arrays(touches):
        converted_journeys = converting.group_by("order_id").aggregate(
            touches=_touch(converting, lag=_lag_days(converting.gap_seconds)).collect(), value=converting.gmv.max())
        converted_journeys = _path_and_lags(converted_journeys, lambda journeys, t: t["lag"])
        null_journeys = lost.group_by(["user_id", "paid_at"]).aggregate(
            touches=_touch(lost).collect(), last_ts=lost.ts.max(), value=ibis.literal(0.0))
        null_journeys = _path_and_lags(
            null_journeys, lambda journeys, t: _lag_days(_seconds_between(journeys.last_ts, t["ts"])))
    else:  # ordered aggregates instead of arrays of records
        converted_journeys = _ordered_path_and_lags(converting, "order_id", _lag_days(converting.gap_seconds),
                                                    value=converting.gmv.max())
        last_ts = lost.ts.max().over(group_by=["user_id", "paid_at"])
        lost = lost.mutate(__lag=_lag_days(_seconds_between(last_ts, lost.ts)))
        null_journeys = _ordered_path_and_lags(lost, ["user_id", "paid_at"], lost.__lag, value=ibis.literal(0.0))
    converted_journeys = converted_journeys.mutate(conversions=ibis.literal(1), nulls=ibis.literal(0))
    null_journeys = null_journeys.mutate(conversions=ibis.literal(0), nulls=ibis.literal(1))
    columns = ["path", "lags", "value", "conversions", "nulls"]
    journeys = converted_journeys.select(*columns).union(null_journeys.select(*columns))
    grouped = journeys.group_by(["path", "lags"]).aggregate(
        conversions=journeys.conversions.sum(), value=journeys.value.sum(), nulls=journeys.nulls.sum())
    # Sorted in the engine: lists compare element by element, a prefix first, as Python tuples do
    # (strings by UTF-8 bytes, the same order as by code points); (path, lags) is unique, so no ties.
    frame = fetch(grouped.order_by([ibis.desc("conversions"), ibis.desc("nulls"), "path", "lags"]))

    quarter_orders = orders.filter((orders.paid_at >= quarter_start) & (orders.paid_at < quarter_end))
    totals = fetch(quarter_orders.aggregate(orders=quarter_orders.count(), gmv=quarter_orders.gmv.sum()))
    frame["path"] = frame["path"].map(tuple)
    frame["lags"] = frame["lags"].map(tuple)
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
        "money_unit": p.currency.unit,  # the word attribution's notes put after amounts
    })
    return frame
