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

from kit.ab.analysis import _choose_control, compute_modes
from kit.ab.metrics import resolve
from kit.ab.moments import Moments, arm_moments
from kit.ab.users import user_metrics
from kit.contract import require_columns
from kit.results import Result

_SEP = "\x1f"  # joins arm and day in one grouping key; cannot occur in an arm name from the contract's ids


def _activity_days(source, exposures: ir.Table, start_day: dt.date, end_day: dt.date, window_end: dt.datetime,
                    gmv_basis: str) -> tuple[ir.Table, ir.Table]:
    """Per (user, local day) from exposure to the window's end: detail-page views and add-to-carts, orders and GMV."""
    events = source.between("events", start_day, end_day)
    events = events.filter(events.event.isin(["pdp_view", "add_to_cart"]))
    e = events.join(exposures, "user_id").select("user_id", "ts", "event", "first_exposure_at")
    e = e.filter((e.ts >= e.first_exposure_at) & (e.ts < window_end))
    count = lambda cond: cond.sum()  # noqa: E731
    event_days = e.group_by("user_id", day=e.ts.date()).aggregate(
        d_pdp_views=count(e.event == "pdp_view"), d_add_to_carts=count(e.event == "add_to_cart"))

    orders = source.between("orders", start_day, end_day)
    if gmv_basis == "net_of_refunds":
        orders = orders.filter(orders.status == "paid")
    o = orders.join(exposures, "user_id").select("user_id", "paid_at", "gmv", "first_exposure_at")
    o = o.filter((o.paid_at >= o.first_exposure_at) & (o.paid_at < window_end))
    order_days = o.group_by("user_id", day=o.paid_at.date()).aggregate(d_orders=ibis._.count(), d_revenue=o.gmv.sum())
    return event_days, order_days


def _window(final: ir.Table) -> tuple[dt.date, dt.date, dt.datetime]:
    bounds = final.aggregate(first=final.first_exposure_at.min(), last=final.first_exposure_at.max()).to_pyarrow().to_pylist()[0]
    start_day, end_day = bounds["first"].date(), bounds["last"].date()
    return start_day, end_day, dt.datetime.combine(end_day + dt.timedelta(days=1), dt.time())


def daily_user_metrics(source, experiment_id: str, pre_window_days: int = 14, *, gmv_basis: str = "paid",
                       users: ir.Table | None = None) -> ir.Table:
    """One row per (user, day ≥ exposure day): measures of :func:`user_metrics` cumulated to the end of ``day``.

    ``users``: the experiment's :func:`user_metrics` table if already built (e.g. cached), to reuse it.
    """
    final = users if users is not None else user_metrics(source, experiment_id, pre_window_days, gmv_basis=gmv_basis)
    start_day, end_day, window_end = _window(final)
    exposures = final.select("user_id", "first_exposure_at")
    event_days, order_days = _activity_days(source, exposures, start_day, end_day, window_end, gmv_basis)

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
        (daily["orders"] > 0).ifelse(1, 0).cast("int64").name("converted"),
        "pre_pdp_views", "pre_add_to_carts", "pre_orders", "pre_revenue", "pre_converted",
    )


_CUMULATED = {"pdp_views": "d_pdp_views", "add_to_carts": "d_add_to_carts", "orders": "d_orders",
              "revenue": "d_revenue", "converted": "d_orders"}  # column of daily_user_metrics -> daily measure it sums
_FIXED = ("pre_pdp_views", "pre_add_to_carts", "pre_orders", "pre_revenue", "pre_converted")


