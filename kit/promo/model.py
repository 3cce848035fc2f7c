"""The counterfactual model behind :func:`kit.promo.lift`: a Bayesian-structural-time-series-like
state-space model on statsmodels ``UnobservedComponents``, fitted on the pre-period, simulated forward.

Model (on the standardized series, as Google's CausalImpact does)::

    y_t      = level_t + season_t + x_t' beta + eps_t          eps_t   ~ N(0, s2_irregular)
    level_t  = level_{t-1} + eta_t                             eta_t   ~ N(0, s2_level)
    season_t = -(season_{t-1} + ... + season_{t-S+1}) + w_t    w_t     ~ N(0, s2_seasonal)
    beta     = constant, but *in the state* (``mle_regression=False``) so the filter carries its
               uncertainty into the forecast instead of plugging in a point estimate

Fitting: the three variances maximise the likelihood of the observed pre-period days (days that
are missing or masked are NaN; the Kalman filter skips them). Where that maximum-likelihood fit is
unstable, a log prior on the level variance is added (a MAP fit): CausalImpact's default, an
inverse gamma whose guess is 0.01 standard deviations of the standardized series with the weight of
32 observations. ``level_prior`` chooses:

- ``"auto"`` (default): maximum likelihood, refitted with the prior when it is unstable — the
  optimiser did not converge, the level variance collapsed to ~0 (a level known exactly: intervals
  too narrow, false alarms), the level variance swallowed the series (> 0.5 of its variance per
  day: a random-walk forecast whose interval explodes), or the pre-period is shorter than 8 weeks;
- ``"causalimpact"``: always the prior, as R's CausalImpact does;
- ``None``: always plain maximum likelihood.

Why not always the prior: with 32 observations' weight it dominates a few months of data, and on
series whose level really wanders (a trend, a growing store) it keeps the level variance ~10x too
small: in simulations with a random-walk level, 40% of no-promotion windows came out
"significant" at alpha = 0.05 with the prior, 2–8% with maximum likelihood (bench/results/promo.md).

Forecast: the filtered state at the last observed pre-period day (mean and covariance: level,
season and the regression coefficients) is drawn ``n_draws`` times and propagated through the
transition with state noise, and observation noise is added, all vectorised in numpy. Every
period's totals (during, after, net) come from the *same* draws, so they are consistent.
The uncertainty of the fitted variances is included too (CausalImpact samples them by MCMC): the
draws are shared among parameter sets drawn from the Laplace approximation of the likelihood
around the fit (a normal on the log-variances, from the numerical Hessian); each set is
filtered once, so the cost is a few Kalman passes.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from statsmodels.tools.numdiff import approx_fprime, approx_hess3
from statsmodels.tsa.statespace.structural import UnobservedComponents

# CausalImpact's default prior on the level standard deviation (standardized units) and its weight.
LEVEL_PRIOR_SD = 0.01
LEVEL_PRIOR_WEIGHT = 32.0
LEVEL_PRIORS = ("auto", "causalimpact", None)
# "auto": the maximum-likelihood level variance (standardized) is unstable outside these bounds.
STABLE_LEVEL_VARIANCE = (1e-6, 0.5)
SHORT_PRE_DAYS = 56
# Least curvature of the negative log-likelihood in log-variance used for the Laplace spread: log-variance s.d. ≤ 1.
MIN_CURVATURE = 1.0
# Step of the numerical Hessian in log-variance (variances moved by 2%). The Kalman filter's likelihood carries
# rounding noise of ~2e-10 (its approximate-diffuse start); numdiff's default step (~1e-5) divided that noise by
# step² and made the Laplace covariance chaotic in the last bits of the data (entries off by O(1) for inputs
# moved by 1e-9). At 0.02 the noise is ~1e-6 of the curvature and the central differences' error ~1e-4.
HESSIAN_STEP = 0.02
# Variances (standardized) below this are a fixed component (a deterministic weekday pattern): set to exactly 0.
NEGLIGIBLE_VARIANCE = 1e-6


def level_log_prior(level_variance, prior_sd: float = LEVEL_PRIOR_SD, weight: float = LEVEL_PRIOR_WEIGHT):
    """Log density (up to a constant) of CausalImpact's inverse-gamma prior on the level variance.

    BOOM's ``SdPrior(guess, sample.size)`` is a Gamma(shape = n/2, rate = n guess²/2) prior on the
    precision, i.e. an inverse gamma on the variance with the same shape and scale.
    """
    shape = weight / 2.0
    scale = weight * prior_sd**2 / 2.0
    return -(shape + 1.0) * np.log(level_variance) - scale / level_variance


@dataclass
class Fit:
    """A fitted counterfactual model on the standardized scale."""

    model: UnobservedComponents
    params: np.ndarray
    param_names: list[str]
    converged: bool
    loglike: float
    level_prior: str | None       # the prior actually used: "causalimpact" or None
    unstable_mle: bool = False    # "auto" found the maximum-likelihood fit unstable and used the prior
    log_cov: np.ndarray | None = None    # covariance of the fitted log-variances (Laplace approximation)

    @property
    def variances(self) -> dict[str, float]:
        return dict(zip(self.param_names, map(float, self.params)))


def build_model(y_std: np.ndarray, x_std: np.ndarray | None, seasonality: int | None,
                trend: bool = False) -> UnobservedComponents:
    """The state-space model over the whole window (NaN where the outcome is unobserved or masked).

    ``trend=True`` adds a constant drift to the level ("local linear deterministic trend"; the drift sits in the
    state, so its uncertainty widens the forecast with the horizon): for a store growing steadily."""
    return UnobservedComponents(
        y_std,
        level="lldtrend" if trend else "llevel",
        seasonal=seasonality,
        exog=x_std if x_std is not None and x_std.shape[1] else None,
        mle_regression=False,
    )


def fit(y_std: np.ndarray, x_std: np.ndarray | None, seasonality: int | None, *,
        level_prior: str | None = "auto", start_params: np.ndarray | None = None, trend: bool = False) -> Fit:
    """Fit the variances; ``level_prior`` as in the module docstring."""
    if level_prior not in LEVEL_PRIORS:
        raise ValueError(f"level_prior must be one of {LEVEL_PRIORS}, got {level_prior!r}")
    if level_prior != "auto":
        return _fit(y_std, x_std, seasonality, level_prior=level_prior, start_params=start_params, trend=trend)
    mle = _fit(y_std, x_std, seasonality, level_prior=None, start_params=start_params, trend=trend)
    level = mle.variances["sigma2.level"]
    short = int(np.sum(~np.isnan(y_std))) < SHORT_PRE_DAYS
    if mle.converged and STABLE_LEVEL_VARIANCE[0] <= level <= STABLE_LEVEL_VARIANCE[1] and not short:
        return mle
    regularised = _fit(y_std, x_std, seasonality, level_prior="causalimpact", start_params=None, trend=trend)
    regularised.unstable_mle = True
    return regularised


def _fit(y_std: np.ndarray, x_std: np.ndarray | None, seasonality: int | None, *,
         level_prior: str | None, start_params: np.ndarray | None, trend: bool = False) -> Fit:
    """Maximise log-likelihood (+ the level prior) over the standard deviations (Nelder-Mead)."""
    model = build_model(y_std, x_std, seasonality, trend)
    names = list(model.param_names)
    level_index = names.index("sigma2.level")
    nobs = max(int(np.sum(~np.isnan(y_std))), 1)

    def objective(roots: np.ndarray) -> float:
        variances = roots**2
        value = model.loglike(variances)
        if level_prior is not None:
            value += level_log_prior(variances[level_index]) if variances[level_index] > 0 else -np.inf
        return -value / nobs if np.isfinite(value) else 1e10

    if start_params is None:
        start = np.asarray(model.start_params, dtype=float)
        # statsmodels' start values come from an HP filter of the whole series; keep them sensible.
        start = np.clip(start, 1e-4, 1.0)
        if level_prior is not None:
            start[level_index] = LEVEL_PRIOR_SD**2
    else:
        start = np.clip(np.asarray(start_params, dtype=float), 1e-8, None)
    # Optimise the standard deviations (variance = root²), as statsmodels does: unlike log-variances,
    # a variance of exactly 0 — common for the seasonal term — is reachable. Nelder-Mead rather than
    # L-BFGS-B: with three parameters it needs no numerical gradient, and scipy's L-BFGS-B spent
    # ~6 ms of BLAS threading overhead per iteration on the shared machine (more than the likelihood).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels warns about the approximate-diffuse start; harmless here
        solution = optimize.minimize(objective, np.sqrt(start), method="Nelder-Mead",
                                     options={"xatol": 1e-4, "fatol": 1e-9, "maxiter": 400 * len(names)})
    roots = _polish(lambda r: objective(r) * nobs, np.abs(solution.x))
    params = roots**2
    return Fit(model=model, params=params, param_names=names, converged=bool(solution.success),
               loglike=float(model.loglike(params)), level_prior=level_prior,
               log_cov=_laplace_cov(lambda r: objective(r) * nobs, roots))


def _in_logs(negative_log_posterior, roots: np.ndarray):
    """The free (non-negligible) variances and the objective as a function of their logs."""
    free = roots**2 > NEGLIGIBLE_VARIANCE

    def in_logs(log_free: np.ndarray) -> float:
        full = roots.copy()
        full[free] = np.exp(log_free / 2)
        return negative_log_posterior(full)

    return free, in_logs


def _polish(negative_log_posterior, roots: np.ndarray) -> np.ndarray:
    """Nelder-Mead's end point made a smooth function of the data.

    Nelder-Mead stops anywhere in a box of ``xatol`` around the optimum, and which point it stops at flips
    with the last bits of the data (a placebo fit's level s.d. moved by 3e-5 for data moved by 1e-9),
    and so did every interval drawn from it. Negligible variances are set to exactly 0, then one Newton
    step in the log-variances, with gradient and Hessian by central differences of HESSIAN_STEP (wide
    enough to average out the likelihood's rounding noise), lands on the optimum to ~1e-9 whatever
    the start; a step that is not a small descent (a flat or curved-down likelihood) is not taken.
    """
    roots = np.where(roots**2 > NEGLIGIBLE_VARIANCE, roots, 0.0)
    free, in_logs = _in_logs(negative_log_posterior, roots)
    if not free.any():
        return roots
    at = 2 * np.log(roots[free])
    gradient = np.ravel(approx_fprime(at, in_logs, epsilon=HESSIAN_STEP, centered=True))
    hessian = approx_hess3(at, in_logs, epsilon=HESSIAN_STEP)
    if not (np.all(np.isfinite(gradient)) and np.all(np.isfinite(hessian))):
        return roots
    hessian = (hessian + hessian.T) / 2
    if np.linalg.eigvalsh(hessian).min() <= 0:
        return roots
    step = np.linalg.solve(hessian, gradient)
    if np.max(np.abs(step)) > 0.1:  # far from where Nelder-Mead stopped: not the optimum's neighbourhood
        return roots
    polished = roots.copy()
    polished[free] = np.exp((at - step) / 2)
    return polished


def _laplace_cov(negative_log_posterior, roots: np.ndarray) -> np.ndarray | None:
    """Covariance of the log-variances from the curvature of the negative log-likelihood (+ prior).

    Log-variances, because the likelihood of a variance is right-skewed: a normal there gives the
    large level variances that short pre-periods cannot rule out (a normal on the standard deviations
    barely widened the intervals, and 10% of no-promotion windows stayed "significant").
    Variances at ~0 (a deterministic weekday pattern, say) stay fixed; flat directions get a capped spread.
    """
    free, in_logs = _in_logs(negative_log_posterior, roots)
    if not free.any():
        return None
    hessian = approx_hess3(2 * np.log(roots[free]), in_logs, epsilon=HESSIAN_STEP)
    if not np.all(np.isfinite(hessian)):
        return None
    hessian = (hessian + hessian.T) / 2
    eigval, eigvec = np.linalg.eigh(hessian)
    # A direction with less curvature than MIN_CURVATURE (a likelihood nearly flat in it: the level variance of a
    # few months of data, typically) gets the widest spread allowed, a log-variance s.d. of 1 (variance ×/÷ 2.7
    # at one s.d.), rather than none: freezing it at the estimate gave 11% false alarms at alpha = 5% with 6
    # months of pre-period, 5-6% with the cap; a cap of 1.4 gave 4.5% there but 2-3% with a year (too wide).
    inverse = 1.0 / np.maximum(eigval, MIN_CURVATURE)
    cov = np.zeros((roots.size, roots.size))
    cov[np.ix_(free, free)] = (eigvec * inverse) @ eigvec.T
    # Three significant digits: the Hessian's residual noise (~1e-7 of it) then moves no draw at all, except in
    # the rare case where an entry sits on a rounding boundary (a Laplace spread is no more exact than that).
    return _round_significant(cov, 3)


def _round_significant(values: np.ndarray, digits: int) -> np.ndarray:
    magnitude = np.floor(np.log10(np.abs(np.where(values == 0, 1.0, values))))
    scale = 10.0 ** (digits - 1 - magnitude)
    return np.round(values * scale) / scale


@dataclass
class Forecast:
    """Forward simulation from the last observed pre-period day ``origin`` to the end of the window."""

    origin: int                 # index of the last observed pre-period day
    mean: np.ndarray            # (T,) predictive mean, standardized; NaN up to and including origin
    draws: np.ndarray           # (n_draws, T) simulated outcomes, standardized; NaN up to origin
    one_step: np.ndarray        # (T,) one-step-ahead predictions (standardized), for pre-period diagnostics
    one_step_var: np.ndarray    # (T,) their variances


def _matrix_at(array: np.ndarray, t: int) -> np.ndarray:
    return array[..., t] if array.ndim == 3 else array


def _state_space(model: UnobservedComponents, params: np.ndarray):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        filtered = model.filter(params, cov_type="none")  # the parameter covariance is never used here
    ssm = model.ssm  # matrices now hold these parameters
    return filtered, {
        "design": np.asarray(ssm["design"]),
        "transition": _matrix_at(np.asarray(ssm["transition"]), 0),
        "selection": _matrix_at(np.asarray(ssm["selection"]), 0),
        "state_sd": np.sqrt(np.clip(np.diag(_matrix_at(np.asarray(ssm["state_cov"]), 0)), 0, None)),
        "obs_sd": float(np.sqrt(max(_matrix_at(np.asarray(ssm["obs_cov"]), 0)[0, 0], 0.0))),
    }


def _symmetric_root(cov: np.ndarray) -> np.ndarray:
    """The symmetric square root R (R @ R.T = cov) of a covariance.

    Unlike eigenvectors scaled by root eigenvalues, it does not depend on the signs LAPACK gives the
    eigenvectors or on the basis it picks among (nearly) equal eigenvalues, so the draws it maps the
    seeded normals to move continuously with the covariance (and not with the CPU's kernels)."""
    eigval, eigvec = np.linalg.eigh((cov + cov.T) / 2)
    return (eigvec * np.sqrt(np.clip(eigval, 0, None))) @ eigvec.T


def _propagate(filtered, system: dict, origin: int, n_draws: int, n_time: int, rng: np.random.Generator):
    """Predictive mean and ``n_draws`` joint draws of y over ``origin+1 .. n_time-1`` for one parameter set."""
    mean_state = filtered.filtered_state[:, origin]
    cov_state = filtered.filtered_state_cov[:, :, origin]
    root = _symmetric_root(cov_state)
    states = mean_state + rng.standard_normal((n_draws, mean_state.size)) @ root.T
    transition, selection, design = system["transition"], system["selection"], system["design"]
    mean = np.full(n_time, np.nan)
    draws = np.full((n_draws, n_time), np.nan)
    for t in range(origin + 1, n_time):
        mean_state = transition @ mean_state
        shocks = rng.standard_normal((n_draws, system["state_sd"].size)) * system["state_sd"]
        states = states @ transition.T + shocks @ selection.T
        z = _matrix_at(design, t)[0]
        mean[t] = z @ mean_state
        draws[:, t] = states @ z + system["obs_sd"] * rng.standard_normal(n_draws)
    return mean, draws


def simulate(fitted: Fit, origin: int, n_draws: int, rng: np.random.Generator, parameter_sets: int = 10) -> Forecast:
    """Draw the state at ``origin`` from its filtered distribution and propagate it with noise.

    ``parameter_sets`` > 0 also carries the uncertainty of the fitted variances: that many parameter
    sets are drawn from the Laplace approximation (normal on the log-variances), each filtered
    once and given an equal share of the draws. Without it, short pre-periods give intervals that
    are too narrow (false alarms); CausalImpact gets the same effect from its MCMC over the variances.
    The predictive mean is always that of the fitted parameters.
    """
    model = fitted.model
    n_time = model.nobs
    filtered, system = _state_space(model, fitted.params)
    mean, draws = _propagate(filtered, system, origin, n_draws, n_time, rng)
    if parameter_sets and fitted.log_cov is not None and np.any(fitted.log_cov):
        spread = _symmetric_root(fitted.log_cov)
        shares = np.array_split(np.arange(n_draws), parameter_sets)
        for share in shares:
            sampled = fitted.params * np.exp(spread @ rng.standard_normal(fitted.params.size))
            filtered_g, system_g = _state_space(model, sampled)
            _, draws[share] = _propagate(filtered_g, system_g, origin, share.size, n_time, rng)
        _state_space(model, fitted.params)  # leave the model's matrices at the fitted parameters
    return Forecast(origin=origin, mean=mean, draws=draws,
                    one_step=np.asarray(filtered.forecasts[0], dtype=float),
                    one_step_var=np.asarray(filtered.forecasts_error_cov[0, 0], dtype=float))
