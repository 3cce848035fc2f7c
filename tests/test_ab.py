"""kit.ab: every statistic cross-checked against an independent computation (scipy, statsmodels,
brute force, bootstrap), and bad input rejected with a clear message."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import integrate, stats
from statsmodels.stats import proportion as sm_proportion
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestIndPower

from kit import ab
from kit.ab import stats as abstats
from kit.ab.analysis import compute_modes
from kit.ab.metrics import resolve


def _users(n_per_arm=(4000, 3800, 4100), seed=0, lifts=(0.0, 0.08, 0.0)) -> pd.DataFrame:
    """Users of three arms with a revenue (skewed), a 0/1 outcome, counts for a ratio and pre-period covariates."""
    rng = np.random.default_rng(seed)
    frames = []
    for arm, (n, lift) in zip(["control", "v1", "v2"], zip(n_per_arm, lifts)):
        propensity = rng.gamma(2.0, 0.5, n)  # a user trait shared by the pre and post periods
        pre_views = rng.poisson(3 * propensity)
        views = rng.poisson(3 * propensity)
        rate = np.clip(rng.beta(2, 30, n) * (1 + lift), 0, 1)
        frames.append(pd.DataFrame({
            "user_id": [f"{arm}-{i}" for i in range(n)], "variant": arm,
            "pdp_views": views, "add_to_carts": rng.binomial(views, rate),
            "pre_pdp_views": pre_views, "pre_add_to_carts": rng.binomial(pre_views, rate),
            "revenue": rng.gamma(0.3, 150 * propensity * (1 + lift)), "pre_revenue": rng.gamma(0.3, 150 * propensity),
            "converted": rng.binomial(1, np.clip(0.05 * propensity * (1 + lift), 0, 1)),
        }))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def users() -> pd.DataFrame:
    return _users()


def _row(result, metric, variant):
    frame = result.to_pandas()
    return frame[(frame.metric == metric) & (frame.variant == variant)].iloc[0]


# ---------------------------------------------------------------------------------------------
# fixed-horizon tests against scipy / statsmodels

def test_welch_matches_scipy(users):
    res = ab.analyze(users, ab.Mean("revenue"), correction="none")
    control = users.loc[users.variant == "control", "revenue"]
    for arm in ("v1", "v2"):
        treated = users.loc[users.variant == arm, "revenue"]
        ref = stats.ttest_ind(treated, control, equal_var=False)
        low, high = ref.confidence_interval(0.95)
        row = _row(res, "revenue", arm)
        assert row.effect == pytest.approx(treated.mean() - control.mean(), rel=1e-10)
        assert row.statistic == pytest.approx(ref.statistic, rel=1e-9)
        assert row.df == pytest.approx(ref.df, rel=1e-9)
        assert row.pvalue == pytest.approx(ref.pvalue, rel=1e-7)
        assert (row.ci_low, row.ci_high) == pytest.approx((low, high), rel=1e-9)
        assert row.test == "Welch t"


def test_proportion_is_statsmodels_unpooled_wald(users):
    res = ab.analyze(users, ab.Proportion("converted"), correction="none")
    c = users[users.variant == "control"].converted
    for arm in ("v1", "v2"):
        t = users[users.variant == arm].converted
        ref = sm_proportion.test_proportions_2indep(t.sum(), len(t), c.sum(), len(c), method="wald", compare="diff")
        low, high = sm_proportion.confint_proportions_2indep(t.sum(), len(t), c.sum(), len(c), method="wald", compare="diff")
        row = _row(res, "converted", arm)
        assert row.statistic == pytest.approx(ref.statistic, rel=1e-9)
        assert row.pvalue == pytest.approx(ref.pvalue, rel=1e-8)
        assert (row.ci_low, row.ci_high) == pytest.approx((low, high), rel=1e-9)


def test_relative_interval_is_the_delta_method_on_the_ratio_of_means(users):
    """Not the absolute interval divided by the control mean: the control's own noise counts too."""
    res = ab.analyze(users, ab.Mean("revenue"), correction="none")
    row = _row(res, "revenue", "v1")
    c = users[users.variant == "control"].revenue
    t = users[users.variant == "v1"].revenue
    vc, vt = c.var() / len(c), t.var() / len(t)
    se = np.sqrt(vt / c.mean() ** 2 + t.mean() ** 2 * vc / c.mean() ** 4)
    assert row.rel_effect == pytest.approx(t.mean() / c.mean() - 1, rel=1e-10)
    assert row.rel_se == pytest.approx(se, rel=1e-10)
    assert row.rel_se > row.se / c.mean()  # wider than the naive division


