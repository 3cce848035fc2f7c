"""kit.promo on the sample data: the daily table, cost and KPIs cross-checked with pandas on the raw
files, and the planted truths of data/sample/truth.json recovered by the lift model."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import kit
import kit.promo as promo
from kit import config
from kit.format import figure
from tests.promo_reference import TIMEZONE, above_noise_floor, irreducible_sd, oracle_within, order_items_by_day


@pytest.fixture(scope="module")
def truth(sample_truth) -> dict:
    return sample_truth["promotions"]


@pytest.fixture(scope="module")
def raw(sample_dir) -> dict:
    """The raw files read with pandas only: the independent side of the cross-checks."""
    orders = pd.read_parquet(sample_dir / "orders.parquet")
    orders["local"] = orders["paid_at"].dt.tz_convert(TIMEZONE).dt.tz_localize(None)
    orders["day"] = orders["local"].dt.normalize()
    items = order_items_by_day(sample_dir)
    users = pd.read_parquet(sample_dir / "users.parquet")
    return {"orders": orders, "items": items, "users": users}


# ------------------------------------------------------------------------------------------------
# The contract side: daily table, cost, KPIs

def test_daily_table_matches_pandas(sample_source, raw, truth):
    table = promo.daily(sample_source, "2025_double11", post_days=14)
    t = truth["2025_double11"]
    assert table.attrs["promoted"] == t["promoted_categories"]
    assert table.attrs["controls"] == sorted(t["never_promoted_categories"])
    assert table.attrs["gap_days"] == (pd.Timestamp(t["start"]) - pd.Timestamp(t["presale_start"])).days
    per_day = raw["items"].pivot_table(index="day", columns="category", values="amount", aggfunc="sum", fill_value=0.0)
    per_day = per_day.reindex(pd.DatetimeIndex(table["date"]), fill_value=0.0)
    assert np.allclose(table["gmv"], per_day[t["promoted_categories"]].sum(axis=1))
    assert np.allclose(table["control_gmv"], per_day[["pets", "books"]].sum(axis=1))
    assert np.allclose(table["cannibalised_gmv"], per_day["snacks"])
    assert np.allclose(table["control_gmv_7d"], per_day[["pets", "books"]].sum(axis=1).rolling(7, center=True, min_periods=4).mean())
    start, end, presale = (pd.Timestamp(t[k]) for k in ("start", "end", "presale_start"))
    assert table["date"].iloc[-1] == end + pd.Timedelta(days=14)
    # a year before the presale, the presale, the event, 14 days after
    assert len(table) == 365 + (start - presale).days + (end - start).days + 1 + 14
    # Other promotions are masked (the October member day and the 7 days after it); this one's presale is not.
    member = pd.Timestamp(truth["2025_member_oct"]["start"])
    masked = table.set_index("date")["other_promotion"]
    assert masked[member:member + pd.Timedelta(days=7)].all()
    assert not masked[member + pd.Timedelta(days=8):].any()


def test_daily_stops_where_the_data_stop(sample_source):
    table = promo.daily(sample_source, "2025_member_dec", post_days=14)
    assert table["date"].iloc[-1] == pd.Timestamp("2025-12-31")


def test_daily_bad_input(sample_source):
    with pytest.raises(ValueError, match="no promotion_id 'nope'; ids present: 2024_cny_festival"):
        promo.daily(sample_source, "nope")
    with pytest.raises(ValueError, match="control category 'toys' not in order_items.category"):
        promo.daily(sample_source, "2025_double11", controls=["toys"])
    with pytest.raises(ValueError, match="apparel promoted by '2025_double11' cannot be a control"):
        promo.daily(sample_source, "2025_double11", controls=["apparel"])


def test_cost_and_kpis_match_pandas_and_truth(sample_source, raw, truth):
    orders, t = raw["orders"], truth["2025_double11"]
    own = orders[orders["promotion_id"] == "2025_double11"]
    first, end = pd.Timestamp(t["presale_start"]), pd.Timestamp(t["end"])
    day = pd.Timedelta(days=1)
    cost = promo.promotion_cost(sample_source, "2025_double11")
    assert cost["discount"] == pytest.approx(own["discount"].sum())
    spend = pd.read_parquet(config.SAMPLE_DIR / "ad_spend.parquet")
    spend["date"] = pd.to_datetime(spend["date"])
    during = spend[spend["date"].between(first, end)]["spend"].sum()
    before = spend[spend["date"].between(first - 28 * day, first - day)]["spend"].sum() / 28 * ((end - first).days + 1)
    assert cost["extra_ad_spend"] == pytest.approx(max(0.0, during - before))

    kpis = promo.event_kpis(sample_source, "2025_double11")
    presale = own["is_presale"].mean()
    assert kpis.value("presale share of event orders") == pytest.approx(presale)
    assert kpis.value("presale share of event orders") == pytest.approx(t["presale_share"], abs=5e-5)
    assert kpis.value("AOV of event orders") == pytest.approx(own["gmv"].mean())
    assert kpis.value("AOV of event orders") == pytest.approx(t["aov"]["during"], abs=0.005)
    pre = orders[orders["day"].between(first - 14 * day, first - day)]
    promoted_ids = raw["items"][raw["items"]["category"].isin(t["promoted_categories"])]["order_id"].unique()
    pre = pre[pre["order_id"].isin(promoted_ids)]
    assert kpis.value("AOV before (14 days, promoted categories)") == pytest.approx(pre["gmv"].mean())
    assert kpis.value("AOV before (14 days, promoted categories)") == pytest.approx(t["aov"]["pre"], abs=0.005)
    first_order = orders.groupby("user_id")["local"].min()
    repeat = (first_order.loc[own["user_id"].unique()] < first).mean()
    assert kpis.value("repeat-buyer share of event buyers") == pytest.approx(repeat)
    # truth.json's figure comes from the generator's arrays; it differs from the data by 0.2 points.
    assert kpis.value("repeat-buyer share of event buyers") == pytest.approx(t["repeat_buyer_share"], abs=0.01)
    window = orders[orders["day"].between(first, end)]
    members = set(raw["users"].loc[raw["users"]["member_tier"].notna(), "user_id"])
    share = window.loc[window["user_id"].isin(members), "gmv"].sum() / window["gmv"].sum()
    assert kpis.value("member share of GMV over the promotion's days") == pytest.approx(share)


def test_member_day_share_matches_truth(sample_source, truth):
    kpis = promo.event_kpis(sample_source, "2025_member_oct")
    assert kpis.value("member share of GMV over the promotion's days") == pytest.approx(
        truth["2025_member_oct"]["member_gmv_share"], abs=5e-5)


# ------------------------------------------------------------------------------------------------
# Planted truths: the 90% interval covers the true incremental GMV, the estimate is within 20%

PROMOTIONS_2025 = ["2025_cny_festival", "2025_member_mar", "2025_member_apr", "2025_618", "2025_member_jul",
                   "2025_member_aug", "2025_flash_snacks", "2025_920_brand_day", "2025_member_oct", "2025_double11",
                   "2025_double12_coupon", "2025_member_dec"]


@pytest.fixture(scope="module")
def estimates(sample_source, truth) -> dict:
    results = {}
    for pid in PROMOTIONS_2025:
        t = truth[pid]
        post = t["incremental_gmv"]["post_days"]
        table = promo.daily(sample_source, pid, post_days=post)
        results[pid] = promo.lift(table, t["start"], t["end"], controls=promo.control_columns(table), post_days=post,
                                  gap_days=table.attrs["gap_days"], exclude="other_promotion", alpha=0.1, warn=False)
    return results


def _cases():
    for pid in PROMOTIONS_2025:
        for period in ("during", "after", "net"):
            yield pid, period


@pytest.mark.parametrize("pid", [p for p in PROMOTIONS_2025 if "member" not in p])
def test_truth_during_inside_90_percent_interval(estimates, truth, pid):
    """The events with large effects (festivals, brand day, coupon, flash sale): each one, strictly."""
    true = truth[pid]["incremental_gmv"]["during"]
    row = estimates[pid].row("during")
    assert row["ci_low"] <= true <= row["ci_high"], (row["effect"], row["ci_low"], row["ci_high"], true)


def test_truth_coverage_of_90_percent_intervals(estimates, truth):
    """Every (promotion, period) of 2025: a calibrated 90% interval misses about 1 case in 10, so
    'all inside' is not what a correct model promises; more misses than a binomial(n, 0.1) gives
    in 99% of samples means the intervals are too narrow."""
    misses, cases = [], 0
    for pid, period in _cases():
        row = estimates[pid].row(period)
        if row["days"] == 0:
            assert truth[pid]["incremental_gmv"][period] == 0  # no after period planted (member days)
            continue
        cases += 1
        true = truth[pid]["incremental_gmv"][period]
        if not row["ci_low"] <= true <= row["ci_high"]:
            misses.append(f"{pid} {period}: truth {true:,.0f} outside [{row['ci_low']:,.0f}, {row['ci_high']:,.0f}]")
    allowed = int(stats.binom.ppf(0.99, cases, 0.1))
    assert len(misses) <= allowed, f"{len(misses)} of {cases} outside (allowed {allowed}):\n" + "\n".join(misses)


@pytest.mark.parametrize("pid, period", [(p, q) for p in PROMOTIONS_2025 for q in ("during", "after", "net")])
def test_truth_within_20_percent(estimates, truth, raw, pid, period):
    """Within 20% of the truth, strictly, wherever an oracle could be: where the irreducible noise of the
    realised counterfactual alone (computed from the raw orders, not from the model's interval) leaves an
    estimator that knew the expected counterfactual exactly less than a 90% chance of being within 20%
    (1.645 s.d. > 20% of the truth), no estimator can promise it: xfail, with the figures."""
    t = truth[pid]
    true = t["incremental_gmv"][period]
    row = estimates[pid].row(period)
    if row["days"] == 0:
        pytest.skip("no after period (member day)")
    error = (row["effect"] - true) / abs(true)
    if abs(error) <= 0.2:
        return
    floor = irreducible_sd(raw["items"], t, period) / abs(true)
    if not above_noise_floor(floor):
        pytest.xfail(f"below the noise floor: error {error:+.0%}; the realised counterfactual's own noise is "
                     f"±{floor:.0%} of the truth (1 s.d.), so even an oracle is within 20% with "
                     f"probability {oracle_within(floor):.0%}")
    message = (f"estimate {row['effect']:,.0f} is {error:+.0%} off the truth {true:,.0f} "
               f"(irreducible noise ±{floor:.0%} of the truth)")
    if (pid, period) in KNOWN_MODEL_MISSES:
        pytest.xfail(f"known model miss, open: {message}; {KNOWN_MODEL_MISSES[(pid, period)]}")
    pytest.fail(message)


# Misses above the noise floor: the model's fault, kept visible (xfail, not strict) until fixed.
KNOWN_MODEL_MISSES = {
    ("2025_cny_festival", "net"): "the level drifts over a pre-period of which only 203 of 365 days are usable "
                                  "(masked promotions) and the controls explain 38% of it; within 20% in 6 of 12 "
                                  "redraws of the sample (bench/results/promo.md, bench_promo.py --recovery)",
}


def test_the_first_promotion_has_no_history(sample_source, truth):
    t = truth["2024_cny_festival"]
    table = promo.daily(sample_source, "2024_cny_festival")
    with pytest.raises(ValueError, match=r"pre-period too short: 7 usable day\(s\)"):
        promo.lift(table, t["start"], t["end"], controls=promo.control_columns(table))


def test_review_of_a_member_day_and_the_quarter(sample_source):
    params = kit.params.load("2025Q4", promo={"placebos": 2, "promotions": ["2025_member_dec", "2024_cny_festival"]})
    quarter = promo.review_quarter(sample_source, params)
    assert list(quarter.reviews) == ["2025_member_dec"]
    assert "pre-period too short" in quarter.failures["2024_cny_festival"]
    review = quarter.reviews["2025_member_dec"]
    assert review.store.cannibalised is None  # every non-control category is promoted on member days
    assert review.lift.row("after")["days"] == 3 and "3 of the 14 days" in review.warnings[0]
    table = quarter.to_pandas()
    assert table.loc[0, "store_net"] == pytest.approx(review.lift.row("net")["effect"])
    assert table.loc[0, "incremental_roas"] == pytest.approx(review.lift.row("net")["effect"] / review.cost["cost"])
    verdict = review.finding()
    assert f"{figure(review.lift.row('during')['effect'])} yuan incremental during the event" in verdict
    assert "could not be analysed" in quarter.finding()
