"""The statistics of one comparison, from sufficient statistics (vectorised over any batch shape).

Fixed-horizon tests
    Mean: Welch's t-test, Welch–Satterthwaite degrees of freedom.
    Proportion: two-sample z-test with the unpooled (Wald) variance.
    Ratio: z-test on the delta-method variance of the ratio of means.
    Relative effect ``t/c − 1``: delta method on the ratio of the two arm estimates,
    ``Var ≈ Var(t)/c² + t² Var(c)/c⁴`` (the arms are independent).

CUPED
    ``g_adj = g − θ (h − h̄)`` per arm, with ``θ`` the pooled within-arm slope of the metric's
    linearisation on the covariate's, ``h̄`` the covariate at the pooled means. For a mean this
    is exactly ANCOVA with arm dummies; its variance shrinks by ``ρ²``.

Sequential (always valid)
    A normal-mixture confidence sequence / mSPRT (Robbins 1970; Johari et al. 2017; Howard et
    al. 2021). With ``V`` the variance of the estimate and a N(0, τ²) mixture over the effect,
    the mixture likelihood ratio is ``Λ = sqrt(V/(V+τ²)) · exp(τ² d² / (2V(V+τ²)))``. The
    always-valid p-value is ``min(1, 1/Λ)`` and the confidence sequence is
    ``d ± sqrt(V(V+τ²)/τ² · (2 log(1/α) + log((V+τ²)/V)))``: looking every day and stopping at
    the first ``p ≤ α`` keeps the false-positive rate ≤ α. ``τ²`` is fixed in advance as
    ``r* · σ² / n_planned`` (σ² the per-user variance of the difference), with ``r*`` the value
    that makes the sequence narrowest when ``n_planned`` users per arm have been seen.

Bayesian (Gaussian approximation)
    Prior on the relative lift: N(0, prior_sd²) (default 0.3, i.e. lifts beyond ±60% are a priori
    unlikely; ``None`` = flat). Likelihood: N(rel_effect, rel_se²). The posterior is normal;
    ``P(beat control) = Φ(μ/σ)`` and the expected loss of shipping the arm is
    ``E[max(0, −lift)] = σ φ(μ/σ) − μ Φ(−μ/σ)`` (in relative-lift units).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import optimize, stats

from kit.ab.metrics import MEAN, Metric
from kit.ab.moments import Moments


def influence_moments(metric: Metric, moments: Moments) -> dict[str, np.ndarray]:
    """Per-arm value of the metric (and covariate) and the per-user (co)variances of their linearisations."""
    sub = moments.select(metric.columns)
    means = sub.means()
    cov = sub.covariance(metric.ddof)
    grad = metric.gradient(means)
    out = {"n": sub.n, "value": metric.value(means),
           "var_g": np.einsum("...i,...ij,...j->...", grad, cov, grad)}
    if metric.has_covariate:
        cgrad = metric.covariate_gradient(means)
        out["cov_value"] = metric.covariate_value(means)
        out["var_h"] = np.einsum("...i,...ij,...j->...", cgrad, cov, cgrad)
        out["cov_gh"] = np.einsum("...i,...ij,...j->...", grad, cov, cgrad)
    return out


def cuped_theta(metric: Metric, arms: Moments, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Pooled within-arm slope θ and the covariate at the pooled means (arms along ``axis``)."""
    parts = influence_moments(metric, arms)
    weight = parts["n"] - metric.ddof
    var_h = np.sum(weight * parts["var_h"], axis=axis)
    theta = np.divide(np.sum(weight * parts["cov_gh"], axis=axis), var_h, out=np.zeros_like(var_h), where=var_h > 0)
    sub = arms.select(metric.columns)
    pooled_means = np.sum(sub.sums, axis=axis - 1 if axis < 0 else axis) / np.sum(sub.n, axis=axis)[..., None]
    return theta, metric.covariate_value(pooled_means)


def arm_estimate(metric: Metric, moments: Moments, theta=None, pooled_cov_value=None) -> dict[str, np.ndarray]:
    """Estimate (CUPED-adjusted when ``theta`` is given) and its variance, per arm."""
    parts = influence_moments(metric, moments)
    n = parts["n"]
    estimate, var_user = parts["value"], parts["var_g"]
    raw_var = var_user / n
    if metric.has_covariate and theta is not None:
        estimate = estimate - theta * (parts["cov_value"] - pooled_cov_value)
        var_user = parts["var_g"] - 2 * theta * parts["cov_gh"] + theta ** 2 * parts["var_h"]
    return {"n": n, "raw": parts["value"], "estimate": estimate, "var": var_user / n, "raw_var": raw_var}


