"""Empty tables and absent optional columns give "no data", never a crash (and the report skips
an analysis whose tables are empty)."""
from __future__ import annotations

import pandas as pd
import pytest

import kit
from kit import analyses, config
from kit.report.runner import _check_contract_once

QUARTER = "2025Q4"


def write(folder, name, frame):
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / f"{name}.parquet", index=False)


@pytest.fixture(scope="module")
def empty_shop(tmp_path_factory):
    """Orders and users with rows; sessions and events present but empty, events without sku_id and screen."""
    folder = tmp_path_factory.mktemp("empty") / "data"
    write(folder, "orders", pd.DataFrame({
        "order_id": ["o1", "o2"], "user_id": ["u1", "u2"], "paid_at": pd.to_datetime(["2025-10-02", "2025-11-03"]),
        "gmv": [10.0, 20.0], "discount": 0.0, "channel": "direct", "is_presale": False, "status": "paid"}))
    write(folder, "users", pd.DataFrame({"user_id": ["u1", "u2"], "signup_at": pd.to_datetime(["2025-01-01"] * 2)}))
    write(folder, "sessions", pd.DataFrame({
        "session_id": pd.Series(dtype=str), "user_id": pd.Series(dtype=str), "started_at": pd.Series(dtype="datetime64[us]"),
        "channel": pd.Series(dtype=str), "is_paid": pd.Series(dtype=bool), "device": pd.Series(dtype=str)}))
    write(folder, "events", pd.DataFrame({
        "user_id": pd.Series(dtype=str), "session_id": pd.Series(dtype=str), "ts": pd.Series(dtype="datetime64[us]"),
        "event": pd.Series(dtype=str)}))
    write(folder, "touchpoints", pd.DataFrame({
        "user_id": pd.Series(dtype=str), "ts": pd.Series(dtype="datetime64[us]"), "channel": pd.Series(dtype=str)}))
    return folder


def test_funnel_on_empty_events_without_screen_is_no_data(empty_shop):
    p = kit.params.load(QUARTER, source=str(empty_shop))
    review = kit.funnel.review_quarter(kit.connect(params=p), p)
    assert review.funnel.cohort == 0
    assert review.finding().startswith("**No data**: no users reached `home_view` in 2025Q4")
    assert review.scroll_exits.views == 0 and review.scroll_exits.worst_screen is None
    assert review.scroll_exits.notes[0].startswith("No data: no detail-page views with a screen index")


def test_attribution_without_journeys_is_an_empty_result_that_says_so(empty_shop):
    p = kit.params.load(QUARTER, source=str(empty_shop))
    journeys = kit.channel.paths(kit.connect(params=p), QUARTER, "30D", params=p)
    result = kit.channel.attribution(journeys, ["last", "time_decay", "markov", "shapley"])
    assert result.to_pandas().empty and result.wide("share").empty
    assert result.notes == ["No data: no journeys (touches or orders) in the period, so there is nothing to attribute."]


def test_overview_treats_an_empty_sessions_table_as_absent(empty_shop):
    p = kit.params.load(QUARTER, source=str(empty_shop))
    ov = kit.overview.quarter_overview(QUARTER, params=p)
    assert ov.value("gmv") == 30.0 and ov.value("buyers") == 2
    assert ov.unavailable == {"active_users": "sessions", "conversion_rate": "sessions"}


def test_readiness_and_the_report_skip_an_analysis_whose_tables_are_empty(empty_shop):
    columns = {"events": ["ts"], "sessions": ["session_id"]}
    funnel = analyses.readiness(columns, {"events": 0, "sessions": 5})[3]
    assert funnel.reason == "no data: table events is empty"
    reasons = _check_contract_once([QUARTER], str(empty_shop))[QUARTER]
    assert reasons["03_funnel_dropoff"] == "no data: tables events and sessions are empty"
    assert reasons["01_channel_roi"] == ("needs table ad_spend — not in this source; "
                                         "no data: tables sessions and touchpoints are empty")
    assert "00_quarter_overview" not in reasons


def test_a_source_without_orders_skips_the_overview_and_says_so_on_the_index(tmp_path, empty_shop):
    from kit.report.runner import build_reports

    only_events = tmp_path / "events_only"
    only_events.mkdir()
    (only_events / "events.parquet").write_bytes((empty_shop / "events.parquet").read_bytes())
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    source_nb = config.NOTEBOOKS_DIR / "00_quarter_overview.ipynb"
    (notebooks / source_nb.name).write_bytes(source_nb.read_bytes())
    [report] = build_reports([QUARTER], out=tmp_path / "out", source=str(only_events), notebooks_dir=notebooks,
                             progress=False)
    assert report.ok and [e.status for e in report.entries] == ["skipped"]
    assert report.tiles_error == "the overview needs table orders — not in this source"
    index = (report.folder / "index.html").read_text()
    assert "KPI tiles unavailable: the overview needs table orders — not in this source" in index
