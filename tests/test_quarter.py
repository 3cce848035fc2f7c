import datetime as dt

import pandas as pd
import pytest

import kit
from kit.quarter import Quarter
from tests.contract_fixtures import valid_tables, write


def test_bounds_and_navigation():
    q = Quarter("2025Q4")
    assert (q.start, q.end, q.days) == (dt.date(2025, 10, 1), dt.date(2025, 12, 31), 92)
    assert Quarter("2025Q1").previous() == Quarter("2024Q4")
    assert Quarter("2025Q4").next() == Quarter("2026Q1")
    assert q.year_ago() == Quarter("2024Q4") and q.previous() == Quarter("2025Q3")
    assert Quarter("2024Q1").end == dt.date(2024, 3, 31) and Quarter("2024Q1").days == 91  # leap year
    assert Quarter(" 2025q2 ").label == "2025Q2"
    assert Quarter.of(dt.date(2025, 11, 11)) == q
    assert sorted([Quarter("2025Q1"), Quarter("2024Q4")])[0] == Quarter("2024Q4")
    assert dt.date(2025, 12, 31) in q and dt.date(2026, 1, 1) not in q


@pytest.mark.parametrize("bad", ["2025Q5", "2025-Q4", "Q4 2025", "25Q4", "", 2025.4, None])
def test_bad_quarter_strings(bad):
    with pytest.raises(ValueError, match="2025Q4"):
        Quarter(bad)


def test_double_11_begins_at_16_utc_on_10_november():
    instant = dt.datetime(2025, 11, 10, 16, 30, tzinfo=dt.timezone.utc)
    assert Quarter.local_date(instant, "Asia/Shanghai") == dt.date(2025, 11, 11)
    assert Quarter.local_date(instant, "UTC") == dt.date(2025, 11, 10)
    start, end = Quarter("2025Q4").local_bounds("Asia/Shanghai")
    assert start.astimezone(dt.timezone.utc) == dt.datetime(2025, 9, 30, 16, tzinfo=dt.timezone.utc)
    assert end.astimezone(dt.timezone.utc) == dt.datetime(2025, 12, 31, 16, tzinfo=dt.timezone.utc)


def test_quarter_filter_uses_local_days_at_both_edges(tmp_path):
    tables = valid_tables()
    tables["orders"]["paid_at"] = pd.to_datetime([
        "2025-09-30T15:59:59Z",  # 23:59:59 on 30 Sep in Beijing: Q3
        "2025-09-30T16:00:00Z",  # 00:00 on 1 Oct in Beijing: Q4
        "2025-12-31T16:00:00Z",  # 00:00 on 1 Jan 2026 in Beijing: not Q4
    ])
    source = kit.connect(write(tables, tmp_path / "data"))
    q4 = source.table("orders", quarter="2025Q4").execute()
    assert q4.order_id.tolist() == ["o2"]
    assert source.table("orders", quarter="2025Q3").execute().order_id.tolist() == ["o1"]
    # order_items follow their orders; promotions overlap the quarter
    assert sorted(source.table("order_items", quarter="2025Q4").execute().order_id) == ["o2", "o2"]
    assert source.table("promotions", quarter="2025Q4").count().execute() == 1
    assert source.table("promotions", quarter="2025Q2").count().execute() == 0
    # the same data read in UTC puts the first order in Q3 and the second in Q3 too
    utc = kit.connect(write(tables, tmp_path / "utc"), timezone="UTC")
    assert utc.table("orders", quarter="2025Q3").execute().order_id.tolist() == ["o1", "o2"]


def test_ad_spend_dates_filter_by_day(tmp_path):
    tables = valid_tables()
    tables["ad_spend"]["date"] = [dt.date(2025, 9, 30), dt.date(2025, 10, 1), dt.date(2025, 12, 31)]
    source = kit.connect(write(tables, tmp_path / "data"))
    assert source.table("ad_spend", quarter="2025Q4").count().execute() == 2


def test_fixed_offset_conversion_equals_the_zone_rules():
    """Asia/Shanghai takes the fast fixed-offset path; it must agree with the engine's zone rules."""
    import ibis

    from kit.contract import _fixed_offset, _to_local

    assert _fixed_offset("Asia/Shanghai") == dt.timedelta(hours=8)
    assert _fixed_offset("Europe/London") is None  # DST: zone rules per row
    instants = pd.to_datetime(["2025-11-10T16:30:00Z", "2024-02-29T23:59:59.123Z", "1999-12-31T16:00:00Z",
                               "2025-06-30T15:59:59Z", "1965-03-01T00:00:00.000001Z"], format="ISO8601")
    t = ibis.duckdb.connect().create_table("t", pd.DataFrame({"ts": instants}))
    got = t.select(fast=_to_local(t.ts, "Asia/Shanghai", "duckdb"),
                   rules=_to_local(t.ts, "Asia/Shanghai", "zone-rules")).execute()
    assert got.fast.tolist() == got.rules.tolist()
    assert got.fast.iloc[0] == pd.Timestamp("2025-11-11 00:30:00")
