"""kit.overview against an independent pandas computation, on a generated shop and on the sample.

The pandas side reads the raw Parquet files itself and does its own time-zone conversion (stored
UTC instants → Asia/Shanghai business days), so a bug in the engine path (quarter filter, period
union, basis filter, first-order logic) cannot be mirrored by the reference.
"""
from __future__ import annotations

import datetime as dt
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kit
from kit import config
from kit.format import money
from kit.overview import quarter_overview
from kit.quarter import Quarter

TZ = "Asia/Shanghai"
CHANNELS = ["search_ads", "feed_ads", "douyin", "natural_search", "direct", "wecom"]


# --------------------------------------------------------------------------------------------
# A small generated shop (also used by tests/test_report.py for the index tiles)

def write_shop(folder: Path, seed: int = 7, users: int = 600) -> dict[str, pd.DataFrame]:
    """Users, sessions and orders from 2024-07-01 to 2025-12-31 (UTC instants), written as Parquet."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    start = pd.Timestamp("2024-07-01", tz="UTC")
    span = (pd.Timestamp("2026-01-01", tz="UTC") - start).total_seconds()
    user_ids = [f"u{i:05d}" for i in range(users)]
    users_df = pd.DataFrame({
        "user_id": user_ids,
        "signup_at": start + pd.to_timedelta(rng.uniform(0, span * 0.6, users), unit="s"),
    })
    n_sessions = users * 8
    sessions = pd.DataFrame({
        "session_id": [f"s{i:07d}" for i in range(n_sessions)],
        "user_id": rng.choice(user_ids, n_sessions),
        "started_at": start + pd.to_timedelta(rng.uniform(0, span, n_sessions), unit="s"),
        "channel": rng.choice(CHANNELS, n_sessions, p=[0.25, 0.15, 0.2, 0.2, 0.1, 0.1]),
        "device": rng.choice(["app", "mini_program", "web"], n_sessions),
    })
    sessions["is_paid"] = sessions["channel"].isin(["search_ads", "feed_ads", "douyin"])
    # A subset of users buys; heavier buyers order several times (so repurchase is not trivial).
    buyers = rng.choice(user_ids, users // 2, replace=False)
    per_buyer = rng.geometric(0.45, len(buyers))
    order_users = np.repeat(buyers, per_buyer)
    n_orders = len(order_users)
    paid_at = start + pd.to_timedelta(rng.uniform(0, span, n_orders), unit="s")
    orders = pd.DataFrame({
        "order_id": [f"o{i:07d}" for i in range(n_orders)],
        "user_id": order_users,
        "session_id": None,
        "paid_at": paid_at,
        "gmv": np.round(rng.lognormal(5.4, 0.6, n_orders), 2),
        "discount": np.round(rng.uniform(0, 20, n_orders), 2),
        "channel": rng.choice(CHANNELS, n_orders, p=[0.3, 0.1, 0.25, 0.2, 0.1, 0.05]),
        "promotion_id": None,
        "is_presale": False,
        "status": rng.choice(["paid", "refunded"], n_orders, p=[0.93, 0.07]),
    })
    # Edge instants: 16:30 UTC on 30 Sep is 00:30 on 1 Oct in Shanghai (in Q4); the same on 31 Dec is 2026.
    edges = pd.DataFrame({
        "order_id": ["edge-q4-start", "edge-2026"], "user_id": [user_ids[0], user_ids[1]], "session_id": None,
        "paid_at": pd.to_datetime(["2025-09-30T16:30:00Z", "2025-12-31T16:30:00Z"]),
        "gmv": [1234.5, 999.0], "discount": [0.0, 0.0], "channel": ["douyin", "wecom"], "promotion_id": None,
        "is_presale": False, "status": ["paid", "paid"],
    })
    orders = pd.concat([orders, edges], ignore_index=True)
    orders["session_id"] = orders["session_id"].astype("string")
    orders["promotion_id"] = orders["promotion_id"].astype("string")
    for name, frame in (("users", users_df), ("sessions", sessions), ("orders", orders)):
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    return {"users": users_df, "sessions": sessions, "orders": orders}


def write_params(folder: Path, quarter: str, targets: dict | None = None, gmv_basis: str | None = None) -> Path:
    """A params folder: the project's defaults plus a quarter file with the given targets."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(config.PARAMS_DIR / "defaults.yaml", folder / "defaults.yaml")
    lines = [f'quarter: "{quarter}"']
    if gmv_basis:
        lines.append(f"gmv_basis: {gmv_basis}")
    if targets:
        lines.append("targets:")
        lines += [f"  {key}: {value}" for key, value in targets.items()]
    (folder / f"{quarter}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


# --------------------------------------------------------------------------------------------
# The independent reference (plain pandas over the raw files)

def _local_day(column: pd.Series) -> pd.Series:
    """Local midnight of each instant (datetime64, vectorised; compare with ``_day``)."""
    values = pd.to_datetime(column)
    if values.dt.tz is not None:
        values = values.dt.tz_convert(TZ).dt.tz_localize(None)
    return values.dt.floor("D")


def _day(date: dt.date) -> pd.Timestamp:
    return pd.Timestamp(date)


def reference_kpis(raw: dict[str, pd.DataFrame], quarter: str, basis: str = "paid") -> dict[str, float]:
    q = Quarter(quarter)
    start, end = _day(q.start), _day(q.end)
    orders = raw["orders"].copy()
    orders["day"] = _local_day(orders["paid_at"])
    if basis == "net_of_refunds":
        orders = orders[orders["status"] == "paid"]
    inside = orders[(orders["day"] >= start) & (orders["day"] <= end)]
    per_user = inside.groupby("user_id").size()
    sessions = raw["sessions"].copy()
    sessions["day"] = _local_day(sessions["started_at"])
    visitors = sessions[(sessions["day"] >= start) & (sessions["day"] <= end)]["user_id"].nunique()
    first_day = orders.groupby("user_id")["day"].min()
    gmv, n_orders, buyers = float(inside["gmv"].sum()), len(inside), len(per_user)
    return {
        "gmv": gmv, "orders": n_orders, "aov": gmv / n_orders if n_orders else math.nan,
        "active_users": visitors, "buyers": buyers,
        "conversion_rate": buyers / visitors if visitors else math.nan,
        "repurchase_rate": float((per_user >= 2).sum()) / buyers if buyers else math.nan,
        "new_customers": int(((first_day >= start) & (first_day <= end)).sum()),
    }


def reference_channels(raw: dict[str, pd.DataFrame], quarter: str, basis: str = "paid") -> pd.Series:
    q = Quarter(quarter)
    orders = raw["orders"].copy()
    orders["day"] = _local_day(orders["paid_at"])
    if basis == "net_of_refunds":
        orders = orders[orders["status"] == "paid"]
    inside = orders[(orders["day"] >= _day(q.start)) & (orders["day"] <= _day(q.end))]
    return inside.groupby("channel")["gmv"].sum() / inside["gmv"].sum()


def _close(a: float, b: float) -> bool:
    if isinstance(b, float) and math.isnan(b):
        return math.isnan(a)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


# --------------------------------------------------------------------------------------------
# Tests on the generated shop

@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shop")
    raw = write_shop(folder / "data")
    params_dir = write_params(folder / "params", "2025Q4",
                              targets={"gmv": 150000.0, "repurchase_rate": 0.4, "new_customers": 30, "conversion_rate": 0.5})
    params = kit.params.load("2025Q4", params_dir=params_dir)
    return {"raw": raw, "folder": folder / "data", "params": params, "params_dir": params_dir}


@pytest.fixture(scope="module")
def overview(shop):
    return quarter_overview("2025Q4", source=str(shop["folder"]), params=shop["params"])


def test_kpis_match_pandas_for_the_quarter_previous_quarter_and_year_ago(shop, overview):
    frame = overview.kpis.to_pandas().set_index("kpi")
    for column, quarter in (("value", "2025Q4"), ("previous_quarter", "2025Q3"), ("year_ago", "2024Q4")):
        expected = reference_kpis(shop["raw"], quarter)
        for kpi, value in expected.items():
            assert _close(frame.loc[kpi, column], value), (kpi, column, frame.loc[kpi, column], value)


def test_growth_and_target_attainment_follow_from_the_values(shop, overview):
    now, prev, ago = (reference_kpis(shop["raw"], q) for q in ("2025Q4", "2025Q3", "2024Q4"))
    frame = overview.kpis.to_pandas().set_index("kpi")
    for kpi in now:
        assert _close(frame.loc[kpi, "qoq"], now[kpi] / prev[kpi] - 1)
        assert _close(frame.loc[kpi, "yoy"], now[kpi] / ago[kpi] - 1)
    targets = {"gmv": 150000.0, "repurchase_rate": 0.4, "new_customers": 30, "conversion_rate": 0.5}
    for kpi, target in targets.items():
        assert _close(frame.loc[kpi, "attainment"], now[kpi] / target)
    for kpi in ("orders", "aov", "active_users", "buyers"):
        assert math.isnan(frame.loc[kpi, "attainment"])  # no target key for these


def test_local_day_edges_are_counted_in_the_right_quarter(shop, overview):
    # the 1 Oct 00:30 (local) order is in Q4; the 1 Jan 00:30 (local) order is not
    raw = shop["raw"]["orders"]
    utc_naive_q4 = raw[(pd.to_datetime(raw["paid_at"]).dt.tz_localize(None) >= "2025-10-01")
                       & (pd.to_datetime(raw["paid_at"]).dt.tz_localize(None) < "2026-01-01")]["gmv"].sum()
    engine = overview.value("gmv")
    expected = reference_kpis(shop["raw"], "2025Q4")["gmv"]
    assert _close(engine, expected)
    assert not _close(engine, float(utc_naive_q4))  # bucketing by UTC day would give another number
    daily = overview.daily[overview.daily["period"] == "2025Q4"]
    assert daily["date"].min() == dt.date(2025, 10, 1) and daily["date"].max() <= dt.date(2025, 12, 31)
    assert daily.loc[daily["date"] == dt.date(2025, 10, 1), "day_of_quarter"].item() == 1


def test_channel_shares_match_pandas(shop, overview):
    channels = overview.channels.to_pandas().set_index("channel")
    now, ago = reference_channels(shop["raw"], "2025Q4"), reference_channels(shop["raw"], "2024Q4")
    assert set(channels.index) == set(now.index)
    for channel, share in now.items():
        assert _close(channels.loc[channel, "share"], share)
        assert _close(channels.loc[channel, "share_year_ago"], ago.get(channel, 0.0))
        assert _close(channels.loc[channel, "share_change"], share - ago.get(channel, 0.0))
    assert _close(channels["share"].sum(), 1.0)
    assert list(channels["gmv"]) == sorted(channels["gmv"], reverse=True)


def test_daily_gmv_matches_pandas_and_the_peak_day_finding(shop, overview):
    raw = shop["raw"]["orders"].copy()
    raw["day"] = _local_day(raw["paid_at"])
    q = Quarter("2025Q4")
    expected = raw[(raw["day"] >= _day(q.start)) & (raw["day"] <= _day(q.end))].groupby("day")["gmv"].sum()
    expected.index = expected.index.date
    daily = overview.daily[overview.daily["period"] == "2025Q4"].set_index("date")["gmv"]
    assert len(daily) == len(expected)
    np.testing.assert_allclose(daily.loc[expected.index].to_numpy(), expected.to_numpy(), rtol=1e-12)
    peak = expected.idxmax()
    text = "\n".join(overview.findings)
    assert f"Peak day: **{peak.isoformat()}**" in text
    assert f"{expected.max() / expected.sum():.1%} of the quarter's GMV" in text


def test_findings_state_the_computed_numbers(shop, overview):
    now, ago = reference_kpis(shop["raw"], "2025Q4"), reference_kpis(shop["raw"], "2024Q4")
    text = "\n".join(overview.findings)
    assert f"**{money(now['gmv'])}**" in text
    assert f"{(now['gmv'] / ago['gmv'] - 1) * 100:+.1f}% year on year" in text
    assert f"**{now['gmv'] / 150000.0:.1%} of the GMV target**" in text
    top = reference_channels(shop["raw"], "2025Q4").idxmax()
    assert re.search(rf"largest channel is \*\*{re.escape(shop['params'].channels[top].name)}\*\* with "
                     rf"{reference_channels(shop['raw'], '2025Q4').max():.1%}", text)
    assert f"Repurchase rate 复购率 {now['repurchase_rate']:.1%}" in text
    # GMV = buyers × orders per buyer × AOV: the factors against a year ago, from pandas
    frequency = (now["orders"] / now["buyers"]) / (ago["orders"] / ago["buyers"]) - 1
    factors = {"buyers": now["buyers"] / ago["buyers"] - 1, "orders per buyer": frequency, "AOV 客单价": now["aov"] / ago["aov"] - 1}
    listed = ", ".join(f"{name} {change * 100:+.1f}%" for name, change in factors.items())
    driver = max(factors, key=lambda name: abs(math.log1p(factors[name])))
    assert f"Against 2024Q4: {listed}; **{driver}** moved GMV most." in text


def test_tiles_show_the_same_numbers(shop, overview):
    now = reference_kpis(shop["raw"], "2025Q4")
    ago = reference_kpis(shop["raw"], "2024Q4")
    tiles = {t["kpi"]: t for t in overview.tiles()}
    assert tiles["gmv"]["value"] == money(now["gmv"])
    assert tiles["buyers"]["value"] == f"{now['buyers']:,}"
    assert tiles["repurchase_rate"]["value"] == f"{now['repurchase_rate']:.1%}"
    assert f"YoY {(now['repurchase_rate'] - ago['repurchase_rate']) * 100:+.1f} pp" in tiles["repurchase_rate"]["lines"]
    assert f"{now['gmv'] / 150000.0:.0%} of target {money(150000.0)}" in tiles["gmv"]["lines"]
    html = overview.tiles_html()
    assert html.count('class="kit-tile"') == len(tiles)
    assert "<script" not in html and "http" not in html
    assert overview.tiles_html() == html  # deterministic


def test_net_of_refunds_basis_drops_refunded_orders(shop, tmp_path):
    params = kit.params.load("2025Q4", params_dir=write_params(tmp_path, "2025Q4", gmv_basis="net_of_refunds"))
    net = quarter_overview("2025Q4", source=str(shop["folder"]), params=params)
    expected = reference_kpis(shop["raw"], "2025Q4", basis="net_of_refunds")
    for kpi, value in expected.items():
        assert _close(net.value(kpi), value), kpi
    assert net.value("gmv") < reference_kpis(shop["raw"], "2025Q4")["gmv"]
    assert math.isnan(net.value("gmv", "attainment"))  # no targets in this params file
    assert any("No GMV target is set for 2025Q4" in line for line in net.findings)


def test_display_is_deterministic_and_rounded_only_for_display(overview):
    first, second = overview.kpis._repr_html_(), overview.kpis._repr_html_()
    assert first == second and "0x" not in first
    assert overview.to_pandas()["value"].dtype == np.float64


# --------------------------------------------------------------------------------------------
# A hand-computed case and bad input

def test_hand_computed_tiny_shop(tmp_path):
    # Q4 2025: u1 orders twice (100 + 300), u2 once (200, refunded); u3 only visits. u1 bought before (Q3).
    # A year earlier only u4 bought (100 on "direct"), without any session in the data.
    utc = lambda text: pd.Timestamp(text, tz="UTC")  # noqa: E731
    pd.DataFrame({"user_id": ["u1", "u2", "u3"], "signup_at": [utc("2025-01-01")] * 3}).to_parquet(tmp_path / "users.parquet")
    pd.DataFrame({
        "session_id": ["s1", "s2", "s3", "s4"], "user_id": ["u1", "u2", "u3", "u1"],
        "started_at": [utc("2025-10-02"), utc("2025-11-11"), utc("2025-12-01"), utc("2025-08-01")],
        "channel": ["douyin", "wecom", "direct", "douyin"], "is_paid": [True, False, False, True], "device": ["app"] * 4,
    }).to_parquet(tmp_path / "sessions.parquet")
    pd.DataFrame({
        "order_id": ["o1", "o2", "o3", "o0", "o-1"], "user_id": ["u1", "u1", "u2", "u1", "u4"],
        "paid_at": [utc("2025-10-02T03:00"), utc("2025-11-11T02:00"), utc("2025-11-12T05:00"), utc("2025-08-01T01:00"),
                    utc("2024-12-01T01:00")],
        "gmv": [100.0, 300.0, 200.0, 50.0, 100.0], "discount": [0.0] * 5,
        "channel": ["douyin", "douyin", "wecom", "douyin", "direct"],
        "is_presale": [False] * 5, "status": ["paid", "paid", "refunded", "paid", "paid"],
    }).to_parquet(tmp_path / "orders.parquet")
    ov = quarter_overview("2025Q4", source=str(tmp_path), params=kit.params.load("2025Q4", params_dir=write_params(tmp_path / "p", "2025Q4")))
    assert ov.value("gmv") == 600.0 and ov.value("orders") == 3 and ov.value("aov") == 200.0
    assert ov.value("active_users") == 3 and ov.value("buyers") == 2
    assert ov.value("conversion_rate") == pytest.approx(2 / 3) and ov.value("repurchase_rate") == 0.5
    assert ov.value("new_customers") == 1  # u2; u1's first order was in Q3
    assert ov.value("gmv", "previous_quarter") == 50.0 and ov.value("gmv", "qoq") == pytest.approx(11.0)
    assert ov.value("gmv", "yoy") == pytest.approx(5.0) and ov.value("new_customers", "year_ago") == 1
    assert math.isnan(ov.value("conversion_rate", "year_ago"))  # no sessions in 2024Q4: no rate
    assert math.isnan(ov.value("conversion_rate", "yoy"))       # and no growth against it
    channels = ov.channels.to_pandas().set_index("channel")
    assert channels.loc["douyin", "share"] == pytest.approx(400 / 600) and channels.loc["wecom", "share"] == pytest.approx(200 / 600)
    assert channels.loc["direct", "share"] == 0 and channels.loc["direct", "share_change"] == pytest.approx(-1.0)
    assert list(channels.index) == ["douyin", "wecom", "direct"]
    text = "\n".join(ov.findings)
    assert "**GMV** in 2025Q4 was **¥600.0**, +500.0% year on year" in text
    assert "biggest loss: **直接访问 Direct / favourites** (-100.0 pp)" in text
    assert "Peak day: **2025-11-11** with ¥300.0, 50.0% of the quarter's GMV" in text  # 02:00 UTC is 10:00 local


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="not a quarter: '2025Q5'"):
        quarter_overview("2025Q5")


