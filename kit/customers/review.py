"""A quarter's customer review: every customer result of notebook 05 from one call, and its finding."""
from __future__ import annotations

import datetime as _dt

import pandas as pd

from kit import format as fmt
from kit import params as params_module
from kit.customers import clv, retention
from kit.results import Result


class CustomersReview(Result):
    """The quarter's layers, movement, cohorts, repurchase, dormancy, outreach, members and CLV."""

    def __init__(self, quarter: str, **parts):
        self.quarter = quarter
        self.__dict__.update(parts)
        self.title = f"Customers and retention, {quarter}"

    def to_pandas(self) -> pd.DataFrame:
        """The RFM layers (the review's headline table)."""
        return self.layers.to_pandas()

    def clv_by_layer(self) -> retention.Table:
        """Customers, mean expected purchases, P(alive) and CLV per layer (as of the quarter's end)."""
        per = self.clv_customers.merge(self.layer_of, on="user_id", how="inner")
        g = per.groupby("layer").agg(customers=("user_id", "size"), expected_purchases=("expected_purchases", "mean"),
                                     p_alive=("p_alive", "mean"), clv=("clv", "mean"), total_clv=("clv", "sum"))
        g = g.reindex([layer for layer in retention.LAYERS if layer in g.index]).reset_index()
        notes = ["means per customer of the layer; expected purchases and CLV over the params' horizon (customers.clv_horizon_weeks)"]
        if self.clv.gamma_gamma_left_out:
            notes.append(f"{self.clv.gamma_gamma_left_out:,} repeat customers of no positive mean spend (free or refunded "
                         "repeat orders) are left out of the Gamma-Gamma fit and valued at the population's mean spend")
        return retention.Table(g, "Lifetime value per layer", notes)

    def finding(self) -> str:
        """The quarter's finding in words (Markdown), every number computed from the results above."""
        lay = self.layers.to_pandas().set_index("layer")
        high = lay.loc[retention.HIGH]
        lines = [f"**{retention.HIGH}** customers are {fmt.percent(high['customer_share'])} of customers and "
                 f"{fmt.percent(high['gmv_share'])} of the year's GMV (AOV {self.symbol}{fmt.amount(high['aov'])})."]
        move = self.movement.to_pandas().set_index("layer before")
        slid = int(move.at[retention.HIGH, retention.DORMANT]) if retention.HIGH in move.index else 0
        lines.append(f"{slid:,} of last quarter's {int(move.loc[retention.HIGH].sum()):,} {retention.HIGH} customers slid to "
                     f"{retention.DORMANT} since then.")
        rep = self.repurchase_change.to_pandas().set_index("within_days")
        if 30 in rep.index:
            r = rep.loc[30]
            lines.append(f"30-day repurchase of the quarter's new customers: {fmt.percent(r['rate_now'])} against "
                         f"{fmt.percent(r['rate_before'])} last quarter ({fmt.points(r['change'])}, 95% CI {fmt.points(r['ci_low'])} … "
                         f"{fmt.points(r['ci_high'])}).")
        lines.append(f"Repurchase cycle: median {self.cycle.stats['median']:.0f} days between orders.")
        if self.outreach is not None and len(self.outreach.frame):
            for _, c in self.outreach.frame.iterrows():
                verdict = "a real effect" if c["ci_low"] > 0 else "not distinguishable from no effect"
                lines.append(f"Campaign {c['campaign']}: {fmt.percent(c['treatment_rate'])} of the reached woke up against "
                             f"{fmt.percent(c['holdout_rate'])} of the holdout: incremental {fmt.points(c['incremental'])} (95% CI "
                             f"{fmt.points(c['ci_low'])} … {fmt.points(c['ci_high'])}, p = {c['pvalue']:.2g}), about "
                             f"{c['incremental_customers']:,.0f} customers woken by the campaign — {verdict}.")
        if self.members is not None:
            m = self.members.frame
            lines.append(f"Members are {fmt.percent(m.loc[m['tier'] != 'non-member', 'gmv_share'].sum())} of the quarter's GMV; "
                         "repurchase in the quarter by tier: " + ", ".join(f"{row.tier} {fmt.percent(row.repurchase)}" for row in m.itertuples())
                         + f"; share in {retention.HIGH}: " + ", ".join(f"{row.tier} {fmt.percent(row.high_value_share)}" for row in m.itertuples())
                         + ".")
        h = self.holdout_check
        lines.append(f"CLV model check: {h['predicted'].mul(h['customers']).sum():,.0f} purchases predicted for the "
                     f"quarter by the model fitted on the year before, {h['actual'].mul(h['customers']).sum():,.0f} made.")
        return "\n".join(f"- {line}" for line in lines)


