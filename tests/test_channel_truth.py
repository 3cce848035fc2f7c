"""Planted truths of the sample (data/sample/truth.json, "channels") recovered by kit.channel.

The response model runs as the notebook runs it (params defaults, 2025Q4). Measured on the sample
(bench/results/channel.md): every planted ROAS lies inside its 95% bootstrap interval and five of six
are within 15%; adstock is within 0.1 for five of six; planted marginal ROAS lies inside its interval
for all six; the reallocation moves budget toward the highest planted marginal ROAS.

The two misses stay marked xfail (not strict) so they show in every run. They are not a fitting
bug (on the sample the planted curves leave 24% more squared error than the fitted ones): the sample holds too
little information for six free curves. 61 weeks enter the fit (promotion weeks
are left out) for 31 parameters, and order sampling alone puts ~22k yuan of noise on a week's
~785k GMV. Redrawing the sample's media design 30 times (`bench_channel.py --recovery 30`), the
fit gets ROAS within 15% for kuaishou in 3% of draws and xiaohongshu in 13%, adstock within 0.1 for
xiaohongshu in 10%; all six within 15% in 0%. This sample is on the lucky side (five of six).
Redesigned flights (short flights, xiaohongshu bursts, kuaishou at 45k a week) raise the per-channel
rates but not the all-six rate above ~10%; a quarter of the noise would be needed
(bench/results/channel.md). Simulations where every curve is identifiable: tests/test_channel_response.py.
"""
from __future__ import annotations

import pytest
from scipy.stats import spearmanr

import kit

QUARTER = "2025Q4"
CHANNELS = ["search_ads", "feed_ads", "douyin", "kuaishou", "wechat_channels", "xiaohongshu"]


def _known_miss(channel: str, misses: dict):
    if channel in misses:
        return pytest.param(channel, marks=pytest.mark.xfail(strict=False, reason=misses[channel]))
    return channel


ROAS_MISSES = {"kuaishou": "small response (~8k yuan a week) against ~22k of weekly GMV noise: the level is poorly pinned "
                            "(inside its wide interval, within 15% in 3% of redraws of the design)"}
ADSTOCK_MISSES = {"xiaohongshu": "long carry-over (planted 0.7) traded against the curve's saturation: within 0.1 in 10% "
                                 "of redraws of the design"}


@pytest.fixture(scope="module")
def truth(sample_truth):
    return sample_truth["channels"]


@pytest.fixture(scope="module")
def fitted(sample_source, sample_params):
    p = sample_params
    weekly = kit.channel.weekly(sample_source, p.channel.history_start, kit.Quarter(QUARTER).end, params=p)
    model = kit.channel.response_model(weekly, "gmv", weekly.attrs["spend_columns"], controls=p.channel.controls,
                                       saturation=p.channel.saturation, bootstrap=p.channel.bootstrap, seed=p.channel.seed,
                                       period=QUARTER, exclude="promo_week")
    return model, model.roas().set_index("channel"), model.params().set_index("channel")


@pytest.mark.parametrize("channel", [_known_miss(c, ROAS_MISSES) for c in CHANNELS])
def test_planted_roas_inside_the_interval_and_within_15_percent(channel, truth, fitted):
    """Interval first (holds for every channel), then the 15% closeness."""
    _, table, _ = fitted
    planted = truth[channel]["roas"][QUARTER]
    row = table.loc[channel]
    assert row.roas_ci_low <= planted <= row.roas_ci_high, (row.roas_ci_low, planted, row.roas_ci_high)
    assert row.roas == pytest.approx(planted, rel=0.15)


@pytest.mark.parametrize("channel", [_known_miss(c, ADSTOCK_MISSES) for c in CHANNELS])
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


def test_every_planted_roas_inside_its_interval(truth, fitted):
    _, table, _ = fitted
    outside = {c: (table.loc[c, "roas_ci_low"], truth[c]["roas"][QUARTER], table.loc[c, "roas_ci_high"]) for c in CHANNELS
               if not table.loc[c, "roas_ci_low"] <= truth[c]["roas"][QUARTER] <= table.loc[c, "roas_ci_high"]}
    assert not outside, outside