def test_unknown_kpi_names_the_kpis(overview):
    with pytest.raises(KeyError, match="unknown KPI 'gmvv'; KPIs: gmv, orders"):
        overview.value("gmvv")


def test_orders_only_gives_every_orders_kpi_and_says_what_needs_sessions(tmp_path, shop, overview):
    (tmp_path / "orders.parquet").write_bytes((shop["folder"] / "orders.parquet").read_bytes())
    alone = quarter_overview("2025Q4", source=str(tmp_path), params=shop["params"])
    for kpi in ("gmv", "orders", "aov", "buyers", "repurchase_rate", "new_customers"):
        for column in ("value", "previous_quarter", "year_ago", "qoq", "yoy"):
            assert _close(alone.value(kpi, column), overview.value(kpi, column)), (kpi, column)
    assert alone.unavailable == {"active_users": "sessions", "conversion_rate": "sessions"}
    assert all(math.isnan(alone.value(k)) for k in alone.unavailable)
    tiles = {t["kpi"]: t for t in alone.tiles()}
    assert tiles["active_users"]["lines"] == ["needs sessions"] and tiles["conversion_rate"]["value"] == "–"
    assert alone.kpis._repr_html_().count("needs sessions") == 6  # value, previous quarter, year ago of both
    assert any("need a sessions table" in line for line in alone.findings)
    assert not any(re.search(r"Conversion rate 转化率 [\d–]", line) for line in alone.findings)


