"""The weekly table the response model fits: spend per paid channel, GMV, orders, promotion days.

Weeks run Monday–Sunday in local dates; only full weeks inside ``[start, end]`` are kept, so a
quarter's first and last partial weeks do not look like spend drops. Aggregated in the engine.
"""
from __future__ import annotations

import datetime as _dt
from typing import Any

import ibis
import numpy as np
import pandas as pd

from kit.channel._common import resolve_params, resolve_source
from kit.channel.journeys import gmv_orders
from kit.inputs import fetch
from kit.quarter import Quarter


def _as_date(value: Any, what: str) -> _dt.date:
    if isinstance(value, Quarter):
        raise ValueError(f"{what}: give a date; for a quarter use its .start / .end")
    try:
        return pd.Timestamp(value).date()
    except (ValueError, TypeError) as error:
        raise ValueError(f"{what} must be a date like '2024-01-01', got {value!r}") from error


def _promotions(src) -> pd.DataFrame:
    if "promotions" not in src.tables():
        return pd.DataFrame(columns=["kind", "start", "end", "presale_start"])
    table = src.table("promotions")
    presale = table.presale_start if "presale_start" in table.columns else ibis.null("date")
    return fetch(table.select("kind", "start", "end", presale_start=presale))


def full_weeks(start: _dt.date, end: _dt.date) -> list[_dt.date]:
    """Mondays of the Monday–Sunday weeks lying wholly inside ``[start, end]``."""
    first = start + _dt.timedelta(days=(7 - start.weekday()) % 7)
    mondays = []
    while first + _dt.timedelta(days=6) <= end:
        mondays.append(first)
        first += _dt.timedelta(days=7)
    return mondays


def weekly(source: Any, start: Any, end: Any, *, params=None,
           quarter: "str | None" = None) -> pd.DataFrame:
    """Columns ``week`` (Monday), ``gmv``, ``orders``, ``promo_days`` (days of the week inside any
    promotion), ``promo_week`` (the week touches the window of a promotion whose kind is in the
    params' ``channel.exclude_promotion_kinds``: presale start to end + ``promotion_buffer_days``),
    ``spend`` (all paid channels) and one spend column per paid channel of the params.

    ``frame.attrs["spend_columns"]`` lists the channel columns (what :func:`response_model` fits).
    A week in the range without ad spend rows or without orders is an error (a gap in the data).

    ``source`` is a :class:`kit.Source` or anything :func:`kit.connect` accepts (``None``: the params'
    source, else the sample); ``params`` default to ``kit.params.load(quarter)``.
    """
    p = resolve_params(quarter, params)
    src = resolve_source(source, p)
    start, end = _as_date(start, "start"), _as_date(end, "end")
    if start > end:
        raise ValueError(f"start {start} is after end {end}")
    mondays = full_weeks(start, end)
    if not mondays:
        raise ValueError(f"{start} – {end} holds no full Monday–Sunday week")
    first, last = mondays[0], mondays[-1] + _dt.timedelta(days=6)

    spend = src.between("ad_spend", first, last)
    spend_weekly = fetch(spend.group_by(week=spend.date.truncate("W"), channel=spend.channel)
                         .aggregate(spend=spend.spend.sum(), rows=spend.count()))
    orders = gmv_orders(src.between("orders", first, last), p.gmv_basis)
    orders_weekly = fetch(orders.group_by(week=orders.paid_at.date().truncate("W"))
                          .aggregate(gmv=orders.gmv.sum(), orders=orders.count()))

    index = pd.DatetimeIndex(pd.to_datetime(mondays), name="week")
    spend_weekly["week"] = pd.to_datetime(spend_weekly["week"])
    orders_weekly["week"] = pd.to_datetime(orders_weekly["week"])
    for name, table in (("ad_spend", spend_weekly), ("orders", orders_weekly)):
        missing = index.difference(pd.DatetimeIndex(table["week"]))
        if len(missing):
            raise ValueError(f"table '{name}': a week with no data — {len(missing)} of {len(index)} weeks between {first} and "
                             f"{last} have no rows; example: the week of {missing[0].date()}")

    paid = p.paid_channels
    unpaid = sorted(set(spend_weekly["channel"]) - set(paid))
    if unpaid:
        example = spend_weekly[spend_weekly["channel"] == unpaid[0]].iloc[0]
        raise ValueError(f"table 'ad_spend', column 'channel': spend for channel {unpaid[0]!r}, which the params do not mark as paid "
                         f"— {int(spend_weekly['channel'].isin(unpaid).sum())} channel-weeks; example: week of "
                         f"{example['week'].date()}, spend={example['spend']:,.2f}")
    wide = spend_weekly.pivot(index="week", columns="channel", values="spend").reindex(index)
    channels = [c for c in paid if c in wide.columns]
    # A channel absent in some week spent nothing that week (ad_spend lists days with spend).
    wide = wide[channels].fillna(0.0)

    days = pd.date_range(first, last, freq="D")
    covered = np.zeros(len(days), dtype=bool)
    distorted = np.zeros(len(days), dtype=bool)
    kinds = set(p.channel.exclude_promotion_kinds)
    buffer = pd.Timedelta(days=p.channel.promotion_buffer_days)
    for row in _promotions(src).itertuples(index=False):
        start, end = pd.Timestamp(row.start), pd.Timestamp(row.end)
        covered |= (days >= start) & (days <= end)
        if row.kind in kinds:
            # Presale waiting dip before, pull-forward dip after: the whole window is distorted.
            opens = pd.Timestamp(row.presale_start) if pd.notna(row.presale_start) else start
            distorted |= (days >= opens) & (days <= end + buffer)
    promo_days = covered.reshape(-1, 7).sum(axis=1)
    promo_week = distorted.reshape(-1, 7).any(axis=1)

    frame = orders_weekly.set_index("week").reindex(index)[["gmv", "orders"]]
    frame["orders"] = frame["orders"].astype("int64")
    frame["promo_days"] = promo_days
    frame["promo_week"] = promo_week
    frame["spend"] = wide.sum(axis=1)
    frame = pd.concat([frame, wide], axis=1).reset_index()
    frame.attrs["spend_columns"] = channels
    frame.attrs["money_unit"] = p.currency.unit  # response_model's displays and findings name the currency
    return frame