@pytest.mark.parametrize("correction", ["none", "bonferroni", "holm", "hochberg", "bh", "by"])
def test_multiplicity_over_the_whole_family_matches_statsmodels(users, correction):
    res = ab.analyze(users, [ab.Mean("revenue"), ab.Proportion("converted"), ab.Ratio("add_to_carts", "pdp_views")],
                     correction=correction).to_pandas()
    assert len(res) == 6
    method = {"none": None, "bonferroni": "bonferroni", "holm": "holm", "hochberg": "simes-hochberg",
              "bh": "fdr_bh", "by": "fdr_by"}[correction]
    expected = res.pvalue.to_numpy() if method is None else multipletests(res.pvalue.to_numpy(), method=method)[1]
    np.testing.assert_allclose(res.pvalue_adj, expected, rtol=1e-12)
    np.testing.assert_array_equal(res.significant, expected < 0.05)


def test_delta_method_matches_a_bootstrap(users):
    """The delta-method standard errors of a ratio metric (absolute and relative) against 2,000 user resamples."""
    res = ab.analyze(users, ab.Ratio("add_to_carts", "pdp_views", name="ctr"), correction="none")
    row = _row(res, "ctr", "v1")
    rng = np.random.default_rng(1)

    def boot_ratios(frame):
        y, x = frame.add_to_carts.to_numpy(float), frame.pdp_views.to_numpy(float)
        idx = rng.integers(0, len(y), size=(2000, len(y)))
        return y[idx].sum(1) / x[idx].sum(1)

    c = boot_ratios(users[users.variant == "control"])
    t = boot_ratios(users[users.variant == "v1"])
    assert row.se == pytest.approx(np.std(t - c, ddof=1), rel=0.06)
    assert row.rel_se == pytest.approx(np.std(t / c - 1, ddof=1), rel=0.06)
    frame = users[users.variant == "v1"]
    assert row.treatment_mean == pytest.approx(frame.add_to_carts.sum() / frame.pdp_views.sum(), rel=1e-12)


def test_cuped_mean_equals_ancova_and_welch_on_adjusted_values(users):
    res = ab.analyze(users, ab.Mean("revenue", covariate="pre_revenue"), correction="none")
    fit = smf.ols("revenue ~ C(variant, Treatment('control')) + pre_revenue", data=users).fit()
    theta = fit.params["pre_revenue"]
    adjusted = users.revenue - theta * (users.pre_revenue - users.pre_revenue.mean())
    for arm in ("v1", "v2"):
        row = _row(res, "revenue", arm)
        assert row.effect == pytest.approx(fit.params[f"C(variant, Treatment('control'))[T.{arm}]"], rel=1e-9)
        ref = stats.ttest_ind(adjusted[users.variant == arm], adjusted[users.variant == "control"], equal_var=False)
        assert row.statistic == pytest.approx(ref.statistic, rel=1e-8)
        assert row.pvalue == pytest.approx(ref.pvalue, rel=1e-6)
        assert row.cuped


def test_cuped_variance_reduction_is_rho_squared():
    """Gaussian users with a known pre/post correlation ρ: the variance shrinks by ρ²."""
    rng = np.random.default_rng(2)
    n, rho = 200_000, 0.6
    pre = rng.normal(size=2 * n)
    post = rho * pre + np.sqrt(1 - rho ** 2) * rng.normal(size=2 * n)
    frame = pd.DataFrame({"variant": np.repeat(["control", "t"], n), "y": post, "pre": pre})
    row = ab.analyze(frame, ab.Mean("y", covariate="pre")).to_pandas().iloc[0]
    assert row.variance_reduction == pytest.approx(rho ** 2, abs=0.01)


