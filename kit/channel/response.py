"""Response model (a small media-mix model): what each channel's spend adds to weekly GMV.

    gmv_t = intercept + trend·t + Σ_k (a_k sin + b_k cos)(2πk·t / 52.18) + Σ_j γ_j control_jt
            + Σ_c β_c · S_c(A_ct),        A_ct = spend_ct + θ_c · A_c,t−1   (geometric adstock, A_c,−1 = 0)

``S`` is a saturation curve with value 0.5 at the half-saturation point ``h``: Hill
``A^k / (A^k + h^k)`` or logistic ``tanh(A·ln3 / 2h)``. ``β_c`` is the weekly GMV at full saturation.

Fitting: every parameter at once by :func:`scipy.optimize.least_squares` (trust-region reflective,
bounds: 0 ≤ θ ≤ 0.9, β ≥ 0 …) with an analytic Jacobian, from a few fixed starts whose linear part is
first solved by bounded linear least squares (:func:`scipy.optimize.lsq_linear`); the best fit wins.
Spend and GMV are scaled to mean 1 inside, so the bounds mean the same for any currency size.

Uncertainty: a moving-block bootstrap of the residuals (blocks keep the weeks' autocorrelation;
resampling residuals rather than weeks keeps the adstock recursion intact), scaled by √(n/(n−p)) to
the noise's unbiased size (the fit absorbs part of the noise), each draw refitted from the fitted
parameters, seeded. ROAS = modelled channel GMV / spend over a period; marginal ROAS =
d GMV / d spend at the period's average weekly spend in steady state (``β S'(s̄/(1−θ)) / (1−θ)``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy.optimize import least_squares, lsq_linear
from scipy.signal import lfilter

from kit import format as fmt
from kit.contract import require_columns
from kit.format import money_unit
from kit.inputs import as_frame, period_dates
from kit.results import Result

SATURATIONS = ("hill", "logistic")
WEEKS_PER_YEAR = 365.25 / 7
LN3 = np.log(3.0)
THETA_MAX = 0.9
# Half-saturation as a multiple of the channel's typical adstocked spend (mean spend / (1 − θ)):
# a half-saturation point far outside the spend the data shows is not identified by it.
H_BOUNDS = (0.25, 4.0)
SHAPE_BOUNDS = (0.5, 4.0)    # Hill exponent
BETA_MAX = 50.0              # weekly GMV at saturation, in units of mean weekly GMV
STARTS = ((0.3, 1.0, 1.5), (0.6, 2.0, 1.0), (0.1, 0.6, 2.5), (0.45, 3.0, 1.2))  # (θ, h ratio, k)


# ------------------------------------------------------------------------------------------------
# Curves (vectorised over weeks; scalars for one channel)

def adstock(spend: np.ndarray, theta: float) -> np.ndarray:
    """Geometric carry-over along the first axis: a_t = s_t + θ a_{t-1}, starting from zero."""
    return lfilter([1.0], [1.0, -theta], spend, axis=0)


def half_saturation(theta: float, ratio: float) -> float:
    """Half-saturation in scaled spend units: ``ratio`` × the steady-state adstock at mean spend (1)."""
    return ratio / (1.0 - theta)


def saturation(a: np.ndarray, half: float, shape: float, kind: str) -> np.ndarray:
    """The saturation curve of adstocked spend ``a``: Hill or logistic, 0.5 at ``half``."""
    if kind == "hill":
        ratio = np.power(np.maximum(a, 0.0) / half, shape)
        return ratio / (1.0 + ratio)
    return np.tanh(np.maximum(a, 0.0) * LN3 / (2.0 * half))


def saturation_slope(a: np.ndarray, half: float, shape: float, kind: str) -> np.ndarray:
    """dS/dA."""
    a = np.maximum(np.asarray(a, dtype=float), 1e-12)
    if kind == "hill":
        ratio = np.power(a / half, shape)
        return shape * ratio / (a * (1.0 + ratio) ** 2)
    s = np.tanh(a * LN3 / (2.0 * half))
    return (1.0 - s**2) * LN3 / (2.0 * half)


def _saturation_grads(a: np.ndarray, half: float, shape: float, kind: str):
    """S, dS/dA, dS/dh, dS/dk (the last is zero for the logistic curve)."""
    a = np.maximum(a, 1e-12)
    if kind == "hill":
        ratio = np.power(a / half, shape)
        denom = (1.0 + ratio) ** 2
        s = ratio / (1.0 + ratio)
        return s, shape * ratio / (a * denom), -shape * ratio / (half * denom), ratio * np.log(a / half) / denom
    z = a * LN3 / half
    s = np.tanh(z / 2.0)
    ds_dz = (1.0 - s**2) / 2.0
    return s, ds_dz * LN3 / half, -ds_dz * z / half, np.zeros_like(a)


# ------------------------------------------------------------------------------------------------
# The design: base columns (intercept, trend, Fourier, controls) and the channels' curves

@dataclass(repr=False)
class _Problem:
    y: np.ndarray            # scaled target (mean 1)
    x: np.ndarray            # scaled spend, weeks × channels (mean 1 per channel)
    base: np.ndarray         # weeks × base columns
    kind: str
    weight: np.ndarray | None = None  # 1 for weeks in the fit, 0 for weeks left out (promotions)

    @property
    def n_channels(self) -> int:
        return self.x.shape[1]

    @property
    def n_nonlinear(self) -> int:
        return 3 if self.kind == "hill" else 2

    def split(self, params: np.ndarray):
        """(nonlinear: channels × (θ, h ratio[, k]), linear, β) of one parameter vector, or of
        draws × parameters (each part then gets the draws as its first axis)."""
        c, m, nb = self.n_channels, self.n_nonlinear, self.base.shape[1]
        nonlinear = params[..., : c * m].reshape(params.shape[:-1] + (c, m))
        return nonlinear, params[..., c * m: c * m + nb], params[..., c * m + nb:]

    def curves(self, nonlinear: np.ndarray) -> np.ndarray:
        return self._evaluate(nonlinear, gradients=False)[0]

    def _evaluate(self, nonlinear: np.ndarray, gradients: bool):
        """Saturated adstock per channel and, if asked, its derivatives (cached: least_squares asks
        for the residuals and then the Jacobian at the same point).

        Worked channel by row (channels × weeks), so each curve is one array operation over all
        channels; every element gets the same arithmetic as a channel at a time would."""
        key = (nonlinear.tobytes(), gradients)
        cached = getattr(self, "_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        spend = self._spend_by_channel()
        theta, ratio = nonlinear[:, 0], nonlinear[:, 1]
        half = half_saturation(theta, ratio)[:, None]
        shape = nonlinear[:, 2:3] if self.kind == "hill" else 1.0
        a = np.stack([adstock(row, t) for row, t in zip(spend, theta)])
        if not gradients:
            result = (np.ascontiguousarray(saturation(a, half, shape, self.kind).T), None)
            self._cache = (key, result)
            return result
        # d a_t/dθ = a_{t-1} + θ d a_{t-1}/dθ
        previous = np.concatenate([np.zeros((len(a), 1)), a[:, :-1]], axis=1)
        da_dtheta = np.stack([adstock(row, t) for row, t in zip(previous, theta)])
        s, ds_da, ds_dh, ds_dk = _saturation_grads(a, half, shape, self.kind)
        keep = (1 - theta)[:, None]
        # Squared one channel at a time: a scalar ** 2 (pow) and an array ** 2 (x * x) can differ
        # in the last bit, and the fits must stay bit for bit what they were.
        keep_squared = np.array([(1 - t) ** 2 for t in theta])[:, None]
        grads = np.empty((3,) + self.x.shape)
        # h = ratio / (1 − θ): θ moves the half-saturation point too.
        grads[0] = (ds_da * da_dtheta + ds_dh * ratio[:, None] / keep_squared).T
        grads[1] = (ds_dh / keep).T
        grads[2] = ds_dk.T
        result = (np.ascontiguousarray(s.T), grads)
        self._cache = (key, result)
        return result

    def _spend_by_channel(self) -> np.ndarray:
        """``x`` as channels × weeks, contiguous per channel (made once)."""
        if getattr(self, "_by_channel", None) is None:
            self._by_channel = np.ascontiguousarray(self.x.T)
        return self._by_channel

    def predict(self, params: np.ndarray) -> np.ndarray:
        nonlinear, linear, beta = self.split(params)
        return self.base @ linear + self._evaluate(nonlinear, gradients=True)[0] @ beta

    def residuals(self, params: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        r = self.predict(params) - (self.y if y is None else y)
        return r if self.weight is None else r * self.weight

    def jacobian(self, params: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        nonlinear, linear, beta = self.split(params)
        c, m, n, nb = self.n_channels, self.n_nonlinear, len(self.y), self.base.shape[1]
        s, grads = self._evaluate(nonlinear, gradients=True)
        jac = np.empty((n, len(params)))
        jac[:, 0: c * m: m] = grads[0] * beta
        jac[:, 1: c * m: m] = grads[1] * beta
        if m == 3:
            jac[:, 2: c * m: m] = grads[2] * beta
        jac[:, c * m: c * m + nb] = self.base
        jac[:, c * m + nb:] = s
        return jac if self.weight is None else jac * self.weight[:, None]

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        per_channel_low = [0.0, H_BOUNDS[0]] + ([SHAPE_BOUNDS[0]] if self.kind == "hill" else [])
        per_channel_high = [THETA_MAX, H_BOUNDS[1]] + ([SHAPE_BOUNDS[1]] if self.kind == "hill" else [])
        nb = self.base.shape[1]
        low = np.r_[np.tile(per_channel_low, self.n_channels), np.full(nb, -np.inf), np.zeros(self.n_channels)]
        high = np.r_[np.tile(per_channel_high, self.n_channels), np.full(nb, np.inf), np.full(self.n_channels, BETA_MAX)]
        return low, high

    def start(self, theta: float, half: float, shape: float, y: np.ndarray) -> np.ndarray:
        row = [theta, half] + ([shape] if self.kind == "hill" else [])
        nonlinear = np.tile(row, (self.n_channels, 1))
        design = np.column_stack([self.base, self.curves(nonlinear)])
        nb = self.base.shape[1]
        low = np.r_[np.full(nb, -np.inf), np.zeros(self.n_channels)]
        high = np.r_[np.full(nb, np.inf), np.full(self.n_channels, BETA_MAX)]
        keep = np.ones(len(y)) if self.weight is None else self.weight
        linear = lsq_linear(design * keep[:, None], y * keep, bounds=(low, high), method="bvls").x
        return np.r_[nonlinear.ravel(), linear]

    def solve(self, x0: np.ndarray, y: np.ndarray | None = None, tol: float = 1e-8) -> Any:
        low, high = self.bounds()
        x0 = np.clip(x0, low, high)
        target = self.y if y is None else y
        return least_squares(self.residuals, x0, jac=self.jacobian, bounds=(low, high), method="trf",
                             x_scale="jac", kwargs={"y": target}, ftol=tol, xtol=tol, gtol=tol, max_nfev=400)

    def fit(self, y: np.ndarray | None = None) -> Any:
        """Every start to a loose tolerance, then the best one polished."""
        target = self.y if y is None else y
        best = None
        for theta, half, shape in STARTS:
            result = self.solve(self.start(theta, half, shape, target), target, tol=1e-5)
            if best is None or result.cost < best.cost - 1e-12:
                best = result
        return self.solve(best.x, target, tol=1e-10)


def _base_columns(weeks: pd.Series, controls: pd.DataFrame, trend: bool, fourier_order: int) -> tuple[np.ndarray, list[str]]:
    t = ((weeks - weeks.iloc[0]).dt.days.to_numpy() / 7.0)
    columns, names = [np.ones(len(t))], ["intercept"]
    if trend:
        columns.append(t / max(t[-1], 1.0))
        names.append("trend")
    # Day of year anchors the seasonality to the calendar, not to the first week of the data.
    day = weeks.dt.day_of_year.to_numpy() / 365.25
    for k in range(1, fourier_order + 1):
        columns += [np.sin(2 * np.pi * k * day), np.cos(2 * np.pi * k * day)]
        names += [f"sin{k}", f"cos{k}"]
    for name in controls.columns:
        values = controls[name].to_numpy(dtype=float)
        scale = np.abs(values).max() or 1.0
        columns.append(values / scale)
        names.append(name)
    return np.column_stack(columns), names


# ------------------------------------------------------------------------------------------------

def _period_mask(weeks: pd.Series, period: Any) -> np.ndarray:
    """Weeks whose first day lies in ``period``: a quarter label/Quarter or a (start, end) pair of dates."""
    if period is None:
        return np.ones(len(weeks), dtype=bool)
    start, end = (pd.Timestamp(day) for day in period_dates(period))
    mask = ((weeks >= start) & (weeks <= end)).to_numpy()
    if not mask.any():
        raise ValueError(f"no weeks of the model lie in the period {start.date()} – {end.date()} "
                         f"(the data runs {weeks.iloc[0].date()} – {weeks.iloc[-1].date()})")
    return mask


ADSTOCK_ZERO = 1e-9  # a weekly carry-over below this is the bound 0 (see _channel_values)


@dataclass(repr=False)
class ResponseModel(Result):
    """A fitted response model; see the module docstring. Build it with :func:`response_model`."""

    weeks: pd.Series
    spend: pd.DataFrame                 # yuan per week and channel
    target: np.ndarray                  # yuan per week
    channels: list[str]
    kind: str
    base_names: list[str]
    problem: _Problem
    solution: np.ndarray
    spend_scale: np.ndarray
    target_scale: float
    draws: np.ndarray                   # bootstrap parameter vectors (draws × params)
    period: Any = None
    alternative: "ResponseModel | None" = None
    aic_tolerance: float = 2.0
    disagreement: float = 0.2
    seed: int = 0
    unit: str = "yuan"  # the money's word (params' currency), from the weekly table's attrs

    title = "Response model: ROAS and marginal ROAS by channel"

    # -- parameters in yuan --------------------------------------------------------------------
    def _channel_values(self, params: np.ndarray) -> dict[str, np.ndarray]:
        """The channel parameters in yuan; ``params`` is one parameter vector or draws × parameters."""
        nonlinear, _, beta = self.problem.split(params)
        return {
            # The bound θ = 0 is reached only up to the solver's last bits (1e-17 … 1e-42 on one CPU,
            # other digits on another): below ADSTOCK_ZERO it is no carry-over, and shown as 0.
            "adstock": np.where(nonlinear[..., 0] < ADSTOCK_ZERO, 0.0, nonlinear[..., 0]),
            "half_saturation": nonlinear[..., 1] / (1 - nonlinear[..., 0]) * self.spend_scale,  # yuan of adstocked spend
            "shape": nonlinear[..., 2] if self.kind == "hill" else np.full(nonlinear.shape[:-1], np.nan),  # logistic: no shape
            "beta": beta * self.target_scale,                          # weekly GMV at full saturation
        }

    def _channel_params(self, params: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"channel": self.channels, **self._channel_values(params)})

    def params(self) -> pd.DataFrame:
        """Per channel: adstock θ, half-saturation (yuan), shape, β (yuan/week), with bootstrap intervals."""
        table = self._channel_params(self.solution)
        if len(self.draws):
            # All draws at once (draws × channels per parameter) rather than a table per draw.
            values = self._channel_values(self.draws)
            for name in ("adstock", "half_saturation", "shape", "beta"):
                table[f"{name}_ci_low"] = np.percentile(values[name], 2.5, axis=0)
                table[f"{name}_ci_high"] = np.percentile(values[name], 97.5, axis=0)
        return table

    def base_params(self) -> pd.Series:
        """Intercept, trend, Fourier and control coefficients (in yuan per week at the column's max)."""
        _, linear, _ = self.problem.split(self.solution)
        return pd.Series(linear * self.target_scale, index=self.base_names)

    # -- fit quality ---------------------------------------------------------------------------
    @property
    def fitted(self) -> np.ndarray:
        return self.problem.predict(self.solution) * self.target_scale

    @property
    def kept(self) -> np.ndarray:
        """Weeks that entered the fit (the others were left out, e.g. promotion weeks)."""
        return np.ones(len(self.target), dtype=bool) if self.problem.weight is None else self.problem.weight > 0

    @property
    def rss(self) -> float:
        return float(((self.fitted - self.target)[self.kept] ** 2).sum())

    @property
    def n_params(self) -> int:
        return len(self.solution)

    @property
    def aic(self) -> float:
        n = int(self.kept.sum())
        return float(n * np.log(self.rss / n) + 2 * self.n_params)

    @property
    def r2(self) -> float:
        y = self.target[self.kept]
        return float(1 - self.rss / ((y - y.mean()) ** 2).sum())

    @property
    def mape(self) -> float:
        kept = self.kept
        return float(np.mean(np.abs(self.fitted - self.target)[kept] / np.abs(self.target[kept])))

    # -- contributions, ROAS, marginal ROAS ----------------------------------------------------
    def _contributions(self, params: np.ndarray) -> np.ndarray:
        nonlinear, _, beta = self.problem.split(params)
        return self.problem.curves(nonlinear) * beta * self.target_scale

    def contributions(self) -> pd.DataFrame:
        """Modelled weekly GMV by channel (yuan), with the base (everything else) and the fit."""
        frame = pd.DataFrame(self._contributions(self.solution), columns=self.channels)
        frame.insert(0, "week", self.weeks.to_numpy())
        frame["base"] = self.fitted - frame[self.channels].sum(axis=1)
        frame["fitted"] = self.fitted
        frame["actual"] = self.target
        return frame

    def _mroas(self, params: np.ndarray, weekly_spend: np.ndarray) -> np.ndarray:
        nonlinear, _, beta = self.problem.split(params)
        out = np.empty(len(self.channels))
        for j, row in enumerate(nonlinear):
            theta, half = row[0], half_saturation(row[0], row[1])
            shape = row[2] if self.kind == "hill" else 1.0
            steady = weekly_spend[j] / self.spend_scale[j] / (1 - theta)
            slope = saturation_slope(steady, half, shape, self.kind)
            out[j] = beta[j] * slope / (1 - theta) * self.target_scale / self.spend_scale[j]
        return out

    def _roas(self, params: np.ndarray, mask: np.ndarray) -> np.ndarray:
        spend = self.spend.to_numpy()[mask].sum(axis=0)
        gmv = self._contributions(params)[mask].sum(axis=0)
        return np.divide(gmv, spend, out=np.full(len(spend), np.nan), where=spend > 0)

    def _percentile_interval(self, statistic, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel bootstrap percentile interval of ``statistic(solution)``; NaN without draws."""
        if not len(self.draws):
            return np.full(len(self.channels), np.nan), np.full(len(self.channels), np.nan)
        values = np.stack([statistic(d) for d in self.draws])
        return np.percentile(values, 100 * alpha / 2, axis=0), np.percentile(values, 100 * (1 - alpha / 2), axis=0)

    def roas(self, period: Any = None, alpha: float = 0.05) -> pd.DataFrame:
        """Per channel over ``period`` (default: the model's period): spend, modelled GMV, ROAS and
        marginal ROAS with bootstrap intervals, and whether the saturation shape is identified."""
        period = self.period if period is None else period
        mask = _period_mask(self.weeks, period)
        spend = self.spend.to_numpy()[mask]
        average = spend.mean(axis=0)
        table = pd.DataFrame({
            "channel": self.channels,
            "spend": spend.sum(axis=0),
            "gmv": self._contributions(self.solution)[mask].sum(axis=0),
            "roas": self._roas(self.solution, mask),
        })
        table["roas_ci_low"], table["roas_ci_high"] = self._percentile_interval(lambda d: self._roas(d, mask), alpha)
        table["mroas"] = self._mroas(self.solution, average)
        table["mroas_ci_low"], table["mroas_ci_high"] = self._percentile_interval(lambda d: self._mroas(d, average), alpha)
        table["weekly_spend"] = average
        if self.alternative is not None:
            other = self.alternative.roas(period)
            table[f"roas_{self.alternative.kind}"] = other["roas"].to_numpy()
            comparable = abs(self.aic - self.alternative.aic) <= self.aic_tolerance
            mine, theirs = table["roas"].to_numpy(), other["roas"].to_numpy()
            # Relative to the larger of the two, so a channel one shape puts at zero is compared too.
            gap = np.abs(theirs - mine) / np.maximum(np.maximum(np.abs(mine), np.abs(theirs)), 1e-12)
            table["identified"] = ~(comparable & (gap > self.disagreement))
        else:
            table["identified"] = True
        return table

    # -- curves ----------------------------------------------------------------------------------
    def steady_state_gmv(self, channel: str, weekly_spend: np.ndarray, params: np.ndarray | None = None) -> np.ndarray:
        """Weekly GMV the channel brings at a constant weekly spend (yuan), once the adstock settles."""
        j = self._index(channel)
        nonlinear, _, beta = self.problem.split(self.solution if params is None else params)
        theta, half = nonlinear[j, 0], half_saturation(nonlinear[j, 0], nonlinear[j, 1])
        shape = nonlinear[j, 2] if self.kind == "hill" else 1.0
        steady = np.asarray(weekly_spend, dtype=float) / self.spend_scale[j] / (1 - theta)
        return beta[j] * saturation(steady, half, shape, self.kind) * self.target_scale

    def response_curve(self, channel: str, points: int = 101, max_spend: float | None = None,
                       period: Any = None, alpha: float = 0.05) -> pd.DataFrame:
        """Steady-state weekly GMV and marginal ROAS against weekly spend (0 … 2× the current
        average by default), with bootstrap bands; ``current`` marks the period's average spend."""
        j = self._index(channel)
        mask = _period_mask(self.weeks, self.period if period is None else period)
        current = float(self.spend.to_numpy()[mask, j].mean())
        top = max_spend if max_spend is not None else 2.0 * max(current, float(self.spend.iloc[:, j].max()) / 2)
        grid = np.unique(np.r_[np.linspace(0.0, top, points), current])
        gmv = self.steady_state_gmv(channel, grid)
        curve = pd.DataFrame({"channel": channel, "weekly_spend": grid, "gmv": gmv,
                              "mroas": self._marginal_curve(j, grid, self.solution), "current": np.isclose(grid, current)})
        if len(self.draws):
            bands = np.stack([self.steady_state_gmv(channel, grid, d) for d in self.draws])
            curve["gmv_ci_low"] = np.percentile(bands, 100 * alpha / 2, axis=0)
            curve["gmv_ci_high"] = np.percentile(bands, 100 * (1 - alpha / 2), axis=0)
        return curve

    def _marginal_curve(self, j: int, weekly_spend: np.ndarray, params: np.ndarray) -> np.ndarray:
        nonlinear, _, beta = self.problem.split(params)
        theta, half = nonlinear[j, 0], half_saturation(nonlinear[j, 0], nonlinear[j, 1])
        shape = nonlinear[j, 2] if self.kind == "hill" else 1.0
        steady = weekly_spend / self.spend_scale[j] / (1 - theta)
        return beta[j] * saturation_slope(steady, half, shape, self.kind) / (1 - theta) * self.target_scale / self.spend_scale[j]

    def _index(self, channel: str) -> int:
        if channel not in self.channels:
            raise ValueError(f"channel {channel!r} is not in the model; channels: {', '.join(self.channels)}")
        return self.channels.index(channel)

    # -- display -----------------------------------------------------------------------------------
    def to_pandas(self) -> pd.DataFrame:
        return self.roas()

    def display(self, period: Any = None) -> pd.DataFrame:
        """The ROAS table as analysts read it: money rounded (``unit``), ROAS as 'N:1' with its interval."""
        t = self.roas(period)
        shown = pd.DataFrame({
            "channel": t["channel"], "spend": t["spend"].map(lambda v: f"{v:,.0f}"), "modelled GMV": t["gmv"].map(lambda v: f"{v:,.0f}"),
            "ROAS": t["roas"].map(fmt.roas), "ROAS 95% interval": [f"{fmt.roas(lo)} – {fmt.roas(hi)}" for lo, hi in zip(t["roas_ci_low"], t["roas_ci_high"])],
            "marginal ROAS": t["mroas"].map(lambda v: fmt.roas(v, 2)),
            "marginal 95% interval": [f"{fmt.roas(lo, 2)} – {fmt.roas(hi, 2)}" for lo, hi in zip(t["mroas_ci_low"], t["mroas_ci_high"])],
            "weekly spend": t["weekly_spend"].map(lambda v: f"{v:,.0f}"),
        })
        other = [c for c in t.columns if c.startswith("roas_") and c not in ("roas_ci_low", "roas_ci_high")]
        for column in other:
            shown[f"ROAS ({column.removeprefix('roas_')} curve)"] = t[column].map(fmt.roas)
        shown["identified"] = t["identified"].map({True: "yes", False: "NO"})
        return shown

    @property
    def notes(self) -> list[str]:
        left_out = int((~self.kept).sum())
        notes = [f"Fit: {self.kind} saturation, R² {self.r2:.3f}, MAPE {self.mape:.1%}, {int(self.kept.sum())} weeks"
                 + (f" ({left_out} promotion-affected weeks left out of the fit)" if left_out else "") + ", "
                 f"{len(self.draws)} bootstrap draws (seed {self.seed})."]
        if self.alternative is not None:
            table = self.roas()
            weak = table.loc[~table["identified"], "channel"].tolist()
            if weak:
                notes.append(f"Not identified by the data: {', '.join(weak)} — the {self.kind} and {self.alternative.kind} "
                             f"curves fit about equally well (AIC {self.aic:.1f} vs {self.alternative.aic:.1f}) but their ROAS "
                             f"differ by more than {self.disagreement:.0%}.")
        return notes


# ------------------------------------------------------------------------------------------------

def _check_weekly(frame: pd.DataFrame, target: str, channels: list[str], controls: list[str], date: str) -> pd.Series:
    require_columns(frame, [date, target, *channels, *controls], "weekly table")
    if not channels:
        raise ValueError("response_model needs at least one spend channel")
    if len(set(channels)) != len(channels):
        raise ValueError(f"channels are listed twice: {channels}")
    weeks = pd.to_datetime(frame[date])
    order = np.argsort(weeks.to_numpy(), kind="stable")
    if not (order == np.arange(len(order))).all():
        raise ValueError(f"weekly table, column '{date}': rows must be in time order")
    for name in [target, *channels, *controls]:
        values = pd.to_numeric(frame[name], errors="coerce")
        missing = values.isna().to_numpy()
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            raise ValueError(f"weekly table, column '{name}': a week with no data — {int(missing.sum()):,} rows are empty "
                             f"or not numbers; example: {date}={weeks.iloc[i].date()}, {name}={frame[name].iloc[i]!r}")
    for name in channels:
        negative = frame[name].to_numpy(dtype=float) < 0
        if negative.any():
            i = int(np.flatnonzero(negative)[0])
            raise ValueError(f"weekly table, column '{name}': spend must be ≥ 0 — {int(negative.sum()):,} rows break it; "
                             f"example: {date}={weeks.iloc[i].date()}, {name}={frame[name].iloc[i]}")
        if frame[name].to_numpy(dtype=float).sum() <= 0:
            raise ValueError(f"weekly table, column '{name}': the channel has no spend in any week, so its response cannot be fitted")
    gaps = np.flatnonzero(np.diff(weeks.to_numpy()).astype("timedelta64[D]").astype(int) != 7)
    if len(gaps):
        i = int(gaps[0])
        raise ValueError(f"weekly table, column '{date}': weeks must be consecutive, 7 days apart — {len(gaps)} gap(s); "
                         f"example: {weeks.iloc[i].date()} is followed by {weeks.iloc[i + 1].date()} (a week with no data?)")
    if (frame[target].to_numpy(dtype=float) <= 0).any():
        i = int(np.flatnonzero(frame[target].to_numpy(dtype=float) <= 0)[0])
        raise ValueError(f"weekly table, column '{target}': a week with no GMV — example {weeks.iloc[i].date()}")
    return weeks.reset_index(drop=True)


def _block_residuals(residuals: np.ndarray, block: int, rng: np.random.Generator) -> np.ndarray:
    """One moving-block bootstrap resample (overlapping blocks, concatenated and cut to length)."""
    n = len(residuals)
    starts = rng.integers(0, n - block + 1, size=int(np.ceil(n / block)))
    index = (starts[:, None] + np.arange(block)).ravel()[:n]
    return residuals[index]


def response_model(weekly: Any, target: str = "gmv", channels: Sequence[str] | None = None, controls: Iterable[str] = (),
                   adstock: str = "geometric", saturation: str = "hill", date: str = "week", *, trend: bool = True,
                   fourier_order: int = 2, bootstrap: int = 200, block_weeks: int | None = None, seed: int = 0,
                   period: Any = None, compare_shapes: bool = True, aic_tolerance: float = 2.0,
                   disagreement: float = 0.2, exclude: "str | None" = None) -> ResponseModel:
    """Fit the response model to a weekly table (see :func:`kit.channel.weekly`).

    ``channels`` are the spend columns (default: every column besides ``date``, ``target`` and the
    controls that :func:`weekly` marks as spend); ``controls`` are extra regressors (e.g. promotion
    days). ``bootstrap`` draws (seeded by ``seed``) give the intervals; ``period`` (a quarter or a
    pair of dates) is where ROAS and current spend are evaluated by default. With
    ``compare_shapes`` the other saturation shape is fitted too and channels whose ROAS differs by
    more than ``disagreement`` while the AICs are within ``aic_tolerance`` are flagged.
    ``saturation="auto"`` fits both shapes and keeps the one with the lower AIC.
    ``exclude`` names a boolean column: weeks marked True (e.g. ``promo_week`` of :func:`weekly`)
    stay in the adstock recursion but are left out of the fit, so festival spikes do not bend the
    media curves; ROAS still counts the channel's modelled GMV in every week of the period.
    """
    if adstock != "geometric":
        raise ValueError(f"adstock {adstock!r} is not supported; use 'geometric'")
    if saturation not in (*SATURATIONS, "auto"):
        raise ValueError(f"saturation {saturation!r} is not supported; choose one of {', '.join(SATURATIONS)} or 'auto'")
    frame = as_frame(weekly, "weekly table")
    controls = list(controls)
    if channels is None:
        channels = list(frame.attrs.get("spend_columns", []))
        if not channels:
            raise ValueError("name the spend columns: response_model(weekly, 'gmv', channels=[...])")
    channels = list(channels)
    weeks = _check_weekly(frame, target, channels, controls, date)
    spend = frame[channels].astype(float).reset_index(drop=True)
    y = frame[target].to_numpy(dtype=float)
    base, base_names = _base_columns(weeks, frame[controls].reset_index(drop=True), trend, fourier_order)
    weight = None
    if exclude is not None:
        require_columns(frame, [exclude], "weekly table")
        left_out = frame[exclude].to_numpy()
        if left_out.dtype != bool:
            raise ValueError(f"weekly table, column '{exclude}': must be true/false (true = leave the week out of the fit)")
        weight = (~left_out).astype(float)
    spend_scale = spend.to_numpy().mean(axis=0)
    target_scale = float(y.mean() if weight is None else y[weight > 0].mean())  # left-out spikes must not rescale the fit

    def check_size(kind: str) -> None:
        kept = len(y) if weight is None else int(weight.sum())
        per_channel = 3 if kind == "hill" else 2
        n_params = base.shape[1] + len(channels) * (per_channel + 1)
        if kept < n_params + 10:
            raise ValueError(f"weekly table: {kept} weeks in the fit are too few for {n_params} parameters "
                             f"({len(channels)} channels); give at least {n_params + 10} weeks (a year or more)")

    def fitted_model(kind: str) -> ResponseModel:
        check_size(kind)
        problem = _Problem(y / target_scale, spend.to_numpy() / spend_scale, base, kind, weight)
        solution = problem.fit().x
        return ResponseModel(weeks, spend, y, channels, kind, base_names, problem, solution, spend_scale, target_scale,
                             np.empty((0, len(solution))), period, unit=money_unit(frame))

    # Each shape is fitted once: "auto" picks the lower AIC of both fits, and the comparison with the
    # other shape reuses its fit.
    fits: dict[str, ResponseModel] = {}
    if saturation == "auto":
        fits = {kind: fitted_model(kind) for kind in SATURATIONS}
        saturation = min(SATURATIONS, key=lambda kind: fits[kind].aic)
        compare_shapes = True
    else:
        check_size(saturation)
    if bootstrap < 0:
        raise ValueError("bootstrap must be ≥ 0 draws")

    model = fits[saturation] if saturation in fits else fitted_model(saturation)
    model.aic_tolerance, model.disagreement, model.seed = aic_tolerance, disagreement, seed
    problem, solution = model.problem, model.solution
    if bootstrap:
        rng = np.random.default_rng(seed)
        fitted = problem.predict(solution)
        residuals = problem.y - problem.predict(solution)
        if weight is not None:  # resample blocks of the fitted weeks only
            residuals = residuals[weight > 0]
        residuals = residuals - residuals.mean()
        # Fitted residuals are smaller than the noise: the fit has absorbed part of it, the more so
        # the more parameters per week (31 on ~60 weeks in the sample). Resampling them as they are
        # would give intervals too narrow; scale them to the unbiased variance, RSS / (n − p).
        residuals = residuals * np.sqrt(len(residuals) / max(len(residuals) - len(solution), 1))
        block = block_weeks or max(2, int(round(len(y) ** (1 / 3))))
        # Draws restart from the fit and are solved as tightly as the fit: a draw stopped early ends
        # where the CPU's rounding led the optimiser, and the interval's shown digits moved with it.
        def resampled():
            noise = np.zeros(len(y))
            draw = _block_residuals(residuals, block, rng)
            if weight is None:
                return fitted + draw
            noise[weight > 0] = draw
            return fitted + noise

        model.draws = np.stack([problem.solve(solution, resampled(), tol=1e-10).x for _ in range(bootstrap)])

    if compare_shapes:
        other = "logistic" if saturation == "hill" else "hill"
        model.alternative = fits[other] if other in fits else fitted_model(other)
    return model
