"""kit.funnel: the engine's funnel against a brute-force reading of the specification, and bad input.

The random logs are built so that every hard case happens many times: timestamps on a coarse
grid (ties between steps and between repeats), windows that are a whole number of grid steps
(events exactly on the boundary), a one-day entry period with events on both sides (starts before
it, steps completed after it), several starts per unit, and hold values that are sometimes missing.
Many logs are stacked into one table (units are disjoint), so one engine query checks them all.
"""
from __future__ import annotations

import datetime as dt
import itertools

import ibis
import numpy as np
import pandas as pd
import pytest

import kit.funnel as kf
from kit.funnel import _engine
from kit.funnel._engine import ChainSpec
from kit.funnel._input import parse_steps
from kit.inputs import period_bounds
from tests.funnel_reference import reference_chains, reference_counts

STEPS = ["home_view", "pdp_view", "add_to_cart", "checkout", "pay"]
PERIOD = (dt.date(2025, 10, 1), dt.date(2025, 10, 1))
BOUNDS = period_bounds(PERIOD)
GRID = dt.timedelta(minutes=20)
WINDOW = dt.timedelta(hours=2)      # six grid steps: boundary hits are common


def random_log(seed: int, n_units: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    origin = dt.datetime(2025, 9, 30, 21, 0)          # three hours before the period opens
    span = int(dt.timedelta(hours=33) / GRID)         # ends after the period closes
    rows = []

    def add(slot, event):
        rows.append({"user_id": f"s{seed}-u{u}", "ts": origin + int(np.clip(slot, 0, span)) * GRID, "event": event,
                     "device": str(rng.choice(["app", "web", "mini"])), "sku_id": [None, "A", "B"][int(rng.integers(0, 3))]})

    for u in range(n_units):
        # One to three visits walking down the funnel (ties when the gap is 0 slots) ...
        for _ in range(int(rng.integers(1, 4))):
            slot = int(rng.integers(0, span))
            for step in STEPS[int(rng.random() < 0.15):]:     # some visits skip the home page
                add(slot, step)
                if rng.random() < 0.2:
                    add(slot + int(rng.integers(0, 2)), step)  # a repeated step
                if rng.random() < 0.3:
                    break
                slot += int(rng.integers(0, 4))
        # ... plus noise: stray steps anywhere near, and exact duplicate rows.
        for _ in range(int(rng.integers(0, 4))):
            add(int(rng.integers(0, span)), str(rng.choice(STEPS + ["search"])))
        if rng.random() < 0.3:
            rows.append(dict(rows[-1]))
    frame = pd.DataFrame(rows, columns=["user_id", "ts", "event", "device", "sku_id"])
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)   # no helpful row order


@pytest.fixture(scope="module")
def logs() -> pd.DataFrame:
    return pd.concat([random_log(seed) for seed in range(6)], ignore_index=True)


def engine_chains(frame, attempt, by=(), hold=None, steps=STEPS, window=WINDOW, bounds=BOUNDS):
    spec = ChainSpec(steps=tuple(parse_steps(steps)), window=pd.Timedelta(window), attempt=attempt, unit="user_id",
                     by=tuple(by), hold=hold, bounds=bounds)
    got = _engine.counted_chains_frame(ibis.memtable(frame), spec)
    return got.rename(columns={_engine.UNIT: "unit"})


def as_records(frame_or_list, k, by):
    cols = ["unit", *by, "depth", *[f"t{j}" for j in range(k)]]
    frame = pd.DataFrame(list(frame_or_list), columns=cols) if isinstance(frame_or_list, list) else frame_or_list[cols]
    frame = frame.astype(object).where(frame.notna(), None)
    records = [tuple(pd.Timestamp(v).to_pydatetime() if isinstance(v, (pd.Timestamp, dt.datetime)) else v for v in row)
               for row in frame.itertuples(index=False)]
    return sorted(records, key=lambda r: tuple((v is None, str(v)) for v in r))


CASES = list(itertools.product(["best", "first", "totals"], [None, "sku_id"], [(), ("device",)]))


