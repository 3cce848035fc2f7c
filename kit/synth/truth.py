"""truth.json: the planted values, computed from the generator's own state (schema: docs/truth-schema.md).

Definitions (also in docs/truth-schema.md):
- channel incremental GMV: realised GMV of the orders the channel caused (the generator knows the cause);
  ROAS = that / spend; mROAS = steady-state d(weekly GMV)/d(weekly spend) at the period's mean weekly spend.
- funnel step rates: the mean planted probability of the sessions at the previous step (exactly what
  a per-session rate estimates, up to sampling error).
- experiment lifts: potential outcomes over the logged exposed users (ctr: relative change of
  expected add-to-carts per pdp view; conversion/revenue: expected per-user values under each arm).
- promotion incremental GMV: realised GMV × (1 − 1/M), per day and category, where M is the planted
  ratio of expected GMV with the promotion to expected GMV without it (M < 1 on dips).
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from kit.synth import media as media_mod
from kit.synth import plan


def _r(x: float, digits: int = 6) -> float:
    return float(round(float(x), digits))


def _quarters(cal) -> np.ndarray:
    return np.array(cal.quarter)


def _period_sums(values_by_day: np.ndarray, quarter_of_day: np.ndarray) -> dict:
    out = {"total": float(values_by_day.sum())}
    for q in sorted(set(quarter_of_day)):
        out[q] = float(values_by_day[quarter_of_day == q].sum())
    return out


def _dark_flights(dark: np.ndarray, week_start: list) -> list:
    """[first Monday, last Sunday] of each run of dark (zero-spend) weeks."""
    flights, w = [], 0
    while w < dark.size:
        if dark[w]:
            end = w
            while end + 1 < dark.size and dark[end + 1]:
                end += 1
            flights.append([week_start[w].isoformat(), (week_start[end] + dt.timedelta(days=6)).isoformat()])
            w = end + 1
        else:
            w += 1
    return flights


def _channels(run, orders: dict) -> dict:
    cal, med = run.cal, run.media
    qday = _quarters(cal)
    n_days = cal.n_days
    result = {}
    week_start = [cal.dates[0] + dt.timedelta(days=7 * w) for w in range(med.weekly_spend.shape[1])]
    for i, name in enumerate(plan.PAID):
        m = plan.MEDIA[name]
        spend = _period_sums(med.daily_spend[i], qday)
        caused = np.bincount(orders["day"], weights=np.where(orders["cause"] == i + 1, orders["gmv"], 0.0), minlength=n_days)
        last = np.bincount(orders["day"], weights=np.where(orders["channel"] == plan.CHANNELS.index(name), orders["gmv"], 0.0),
                           minlength=n_days)
        incremental = _period_sums(caused, qday)
        expected = _period_sums(med.daily_incremental[i], qday)
        last_click = _period_sums(last, qday)
        days = {"total": n_days, **{q: int((qday == q).sum()) for q in set(qday)}}
        result[name] = {
            "adstock": m.adstock,
            "saturation": {"kind": "hill", "half_saturation": _r(med.half_saturation[i], 2), "shape": m.shape},
            "beta": _r(med.beta[i], 2),
            "spend": {k: _r(v, 2) for k, v in spend.items()},
            "incremental_gmv": {k: _r(v, 2) for k, v in incremental.items()},
            "expected_incremental_gmv": {k: _r(v, 2) for k, v in expected.items()},
            "roas": {k: _r(incremental[k] / spend[k]) for k in spend},
            "expected_roas": {k: _r(expected[k] / spend[k]) for k in spend},
            "last_click_roas": {k: _r(last_click[k] / spend[k]) for k in spend},
            "last_click_gmv": {k: _r(v, 2) for k, v in last_click.items()},
            "mroas": {k: _r(media_mod.marginal_roas(spend[k] / (days[k] / 7.0), m.adstock, med.half_saturation[i], m.shape,
                                                  med.beta[i])) for k in spend},
            "dark_flights": _dark_flights(med.dark_weeks[i], week_start),
            "weekly": {
                "week_start": [d.isoformat() for d in week_start],
                "spend": [_r(x, 2) for x in med.weekly_spend[i]],
                "adstock": [_r(x, 2) for x in med.weekly_adstock[i]],
                "expected_incremental_gmv": [_r(x, 2) for x in med.weekly_incremental[i]],
            },
        }
    return result


def _funnel(run) -> dict:
    steps = list(plan.STEPS)

    def rates(sums, counts) -> dict:
        return {step: _r(sums[j] / counts[j]) if counts[j] else None for j, step in enumerate(steps)}

    def combine(dim, value=None, quarter=None):
        total_s, total_c = np.zeros(4), np.zeros(4)
        for (q, d, v), (s, c) in run.funnel.items():
            if d == dim and (value is None or v == value) and (quarter is None or q == quarter):
                total_s += s
                total_c += c
        return total_s, total_c

    step_rates = {f"2025Q{q + 1}": rates(*combine("all", quarter=q)) for q in range(4)}
    step_rates["overall"] = rates(*combine("all"))
    names = {"device": plan.DEVICES, "channel": plan.CHANNELS, "customer": ("returning", "new")}
    segments = {dim: {label: rates(*combine(dim, value=v)) for v, label in enumerate(labels)} for dim, labels in names.items()}
    sessions = {dim: {label: int(combine(dim, value=v)[1][0]) for v, label in enumerate(labels)} for dim, labels in names.items()}
    cont = np.asarray(plan.SCREEN_CONTINUE)
    reach = np.r_[1.0, np.cumprod(cont)]
    exit_ = {str(k + 1): _r(1 - cont[k]) for k in range(len(cont))}
    worst = int(np.argmax(1 - cont)) + 1
    return {
        "steps": ["home_view", *steps],
        "unit": "session",
        "period": "2025 (events are logged for 2025 only: a 12-month clickstream retention)",
        "step_rates": step_rates,
        "segments": segments,
        "segment_sessions": sessions,
        "customer_definition": f"new = the session's local date is less than {plan.NEW_CUSTOMER_DAYS} days after the user's signup date",
        "peak": {"days": "Nov 1–11", "pay_factor": plan.PEAK_PAY_FACTOR, "pay_gap_median_seconds": plan.PEAK_PAY_GAP_MEDIAN_S},
        "screens": {"reach": {str(k + 1): _r(r) for k, r in enumerate(reach)}, "exit": exit_, "worst_screen": worst,
                    "max_screen": plan.MAX_SCREEN, "unit": "pdp view (screen 1 = the pdp_view event)",
                    "views_by_screens_reached": {str(k): int(c) for k, c in enumerate(run.views_by_screen) if k},
                    "note": f"exit[k] = share of views reaching screen k that leave there, for k < {plan.MAX_SCREEN}; "
                            f"screen {plan.MAX_SCREEN} is the end of the page"},
        "time_to_convert_seconds": {k: v for k, v in plan.GAP_MEDIAN_S.items()},
        "time_to_convert_definition": "median seconds from the first event of the previous step to the first event of the step, "
                                      "within a session (home_view → pdp_view → add_to_cart → checkout → pay); outside Double 11",
        "sessions": {"max_duration_seconds": plan.SESSION_MAX_S + 10, "min_gap_between_starts_seconds": 7200},
    }


def _experiments(run, logged: dict) -> dict:
    out = {}
    for e in run.experiments:
        spec = e.spec
        users = logged[spec.experiment_id]
        acc = {k: v[users] for k, v in e.acc.items()}
        arm = e.arm[users]
        views, base_carts = acc["views"], acc["base_carts"]
        ctr0 = base_carts.sum() / views.sum()
        conv_control = 1 - np.exp(acc["log_noconv_control"])
        conv_treated = 1 - np.exp(acc["log_noconv_treated"])
        treated_factor = float(min(e.pay_factor))
        lifts = {"ctr": {}, "conversion": {}, "revenue_per_user": {}}
        for a_i, a in enumerate(spec.arms[1:], start=1):
            f = float(e.pay_factor[a_i])
            lifts["ctr"][a] = _r(spec.ctr_lift.get(a, 0.0))
            lifts["conversion"][a] = _r(conv_treated.mean() / conv_control.mean() - 1) if f != 1.0 else 0.0
            lifts["revenue_per_user"][a] = _r(f - 1.0)
            assert f == 1.0 or f == treated_factor
        # Expected z of each ctr lift without CUPED: delta-method variance of the ratio from control users.
        ctrl = arm == 0
        v_c, c_c = views[ctrl], base_carts[ctrl]
        n_arm = len(users) / len(spec.arms)
        resid = c_c - ctr0 * v_c
        var_ratio = resid.var(ddof=1) / v_c.mean() ** 2
        z = {a: _r(spec.ctr_lift[a] * ctr0 / np.sqrt(2 * var_ratio / n_arm), 2) for a in spec.ctr_lift}
        exposed = views > 0
        counts = np.bincount(arm, minlength=len(spec.arms))
        corr = {}
        for metric in ("views", "carts"):
            pre, post = acc[f"pre_{metric}"], acc[metric]
            corr[metric] = _r(np.corrcoef(pre, post)[0, 1], 4)
        out[spec.experiment_id] = {
            "quarter": spec.quarter, "start": spec.start.isoformat(), "end": spec.end.isoformat(),
            "control": spec.arms[0], "arms": list(spec.arms[1:]),
            "split": {a: _r(1 / len(spec.arms)) for a in spec.arms},
            "srm": bool(spec.lost_share), "lost_share": dict(spec.lost_share),
            "baseline": {"ctr": _r(ctr0), "conversion": _r(conv_control.mean()),
                         "revenue_per_user": _r(acc["expected_revenue_control"].mean(), 4)},
            "true_lift": lifts,
            "winners": sorted(a for a, lift in spec.ctr_lift.items() if lift > 0 and spec.pay_factor.get(a, 1.0) == 1.0),
            "guardrail_breach": sorted(a for a, f in spec.pay_factor.items() if f < 1),
            "users": {a: int(c) for a, c in zip(spec.arms, counts)},
            "diagnostics": {"expected_z_ctr_without_cuped": z, "pre_post_correlation": corr,
                            "share_with_post_views": _r(exposed.mean(), 4), "pre_window_days": 14},
            "metric_definitions": "per exposed user, events/orders with ts ≥ first_exposure_at and local date ≤ end: "
                                  "pdp_views, add_to_carts, ctr = add_to_carts / pdp_views (ratio of sums), orders, "
                                  "revenue (GMV), converted (≥ 1 order)",
        }
    return out


def _expected_gmv(run):
    """[day, category] expected GMV with the promotions, and without (the counterfactual)."""
    dem, med = run.demand, run.media
    share = np.asarray(plan.CATEGORY_ORDER_SHARE)
    value = np.asarray(plan.CATEGORY_MEAN_GMV)
    mean_value = float(np.dot(share, value))
    media_orders = med.daily_incremental.sum(axis=0) / mean_value
    counterfactual = (dem.base + media_orders)[:, None] * share[None, :] * value[None, :]
    actual = (dem.base[:, None] * share[None, :] * dem.count_mult * dem.value_mult * value[None, :]
              + media_orders[:, None] * share[None, :] * value[None, :])
    for p, t, k, lam in dem.presale:
        inst = dem.instances[p]
        actual[inst.start, k] += lam * inst.spec.value_uplift * value[k]
    for p, t, k, lam in dem.member_extra:
        actual[t, k] += lam * value[k]
    return actual, counterfactual


def _promotions(run, orders: dict) -> dict:
    cal, dem = run.cal, run.demand
    n_days, n_cat = cal.n_days, len(plan.CATEGORIES)
    actual, counterfactual = _expected_gmv(run)
    multiplier = actual / counterfactual
    realised = np.zeros((n_days, n_cat))
    np.add.at(realised, (orders["day"], orders["category"]), orders["gmv"])
    incremental = realised * (1 - 1 / multiplier)
    expected_incremental = actual - counterfactual
    df = pd.DataFrame({"user": orders["user"], "day": orders["day"], "promo": orders["promo"], "gmv": orders["gmv"],
                       "presale": orders["is_presale"], "category": orders["category"]})
    first_order_day = df.groupby("user")["day"].min()
    out = {}
    for p, inst in enumerate(dem.instances):
        spec = inst.spec
        lo = inst.presale_start if inst.presale_start is not None else inst.start
        hi = min(inst.end + spec.post_days, n_days - 1)
        window = np.arange(lo, hi + 1)
        promoted, cannibalised = inst.promoted, inst.cannibalised
        daily_inc = incremental[np.ix_(window, promoted)].sum(axis=1)
        daily_can = incremental[np.ix_(window, cannibalised)].sum(axis=1) if len(cannibalised) else np.zeros(window.size)
        phase = np.where(window < inst.start, "before", np.where(window <= inst.end, "during", "after"))
        inc = {ph: float(daily_inc[phase == ph].sum()) for ph in ("before", "during", "after")}
        net = inc["before"] + inc["during"] + inc["after"]
        cannibal = float(daily_can.sum())
        own = df[df.promo == p]
        pre_days = (df.day >= lo - 14) & (df.day < lo) & df.category.isin(promoted)
        buyers = own.user.unique()
        repeat = float((first_order_day.loc[buyers] < lo).mean()) if len(buyers) else None
        controls = [c for c in plan.CATEGORIES if plan.CATEGORIES.index(c) not in set(promoted) | set(cannibalised)]
        entry = {
            "name": spec.name, "kind": spec.kind, "start": cal.dates[inst.start].isoformat(), "end": cal.dates[inst.end].isoformat(),
            "presale_start": cal.dates[inst.presale_start].isoformat() if inst.presale_start is not None else None,
            "promoted_categories": list(spec.promoted), "cannibalised_categories": list(spec.cannibalised),
            "control_categories": controls, "never_promoted_categories": list(plan.CONTROL_CATEGORIES),
            "daily_incremental_gmv": {cal.dates[t].isoformat(): _r(v, 2) for t, v in zip(window, daily_inc)},
            "daily_cannibalised_gmv": {cal.dates[t].isoformat(): _r(v, 2) for t, v in zip(window, daily_can) if phase[t - lo] == "during"}
            if len(cannibalised) else {},
            "incremental_gmv": {"before": _r(inc["before"], 2), "during": _r(inc["during"], 2), "after": _r(inc["after"], 2),
                                "net": _r(net, 2), "post_days": spec.post_days},
            "expected_incremental_gmv": {
                "during": _r(expected_incremental[np.ix_(np.arange(inst.start, inst.end + 1), promoted)].sum(), 2),
                "net": _r(expected_incremental[np.ix_(window, promoted)].sum(), 2)},
            "cannibalised_gmv": _r(cannibal, 2),
            "store_net_incremental_gmv": _r(net + cannibal, 2),
            "orders": int(len(own)),
            "gmv": _r(own.gmv.sum(), 2),
            "presale_share": _r(own.presale.mean(), 4) if len(own) else None,
            "aov": {"pre": _r(df[pre_days].gmv.mean(), 2), "during": _r(own.gmv.mean(), 2) if len(own) else None},
            "repeat_buyer_share": _r(repeat, 4) if repeat is not None else None,
            "planted": {"lift": spec.lift, "value_uplift": spec.value_uplift, "cannibal": spec.cannibal,
                        "pull_forward": spec.pull_forward, "decay_days": spec.decay_days, "presale_share": spec.presale_share,
                        "waiting_dip": spec.waiting_dip, "discount_rate": spec.discount_rate, "threshold": spec.threshold,
                        "coupon": spec.coupon, "members_only": spec.members_only},
        }
        if spec.members_only:
            day = df[df.day == inst.start]
            member = run.users.member[day.user.to_numpy()]
            entry["member_gmv_share"] = _r(day.gmv[member].sum() / day.gmv.sum(), 4)
        out[inst.promotion_id] = entry
    return out


def _overview(run, orders: dict) -> dict:
    cal = run.cal
    q_of_day = np.array([(d.year - 2024) * 4 + (d.month - 1) // 3 for d in cal.dates])
    labels = [f"{y}Q{q}" for y in (2024, 2025) for q in range(1, 5)]
    df = pd.DataFrame({"user": orders["user"], "q": q_of_day[orders["day"]], "gmv": orders["gmv"],
                       "refunded": orders["refunded"], "channel": orders["channel"]})
    first_q = df.groupby("user")["q"].min()
    groups = {"main_site": ("search_ads", "feed_ads", "natural_search", "direct"),
              "short_video": ("douyin", "kuaishou", "wechat_channels"),
              "private_domain": ("wecom", "mini_program", "sms_push"), "other": ("xiaohongshu", "referral")}
    out = {}
    for qi, label in enumerate(labels):
        d = df[df.q == qi]
        per_buyer = d.groupby("user").size()
        visitors = int(run.visitors[qi].sum())
        paid_s, nonpaid_s = run.sessions_by_quarter[qi][1], run.sessions_by_quarter[qi][0]
        spend = float(run.media.daily_spend[:, q_of_day == qi].sum())
        new_customers = int((first_q == qi).sum())
        out[label] = {
            "gmv": _r(d.gmv.sum(), 2), "gmv_net_of_refunds": _r(d.gmv[~d.refunded].sum(), 2), "orders": int(len(d)),
            "buyers": int(len(per_buyer)), "aov": _r(d.gmv.mean(), 2),
            "repurchase_rate": _r((per_buyer >= 2).mean(), 4), "new_customers": new_customers,
            "visitors": visitors, "conversion_rate": _r(len(per_buyer) / visitors, 4),
            "sessions": int(paid_s + nonpaid_s), "natural_traffic_share": _r(nonpaid_s / (paid_s + nonpaid_s), 4),
            "ad_spend": _r(spend, 2), "cac": _r(spend / new_customers, 2),
            "channel_group_share": {g: _r(d.gmv[d.channel.isin([plan.CHANNELS.index(c) for c in cs])].sum() / d.gmv.sum(), 4)
                                    for g, cs in groups.items()},
        }
    for qi in range(4, 8):
        cur, prev = out[labels[qi]], out[labels[qi - 4]]
        cur["gmv_yoy"] = _r(cur["gmv"] / prev["gmv"] - 1, 4)
    return {"quarters": out, "definitions": {
        "gmv": "sum of orders.gmv by local paid date (paid and refunded orders)",
        "repurchase_rate": "share of the quarter's buyers with ≥ 2 orders in the quarter",
        "new_customers": "users whose first order (since 2024-01-01) is in the quarter",
        "conversion_rate": "buyers / visitors (users with ≥ 1 session in the quarter)",
        "cac": "ad spend / new customers"}}


def build(run, orders: dict, logged: dict, seed: int) -> dict:
    """The planted truths written to ``truth.json``."""
    sizes = dict(sorted(run.out.rows.items()))
    return {
        "seed": int(seed),
        "scale": run.scale,
        "sizes": sizes,
        "period": {"start": plan.START.isoformat(), "end": plan.END.isoformat(), "events_from": plan.EVENTS_FROM.isoformat(),
                   "timezone": "Asia/Shanghai"},
        "channels": _channels(run, orders),
        "media_model": {
            "granularity": "week (Monday–Sunday, local dates); week 0 starts 2024-01-01",
            "adstock": "a_w = s_w + θ·a_{w-1}, a_0 = s_0 (s_w = the week's ad_spend.spend)",
            "saturation": "hill(a) = a^shape / (a^shape + half_saturation^shape)",
            "response": "expected incremental GMV of week w = beta·hill(a_w), spread evenly over the week's 7 days",
            "last_week": "the last week (2025-12-29..) is partial: drop it when fitting weekly",
            "max_abs_spend_correlation": _r(run.media.max_abs_correlation, 4),
            "dark_flights": f"each channel has {plan.DARK_FLIGHTS[0]}–{plan.DARK_FLIGHTS[1]} dark flights of {plan.DARK_WEEKS[0]}–"
                            f"{plan.DARK_WEEKS[1]} whole weeks (spend, impressions, clicks 0; see channels.<c>.dark_flights), "
                            f"off promotion weeks (presale start to end + {plan.DARK_PROMO_BUFFER_DAYS} days; member days: "
                            f"their week), ≤ {plan.DARK_MAX_CHANNELS} channels dark in any week; lit weeks vary 0.3×–2× their mean",
            "baseline": "weekly GMV minus the media response is a smooth baseline (trend ×1.4/year, weekday, yearly "
                        "seasonality) plus the promotions (see 'promotions')",
        },
        "experiments": _experiments(run, logged),
        "funnel": _funnel(run),
        "promotions": _promotions(run, orders),
        "overview": _overview(run, orders),
    }
