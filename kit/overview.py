"""The quarter overview: the headline KPIs of a quarterly review (季度复盘), computed in the engine.

``review_quarter(source, params)`` returns a :class:`QuarterOverview` with, for the quarter, the
previous quarter (环比) and the same quarter a year earlier (同比):

- GMV (成交额): sum of ``orders.gmv``. With ``gmv_basis: paid`` (the default) every order counts,
  refunded ones too (GMV before refunds); with ``net_of_refunds`` refunded orders are left out.
  The same basis decides which orders count for orders, buyers, AOV and repurchase.
- paid orders, AOV (客单价) = GMV / orders;
- active users (活跃用户): distinct users with at least one *session* in the quarter (only with a
  ``sessions`` table that has rows; otherwise active users and conversion are "needs sessions");
- buyers (购买用户): distinct users with at least one order in the quarter;
- conversion rate (转化率) = buyers / active users (user level);
- repurchase rate (复购率) = share of the quarter's buyers with ≥ 2 orders in the quarter;
- new customers (新客): buyers whose first order in the whole data set falls in the quarter;
- channel GMV shares (渠道占比) = channel GMV / total GMV, by ``orders.channel``;
- target attainment (目标达成率) = actual / target for the targets set in ``params/<QUARTER>.yaml``.

Money is shown in the params' currency (``currency: {code, symbol}``, default CNY ¥).
Only aggregates leave the engine: one row per period (and per channel, per day) reaches pandas.
Growth is relative for every KPI (a repurchase rate going from 0.25 to 0.30 is +20 %); the tiles
show rates' changes in percentage points, labelled "pp".
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from kit import params as params_module
from kit.format import YUAN, amount, money, percent, points
from kit.plotting import axes_for
from kit.quarter import Quarter
from kit.results import Result
from kit.source import Source, connect

# (id, label, unit); unit drives formatting: money, count or rate.
KPIS: tuple[tuple[str, str, str], ...] = (
    ("gmv", "GMV 成交额", "money"),
    ("orders", "Paid orders 订单数", "count"),
    ("aov", "AOV 客单价", "money"),
    ("active_users", "Active users 活跃用户 (≥1 session)", "count"),
    ("buyers", "Buyers 购买用户", "count"),
    ("conversion_rate", "Conversion rate 转化率 (buyers / active users)", "rate"),
    ("repurchase_rate", "Repurchase rate 复购率 (buyers with ≥2 orders)", "rate"),
    ("new_customers", "New customers 新客 (first order ever)", "count"),
)
_UNITS = {kpi: unit for kpi, _, unit in KPIS}
# KPIs that need a table beyond orders; without it they are shown as "needs <table>".
NEEDS = {"active_users": "sessions", "conversion_rate": "sessions"}
_LABELS = {kpi: label for kpi, label, _ in KPIS}
# KPIs that have a target key of the same name in params (Targets model).
TARGETED = ("gmv", "conversion_rate", "repurchase_rate", "new_customers")


# --------------------------------------------------------------------------------------------
# Formatting (display only; numbers stay unrounded in to_pandas)

def format_value(value: float, unit: str, symbol: str = YUAN) -> str:
    """A KPI's value for display: money with ``symbol``, rates as %, counts with separators."""
    if value is None or not np.isfinite(value):
        return "–"
    if unit == "money":
        return money(value, symbol)
    if unit == "rate":
        return percent(value)
    return amount(value)


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when the denominator is zero or missing (no base to compare)."""
    if denominator is None or not np.isfinite(denominator) or denominator == 0:
        return math.nan
    return float(numerator) / float(denominator)


# --------------------------------------------------------------------------------------------
# Results

class KpiTable(Result):
    """One row per KPI: the quarter, the previous quarter, a year ago, growth, target and attainment."""

    def __init__(self, frame: pd.DataFrame, quarter: str, symbol: str = YUAN, unavailable: dict[str, str] | None = None):
        self.frame = frame
        self.symbol = symbol
        self.unavailable = dict(unavailable or {})   # kpi -> the table it needs, absent from the source
        self.title = f"KPIs {quarter} (QoQ against {Quarter(quarter).previous()}, YoY against {Quarter(quarter).year_ago()})"

    def to_pandas(self) -> pd.DataFrame:
        return self.frame.copy()

    def display(self) -> pd.DataFrame:
        def shown_values(column: str) -> list[str]:
            return [f"needs {self.unavailable[k]}" if k in self.unavailable else format_value(v, u, self.symbol)
                    for k, v, u in zip(self.frame["kpi"], self.frame[column], self.frame["unit"])]

        return pd.DataFrame({
            "KPI": self.frame["name"],
            "value": shown_values("value"),
            "previous quarter": shown_values("previous_quarter"),
            "year ago": shown_values("year_ago"),
            "QoQ 环比": [percent(v, signed=True) for v in self.frame["qoq"]],
            "YoY 同比": [percent(v, signed=True) for v in self.frame["yoy"]],
            "target": [format_value(v, u, self.symbol) for v, u in zip(self.frame["target"], self.frame["unit"])],
            "attainment 达成率": [percent(v) for v in self.frame["attainment"]],
        })


class ChannelShares(Result):
    """GMV and share of GMV per order channel, this quarter against the same quarter last year."""

    def __init__(self, frame: pd.DataFrame, quarter: str, symbol: str = YUAN):
        self.frame = frame
        self.symbol = symbol
        self.title = f"Channel GMV shares 渠道占比, {quarter} vs {Quarter(quarter).year_ago()}"

    def to_pandas(self) -> pd.DataFrame:
        return self.frame.copy()

    def display(self) -> pd.DataFrame:
        f = self.frame
        return pd.DataFrame({
            "channel": f["name"],
            "GMV": [money(v, self.symbol) for v in f["gmv"]],
            "share": [percent(v) for v in f["share"]],
            "share a year ago": [percent(v) for v in f["share_year_ago"]],
            "share change": [points(v) for v in f["share_change"]],
            "GMV YoY": [percent(v, signed=True) for v in f["yoy"]],
        })


@dataclass(repr=False)  # Result.__repr__ prints the KPI table; a dataclass repr would dump every frame
class QuarterOverview(Result):
    """Everything the overview notebook and the report index show for one quarter."""

    quarter: str
    gmv_basis: str
    kpis: KpiTable
    channels: ChannelShares
    daily: pd.DataFrame          # period, date, day_of_quarter, gmv (the quarter and a year ago)
    periods: pd.DataFrame        # the raw per-period sufficient statistics (index: period label)
    findings: list[str] = field(default_factory=list)
    currency: str = "CNY"
    symbol: str = YUAN
    # 30-day repurchase of the quarter's new customers (kit.customers.repurchase): rate now and a quarter ago
    repurchase_30d: dict[str, float] | None = None

    @property
    def unavailable(self) -> dict[str, str]:
        """KPIs the source cannot give (kpi -> the table it would need)."""
        return self.kpis.unavailable

    def money(self, value: float) -> str:
        """``value`` in the overview's currency, as tiles and findings show it."""
        return money(value, self.symbol)

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"Quarter overview {self.quarter}"

    def to_pandas(self) -> pd.DataFrame:
        return self.kpis.to_pandas()

    def value(self, kpi: str, column: str = "value") -> float:
        """One number of the KPI table, e.g. ``ov.value("gmv", "yoy")``."""
        frame = self.kpis.frame.set_index("kpi")
        if kpi not in frame.index:
            raise KeyError(f"unknown KPI {kpi!r}; KPIs: {', '.join(frame.index)}")
        return float(frame.loc[kpi, column])

    # -- tiles ------------------------------------------------------------------------------
    def tiles(self) -> list[dict[str, Any]]:
        """KPI tiles as display strings: label, value and a few comparison lines."""
        out = []
        for kpi in ("gmv", "aov", "active_users", "buyers", "conversion_rate", "repurchase_rate", "new_customers"):
            unit = _UNITS[kpi]
            value = self.value(kpi)
            label = _LABELS[kpi].split(" (")[0]
            if kpi in self.unavailable:
                out.append({"kpi": kpi, "label": label, "value": "–", "lines": [f"needs {self.unavailable[kpi]}"]})
                continue
            lines = []
            if unit == "rate":
                lines.append(f"YoY {points(value - self.value(kpi, 'year_ago'))}")
                lines.append(f"QoQ {points(value - self.value(kpi, 'previous_quarter'))}")
            else:
                lines.append(f"YoY {percent(self.value(kpi, 'yoy'), signed=True)}")
                lines.append(f"QoQ {percent(self.value(kpi, 'qoq'), signed=True)}")
            attainment = self.value(kpi, "attainment")
            if np.isfinite(attainment):
                lines.append(f"{attainment:.0%} of target {format_value(self.value(kpi, 'target'), unit, self.symbol)}")
            out.append({"kpi": kpi, "label": label, "value": format_value(value, unit, self.symbol), "lines": lines})
        if self.repurchase_30d is not None:
            now, before = self.repurchase_30d["value"], self.repurchase_30d["previous_quarter"]
            out.append({"kpi": "repurchase_30d", "label": "30-day repurchase 30天复购 (new customers)",
                        "value": format_value(now, "rate"), "lines": [f"QoQ {points(now - before)}"]})
        top = self.channels.frame.iloc[0] if len(self.channels.frame) else None
        if top is not None:
            out.append({"kpi": "top_channel", "label": "Top channel 渠道占比", "value": f"{top['share']:.1%}",
                        "lines": [str(top["name"]), f"YoY {points(top['share_change'])}"]})
        return out

    def tiles_html(self) -> str:
        """The tiles as self-contained HTML (inline style, no scripts), for notebooks and the report index."""
        from kit.report.render import render_tiles

        return render_tiles(self.tiles(), caption=f"{self.quarter} · GMV basis: {self.gmv_basis}"
                            + ("" if self.currency == "CNY" else f" · money in {self.currency}"))

    def finding(self) -> str:
        """The quarter's headline findings in words (Markdown), one bullet each."""
        return "\n".join(f"- {line}" for line in self.findings)

    def display(self) -> pd.DataFrame:
        return self.kpis.display()

    def _repr_html_(self) -> str:  # the tiles are a picture of the KPI table below them, which the text shows
        return self.tiles_html() + "\n" + self.kpis._repr_html_()

    def __repr__(self) -> str:
        return repr(self.kpis)