def test_a_quarter_without_orders_is_a_no_data_finding(shop):
    empty = quarter_overview("2020Q1", source=str(shop["folder"]), params=kit.params.load("2020Q1", params_dir=shop["params_dir"]))
    assert empty.value("orders") == 0 and math.isnan(empty.value("aov"))
    assert len(empty.findings) == 1 and empty.findings[0].startswith("**No data**")
    assert "kit-tiles" in empty.tiles_html()


def test_money_is_shown_in_the_params_currency(shop):
    dollars = kit.params.load("2025Q4", params_dir=shop["params_dir"], currency={"code": "USD", "symbol": "$"})
    ov = quarter_overview("2025Q4", source=str(shop["folder"]), params=dollars)
    shown = ov.tiles_html() + ov.kpis._repr_html_() + ov.channels._repr_html_() + ov.finding()
    assert "¥" not in shown and "yuan" not in shown
    assert f"**{money(ov.value('gmv'), '$')}**" in ov.finding()
    assert "money in USD" in ov.tiles_html()


# --------------------------------------------------------------------------------------------
# On the sample data set

def sample_table(name: str, columns: list[str]) -> pd.DataFrame:
    """One table of the sample, read by pandas (a ``name.parquet`` file or a ``name/`` folder of parts)."""
    folder = config.SAMPLE_DIR
    path = folder / f"{name}.parquet" if (folder / f"{name}.parquet").exists() else folder / name
    frame = pd.read_parquet(path, columns=columns)
    frame["user_id"] = frame["user_id"].astype(str)
    return frame