@pytest.mark.parametrize("attempt,hold,by", CASES, ids=[f"{a}-{h or 'nohold'}-{'by' if b else 'all'}" for a, h, b in CASES])
def test_chains_match_brute_force(logs, attempt, hold, by):
    rows = logs.to_dict("records")
    for row in rows:
        row["ts"] = pd.Timestamp(row["ts"]).to_pydatetime()
        row["sku_id"] = None if pd.isna(row["sku_id"]) else row["sku_id"]
    expected = reference_chains(rows, STEPS, WINDOW, attempt, by=by, hold=hold, bounds=BOUNDS)
    got = engine_chains(logs, attempt, by=by, hold=hold)
    assert len(expected) > 500, "the random logs should produce many counted chains"
    # The logs must really contain the hard cases, or the comparison proves little.
    depths = pd.Series([c["depth"] for c in expected])
    assert (depths == len(STEPS)).sum() > 10 and (depths == 1).sum() > 10
    assert as_records(got, len(STEPS), by) == as_records(expected, len(STEPS), by)

    # The public aggregate agrees with the reference's counts.
    result = kf.funnel(logs, STEPS, window=WINDOW, attempt=attempt, by=list(by) or None, hold=hold, quarter=PERIOD)
    table = result.to_pandas()
    counts = reference_counts(expected, len(STEPS), by)
    for key, reached in counts.items():
        rows_of = table
        for column, value in zip(by, key):
            rows_of = rows_of[rows_of[column] == value]
        assert rows_of["converted_from_previous"].tolist() == reached
        assert rows_of["entered"].tolist() == [reached[0], *reached[:-1]]


def test_hard_cases_are_present(logs):
    """The random logs contain ties, boundary hits, pre-period starts and post-period completions."""
    rows = logs.to_dict("records")
    for row in rows:
        row["ts"] = pd.Timestamp(row["ts"]).to_pydatetime()
    counted = reference_chains(rows, STEPS, WINDOW, "totals", bounds=BOUNDS)
    times = [[c[f"t{j}"] for j in range(len(STEPS)) if c[f"t{j}"] is not None] for c in counted]
    assert sum(any(a == b for a, b in zip(t, t[1:])) for t in times) > 20          # same-time steps chained
    assert sum(t[-1] - t[0] == WINDOW for t in times) > 20                        # last step exactly on the boundary
    assert sum(t[-1] >= BOUNDS[1] for t in times) > 5                             # completed after the period
    starts_before = logs[(logs.event == "home_view") & (logs.ts < BOUNDS[0])]
    assert len(starts_before) > 20                                                # starts outside, not counted
    per_unit = logs[logs.event == "home_view"].groupby("user_id").size()
    assert (per_unit >= 3).sum() > 50                                             # several attempts per unit


def test_result_does_not_depend_on_row_order(logs):
    base = kf.funnel(logs, STEPS, window=WINDOW, by="device", quarter=PERIOD).to_pandas()
    shuffled = logs.sample(frac=1.0, random_state=99).reset_index(drop=True)
    again = kf.funnel(shuffled, STEPS, window=WINDOW, by="device", quarter=PERIOD).to_pandas()
    pd.testing.assert_frame_equal(base, again)


def test_attempt_modes_on_a_worked_example():
    """One user, two visits: the first stalls at the detail page, the second pays."""
    t = dt.datetime(2025, 10, 1, 9, 0)
    frame = pd.DataFrame({
        "user_id": ["u"] * 7,
        "ts": [t, t + dt.timedelta(minutes=1), t + dt.timedelta(hours=30), t + dt.timedelta(hours=30),
               t + dt.timedelta(hours=30, minutes=5), t + dt.timedelta(hours=30, minutes=6), t + dt.timedelta(hours=30, minutes=6)],
        # the second home view and detail view share a timestamp: ordered by step, so the chain goes on
        "event": ["home_view", "pdp_view", "home_view", "pdp_view", "add_to_cart", "checkout", "pay"],
    })
    best = kf.funnel(frame, STEPS, window="1D", attempt="best", quarter="2025Q4").to_pandas()
    first = kf.funnel(frame, STEPS, window="1D", attempt="first", quarter="2025Q4").to_pandas()
    totals = kf.funnel(frame, STEPS, window="1D", attempt="totals", quarter="2025Q4").to_pandas()
    assert best["converted_from_previous"].tolist() == [1, 1, 1, 1, 1]
    assert first["converted_from_previous"].tolist() == [1, 1, 0, 0, 0]
    assert totals["converted_from_previous"].tolist() == [2, 2, 1, 1, 1]
    ttc = kf.time_to_convert(frame, STEPS, window="1D", attempt="best", quarter="2025Q4").to_pandas()
    assert ttc["median_seconds"].tolist() == [0.0, 300.0, 60.0, 0.0, 360.0]


