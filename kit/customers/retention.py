"""RFM layers, first-order cohorts, repurchase, dormancy and wake-up — computed in the engine.

Every function takes an Ibis table (or a pandas frame) of orders with ``user_id``, ``paid_at``
(naive local time, as :meth:`Source.table` returns it) and ``gmv``; only per-layer, per-cohort or
per-tier counts reach pandas. An order's day is its local date; "within N days" of a day d means
an order on a day in (d, d + N].
"""
from __future__ import annotations

import datetime as _dt

import ibis
import numpy as np
import pandas as pd

from kit.contract import require_columns
from kit.funnel.compare import difference_test
from kit.results import Result
from kit.stats import wilson_interval

LAYERS = ("高价值 high value", "潜力 potential", "新客 new", "沉睡 dormant", "流失 churned")
NEW, HIGH, POTENTIAL, DORMANT, CHURNED = LAYERS[2], LAYERS[0], LAYERS[1], LAYERS[3], LAYERS[4]
ORDER_COLUMNS = {"user_id": "the customer", "paid_at": "when the order was paid (local time)", "gmv": "the order's value"}


def _table(orders):
    t = ibis.memtable(orders) if isinstance(orders, pd.DataFrame) else orders
    require_columns(t, ORDER_COLUMNS, "orders")
    return t


def _days(t):
    # one row per customer and day with an order: the unit of "a purchase" everywhere below
    t = t.select(user_id=t.user_id.cast("string"), day=t.paid_at.date(), gmv=t.gmv.cast("float64"))
    return t.group_by(["user_id", "day"]).aggregate(gmv=t.gmv.sum(), orders=t.count())


def _date(value) -> _dt.date:
    return pd.Timestamp(value).date()