# --------------------------------------------------------------------------------------------
# Computation

def _orders(source: Source, gmv_basis: str, quarter: Quarter | None = None) -> ir.Table:
    orders = source.table("orders", quarter=quarter)
    if gmv_basis == "net_of_refunds":
        orders = orders.filter(orders.status == "paid")
    return orders


def _has_rows(source: Source, name: str) -> bool:
    """Whether the source has the table and it is not empty (an empty table is no data, not zeros)."""
    return name in source.tables() and bool(source.table(name).limit(1).count().to_pyarrow().as_py())


def _per_period(source: Source, name: str, periods: list[Quarter], gmv_basis: str) -> ir.Table:
    """The table's rows of each period, tagged with the period label (one UNION ALL in the engine)."""
    parts = []
    for q in periods:
        t = _orders(source, gmv_basis, q) if name == "orders" else source.table(name, quarter=q)
        parts.append(t.mutate(period=ibis.literal(q.label)))
    return ibis.union(*parts, distinct=False)


def period_statistics(source: Source, periods: list[Quarter], gmv_basis: str = "paid") -> pd.DataFrame:
    """Sufficient statistics per period: gmv, orders, buyers, repeat_buyers, active_users, new_customers.

    Without a ``sessions`` table (or with an empty one), ``active_users`` is NaN (unknown, not zero).
    """
    orders = _per_period(source, "orders", periods, gmv_basis)
    per_user = orders.group_by(["period", "user_id"]).aggregate(n=orders.count(), gmv=orders.gmv.sum())
    buyers = per_user.group_by("period").aggregate(
        gmv=per_user.gmv.sum(),
        orders=per_user.n.sum(),
        buyers=per_user.count(),
        repeat_buyers=(per_user.n >= 2).ifelse(1, 0).sum(),
    ).to_pandas().set_index("period")

    has_sessions = _has_rows(source, "sessions")
    if has_sessions:
        sessions = _per_period(source, "sessions", periods, gmv_basis)
        active = sessions.group_by("period").aggregate(active_users=sessions.user_id.nunique()).to_pandas().set_index("period")
    else:
        active = pd.DataFrame({"active_users": pd.Series(dtype="float64")}, index=pd.Index([], name="period"))

    # New customers: first order over the whole history, counted in the period it falls in.
    all_orders = _orders(source, gmv_basis)
    first = all_orders.group_by("user_id").aggregate(first_day=all_orders.paid_at.min().date())
    new = first.aggregate(**{q.label: first.first_day.between(q.start, q.end).ifelse(1, 0).sum() for q in periods})
    new_counts = new.to_pandas().iloc[0]

    frame = pd.DataFrame(index=pd.Index([q.label for q in periods], name="period"))
    frame = frame.join(buyers).join(active)
    frame["new_customers"] = [int(new_counts[q.label] or 0) for q in periods]
    counts = ["orders", "buyers", "repeat_buyers", "new_customers"] + (["active_users"] if has_sessions else [])
    frame[counts] = frame[counts].fillna(0).astype("int64")
    frame["gmv"] = frame["gmv"].fillna(0.0).astype("float64")
    return frame


