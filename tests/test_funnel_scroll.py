"""kit.funnel.scroll_exits against a per-scroll owner lookup (a different reading of the same rule)
and a simulation with known continuation probabilities; plus the event loader's joins."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import kit
import kit.funnel as kf


def random_scroll_log(seed: int, sessions: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    t0 = dt.datetime(2025, 10, 3, 20, 0)
    for s in range(sessions):
        n_views = int(rng.integers(0, 4))
        view_slots = np.sort(rng.choice(np.arange(0, 40, 4), size=n_views, replace=False))
        for slot in view_slots:   # views of one session at distinct times
            screen = None if rng.random() < 0.2 else int(rng.integers(1, 3))
            rows.append({"session_id": f"{seed}-s{s}", "ts": t0 + dt.timedelta(seconds=int(slot)), "event": "pdp_view",
                         "screen": screen, "device": str(rng.choice(["app", "pc"]))})
        for _ in range(int(rng.integers(0, 6))):   # scrolls anywhere: some before the first view, some tied with a view
            rows.append({"session_id": f"{seed}-s{s}", "ts": t0 + dt.timedelta(seconds=int(rng.integers(0, 44))),
                         "event": "pdp_scroll", "screen": int(rng.integers(1, 7)), "device": None})
        if rng.random() < 0.3:
            rows.append({"session_id": f"{seed}-s{s}", "ts": t0, "event": "add_to_cart", "screen": None, "device": None})
    frame = pd.DataFrame(rows, columns=["session_id", "ts", "event", "screen", "device"])
    frame["screen"] = frame["screen"].astype("Int64")
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def reference_depths(frame: pd.DataFrame):
    """Per view: its device and depth. A scroll belongs to the latest view at or before it."""
    views = defaultdict(list)
    for row in frame[frame.event == "pdp_view"].itertuples():
        views[row.session_id].append([row.ts, 1 if pd.isna(row.screen) else int(row.screen), row.device])
    orphans = 0
    for row in frame[(frame.event == "pdp_scroll") & frame.screen.notna()].itertuples():
        owners = [v for v in views.get(row.session_id, []) if v[0] <= row.ts]
        if not owners:
            orphans += 1
            continue
        owner = max(owners, key=lambda v: v[0])
        owner[1] = max(owner[1], int(row.screen))
    return [(v[2], v[1]) for vs in views.values() for v in vs], orphans


def test_scroll_exits_match_the_owner_lookup():
    frame = pd.concat([random_scroll_log(seed) for seed in range(3)], ignore_index=True)
    depths, orphans = reference_depths(frame)
    assert orphans > 10 and len(depths) > 500
    result = kf.scroll_exits(frame, by="device")
    table = result.to_pandas()
    assert result.orphan_scrolls == orphans
    for device in ("app", "pc"):
        mine = np.array([d for dev, d in depths if dev == device])
        got = table[table.device == device]
        assert got["screen"].tolist() == list(range(1, mine.max() + 1))
        for row in got.itertuples():
            assert row.views == len(mine)
            assert row.reaching == (mine >= row.screen).sum()
            assert row.exits == (mine == row.screen).sum()
            assert row.exit_rate == pytest.approx(row.exits / row.reaching)
    overall = result.overall().to_pandas()
    everything = np.array([d for _, d in depths])
    assert overall["reaching"].tolist() == [(everything >= k).sum() for k in range(1, everything.max() + 1)]
    # Row order does not matter.
    again = kf.scroll_exits(frame.sample(frac=1.0, random_state=7), by="device").to_pandas()
    pd.testing.assert_frame_equal(table, again)


def test_scroll_exits_recover_known_continuation_rates():
    """Views continue from screen k to k+1 with known probabilities; screen 3 loses 60%."""
    rng = np.random.default_rng(11)
    proceed = [0.60, 0.80, 0.40, 0.75, 0.70]
    n = 20_000
    depth = np.ones(n, dtype=int)
    alive = np.ones(n, dtype=bool)
    for k, p in enumerate(proceed, start=1):
        alive &= rng.random(n) < p
        depth[alive] = k + 1
    start = dt.datetime(2025, 11, 1, 12)
    sessions = np.repeat(np.arange(n), depth)
    screen = np.concatenate([np.arange(1, d + 1) for d in depth])
    frame = pd.DataFrame({"session_id": sessions.astype(str), "screen": screen,
                          "event": np.where(screen == 1, "pdp_view", "pdp_scroll"),
                          "ts": [start + dt.timedelta(seconds=int(s)) for s in screen]})
    result = kf.scroll_exits(frame, quarter="2025Q4")
    table = result.to_pandas().set_index("screen")
    z = stats.norm.ppf(0.9995)
    for k, p in enumerate(proceed, start=1):
        row = table.loc[k]
        sd = np.sqrt(p * (1 - p) / row.reaching)
        assert abs(row.exit_rate - (1 - p)) < z * sd
        assert row.exit_rate_low < 1 - p < row.exit_rate_high or abs(row.exit_rate - (1 - p)) < z * sd
    assert result.worst_screen == 3
    assert table.loc[6, "exit_rate"] == 1.0            # the deepest screen: everyone leaves
    assert table.loc[1, "reach"] == 1.0


def test_scroll_exits_bad_input():
    frame = pd.DataFrame({"session_id": ["a"], "ts": [dt.datetime(2025, 10, 1)], "event": ["pdp_view"]})
    with pytest.raises(ValueError, match="required column 'screen' is missing"):
        kf.scroll_exits(frame)
    with pytest.raises(ValueError, match="no detail-page view went past one screen"):
        kf.scroll_exits(frame.assign(screen=1)).worst()


def _write_source(folder):
    day = dt.datetime(2025, 12, 31, 22, 0)
    users = pd.DataFrame({"user_id": ["new", "old"],
                          "signup_at": [day - dt.timedelta(days=29), day - dt.timedelta(days=30)]})
    sessions = pd.DataFrame({"session_id": ["s1", "s2"], "user_id": ["new", "old"], "started_at": [day, day],
                             "channel": ["douyin", "direct"], "is_paid": [True, False], "device": ["app", "pc"]})
    events = pd.DataFrame({
        "user_id": ["new", "new", "old", "old", "old"],
        "session_id": ["s1", "s1", "s2", "s2", "s2"],
        "ts": [day, day + dt.timedelta(hours=3), day, day + dt.timedelta(hours=27), day - dt.timedelta(days=92)],
        "event": ["home_view", "pdp_view", "home_view", "pdp_view", "home_view"],
        "sku_id": [None, "k1", None, "k2", None], "screen": pd.array([None, 1, None, 1, None], dtype="Int64"),
    })
    for name, table in (("users", users), ("sessions", sessions), ("events", events)):
        table.to_parquet(folder / f"{name}.parquet")


def test_load_events_joins_session_attributes_and_keeps_the_window_tail(tmp_path):
    _write_source(tmp_path)
    src = kit.connect(tmp_path)
    events = kf.load_events(src, "2025Q4", window="1D").to_pandas().sort_values(["user_id", "ts"]).reset_index(drop=True)
    # the view 27 hours later falls on 2 January: outside a 1-day tail; the Q3 event is out too
    assert events["ts"].min() >= pd.Timestamp("2025-10-01")
    assert events["ts"].max() < pd.Timestamp("2026-01-02")
    assert len(events) == 3
    assert events.set_index("user_id")["customer"].groupby(level=0).first().to_dict() == {"new": "new", "old": "returning"}
    assert events.set_index("user_id")["channel"].groupby(level=0).first().to_dict() == {"new": "douyin", "old": "direct"}
    got = kf.funnel(kf.load_events(src, "2025Q4", window="1D"), ["home_view", "pdp_view"], quarter="2025Q4",
                    by="customer").to_pandas()
    assert got.set_index(["customer", "step"])["converted_from_previous"].to_dict() == {
        ("new", "home_view"): 1, ("new", "pdp_view"): 1, ("returning", "home_view"): 1, ("returning", "pdp_view"): 0}
    two = kf.load_events(src, "2025Q4", window="2D", quarters=2).to_pandas()
    assert len(two) == 5