def test_cuped_on_a_ratio_reduces_variance_by_the_squared_correlation_of_linearisations(users):
    metric = ab.Ratio("add_to_carts", "pdp_views", covariate=("pre_add_to_carts", "pre_pdp_views"), name="ctr")
    row = _row(ab.analyze(users, metric), "ctr", "v2")
    # brute force: per-user linearisations (y − R x)/x̄ of post and pre ratios, pooled within arms
    residuals = []
    for _, frame in users.groupby("variant"):
        g = (frame.add_to_carts - frame.add_to_carts.sum() / frame.pdp_views.sum() * frame.pdp_views) / frame.pdp_views.mean()
        h = (frame.pre_add_to_carts - frame.pre_add_to_carts.sum() / frame.pre_pdp_views.sum() * frame.pre_pdp_views) / frame.pre_pdp_views.mean()
        residuals.append(pd.DataFrame({"g": g, "h": h}))
    rho = pd.concat(residuals).corr().loc["g", "h"]
    assert rho > 0.1
    assert row.variance_reduction == pytest.approx(rho ** 2, abs=0.03)


def test_moments_are_computed_in_the_engine_from_an_ibis_table(users):
    import ibis
    import pyarrow as pa
    table = ibis.memtable(pa.Table.from_pandas(users))
    res_ibis = ab.analyze(table, ab.Mean("revenue")).to_pandas()
    res_pandas = ab.analyze(users, ab.Mean("revenue")).to_pandas()
    pd.testing.assert_frame_equal(res_ibis, res_pandas)
    arms, moments = ab.arm_moments(table, [ab.Ratio("add_to_carts", "pdp_views")])
    control = users[users.variant == "control"][["add_to_carts", "pdp_views"]].to_numpy(float)
    i = arms.index("control")
    np.testing.assert_allclose(moments.cross[i], control.T @ control)
    np.testing.assert_allclose(moments.sums[i], control.sum(0))


# ---------------------------------------------------------------------------------------------
# Bayesian view

def test_posterior_probability_and_loss_match_numerical_integration():
    estimate, se, prior_sd = 0.03, 0.02, 0.1
    mean, sd = abstats.posterior(estimate, se, prior_sd)
    density = lambda x: stats.norm.pdf(x, 0, prior_sd) * stats.norm.pdf(estimate, x, se)  # noqa: E731
    evidence = integrate.quad(density, -1, 1, points=[0])[0]
    p_beat = integrate.quad(density, 0, 1)[0] / evidence
    loss = integrate.quad(lambda x: -x * density(x), -1, 0)[0] / evidence
    assert abstats.prob_beat_control(mean, sd) == pytest.approx(p_beat, rel=1e-6)
    assert abstats.expected_loss(mean, sd) == pytest.approx(loss, rel=1e-6)


def test_flat_prior_probability_is_one_minus_the_one_sided_pvalue(users):
    res = ab.analyze(users, ab.Mean("revenue"), prior_sd=None).to_pandas()
    z = res.rel_effect / res.rel_se
    np.testing.assert_allclose(res.prob_beat_control, stats.norm.cdf(z), rtol=1e-12)
    draws = np.random.default_rng(3).normal(res.rel_effect.iloc[0], res.rel_se.iloc[0], 1_000_000)
    assert res.expected_loss.iloc[0] == pytest.approx(np.maximum(0, -draws).mean(), rel=0.02, abs=1e-6)


# ---------------------------------------------------------------------------------------------
# SRM and power