def kpi_values(stats: pd.Series) -> dict[str, float]:
    """The KPIs of one period from its sufficient statistics."""
    return {
        "gmv": float(stats["gmv"]),
        "orders": float(stats["orders"]),
        "aov": _ratio(stats["gmv"], stats["orders"]),
        "active_users": float(stats["active_users"]),
        "buyers": float(stats["buyers"]),
        "conversion_rate": _ratio(stats["buyers"], stats["active_users"]),
        "repurchase_rate": _ratio(stats["repeat_buyers"], stats["buyers"]),
        "new_customers": float(stats["new_customers"]),
    }


def _growth(now: float, base: float) -> float:
    """Relative change; NaN when the base period has nothing to compare with (zero or missing)."""
    return _ratio(now - base, base) if np.isfinite(base) and base != 0 else math.nan


def channel_statistics(source: Source, periods: list[Quarter], gmv_basis: str = "paid") -> pd.DataFrame:
    """GMV per channel and period, computed in the engine."""
    orders = _per_period(source, "orders", periods, gmv_basis)
    return orders.group_by(["period", "channel"]).aggregate(gmv=orders.gmv.sum(), orders=orders.count()).to_pandas()


def daily_gmv(source: Source, periods: list[Quarter], gmv_basis: str = "paid") -> pd.DataFrame:
    """GMV per local business day of each period, with the day's position in its quarter (1 = first day)."""
    orders = _per_period(source, "orders", periods, gmv_basis)
    days = orders.group_by(["period", orders.paid_at.date().name("date")]).aggregate(gmv=orders.gmv.sum()).to_pandas()
    starts = {q.label: q.start for q in periods}
    days["date"] = pd.to_datetime(days["date"]).dt.date
    days["day_of_quarter"] = [(d - starts[p]).days + 1 for p, d in zip(days["period"], days["date"])]
    return days.sort_values(["period", "date"], ignore_index=True)[["period", "date", "day_of_quarter", "gmv"]]


