"""Response model and reallocation on simulated weeks with known truth, plus independent checks."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from kit.channel import reallocate, response_model
from kit.channel.response import adstock, saturation, saturation_slope


def loop_adstock(spend, theta):
    out, carry = [], 0.0
    for s in spend:
        carry = s + theta * carry
        out.append(carry)
    return np.array(out)


def hill(a, half, shape):
    return a**shape / (a**shape + half**shape)


def simulate(seed=0, weeks=156, noise=0.01, kind="hill", spec=None, dark=0.15):
    """Weekly GMV = base (trend + season) + Σ β·S(adstock(spend)) + noise; spend in uncorrelated flights."""
    rng = np.random.default_rng(seed)
    spec = spec or {"search": (0.15, 1.2, 3.0, 60_000), "douyin": (0.5, 1.8, 4.0, 40_000), "feed": (0.3, 1.4, 2.0, 50_000)}
    dates = pd.date_range("2023-01-02", periods=weeks, freq="7D")
    gmv = 900_000 * (1 + 0.2 * np.arange(weeks) / weeks) * (1 + 0.08 * np.cos(2 * np.pi * dates.day_of_year / 365.25))
    frame = pd.DataFrame({"week": dates})
    truth = {}
    for name, (theta, shape, roas, mean) in spec.items():
        # Flights of three weeks at 0.35×–1.9× the mean, some of them dark (no spend): the dark
        # flights show the response near zero spend, which is what pins down the ROAS level.
        flights = np.exp(rng.uniform(np.log(0.35), np.log(1.9), weeks // 3 + 1)) * (rng.random(weeks // 3 + 1) > dark)
        levels = np.repeat(flights, 3)[:weeks]
        spend = mean * levels * np.exp(rng.normal(0, 0.1, weeks))
        a = loop_adstock(spend, theta)
        half = a.mean()
        s = hill(a, half, shape) if kind == "hill" else np.tanh(a * np.log(3) / (2 * half))
        beta = roas * spend.sum() / s.sum()
        gmv = gmv + beta * s
        frame[name] = spend
        truth[name] = {"adstock": theta, "half": half, "shape": shape, "beta": beta, "roas": roas}
    frame["gmv"] = gmv * (1 + rng.normal(0, noise, weeks))
    return frame, truth


@pytest.fixture(scope="module")
def fitted():
    frame, truth = simulate()
    model = response_model(frame, "gmv", list(truth), bootstrap=40, seed=1, period=(frame.week.iloc[-13], frame.week.iloc[-1]))
    return frame, truth, model


# -- building blocks against plain loops and finite differences ---------------------------------------

def test_adstock_and_saturation_against_loops_and_differences():
    spend = np.random.default_rng(3).gamma(2, 10, 50)
    np.testing.assert_allclose(adstock(spend, 0.37), loop_adstock(spend, 0.37), rtol=1e-12)
    a = np.linspace(0.2, 5, 40)
    assert saturation(np.array([2.0]), 2.0, 1.7, "hill")[0] == pytest.approx(0.5)
    assert saturation(np.array([2.0]), 2.0, 1.0, "logistic")[0] == pytest.approx(0.5)
    for kind, shape in (("hill", 1.7), ("hill", 0.8), ("logistic", 1.0)):
        h = 1e-6
        numeric = (saturation(a + h, 1.3, shape, kind) - saturation(a - h, 1.3, shape, kind)) / (2 * h)
        np.testing.assert_allclose(saturation_slope(a, 1.3, shape, kind), numeric, rtol=1e-6)


def test_jacobian_matches_central_differences(fitted):
    _, _, model = fitted
    problem, x = model.problem, model.solution.copy()
    x[: problem.n_channels * 3 : 3] = np.clip(x[: problem.n_channels * 3 : 3], 0.05, 0.85)  # away from bounds
    analytic = problem.jacobian(x)
    numeric = np.empty_like(analytic)
    for i in range(len(x)):
        step = 1e-6 * max(1.0, abs(x[i]))
        up, down = x.copy(), x.copy()
        up[i] += step
        down[i] -= step
        numeric[:, i] = (problem.residuals(up) - problem.residuals(down)) / (2 * step)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


# -- recovery of planted truth ---------------------------------------------------------------------

def test_recovers_planted_roas_and_adstock(fitted):
    frame, truth, model = fitted
    table = model.roas(period=None).set_index("channel")
    params = model.params().set_index("channel")
    for name, t in truth.items():
        assert table.loc[name, "roas"] == pytest.approx(t["roas"], rel=0.10), name
        assert table.loc[name, "roas_ci_low"] <= t["roas"] <= table.loc[name, "roas_ci_high"], name
        assert abs(params.loc[name, "adstock"] - t["adstock"]) < 0.1, name
    assert model.r2 > 0.95


def test_logistic_shape_recovers_its_own_truth():
    frame, truth = simulate(seed=5, kind="logistic")
    model = response_model(frame, "gmv", list(truth), saturation="logistic", bootstrap=0)
    table = model.roas().set_index("channel")
    for name, t in truth.items():
        assert table.loc[name, "roas"] == pytest.approx(t["roas"], rel=0.10), name
    assert model.aic < model.alternative.aic + 10  # the true shape fits at least about as well


def test_roas_and_contributions_recomputed_from_reported_params(fitted):
    frame, _, model = fitted
    params = model.params().set_index("channel")
    contributions = model.contributions()
    for name in params.index:
        p = params.loc[name]
        gmv = p.beta * hill(loop_adstock(frame[name].to_numpy(), p.adstock), p.half_saturation, p["shape"])
        np.testing.assert_allclose(contributions[name], gmv, rtol=1e-9)
    last13 = model.roas().set_index("channel")
    for name in params.index:
        assert last13.loc[name, "roas"] == pytest.approx(contributions[name].iloc[-13:].sum() / frame[name].iloc[-13:].sum())
    np.testing.assert_allclose(contributions[["base", *params.index]].sum(axis=1), contributions.fitted)


def test_linear_coefficients_are_the_least_squares_solution(fitted):
    """At the optimum, the linear part must equal OLS (statsmodels) given the nonlinear part."""
    _, _, model = fitted
    problem = model.problem
    nonlinear, linear, beta = problem.split(model.solution)
    assert (beta > 1e-6).all()  # interior, so the bound on β is inactive and OLS applies
    design = np.column_stack([problem.base, problem.curves(nonlinear)])
    ols = sm.OLS(problem.y, design).fit()
    np.testing.assert_allclose(ols.params, np.r_[linear, beta], rtol=1e-4, atol=1e-6)


def test_marginal_roas_against_a_simulated_spend_bump(fitted):
    frame, _, model = fitted
    table = model.roas().set_index("channel")
    params = model.params().set_index("channel")
    for name in params.index:
        p = params.loc[name]
        s = table.loc[name, "weekly_spend"]
        weeks = 400  # long enough for the adstock to settle

        def settled(spend):
            a = loop_adstock(np.full(weeks, spend), p.adstock)
            return p.beta * hill(a, p.half_saturation, p["shape"])[-1]

        bump = 1.0
        numeric = (settled(s + bump) - settled(s - bump)) / (2 * bump)
        assert table.loc[name, "mroas"] == pytest.approx(numeric, rel=1e-5)


def test_bootstrap_is_seeded(fitted):
    frame, truth, model = fitted
    again = response_model(frame, "gmv", list(truth), bootstrap=40, seed=1, period=model.period)
    pd.testing.assert_frame_equal(again.roas(), model.roas(), check_exact=True)
    other = response_model(frame, "gmv", list(truth), bootstrap=40, seed=2, period=model.period, compare_shapes=False)
    assert not np.allclose(other.roas()["roas_ci_low"], model.roas()["roas_ci_low"])
    assert model._repr_html_() == again._repr_html_()


def test_response_curve(fitted):
    _, _, model = fitted
    curve = model.response_curve("douyin")
    assert curve["current"].sum() == 1
    assert curve["gmv"].is_monotonic_increasing and curve["gmv"].iloc[0] == 0
    current = curve[curve.current].iloc[0]
    assert current.mroas == pytest.approx(model.roas().set_index("channel").loc["douyin", "mroas"])
    assert (curve.gmv_ci_low <= curve.gmv + 1e-6).all() and (curve.gmv <= curve.gmv_ci_high + 1e-6).all()
    with pytest.raises(ValueError, match="channel 'tiktok' is not in the model"):
        model.response_curve("tiktok")


def test_shape_disagreement_flag_follows_its_rule():
    # A channel whose spend barely moves: its curve can hardly be told from the intercept.
    frame, truth = simulate(seed=9, spec={"search": (0.15, 1.2, 3.0, 60_000), "feed": (0.3, 1.4, 2.0, 50_000)})
    frame["flat"] = 30_000 * np.exp(np.random.default_rng(0).normal(0, 0.01, len(frame)))
    model = response_model(frame, "gmv", ["search", "feed", "flat"], bootstrap=0)
    table = model.roas().set_index("channel")
    gap = abs(table.roas - table.roas_logistic) / np.maximum(table.roas, table.roas_logistic)
    comparable = abs(model.aic - model.alternative.aic) <= 2
    assert list(table.identified) == list(~(comparable & (gap > 0.2)))
    # Looser thresholds: every channel whose two ROAS differ by more than 1% is flagged, and said so.
    loose = response_model(frame, "gmv", ["search", "feed", "flat"], bootstrap=0, aic_tolerance=1e9, disagreement=0.01)
    flagged = loose.roas().set_index("channel")
    expected = abs(flagged.roas - flagged.roas_logistic) / np.maximum(flagged.roas, flagged.roas_logistic) > 0.01
    assert expected.any()
    assert list(~flagged.identified) == list(expected)
    assert any("Not identified" in note and "flat" in note for note in loose.notes) == bool(expected["flat"])


# -- bad input ---------------------------------------------------------------------------------------

def test_bad_weekly_input_is_named():
    frame, truth = simulate(weeks=80)
    channels = list(truth)
    bad = frame.copy()
    bad.loc[10, "douyin"] = -5.0
    with pytest.raises(ValueError, match=r"column 'douyin': spend must be ≥ 0 — 1 rows.*week=2023-03-13"):
        response_model(bad, "gmv", channels, bootstrap=0)
    gap = frame.drop(index=20).reset_index(drop=True)
    with pytest.raises(ValueError, match=r"weeks must be consecutive.*2023-05-15 is followed by 2023-05-29"):
        response_model(gap, "gmv", channels, bootstrap=0)
    empty = frame.copy()
    empty.loc[3, "gmv"] = np.nan
    with pytest.raises(ValueError, match=r"column 'gmv': a week with no data — 1 rows.*2023-01-23"):
        response_model(empty, "gmv", channels, bootstrap=0)
    with pytest.raises(ValueError, match="weekly table: required column 'tiktok' is missing"):
        response_model(frame, "gmv", [*channels, "tiktok"], bootstrap=0)
    with pytest.raises(ValueError, match="saturation 'linear' is not supported"):
        response_model(frame, "gmv", channels, saturation="linear")
    with pytest.raises(ValueError, match="too few"):
        response_model(frame.iloc[:20], "gmv", channels, bootstrap=0)
    zero = frame.assign(feed=0.0)
    with pytest.raises(ValueError, match="'feed': the channel has no spend"):
        response_model(zero, "gmv", channels, bootstrap=0)


# -- reallocation ------------------------------------------------------------------------------------

def test_reallocation_equalises_marginal_roas_and_keeps_budget(fitted):
    _, truth, model = fitted
    plan = reallocate(model, bounds=0.3).to_pandas().set_index("channel")
    rows = plan.drop(index="total")
    assert rows.proposed_spend.sum() == pytest.approx(rows.current_spend.sum(), rel=1e-9)
    low, high = rows.current_spend * 0.7, rows.current_spend * 1.3
    inside = (rows.proposed_spend > low * (1 + 1e-6)) & (rows.proposed_spend < high * (1 - 1e-6))
    at_top = rows.proposed_spend >= high * (1 - 1e-6)
    at_bottom = rows.proposed_spend <= low * (1 + 1e-6)
    if inside.sum() >= 1:
        level = rows.proposed_mroas[inside].mean()
        np.testing.assert_allclose(rows.proposed_mroas[inside], level, rtol=1e-3)
        assert (rows.proposed_mroas[at_top] >= level * (1 - 1e-3)).all()
        assert (rows.proposed_mroas[at_bottom] <= level * (1 + 1e-3)).all()
    assert plan.loc["total", "gmv_change"] >= 0
    assert plan.loc["total", "gmv_change_ci_low"] <= plan.loc["total", "gmv_change"] <= plan.loc["total", "gmv_change_ci_high"]


def test_reallocation_matches_brute_force_grid(fitted):
    _, _, model = fitted
    plan = reallocate(model, bounds=0.3).to_pandas().set_index("channel").drop(index="total")
    current = plan.current_spend.to_numpy() / 13
    grid = np.linspace(0.7, 1.3, 61)
    best = -np.inf
    total = current.sum()
    for f0, f1 in itertools.product(grid, grid):
        s = current * np.array([f0, f1, 1.0])
        s[2] = total - s[0] - s[1]
        if not 0.7 * current[2] - 1e-9 <= s[2] <= 1.3 * current[2] + 1e-9:
            continue
        gain = sum(float(model.steady_state_gmv(c, s[j])) for j, c in enumerate(model.channels))
        best = max(best, gain)
    proposed = plan.proposed_spend.to_numpy() / 13
    ours = sum(float(model.steady_state_gmv(c, proposed[j])) for j, c in enumerate(model.channels))
    assert ours >= best - 1e-6 * best


def test_reallocation_moves_budget_toward_higher_true_marginal_roas(fitted):
    frame, truth, model = fitted
    plan = reallocate(model, bounds=0.3).to_pandas().set_index("channel").drop(index="total")
    weekly = frame[list(truth)].iloc[-13:].mean()
    true_mroas = {}
    for name, t in truth.items():
        a = weekly[name] / (1 - t["adstock"])
        x = a / t["half"]
        true_mroas[name] = t["beta"] * t["shape"] * x ** (t["shape"] - 1) / t["half"] / (1 + x ** t["shape"]) ** 2 / (1 - t["adstock"])
    ranked = sorted(true_mroas, key=true_mroas.get)
    assert plan.loc[ranked[-1], "change"] > 0 and plan.loc[ranked[0], "change"] < 0


def test_reallocation_target_roas_and_errors(fitted):
    _, _, model = fitted
    base = reallocate(model, bounds=0.3)
    target = base.blended_after * 1.005
    plan = reallocate(model, bounds=0.3, target_roas=target)
    assert plan.blended_after == pytest.approx(target, rel=1e-4) or plan.blended_after > target
    assert plan.to_pandas().set_index("channel").loc["total", "proposed_spend"] < base.to_pandas().set_index("channel").loc["total", "proposed_spend"]
    with pytest.raises(ValueError, match="cannot be reached within the bounds"):
        reallocate(model, bounds=0.3, target_roas=100.0)
    with pytest.raises(ValueError, match="either a budget or a target_roas"):
        reallocate(model, budget=1e6, target_roas=2.0)
    with pytest.raises(ValueError, match="bounds are fractions"):
        reallocate(model, bounds=1.5)
    with pytest.raises(ValueError, match="cannot be split within the bounds"):
        reallocate(model, budget=1.0)
    with pytest.raises(ValueError, match="bounds name channel 'tiktok'"):
        reallocate(model, bounds={"tiktok": 0.2})


def test_reallocation_with_a_new_budget(fitted):
    _, _, model = fitted
    current = reallocate(model).to_pandas().set_index("channel").loc["total", "current_spend"]
    plan = reallocate(model, budget=1.1 * current, bounds=0.3).to_pandas().set_index("channel")
    rows = plan.drop(index="total")
    assert rows.proposed_spend.sum() == pytest.approx(1.1 * current, rel=1e-9)
    assert (rows.proposed_spend <= rows.current_spend * 1.3 * (1 + 1e-9)).all()
    assert (rows.proposed_spend >= rows.current_spend * 0.7 * (1 - 1e-9)).all()
    assert plan.loc["total", "gmv_change"] > 0


def test_excluded_weeks_do_not_move_the_fit_but_count_in_roas():
    frame, truth = simulate(seed=11, weeks=130)
    frame["promo_week"] = False
    frame.loc[[20, 21, 70, 71, 72], "promo_week"] = True
    spiked = frame.copy()
    spiked.loc[frame.promo_week, "gmv"] *= 3.0  # a festival the model must not read as media response
    base = response_model(frame, "gmv", list(truth), bootstrap=0, compare_shapes=False, exclude="promo_week")
    moved = response_model(spiked, "gmv", list(truth), bootstrap=0, compare_shapes=False, exclude="promo_week")
    pd.testing.assert_frame_equal(moved.params(), base.params(), rtol=1e-6)
    pd.testing.assert_series_equal(moved.base_params(), base.base_params(), rtol=1e-6)
    assert int(moved.kept.sum()) == 125
    # ROAS still sums the channel's modelled GMV over every week, the left-out ones included.
    contributions = moved.contributions()
    assert moved.roas().set_index("channel").loc["douyin", "gmv"] == pytest.approx(contributions["douyin"].sum())
    with pytest.raises(ValueError, match="column 'gmv': must be true/false"):
        response_model(frame, "gmv", list(truth), bootstrap=0, exclude="gmv")


def test_auto_shape_keeps_the_lower_aic():
    frame, truth = simulate(seed=12, weeks=104)
    auto = response_model(frame, "gmv", list(truth), saturation="auto", bootstrap=0)
    assert auto.alternative is not None and auto.aic <= auto.alternative.aic
    assert {auto.kind, auto.alternative.kind} == {"hill", "logistic"}
