"""kit.ab under simulation with known truth, drawn as sufficient statistics (not users) so that
tens of thousands of experiments run in seconds through the same vectorised code as analyze."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from kit import ab
from kit.ab import stats as abstats
from kit.ab.moments import Moments
from kit.stats import adjust_pvalues

RUNS = 20_000  # the Monte-Carlo sd of a 5% rate is 0.15 points: [4%, 6%] is ±6 sd


def _run(metric, moments: Moments, alpha=0.05):
    """Control = arm 0 and treatment = arm 1 of ``moments`` (shape runs × 2), as analyze computes them."""
    theta = pooled = None
    if metric.has_covariate:
        theta, pooled = abstats.cuped_theta(metric, moments, axis=-1)
        theta, pooled = theta[:, None], pooled[:, None]
    est = abstats.arm_estimate(metric, moments, theta, pooled)
    control = {k: v[:, 0] for k, v in est.items()}
    treatment = {k: v[:, 1] for k, v in est.items()}
    return abstats.compare(metric, control, treatment, alpha)


def _binary_moments(counts, n):
    counts = np.asarray(counts, float)
    n = np.broadcast_to(np.asarray(n, float), counts.shape).copy()
    return Moments(("x",), n, counts[..., None], counts[..., None, None])


def _normal_moments(rng, mean, cov, n, runs):
    """Exact sufficient statistics of ``n`` Gaussian users: mean ~ N(μ, Σ/n), scatter ~ Wishart(n−1, Σ)."""
    mean, cov = np.atleast_1d(mean).astype(float), np.atleast_2d(cov).astype(float)
    m = rng.multivariate_normal(mean, cov / n, size=runs)
    scatter = stats.wishart(df=n - 1, scale=cov).rvs(size=runs, random_state=rng).reshape(runs, len(mean), len(mean))
    return n * m, scatter + n * m[:, :, None] * m[:, None, :]


def _stack(*arms):
    n = np.stack([np.full(len(a[0]), float(a[2])) for a in arms], axis=1)
    return n, np.stack([a[0] for a in arms], axis=1), np.stack([a[1] for a in arms], axis=1)


# ---------------------------------------------------------------------------------------------

def test_aa_false_positive_rate_and_coverage_for_proportions():
    rng = np.random.default_rng(10)
    n = 5_000
    aa = _run(ab.Proportion("x"), _binary_moments(np.stack([rng.binomial(n, 0.05, RUNS), rng.binomial(n, 0.05, RUNS)], 1), n))
    assert 0.04 <= (aa["pvalue"] < 0.05).mean() <= 0.06
    p_c, p_t = 0.05, 0.065
    res = _run(ab.Proportion("x"), _binary_moments(np.stack([rng.binomial(n, p_c, RUNS), rng.binomial(n, p_t, RUNS)], 1), n))
    assert 0.94 <= ((res["ci_low"] <= p_t - p_c) & (p_t - p_c <= res["ci_high"])).mean() <= 0.96
    assert 0.94 <= ((res["rel_ci_low"] <= p_t / p_c - 1) & (p_t / p_c - 1 <= res["rel_ci_high"])).mean() <= 0.96


def test_welch_is_exact_with_unequal_sizes_and_variances():
    """40 vs 120 users with sd 1 vs 3: Welch keeps 5%, where a pooled-variance t-test would not."""
    rng = np.random.default_rng(11)
    (sc, pc), (st, pt) = _normal_moments(rng, 10.0, 1.0, 40, RUNS), _normal_moments(rng, 10.5, 9.0, 120, RUNS)
    n, sums, cross = _stack((sc, pc, 40), (st, pt, 120))
    res = _run(ab.Mean("x"), Moments(("x",), n, sums, cross))
    assert 0.94 <= ((res["ci_low"] <= 0.5) & (0.5 <= res["ci_high"])).mean() <= 0.96
    (sc, pc), (st, pt) = _normal_moments(rng, 10.0, 1.0, 40, RUNS), _normal_moments(rng, 10.0, 9.0, 120, RUNS)
    n, sums, cross = _stack((sc, pc, 40), (st, pt, 120))
    aa = _run(ab.Mean("x"), Moments(("x",), n, sums, cross))
    assert 0.04 <= (aa["pvalue"] < 0.05).mean() <= 0.06
    # the same data with a pooled variance (Student) rejects far too rarely/too often: the check can fail
    mc, mt = sc[:, 0] / 40, st[:, 0] / 120
    vc, vt = (pc[:, 0, 0] - 40 * mc ** 2) / 39, (pt[:, 0, 0] - 120 * mt ** 2) / 119
    pooled = (39 * vc + 119 * vt) / 158
    student = 2 * stats.t.sf(np.abs(mt - mc) / np.sqrt(pooled * (1 / 40 + 1 / 120)), 158)
    assert not 0.04 <= (student < 0.05).mean() <= 0.06


def _ratio_population(rng, rate_scale=1.0, users=400_000):
    """A finite population of users: views ~ Poisson(heterogeneous), add-to-carts ~ Binomial(views, rate)."""
    intensity = rng.gamma(1.5, 2.0, users)
    views = rng.poisson(intensity)
    carts = rng.binomial(views, np.clip(rng.beta(2, 35, users) * rate_scale, 0, 1))
    y, x = carts.astype(float), views.astype(float)
    vector = np.column_stack([y, x, y * y, x * x, y * x])
    return y.sum() / x.sum(), vector.mean(0), np.cov(vector, rowvar=False)


def _ratio_moments(rng, population, n, runs):
    """Sums of (y, x, y², x², xy) over n users, drawn from their (CLT) normal law."""
    _, mu, cov = population
    s = rng.multivariate_normal(n * mu, n * cov, size=runs)
    sums = s[:, :2]
    cross = np.stack([np.stack([s[:, 2], s[:, 4]], 1), np.stack([s[:, 4], s[:, 3]], 1)], 1)
    return sums, cross


def test_delta_method_coverage_for_a_ratio_metric():
    rng = np.random.default_rng(12)
    control, treated = _ratio_population(rng), _ratio_population(rng, 1.2)
    n = 5_000
    (sc, pc), (st, pt) = _ratio_moments(rng, control, n, RUNS), _ratio_moments(rng, treated, n, RUNS)
    stacked = _stack((sc, pc, n), (st, pt, n))
    res = _run(ab.Ratio("y", "x"), Moments(("y", "x"), *stacked))
    true_effect, true_rel = treated[0] - control[0], treated[0] / control[0] - 1
    assert 0.94 <= ((res["ci_low"] <= true_effect) & (true_effect <= res["ci_high"])).mean() <= 0.96
    assert 0.94 <= ((res["rel_ci_low"] <= true_rel) & (true_rel <= res["rel_ci_high"])).mean() <= 0.96
    (sc2, pc2) = _ratio_moments(rng, control, n, RUNS)
    aa = _run(ab.Ratio("y", "x"), Moments(("y", "x"), *_stack((sc, pc, n), (sc2, pc2, n))))
    assert 0.04 <= (aa["pvalue"] < 0.05).mean() <= 0.06


def test_cuped_keeps_coverage_and_shrinks_intervals_by_rho_squared():
    rng = np.random.default_rng(13)
    rho, n, effect = 0.7, 300, 0.2
    cov = np.array([[1.0, rho], [rho, 1.0]])
    (sc, pc), (st, pt) = _normal_moments(rng, [0.0, 0.0], cov, n, RUNS), _normal_moments(rng, [effect, 0.0], cov, n, RUNS)
    moments = Moments(("y", "pre"), *_stack((sc, pc, n), (st, pt, n)))
    res = _run(ab.Mean("y", covariate="pre"), moments)
    assert 0.94 <= ((res["ci_low"] <= effect) & (effect <= res["ci_high"])).mean() <= 0.96
    assert np.median(res["variance_reduction"]) == pytest.approx(rho ** 2, abs=0.01)
    plain = _run(ab.Mean("y"), moments.select(("y",)))
    assert np.var(res["effect"]) / np.var(plain["effect"]) == pytest.approx(1 - rho ** 2, abs=0.02)
    (st0, pt0) = _normal_moments(rng, [0.0, 0.0], cov, n, RUNS)
    aa = _run(ab.Mean("y", covariate="pre"), Moments(("y", "pre"), *_stack((sc, pc, n), (st0, pt0, n))))
    assert 0.04 <= (aa["pvalue"] < 0.05).mean() <= 0.06


def test_daily_peeking_keeps_the_sequential_false_positive_rate_under_alpha():
    """28 daily looks at an A/A test, stopping at the first p ≤ 5%: the mixture SPRT stays ≤ 5%,
    the fixed-horizon z-test does not (the simulation can tell the difference)."""
    rng = np.random.default_rng(14)
    days, daily, p, runs = 28, 1_000, 0.05, RUNS
    counts = np.cumsum(rng.binomial(daily, p, size=(runs, days, 2)), axis=1)
    n = daily * np.arange(1, days + 1)[None, :, None] * np.ones((runs, 1, 2))
    res = _run(ab.Proportion("x"), _binary_moments(counts.reshape(-1, 2), n.reshape(-1, 2)))
    variance = res["se"].reshape(runs, days) ** 2
    effect = res["effect"].reshape(runs, days)
    looks_n = n[:, :, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        tau2 = abstats.mixture_tau2(variance, looks_n, daily * days, 0.05)
        always_valid = abstats.always_valid_pvalue(effect, variance, tau2)
    always_valid = np.where(variance > 0, always_valid, 1.0)
    sequential_fpr = (always_valid <= 0.05).any(axis=1).mean()
    naive_fpr = (res["pvalue"].reshape(runs, days) < 0.05).any(axis=1).mean()
    assert sequential_fpr <= 0.05
    assert naive_fpr > 0.15
    # and it still finds a real 30% lift within the 28 days most of the time
    treated = np.cumsum(rng.binomial(daily, p * 1.3, size=(runs, days)), axis=1)
    counts[:, :, 1] = treated
    res = _run(ab.Proportion("x"), _binary_moments(counts.reshape(-1, 2), n.reshape(-1, 2)))
    variance = res["se"].reshape(runs, days) ** 2
    tau2 = abstats.mixture_tau2(variance, looks_n, daily * days, 0.05)
    power = (abstats.always_valid_pvalue(res["effect"].reshape(runs, days), variance, tau2) <= 0.05).any(axis=1).mean()
    assert power > 0.9


def test_holm_controls_the_familywise_error_over_30_null_arms():
    rng = np.random.default_rng(15)
    runs, arms, n = 4_000, 30, 3_000
    control = rng.binomial(n, 0.05, runs).astype(float)
    treated = rng.binomial(n, 0.05, (runs, arms)).astype(float)
    c = {"n": np.full((runs, arms), n), "estimate": np.repeat(control[:, None], arms, 1) / n}
    t = {"n": np.full((runs, arms), n), "estimate": treated / n}
    for part in (c, t):
        part["var"] = part["estimate"] * (1 - part["estimate"]) / n
        part["raw_var"] = part["var"]
    pvalues = abstats.compare(ab.Proportion("x"), c, t)["pvalue"]
    naive = (pvalues < 0.05).any(axis=1).mean()
    # Holm rejects something iff its first (Bonferroni) step does: min p < α/m; checked on a subset
    # against the real correction, then used vectorised over all runs
    holm_any = pvalues.min(axis=1) < 0.05 / arms
    # (multipletests runs gc.collect() on every call, so only a few rows, half of them rejecting)
    rows = np.r_[np.flatnonzero(holm_any)[:4], np.flatnonzero(~holm_any)[:4]]
    subset = [(adjust_pvalues(pvalues[i], "holm") < 0.05).any() for i in rows]
    np.testing.assert_array_equal(subset, holm_any[rows])
    holm = holm_any.mean()
    assert holm <= 0.055
    assert naive > 0.5


def test_srm_false_alarm_rate_under_a_correct_split():
    rng = np.random.default_rng(16)
    counts = rng.multinomial(300_000, np.full(31, 1 / 31), size=5_000)
    expected = counts.sum(1, keepdims=True) / 31
    pvalues = stats.chi2.sf(((counts - expected) ** 2 / expected).sum(1), 30)
    assert ab.srm(dict(zip(map(str, range(31)), counts[0]))).pvalue == pytest.approx(pvalues[0], rel=1e-10)
    assert (pvalues < 0.001).mean() <= 0.003
    # a 10% shortfall in one arm of 31 (about 970 of 9,700 users) is caught
    broken = counts[0].astype(float)
    broken[5] *= 0.9
    assert ab.srm(dict(zip(map(str, range(31)), broken.astype(int)))).mismatch