def quarter_overview(quarter: "str | Quarter", source: Any = None, params: "params_module.Params | None" = None) -> QuarterOverview:
    """:func:`review_quarter` of ``quarter`` (``params`` default to ``kit.params.load(quarter)``)."""
    q = Quarter(quarter)
    p = params if params is not None else params_module.load(q)
    return review_quarter(source, p if p.quarter == q.label else p.model_copy(update={"quarter": q.label}))


def review_quarter(source: Any, params: "params_module.Params", **overrides: Any) -> QuarterOverview:
    """The overview of ``params.quarter`` on ``source`` (a Source, or anything :func:`kit.connect` accepts).

    Targets and the GMV basis come from ``params``; the overview has no settings of its own, so
    ``overrides`` (the shape every analysis's ``review_quarter`` takes) may only be None.
    """
    given = sorted(key for key, value in overrides.items() if value is not None)
    if given:
        raise params_module.ParamsError(f"the overview has no settings of its own (got {', '.join(map(repr, given))}); "
                                        "targets and gmv_basis come from params")
    p = params
    q = Quarter(p.quarter)
    src = source if isinstance(source, Source) else connect(source, params=p)
    previous, year_ago = q.previous(), q.year_ago()
    periods = [q, previous, year_ago]

    stats = period_statistics(src, periods, p.gmv_basis)
    values = {period: kpi_values(stats.loc[period.label]) for period in periods}
    unavailable = {kpi: table for kpi, table in NEEDS.items() if not _has_rows(src, table)}
    targets = p.targets.model_dump()
    rows = []
    for kpi, label, unit in KPIS:
        now = values[q][kpi]
        target = targets.get(kpi) if kpi in TARGETED else None
        rows.append({
            "kpi": kpi, "name": label, "unit": unit, "value": now,
            "previous_quarter": values[previous][kpi], "year_ago": values[year_ago][kpi],
            "qoq": _growth(now, values[previous][kpi]), "yoy": _growth(now, values[year_ago][kpi]),
            "target": float(target) if target is not None else math.nan,
            "attainment": _ratio(now, target) if target is not None else math.nan,
        })
    kpis = pd.DataFrame(rows)

    by_channel = channel_statistics(src, [q, year_ago], p.gmv_basis)
    channels = _channel_frame(by_channel, q, year_ago, p)
    daily = daily_gmv(src, [q, year_ago], p.gmv_basis)
    symbol = p.currency.symbol
    overview = QuarterOverview(q.label, p.gmv_basis, KpiTable(kpis, q.label, symbol, unavailable),
                               ChannelShares(channels, q.label, symbol), daily, stats, currency=p.currency.code, symbol=symbol)
    daily.attrs["currency_symbol"] = symbol
    overview.repurchase_30d = _repurchase_30d(src, q, p.gmv_basis)
    overview.findings = _headline_findings(overview)
    return overview