def test_srm_matches_the_chi_square_formula():
    counts = {"control": 10_250, "a": 9_900, "b": 9_850}
    res = ab.srm(counts)
    expected = sum(counts.values()) / 3
    chi2 = sum((v - expected) ** 2 / expected for v in counts.values())
    assert res.statistic == pytest.approx(chi2, rel=1e-12)
    assert res.pvalue == pytest.approx(stats.chi2.sf(chi2, 2), rel=1e-10)
    assert res.mismatch == (res.pvalue < 0.001)
    weighted = ab.srm({"control": 5_000, "a": 2_600}, expected={"control": 2, "a": 1})
    assert weighted.table.expected_users.tolist() == pytest.approx([7600 * 2 / 3, 7600 / 3])


def test_srm_counts_in_the_engine_and_flags_a_broken_split():
    frame = pd.DataFrame({"variant": ["control"] * 51_000 + ["a"] * 49_000})
    res = ab.srm(frame)
    assert res.mismatch and res.pvalue < 1e-9
    assert res.table.set_index("variant").users.to_dict() == {"a": 49_000, "control": 51_000}
    assert not ab.srm(frame, expected={"control": 0.51, "a": 0.49}).mismatch


def test_sample_size_for_ctr_5_to_6_5_percent_with_31_arms():
    res = ab.sample_size(0.05, target=0.065, arms=31)
    level = 0.05 / 30
    z = stats.norm.ppf(1 - level / 2) + stats.norm.ppf(0.8)
    by_hand = z ** 2 * (0.05 * 0.95 + 0.065 * 0.935) / 0.015 ** 2
    assert res.users_per_arm == int(np.ceil(by_hand))
    assert res.total_users == 31 * res.users_per_arm
    assert res.alpha_per_comparison == pytest.approx(level)
    # statsmodels' power at that size (pooled null variance) is 80% to within half a point
    assert sm_proportion.power_proportions_2indep(0.015, 0.05, res.users_per_arm, alpha=level).power == pytest.approx(0.8, abs=0.005)
    # the same size without multiplicity is much smaller
    assert ab.sample_size(0.05, target=0.065, arms=31, correction="none").users_per_arm < res.users_per_arm / 1.8
    assert ab.sample_size(0.05, mde=0.30, arms=31).users_per_arm == res.users_per_arm


def test_sample_size_power_by_simulation():
    """At the planned size our own z-test (as analyze runs it) has 80% power, from 20,000 simulated experiments."""
    p1, p2, arms = 0.05, 0.065, 4
    res = ab.sample_size(p1, target=p2, arms=arms)
    n = res.users_per_arm
    rng = np.random.default_rng(4)
    c = rng.binomial(n, p1, 20_000).astype(float)
    t = rng.binomial(n, p2, 20_000).astype(float)
    control = {"n": np.full(20_000, n), "estimate": c / n, "var": c / n * (1 - c / n) / n, "raw": c / n, "raw_var": 0}
    treated = {"n": np.full(20_000, n), "estimate": t / n, "var": t / n * (1 - t / n) / n, "raw": t / n, "raw_var": 0}
    with np.errstate(divide="ignore", invalid="ignore"):
        pvalue = abstats.compare(ab.Proportion("x"), control, treated)["pvalue"]
    assert (pvalue < res.alpha_per_comparison).mean() == pytest.approx(0.8, abs=0.015)


def test_mean_sample_size_and_mde_agree_with_statsmodels():
    res = ab.sample_size(120.0, mde=0.05, sd=400.0, arms=5)
    ref = TTestIndPower().solve_power(effect_size=6.0 / 400.0, alpha=0.05 / 4, power=0.8)
    assert res.users_per_arm == int(np.ceil(ref))
    back = ab.mde(120.0, res.users_per_arm, sd=400.0, arms=5)
    assert back.relative_lift == pytest.approx(0.05, rel=1e-3)
    rate = ab.mde(0.05, 7645, arms=31)
    assert rate.target == pytest.approx(0.065, abs=2e-5)


# ---------------------------------------------------------------------------------------------
# sequential

