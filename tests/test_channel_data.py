"""summary(), paths() and weekly() on small contract tables, cross-checked by plain pandas / Python loops."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

import kit
from kit.channel import paths, summary, weekly

PAID = ["search_ads", "feed_ads", "douyin", "kuaishou", "wechat_channels", "xiaohongshu"]
NATURAL = ["natural_search", "direct", "wecom"]


def make_tables(seed: int = 0, users: int = 1000) -> dict[str, pd.DataFrame]:
    """Random but contract-valid tables, 2024-07-01 … 2026-01-31 (naive local timestamps)."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-07-01")
    span = (pd.Timestamp("2026-02-01") - start).total_seconds()
    user_ids = [f"u{i:04d}" for i in range(users)]

    def when(n):
        return start + pd.to_timedelta(np.sort(rng.uniform(0, span, n)).round(), unit="s")

    touches = pd.DataFrame({"user_id": rng.choice(user_ids, 6000), "ts": when(6000),
                            "channel": rng.choice(PAID + ["wecom"], 6000)})
    n_orders = 2500
    orders = pd.DataFrame({
        "order_id": [f"o{i:05d}" for i in range(n_orders)], "user_id": rng.choice(user_ids, n_orders),
        "session_id": None, "paid_at": when(n_orders), "gmv": rng.gamma(2.0, 150.0, n_orders).round(2),
        "discount": 0.0, "channel": rng.choice(PAID + NATURAL, n_orders), "promotion_id": None,
        "is_presale": False, "status": rng.choice(["paid", "refunded"], n_orders, p=[0.9, 0.1])})
    # A touch at the very instant of an order counts before it.
    same = orders[orders.paid_at >= "2025-10-01"].iloc[:50]
    touches = pd.concat([touches, pd.DataFrame({"user_id": same.user_id, "ts": same.paid_at, "channel": "douyin"})],
                        ignore_index=True)
    days = pd.date_range("2024-07-01", "2026-01-31", freq="D")
    spend = pd.DataFrame([(d.date(), c) for d in days for c in PAID], columns=["date", "channel"])
    spend["spend"] = rng.gamma(4.0, 250.0, len(spend)).round(2)
    spend["impressions"] = rng.integers(1000, 5000, len(spend))
    spend["clicks"] = (spend["impressions"] * 0.05).astype("int64")
    n_sessions = 8000
    session_channel = rng.choice(PAID + NATURAL, n_sessions)
    sessions = pd.DataFrame({"session_id": [f"s{i:05d}" for i in range(n_sessions)], "user_id": rng.choice(user_ids, n_sessions),
                             "started_at": when(n_sessions), "channel": session_channel,
                             "is_paid": np.isin(session_channel, PAID), "device": "app"})
    users_frame = pd.DataFrame({"user_id": user_ids, "signup_at": start})
    promotions = pd.DataFrame({"promotion_id": ["p1", "p2"], "name": ["Double 11", "618"], "kind": ["festival", "festival"],
                               "start": [dt.date(2025, 10, 20), dt.date(2025, 6, 1)], "end": [dt.date(2025, 11, 11), dt.date(2025, 6, 18)]})
    return {"touchpoints": touches, "orders": orders, "ad_spend": spend, "sessions": sessions, "users": users_frame,
            "promotions": promotions}


def write(tables: dict[str, pd.DataFrame], folder) -> None:
    for name, frame in tables.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)


@pytest.fixture(scope="module")
def tables():
    return make_tables()


@pytest.fixture(scope="module")
def source(tables, tmp_path_factory):
    folder = tmp_path_factory.mktemp("channel_data")
    write(tables, folder)
    return kit.connect(folder, params=kit.params.load("2025Q4"))


# -- paths: against a plain Python walk over each user's touches and orders -----------------------