def _repurchase_30d(source: Source, q: Quarter, gmv_basis: str) -> dict[str, float]:
    from kit.customers.retention import repurchase

    orders = _orders(source, gmv_basis)
    rates = {label: repurchase(orders, period.start, period.end, horizons=(30,)).to_pandas()["rate"].iloc[0]
             for label, period in (("value", q), ("previous_quarter", q.previous()))}
    return {key: float(value) for key, value in rates.items()}


def _channel_frame(by_channel: pd.DataFrame, q: Quarter, year_ago: Quarter, p: "params_module.Params") -> pd.DataFrame:
    wide = by_channel.pivot_table(index="channel", columns="period", values="gmv", aggfunc="sum")
    now = wide[q.label] if q.label in wide else pd.Series(0.0, index=wide.index)
    before = wide[year_ago.label] if year_ago.label in wide else pd.Series(math.nan, index=wide.index)
    frame = pd.DataFrame({"channel": wide.index, "gmv": now.fillna(0.0).to_numpy(), "gmv_year_ago": before.to_numpy()})
    # channels with GMV in either period: one that fell to zero is the biggest loss of share, not a gap
    frame = frame[(frame["gmv"] > 0) | (frame["gmv_year_ago"].fillna(0.0) > 0)].copy()
    total_now = frame["gmv"].sum()
    total_before = by_channel.loc[by_channel["period"] == year_ago.label, "gmv"].sum()
    frame["name"] = [p.channels[c].name if c in p.channels else c for c in frame["channel"]]
    frame["share"] = frame["gmv"] / total_now if total_now else math.nan
    frame["share_year_ago"] = frame["gmv_year_ago"].fillna(0.0) / total_before if total_before else math.nan
    frame["share_change"] = frame["share"] - frame["share_year_ago"]
    frame["yoy"] = [_growth(a, b) for a, b in zip(frame["gmv"], frame["gmv_year_ago"].fillna(0.0))]
    frame = frame.sort_values(["gmv", "channel"], ascending=[False, True], ignore_index=True)
    return frame[["channel", "name", "gmv", "share", "gmv_year_ago", "share_year_ago", "share_change", "yoy"]]


