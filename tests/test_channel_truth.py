"""Planted truths of the sample (data/sample/truth.json, "channels") recovered by kit.channel.

The response model runs as the notebook runs it (params defaults, 2025Q4).

Measured on the sample as generated: the *slope* of each channel's response over the spend it
shows (marginal ROAS) is recovered — its ranking, and with it the direction of the reallocation —
but the *level* (ROAS) and the adstock rate are not, for most channels: every channel spends between
0.2× and 2.6× its mean in every week, never near zero, so the curve below the observed range (which
decides ROAS = GMV / spend) is an extrapolation the data cannot check, and Hill and logistic curves
that agree on the observed range disagree on it. The tests of those planted values are kept, marked
xfail (not strict: a regenerated sample with dark weeks should make them pass), so the gap stays
visible in every test run. Simulations with dark (zero-spend) flights recover ROAS within 10% and
adstock within 0.1: tests/test_channel_response.py.
"""
from __future__ import annotations

import json

import pytest
from scipy.stats import spearmanr

import kit
from kit import config

TRUTH = config.SAMPLE_DIR / "truth.json"
pytestmark = pytest.mark.skipif(not TRUTH.exists(), reason="sample data not generated (kit synth)")
QUARTER = "2025Q4"
CHANNELS = ["search_ads", "feed_ads", "douyin", "kuaishou", "wechat_channels", "xiaohongshu"]
NOT_IDENTIFIED = pytest.mark.xfail(strict=False, reason="ROAS level / adstock not identified: the sample's spend never goes "
                                                      "near zero (see module docstring)")


@pytest.fixture(scope="module")
def truth():
    return json.loads(TRUTH.read_text(encoding="utf-8"))["channels"]


@pytest.fixture(scope="module")
def fitted():
    p = kit.params.load(QUARTER)
    src = kit.connect(params=p)
    weekly = kit.channel.weekly(src, p.channel.history_start, kit.Quarter(QUARTER).end, params=p)
    model = kit.channel.response_model(weekly, "gmv", weekly.attrs["spend_columns"], controls=p.channel.controls,
                                       saturation=p.channel.saturation, bootstrap=p.channel.bootstrap, seed=p.channel.seed,
                                       period=QUARTER, exclude="promo_week")
    return model, model.roas().set_index("channel"), model.params().set_index("channel")


@NOT_IDENTIFIED
@pytest.mark.parametrize("channel", CHANNELS)
def test_planted_roas_inside_the_interval_and_within_15_percent(channel, truth, fitted):
    _, table, _ = fitted
    planted = truth[channel]["roas"][QUARTER]
    row = table.loc[channel]
    assert row.roas_ci_low <= planted <= row.roas_ci_high, (row.roas_ci_low, planted, row.roas_ci_high)
    assert row.roas == pytest.approx(planted, rel=0.15)


@NOT_IDENTIFIED
@pytest.mark.parametrize("channel", CHANNELS)
def test_planted_adstock_within_0_1(channel, truth, fitted):
    _, _, params = fitted
    assert abs(params.loc[channel, "adstock"] - truth[channel]["adstock"]) < 0.1


def test_reallocation_moves_budget_toward_the_highest_planted_marginal_roas(truth, fitted):
    model, _, _ = fitted
    plan = kit.channel.reallocate(model, bounds=0.3).to_pandas().set_index("channel").drop(index="total")
    planted = {c: truth[c]["mroas"][QUARTER] for c in plan.index}
    ranked = sorted(planted, key=planted.get)
    assert plan.loc[ranked[-1], "change"] > 0, "the channel with the highest planted marginal ROAS must gain budget"
    assert plan.loc[ranked[0], "change"] < 0, "the channel with the lowest planted marginal ROAS must lose budget"
    rho = spearmanr([planted[c] for c in plan.index], plan["change_pct"]).statistic
    assert rho > 0.4


def test_marginal_roas_ranks_like_the_planted_one(truth, fitted):
    _, table, _ = fitted
    planted = [truth[c]["mroas"][QUARTER] for c in table.index]
    assert spearmanr(planted, table["mroas"]).statistic > 0.5


def test_last_click_understates_xiaohongshu_and_markov_restores_it(truth):
    """The sample plants xiaohongshu as a seeding channel whose orders close elsewhere (last click far below true ROAS)."""
    p = kit.params.load(QUARTER)
    journeys = kit.channel.paths(kit.connect(params=p), QUARTER, params=p)
    result = kit.channel.attribution(journeys, ["last", "markov", "shapley"]).wide("value")
    assert truth["xiaohongshu"]["last_click_roas"][QUARTER] < 0.6 * truth["xiaohongshu"]["roas"][QUARTER]
    assert result.loc["xiaohongshu", "markov"] > 2 * result.loc["xiaohongshu", "last"]
    assert result.loc["xiaohongshu", "shapley"] > 2 * result.loc["xiaohongshu", "last"]


def test_summary_last_click_roas_matches_the_planted_last_click(truth):
    table = kit.channel.summary(None, QUARTER).to_pandas().set_index("channel")
    for channel, planted in truth.items():
        assert table.loc[channel, "roas"] == pytest.approx(planted["last_click_roas"][QUARTER], rel=1e-6)
        assert table.loc[channel, "spend"] == pytest.approx(planted["spend"][QUARTER], rel=1e-9)


def test_planted_marginal_roas_inside_the_intervals(truth, fitted):
    """The slope over the observed spend is identified: 95% intervals should hold the planted mROAS (allow one miss in six)."""
    _, table, _ = fitted
    inside = [table.loc[c, "mroas_ci_low"] <= truth[c]["mroas"][QUARTER] <= table.loc[c, "mroas_ci_high"] for c in CHANNELS]
    assert sum(inside) >= len(CHANNELS) - 1, dict(zip(CHANNELS, inside))