def test_confidence_sequence_and_always_valid_pvalue_agree():
    variance, alpha = 0.01 ** 2, 0.05
    tau2 = abstats.mixture_tau2(variance, 1000, 1000, alpha)
    half = abstats.confidence_sequence_halfwidth(variance, tau2, alpha)
    assert abstats.always_valid_pvalue(half, variance, tau2) == pytest.approx(alpha, rel=1e-9)
    assert abstats.always_valid_pvalue(half * 1.01, variance, tau2) < alpha < abstats.always_valid_pvalue(half * 0.99, variance, tau2)
    # wider than the fixed-horizon interval: the price of peeking
    assert half > stats.norm.ppf(0.975) * 0.01
    # r* minimises the width at the planned size (brute force over a grid)
    grid = np.exp(np.linspace(-5, 5, 20001))
    widths = abstats.confidence_sequence_halfwidth(variance, grid * variance, alpha)
    assert abstats.optimal_mixture_ratio(alpha) == pytest.approx(grid[np.argmin(widths)], rel=1e-3)


def test_sequential_analysis_is_wider_and_labelled(users):
    fixed = _row(ab.analyze(users, ab.Mean("revenue")), "revenue", "v1")
    seq = _row(ab.analyze(users, ab.Mean("revenue"), sequential=True), "revenue", "v1")
    assert seq.effect == fixed.effect
    assert seq.ci_high - seq.ci_low > fixed.ci_high - fixed.ci_low
    assert seq.pvalue > fixed.pvalue
    assert "always valid" in seq.test


def test_one_pass_for_both_modes_gives_the_numbers_of_separate_calls(users):
    """A daily replay takes always-valid and fixed-horizon results of the same moments from one pass."""
    metrics = resolve(["ctr", "revenue_per_user", ab.Proportion("converted")])
    arms, moments = ab.arm_moments(users, metrics)
    for planned in (None, 5000.0):
        both = compute_modes(arms, moments, metrics, "control", (True, False), planned_users=planned)
        for result, sequential in zip(both, (True, False)):
            alone = ab.analyze(users, metrics, sequential=sequential, planned_users=planned)
            pd.testing.assert_frame_equal(result.to_pandas(), alone.to_pandas(), check_exact=True)
            assert result.sequential == sequential
    # the Bayesian columns, computed for all rows at once, are the per-row formulas bit for bit
    for row in both[0].to_pandas().itertuples():
        mean, sd = abstats.posterior(row.rel_effect, row.rel_se, 0.3)
        assert row.prob_beat_control == float(abstats.prob_beat_control(mean, sd))
        assert row.expected_loss == float(abstats.expected_loss(mean, sd))


# ---------------------------------------------------------------------------------------------
# results and display

def test_results_are_deterministic_and_full_precision(users):
    res = ab.analyze(users, [ab.Mean("revenue"), ab.Proportion("converted")])
    again = ab.analyze(users, [ab.Mean("revenue"), ab.Proportion("converted")])
    assert res._repr_html_() == again._repr_html_()
    assert "0x" not in res._repr_html_()
    frame = res.to_pandas()
    required = ["metric", "variant", "control_mean", "treatment_mean", "effect", "ci_low", "ci_high", "rel_effect",
                "rel_ci_low", "rel_ci_high", "pvalue", "pvalue_adj"]
    assert set(required) <= set(frame.columns)
    assert frame.effect.iloc[0] == pytest.approx(frame.treatment_mean.iloc[0] - frame.control_mean.iloc[0], rel=1e-12)


def test_verdict_names_the_winner_and_rejects_a_guardrail_breach():
    users = _users(lifts=(0.0, 0.3, 0.0))
    res = ab.analyze(users, [ab.Mean("revenue"), ab.Proportion("converted")])
    v = ab.verdict(res, "revenue", guardrails=["converted"])
    assert v.status == "winner" and v.winners == ["v1"]
    assert "v1" in v.text and f"{_row(res, 'revenue', 'v1').rel_effect:+.1%}" in v.text
    # make conversion drop for v1: the winner is rejected for harming the guardrail
    hurt = users.copy()
    mask = (hurt.variant == "v1") & (np.arange(len(hurt)) % 3 == 0)
    hurt.loc[mask, "converted"] = 0
    res2 = ab.analyze(hurt, [ab.Mean("revenue"), ab.Proportion("converted")])
    v2 = ab.verdict(res2, "revenue", guardrails=["converted"])
    assert v2.status == "guardrail breached" and v2.breached == {"v1": ["converted"]}
    assert v2.watch["v1"] == ["converted"] and "Guardrail watch list" in v2.text
    broken = ab.srm({"control": 4000, "v1": 3000, "v2": 4100})
    assert ab.verdict(res, "revenue", srm=broken).status == "invalid"