def journeys_by_loop(tables, quarter: str, lookback_days: float, basis: str = "paid") -> pd.DataFrame:
    q = kit.Quarter(quarter)
    q_start, q_end = pd.Timestamp(q.start), pd.Timestamp(q.end) + pd.Timedelta(days=1)
    window = pd.Timedelta(days=lookback_days)
    orders = tables["orders"] if basis == "paid" else tables["orders"][tables["orders"].status == "paid"]
    rows = []
    for user, user_touches in tables["touchpoints"].groupby("user_id"):
        user_orders = orders[orders.user_id == user].sort_values(["paid_at", "order_id"])
        order_times = list(user_orders.paid_at)
        pending: dict = {}
        for t in user_touches.sort_values(["ts", "channel"]).itertuples():
            following = [i for i, paid_at in enumerate(order_times) if paid_at >= t.ts]
            nxt = following[0] if following else None
            if nxt is not None and order_times[nxt] - t.ts <= window:
                pending.setdefault(("order", nxt), []).append(t)
            elif t.ts >= q_start and t.ts < q_end:
                pending.setdefault(("null", nxt), []).append(t)
        for (kind, nxt), touches in pending.items():
            if kind == "order":
                order = user_orders.iloc[nxt]
                if not (q_start <= order.paid_at < q_end):
                    continue
                lags = tuple(int((order.paid_at - t.ts).total_seconds() // 86400) for t in touches)
                rows.append((tuple(t.channel for t in touches), lags, 1, float(order.gmv), 0))
            else:
                last = max(t.ts for t in touches)
                lags = tuple(int((last - t.ts).total_seconds() // 86400) for t in touches)
                rows.append((tuple(t.channel for t in touches), lags, 0, 0.0, 1))
    frame = pd.DataFrame(rows, columns=["path", "lags", "conversions", "value", "nulls"])
    return frame.groupby(["path", "lags"], as_index=False)[["conversions", "value", "nulls"]].sum()


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[["path", "lags", "conversions", "value", "nulls"]].copy()
    out["key"] = out.path.map(str) + out.lags.map(str)
    return out.sort_values("key").drop(columns="key").reset_index(drop=True)


def test_paths_match_a_python_walk(tables, source):
    got = paths(source, "2025Q4", "30D")
    expected = journeys_by_loop(tables, "2025Q4", 30)
    assert len(got) > 100 and got.conversions.sum() > 100 and got.nulls.sum() > 100
    pd.testing.assert_frame_equal(canonical(got), canonical(expected), check_dtype=False, rtol=1e-9)


def test_paths_with_a_short_lookback_and_order_totals(tables, source):
    got = paths(source, "2025Q4", "7D")
    pd.testing.assert_frame_equal(canonical(got), canonical(journeys_by_loop(tables, "2025Q4", 7)), check_dtype=False, rtol=1e-9)
    orders = tables["orders"]
    in_q = orders[(orders.paid_at >= "2025-10-01") & (orders.paid_at < "2026-01-01")]
    assert got.attrs["orders"] == len(in_q)
    assert got.attrs["orders_without_touch"] == len(in_q) - got.conversions.sum()
    assert got.attrs["gmv"] == pytest.approx(in_q.gmv.sum())


def test_same_instant_touch_counts_before_the_order(tables, source):
    got = paths(source, "2025Q4", "30D")
    orders = tables["orders"]
    same = orders[orders.paid_at >= "2025-10-01"].iloc[:50]
    # Each of those 50 orders' journeys ends with its douyin touch, 0 days before the order.
    ending = got[got.apply(lambda r: r.path[-1] == "douyin" and r.lags[-1] == 0, axis=1)]
    assert ending.conversions.sum() >= len(same) == 50


def test_paths_feed_attribution_with_observed_totals(source):
    journeys = paths(source, "2025Q4", "30D")
    result = kit.channel.attribution(journeys, list(kit.channel.MODELS))
    sums = result.to_pandas().groupby("model")[["conversions", "value"]].sum()
    assert np.allclose(sums.conversions, journeys.conversions.sum())
    assert np.allclose(sums.value, journeys.value.sum())


def test_bad_lookback():
    with pytest.raises(ValueError, match="not a window like '30D'"):
        kit.channel.journeys.parse_lookback("thirty days")
    with pytest.raises(ValueError, match="positive"):
        kit.channel.journeys.parse_lookback("0D")


# -- summary: against pandas on the raw tables ---------------------------------------------------

def test_summary_matches_pandas(tables, source):
    result = summary(source, "2025Q4")
    t = result.to_pandas().set_index("channel")
    orders, spend, sessions = tables["orders"], tables["ad_spend"], tables["sessions"]
    in_q = orders[(orders.paid_at >= "2025-10-01") & (orders.paid_at < "2026-01-01")]
    spend_q = spend[(pd.to_datetime(spend.date) >= "2025-10-01") & (pd.to_datetime(spend.date) <= "2025-12-31")]
    sessions_q = sessions[(sessions.started_at >= "2025-10-01") & (sessions.started_at < "2026-01-01")]
    first = orders.sort_values(["paid_at", "order_id"]).groupby("user_id").head(1)
    new = first[(first.paid_at >= "2025-10-01") & (first.paid_at < "2026-01-01")].groupby("channel").size()
    targets = kit.params.load("2025Q4").target_roas()
    for channel in PAID:
        gmv = in_q[in_q.channel == channel].gmv.sum()
        cost = spend_q[spend_q.channel == channel].spend.sum()
        assert t.loc[channel, "gmv"] == pytest.approx(gmv)
        assert t.loc[channel, "spend"] == pytest.approx(cost)
        assert t.loc[channel, "roas"] == pytest.approx(gmv / cost)
        assert t.loc[channel, "orders"] == (in_q.channel == channel).sum()
        assert t.loc[channel, "new_customers"] == new.get(channel, 0)
        if new.get(channel, 0):
            assert t.loc[channel, "cac"] == pytest.approx(cost / new[channel])
        else:
            assert np.isnan(t.loc[channel, "cac"])
        assert t.loc[channel, "cpa"] == pytest.approx(cost / (in_q.channel == channel).sum())
        assert t.loc[channel, "target_met"] == (gmv / cost >= targets[channel])
        assert t.loc[channel, "session_share"] == pytest.approx((sessions_q.channel == channel).mean())
    assert t.loc["total", "gmv"] == pytest.approx(in_q.gmv.sum())
    assert t.loc["total", "new_customers"] == new.sum() > 5
    assert t.loc["natural channels", "gmv"] == pytest.approx(in_q[in_q.channel.isin(NATURAL)].gmv.sum())
    assert t.loc["paid channels", "roas"] == pytest.approx(in_q[in_q.channel.isin(PAID)].gmv.sum() / spend_q.spend.sum())
    assert result.natural_share == pytest.approx(1 - sessions_q.is_paid.mean())
    assert t["gmv_share"].loc[PAID + NATURAL].sum() == pytest.approx(1.0)
    # QoQ and YoY against the same computation on 2025Q3 and 2024Q4.
    before = orders[(orders.paid_at >= "2025-07-01") & (orders.paid_at < "2025-10-01")]
    year_ago = orders[(orders.paid_at >= "2024-10-01") & (orders.paid_at < "2025-01-01")]
    for channel in ["douyin", "direct"]:
        assert t.loc[channel, "gmv_qoq"] == pytest.approx(in_q[in_q.channel == channel].gmv.sum() / before[before.channel == channel].gmv.sum() - 1)
        assert t.loc[channel, "gmv_yoy"] == pytest.approx(in_q[in_q.channel == channel].gmv.sum() / year_ago[year_ago.channel == channel].gmv.sum() - 1)
    html_text = result._repr_html_()
    assert "3" in html_text and ":1" in html_text and html_text == summary(source, "2025Q4")._repr_html_()


def test_summary_net_of_refunds(tables, source):
    p = kit.params.load("2025Q4", gmv_basis="net_of_refunds")
    t = summary(source, "2025Q4", params=p).to_pandas().set_index("channel")
    orders = tables["orders"]
    kept = orders[(orders.status == "paid") & (orders.paid_at >= "2025-10-01") & (orders.paid_at < "2026-01-01")]
    assert t.loc["total", "gmv"] == pytest.approx(kept.gmv.sum())


# -- weekly ----------------------------------------------------------------------------------------

def test_weekly_matches_pandas(tables, source):
    w = weekly(source, "2024-07-03", "2025-12-31")
    assert w.week.iloc[0] == pd.Timestamp("2024-07-08") and w.week.iloc[-1] == pd.Timestamp("2025-12-22")
    assert w.attrs["spend_columns"] == PAID
    spend = tables["ad_spend"].assign(week=lambda f: pd.to_datetime(f.date).dt.to_period("W-SUN").dt.start_time)
    expected = spend.pivot_table(index="week", columns="channel", values="spend", aggfunc="sum").loc[w.week]
    np.testing.assert_allclose(w[PAID].to_numpy(), expected[PAID].to_numpy())
    orders = tables["orders"].assign(week=lambda f: f.paid_at.dt.to_period("W-SUN").dt.start_time)
    gmv = orders.groupby("week").gmv.sum().loc[w.week]
    np.testing.assert_allclose(w.gmv.to_numpy(), gmv.to_numpy())
    # Double 11 promotion: 20 Oct – 11 Nov 2025 covers the weeks of 20 Oct, 27 Oct, 3 Nov fully and 2 days of 10 Nov.
    promo = dict(zip(w.week, w.promo_days))
    assert [promo[pd.Timestamp(d)] for d in ["2025-10-13", "2025-10-20", "2025-11-03", "2025-11-10", "2025-11-17"]] == [0, 7, 7, 2, 0]
    # promo_week: festival window 20 Oct – 11 Nov plus the 7-day buffer (to 18 Nov) touches the weeks of 20 Oct … 17 Nov.
    flagged = dict(zip(w.week, w.promo_week))
    assert [flagged[pd.Timestamp(d)] for d in ["2025-10-13", "2025-10-20", "2025-11-10", "2025-11-17", "2025-11-24"]] == \
        [False, True, True, True, False]


def test_weekly_gap_and_unpaid_spend_are_errors(tables, tmp_path):
    gap = {k: v.copy() for k, v in tables.items()}
    spend = gap["ad_spend"]
    days = pd.to_datetime(spend.date)
    gap["ad_spend"] = spend[~((days >= "2025-03-10") & (days <= "2025-03-16"))]
    write(gap, tmp_path)
    src = kit.connect(tmp_path, params=kit.params.load("2025Q4"))
    with pytest.raises(ValueError, match=r"table 'ad_spend': a week with no data — 1 of \d+ weeks.*week of 2025-03-10"):
        weekly(src, "2025-01-01", "2025-06-30")

    unknown = {k: v.copy() for k, v in tables.items()}
    unknown["ad_spend"].loc[5, "channel"] = "tiktok"
    folder = tmp_path / "unknown"
    folder.mkdir()
    write(unknown, folder)
    with pytest.raises(kit.ContractError, match="ad_spend.*channel.*1 row"):
        weekly(kit.connect(folder, params=kit.params.load("2025Q4")), "2025-01-01", "2025-06-30")

    natural = {k: v.copy() for k, v in tables.items()}
    natural["ad_spend"].loc[7, "channel"] = "wecom"
    folder = tmp_path / "natural"
    folder.mkdir()
    write(natural, folder)
    with pytest.raises(ValueError, match="spend for channel 'wecom', which the params do not mark as paid"):
        weekly(kit.connect(folder, params=kit.params.load("2025Q4")), "2024-07-01", "2024-12-31")

    negative = {k: v.copy() for k, v in tables.items()}
    negative["ad_spend"].loc[9, "spend"] = -10.0
    folder = tmp_path / "negative"
    folder.mkdir()
    write(negative, folder)
    with pytest.raises(kit.ContractError, match="ad_spend.*spend.*≥ 0"):
        weekly(kit.connect(folder, params=kit.params.load("2025Q4")), "2024-07-01", "2024-12-31")


# -- findings: the words carry the results' numbers ---------------------------------------------------

def test_findings_state_the_computed_figures(source):
    from kit.format import interval
    from kit.format import roas as format_roas
    from tests.test_channel_response import simulate

    result = summary(source, "2025Q4")
    journeys = paths(source, "2025Q4", "30D")
    attributed = kit.channel.attribution(journeys, ["last", "markov", "shapley"])
    frame, truth = simulate(weeks=104)
    model = kit.channel.response_model(frame, "gmv", list(truth), bootstrap=10, period=(frame.week.iloc[-13], frame.week.iloc[-1]))
    plan = kit.channel.reallocate(model, bounds=0.2)
    text = kit.channel.findings(result, attributed, model, plan, bounds=0.2)
    t = result.to_pandas().set_index("channel")
    assert format_roas(t.loc["paid channels", "roas"]) in text
    missed = [c for c in PAID if t.loc[c, "target_met"] is False]
    assert all(f"{c} {format_roas(t.loc[c, 'roas'])} against" in text for c in missed)
    change, low, high = plan.total_change
    assert f"{change:+,.0f} yuan of GMV (95% interval {interval(low, high, signed=True)})" in text
    assert "±20%" in text and text.count("\n- ") == 3
