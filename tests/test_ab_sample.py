"""kit.ab on data: per-user metrics built in the engine (window edges checked by hand on a tiny
source) and the sample's planted arms recovered (truth.json)."""
from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import pytest

import kit
from kit import ab
from kit.ab import stats as abstats
from kit.ab.daily import daily_arm_moments
from kit.ab.metrics import resolve

# ---------------------------------------------------------------------------------------------
# user_metrics on a hand-made source

LOCAL = "Asia/Shanghai"


def _utc(local: str) -> pd.Timestamp:
    return pd.Timestamp(local, tz=LOCAL).tz_convert("UTC")


@pytest.fixture(scope="module")
def tiny_source(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ab_tiny")
    # exposures stored as naive local time; events and orders as aware UTC instants
    pd.DataFrame({
        "experiment_id": ["e1", "e1", "e1", "other"], "user_id": ["u1", "u2", "u3", "u1"],
        "variant": ["control", "t", "control", "x"],
        "first_exposure_at": pd.to_datetime(["2025-10-06 10:00", "2025-10-07 09:00", "2025-10-08 12:00", "2025-01-01 00:00"]),
    }).to_parquet(folder / "experiments.parquet", index=False)
    events = [
        ("u1", "2025-10-06 09:59", "pdp_view"),   # pre (just before exposure)
        ("u1", "2025-10-06 10:00", "pdp_view"),   # post: exposure instant included
        ("u1", "2025-10-06 10:05", "add_to_cart"),
        ("u1", "2025-10-06 10:06", "pdp_scroll"),  # not a measure
        ("u1", "2025-09-22 10:00", "pdp_view"),   # pre: exactly 14 days before, included
        ("u1", "2025-09-22 09:59", "pdp_view"),   # before the pre window
        ("u1", "2025-10-08 23:59", "pdp_view"),   # post: last local day of the window
        ("u1", "2025-10-09 00:00", "pdp_view"),   # after the window
        ("u2", "2025-10-07 08:00", "add_to_cart"),  # pre
        ("u9", "2025-10-07 10:00", "pdp_view"),   # not exposed
    ]
    pd.DataFrame({
        "user_id": [e[0] for e in events], "session_id": [f"s{i}" for i in range(len(events))],
        "ts": [_utc(e[1]) for e in events], "event": [e[2] for e in events],
    }).to_parquet(folder / "events.parquet", index=False)
    pd.DataFrame({
        "order_id": ["o1", "o2", "o3", "o4"], "user_id": ["u1", "u2", "u3", "u3"],
        "paid_at": [_utc("2025-10-07 12:00"), _utc("2025-10-07 09:30"), _utc("2025-10-01 12:00"), _utc("2025-10-09 00:30")],
        "gmv": [100.0, 50.0, 30.0, 999.0], "discount": [0.0, 0.0, 0.0, 0.0], "channel": ["direct"] * 4,
        "is_presale": [False] * 4, "status": ["paid", "refunded", "paid", "paid"],
    }).to_parquet(folder / "orders.parquet", index=False)
    return kit.connect(folder)


def test_user_metrics_counts_each_window_edge(tiny_source):
    table = ab.user_metrics(tiny_source, "e1")
    got = table.to_pyarrow().to_pandas().set_index("user_id").sort_index()
    expected = pd.DataFrame({
        "variant": ["control", "t", "control"],
        "pdp_views": [2, 0, 0], "add_to_carts": [1, 0, 0], "orders": [1, 1, 0], "revenue": [100.0, 50.0, 0.0],
        "converted": [1, 1, 0], "pre_pdp_views": [2, 0, 0], "pre_add_to_carts": [0, 1, 0], "pre_orders": [0, 0, 1],
        "pre_revenue": [0.0, 0.0, 30.0], "pre_converted": [0, 0, 1],
    }, index=pd.Index(["u1", "u2", "u3"], name="user_id"))
    pd.testing.assert_frame_equal(got[expected.columns], expected, check_dtype=False)
    assert got.loc["u1", "first_exposure_at"] == pd.Timestamp("2025-10-06 10:00")


def test_user_metrics_options(tiny_source):
    net = ab.user_metrics(tiny_source, "e1", gmv_basis="net_of_refunds").to_pyarrow().to_pandas().set_index("user_id")
    assert net.loc["u2", "orders"] == 0 and net.loc["u2", "revenue"] == 0.0
    short = ab.user_metrics(tiny_source, "e1", pre_window_days=1).to_pyarrow().to_pandas().set_index("user_id")
    assert short.loc["u1", "pre_pdp_views"] == 1 and short.loc["u3", "pre_orders"] == 0
    later = ab.user_metrics(tiny_source, "e1", end="2025-10-09").to_pyarrow().to_pandas().set_index("user_id")
    assert later.loc["u1", "pdp_views"] == 3 and later.loc["u3", "orders"] == 1
    early = ab.user_metrics(tiny_source, "e1", end="2025-10-06").to_pyarrow().to_pandas().set_index("user_id")
    assert list(early.index) == ["u1"] and early.loc["u1", "pdp_views"] == 1  # u2, u3 not exposed yet


def test_daily_user_metrics_cumulate_to_the_end_of_each_day(tiny_source):
    daily = ab.daily_user_metrics(tiny_source, "e1").to_pyarrow().to_pandas()
    got = daily.set_index(["user_id", "day"]).sort_index()[["pdp_views", "add_to_carts", "orders", "revenue", "converted", "pre_pdp_views"]]
    d = dt.date
    expected = pd.DataFrame(
        [[1, 1, 0, 0.0, 0, 2], [1, 1, 1, 100.0, 1, 2], [2, 1, 1, 100.0, 1, 2],   # u1: exposed 10-06
         [0, 0, 1, 50.0, 1, 0], [0, 0, 1, 50.0, 1, 0],                            # u2: exposed 10-07
         [0, 0, 0, 0.0, 0, 0]],                                                     # u3: exposed 10-08
        columns=got.columns,
        index=pd.MultiIndex.from_tuples([("u1", d(2025, 10, 6)), ("u1", d(2025, 10, 7)), ("u1", d(2025, 10, 8)),
                                         ("u2", d(2025, 10, 7)), ("u2", d(2025, 10, 8)), ("u3", d(2025, 10, 8))],
                                        names=["user_id", "day"]))
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


@pytest.mark.parametrize("gmv_basis", ["paid", "net_of_refunds"])
def test_daily_arm_moments_are_the_moments_of_the_daily_grid(tiny_source, gmv_basis):
    """The review's replay sums activity changes instead of grouping users × days: same numbers."""
    users = ab.user_metrics(tiny_source, "e1", gmv_basis=gmv_basis)
    metrics = resolve(list(ab.standard_metrics()))
    daily = ab.daily_user_metrics(tiny_source, "e1", gmv_basis=gmv_basis, users=users)
    keyed = daily.mutate(__key=daily.variant + "\x1f" + daily.day.cast("string"))
    keys, grid = ab.arm_moments(keyed, metrics, variant="__key", unit=None)
    rows, fast = daily_arm_moments(tiny_source, users, metrics, gmv_basis=gmv_basis)
    assert [f"{arm}\x1f{day}" for arm, day in zip(rows.arm, rows.day)] == keys
    assert fast.columns == grid.columns
    np.testing.assert_array_equal(fast.n, grid.n)
    np.testing.assert_array_equal(fast.sums, grid.sums)
    np.testing.assert_array_equal(fast.cross, grid.cross)  # NaN where no metric needs the pair, in both
    with pytest.raises(ValueError, match="required column 'basket' is missing"):
        daily_arm_moments(tiny_source, users, [ab.Mean("basket")])


def test_user_metrics_bad_input(tiny_source):
    with pytest.raises(ValueError, match=r"table 'experiments' has no rows for experiment_id='nope'; experiments present: 'e1', 'other'"):
        ab.user_metrics(tiny_source, "nope")
    with pytest.raises(ValueError, match="pre_window_days must be a whole number"):
        ab.user_metrics(tiny_source, "e1", pre_window_days=0)
    with pytest.raises(ValueError, match="gmv_basis must be"):
        ab.user_metrics(tiny_source, "e1", gmv_basis="net")


# ---------------------------------------------------------------------------------------------
# the sample's planted truths

@pytest.fixture(scope="module")
def truth(sample_truth):
    return sample_truth["experiments"]


@pytest.fixture(scope="module")
def selling_points(sample_source, sample_params):
    return kit.ab.review(sample_source, sample_params, "pdp_selling_points", path=False)


def _planted(truth, experiment, metric):
    return {arm: lift for arm, lift in truth[experiment]["true_lift"][metric].items() if lift}


def test_the_planted_winners_are_found_and_null_arms_are_not_called(selling_points, truth):
    t = truth["pdp_selling_points"]
    assert not selling_points.srm.mismatch and not t["srm"]
    assert selling_points.verdict.status == "winner"
    assert sorted(selling_points.verdict.winners) == sorted(t["winners"])
    effects = selling_points.effects()
    null_arms = [a for a in t["arms"] if not any(t["true_lift"][m].get(a) for m in t["true_lift"])]
    called = effects[effects.variant.isin(null_arms) & effects.significant]
    assert called.empty, called[["metric", "variant", "pvalue_adj"]]


def test_the_planted_guardrail_harm_is_on_the_watch_list(selling_points, truth):
    breach = truth["pdp_selling_points"]["guardrail_breach"]
    assert breach and set(breach) <= set(selling_points.verdict.watch)
    assert not set(breach) & set(selling_points.verdict.winners)


def test_planted_ctr_lifts_lie_in_their_intervals(selling_points, truth):
    frame = selling_points.primary.to_pandas().set_index("variant")
    for arm, lift in _planted(truth, "pdp_selling_points", "ctr").items():
        row = frame.loc[arm]
        assert row.rel_ci_low <= lift <= row.rel_ci_high, (arm, lift, row.rel_ci_low, row.rel_ci_high)


def test_user_metrics_reproduce_the_planted_baselines(selling_points, truth):
    """Pooled over the arms with no planted effect, each metric is the generator's baseline within 4 se."""
    t = truth["pdp_selling_points"]
    planted = {a for m in t["true_lift"].values() for a, lift in m.items() if lift}
    users = selling_points.users
    pooled = users.filter(~users.variant.isin(sorted(planted))).mutate(variant=ibis.literal("pooled"))
    metrics = ab.standard_metrics(cuped=False)
    for name in ("ctr", "conversion", "revenue_per_user"):
        metric = metrics[name]
        _, moments = ab.arm_moments(pooled, [metric])
        est = abstats.arm_estimate(metric, moments)
        estimate, se = float(est["estimate"][0]), float(np.sqrt(est["var"][0]))
        assert abs(estimate - t["baseline"][name]) < 4 * se, (name, estimate, t["baseline"][name], se)


def test_a_broken_split_makes_the_test_invalid(sample_source, truth):
    assert truth["pdp_first_screen_offer"]["srm"]
    r = kit.ab.review(sample_source, kit.params.load("2025Q2"), "pdp_first_screen_offer", path=False)
    assert r.srm.mismatch and r.verdict.status == "invalid" and r.verdict.winners == []
    worst = r.srm.table.set_index("variant").deviation.idxmin()
    assert worst in truth["pdp_first_screen_offer"]["lost_share"]


@pytest.fixture(scope="module")
def hero_video(sample_source):
    return kit.ab.review(sample_source, kit.params.load("2025Q3"), "pdp_hero_video")  # with the day-by-day replay


def test_the_two_arm_experiment_recovers_its_lift(hero_video, truth):
    r = hero_video
    lift = truth["pdp_hero_video"]["true_lift"]["ctr"]["video"]
    row = r.primary.to_pandas().iloc[0]
    assert row.rel_ci_low <= lift <= row.rel_ci_high
    assert r.verdict.status == "winner" and r.verdict.winners == ["video"]
    assert not r.srm.mismatch


def test_the_review_replay_is_the_replay_of_the_daily_grid(sample_source, hero_video):
    p = kit.params.load("2025Q3")
    daily = ab.daily_user_metrics(sample_source, "pdp_hero_video", p.ab.pre_window_days, gmv_basis=p.gmv_basis,
                                  users=hero_video.users)
    grid = ab.sequential_path(daily, [p.ab.primary_metric], alpha=p.ab.alpha, correction=p.ab.correction,
                              planned_users=p.ab.planned_users, prior_sd=p.ab.prior_sd, cuped=p.ab.cuped)
    pd.testing.assert_frame_equal(hero_video.path.to_pandas(), grid.to_pandas(), check_exact=True)
    assert hero_video.path.planned_users == grid.planned_users


def test_the_day_by_day_replay_matches_analyses_of_each_day(sample_source, hero_video):
    """The replay's last day is analyze(sequential=True) on the final table; a middle day's fixed-horizon
    numbers are analyze() on user_metrics(end=that day): two independent query shapes, same numbers."""
    r = hero_video
    path = r.path.to_pandas()
    last = path[path.day == path.day.max()].iloc[0]
    final = ab.analyze(r.users, ["ctr"], sequential=True, planned_users=r.path.planned_users).to_pandas().iloc[0]
    for column in ("effect", "ci_low", "ci_high", "rel_ci_low", "rel_ci_high", "pvalue"):
        assert last[column] == pytest.approx(final[column], rel=1e-9), column
    middle_day = sorted(path.day.unique())[10]
    middle = path[path.day == middle_day].iloc[0]
    cut = ab.analyze(ab.user_metrics(sample_source, "pdp_hero_video", end=middle_day), ["ctr"]).to_pandas().iloc[0]
    assert middle.n_treatment == cut.n_treatment
    for column in ("ci_low", "ci_high", "pvalue"):
        assert middle[f"{column}_fixed"] == pytest.approx(cut[column], rel=1e-9), column
    # always valid is wider than fixed every day
    assert (path.ci_high - path.ci_low > path.ci_high_fixed - path.ci_low_fixed).all()
