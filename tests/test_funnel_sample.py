"""kit.funnel on the sample data: the planted truths of data/sample/truth.json are recovered.

The planted funnel is per session (every session opens with one home view), so these checks count
sessions. Tolerances are four binomial standard errors of the realised rates (the truth is the
mean of the sessions' planted probabilities, so the realised rate differs by sampling noise only).
"""
from __future__ import annotations

import numpy as np
import pytest

import kit.funnel as kf


@pytest.fixture(scope="module")
def truth(sample_truth):
    return sample_truth["funnel"]


@pytest.fixture(scope="module")
def q4_by_device(sample_source, truth):
    events = kf.load_events(sample_source, "2025Q4", "1D", attributes=["device"])
    return kf.funnel(events, truth["steps"], window="1D", unit="session_id", by="device", quarter="2025Q4")


def test_planted_step_rates_are_recovered(q4_by_device, truth):
    table = q4_by_device.overall().to_pandas().set_index("step")
    planted = truth["step_rates"]["2025Q4"]
    for step in truth["steps"][1:]:
        row = table.loc[step]
        p = planted[step]
        se = np.sqrt(p * (1 - p) / row["entered"])
        assert abs(row["conversion_from_previous"] - p) < 4 * se, (step, row["conversion_from_previous"], p)
        assert row["conversion_from_previous_low"] < p < row["conversion_from_previous_high"] or \
            abs(row["conversion_from_previous"] - p) < 4 * se


def test_planted_segment_rates_are_recovered(sample_source, truth):
    """Every segment of the three breakdowns over 2025 (the period of the planted segment rates): the
    cohort is exactly the planted number of sessions, and each step rate is within four binomial
    standard errors of the planted one (72 rates)."""
    events = kf.load_events(sample_source, "2025Q4", "1D", quarters=4, attributes=["device", "channel", "customer"])
    _, by, _ = kf.funnel_with_breakdowns(events, truth["steps"], window="1D", unit="session_id",
                                         breakdowns=["device", "channel", "customer"], quarter=("2025-01-01", "2025-12-31"))
    checked = 0
    for dim, result in by.items():
        table = result.to_pandas()
        assert set(table[dim]) == set(truth["segments"][dim])
        for segment, rates in truth["segments"][dim].items():
            rows = table[table[dim] == segment].set_index("step")
            assert rows.loc[truth["steps"][0], "entered"] == truth["segment_sessions"][dim][segment], (dim, segment)
            for step, p in rates.items():
                row = rows.loc[step]
                se = np.sqrt(p * (1 - p) / row["entered"])
                assert abs(row["conversion_from_previous"] - p) < 4 * se, (dim, segment, step, row["conversion_from_previous"], p)
                checked += 1
    assert checked == 4 * sum(len(v) for v in truth["segments"].values())


def test_planted_weak_device_is_flagged(q4_by_device, truth):
    """h5 (mobile web) is planted with the lowest payment rate; the segment test must single it out."""
    comparison = kf.compare_segments(q4_by_device).to_pandas()
    pay = comparison[comparison.step == "pay"].set_index("device")
    planted = {d: rates["pay"] for d, rates in truth["segments"]["device"].items()}
    assert min(planted, key=planted.get) == "h5"
    assert bool(pay.loc["h5", "significant"]) and pay.loc["h5", "difference"] < -0.1
    assert pay["conversion"].idxmin() == "h5"
    leak = q4_by_device.biggest_leak()
    assert (leak["from_step"], leak["to_step"]) == ("pdp_view", "add_to_cart")   # planted: ~14% add to cart


def test_planted_worst_screen_and_exit_rates(sample_source, truth):
    exits = kf.scroll_exits(kf.load_events(sample_source, "2025Q4", "1D", attributes=()), quarter="2025Q4")
    assert exits.worst_screen == truth["screens"]["worst_screen"] == 3
    table = exits.to_pandas().set_index("screen")
    assert table.index.max() == truth["screens"]["max_screen"]
    for screen, rate in truth["screens"]["exit"].items():
        row = table.loc[int(screen)]
        se = np.sqrt(rate * (1 - rate) / row["reaching"])
        assert abs(row["exit_rate"] - rate) < 4 * se, (screen, row["exit_rate"], rate)
    for screen, reach in truth["screens"]["reach"].items():
        assert table.loc[int(screen), "reach"] == pytest.approx(reach, abs=0.005)


def test_planted_time_to_convert(sample_source, truth):
    """Median gaps between steps, outside the Double 11 peak (October)."""
    events = kf.load_events(sample_source, "2025Q4", "1D", attributes=())
    got = kf.time_to_convert(events, truth["steps"], window="1D", unit="session_id",
                             quarter=("2025-10-01", "2025-10-31")).to_pandas()
    steps = truth["steps"]
    consecutive = [steps.index(b) - steps.index(a) == 1 for a, b in zip(got.from_step, got.to_step)]
    got = got[consecutive].set_index("to_step")
    assert len(got) == len(steps) - 1
    for step, median in truth["time_to_convert_seconds"].items():
        row = got.loc[step]
        # Standard error of a lognormal (σ = 0.6) sample median: 0.75 · median / √n.
        se = 0.6 * np.sqrt(2 * np.pi) / 2 * median / np.sqrt(row["conversions"])
        assert abs(row["median_seconds"] - median) < 5 * se + 0.01, (step, row["median_seconds"], median)