def _sample_raw() -> dict[str, pd.DataFrame] | None:
    folder = config.SAMPLE_DIR
    if not any((folder / f"{name}.parquet").exists() or (folder / name).is_dir() for name in ("orders",)):
        return None
    return {
        "orders": sample_table("orders", ["user_id", "paid_at", "gmv", "status", "channel"]),
        "sessions": sample_table("sessions", ["user_id", "started_at"]),
    }


@pytest.mark.slow
def test_sample_overview_matches_pandas():
    raw = _sample_raw()
    if raw is None:
        pytest.skip("the sample data is not generated (make sample)")
    params = kit.params.load("2025Q4")
    ov = quarter_overview("2025Q4", params=params)
    for column, quarter in (("value", "2025Q4"), ("previous_quarter", "2025Q3"), ("year_ago", "2024Q4")):
        expected = reference_kpis(raw, quarter, basis=params.gmv_basis)
        for kpi, value in expected.items():
            assert _close(ov.value(kpi, column), value), (kpi, column, ov.value(kpi, column), value)
    targets = params.targets.model_dump()
    for kpi in ("gmv", "conversion_rate", "repurchase_rate", "new_customers"):
        if targets.get(kpi) is not None:
            assert _close(ov.value(kpi, "attainment"), reference_kpis(raw, "2025Q4", basis=params.gmv_basis)[kpi] / targets[kpi])
    channels = ov.channels.to_pandas().set_index("channel")["share"]
    reference = reference_channels(raw, "2025Q4", basis=params.gmv_basis)
    for channel, share in reference.items():
        assert math.isclose(channels[channel], share, rel_tol=1e-9)
