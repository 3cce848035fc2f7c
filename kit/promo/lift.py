"""``kit.promo.lift``: incremental GMV of a promotion — during, after and net — with intervals.

The counterfactual (what would have sold without the promotion) is the model of
:mod:`kit.promo.model`, fitted on the pre-period and simulated over the promotion and the
``post_days`` after it. ``effect = actual − counterfactual``: positive during a sale, usually
negative after it (demand pulled forward), and ``net`` = during + after is what the sale really added.
"""
from __future__ import annotations

import datetime as _dt
import warnings
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from kit import format as fmt
from kit.format import money_frame
from kit.inputs import as_frame, check_alpha
from kit.promo import model as _model
from kit.results import Result

PERIODS = ("during", "after", "net")
SUMMARY_COLUMNS = ["period", "days", "actual", "predicted", "effect", "ci_low", "ci_high",
                   "rel_effect", "rel_ci_low", "rel_ci_high", "pvalue"]
MIN_PRE_DAYS = 21           # fewer observed pre-period days than this cannot fit a weekly model
SHORT_PRE_DAYS = 56         # below eight weeks the fit works but deserves a warning
LOW_R2 = 0.3                # controls explaining less than this share of the pre-period variance
CONTROL_JUMP_Z = 4.0        # a control's during-period mean this many pre-period weekly s.d. away
NOISY_CONTROL_SHARE = 0.5   # a control whose day-to-day noise is more than this share of its pre-period variance
# yearly="auto", trend="auto" and scale="auto": two yearly Fourier harmonics, a drift of the level and a fit on the
# log scale once the observed pre-period spans two years. Shorter histories cannot tell a yearly swing or a drift
# from the level's wandering; with two years, the calibration study (bench/results/promo.md) chose all three.
LONG_HISTORY_DAYS = 730
YEARLY_HARMONICS = 2
YEAR_DAYS = 365.25


class PromoWarning(UserWarning):
    """A diagnostic of the promotion analysis failed (poor fit, contaminated control, placebo alarms)."""


# ------------------------------------------------------------------------------------------------
# Input handling

