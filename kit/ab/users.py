"""Per-user experiment metrics built in the engine from the data contract.

For each user exposed in an experiment (``experiments``), counted from the user's first exposure
to the end of the experiment window:

- ``pdp_views``, ``add_to_carts`` (``events``), ``orders``, ``revenue`` (``orders.gmv``), ``converted`` (0/1);
- the same measures in the ``pre_window_days`` before the user's own first exposure, prefixed
  ``pre_``: pre-treatment behaviour, hence valid CUPED covariates.

The window ends at the end of the local day of the last exposure unless ``end`` is given (then
only users exposed by the end of that day are included, as an analyst looking on that day saw). Only
the result's aggregates (through :func:`kit.ab.analyze`) ever leave the engine.
"""
from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

MEASURES = ("pdp_views", "add_to_carts", "orders", "revenue", "converted")


def _window_bounds(exposures: ir.Table, experiment_id: str, source, end: dt.date | None):
    bounds = exposures.aggregate(users=ibis._.count(), first=exposures.first_exposure_at.min(),
                                 last=exposures.first_exposure_at.max()).to_pyarrow().to_pylist()[0]
    if not bounds["users"]:
        known = (source.table("experiments").select("experiment_id").distinct().order_by("experiment_id")
                 .limit(50).to_pyarrow()["experiment_id"].to_pylist())
        raise ValueError(f"table 'experiments' has no rows for experiment_id={experiment_id!r}; "
                         f"experiments present: {', '.join(map(repr, known)) or 'none'}")
    start_day = bounds["first"].date()
    end_day = end if end is not None else bounds["last"].date()
    if end_day < start_day:
        raise ValueError(f"end={end_day} is before the experiment's first exposure ({start_day})")
    return start_day, end_day, int(bounds["users"])


def user_metrics(source, experiment_id: str, pre_window_days: int = 14, *, end: dt.date | str | None = None,
                 gmv_basis: str = "paid") -> ir.Table:
    """One row per exposed user: ``user_id, variant, first_exposure_at`` and the measures above.

    ``source``: a :class:`kit.Source`. ``gmv_basis``: ``paid`` counts every paid order (before
    refunds), ``net_of_refunds`` drops refunded orders — as in the params.
    """
    if not isinstance(pre_window_days, int) or pre_window_days < 1:
        raise ValueError(f"pre_window_days must be a whole number of days ≥ 1, got {pre_window_days!r}")
    if gmv_basis not in ("paid", "net_of_refunds"):
        raise ValueError(f"gmv_basis must be 'paid' or 'net_of_refunds', got {gmv_basis!r}")
    if isinstance(end, str):
        end = dt.date.fromisoformat(end)
    experiments = source.table("experiments")
    exposures = experiments.filter(experiments.experiment_id == str(experiment_id)).select(
        "user_id", "variant", "first_exposure_at")
    start_day, end_day, _ = _window_bounds(exposures, experiment_id, source, end)
    window_end = dt.datetime.combine(end_day + dt.timedelta(days=1), dt.time())
    # a window cut short (end=) keeps only the users exposed by then
    exposures = exposures.filter(exposures.first_exposure_at < window_end)
    lookback = ibis.interval(days=pre_window_days)
    earliest = start_day - dt.timedelta(days=pre_window_days)

    events = source.between("events", earliest, end_day)
    events = events.filter(events.event.isin(["pdp_view", "add_to_cart"]))
    e = events.join(exposures, "user_id").select("user_id", "ts", "event", "first_exposure_at")
    post = (e.ts >= e.first_exposure_at) & (e.ts < window_end)
    pre = (e.ts >= e.first_exposure_at - lookback) & (e.ts < e.first_exposure_at)
    count = lambda cond: cond.sum()  # noqa: E731
    event_counts = e.group_by("user_id").aggregate(
        pdp_views=count(post & (e.event == "pdp_view")), add_to_carts=count(post & (e.event == "add_to_cart")),
        pre_pdp_views=count(pre & (e.event == "pdp_view")), pre_add_to_carts=count(pre & (e.event == "add_to_cart")))

    orders = source.between("orders", earliest, end_day)
    if gmv_basis == "net_of_refunds":
        orders = orders.filter(orders.status == "paid")
    o = orders.join(exposures, "user_id").select("user_id", "paid_at", "gmv", "first_exposure_at")
    o_post = (o.paid_at >= o.first_exposure_at) & (o.paid_at < window_end)
    o_pre = (o.paid_at >= o.first_exposure_at - lookback) & (o.paid_at < o.first_exposure_at)
    order_sums = o.group_by("user_id").aggregate(
        orders=count(o_post), revenue=o_post.ifelse(o.gmv, 0.0).sum(),
        pre_orders=count(o_pre), pre_revenue=o_pre.ifelse(o.gmv, 0.0).sum())

    joined = exposures.left_join(event_counts, "user_id").left_join(order_sums, "user_id")
    zero = lambda name, kind="int64": joined[name].fill_null(0).cast(kind).name(name)  # noqa: E731
    return joined.select(
        exposures.user_id, exposures.variant, exposures.first_exposure_at,
        zero("pdp_views"), zero("add_to_carts"), zero("orders"), zero("revenue", "float64"),
        (joined.orders.fill_null(0) > 0).ifelse(1, 0).cast("int64").name("converted"),
        zero("pre_pdp_views"), zero("pre_add_to_carts"), zero("pre_orders"), zero("pre_revenue", "float64"),
        (joined.pre_orders.fill_null(0) > 0).ifelse(1, 0).cast("int64").name("pre_converted"),
    )
