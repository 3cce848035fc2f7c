"""From the data contract to what :func:`kit.promo.lift` needs: the daily table, the cost, the event KPIs.

Everything is aggregated in the engine (Ibis): per local business day and category for the daily
table, per promotion for the KPIs. Only those small results reach pandas.
"""
from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kit.results import Result

# ------------------------------------------------------------------------------------------------
# Promotions

def _categories(text) -> list[str]:
    """The promotions table's ``categories``: a JSON list or text separated by , ; | (or empty = all)."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return []
    if isinstance(text, (list, tuple, np.ndarray)):
        return [str(c).strip() for c in text if str(c).strip()]
    text = str(text).strip()
    if text.startswith("["):
        try:
            return [str(c).strip() for c in json.loads(text) if str(c).strip()]
        except json.JSONDecodeError:
            pass
    return [part.strip() for part in re.split(r"[,;|]", text) if part.strip()]


def promotions(source, quarter=None) -> pd.DataFrame:
    """The promotions table (small) as pandas, with ``categories`` parsed into lists; by start date."""
    table = source.table("promotions", quarter=quarter).to_pandas()
    table = table.sort_values(["start", "promotion_id"]).reset_index(drop=True)
    table["categories"] = table["categories"].map(_categories) if "categories" in table else [[]] * len(table)
    for column in ("start", "end", "presale_start"):
        if column in table:
            table[column] = pd.to_datetime(table[column]).dt.date
    if "presale_start" not in table:
        table["presale_start"] = None
    return table


def promotion(source, promotion_id: str) -> pd.Series:
    """The promotions table's row of ``promotion_id`` (a clear error naming the known ids if absent)."""
    return _row(promotions(source), promotion_id)


def _row(table: pd.DataFrame, promotion_id: str) -> pd.Series:
    """The promotion's row of :func:`promotions`' table, or a clear error naming the ids present."""
    match = table[table["promotion_id"] == str(promotion_id)]
    if match.empty:
        shown = ", ".join(table["promotion_id"].head(12))
        raise ValueError(f"table 'promotions': no promotion_id {promotion_id!r}; ids present: {shown}"
                         f"{' …' if len(table) > 12 else ''}")
    return match.iloc[0]


def _lead_days(row: pd.Series) -> int:
    """Days before ``start`` that belong to the promotion (presale): left out of the fit."""
    presale = row.get("presale_start")
    if presale is None or pd.isna(presale):
        return 0
    return max(0, (pd.Timestamp(row["start"]) - pd.Timestamp(presale)).days)


def data_last_day(source, gmv_basis: str = "paid") -> pd.Timestamp:
    """The last local day with an order in the source."""
    orders = _order_filter(source.table("orders"), gmv_basis)
    return pd.Timestamp(orders.paid_at.max().to_pyarrow().as_py()).normalize()


def _order_filter(orders, gmv_basis: str):
    return orders.filter(orders.status == "paid") if gmv_basis == "net_of_refunds" else orders


# ------------------------------------------------------------------------------------------------
# The daily table

