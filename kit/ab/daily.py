"""The experiment as an analyst peeking every day saw it: day-by-day results, fixed and always valid.

``daily_user_metrics`` builds, in the engine, one row per (user, local day) from the user's
exposure day to the end of the window, with the measures cumulated to the end of that day (the
``pre_*`` covariates do not change). ``sequential_path`` then runs one grouped query over
(arm, day) and, for each day, the same statistics as :func:`kit.ab.analyze` — once with
always-valid (mixture) intervals, once fixed-horizon — so the cost of naive peeking is visible.
"""
from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from kit.ab.analysis import _choose_control, compute
from kit.ab.metrics import resolve
from kit.ab.moments import Moments, arm_moments
from kit.ab.users import user_metrics
from kit.results import Result

_SEP = "\x1f"  # joins arm and day in one grouping key; cannot occur in an arm name from the contract's ids


def daily_user_metrics(source, experiment_id: str, pre_window_days: int = 14, *, gmv_basis: str = "paid",
                       users: ir.Table | None = None) -> ir.Table:
    """One row per (user, day ≥ exposure day): measures of :func:`user_metrics` cumulated to the end of ``day``.

    ``users``: the experiment's :func:`user_metrics` table if already built (e.g. cached), to reuse it.
    """
    final = users if users is not None else user_metrics(source, experiment_id, pre_window_days, gmv_basis=gmv_basis)
    bounds = final.aggregate(first=final.first_exposure_at.min(), last=final.first_exposure_at.max()).to_pyarrow().to_pylist()[0]
    start_day, end_day = bounds["first"].date(), bounds["last"].date()
    window_end = dt.datetime.combine(end_day + dt.timedelta(days=1), dt.time())
    exposures = final.select("user_id", "first_exposure_at")

    events = source.between("events", start_day, end_day)
    events = events.filter(events.event.isin(["pdp_view", "add_to_cart"]))
    e = events.join(exposures, "user_id").select("user_id", "ts", "event", "first_exposure_at")
    e = e.filter((e.ts >= e.first_exposure_at) & (e.ts < window_end))
    count = lambda cond: cond.cast("int64").sum()  # noqa: E731
    event_days = e.group_by("user_id", day=e.ts.date()).aggregate(
        d_pdp_views=count(e.event == "pdp_view"), d_add_to_carts=count(e.event == "add_to_cart"))

    orders = source.between("orders", start_day, end_day)
    if gmv_basis == "net_of_refunds":
        orders = orders.filter(orders.status == "paid")
    o = orders.join(exposures, "user_id").select("user_id", "paid_at", "gmv", "first_exposure_at")
    o = o.filter((o.paid_at >= o.first_exposure_at) & (o.paid_at < window_end))
    order_days = o.group_by("user_id", day=o.paid_at.date()).aggregate(d_orders=ibis._.count(), d_revenue=o.gmv.sum())

    days = ibis.memtable(pd.DataFrame({"day": pd.date_range(start_day, end_day, freq="D").date}))
    grid = final.cross_join(days)
    grid = grid.filter(grid.day >= grid.first_exposure_at.date())
    grid = grid.left_join(event_days, ["user_id", "day"]).left_join(order_days, ["user_id", "day"])
    cumulative = ibis.window(group_by="user_id", order_by="day", preceding=None, following=0)
    daily = {name: grid[f"d_{name}"].fill_null(0).sum().over(cumulative) for name in ("pdp_views", "add_to_carts", "orders")}
    revenue = grid.d_revenue.fill_null(0.0).sum().over(cumulative)
    return grid.select(
        "user_id", "variant", "day",
        *[value.cast("int64").name(name) for name, value in daily.items()],
        revenue.cast("float64").name("revenue"),
        (daily["orders"] > 0).cast("int64").name("converted"),
        "pre_pdp_views", "pre_add_to_carts", "pre_orders", "pre_revenue", "pre_converted",
    )