@lru_cache(maxsize=256)
def normal_quantile(q: float) -> float:
    """Φ⁻¹(q), cached: the same few levels come back for every comparison (thousands in a daily replay)."""
    return float(stats.norm.ppf(q))


def compare(metric: Metric, control: dict, treatment: dict, alpha: float = 0.05) -> dict[str, np.ndarray]:
    """Fixed-horizon comparison of two :func:`arm_estimate` results."""
    c, t = control["estimate"], treatment["estimate"]
    vc, vt = control["var"], treatment["var"]
    effect = t - c
    variance = vc + vt
    se = np.sqrt(variance)
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = effect / se
        if metric.kind == MEAN:
            df = variance ** 2 / (vt ** 2 / (treatment["n"] - 1) + vc ** 2 / (control["n"] - 1))
            pvalue = 2 * stats.t.sf(np.abs(statistic), df)
            quantile = stats.t.ppf(1 - alpha / 2, df)
        else:
            df = np.full_like(effect, np.inf)
            pvalue = 2 * stats.norm.sf(np.abs(statistic))
            quantile = np.full_like(effect, normal_quantile(1 - alpha / 2))
        rel = t / c - 1
        rel_se = np.sqrt(vt / c ** 2 + t ** 2 * vc / c ** 4)
        raw_variance = control["raw_var"] + treatment["raw_var"]
        reduction = 1 - variance / raw_variance
    return {"effect": effect, "se": se, "ci_low": effect - quantile * se, "ci_high": effect + quantile * se,
            "statistic": statistic, "df": df, "pvalue": pvalue, "quantile": quantile,
            "rel_effect": rel, "rel_se": rel_se, "rel_ci_low": rel - quantile * rel_se, "rel_ci_high": rel + quantile * rel_se,
            "variance_reduction": reduction}


# ----------------------------------------------------------------------------------------------
# Sequential: normal-mixture confidence sequence

@lru_cache(maxsize=64)
def optimal_mixture_ratio(alpha: float) -> float:
    """``r* = τ²/V`` that minimises the confidence-sequence width at the planned sample size."""
    log_term = 2 * np.log(1 / alpha)
    width = lambda log_r: (1 + np.exp(-log_r)) * (log_term + np.log1p(np.exp(log_r)))  # noqa: E731
    return float(np.exp(optimize.minimize_scalar(width, bounds=(-10, 10), method="bounded").x))


def mixture_tau2(variance, n_now, n_planned, alpha: float) -> np.ndarray:
    """Mixing variance τ², fixed by the per-user variance and the planned users per arm."""
    per_user = np.asarray(variance) * np.asarray(n_now)
    return optimal_mixture_ratio(alpha) * per_user / np.asarray(n_planned)


def always_valid_pvalue(effect, variance, tau2) -> np.ndarray:
    """``min(1, 1/Λ)`` of the normal-mixture SPRT of ``effect = 0``."""
    effect, variance, tau2 = np.asarray(effect, float), np.asarray(variance, float), np.asarray(tau2, float)
    log_lr = 0.5 * np.log(variance / (variance + tau2)) + tau2 * effect ** 2 / (2 * variance * (variance + tau2))
    return np.minimum(1.0, np.exp(-log_lr))


def confidence_sequence_halfwidth(variance, tau2, alpha: float) -> np.ndarray:
    """Half-width of the normal-mixture always-valid confidence sequence (mixture variance ``tau2``)."""
    variance, tau2 = np.asarray(variance, float), np.asarray(tau2, float)
    return np.sqrt(variance * (variance + tau2) / tau2 * (2 * np.log(1 / alpha) + np.log((variance + tau2) / variance)))


# ----------------------------------------------------------------------------------------------
# Bayesian: Gaussian approximation on the relative lift

def posterior(rel_effect, rel_se, prior_sd: float | None = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Normal posterior (mean, sd) of the relative lift under a N(0, prior_sd²) prior (None: flat)."""
    rel_effect, rel_se = np.asarray(rel_effect, float), np.asarray(rel_se, float)
    if prior_sd is None:
        return rel_effect, rel_se
    precision = 1 / rel_se ** 2 + 1 / prior_sd ** 2
    return rel_effect / rel_se ** 2 / precision, np.sqrt(1 / precision)


def prob_beat_control(mean, sd) -> np.ndarray:
    """Posterior probability that the arm beats control: P(lift > 0) under N(mean, sd²)."""
    return stats.norm.cdf(np.asarray(mean) / np.asarray(sd))


def expected_loss(mean, sd) -> np.ndarray:
    """``E[max(0, −lift)]``: the lift given up, on average, by shipping the arm."""
    mean, sd = np.asarray(mean, float), np.asarray(sd, float)
    z = mean / sd
    return sd * stats.norm.pdf(z) - mean * stats.norm.cdf(-z)