def daily(source, promotion_id: str, *, controls: list[str] | None = None, pre_days: int = 365,
          post_days: int = 14, gap_days: int = 0, gmv_basis: str = "paid", mask_post_days: int = 7) -> pd.DataFrame:
    """One row per local business day around ``promotion_id``: the outcome, the controls, the mask.

    Columns: ``date``; ``gmv`` (the promoted categories), ``cannibalised_gmv`` (every other category
    that is not a control: where substitution shows), ``store_gmv`` (all), ``gmv_<category>`` for
    each category; ``other_promotion`` (True on days another promotion — its presale, its days and
    ``mask_post_days`` after it — can move the outcome; :func:`kit.promo.lift` masks them in the
    pre-period). ``controls``: categories no promotion touches; ``None`` = the categories that no
    promotion in the table ever promotes. Covers ``pre_days`` before the promotion (and its presale
    and ``gap_days``) to ``post_days`` after its end, clipped to the data.
    """
    promos = promotions(source)
    row = _row(promos, promotion_id)
    promoted = list(row["categories"])
    start, end = pd.Timestamp(row["start"]), pd.Timestamp(row["end"])
    lead = max(_lead_days(row), gap_days)
    first_day = (start - pd.Timedelta(days=lead + pre_days)).date()
    last_day = (end + pd.Timedelta(days=post_days)).date()

    orders = _order_filter(source.between("orders", first_day, last_day), gmv_basis)
    items = source.table("order_items")
    joined = items.join(orders.select("order_id", "paid_at"), "order_id")
    per_day = (joined.group_by(day=joined.paid_at.date(), category=joined.category)
               .aggregate(gmv=joined.amount.sum()).to_pandas())
    # To the cent: a sum of cent amounts is then exact whatever order the engine adds in, so the
    # model sees the same input on every engine (its intervals react to the last bits otherwise).
    per_day["gmv"] = per_day["gmv"].round(2)
    if per_day.empty:
        raise ValueError(f"tables 'orders'/'order_items': no paid orders between {first_day} and {last_day} "
                         f"for promotion {promotion_id!r}")
    wide = per_day.pivot_table(index="day", columns="category", values="gmv", aggfunc="sum", fill_value=0.0)
    wide.index = pd.to_datetime(wide.index)
    # Days without orders are zero-GMV days, not missing ones (a full daily calendar for the model),
    # but only inside the span the data cover: past its last day nothing is known, not zero.
    data_end = data_last_day(source, gmv_basis)
    calendar = pd.date_range(max(pd.Timestamp(first_day), wide.index.min()), min(pd.Timestamp(last_day), data_end), freq="D")
    wide = wide.reindex(calendar, fill_value=0.0)
    categories = sorted(wide.columns)
    if not promoted:
        promoted = [c for c in categories if c not in (controls or [])]
    unknown = [c for c in promoted if c not in categories]
    if unknown and len(unknown) == len(promoted):
        raise ValueError(f"table 'promotions', column 'categories': promotion {promotion_id!r} promotes "
                         f"{', '.join(unknown)}, but order_items has no such category (categories: {', '.join(categories)})")
    if controls is None:
        ever_promoted = {c for cats in promos["categories"] for c in cats}
        controls = [c for c in categories if c not in ever_promoted]
    missing_controls = [c for c in controls if c not in categories]
    if missing_controls:
        raise ValueError(f"control categor{'ies' if len(missing_controls) > 1 else 'y'} "
                         f"{', '.join(map(repr, missing_controls))} not in order_items.category "
                         f"(categories: {', '.join(categories)})")
    overlap = [c for c in controls if c in promoted]
    if overlap:
        raise ValueError(f"categor{'ies' if len(overlap) > 1 else 'y'} {', '.join(overlap)} promoted by "
                         f"{promotion_id!r} cannot be a control")
    rest = [c for c in categories if c not in promoted and c not in controls]
    frame = pd.DataFrame({"date": calendar})
    frame["gmv"] = wide[[c for c in promoted if c in categories]].sum(axis=1).to_numpy()
    frame["cannibalised_gmv"] = wide[rest].sum(axis=1).to_numpy() if rest else 0.0
    frame["store_gmv"] = wide[categories].sum(axis=1).to_numpy()
    frame["control_gmv"] = wide[list(controls)].sum(axis=1).to_numpy() if controls else 0.0
    frame["control_gmv_7d"] = weekly_mean(frame["control_gmv"])
    for category in categories:
        frame[f"gmv_{category}"] = wide[category].to_numpy()
    mask_after = mask_post_days
    frame["other_promotion"] = False
    for _, other in promos.iterrows():
        if other["promotion_id"] == row["promotion_id"]:
            continue
        lo = pd.Timestamp(other["start"]) - pd.Timedelta(days=_lead_days(other))
        hi = pd.Timestamp(other["end"]) + pd.Timedelta(days=mask_after)
        frame.loc[frame["date"].between(lo, hi), "other_promotion"] = True
    frame.attrs.update({"promotion_id": str(row["promotion_id"]), "promoted": promoted, "controls": list(controls),
                        "cannibalised": rest, "start": start.date(), "end": end.date(), "gap_days": lead})
    return frame


def weekly_mean(series: pd.Series) -> pd.Series:
    """A control's slow movement (trend, season, media pushes) without its day-to-day noise: a centred
    7-day mean. Noisy daily controls attenuate the regression towards zero (errors in variables), so the
    counterfactual would miss a rise that the controls clearly show."""
    return series.rolling(7, center=True, min_periods=4).mean()


def control_columns(frame: pd.DataFrame, kind: str = "smoothed") -> list[str]:
    """The control columns of a :func:`daily` table.

    ``"smoothed"`` (default): the control categories' GMV summed and smoothed (``control_gmv_7d``);
    ``"total"``: summed (``control_gmv``); ``"each"``: one column per control category.
    """
    if kind == "smoothed":
        return ["control_gmv_7d"]
    if kind == "total":
        return ["control_gmv"]
    if kind == "each":
        return [f"gmv_{c}" for c in frame.attrs.get("controls", [])]
    raise ValueError(f"kind must be 'smoothed', 'total' or 'each', got {kind!r}")


# ------------------------------------------------------------------------------------------------
# Cost and KPIs

def promotion_cost(source, promotion_id: str, *, baseline_days: int = 28) -> dict:
    """The promotion's cost: discounts on its orders, plus the extra ad spend over its days.

    Extra ad spend = spend during the promotion (presale included) − the average daily spend of the
    ``baseline_days`` before it × its days, floored at 0 (a quiet period's budget is not a cost of the sale).
    """
    row = promotion(source, promotion_id)
    first = pd.Timestamp(row["start"]) - pd.Timedelta(days=_lead_days(row))
    start, end = first.date(), pd.Timestamp(row["end"]).date()
    orders = source.table("orders")
    promo_orders = orders.filter(orders.promotion_id == str(promotion_id))
    discount = float(promo_orders.discount.sum().fill_null(0).to_pyarrow().as_py())
    spend = source.table("ad_spend")
    during = float(spend.filter(spend.date.between(start, end)).spend.sum().fill_null(0).to_pyarrow().as_py())
    before_start = (first - pd.Timedelta(days=baseline_days)).date()
    before_end = (first - pd.Timedelta(days=1)).date()
    baseline = float(spend.filter(spend.date.between(before_start, before_end)).spend.sum().fill_null(0)
                     .to_pyarrow().as_py())
    days = (end - start).days + 1
    extra = max(0.0, during - baseline / baseline_days * days)
    return {"discount": discount, "ad_spend": during, "baseline_ad_spend": baseline / baseline_days * days,
            "extra_ad_spend": extra, "cost": discount + extra}