def test_window_boundary_is_inclusive():
    t = dt.datetime(2025, 11, 11, 0, 0)
    frame = pd.DataFrame({"user_id": ["a", "a", "b", "b"], "event": ["home_view", "pdp_view"] * 2,
                          "ts": [t, t + dt.timedelta(minutes=30), t, t + dt.timedelta(minutes=30, microseconds=1)]})
    got = kf.funnel(frame, STEPS[:2], window="30min", quarter="2025Q4").to_pandas()
    assert got["converted_from_previous"].tolist() == [2, 1]


def test_steps_after_the_quarter_count_but_starts_after_it_do_not():
    end = dt.datetime(2025, 12, 31, 23, 50)
    frame = pd.DataFrame({"user_id": ["a", "a", "b", "b"], "event": ["home_view", "pdp_view"] * 2,
                          "ts": [end, end + dt.timedelta(minutes=20), end + dt.timedelta(minutes=15), end + dt.timedelta(minutes=20)]})
    got = kf.funnel(frame, STEPS[:2], window="1h", quarter="2025Q4").to_pandas()
    assert got["converted_from_previous"].tolist() == [1, 1]   # a enters and converts in January; b is Q1's


def test_hold_keeps_the_item_constant():
    t = dt.datetime(2025, 10, 2, 12)
    frame = pd.DataFrame({
        "user_id": ["a"] * 4 + ["b"] * 3,
        "ts": [t + dt.timedelta(minutes=m) for m in (0, 1, 2, 3, 0, 1, 2)],
        "event": ["home_view", "pdp_view", "add_to_cart", "pdp_view", "home_view", "pdp_view", "add_to_cart"],
        "sku_id": [None, "X", "Y", "Y", None, "X", "X"],
    })
    held = kf.funnel(frame, STEPS[:3], hold="sku_id", quarter="2025Q4").to_pandas()
    free = kf.funnel(frame, STEPS[:3], quarter="2025Q4").to_pandas()
    # a viewed X then added Y: without hold that converts; with hold, a's view of Y at minute 3 comes
    # after the cart add, so a does not add a viewed item. b views and adds X.
    assert free["converted_from_previous"].tolist() == [2, 2, 2]
    assert held["converted_from_previous"].tolist() == [2, 2, 1]