class SequentialPath(Result):
    """Day-by-day results: always-valid columns as in :class:`ABResult`, plus ``*_fixed`` columns."""

    title = "Day by day: always-valid against fixed-horizon results"

    def __init__(self, frame: pd.DataFrame, planned_users: float, alpha: float):
        self.frame = frame
        self.planned_users = planned_users
        self.alpha = alpha

    def to_pandas(self) -> pd.DataFrame:
        return self.frame.copy()

    def summary(self, metric: str | None = None) -> pd.DataFrame:
        """Per arm: first day significant (always valid / fixed) and whether the fixed test ever flipped."""
        f = self.frame if metric is None else self.frame[self.frame["metric"] == metric]
        rows = []
        for (name, arm), g in f.groupby(["metric", "variant"], sort=False):
            g = g.sort_values("day")
            seq_days = g.loc[g["significant"], "day"]
            fixed_days = g.loc[g["significant_fixed"], "day"]
            rows.append({"metric": name, "variant": arm,
                         "first_day_always_valid": seq_days.iloc[0] if len(seq_days) else None,
                         "first_day_fixed": fixed_days.iloc[0] if len(fixed_days) else None,
                         "days_fixed_significant": int(len(fixed_days)),
                         "significant_at_end": bool(g["significant"].iloc[-1]),
                         "fixed_significant_at_end": bool(g["significant_fixed"].iloc[-1])})
        return pd.DataFrame(rows)

    def arms_to_show(self, metric: str, max_arms: int = 5) -> list[str]:
        """Arms worth a line on the plot: any the fixed or the always-valid test ever called, else the best at the end."""
        s = self.summary(metric)
        called = s[s["first_day_fixed"].notna() | s["first_day_always_valid"].notna()]["variant"].tolist()
        if called:
            return sorted(called)[:max_arms]
        f = self.frame[self.frame["metric"] == metric]
        last = f[f["day"] == f["day"].max()].sort_values("rel_effect", ascending=False)
        return sorted(last["variant"].head(min(3, max_arms)).tolist())

    def peeking_markdown(self, metric: str) -> str:
        """What daily peeking would have shown on ``metric``, in words, from the path's numbers."""
        s = self.summary(metric)
        days = self.frame["day"].nunique()
        fixed_ever = s[s["first_day_fixed"].notna()]
        # significant on some day but not on a later one: a call the fixed test had to take back
        f = self.frame[self.frame["metric"] == metric].sort_values("day")
        flipped = [arm for arm, g in f.groupby("variant", sort=True)
                   if (g["significant_fixed"].cummax() & ~g["significant_fixed"]).any()]
        always = s[s["first_day_always_valid"].notna()]
        text = (f"Looking every day for {days} days, fixed-horizon tests would have called {len(fixed_ever)} arm(s) "
                f"significant on {metric} on at least one day")
        if len(fixed_ever):
            text += " (" + ", ".join(f"{r.variant} first on {r.first_day_fixed}" for r in fixed_ever.itertuples()) + ")"
        if flipped:
            text += f"; {len(flipped)} of them lost significance again on a later day ({', '.join(flipped)})"
        text += (f". The always-valid test, tuned for {self.planned_users:,.0f} users per arm, called {len(always)}")
        if len(always):
            text += " (" + ", ".join(f"{r.variant} from {r.first_day_always_valid}" for r in always.itertuples()) + ")"
        return text + ": a call it makes on any day can be acted on that day, at the price of wider intervals."


def sequential_path(daily: ir.Table, metrics, control: str | None = None, alpha: float = 0.05, correction: str = "holm",
                    planned_users: float | None = None, prior_sd: float | None = 0.3, cuped: bool = True,
                    variant: str = "variant", day: str = "day") -> SequentialPath:
    """Analyse each day of :func:`daily_user_metrics` (one grouped query over arm × day).

    ``planned_users``: users per arm the mixture is tuned for (default: the last day's average).
    """
    metric_list = resolve(metrics, cuped=cuped)
    table = daily.mutate(__key=daily[variant].cast("string") + _SEP + daily[day].cast("string"))
    keys, moments = arm_moments(table, metric_list, variant="__key", unit=None)
    parts = pd.DataFrame([k.split(_SEP) for k in keys], columns=["arm", "day"])
    arms = sorted(parts["arm"].unique())
    chosen = _choose_control(arms, control, variant)
    days = sorted(parts["day"].unique())
    last = parts.index[parts["day"] == days[-1]]
    planned = planned_users if planned_users is not None else float(np.mean(moments.n[last]))
    frames = []
    for d in days:
        index = parts.index[parts["day"] == d].to_numpy()
        day_arms = parts.loc[index, "arm"].tolist()
        if chosen not in day_arms or len(day_arms) < 2 or (moments.n[index] < 2).any():
            continue  # the first hours of a test: not every arm has users yet
        sub = Moments(moments.columns, moments.n[index], moments.sums[index], moments.cross[index])
        options = dict(alpha=alpha, correction=correction, planned_users=planned, prior_sd=prior_sd)
        try:
            seq = compute(day_arms, sub, metric_list, chosen, sequential=True, **options).to_pandas()
            fixed = compute(day_arms, sub, metric_list, chosen, sequential=False, **options).to_pandas()
        except ValueError:
            continue  # e.g. no add-to-cart yet in an arm on the first day: nothing to test that day
        seq.insert(0, "day", dt.date.fromisoformat(d))
        for column in ("ci_low", "ci_high", "rel_ci_low", "rel_ci_high", "pvalue", "pvalue_adj", "significant"):
            seq[f"{column}_fixed"] = fixed[column].to_numpy()
        frames.append(seq)
    if not frames:
        raise ValueError("no day of the experiment has every arm with at least two users")
    return SequentialPath(pd.concat(frames, ignore_index=True), planned, alpha)