def test_verdict_no_winner_vs_inconclusive():
    rng = np.random.default_rng(5)
    big = pd.DataFrame({"variant": np.repeat(["control", "a"], 50_000), "y": rng.normal(100, 10, 100_000)})
    assert ab.verdict(ab.analyze(big, ab.Mean("y")), min_lift=0.01).status == "no winner"
    small = big.groupby("variant").head(20)
    assert ab.verdict(ab.analyze(small, ab.Mean("y")), min_lift=0.01).status == "inconclusive"


def test_plots_return_axes(users):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    res = ab.analyze(users, ab.Mean("revenue")).to_pandas()
    ax = ab.plots.plot_forest(data=res)
    assert len(ax.get_yticklabels()) == 2
    ax2 = ab.plots.plot_srm(data=ab.srm(users).to_pandas())
    assert ax2.get_ylabel() == "share of users"
    plt.close("all")


# ---------------------------------------------------------------------------------------------
# bad input

def test_no_control_arm(users):
    renamed = users.assign(variant=users.variant.replace({"control": "base"}))
    with pytest.raises(ValueError, match=r"no control arm.*'base'"):
        ab.analyze(renamed, ab.Mean("revenue"))
    with pytest.raises(ValueError, match=r"control='ctl' is not among the arms"):
        ab.analyze(users, ab.Mean("revenue"), control="ctl")
    assert ab.analyze(renamed, ab.Mean("revenue"), control="base").control == "base"


def test_one_arm_only(users):
    with pytest.raises(ValueError, match=r"only 1 arm \('control'\)"):
        ab.analyze(users[users.variant == "control"], ab.Mean("revenue"))


def test_user_in_two_arms(users):
    twice = pd.concat([users, users.iloc[[0, 1]].assign(variant="v1")], ignore_index=True)
    with pytest.raises(ValueError, match=r"2 users appear on more than one row, 2 of them in more than one arm; example: user_id='control-0'"):
        ab.analyze(twice, ab.Mean("revenue"))


def test_a_declared_key_is_proof_and_anything_else_is_counted(users):
    import ibis

    from kit.engines import declares_unique
    con = ibis.duckdb.connect()
    con.raw_sql("""
        CREATE TABLE keyed (user_id VARCHAR PRIMARY KEY, variant VARCHAR, revenue DOUBLE);
        CREATE TABLE unique_only (user_id VARCHAR UNIQUE, variant VARCHAR);
        CREATE TABLE unique_not_null (user_id VARCHAR UNIQUE NOT NULL, variant VARCHAR);
        CREATE TABLE pair_key (experiment VARCHAR, user_id VARCHAR, variant VARCHAR, PRIMARY KEY (experiment, user_id));
        CREATE SCHEMA other;
        CREATE TABLE other.keyed (user_id VARCHAR, variant VARCHAR);""")
    con.insert("keyed", users[["user_id", "variant", "revenue"]])
    keyed = con.table("keyed")
    assert declares_unique(keyed, "user_id")
    assert not declares_unique(keyed, "variant")
    assert declares_unique(keyed.filter(keyed.variant == "control").order_by("revenue").limit(5), "user_id")
    assert declares_unique(keyed.select(uid=keyed.user_id, arm=keyed.variant), "uid")
    assert not declares_unique(keyed.select(user_id=keyed.variant), "user_id")   # a renamed column is not the key
    assert not declares_unique(keyed.union(keyed), "user_id")
    assert not declares_unique(keyed.join(keyed.select("user_id"), "user_id"), "user_id")
    assert not declares_unique(con.table("unique_only"), "user_id")              # UNIQUE lets NULLs repeat
    assert declares_unique(con.table("unique_not_null"), "user_id")
    assert not declares_unique(con.table("pair_key"), "user_id")                 # unique per experiment only
    assert not declares_unique(con.table("keyed", database="other"), "user_id")  # the other schema's table
    assert not declares_unique(ibis.memtable(users), "user_id")
    # the proof gives the same analysis; without it the union's repeated users are still caught
    pd.testing.assert_frame_equal(ab.analyze(keyed, ab.Mean("revenue")).to_pandas(), ab.analyze(users, ab.Mean("revenue")).to_pandas())
    with pytest.raises(ValueError, match=rf"must be unique \(one row per user\): {len(users):,} users appear on more than one row"):
        ab.analyze(keyed.union(keyed), ab.Mean("revenue"))