def test_hold_copies_valueless_events_only_near_their_partitions(logs):
    """The brute-force comparison above proves the chains with hold unchanged; this proves the pruning
    it covers really happens in those logs: a valueless event of steps 2.. is copied into ∅ and into
    each partition with a valued event within a window of it (all of those, and only partitions with
    a valued event in its own or an adjacent window-long bucket), not into every item of its unit."""
    spec = ChainSpec(steps=tuple(parse_steps(STEPS)), window=pd.Timedelta(WINDOW), attempt="best", unit="user_id",
                     by=(), hold="sku_id", bounds=BOUNDS)
    with _engine.prepared(ibis.memtable(logs), spec) as tagged:
        placed = _engine._hold_partitions(tagged, spec.window)[1].to_pandas()
        events = tagged.to_pandas()
    later = events[events[_engine.STEP] > 0]
    valued, bare = events[events[_engine.HOLD].notna()], later[later[_engine.HOLD].isna()]
    times = valued.groupby([_engine.UNIT, _engine.HOLD])[_engine.TS].apply(list)
    bucket = lambda ts: pd.Timestamp(ts).timestamp() // WINDOW.total_seconds()  # noqa: E731
    needed, adjacent, everywhere = [], 0, 0
    for unit, ts, step in zip(bare[_engine.UNIT], bare[_engine.TS], bare[_engine.STEP]):
        for part, valued_times in times.get(unit, pd.Series(dtype=object)).items():
            everywhere += 1
            adjacent += any(abs(bucket(v) - bucket(ts)) <= 1 for v in valued_times)
            if any(abs(v - ts) <= WINDOW for v in valued_times):
                needed.append((unit, ts, step, part))
    copies = len(placed) - len(later)          # besides each event in its own partition (or ∅)
    rows = set(zip(placed[_engine.UNIT], placed[_engine.TS], placed[_engine.STEP], placed[_engine.PART]))
    assert all(row in rows for row in needed)
    assert len(needed) <= copies <= adjacent < 0.8 * everywhere, (len(needed), copies, adjacent, everywhere)
    assert len(needed) > 100


def test_wilson_intervals_and_rates_from_counts(logs):
    from statsmodels.stats.proportion import proportion_confint
    table = kf.funnel(logs, STEPS, window=WINDOW, quarter=PERIOD).to_pandas()
    for row in table.itertuples():
        assert row.conversion_from_previous == pytest.approx(row.converted_from_previous / row.entered)
        low, high = proportion_confint(row.converted_from_previous, row.entered, method="wilson")
        assert (row.conversion_from_previous_low, row.conversion_from_previous_high) == pytest.approx((low, high))
        assert row.drop_off == row.entered - row.converted_from_previous


def test_time_to_convert_matches_numpy_quantiles(logs):
    rows = logs.to_dict("records")
    for row in rows:
        row["ts"] = pd.Timestamp(row["ts"]).to_pydatetime()
    for attempt in ("best", "totals"):
        counted = reference_chains(rows, STEPS, WINDOW, attempt, bounds=BOUNDS)
        got = kf.time_to_convert(logs, STEPS, window=WINDOW, attempt=attempt, quarter=PERIOD).to_pandas()
        pairs = [(j - 1, j) for j in range(1, len(STEPS))] + [(0, len(STEPS) - 1)]
        for (a, b), row in zip(pairs, got.itertuples()):
            seconds = np.array([(c[f"t{b}"] - c[f"t{a}"]).total_seconds() for c in counted if c[f"t{b}"] is not None])
            assert row.conversions == len(seconds)
            assert row.median_seconds == pytest.approx(np.quantile(seconds, 0.5))
            assert row.p90_seconds == pytest.approx(np.quantile(seconds, 0.9))


@pytest.mark.parametrize("attempt,hold", [("best", None), ("first", None), ("totals", None), ("best", "sku_id"), ("first", "sku_id")])
def test_one_pass_with_breakdowns_equals_separate_calls(logs, attempt, hold):
    """funnel_with_breakdowns shares the joins between results; every result must equal its own call."""
    frame = logs.assign(cohort=np.where(logs["user_id"].str.len() % 2 == 0, "even", "odd"))
    common = dict(window=WINDOW, attempt=attempt, hold=hold, quarter=PERIOD)
    overall, by, times = kf.funnel_with_breakdowns(frame, STEPS, breakdowns=["device", "cohort"], **common)
    pd.testing.assert_frame_equal(overall.to_pandas(), kf.funnel(frame, STEPS, **common).to_pandas())
    assert list(by) == ["device", "cohort"]
    for name, result in by.items():
        pd.testing.assert_frame_equal(result.to_pandas(), kf.funnel(frame, STEPS, by=name, **common).to_pandas())
    pd.testing.assert_frame_equal(times.to_pandas(), kf.time_to_convert(frame, STEPS, **common).to_pandas())

    # The review's pass: the same, plus the previous period's overall funnel from the same step events.
    day_before = (PERIOD[0] - dt.timedelta(days=1),) * 2
    current, by_again, times_again, previous = kf.quarter_funnels(frame, STEPS, breakdowns=["device", "cohort"],
                                                                  previous=day_before, **common)
    pd.testing.assert_frame_equal(current.to_pandas(), overall.to_pandas())
    pd.testing.assert_frame_equal(by_again["cohort"].to_pandas(), by["cohort"].to_pandas())
    pd.testing.assert_frame_equal(times_again.to_pandas(), times.to_pandas())
    alone = kf.funnel(frame, STEPS, **{**common, "quarter": day_before})
    assert alone.cohort > 0
    pd.testing.assert_frame_equal(previous.to_pandas(), alone.to_pandas())