def _orders(source, params):
    orders = source.table("orders")
    if params.gmv_basis == "net_of_refunds":
        orders = orders.filter(orders.status == "paid")
    return orders


def review_quarter(source, params, **overrides) -> CustomersReview:
    """Every customer result of ``params.quarter`` on ``source``, with ``overrides`` of ``params.customers``
    (``dormant_days=60``, ``campaigns=[...]``, …; None keeps the params' value)."""
    c = params_module.section(params, "customers", **overrides)
    orders = _orders(source, params).cache()   # read once, shared by every result; released after
    try:
        return _review(source, params.period, c, orders, params.currency.symbol)
    finally:
        orders.release()


def _review(source, q, c, orders, symbol: str) -> CustomersReview:
    prev = q.previous()
    rules = retention.rfm_rules(c)
    rfm_now = retention.customer_rfm(orders, q.end, **rules)
    layers = retention.rfm_layers(orders, q.end, **rules)
    movement = retention.layer_movement(orders, prev.end, q.end, **rules)
    cohorts = retention.cohorts(orders, q.end)
    rep_now = retention.repurchase(orders, q.start, q.end, horizons=c.repurchase_days, alpha=c.alpha)
    rep_prev = retention.repurchase(orders, prev.start, prev.end, horizons=c.repurchase_days, alpha=c.alpha)
    cycle = retention.repurchase_cycle(orders, q.start, q.end)
    at = q.end - _dt.timedelta(days=c.wake_days)
    dormancy = retention.dormancy(orders, at, tiers=c.dormancy_tiers, wake_days=c.wake_days, alpha=c.alpha)
    outreach = None
    if "outreach" in source.tables():
        # named campaigns wherever they were sent; otherwise those sent in the quarter
        campaigns = c.campaigns or None
        sent = source.table("outreach") if campaigns else source.table("outreach", quarter=q)
        if campaigns or int(sent.count().execute()):
            outreach = retention.outreach_lift(orders, sent, wake_days=c.wake_days, alpha=c.alpha, campaigns=campaigns)
    members = None
    if "users" in source.tables():
        users = source.table("users")
        if "member_tier" in users.columns:
            members = retention.member_tiers(orders, users, q.start, q.end, rfm=rfm_now)
    # CLV: fitted on the calibration days before the quarter; the quarter is the holdout.
    cal_start = q.start - _dt.timedelta(days=c.calibration_days)
    cal_end = q.start - _dt.timedelta(days=1)
    summary = clv.rfm_summary(orders, cal_end, start=cal_start, later="drop")
    fit = clv.fit_clv(summary)
    days = retention._days(orders)
    in_quarter = days.filter(days.day.between(q.start, q.end))
    actual = in_quarter.group_by("user_id").aggregate(purchases=in_quarter.count()).execute()
    holdout = fit.holdout(actual, duration=q.days / 7.0)
    now = clv.rfm_summary(orders, q.end, start=cal_start, later="drop")
    fitted_now = clv.CLVFit(now, fit.bgnbd_params, fit.bgnbd_loglik, fit.gamma_gamma_params, fit.gamma_gamma_loglik)
    clv_customers = fitted_now.customers(horizon=c.clv_horizon_weeks, discount_rate=c.discount_rate)
    layer_of = rfm_now.select("user_id", "layer").execute()
    return CustomersReview(q.label, layers=layers, movement=movement, cohorts=cohorts, repurchase_now=rep_now,
                           repurchase_before=rep_prev, repurchase_change=retention.repurchase_change(rep_now, rep_prev, c.alpha),
                           cycle=cycle, dormancy=dormancy, outreach=outreach, members=members, clv=fit,
                           holdout_check=holdout, clv_customers=clv_customers, layer_of=layer_of,
                           symbol=symbol)
