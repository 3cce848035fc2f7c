"""Customer retention on the sample: brute-force pandas checks and the planted truths."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

import kit
import kit.customers as kc
from kit import config


@pytest.fixture(scope="module")
def source():
    if not (config.SAMPLE_DIR / "outreach.parquet").exists():
        pytest.skip("the sample has no outreach table (run kit synth)")
    return kit.connect(params=kit.params.load("2025Q4"))


@pytest.fixture(scope="module")
def orders(source):
    return source.table("orders").select("user_id", "paid_at", "gmv").cache()


@pytest.fixture(scope="module")
def days(orders):
    frame = orders.execute()
    frame["day"] = frame["paid_at"].dt.normalize()
    return frame.groupby(["user_id", "day"]).agg(gmv=("gmv", "sum"), orders=("gmv", "size")).reset_index()


@pytest.fixture(scope="module")
def truth():
    return json.loads((config.SAMPLE_DIR / "truth.json").read_text(encoding="utf-8"))["customers"]


def test_layers_against_pandas(orders, days):
    end = pd.Timestamp("2025-12-31")
    got = kc.customer_rfm(orders, end.date()).execute().set_index("user_id").sort_index()
    d = days[days.day <= end]
    window = d[d.day > end - pd.Timedelta(days=365)]
    per = d.groupby("user_id").agg(first=("day", "min"), last=("day", "max"))
    per["recency"] = (end - per["last"]).dt.days
    per["tenure"] = (end - per["first"]).dt.days
    per["frequency"] = window.groupby("user_id").size().reindex(per.index).fillna(0)
    per["monetary"] = window.groupby("user_id")["gmv"].sum().reindex(per.index).fillna(0)
    new = per.tenure < 90
    active = ~new & (per.recency <= 90)
    threshold = per.loc[active, "monetary"].quantile(0.8)
    layer = np.select([new, per.recency > 180, per.recency > 90, active & (per.frequency >= 2) & (per.monetary >= threshold)],
                      [kc.retention.NEW, kc.retention.CHURNED, kc.retention.DORMANT, kc.retention.HIGH], kc.retention.POTENTIAL)
    assert (got["recency_days"] == per["recency"]).all()
    assert np.allclose(got["monetary"], per["monetary"])
    assert (got["layer"] == layer).all()
    summary = kc.rfm_layers(orders, end.date()).to_pandas().set_index("layer")
    counts = pd.Series(layer, index=per.index).value_counts()
    assert (summary["customers"] == counts.reindex(summary.index)).all()
    assert summary["customer_share"].sum() == pytest.approx(1)


def test_cohorts_against_pandas(orders, days):
    got = kc.cohorts(orders, dt.date(2025, 12, 31)).to_pandas()
    d = days.copy()
    d["month"] = d.day.dt.to_period("M")
    d["cohort"] = d.groupby("user_id")["month"].transform("min")
    d["k"] = (d["month"] - d["cohort"]).apply(lambda off: off.n)
    cells = d.groupby(["cohort", "k"]).agg(customers=("user_id", "nunique"), gmv=("gmv", "sum")).reset_index()
    cells["cohort"] = cells["cohort"].astype(str)
    merged = got.merge(cells, left_on=["cohort", "months_since_first"], right_on=["cohort", "k"], suffixes=("", "_ref"))
    assert len(merged) == len(got) == len(cells)
    assert (merged["customers"] == merged["customers_ref"]).all()
    assert np.allclose(merged["gmv"], merged["gmv_ref"])


def test_repurchase_against_pandas(orders, days):
    got = kc.repurchase(orders, dt.date(2025, 7, 1), dt.date(2025, 9, 30)).to_pandas().set_index("within_days")
    d = days[days.day <= "2025-09-30"].sort_values(["user_id", "day"])
    first = d.groupby("user_id")["day"].min()
    second = d.groupby("user_id")["day"].apply(lambda s: s.iloc[1] if len(s) > 1 else pd.NaT)
    cohort = first[(first >= "2025-07-01") & (first <= "2025-09-30")]
    gap = (second.reindex(cohort.index) - cohort).dt.days
    for n in (30, 60, 90):
        eligible = cohort <= pd.Timestamp("2025-09-30") - pd.Timedelta(days=n)
        assert got.at[n, "eligible"] == eligible.sum()
        assert got.at[n, "repeat"] == (eligible & (gap <= n)).sum()
    assert ((got["ci_low"] <= got["rate"]) & (got["rate"] <= got["ci_high"])).all()


def test_outreach_recovers_the_planted_incremental_wake_up(source, orders, truth):
    camp = truth["outreach"]
    got = kc.outreach_lift(orders, source.table("outreach"), wake_days=camp["wake_days"]).to_pandas().iloc[0]
    assert got["treatment"] == camp["groups"]["treatment"] and got["holdout"] == camp["groups"]["holdout"]
    assert got["ci_low"] <= camp["incremental_wake"] <= got["ci_high"]
    se = np.sqrt(camp["natural_wake_rate"] * (1 - camp["natural_wake_rate"]) / got["holdout"])
    assert abs(got["holdout_rate"] - camp["natural_wake_rate"]) < 3 * se
    assert got["pvalue"] < 1e-6


def test_natural_wake_up_of_the_campaign_pool(orders, truth):
    # the pool (dormant >= 30 days at the send day) wakes within 30 days at the recorded natural rate
    camp = truth["outreach"]
    sent = dt.date.fromisoformat(camp["sent_at_local"][:10])
    got = kc.dormancy(orders, sent - dt.timedelta(days=1), tiers=[1, camp["dormant_days"] - 1], wake_days=camp["wake_days"])
    row = got.to_pandas().iloc[-1]
    # by whole days: the pool at the end of the day before the send also holds the 51 customers whose
    # last order came on the send day before 10:00 (they woke, in this count)
    assert abs(row["customers"] - camp["pool"]) < 0.001 * camp["pool"]
    assert abs(row["wake_rate"] - camp["natural_wake_rate"]) < 0.005


def test_member_tiers_follow_the_plan(source, truth):
    users = source.table("users").execute()
    members = users["member_tier"].notna()
    plan = truth["order_process"]
    assert members.mean() == pytest.approx(plan["member_share"], abs=0.005)
    shares = users.loc[members, "member_tier"].value_counts(normalize=True)
    for tier, share in plan["member_tiers"].items():
        assert shares[tier] == pytest.approx(share, abs=0.01)
    tiers = kc.member_tiers(source.table("orders"), source.table("users"), dt.date(2025, 10, 1), dt.date(2025, 12, 31)).to_pandas()
    by = tiers.set_index("tier")
    # members are planted 1.5x as active: each member tier buys more often than non-members
    assert (by.drop("non-member")["repurchase"] > by.at["non-member", "repurchase"]).all()


def test_review_quarter_and_finding(source):
    p = kit.params.load("2025Q4")
    review = kc.review_quarter(source, p)
    text = review.finding()
    layers = review.layers.to_pandas().set_index("layer")
    assert f"{layers.at[kc.retention.HIGH, 'customer_share']:.1%} of customers" in text
    assert "2025Q4_winback" in text
    by_layer = review.clv_by_layer().to_pandas().set_index("layer")
    assert by_layer.at[kc.retention.HIGH, "clv"] > by_layer.at[kc.retention.CHURNED, "clv"]
    with pytest.raises(ValueError, match="dormant_days"):
        type(p.customers).model_validate({"dormant_days": -1})
    # the review shape of every analysis: overrides over params.customers, checked before any work
    with pytest.raises(kit.params.ParamsError, match="unknown customers setting 'dormant'"):
        kc.review_quarter(source, p, dormant=60)
    with pytest.raises(kit.params.ParamsError, match=r"customers.dormant_days: Input should be greater than 0"):
        kc.review_quarter(source, p, dormant_days=-1)


def test_outreach_contract_rules(tmp_path):
    from tests.contract_fixtures import valid_tables, write

    tables = valid_tables()
    tables["outreach"] = tables["outreach"].assign(group=["treatment", "control"])
    src = kit.connect(write(tables, tmp_path / "bad"))
    with pytest.raises(kit.ContractError, match="table 'outreach', column 'group'.*1 row"):
        src.table("outreach")
    tables["outreach"] = tables["outreach"].assign(group="holdout", user_id="u1")
    src = kit.connect(write(tables, tmp_path / "dup"))
    with pytest.raises(kit.ContractError, match="one group per \\(campaign, user_id\\)"):
        src.table("outreach")


def test_bad_outreach_is_named():
    orders = pd.DataFrame({"user_id": ["a"], "paid_at": pd.to_datetime(["2025-01-02"]), "gmv": [1.0]})
    outreach = pd.DataFrame({"user_id": ["a"], "sent_at": pd.to_datetime(["2025-01-01"]), "campaign": ["c"], "group": ["treatment"]})
    with pytest.raises(ValueError, match="campaign 'c' has no holdout"):
        kc.outreach_lift(orders, outreach)
    with pytest.raises(ValueError, match="'group' is missing"):
        kc.outreach_lift(orders, outreach.drop(columns="group"))