# -- bad input --------------------------------------------------------------------------------

@pytest.fixture()
def tiny():
    return pd.DataFrame({"user_id": ["a"], "ts": [dt.datetime(2025, 10, 1)], "event": ["home_view"]})


def test_unknown_step_name(tiny):
    with pytest.raises(ValueError, match=r"unknown step name 'pdp_veiw' \(step 2 of 2\).*pdp_view"):
        kf.funnel(tiny, ["home_view", "pdp_veiw"])


def test_empty_steps(tiny):
    with pytest.raises(ValueError, match="steps is empty"):
        kf.funnel(tiny, [])


@pytest.mark.parametrize("window", ["0s", "-1D", "banana", None])
def test_non_positive_or_bad_window(tiny, window):
    with pytest.raises(ValueError, match="window"):
        kf.funnel(tiny, STEPS, window=window)


def test_events_without_ts(tiny):
    with pytest.raises(ValueError, match=r"events table: required column 'ts' is missing .*columns present: user_id, event"):
        kf.funnel(tiny.drop(columns="ts"), STEPS)


def test_ts_of_the_wrong_type(tiny):
    with pytest.raises(ValueError, match="column 'ts' must be a timestamp"):
        kf.funnel(tiny.assign(ts="2025-10-01"), STEPS)


def test_missing_breakdown_and_hold_columns(tiny):
    with pytest.raises(ValueError, match="required column 'device' is missing .*breakdown"):
        kf.funnel(tiny, STEPS, by="device")
    with pytest.raises(ValueError, match="required column 'sku_id' is missing .*held constant"):
        kf.funnel(tiny, STEPS, hold="sku_id")


def test_repeated_step_and_bad_attempt(tiny):
    with pytest.raises(ValueError, match="steps repeat 'pdp_view'"):
        kf.funnel(tiny, ["home_view", "pdp_view", "pdp_view"])
    with pytest.raises(ValueError, match="attempt must be one of best, first, totals"):
        kf.funnel(tiny, STEPS, attempt="last")


def test_null_timestamps_are_reported_with_count_and_example():
    frame = pd.DataFrame({"user_id": ["a", "b", "c"], "ts": [dt.datetime(2025, 10, 1), pd.NaT, pd.NaT],
                          "event": ["home_view", "pdp_view", "search"]})
    with pytest.raises(ValueError, match=r"column 'ts': must not be empty .* 1 row; example: .*'user_id': 'b'.*'step': 'pdp_view'"):
        kf.funnel(frame, STEPS)


def test_overlapping_custom_steps_are_rejected(tiny):
    frame = pd.DataFrame({"user_id": ["a", "a"], "ts": [dt.datetime(2025, 10, 1)] * 2, "event": ["home_view", "pdp_view"],
                          "screen": [None, 3]})
    steps = ["home_view", ("any detail view", ibis._.event == "pdp_view"), ("deep view", ibis._.screen >= 3)]
    with pytest.raises(ValueError, match=r"step rules overlap — 1 row matches several steps \(the example matches any detail view, deep view\)"):
        kf.funnel(frame, steps)
    # Disjoint custom rules are fine.
    steps = ["home_view", ("deep view", (ibis._.event == "pdp_view") & (ibis._.screen >= 3))]
    assert kf.funnel(frame, steps).to_pandas()["converted_from_previous"].tolist() == [1, 1]
