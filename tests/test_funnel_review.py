"""kit.funnel.review_quarter and its finding in words, on a small source with hand-countable funnels;
plots return their Axes with one mark per row."""
from __future__ import annotations

import datetime as dt

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import kit  # noqa: E402
import kit.funnel as kf  # noqa: E402
from kit import format as fmt  # noqa: E402


def _source(folder):
    """Q3: 50 users, 40 view a detail page, 10 add to cart. Q4: 50 users, 40 view, 30 add (app) / fewer (pc)."""
    users, sessions, events = [], [], []
    for quarter, start, carts in (("q3", dt.datetime(2025, 8, 1, 10), 10), ("q4", dt.datetime(2025, 11, 20, 10), 30)):
        for i in range(50):
            user, session = f"{quarter}-u{i}", f"{quarter}-s{i}"
            users.append({"user_id": user, "signup_at": dt.datetime(2024, 1, 1)})
            sessions.append({"session_id": session, "user_id": user, "started_at": start, "channel": "direct",
                             "is_paid": False, "device": "app" if i < 25 else "pc"})
            events.append({"user_id": user, "session_id": session, "ts": start, "event": "home_view", "sku_id": None, "screen": None})
            if i < 40:
                events.append({"user_id": user, "session_id": session, "ts": start + dt.timedelta(seconds=30),
                               "event": "pdp_view", "sku_id": "k", "screen": 1})
                events.append({"user_id": user, "session_id": session, "ts": start + dt.timedelta(seconds=40),
                               "event": "pdp_scroll", "sku_id": "k", "screen": 2 if i % 2 else 3})
            if i < carts:
                events.append({"user_id": user, "session_id": session, "ts": start + dt.timedelta(seconds=90),
                               "event": "add_to_cart", "sku_id": "k", "screen": None})
    pd.DataFrame(users).to_parquet(folder / "users.parquet")
    pd.DataFrame(sessions).to_parquet(folder / "sessions.parquet")
    frame = pd.DataFrame(events)
    frame["screen"] = frame["screen"].astype("Int64")
    frame.to_parquet(folder / "events.parquet")
    return kit.connect(folder)


def test_review_numbers_and_words(tmp_path):
    src = _source(tmp_path)
    p = kit.params.load("2025Q4")
    review = kf.review_quarter(src, p, steps=["home_view", "pdp_view", "add_to_cart"], breakdowns=["device"])
    table = review.funnel.to_pandas()
    assert table["converted_from_previous"].tolist() == [50, 40, 30]
    text = review.finding()
    # Biggest leak: home → detail loses 20%, detail → cart loses 25% (10 of 40).
    assert "`pdp_view` → `add_to_cart`: 25.0% of the 40 users" in text
    assert "10 users lost" in text
    change = review.quarter_change.to_pandas()
    cart = change[(change.step == "add_to_cart") & (change.measure == "from_previous")].iloc[0]
    assert (cart.previous_converted, cart.converted) == (10, 30)
    assert "`add_to_cart` 25.0% → 75.0% (+50.0 pp" in text
    assert "screen 2 loses the most: 50.0%" in text                # half the views stop at screen 2
    assert "median 1 min 30 s from `home_view` to `add_to_cart`" in text
    assert set(review.breakdowns) == {"device"}


def test_custom_step_rules_see_the_breakdown_attributes_on_every_event(tmp_path):
    """The review joins attributes onto first-step events only, unless a rule may read them elsewhere."""
    from ibis import _

    src = _source(tmp_path)
    steps = ["home_view", ("app detail view", (_.event == "pdp_view") & (_.device == "app"))]
    review = kf.review_quarter(src, kit.params.load("2025Q4"), steps=steps, breakdowns=["device"])
    assert review.funnel.to_pandas()["converted_from_previous"].tolist() == [50, 25]


def test_duration_reads_like_an_analyst_writes_it():
    assert [fmt.duration(s) for s in (4.4, 60, 245.8, 3 * 3600 + 125)] == ["4 s", "1 min", "4 min 6 s", "3 h 2 min"]


def test_plots_return_axes_with_one_mark_per_row():
    frame = pd.DataFrame({"user_id": ["a", "a", "b"], "ts": [dt.datetime(2025, 10, 1, 9)] * 3,
                          "event": ["home_view", "pdp_view", "home_view"]})
    result = kf.funnel(frame, ["home_view", "pdp_view"], quarter="2025Q4")
    ax = kf.plot_funnel(data=result.to_pandas())
    assert len(ax.patches) == 2 and [t.get_text() for t in ax.get_yticklabels()] == ["home_view", "pdp_view"]
    plt.close(ax.figure)
    # Every unit converts: the Wilson upper end can fall a rounding error below 1; still plots.
    # (with 7 units the computed Wilson upper end is 0.9999999999999999)
    many = pd.DataFrame({"user_id": [f"u{i}" for i in range(7) for _ in (0, 1)],
                         "ts": [dt.datetime(2025, 10, 1, 9)] * 14, "event": ["home_view", "pdp_view"] * 7})
    plt.close(kf.plot_funnel(data=kf.funnel(many, ["home_view", "pdp_view"], quarter="2025Q4").to_pandas()).figure)
    change = pd.DataFrame({"step": ["x", "y"], "difference": [0.1, -0.01], "difference_low": [0.05, -0.03],
                           "difference_high": [0.15, 0.01]})
    ax = kf.plot_change(data=change)
    assert len(ax.collections) == 2          # the interval lines and the dots
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="plot_scroll_exits: column 'screen' not in data"):
        kf.plot_scroll_exits(data=change, reach="nope")