# --------------------------------------------------------------------------------------------
# Findings in words, from the numbers above

def _headline_findings(ov: QuarterOverview) -> list[str]:
    """A few sentences an analyst would put at the top of the review, all computed from ``ov``."""
    q, prev, ago = ov.quarter, str(Quarter(ov.quarter).previous()), str(Quarter(ov.quarter).year_ago())
    v = ov.value
    money = ov.money
    lines = []
    if v("orders") == 0:
        return [f"**No data**: the source has no orders in {q} (orders paid between {Quarter(q).start} and "
                f"{Quarter(q).end}, local time), so the quarter's KPIs are empty."]

    gmv = v("gmv")
    growth = []
    if np.isfinite(v("gmv", "yoy")):
        growth.append(f"{percent(v('gmv', 'yoy'), signed=True)} year on year (同比, {ago}: {money(v('gmv', 'year_ago'))})")
    if np.isfinite(v("gmv", "qoq")):
        growth.append(f"{percent(v('gmv', 'qoq'), signed=True)} on the previous quarter (环比, {prev}: {money(v('gmv', 'previous_quarter'))})")
    lines.append(f"**GMV** in {q} was **{money(gmv)}**" + (", " + " and ".join(growth) if growth else
                                                                 " (no earlier quarter in the data to compare with)") + ".")

    target = v("gmv", "target")
    if np.isfinite(target):
        gap = gmv - target
        side = "above" if gap >= 0 else "short of"
        lines.append(f"That is **{v('gmv', 'attainment'):.1%} of the GMV target** {money(target)} "
                     f"({money(abs(gap))} {side} it).")
    else:
        lines.append(f"No GMV target is set for {q} (`targets.gmv` in params/{q}.yaml), so attainment is not shown.")

    # GMV = buyers × orders per buyer × AOV: say which factor moved GMV most against a year ago.
    if np.isfinite(v("gmv", "yoy")) and v("buyers", "year_ago") > 0:
        frequency_now = v("orders") / v("buyers") if v("buyers") else math.nan
        frequency_ago = v("orders", "year_ago") / v("buyers", "year_ago")
        factors = {"buyers": v("buyers", "yoy"), "orders per buyer": _growth(frequency_now, frequency_ago), "AOV 客单价": v("aov", "yoy")}
        finite = {k: x for k, x in factors.items() if np.isfinite(x)}
        if finite:
            driver = max(finite, key=lambda k: abs(math.log1p(finite[k])))
            parts = ", ".join(f"{k} {percent(x, signed=True)}" for k, x in finite.items())
            lines.append(f"Against {ago}: {parts}; **{driver}** moved GMV most.")

    channels = ov.channels.frame
    if len(channels):
        top = channels.iloc[0]
        lines.append(f"The largest channel is **{top['name']}** with {top['share']:.1%} of GMV"
                     + (f" ({points(top['share_change'])} on {ago})." if np.isfinite(top["share_change"]) else "."))
        moved = channels[np.isfinite(channels["share_change"])]
        if len(moved):
            gainer = moved.loc[moved["share_change"].idxmax()]
            loser = moved.loc[moved["share_change"].idxmin()]
            if gainer["share_change"] > 0:
                lines.append(f"Biggest share gain: **{gainer['name']}** ({points(gainer['share_change'])}, "
                             f"{gainer['share']:.1%} of GMV); biggest loss: **{loser['name']}** ({points(loser['share_change'])}).")

    rate_parts = []
    for kpi in ("conversion_rate", "repurchase_rate"):
        if kpi in ov.unavailable:
            continue
        now, ago_value = v(kpi), v(kpi, "year_ago")
        text = f"{_LABELS[kpi].split(' (')[0]} {format_value(now, 'rate')}"
        if np.isfinite(ago_value):
            text += f" ({points(now - ago_value)} YoY)"
        rate_parts.append(text)
    lines.append("; ".join(rate_parts + [f"{format_value(v('new_customers'), 'count')} new customers."]))
    if ov.unavailable:
        missing = sorted(set(ov.unavailable.values()))
        names = " and ".join(_LABELS[k].split(" (")[0] for k in ov.unavailable)
        lines.append(f"{names} need {' and '.join(f'a {t} table' for t in missing)}, which this source does not have.")

    current = ov.daily[ov.daily["period"] == q]
    if len(current) and current["gmv"].sum() > 0:
        peak = current.loc[current["gmv"].idxmax()]
        lines.append(f"Peak day: **{peak['date'].isoformat()}** with {money(peak['gmv'])}, "
                     f"{peak['gmv'] / current['gmv'].sum():.1%} of the quarter's GMV.")
    return lines