def _day(value, name: str) -> pd.Timestamp:
    try:
        day = pd.Timestamp(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a date like '2025-11-11', got {value!r}") from error
    if pd.isna(day):
        raise ValueError(f"{name} must be a date like '2025-11-11', got {value!r}")
    return day.normalize()


def _prepare(data, *, target: str, controls: list[str], date: str, extra: list[str] = ()) -> pd.DataFrame:
    frame = as_frame(data, "data", [date, target, *controls, *extra])
    try:
        frame[date] = pd.to_datetime(frame[date]).dt.normalize()
    except (TypeError, ValueError) as error:
        raise ValueError(f"data: column {date!r} must hold dates; {error}") from error
    if frame[date].isna().any():
        bad = frame[frame[date].isna()]
        raise ValueError(f"data: column {date!r} has {len(bad)} empty date(s); example row: {bad.iloc[0].to_dict()}")
    duplicated = frame[date].duplicated(keep=False)
    if duplicated.any():
        example = frame.loc[duplicated, date].iloc[0].date()
        raise ValueError(f"data: the daily series must have one row per date; {int(duplicated.sum())} rows share "
                         f"a date (e.g. {example}). Aggregate to one row per day first.")
    frame = frame.sort_values(date).reset_index(drop=True)
    expected = pd.date_range(frame[date].iloc[0], frame[date].iloc[-1], freq="D")
    if len(expected) != len(frame):
        missing = expected.difference(frame[date])
        raise ValueError(f"data: the daily series has gaps: {len(missing)} date(s) missing between "
                         f"{expected[0].date()} and {expected[-1].date()} (e.g. {missing[0].date()}). "
                         "Add those days (with 0 if nothing sold) so the weekly pattern stays aligned.")
    for column in [target, *controls]:
        try:
            frame[column] = pd.to_numeric(frame[column]).astype(float)
        except (TypeError, ValueError) as error:
            raise ValueError(f"data: column {column!r} must be numeric; {error}") from error
    return frame


def _excluded_days(frame: pd.DataFrame, exclude, date: str) -> np.ndarray:
    if exclude is None:
        return np.zeros(len(frame), dtype=bool)
    if isinstance(exclude, str):
        if exclude not in frame.columns:
            raise ValueError(f"exclude={exclude!r} is not a column of the data")
        return frame[exclude].fillna(False).astype(bool).to_numpy()
    days = pd.to_datetime(pd.Index(list(exclude))).normalize()
    return frame[date].isin(days).to_numpy()


# ------------------------------------------------------------------------------------------------
# The estimate

@dataclass
class _Window:
    dates: pd.DatetimeIndex
    actual: np.ndarray
    period: np.ndarray                 # "pre" / "gap" / "during" / "after"
    excluded: np.ndarray               # pre-period days masked as missing
    observed: np.ndarray               # pre-period days the model is fitted on
    controls: np.ndarray               # (T, k) raw controls
    control_names: list[str]
    harmonics: np.ndarray              # (T, 2h) yearly Fourier terms (h = 0: none)
    observed_span: int                 # days from the first to the last observed pre-period day


@dataclass
class _Estimate:
    window: _Window
    fitted: _model.Fit
    forecast: _model.Forecast
    y_mean: float
    y_sd: float
    x_mean: np.ndarray
    x_sd: np.ndarray
    effect_draws: dict[str, np.ndarray]
    predicted_draws: dict[str, np.ndarray]
    summary: pd.DataFrame
    log: bool
    expected: np.ndarray               # (T,) predictive mean in money (NaN up to the origin)


def _window(frame: pd.DataFrame, *, target: str, controls: list[str], date: str, start: pd.Timestamp,
            end: pd.Timestamp, pre_start: pd.Timestamp | None, post_days: int, gap_days: int,
            excluded: np.ndarray, yearly="auto", skip_excluded_in_window: bool = False,
            short_drops_yearly: bool = False) -> _Window:
    first, last = frame[date].iloc[0], frame[date].iloc[-1]
    finish = end + pd.Timedelta(days=post_days)
    if start > end:
        raise ValueError(f"the promotion starts after it ends: start {start.date()} > end {end.date()}")
    if start <= first or finish > last:
        raise ValueError(
            f"promotion window outside the data: the analysis needs {start.date()} to {finish.date()} "
            f"(end + post_days={post_days}) and at least three weeks before it, but the data cover "
            f"{first.date()} to {last.date()}")
    pre_start = first if pre_start is None else max(first, pre_start)
    pre_end = start - pd.Timedelta(days=gap_days + 1)
    keep = ((frame[date] >= pre_start) & (frame[date] <= finish)).to_numpy()
    sub = frame.loc[keep].reset_index(drop=True)
    excluded = excluded[keep]
    dates = pd.DatetimeIndex(sub[date])
    period = np.select([dates <= pre_end, dates < start, dates <= end], ["pre", "gap", "during"], "after").astype(object)
    actual = sub[target].to_numpy(dtype=float)
    if skip_excluded_in_window:  # placebo windows: days of real promotions inside them are not counted
        period[np.isin(period, ["during", "after"]) & excluded] = "masked"
    observed = (period == "pre") & ~excluded & ~np.isnan(actual)
    n_observed = int(observed.sum())
    if n_observed < MIN_PRE_DAYS:
        raise ValueError(
            f"pre-period too short: {n_observed} usable day(s) between {pre_start.date()} and {pre_end.date()} "
            f"(after gap_days={gap_days} and {int(((period == 'pre') & excluded).sum())} masked day(s)); "
            f"the model needs at least {MIN_PRE_DAYS} (three weeks) and is reliable from {SHORT_PRE_DAYS}")
    window_nan = np.isnan(actual) & np.isin(period, ["during", "after"])
    if window_nan.any():
        example = dates[window_nan][0].date()
        raise ValueError(f"data: column {target!r} is empty on {int(window_nan.sum())} day(s) of the promotion "
                         f"window or the post-period (e.g. {example}); the effect cannot be measured there")
    x = sub[controls].to_numpy(dtype=float) if controls else np.zeros((len(sub), 0))
    for j, name in enumerate(controls):
        empty = np.isnan(x[:, j])
        if empty.any():
            raise ValueError(f"data: control {name!r} is empty on {int(empty.sum())} day(s) "
                             f"(e.g. {dates[empty][0].date()}); controls must be complete over the window")
    observed_span = int((dates[observed][-1] - dates[observed][0]).days) + 1
    if yearly == "auto":
        harmonics = YEARLY_HARMONICS if observed_span >= LONG_HISTORY_DAYS else 0
    else:
        harmonics = int(yearly)
        if harmonics and observed_span < YEAR_DAYS and short_drops_yearly:
            harmonics = 0  # a placebo's fake with less than a year before it
        elif harmonics and observed_span < YEAR_DAYS:
            raise ValueError(f"yearly={harmonics} needs a pre-period of at least a year; the observed one spans "
                             f"{observed_span} days ({dates[observed][0].date()} to {dates[observed][-1].date()})")
    return _Window(dates=dates, actual=actual, period=period, excluded=(period == "pre") & excluded,
                   observed=observed, controls=x, control_names=list(controls),
                   harmonics=yearly_terms(dates, harmonics), observed_span=observed_span)


def yearly_terms(dates: pd.DatetimeIndex, harmonics: int) -> np.ndarray:
    """sin and cos of ``harmonics`` multiples of the year's angle (continuous time, so leap years do not
    shift the phase): regressors that carry a smooth yearly swing into the counterfactual."""
    years = (dates - pd.Timestamp("2000-01-01")).days.to_numpy() / YEAR_DAYS
    angles = 2 * np.pi * years[:, None] * np.arange(1, harmonics + 1)
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


def _standardise(window: _Window, log: bool = False) -> tuple[np.ndarray, np.ndarray | None, float, float, np.ndarray, np.ndarray]:
    if log:
        window = _logged(window)
    y_pre = window.actual[window.observed]
    y_mean, y_sd = float(np.mean(y_pre)), float(np.std(y_pre, ddof=1))
    if not y_sd > 0:
        raise ValueError(f"the outcome is constant ({y_mean:g}) over the pre-period; there is nothing to model")
    y_std = np.where(window.observed, (window.actual - y_mean) / y_sd, np.nan)
    x_pre = window.controls[window.observed]
    x_mean = x_pre.mean(axis=0)
    x_sd = x_pre.std(axis=0, ddof=1) if len(x_pre) > 1 else np.zeros(x_pre.shape[1])
    constant = [name for name, sd in zip(window.control_names, x_sd) if not sd > 0]
    if constant:
        raise ValueError(f"{fmt.plural(len(constant), 'control')} {', '.join(map(repr, constant))} "
                         "constant over the pre-period: a constant cannot explain the outcome; drop it")
    x_std = (window.controls - x_mean) / x_sd
    # The yearly terms join the regressors as they are (already of unit scale, mean ~0 over whole years).
    x_std = np.concatenate([x_std, window.harmonics], axis=1)
    return y_std, (x_std if x_std.shape[1] else None), y_mean, y_sd, x_mean, x_sd


def _fitted_values(window: _Window):
    """(name, dates, values) of the outcome's fitted and measured days and of every control."""
    used = window.observed | np.isin(window.period, ["during", "after"])
    return [("the outcome", window.dates[used], window.actual[used]),
            *((name, window.dates, values) for name, values in zip(window.control_names, window.controls.T))]


def _positive(window: _Window) -> bool:
    return all((values > 0).all() for _, _, values in _fitted_values(window))


def _logged(window: _Window) -> _Window:
    """The window with the outcome and the controls on the log scale (multiplicative effects additive)."""
    for name, dates, values in _fitted_values(window):
        bad = ~(values > 0)
        if bad.any():
            raise ValueError(f"scale='log' needs positive values; {name} has {int(bad.sum())} day(s) ≤ 0 "
                             f"(e.g. {dates[bad][0].date()})")
    return _Window(**{**window.__dict__, "actual": np.log(np.where(window.actual > 0, window.actual, np.nan)),
                      "controls": np.log(window.controls)})


def _two_sided_p(effect_draws: np.ndarray) -> float:
    """Two-sided posterior tail probability that the effect is zero (CausalImpact's, doubled)."""
    n = effect_draws.size
    below = (1 + np.sum(effect_draws <= 0)) / (n + 1)
    above = (1 + np.sum(effect_draws >= 0)) / (n + 1)
    return float(min(1.0, 2 * min(below, above)))


def _estimate(window: _Window, *, seasonality: int | None, alpha: float, n_draws: int, seed: int,
              level_prior: str | None, start_params: np.ndarray | None = None, parameter_sets: int = 10,
              trend: bool = False, log: bool = False) -> _Estimate:
    y_std, x_std, y_mean, y_sd, x_mean, x_sd = _standardise(window, log)
    fitted = _model.fit(y_std, x_std, seasonality, level_prior=level_prior, start_params=start_params, trend=trend)
    origin = int(np.flatnonzero(window.observed)[-1])
    forecast = _model.simulate(fitted, origin, n_draws, np.random.default_rng(seed), parameter_sets=parameter_sets)
    simulated = y_mean + y_sd * forecast.draws           # yuan
    expected = y_mean + y_sd * forecast.mean
    if log:
        simulated = np.exp(simulated)
        expected = np.mean(simulated, axis=0)
    rows, effect_draws, predicted_draws = [], {}, {}
    masks = {"before": window.period == "gap", "during": window.period == "during", "after": window.period == "after"}
    masks["net"] = masks["before"] | masks["during"] | masks["after"]
    # 'before' (the presale / anticipation days left out of the fit) is reported only when there are such days.
    for name in (("before",) if masks["before"].any() else ()) + PERIODS:
        mask = masks[name]
        days = int(mask.sum())
        if days == 0:
            rows.append({"period": name, "days": 0, **{c: np.nan for c in SUMMARY_COLUMNS[2:]}})
            continue
        actual = float(window.actual[mask].sum())
        predicted = float(expected[mask].sum())
        sim_total = simulated[:, mask].sum(axis=1)
        draws = actual - sim_total
        low, high = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
        with np.errstate(divide="ignore", invalid="ignore"):
            rel_draws = draws / sim_total
        rel_low, rel_high = np.quantile(rel_draws, [alpha / 2, 1 - alpha / 2])
        rows.append({"period": name, "days": days, "actual": actual, "predicted": predicted,
                     "effect": actual - predicted, "ci_low": float(low), "ci_high": float(high),
                     "rel_effect": (actual - predicted) / predicted if predicted else np.nan,
                     "rel_ci_low": float(rel_low), "rel_ci_high": float(rel_high),
                     "pvalue": _two_sided_p(draws)})
        effect_draws[name] = draws
        predicted_draws[name] = sim_total
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    return _Estimate(window=window, fitted=fitted, forecast=forecast, y_mean=y_mean, y_sd=y_sd, x_mean=x_mean,
                     x_sd=x_sd, effect_draws=effect_draws, predicted_draws=predicted_draws, summary=summary,
                     log=log, expected=expected)


def _daily(estimate: _Estimate, alpha: float) -> pd.DataFrame:
    w, f = estimate.window, estimate.forecast
    mu, sd = estimate.y_mean, estimate.y_sd
    money = np.exp if estimate.log else (lambda v: v)
    z = stats.norm.ppf(1 - alpha / 2)
    n = len(w.dates)
    predicted, lower, upper = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    # Pre-period: one-step-ahead predictions (after the filter's diffuse burn-in).
    burn = estimate.fitted.model.loglikelihood_burn
    pre = np.arange(n) <= f.origin
    pre[:burn] = False
    spread = np.sqrt(np.clip(f.one_step_var, 0, None))
    predicted[pre] = money(mu + sd * f.one_step[pre])
    lower[pre] = money(mu + sd * (f.one_step[pre] - z * spread[pre]))
    upper[pre] = money(mu + sd * (f.one_step[pre] + z * spread[pre]))
    ahead = np.arange(n) > f.origin
    simulated = money(mu + sd * f.draws[:, ahead])
    predicted[ahead] = estimate.expected[ahead]
    lower[ahead], upper[ahead] = np.quantile(simulated, [alpha / 2, 1 - alpha / 2], axis=0)
    effect = w.actual - predicted
    effect_low, effect_high = w.actual - upper, w.actual - lower
    cumulative = np.full(n, np.nan)
    cum_low, cum_high = np.full(n, np.nan), np.full(n, np.nan)
    promo = np.isin(w.period, ["gap", "during", "after"])
    if promo.any():
        counted = simulated[:, promo[ahead]]
        cum_draws = np.cumsum(w.actual[promo] - counted, axis=1)
        cumulative[promo] = np.cumsum(effect[promo])
        cum_low[promo], cum_high[promo] = np.quantile(cum_draws, [alpha / 2, 1 - alpha / 2], axis=0)
    return pd.DataFrame({
        "date": w.dates, "period": w.period, "excluded": w.excluded, "actual": w.actual,
        "predicted": predicted, "lower": lower, "upper": upper,
        "effect": effect, "effect_low": effect_low, "effect_high": effect_high,
        "cum_effect": cumulative, "cum_low": cum_low, "cum_high": cum_high,
    })


# ------------------------------------------------------------------------------------------------
# Diagnostics

def _diagnostics(estimate: _Estimate, frame_daily: pd.DataFrame) -> dict:
    w = estimate.window
    observed = w.observed.copy()
    burn = max(estimate.fitted.model.loglikelihood_burn, 14)
    first_counted = np.flatnonzero(observed)[min(burn, observed.sum() - 1)]
    counted = observed & (np.arange(len(observed)) >= first_counted) & (w.actual != 0)
    pred = frame_daily["predicted"].to_numpy()
    mape = float(np.mean(np.abs((w.actual[counted] - pred[counted]) / w.actual[counted]))) if counted.any() else np.nan
    r2 = np.nan
    if w.controls.shape[1]:
        ols = sm.OLS(w.actual[observed], sm.add_constant(w.controls[observed], has_constant="add")).fit()
        r2 = float(ols.rsquared)
    # A control that jumps during the promotion is contaminated by it: compare its during-period mean
    # with the spread of its weekly means in the pre-period (weekly means absorb the day-of-week pattern).
    jumps = {}
    during = w.period == "during"
    for j, name in enumerate(w.control_names):
        series = pd.Series(w.controls[observed, j])
        weekly = series.groupby(np.arange(len(series)) // 7).mean()
        weekly = weekly.iloc[:-1] if len(series) % 7 else weekly
        recent = weekly.iloc[-2:]
        # Weekly means drift like a random walk: scale the week-to-week spread by the horizon.
        horizon = 1.0 + during.sum() / 7.0
        spread = float(weekly.diff().std(ddof=1)) * np.sqrt(horizon) if len(weekly) > 2 else np.nan
        jumps[name] = float((w.controls[during, j].mean() - recent.mean()) / spread) if spread and spread > 0 else np.nan
    pre = w.period == "pre"
    noise = {name: control_noise_share(w.controls[pre, j]) for j, name in enumerate(w.control_names)}
    return {
        "pre_days": int(observed.sum()), "masked_days": int(w.excluded.sum()),
        "yearly_harmonics": w.harmonics.shape[1] // 2, "trend": estimate.fitted.model.trend,
        "scale": "log" if estimate.log else "linear",
        "mape": mape, "controls_r2": r2, "control_jump_z": jumps, "control_noise_share": noise,
        "converged": estimate.fitted.converged, "variances": estimate.fitted.variances,
        "level_prior": ("none (maximum likelihood)" if estimate.fitted.level_prior is None else
                        "CausalImpact's (maximum likelihood was unstable)" if estimate.fitted.unstable_mle else
                        "CausalImpact's"),
    }


def control_noise_share(values: np.ndarray) -> float:
    """Share of a control's variance that is day-to-day noise, from days a week apart.

    For x_t = signal_t + e_t with white noise e and a signal smooth over a fortnight (trend, season, the
    weekday pattern repeats a week later), x_t − (x_{t−7} + x_{t+7})/2 is ~e_t − (e_{t−7} + e_{t+7})/2, whose
    variance is 1.5 var(e). A large share biases the control's coefficient towards zero (errors in variables),
    so the counterfactual under-carries the moves it shares with the target."""
    x = np.asarray(values, dtype=float)
    if x.size < 28:
        return np.nan
    residual = x[7:-7] - (x[:-14] + x[14:]) / 2
    total = float(np.var(x, ddof=1))
    return float(min(1.0, np.var(residual, ddof=1) / 1.5 / total)) if total > 0 else np.nan


def _diagnostic_warnings(diagnostics: dict, alpha: float) -> list[str]:
    found = []
    if diagnostics["pre_days"] < SHORT_PRE_DAYS:
        found.append(f"short pre-period: {diagnostics['pre_days']} days (fewer than {SHORT_PRE_DAYS}); "
                     "the counterfactual rests on little history")
    if not diagnostics["converged"]:
        found.append("the model's likelihood maximisation did not converge; treat the intervals with caution")
    r2 = diagnostics["controls_r2"]
    if np.isfinite(r2) and r2 < LOW_R2:
        found.append(f"the controls explain little of the pre-period (R² = {r2:.2f} < {LOW_R2}); "
                     "the counterfactual rests mostly on trend and weekday pattern")
    for name, z in diagnostics["control_jump_z"].items():
        if np.isfinite(z) and abs(z) > CONTROL_JUMP_Z:
            found.append(f"control {name!r} moves during the promotion ({z:+.1f} pre-period weekly s.d.): "
                         "it is probably affected by the promotion and should not be a control")
    for name, share in diagnostics["control_noise_share"].items():
        if np.isfinite(share) and share > NOISY_CONTROL_SHARE:
            found.append(f"control {name!r} is mostly day-to-day noise ({share:.0%} of its pre-period variance): "
                         "its coefficient is pulled towards zero and the counterfactual under-carries what it "
                         "shares with the target; a smoother control (a 7-day mean) or a sum of more controls carries it better")
    placebo = diagnostics.get("placebo")
    if placebo is not None and placebo["windows"] and placebo["binomial_p"] < 0.05:
        found.append(f"placebo check: {placebo['significant']} of {placebo['windows']} fake promotions in the "
                     f"pre-period come out significant (expected about {alpha:.0%}); the intervals are too "
                     "narrow for this series, so do not trust a 'significant' verdict")
    return found


# ------------------------------------------------------------------------------------------------
# Results

@dataclass(repr=False)  # Result.__repr__: the rounded table, not every frame at full precision
class PlaceboResult(Result):
    """Placebo-in-time: the same analysis on fake promotions inside the pre-period."""

    windows: pd.DataFrame
    alpha: float
    title: str = "Placebo check (fake promotions in the pre-period)"

    def to_pandas(self) -> pd.DataFrame:
        return self.windows

    @property
    def significant(self) -> int:
        return int(self.windows["significant"].sum()) if len(self.windows) else 0

    @property
    def share(self) -> float:
        return self.significant / len(self.windows) if len(self.windows) else np.nan

    @property
    def binomial_p(self) -> float:
        """P(at least this many 'significant' fakes) if the test held its level alpha."""
        if not len(self.windows):
            return np.nan
        return float(stats.binom.sf(self.significant - 1, len(self.windows), self.alpha))

    def display(self) -> pd.DataFrame:
        return money_frame(self.windows, percent=("rel_effect",))

    @property
    def notes(self) -> list[str]:
        return [f"{self.significant} of {len(self.windows)} fake windows significant at alpha = {self.alpha:g} "
                f"(P of so many if the model is right: {self.binomial_p:.3g})"]


@dataclass(repr=False)
class LiftResult(Result):
    """Incremental effect of a promotion; ``to_pandas()`` holds one row per period (during, after, net)."""

    summary: pd.DataFrame
    daily: pd.DataFrame
    diagnostics: dict
    warnings: list[str]
    effect_draws: dict[str, np.ndarray] = field(repr=False)
    predicted_draws: dict[str, np.ndarray] = field(repr=False)
    target: str = "gmv"
    alpha: float = 0.05
    start: _dt.date | None = None
    end: _dt.date | None = None
    placebo: PlaceboResult | None = None

    @property
    def title(self) -> str:
        return f"Incremental {self.target} {self.start} – {self.end}: during, after, net ({1 - self.alpha:.0%} intervals)"

    def to_pandas(self) -> pd.DataFrame:
        return self.summary

    def row(self, period: str) -> pd.Series:
        return self.summary.set_index("period").loc[period]

    def diagnostics_frame(self) -> pd.DataFrame:
        d = self.diagnostics
        rows = [("pre-period days used", d["pre_days"]), ("pre-period days masked", d["masked_days"]),
                ("yearly harmonics", d["yearly_harmonics"]), ("level drift (trend)", d["trend"]), ("scale", d["scale"]),
                ("one-step-ahead MAPE (pre-period)", d["mape"]), ("controls R² (pre-period)", d["controls_r2"])]
        rows += [(f"control jump z: {k}", v) for k, v in d["control_jump_z"].items()]
        rows += [(f"control noise share: {k}", v) for k, v in d["control_noise_share"].items()]
        if d.get("placebo") is not None:
            rows += [("placebo windows", d["placebo"]["windows"]),
                     ("placebo share significant", d["placebo"]["share"])]
        rows += [(f"variance {k} (standardized)", v) for k, v in d["variances"].items()]
        rows.append(("level variance prior", d["level_prior"]))
        rows.append(("fit converged", d["converged"]))
        return pd.DataFrame(rows, columns=["diagnostic", "value"])

    @property
    def notes(self) -> list[str]:
        draws = self.effect_draws["net"].size if "net" in self.effect_draws else 0
        return [f"effect = actual − counterfactual; intervals from {draws} joint simulations of the model "
                "(observation noise and parameter uncertainty included)"] + [f"warning: {w}" for w in self.warnings]

    def display(self) -> pd.DataFrame:
        return money_frame(self.summary, percent=("rel_effect", "rel_ci_low", "rel_ci_high"))

    def plot(self, axes=None, **kwargs):
        from kit.promo.plots import plot_lift
        return plot_lift(data=self.daily, axes=axes, title=f"{self.target} {self.start} – {self.end}", **kwargs)


# ------------------------------------------------------------------------------------------------
# Public functions

def _check_options(alpha: float, seasonality, post_days: int, gap_days: int, n_draws: int, yearly="auto") -> None:
    check_alpha(alpha)
    if yearly != "auto" and (isinstance(yearly, bool) or not isinstance(yearly, (int, np.integer)) or yearly < 0):
        raise ValueError(f"yearly must be 'auto' or a whole number of harmonics ≥ 0 (0 = none), got {yearly!r}")
    if seasonality is not None and (not isinstance(seasonality, (int, np.integer)) or seasonality < 2):
        raise ValueError(f"seasonality must be None or a whole number ≥ 2 (7 = weekly), got {seasonality!r}")
    for name, value in (("post_days", post_days), ("gap_days", gap_days)):
        if not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a whole number ≥ 0, got {value!r}")
    if not isinstance(n_draws, (int, np.integer)) or n_draws < 100:
        raise ValueError(f"n_draws must be a whole number ≥ 100, got {n_draws!r}")


def lift(data, start, end, target: str = "gmv", controls: Iterable[str] | None = None, date: str = "date",
         pre_start=None, post_days: int = 0, gap_days: int = 0, alpha: float = 0.05, seasonality: int | None = 7,
         seed: int = 0, *, exclude=None, n_draws: int = 1000, level_prior: str | None = "auto",
         parameter_sets: int = 10, placebos: int = 0, trend="auto", yearly="auto", scale: str = "auto",
         warn: bool = True) -> LiftResult:
    """Counterfactual incremental ``target`` of a promotion running ``start``..``end`` (inclusive dates).

    Rows of the result: ``before`` (only with ``gap_days``: the presale / "waiting for 11.11" days),
    ``during``, ``after`` (``post_days``) and ``net`` = their sum, from one set of joint draws.

    ``data``: a daily table (pandas or Ibis) with one row per date and no missing dates.
    ``controls``: columns the promotion does not affect (e.g. GMV of unpromoted, unrelated categories).
    ``post_days``: days after ``end`` in the ``after`` period (the pull-forward dip).
    ``gap_days``: days before ``start`` left out of the fit (presale, "waiting for 11.11").
    ``exclude``: dates (or a boolean column) of the pre-period to treat as missing — other promotions.
    ``placebos``: how many fake promotions inside the pre-period to analyse as a check (0 = none).
    ``level_prior``, ``parameter_sets``: see :mod:`kit.promo.model` (0 parameter sets = plug-in variances).
    ``trend=True``: the level drifts at a constant rate (random walk with drift) — for a steadily
    growing store, when placebo windows come out mostly positive; intervals widen with the horizon.
    ``"auto"`` (default): a drift once the observed pre-period spans two years (730 days), none below.
    ``yearly``: harmonics of a yearly swing as regressors; ``"auto"`` (default) uses 2 once the observed
    pre-period spans two years and none below, an int asks for that many (0 = none).
    ``scale``: ``"log"`` fits the log of the outcome and of the controls (multiplicative seasonality and
    effects; needs positive values), ``"linear"`` the values; ``"auto"`` (default): log once the observed
    pre-period spans two years and every value is positive, linear otherwise.
    Returns a :class:`LiftResult`; its diagnostics' failures are also issued as :class:`PromoWarning`.
    """
    controls = list(controls or [])
    _check_options(alpha, seasonality, post_days, gap_days, n_draws, yearly)
    if level_prior not in _model.LEVEL_PRIORS:
        raise ValueError(f"level_prior must be one of {_model.LEVEL_PRIORS}, got {level_prior!r}")
    if target in controls:
        raise ValueError(f"the target {target!r} cannot also be a control")
    if not (trend == "auto" or isinstance(trend, (bool, np.bool_))):
        raise ValueError(f"trend must be 'auto', True or False, got {trend!r}")
    if scale not in ("auto", "linear", "log"):
        raise ValueError(f"scale must be 'auto', 'linear' or 'log', got {scale!r}")
    for name, value in (("placebos", placebos), ("parameter_sets", parameter_sets)):
        if not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a whole number ≥ 0, got {value!r}")
    extra = [exclude] if isinstance(exclude, str) else []
    frame = _prepare(data, target=target, controls=controls, date=date, extra=extra)
    excluded = _excluded_days(frame, exclude, date)
    start_day, end_day = _day(start, "start"), _day(end, "end")
    window = _window(frame, target=target, controls=controls, date=date, start=start_day, end=end_day,
                     pre_start=None if pre_start is None else _day(pre_start, "pre_start"),
                     post_days=post_days, gap_days=gap_days, excluded=excluded, yearly=yearly)
    long_history = window.observed_span >= LONG_HISTORY_DAYS
    trend = long_history if trend == "auto" else bool(trend)
    log = scale == "log" or (scale == "auto" and long_history and _positive(window))
    estimate = _estimate(window, seasonality=seasonality, alpha=alpha, n_draws=n_draws, seed=seed,
                         level_prior=level_prior, parameter_sets=parameter_sets, trend=trend, log=log)
    daily_frame = _daily(estimate, alpha)
    diagnostics = _diagnostics(estimate, daily_frame)
    placebo_result = None
    if placebos:
        placebo_result = _placebo(frame, target=target, controls=controls, date=date, start=start_day, end=end_day,
                                  pre_start=pre_start, post_days=post_days, gap_days=gap_days, alpha=alpha,
                                  seasonality=seasonality, seed=seed, excluded=excluded, windows=placebos,
                                  level_prior=level_prior, start_params=estimate.fitted.params, trend=trend,
                                  yearly=window.harmonics.shape[1] // 2, log=log)
        diagnostics["placebo"] = {"windows": len(placebo_result.windows), "significant": placebo_result.significant,
                                  "share": placebo_result.share, "binomial_p": placebo_result.binomial_p}
    found = _diagnostic_warnings(diagnostics, alpha)
    if warn:
        for message in found:
            warnings.warn(f"{target} {start_day.date()}–{end_day.date()}: {message}", PromoWarning, stacklevel=2)
    return LiftResult(summary=estimate.summary, daily=daily_frame, diagnostics=diagnostics, warnings=found,
                      effect_draws=estimate.effect_draws, predicted_draws=estimate.predicted_draws, target=target,
                      alpha=alpha, start=start_day.date(), end=end_day.date(), placebo=placebo_result)


def _placebo(frame: pd.DataFrame, *, target, controls, date, start, end, pre_start, post_days, gap_days, alpha,
             seasonality, seed, excluded, windows, level_prior, start_params, n_draws: int = 500,
             trend: bool = False, yearly: int = 0, log: bool = False) -> PlaceboResult:
    """Fake promotions of the same length, latest first, inside the real pre-period and clear of masked days.

    The fakes use ``yearly`` harmonics where their own observed pre-period spans a year, none where it is
    shorter (measured as :func:`_window` measures it, masked days left out)."""
    length = (end - start).days + 1
    span = length + post_days
    pre_end = start - pd.Timedelta(days=gap_days + 1)
    dates = frame[date]
    first = dates.iloc[0] if pre_start is None else max(dates.iloc[0], _day(pre_start, "pre_start"))
    rows = []
    fake_end_of_span = pre_end
    while len(rows) < windows:
        fake_start = fake_end_of_span - pd.Timedelta(days=span - 1)
        fake_pre_end = fake_start - pd.Timedelta(days=gap_days + 1)
        pre_mask = ((dates >= first) & (dates <= fake_pre_end) & ~excluded).to_numpy()
        if pre_mask.sum() < SHORT_PRE_DAYS:
            break
        fake_end = fake_start + pd.Timedelta(days=length - 1)
        in_during = ((dates >= fake_start) & (dates <= fake_end)).to_numpy()
        in_span = ((dates >= fake_start) & (dates <= fake_end_of_span)).to_numpy()
        # Real promotions' days inside a fake window are not counted; the fake 'during' must be mostly clear.
        if excluded[in_during].mean() > 0.5 or excluded[in_span].mean() > 0.5:
            fake_end_of_span = fake_end_of_span - pd.Timedelta(days=1)
            continue
        sub = frame.loc[(dates <= fake_end_of_span).to_numpy()].reset_index(drop=True)
        window = _window(sub, target=target, controls=controls, date=date, start=fake_start, end=fake_end,
                         pre_start=first, post_days=post_days, gap_days=gap_days,
                         excluded=excluded[(dates <= fake_end_of_span).to_numpy()], skip_excluded_in_window=True,
                         yearly=yearly, short_drops_yearly=True)
        estimate = _estimate(window, seasonality=seasonality, alpha=alpha, n_draws=n_draws, seed=seed + len(rows) + 1,
                             level_prior=level_prior, start_params=start_params, trend=trend, log=log)
        net = estimate.summary.set_index("period").loc["net"]
        rows.append({"start": fake_start.date(), "end": fake_end.date(), "effect": net["effect"],
                     "ci_low": net["ci_low"], "ci_high": net["ci_high"], "rel_effect": net["rel_effect"],
                     "pvalue": net["pvalue"], "significant": bool(net["pvalue"] < alpha)})
        fake_end_of_span = fake_start - pd.Timedelta(days=7)
    table = pd.DataFrame(rows, columns=["start", "end", "effect", "ci_low", "ci_high", "rel_effect", "pvalue", "significant"])
    return PlaceboResult(windows=table, alpha=alpha)


def placebo(data, start, end, target: str = "gmv", controls: Iterable[str] | None = None, date: str = "date",
            pre_start=None, post_days: int = 0, gap_days: int = 0, alpha: float = 0.05, seasonality: int | None = 7,
            seed: int = 0, *, exclude=None, windows: int = 10, level_prior: str | None = "auto",
            trend: bool = False, yearly: int = 0) -> PlaceboResult:
    """Placebo-in-time check on its own: :func:`lift` on ``windows`` fake promotions before ``start``.

    ``yearly``: harmonics of the yearly swing in each fake's model (as :func:`lift`'s, but a number: the
    fakes' pre-periods are shorter than the real one, so "auto" would judge each by its own length)."""
    controls = list(controls or [])
    _check_options(alpha, seasonality, post_days, gap_days, 1000, yearly)
    if yearly == "auto":
        raise ValueError("placebo: yearly must be a whole number of harmonics (the one lift() resolved), not 'auto'")
    frame = _prepare(data, target=target, controls=controls, date=date,
                     extra=[exclude] if isinstance(exclude, str) else [])
    excluded = _excluded_days(frame, exclude, date)
    return _placebo(frame, target=target, controls=controls, date=date, start=_day(start, "start"),
                    end=_day(end, "end"), pre_start=pre_start, post_days=post_days, gap_days=gap_days, alpha=alpha,
                    seasonality=seasonality, seed=seed, excluded=excluded, windows=windows,
                    level_prior=level_prior, start_params=None, trend=trend, yearly=yearly)