def _rates(frame: pd.DataFrame, success: str, trials: str, alpha: float, prefix: str = "") -> pd.DataFrame:
    low, high = wilson_interval(frame[success], frame[trials], alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        frame[f"{prefix}rate"] = np.where(frame[trials] > 0, frame[success] / frame[trials], np.nan)
    frame[f"{prefix}ci_low"], frame[f"{prefix}ci_high"] = low, high
    return frame


class Table(Result):
    """A result that is one table (``to_pandas()``), with a title and notes."""

    def __init__(self, frame: pd.DataFrame, title: str, notes: list[str] | None = None, **attrs):
        self.frame, self.title, self._notes = frame, title, notes or []
        self.__dict__.update(attrs)

    def to_pandas(self) -> pd.DataFrame:
        """The table, unrounded."""
        return self.frame.copy()

    @property
    def notes(self) -> list[str]:
        """Definitions shown under the table."""
        return self._notes


# --------------------------------------------------------------------------------------------
# RFM

def customer_rfm(orders, as_of, *, lookback_days: int = 365, new_days: int = 90, dormant_days: int = 90,
                 churn_days: int = 180, high_value_quantile: float = 0.8, high_value_min_orders: int = 2):
    """Per customer with an order on or before ``as_of`` (an Ibis expression, still in the engine):
    ``recency_days`` (days since the last order), ``frequency`` and ``monetary`` (order days and GMV
    in the ``lookback_days`` up to ``as_of``), ``first_day`` and ``layer``.

    Layers, first rule that applies: 新客 new (first order within ``new_days``); 流失 churned
    (recency > ``churn_days``); 沉睡 dormant (recency > ``dormant_days``); 高价值 high value (≥
    ``high_value_min_orders`` order days and GMV ≥ the ``high_value_quantile`` of the remaining
    active customers' GMV); 潜力 potential (the other active customers).
    """
    end = _date(as_of)
    d = _days(_table(orders))
    d = d.filter(d.day <= end)
    since = end - _dt.timedelta(days=lookback_days - 1)
    in_window = d.day >= since
    per = d.group_by("user_id").aggregate(
        first_day=d.day.min(), last_day=d.day.max(),
        frequency=in_window.ifelse(1, 0).sum(), monetary=in_window.ifelse(d.gmv, 0.0).sum(),
        orders=in_window.ifelse(d.orders, 0).sum())
    per = per.mutate(recency_days=(ibis.literal(end).delta(per.last_day, unit="day")),
                     tenure_days=(ibis.literal(end).delta(per.first_day, unit="day")))
    is_new = per.tenure_days < new_days
    active = ~is_new & (per.recency_days <= dormant_days)
    threshold = per.filter(active).monetary.quantile(high_value_quantile).as_scalar()
    layer = (ibis.cases((is_new, NEW), (per.recency_days > churn_days, CHURNED), (per.recency_days > dormant_days, DORMANT),
                        ((per.frequency >= high_value_min_orders) & (per.monetary >= threshold), HIGH), else_=POTENTIAL))
    return per.mutate(layer=layer)


def rfm_rules(c) -> dict:
    """The layer rules of :func:`customer_rfm` from a ``params.customers`` section."""
    return dict(lookback_days=c.lookback_days, new_days=c.new_days, dormant_days=c.dormant_days, churn_days=c.churn_days,
                high_value_quantile=c.high_value_quantile, high_value_min_orders=c.high_value_min_orders)


def rfm_layers(orders, as_of, **rules) -> Table:
    """Each layer's customers, share, GMV and GMV share (over the lookback), AOV and repurchase
    (share with ≥ 2 order days in the lookback), as of ``as_of`` (see :func:`customer_rfm`)."""
    per = customer_rfm(orders, as_of, **rules)
    g = per.group_by("layer").aggregate(customers=per.count(), gmv=per.monetary.sum(), orders=per.orders.sum(),
                                        repeat=(per.frequency >= 2).ifelse(1, 0).sum(),
                                        median_recency_days=per.recency_days.median())
    frame = g.execute().set_index("layer").reindex(list(LAYERS)).fillna(0).reset_index()
    frame["customers"] = frame["customers"].astype("int64")
    frame["customer_share"] = frame["customers"] / frame["customers"].sum()
    frame["gmv_share"] = frame["gmv"] / frame["gmv"].sum()
    frame["aov"] = frame["gmv"] / frame["orders"].where(frame["orders"] > 0)
    frame["repurchase"] = frame["repeat"] / frame["customers"].where(frame["customers"] > 0)
    frame = frame[["layer", "customers", "customer_share", "gmv", "gmv_share", "aov", "repurchase", "median_recency_days"]]
    return Table(frame, f"RFM layers as of {_date(as_of)}", [
        f"GMV, AOV and repurchase over the {rules.get('lookback_days', 365)} days up to the date; "
        "repurchase = share of the layer with orders on ≥ 2 days in that window."])


def layer_movement(orders, before, after, **rules) -> Table:
    """Customers by layer at ``before`` (rows; '—' = no order yet) and at ``after`` (columns)."""
    then = customer_rfm(orders, before, **rules).select("user_id", before_layer="layer")
    now = customer_rfm(orders, after, **rules).select("user_id", after_layer="layer")
    j = now.left_join(then, "user_id")
    j = j.mutate(before_layer=j.before_layer.fill_null("—"))
    counts = j.group_by(["before_layer", "after_layer"]).aggregate(customers=j.count()).execute()
    wide = (counts.pivot(index="before_layer", columns="after_layer", values="customers")
            .reindex(index=["—", *LAYERS], columns=list(LAYERS)).fillna(0).astype("int64"))
    wide.index.name, wide.columns.name = "layer before", None
    return Table(wide.reset_index(), f"Layer movement {_date(before)} → {_date(after)} (customers)")


# --------------------------------------------------------------------------------------------
# Cohorts, repurchase, cycle

def cohorts(orders, end, *, start=None) -> Table:
    """Monthly first-order cohorts × months since the first order (0 = the first month): customers
    ordering again that month, their share of the cohort and GMV per cohort customer, up to ``end``."""
    end = _date(end)
    d = _days(_table(orders))
    d = d.filter(d.day <= end)
    month = d.day.truncate("M")
    d = d.mutate(month=month, cohort=month.min().over(group_by=d.user_id))
    if start is not None:
        d = d.filter(d.cohort >= _date(start))
    d = d.mutate(k=(d.month.year() - d.cohort.year()) * 12 + d.month.month() - d.cohort.month())
    sizes = d.filter(d.k == 0).group_by("cohort").aggregate(size=d.user_id.nunique())
    cells = d.group_by(["cohort", "k"]).aggregate(customers=d.user_id.nunique(), gmv=d.gmv.sum())
    frame = cells.join(sizes, "cohort").execute().sort_values(["cohort", "k"]).reset_index(drop=True)
    frame["cohort"] = pd.to_datetime(frame["cohort"]).dt.strftime("%Y-%m")
    frame["share"] = frame["customers"] / frame["size"]
    frame["gmv_per_customer"] = frame["gmv"] / frame["size"]
    frame = frame.rename(columns={"k": "months_since_first"})
    frame = frame[["cohort", "size", "months_since_first", "customers", "share", "gmv", "gmv_per_customer"]]
    return Table(frame, "First-order cohorts", [
        "share = cohort customers with an order in that month / the cohort; a cohort's first month is in the data's "
        "first month for customers who bought before the data starts (left-censored)."])


def repurchase(orders, start, end, *, horizons=(30, 60, 90), observed_until=None, alpha: float = 0.05) -> Table:
    """Share of the customers whose first order is in [start, end] who order again within N days,
    with Wilson intervals. Only customers whose N days ended by ``observed_until`` (default ``end``)
    count (``eligible``), so a review as of the quarter's end never depends on later data."""
    start, end = _date(start), _date(end)
    observed = _date(observed_until) if observed_until is not None else end
    d = _days(_table(orders))
    d = d.filter(d.day <= observed)
    first = d.group_by("user_id").aggregate(first_day=d.day.min())
    first = first.filter(first.first_day.between(start, end))
    nxt = d.join(first, "user_id").filter(lambda t: t.day > t.first_day)
    nxt = nxt.group_by("user_id").aggregate(next_day=nxt.day.min())
    j = first.left_join(nxt, "user_id")
    gap = j.next_day.delta(j.first_day, unit="day")
    aggs = {}
    for n in horizons:
        eligible = j.first_day <= observed - _dt.timedelta(days=n)
        aggs[f"eligible_{n}"] = eligible.ifelse(1, 0).sum()
        aggs[f"repeat_{n}"] = (eligible & gap.notnull() & (gap <= n)).ifelse(1, 0).sum()
    row = j.aggregate(new_customers=j.count(), **aggs).execute().iloc[0].fillna(0)  # sums over no customers are null
    frame = pd.DataFrame({"within_days": list(horizons), "new_customers": int(row["new_customers"]),
                          "eligible": [int(row[f"eligible_{n}"]) for n in horizons],
                          "repeat": [int(row[f"repeat_{n}"]) for n in horizons]})
    frame = _rates(frame, "repeat", "eligible", alpha)
    return Table(frame, f"Repurchase of customers first ordering {start} … {end}", [
        f"eligible = customers whose N days after the first order ended by {observed}; rate = those with an order on a "
        f"later day within N days; {1 - alpha:.0%} Wilson intervals."])


def repurchase_change(now: Table, before: Table, alpha: float = 0.05) -> Table:
    """Change of each horizon's repurchase rate (now − before) with a Newcombe interval and a z-test p-value."""
    a, b = now.to_pandas().set_index("within_days"), before.to_pandas().set_index("within_days")
    rows = []
    for n in a.index:
        diff, low, high, p = difference_test(a.at[n, "repeat"], a.at[n, "eligible"], b.at[n, "repeat"], b.at[n, "eligible"], alpha)
        rows.append({"within_days": n, "rate_before": b.at[n, "rate"], "rate_now": a.at[n, "rate"], "change": diff,
                     "ci_low": low, "ci_high": high, "pvalue": p})
    return Table(pd.DataFrame(rows), "Repurchase, change from the previous quarter",
                 [f"change in rate points; {1 - alpha:.0%} Newcombe interval; two-proportion z-test."])


def repurchase_cycle(orders, start, end, *, bins=(0, 7, 14, 30, 60, 90, 180, 365, 100000)) -> Table:
    """Days between consecutive order days, for second-or-later orders placed in [start, end]:
    counts per bin and the quantiles (attrs ``median``, ``p25``, ``p75``, ``p90``, ``mean``)."""
    start, end = _date(start), _date(end)
    d = _days(_table(orders))
    d = d.filter(d.day <= end)
    prev = d.day.lag().over(ibis.window(group_by=d.user_id, order_by=d.day))
    g = d.mutate(gap=d.day.delta(prev, unit="day"))
    g = g.filter(g.gap.notnull() & (g.day >= start))
    edges = list(bins)
    label = ibis.cases(*[((g.gap > lo) & (g.gap <= hi), f"{lo + 1}–{hi}" if hi < 100000 else f">{lo}")
                         for lo, hi in zip(edges[:-1], edges[1:])], else_="other")
    hist = g.group_by(label.name("days")).aggregate(gaps=g.count()).execute()
    order = [f"{lo + 1}–{hi}" if hi < 100000 else f">{lo}" for lo, hi in zip(edges[:-1], edges[1:])]
    hist = hist.set_index("days").reindex(order).fillna(0).astype("int64").reset_index()
    hist["share"] = hist["gaps"] / hist["gaps"].sum() if hist["gaps"].sum() else np.nan
    q = g.aggregate(median=g.gap.quantile(0.5), p25=g.gap.quantile(0.25), p75=g.gap.quantile(0.75),
                    p90=g.gap.quantile(0.9), mean=g.gap.mean(), n=g.count()).execute().iloc[0]
    stats = {k: float(q[k]) for k in ("median", "p25", "p75", "p90", "mean")}
    return Table(hist, "Repurchase cycle: days between consecutive order days",
                 [f"{int(q['n']):,} repeat orders; median {stats['median']:.0f} days (p25 {stats['p25']:.0f}, "
                  f"p75 {stats['p75']:.0f}, p90 {stats['p90']:.0f})"], stats=stats)


# --------------------------------------------------------------------------------------------
# Dormancy and wake-up

def dormancy(orders, at, *, tiers=(7, 15, 30, 90), wake_days: int = 30, alpha: float = 0.05) -> Table:
    """Customers by days since their last order at the end of day ``at``, in tiers [7, 15), [15, 30),
    … (the last tier open-ended), and the share of each that orders within ``wake_days`` after
    (natural wake-up: nobody reached them on purpose, as far as the data know)."""
    at = _date(at)
    d = _days(_table(orders))
    last = d.filter(d.day <= at).group_by("user_id").aggregate(last_day=d.day.max())
    woke = d.filter(d.day.between(at + _dt.timedelta(days=1), at + _dt.timedelta(days=wake_days))).select("user_id").distinct()
    woke = woke.mutate(woke=ibis.literal(1))
    j = last.left_join(woke, "user_id")
    idle = ibis.literal(at).delta(j.last_day, unit="day")
    edges = list(tiers) + [None]
    cases = [(((idle >= lo) & (idle < hi)) if hi is not None else (idle >= lo), f"{lo}–{hi - 1}" if hi else f"≥{lo}")
             for lo, hi in zip(edges[:-1], edges[1:])]
    label = ibis.cases(*cases, else_=f"<{tiers[0]}")
    g = j.group_by(label.name("days_idle")).aggregate(customers=j.count(), woke=j.woke.fill_null(0).sum()).execute()
    names = [f"<{tiers[0]}"] + [name for _, name in cases]
    frame = g.set_index("days_idle").reindex(names).fillna(0).astype("int64").reset_index()
    frame = _rates(frame, "woke", "customers", alpha, prefix="wake_")
    return Table(frame, f"Dormancy at {at} and natural wake-up within {wake_days} days", [
        f"days idle = days from the last order to {at}; wake = an order in the {wake_days} days after; "
        f"{1 - alpha:.0%} Wilson intervals."], at=at, wake_days=wake_days)


def outreach_lift(orders, outreach, *, wake_days: int = 30, alpha: float = 0.05, campaigns=None) -> Table:
    """Per campaign: wake-up rate (an order paid within ``wake_days`` after ``sent_at``) of the
    treatment and of the holdout, with Wilson intervals, and the incremental wake-up (treatment −
    holdout) with a Newcombe interval and a two-proportion z-test p-value."""
    o = ibis.memtable(outreach) if isinstance(outreach, pd.DataFrame) else outreach
    require_columns(o, ["user_id", "sent_at", "campaign", "group"], "outreach")
    t = _table(orders)
    if campaigns:
        o = o.filter(o.campaign.isin(list(campaigns)))
    t = t.select(user_id=t.user_id.cast("string"), paid_at=t.paid_at)
    hit = o.join(t, "user_id").filter(lambda r: (r.paid_at > r.sent_at) & (r.paid_at <= r.sent_at + ibis.interval(days=wake_days)))
    hit = hit.select("campaign", "user_id").distinct().mutate(woke=ibis.literal(1))
    j = o.left_join(hit, ["campaign", "user_id"])
    g = j.group_by(["campaign", "group"]).aggregate(customers=j.count(), woke=j.woke.fill_null(0).sum()).execute()
    rows = []
    for campaign, part in g.groupby("campaign", sort=True):
        part = part.set_index("group")
        if not {"treatment", "holdout"} <= set(part.index):
            raise ValueError(f"outreach: campaign {campaign!r} has no {'holdout' if 'treatment' in part.index else 'treatment'} "
                             "group; an incremental wake-up needs both")
        tr, ho = part.loc["treatment"], part.loc["holdout"]
        diff, low, high, p = difference_test(tr["woke"], tr["customers"], ho["woke"], ho["customers"], alpha)
        rows.append({"campaign": campaign, "treatment": int(tr["customers"]), "holdout": int(ho["customers"]),
                     "treatment_rate": tr["woke"] / tr["customers"], "holdout_rate": ho["woke"] / ho["customers"],
                     "incremental": diff, "ci_low": low, "ci_high": high, "pvalue": p,
                     "incremental_customers": diff * tr["customers"]})
    frame = pd.DataFrame(rows)
    return Table(frame, f"Outreach: incremental wake-up within {wake_days} days", [
        "incremental = treatment rate − holdout rate (the holdout's rate is what the campaign's customers would "
        f"have done anyway); {1 - alpha:.0%} Newcombe interval; incremental_customers = incremental × treatment size."])


# --------------------------------------------------------------------------------------------
# Members

def member_tiers(orders, users, start, end, rfm=None) -> Table:
    """Per member tier (``users.member_tier``; empty = non-member): the period's buyers, orders per
    buyer, AOV, repurchase (≥ 2 order days in the period) and, with ``rfm`` (from
    :func:`customer_rfm`), the share of the tier's customers in the 高价值 layer."""
    start, end = _date(start), _date(end)
    t = _table(orders)
    t = t.filter(t.paid_at.date().between(start, end))
    t = t.mutate(day=t.paid_at.date())
    per = t.group_by("user_id").aggregate(orders=t.count(), gmv=t.gmv.sum(), days=t.day.nunique())
    u = ibis.memtable(users) if isinstance(users, pd.DataFrame) else users
    require_columns(u, {"user_id": "", "member_tier": "member tiers are compared"}, "users")
    u = u.select("user_id", tier=u.member_tier.fill_null("non-member"))
    j = per.left_join(u, "user_id").mutate(tier=lambda r: r.tier.fill_null("non-member"))
    g = j.group_by("tier").aggregate(buyers=j.count(), orders=j.orders.sum(), gmv=j.gmv.sum(),
                                     repeat=(j.days >= 2).ifelse(1, 0).sum()).execute()
    g["orders_per_buyer"] = g["orders"] / g["buyers"]
    g["aov"] = g["gmv"] / g["orders"]
    g["repurchase"] = g["repeat"] / g["buyers"]
    g["gmv_share"] = g["gmv"] / g["gmv"].sum()
    if rfm is not None:
        r = rfm.left_join(u, "user_id").mutate(tier=lambda x: x.tier.fill_null("non-member"))
        hv = r.group_by("tier").aggregate(customers=r.count(), high=(r.layer == HIGH).ifelse(1, 0).sum()).execute()
        hv["high_value_share"] = hv["high"] / hv["customers"]
        g = g.merge(hv[["tier", "high_value_share"]], on="tier", how="left")
    g = g.sort_values("tier", key=lambda s: s.map(lambda v: (v == "non-member", v))).reset_index(drop=True)
    g = g.drop(columns=["repeat"])
    return Table(g, f"Member tiers, {start} … {end}")