def test_integer_sums_are_exact_and_an_overflow_falls_back_to_floats():
    import ibis

    rng = np.random.default_rng(7)
    big = rng.integers(2_900_000_000, 3_000_000_000, size=5_000)  # squares just below 2**63
    frame = pd.DataFrame({"user_id": [f"u{i}" for i in range(len(big))], "variant": np.where(np.arange(len(big)) % 2, "v1", "control"),
                          "views": big, "flag": rng.random(len(big)) < 0.3})
    arms, moments = ab.arm_moments(ibis.duckdb.connect().create_table("t", frame), [ab.Mean("views"), ab.Proportion("flag")])
    for k, arm in enumerate(arms):
        views = [int(v) for v in frame.loc[frame.variant == arm, "views"]]
        assert moments.sums[k, 0] == float(sum(views))                      # exact, then rounded once
        assert moments.cross[k, 0, 0] == float(sum(v * v for v in views))
        assert moments.sums[k, 1] == frame.loc[frame.variant == arm, "flag"].sum()
    # squares beyond 64 bits: DuckDB refuses the integer product, the floats take over
    huge = frame.assign(views=frame["views"] * 2)
    arms, moments = ab.arm_moments(ibis.duckdb.connect().create_table("t", huge), [ab.Mean("views")])
    for k, arm in enumerate(arms):
        reference = ab.Moments.from_arrays(["views"], huge.loc[huge.variant == arm, ["views"]].to_numpy(float))
        assert moments.cross[k, 0, 0] == pytest.approx(float(reference.cross[0, 0]), rel=1e-12)
        assert moments.sums[k, 0] == pytest.approx(float(reference.sums[0]), rel=1e-12)


def test_zero_variance_metric(users):
    with pytest.raises(ValueError, match=r"metric 'flat' has zero variance.*same value 1"):
        ab.analyze(users.assign(flat=1.0), ab.Mean("flat"))


def test_missing_column(users):
    with pytest.raises(ValueError, match=r"metric 'ctr'.*covariate column\(s\) 'pre_pdp_views' not in the data.*cuped=False"):
        ab.analyze(users.drop(columns="pre_pdp_views"), "ctr")
    assert len(ab.analyze(users.drop(columns="pre_pdp_views"), "ctr", cuped=False).to_pandas()) == 2
    with pytest.raises(ValueError, match=r"metric 'add_to_carts/pdp_views'.*required column 'pdp_views' is missing; columns present"):
        ab.analyze(users.drop(columns="pdp_views"), ab.Ratio("add_to_carts", "pdp_views"))
    with pytest.raises(ValueError, match=r"variant: required column 'arm' is missing"):
        ab.analyze(users, ab.Mean("revenue"), variant="arm")


def test_nulls_and_non_binary_proportions_are_rejected(users):
    holes = users.copy()
    holes.loc[[3, 7], "revenue"] = np.nan
    with pytest.raises(ValueError, match=r"column 'revenue': 2 rows are null"):
        ab.analyze(holes, ab.Mean("revenue"))
    with pytest.raises(ValueError, match=r"column 'pdp_views' is used as a Proportion.*rows are not; example value"):
        ab.analyze(users, ab.Proportion("pdp_views"))