def daily_arm_moments(source, users: ir.Table, metrics, *, gmv_basis: str = "paid",
                      cuped: bool = True) -> tuple[pd.DataFrame, Moments]:
    """Per (arm, day) moments of :func:`daily_user_metrics` for the metrics' columns, without its users × days grid.

    Returns the ``arm``/``day`` (ISO text) of each row, sorted by arm then day, and their :class:`Moments`: the
    numbers :func:`sequential_path` gets from the grid (exactly, for integer-valued columns; float columns such as
    ``revenue`` agree to rounding). ``users``: the experiment's :func:`user_metrics` table (cached, ideally).

    A user's cumulated measures change only on days with activity, so an arm's sums and cross-products on day
    ``d`` are running totals over days ≤ ``d`` of (a) the users exposed that day (their fixed ``pre_*`` columns;
    cumulated ones start at 0) and (b) each active user's change that day, ``X·Y − X₋·Y₋`` (``X₋``: the value the
    day before). The engine groups the sparse activity rows (a fraction of users × days) and returns arm × day
    rows; the running totals run in Python on those.
    """
    metric_list = resolve(metrics, cuped=cuped)
    columns: list[str] = []
    for metric in metric_list:
        require_columns(users.select("variant", *_CUMULATED, *_FIXED), metric.columns, f"metric {metric.name!r} ({metric!r})")
        columns.extend(c for c in metric.columns if c not in columns)
    pairs = sorted({(columns.index(a), columns.index(b)) for m in metric_list for a in m.columns for b in m.columns
                    if columns.index(a) <= columns.index(b)})
    cumulated = [c for c in columns if c in _CUMULATED]
    fixed = [c for c in columns if c in _FIXED]
    start_day, end_day, window_end = _window(users)

    # (a) users entering on their exposure day
    entry = users.select("variant", *fixed, day=users.first_exposure_at.date())
    entry_aggs = {"n": ibis._.count()}
    entry_aggs.update({f"s{columns.index(c)}": entry[c].sum() for c in fixed})
    entry_aggs.update({f"p{a}_{b}": (entry[columns[a]] * entry[columns[b]]).sum() for a, b in pairs
                       if columns[a] in fixed and columns[b] in fixed})
    frames = [entry.group_by("variant", "day").aggregate(**entry_aggs).to_pyarrow().to_pandas()]

    # (b) changes on the days a user was active
    if cumulated:
        exposures = users.select("user_id", "first_exposure_at")
        event_days, order_days = _activity_days(source, exposures, start_day, end_day, window_end, gmv_basis)
        measures = sorted({_CUMULATED[c] for c in cumulated})
        sides = [t for t, names in ((event_days, ("d_pdp_views", "d_add_to_carts")), (order_days, ("d_orders", "d_revenue")))
                 if any(m in names for m in measures)]
        if len(sides) == 1:
            active = sides[0]
        else:  # a user may view without ordering that day, or the reverse
            ev, od = sides
            joined = ev.outer_join(od, [ev.user_id == od.user_id, ev.day == od.day])
            active = joined.select(user_id=ibis.coalesce(ev.user_id, od.user_id), day=ibis.coalesce(ev.day, od.day),
                                   **{m: (ev if m in ev.columns else od)[m] for m in measures}).view()
        active = active.join(users.select("user_id", "variant", *fixed), "user_id")
        running = ibis.window(group_by="user_id", order_by="day", preceding=None, following=0)
        active = active.select("user_id", "variant", "day", *fixed,
                               **{f"c_{m}": active[m].fill_null(0).sum().over(running) for m in measures})
        before = ibis.window(group_by="user_id", order_by="day")
        active = active.mutate(**{f"b_{m}": active[f"c_{m}"].lag().over(before).fill_null(0) for m in measures})

        def value(column: str, prefix: str):
            total = active[f"{prefix}_{_CUMULATED[column]}"]
            return (total > 0).ifelse(1, 0).cast("int64") if column == "converted" else total

        change_aggs = {f"s{columns.index(c)}": (value(c, "c") - value(c, "b")).sum() for c in cumulated}
        for a, b in pairs:
            x, y = columns[a], columns[b]
            if x in _CUMULATED and y in _CUMULATED:
                change_aggs[f"p{a}_{b}"] = (value(x, "c") * value(y, "c") - value(x, "b") * value(y, "b")).sum()
            elif x in _CUMULATED or y in _CUMULATED:
                moving, steady = (x, y) if x in _CUMULATED else (y, x)
                change_aggs[f"p{a}_{b}"] = ((value(moving, "c") - value(moving, "b")) * active[steady]).sum()
        frames.append(active.group_by("variant", "day").aggregate(**change_aggs).to_pyarrow().to_pandas())

    arms = sorted(frames[0]["variant"].astype(str).unique())
    days = list(pd.date_range(start_day, end_day, freq="D").date)
    arm_at, day_at = {a: i for i, a in enumerate(arms)}, {d: i for i, d in enumerate(days)}

    def running_total(name: str) -> np.ndarray:
        # integer sums stay integers until the end, so the running totals are exact
        parts = [f for f in frames if name in f.columns]
        kind = np.int64 if all(pd.api.types.is_integer_dtype(f[name]) for f in parts) else np.float64
        grid = np.zeros((len(arms), len(days)), dtype=kind)
        for f in parts:
            np.add.at(grid, (f["variant"].astype(str).map(arm_at).to_numpy(), f["day"].map(day_at).to_numpy()),
                      f[name].fillna(0).to_numpy(dtype=kind))
        return np.cumsum(grid, axis=1).astype(np.float64)

    n = running_total("n")
    k = len(columns)
    sums = np.stack([running_total(f"s{i}") for i in range(k)], axis=-1)
    cross = np.full((len(arms), len(days), k, k), np.nan)
    for a, b in pairs:
        cross[:, :, a, b] = cross[:, :, b, a] = running_total(f"p{a}_{b}")
    present = n > 0  # an arm with no user exposed yet has no row that day
    arm_index, day_index = np.nonzero(present)
    rows = pd.DataFrame({"arm": [arms[i] for i in arm_index], "day": [days[j].isoformat() for j in day_index]})
    return rows, Moments(tuple(columns), n[present], sums[present], cross[present])


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

    def finding(self, metric: str) -> str:
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
    return replay(parts, moments, metric_list, control=control, alpha=alpha, correction=correction,
                  planned_users=planned_users, prior_sd=prior_sd, variant=variant)


def replay(parts: pd.DataFrame, moments: Moments, metrics, *, control: str | None = None, alpha: float = 0.05,
           correction: str = "holm", planned_users: float | None = None, prior_sd: float | None = 0.3,
           variant: str = "variant", cuped: bool = True) -> SequentialPath:
    """The statistics of :func:`sequential_path` from per-(arm, day) moments (``parts``: ``arm``, ``day`` per row)."""
    metric_list = resolve(metrics, cuped=cuped)
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
            seq, fixed = (r.to_pandas() for r in compute_modes(day_arms, sub, metric_list, chosen, (True, False), **options))
        except ValueError:
            continue  # e.g. no add-to-cart yet in an arm on the first day: nothing to test that day
        seq.insert(0, "day", dt.date.fromisoformat(d))
        for column in ("ci_low", "ci_high", "rel_ci_low", "rel_ci_high", "pvalue", "pvalue_adj", "significant"):
            seq[f"{column}_fixed"] = fixed[column].to_numpy()
        frames.append(seq)
    if not frames:
        raise ValueError("no day of the experiment has every arm with at least two users")
    return SequentialPath(pd.concat(frames, ignore_index=True), planned, alpha)
