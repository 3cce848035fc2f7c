"""kit.format and kit.inputs: the helpers every analysis shares print and check one way."""
from __future__ import annotations

import datetime as dt
import math

import ibis
import pandas as pd
import pytest

from kit import format as fmt
from kit.inputs import as_frame, as_table, check_alpha, period_bounds, period_dates


def test_numbers_print_one_way():
    assert [fmt.percent(0.1234), fmt.percent(0.1234, signed=True), fmt.percent(-0.0004, signed=True)] == ["12.3%", "+12.3%", "+0.0%"]
    assert [fmt.points(0.012), fmt.points(-0.0004), fmt.points(None)] == ["+1.2 pp", "+0.0 pp", "–"]
    assert [fmt.money(1.86e9), fmt.money(420.3e6), fmt.money(12345.4), fmt.money(283.44)] == ["¥1.86B", "¥420.3M", "¥12,345", "¥283.4"]
    assert fmt.money(12345.4, symbol="$") == "$12,345" and fmt.money(math.nan) == "–"
    assert [fmt.amount(1234567.8), fmt.amount(-5.2, signed=True), fmt.roas(3.456, 2)] == ["1,234,568", "-5", "3.46:1"]
    assert [fmt.plural(1, "arm"), fmt.plural(0, "arm"), fmt.plural(3, "arm"), fmt.plural(2, "child", "children")] == \
        ["arm", "arms", "arms", "children"]
    assert [fmt.listing([]), fmt.listing(["a"]), fmt.listing(["a", "b", "c"])] == ["none", "a", "a, b and c"]
    html = fmt.money_html(pd.DataFrame({"part": ["x"], "effect": [1234.5], "rel": [0.1], "pvalue": [0.01234]}), "T", percent=["rel"])
    assert "1,234" in html and "+10.0%" in html and "0.0123" in html and "<h4>T</h4>" in html


def test_bootstrap_interval_ends_show_two_digits():
    # the measured case: notebook 01's plan interval ends as two CPUs computed them
    assert fmt.interval(-64_658.97, 266_138.69, signed=True) == fmt.interval(-64_653.48, 266_150.71, signed=True) == "-65,000 to +270,000"
    assert fmt.interval(0.01234, math.nan) == "0.012 to –"
    assert list(fmt.round_significant([8_153.44, 8_155.27, 0.0, -0.2857, math.nan])[:4]) == [8_200.0, 8_200.0, 0.0, -0.29]


def test_inputs_are_checked_one_way():
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    table = as_table(frame)
    assert as_table(table) is table and table.count().execute() == 2
    assert as_frame(ibis.memtable(frame)).equals(frame)
    assert list(as_frame(frame, "daily table", ["b"]).columns) == ["b"]
    with pytest.raises(ValueError, match="events must be an Ibis table or a pandas DataFrame, got list"):
        as_table([1], "events")
    with pytest.raises(ValueError, match="daily table.*'c'"):
        as_frame(frame, "daily table", ["c"])
    with pytest.raises(ValueError, match="alpha must lie between 0 and 1, got 1.5"):
        check_alpha(1.5)
    assert period_dates("2025Q4") == (dt.date(2025, 10, 1), dt.date(2025, 12, 31))
    assert period_dates(("2025-11-01", "2025-11-11")) == (dt.date(2025, 11, 1), dt.date(2025, 11, 11))
    assert period_bounds("2025Q4") == (dt.datetime(2025, 10, 1), dt.datetime(2026, 1, 1)) and period_bounds(None) is None
    with pytest.raises(ValueError, match="the end 2025-11-01 is before the start 2025-11-11"):
        period_dates(("2025-11-11", "2025-11-01"))
