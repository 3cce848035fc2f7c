"""The quarter's channel table: spend, GMV, ROAS against target, CAC, CPA, shares, QoQ and YoY.

GMV here is last-touch: an order counts for ``orders.channel`` (what the reviews quote). A new
customer is a user whose first order in the data falls in the quarter, credited to that order's
channel (ties broken by order id) — so the first quarter of the data counts every buyer as new.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import ibis
import numpy as np
import pandas as pd

from kit import format as fmt
from kit.channel._common import resolve_params, resolve_source
from kit.channel.journeys import gmv_orders
from kit.inputs import fetch
from kit.quarter import Quarter
from kit.results import Result

CHANGED = ["spend", "gmv", "orders", "roas", "new_customers", "cac", "cpa", "gmv_share", "session_share"]


def _quarter_metrics(src, p, q: Quarter, first_orders) -> pd.DataFrame:
    spend = src.table("ad_spend", quarter=q)
    spend_by = fetch(spend.group_by("channel").aggregate(spend=spend.spend.sum()))
    orders = gmv_orders(src.table("orders", quarter=q), p.gmv_basis)
    orders_by = fetch(orders.group_by("channel").aggregate(gmv=orders.gmv.sum(), orders=orders.count()))
    new = first_orders.filter(first_orders.paid_at.between(*_bounds(q)))
    new_by = fetch(new.group_by("channel").aggregate(new_customers=new.count()))
    sessions = src.table("sessions", quarter=q)
    sessions_by = fetch(sessions.group_by("channel").aggregate(sessions=sessions.count(),
                                                               paid_sessions=sessions.is_paid.sum()))
    frame = pd.DataFrame({"channel": list(p.channels)})
    for part in (spend_by, orders_by, new_by, sessions_by):
        frame = frame.merge(part, on="channel", how="left")
    counts = ["spend", "gmv", "orders", "new_customers", "sessions", "paid_sessions"]
    frame[counts] = frame[counts].astype(float).fillna(0.0)
    return frame


def _bounds(q: Quarter):
    import datetime as _dt

    return (_dt.datetime.combine(q.start, _dt.time()),
            _dt.datetime.combine(q.end, _dt.time(23, 59, 59, 999999)))


def _ratios(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["roas"] = np.where(frame["spend"] > 0, frame["gmv"] / frame["spend"], np.nan)
        frame["cac"] = np.where((frame["spend"] > 0) & (frame["new_customers"] > 0), frame["spend"] / frame["new_customers"], np.nan)
        frame["cpa"] = np.where((frame["spend"] > 0) & (frame["orders"] > 0), frame["spend"] / frame["orders"], np.nan)
    return frame


def _with_totals(frame: pd.DataFrame, paid: dict[str, bool]) -> pd.DataFrame:
    frame = frame.copy()
    frame["paid"] = frame["channel"].map(paid).astype(bool)
    sums = ["spend", "gmv", "orders", "new_customers", "sessions", "paid_sessions"]
    rows = []
    for label, part in (("paid channels", frame[frame.paid]), ("natural channels", frame[~frame.paid]), ("total", frame)):
        row = {c: part[c].sum() for c in sums}
        row.update(channel=label, paid=label == "paid channels" if label != "total" else None)
        rows.append(row)
    frame = pd.concat([frame, pd.DataFrame(rows)], ignore_index=True)
    total_gmv, total_sessions = frame.loc[frame.channel == "total", ["gmv", "sessions"]].iloc[0]
    frame["gmv_share"] = frame["gmv"] / total_gmv if total_gmv > 0 else np.nan
    frame["session_share"] = frame["sessions"] / total_sessions if total_sessions > 0 else np.nan
    return _ratios(frame)


def _change(now: pd.Series, before: pd.Series) -> pd.Series:
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.Series(np.where(before.to_numpy(dtype=float) != 0, now.to_numpy(dtype=float) / before.to_numpy(dtype=float) - 1,
                                  np.nan), index=now.index)


@dataclass(repr=False)
class ChannelSummary(Result):
    """One row per channel plus paid / natural / total rows; see :func:`summary`."""

    table: pd.DataFrame
    quarter: str
    unit: str = "yuan"  # the money's word (params' currency)

    digits = 4

    @property
    def title(self) -> str:
        return f"Channels in {self.quarter}: ROAS against target, CAC, shares, QoQ and YoY"

    def to_pandas(self) -> pd.DataFrame:
        return self.table.copy()

    @property
    def natural_share(self) -> float:
        """Non-paid sessions / all sessions (自然流量占比)."""
        total = self.table.loc[self.table.channel == "total"].iloc[0]
        return float(1 - total["paid_sessions"] / total["sessions"]) if total["sessions"] else float("nan")

    def display(self) -> pd.DataFrame:
        """The table as analysts read it: ROAS as '3.5:1', money rounded, changes in %."""
        t = self.table
        shown = pd.DataFrame({
            "channel": t["channel"], "spend": t["spend"].map(lambda v: f"{v:,.0f}"), "GMV": t["gmv"].map(lambda v: f"{v:,.0f}"),
            "ROAS": t["roas"].map(fmt.roas), "target": t["target_roas"].map(fmt.roas),
            "met": t["target_met"].map(lambda v: "–" if v is None or pd.isna(v) else ("met" if v else "missed")),
            "GMV share": t["gmv_share"].map(fmt.percent), "sessions share": t["session_share"].map(fmt.percent),
            "new customers": t["new_customers"].map(lambda v: f"{v:,.0f}"),
            "CAC": t["cac"].map(lambda v: "–" if pd.isna(v) else f"{v:,.1f}"),
            "CPA": t["cpa"].map(lambda v: "–" if pd.isna(v) else f"{v:,.1f}"),
            "ROAS QoQ": t["roas_qoq"].map(lambda v: fmt.percent(v, signed=True)), "ROAS YoY": t["roas_yoy"].map(lambda v: fmt.percent(v, signed=True)),
            "GMV QoQ": t["gmv_qoq"].map(lambda v: fmt.percent(v, signed=True)), "GMV YoY": t["gmv_yoy"].map(lambda v: fmt.percent(v, signed=True)),
            "CAC YoY": t["cac_yoy"].map(lambda v: fmt.percent(v, signed=True)),
        })
        return shown

    def _repr_html_(self) -> str:  # the frame_html table of display(), with rows coloured by target met / missed
        shown = self.display()
        colours = {"met": "#e3f4e1", "missed": "#fbe3e1"}
        rows = []
        header = "".join(f"<th>{html.escape(c)}</th>" for c in shown.columns)
        for _, row in shown.iterrows():
            style = f" style='background:{colours[row['met']]}'" if row["met"] in colours else ""
            cells = "".join(f"<td>{html.escape(str(v))}</td>" for v in row)
            rows.append(f"<tr{style}>{cells}</tr>")
        notes = "".join(f"\n<p class='kit-note'>{html.escape(note)}</p>" for note in self.notes)
        return (f"<h4>{html.escape(self.title)}</h4>\n<table class='kit-table' border='0'><thead><tr>{header}</tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table>{notes}")

    @property
    def notes(self) -> list[str]:
        """The notes under the table: the natural traffic share and how GMV and ROAS are counted."""
        return [f"Natural traffic share (non-paid sessions / all sessions): {fmt.percent(self.natural_share)}. "
                f"Money in {self.unit}; GMV is last-touch (orders.channel); ROAS = GMV / spend, written as N:1."]


def summary(source: Any, quarter: "str | Quarter", *, params=None) -> ChannelSummary:
    """Per channel for ``quarter``: spend, GMV, orders, ROAS vs target, new customers, CAC, CPA,
    GMV share, session share, and the QoQ / YoY change of each; rows for paid, natural and total.

    ``source`` is a :class:`kit.Source` or anything :func:`kit.connect` accepts (``None``: the params'
    source, else the sample); ``params`` default to ``kit.params.load(quarter)``."""
    q = Quarter(quarter)
    p = resolve_params(q.label, params)
    src = resolve_source(source, p)
    orders = gmv_orders(src.table("orders"), p.gmv_basis)
    rank = ibis.row_number().over(group_by="user_id", order_by=["paid_at", "order_id"])
    first_orders = orders.mutate(rank=rank).filter(ibis._.rank == 0).select("user_id", "paid_at", "channel")
    paid = {key: c.paid for key, c in p.channels.items()}
    periods = {"now": q, "qoq": q.previous(), "yoy": q.year_ago()}
    frames = {key: _with_totals(_quarter_metrics(src, p, period, first_orders), paid) for key, period in periods.items()}
    now = frames["now"]
    table = now.copy()
    targets = p.target_roas()
    table.insert(1, "name", table["channel"].map(lambda c: p.channels[c].name if c in p.channels else c))
    table["target_roas"] = table["channel"].map(targets).astype(float)
    table["target_met"] = [None if pd.isna(t) or pd.isna(r) else bool(r >= t) for r, t in zip(table["roas"], table["target_roas"])]
    table["roas_display"] = table["roas"].map(fmt.roas)
    for key in ("qoq", "yoy"):
        before = frames[key].set_index("channel").reindex(table["channel"])
        for metric in CHANGED:
            table[f"{metric}_{key}"] = _change(table[metric], before[metric].reset_index(drop=True)).to_numpy()
    # Channels with no activity at all this quarter add only noise rows.
    active = (table[["spend", "gmv", "sessions"]].sum(axis=1) > 0) | ~table["channel"].isin(list(p.channels))
    table = table[active].reset_index(drop=True)
    columns = ["channel", "name", "paid", "spend", "gmv", "orders", "roas", "roas_display", "target_roas", "target_met",
               "new_customers", "cac", "cpa", "gmv_share", "sessions", "paid_sessions", "session_share"]
    columns += [f"{m}_{k}" for k in ("qoq", "yoy") for m in CHANGED]
    return ChannelSummary(table[columns], q.label, p.currency.unit)