# --------------------------------------------------------------------------------------------
# Plots (seaborn style: data=, named columns, ax=; return the Axes)

def plot_channel_shares(data: pd.DataFrame, ax=None, top: int = 10, label: str = "channel"):
    """Horizontal bars: each channel's GMV share this quarter and a year ago (``ChannelShares.to_pandas()``).

    Bars are labelled by ``label`` (default the channel id: Matplotlib's default font has no CJK glyphs).
    """
    import seaborn as sns

    shown = data.head(top)
    long = pd.concat([
        pd.DataFrame({"channel": shown[label], "share": shown["share"], "period": "this quarter"}),
        pd.DataFrame({"channel": shown[label], "share": shown["share_year_ago"], "period": "a year ago"}),
    ], ignore_index=True)
    ax = axes_for(ax, 8, 0.45 * len(shown) + 1.2)
    sns.barplot(data=long, y="channel", x="share", hue="period", orient="h", errorbar=None, ax=ax)
    ax.xaxis.set_major_formatter(lambda x, _: f"{x:.0%}")
    ax.set_xlabel("share of GMV")
    ax.set_ylabel("")
    ax.legend(title=None, loc="lower right")
    return ax


def plot_daily_gmv(data: pd.DataFrame, ax=None, symbol: str | None = None):
    """Daily GMV by day of the quarter, one line per period (``QuarterOverview.daily``); money in
    ``symbol``'s currency (default: the one ``quarter_overview`` recorded in ``data.attrs``, else ¥)."""
    symbol = symbol or data.attrs.get("currency_symbol", YUAN)
    import seaborn as sns

    ax = axes_for(ax, 9, 3.5)
    sns.lineplot(data=data, x="day_of_quarter", y="gmv", hue="period", errorbar=None, ax=ax)
    ax.yaxis.set_major_formatter(lambda y, _: money(y, symbol))
    ax.set_xlabel("day of the quarter")
    ax.set_ylabel("GMV per day")
    ax.legend(title=None)
    return ax


__all__ = ["review_quarter", "quarter_overview", "QuarterOverview", "KpiTable", "ChannelShares", "period_statistics", "kpi_values",
           "channel_statistics", "daily_gmv", "plot_channel_shares", "plot_daily_gmv", "format_value", "KPIS"]