def test_other_bad_arguments(users):
    with pytest.raises(ValueError, match="unknown correction 'sidak'"):
        ab.analyze(users, ab.Mean("revenue"), correction="sidak")
    with pytest.raises(ValueError, match="planned_users .* must be > 1"):
        ab.analyze(users, ab.Mean("revenue"), sequential=True, planned_users=0)
    with pytest.raises(ValueError, match="prior_sd must be > 0"):
        ab.analyze(users, ab.Mean("revenue"), prior_sd=0)
    with pytest.raises(ValueError, match="unknown metric 'clicks'"):
        ab.analyze(users, "clicks")
    with pytest.raises(ValueError, match="denominator 'zero' sums to 0"):
        ab.analyze(users.assign(zero=0), ab.Ratio("add_to_carts", "zero"))
    with pytest.raises(ValueError, match="exactly one of target="):
        ab.sample_size(0.05)
    with pytest.raises(ValueError, match="not a rate in"):
        ab.sample_size(120.0, mde=0.1)
    with pytest.raises(ValueError, match="'b' have users but a planned share of 0"):
        ab.srm({"control": 10, "a": 10, "b": 3}, expected={"control": 1, "a": 1, "b": 0})
    assert ab.srm({"control": 10, "a": 10}, expected={"control": 1, "a": 1, "b": 0}).df == 1
    with pytest.raises(ValueError, match="not in the expected split"):
        ab.srm({"control": 10, "x": 10}, expected={"control": 1, "a": 1})


def test_detectable_lift_agrees_with_the_planning_formula():
    """``detectable_rel`` (from the observed standard error) against ``mde`` (from the planning formula)."""
    rng = np.random.default_rng(6)
    n = 20_000
    frame = pd.DataFrame({"variant": np.repeat(["control", "a1", "a2", "a3", "a4"], n), "x": rng.binomial(1, 0.05, 5 * n)})
    res = ab.analyze(frame, ab.Proportion("x"), correction="bonferroni").to_pandas()
    planned = ab.mde(res.control_mean.iloc[0], n, arms=5)
    # the planning formula uses the alternative's variance too, so the two differ by a few per cent only
    assert res.detectable_rel.median() == pytest.approx(planned.relative_lift, rel=0.05)
    doubled = ab.analyze(pd.concat([frame, frame.assign(x=rng.binomial(1, 0.05, 5 * n))]), ab.Proportion("x"),
                         correction="bonferroni", unit=None).to_pandas()
    assert doubled.detectable_rel.median() == pytest.approx(res.detectable_rel.median() / np.sqrt(2), rel=0.05)


def test_review_summary_without_experiments_and_forest_grid(users):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kit import params as kit_params

    review = ab.review_quarter(None, kit_params.load("2025Q1"))
    assert review.experiments == [] and review.to_pandas().empty
    text = review.finding()
    assert "No detail-page experiment is listed for 2025Q1" in text
    res = ab.analyze(users, [ab.Mean("revenue"), ab.Proportion("converted")]).to_pandas()
    axes = ab.plots.plot_forest_grid(data=res)
    assert [ax.get_title() for ax in axes] == ["revenue", "converted"]
    with pytest.raises(ValueError, match="column 'lift' not in data"):
        ab.plots.plot_forest(data=res, x="lift")
    plt.close("all")


@pytest.mark.parametrize("correction", ["bonferroni", "holm", "hochberg", "bh", "by"])
def test_a_family_of_one_is_left_unadjusted_as_statsmodels_does(users, correction):
    two_arms = users[users.variant != "v2"]
    row = ab.analyze(two_arms, ab.Mean("revenue"), correction=correction).to_pandas().iloc[0]
    method = {"bonferroni": "bonferroni", "holm": "holm", "hochberg": "simes-hochberg", "bh": "fdr_bh", "by": "fdr_by"}[correction]
    assert row.pvalue_adj == pytest.approx(multipletests([row.pvalue], method=method)[1][0], rel=1e-12)