@dataclass(repr=False)  # Result.__repr__: the rounded table
class EventKPIs(Result):
    """The review's event figures (as quoted in 大促复盘), one row per KPI."""

    table: pd.DataFrame
    title: str = "Event KPIs"

    def to_pandas(self) -> pd.DataFrame:
        return self.table

    def value(self, kpi: str) -> float:
        return float(self.table.set_index("kpi").loc[kpi, "value"])

    def display(self) -> pd.DataFrame:
        shown = self.table.copy()
        shown["value"] = [f"{v:.1%}" if "share" in k else f"{v:,.0f}" if "orders" in k or "GMV" in k else f"{v:,.2f}"
                          for k, v in zip(shown["kpi"], shown["value"])]
        return shown


def event_kpis(source, promotion_id: str, *, pre_days: int = 14, gmv_basis: str = "paid") -> EventKPIs:
    """Event GMV, orders, presale share, AOV during vs before, repeat-buyer share, member share of GMV.

    Event orders are those carrying the ``promotion_id``. "AOV before" is over the orders with an item
    of a promoted category in the ``pre_days`` before the promotion (its presale, if any). A repeat
    buyer had an order paid before the promotion (its presale) began.
    """
    row = promotion(source, promotion_id)
    first = pd.Timestamp(row["start"]) - pd.Timedelta(days=_lead_days(row))
    start, end = pd.Timestamp(row["start"]).date(), pd.Timestamp(row["end"]).date()
    all_orders = _order_filter(source.table("orders"), gmv_basis)
    event = all_orders.filter(all_orders.promotion_id == str(promotion_id))
    stats = event.aggregate(gmv=event.gmv.sum(), orders=event.count(), presale=event.is_presale.sum(),
                            buyers=event.user_id.nunique()).to_pandas().iloc[0]
    if not stats["orders"]:
        raise ValueError(f"table 'orders': no orders carry promotion_id {promotion_id!r}; "
                         "event KPIs need the orders of the promotion")
    days = source.between("orders", first.date(), end)
    days = _order_filter(days, gmv_basis)
    window = days.aggregate(gmv=days.gmv.sum(), orders=days.count()).to_pandas().iloc[0]
    pre_lo = (first - pd.Timedelta(days=pre_days)).date()
    pre_hi = (first - pd.Timedelta(days=1)).date()
    pre = _order_filter(source.between("orders", pre_lo, pre_hi), gmv_basis)
    if list(row["categories"]):
        items = source.table("order_items")
        promoted_orders = items.filter(items.category.isin(list(row["categories"]))).select("order_id").distinct()
        pre = pre.semi_join(promoted_orders, "order_id")
    pre_stats = pre.aggregate(gmv=pre.gmv.sum(), orders=pre.count()).to_pandas().iloc[0]
    # Repeat buyers: event buyers with any order paid before the promotion's first day.
    earlier = all_orders.filter(all_orders.paid_at < _dt.datetime.combine(first.date(), _dt.time()))
    buyers = event.select("user_id").distinct()
    repeat = buyers.semi_join(earlier.select("user_id").distinct(), "user_id").count().to_pyarrow().as_py()
    users = source.table("users")
    member_gmv = np.nan
    if "member_tier" in users.columns:
        members = users.filter(users.member_tier.notnull()).select("user_id")
        member_gmv = float(days.semi_join(members, "user_id").gmv.sum().fill_null(0).to_pyarrow().as_py())
    rows = [
        ("event GMV (orders of the promotion)", float(stats["gmv"])),
        ("event orders", float(stats["orders"])),
        ("store GMV over the promotion's days", float(window["gmv"])),
        ("presale share of event orders", float(stats["presale"]) / float(stats["orders"])),
        ("AOV of event orders", float(stats["gmv"]) / float(stats["orders"])),
        (f"AOV before ({pre_days} days, promoted categories)", float(pre_stats["gmv"]) / float(pre_stats["orders"]) if pre_stats["orders"] else np.nan),
        ("repeat-buyer share of event buyers", float(repeat) / float(stats["buyers"])),
        ("member share of GMV over the promotion's days", member_gmv / float(window["gmv"]) if window["gmv"] else np.nan),
    ]
    return EventKPIs(table=pd.DataFrame(rows, columns=["kpi", "value"]),
                     title=f"Event KPIs: {row['name']} ({start} – {end})")
