"""Budget reallocation on a fitted response model: move spend until marginal ROAS is equal.

Each channel's steady-state weekly GMV ``g_c(s)`` comes from the response model. The proposal
maximises ``Σ g_c(s_c)`` subject to the total budget and to per-channel bounds (±30% of current spend
by default) — at the optimum every channel strictly inside its bounds has the same marginal ROAS
and channels at a bound are the ones that would still gain (upper) or lose (lower) from moving.
Solved with SLSQP (analytic gradients) from several starts. With ``target_roas`` the budget is the
largest one whose optimal allocation still reaches that blended ROAS (bisection).
The expected GMV change has a bootstrap interval: the same allocation evaluated under every
bootstrap draw of the model's parameters.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from kit import format as fmt
from kit.channel.response import ResponseModel, _period_mask
from kit.results import Result


def _weekly_gmv(model: ResponseModel, spend: np.ndarray, params: np.ndarray | None = None) -> np.ndarray:
    return np.array([float(model.steady_state_gmv(c, spend[j], params)) for j, c in enumerate(model.channels)])


def _marginal(model: ResponseModel, spend: np.ndarray) -> np.ndarray:
    return np.array([float(model._marginal_curve(j, np.array([spend[j]]), model.solution)[0]) for j in range(len(spend))])


def optimal_allocation(model: ResponseModel, total: float, low: np.ndarray, high: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Weekly spend per channel maximising modelled GMV with ``Σ s = total`` and ``low ≤ s ≤ high``."""
    if total < low.sum() - 1e-9 * max(total, 1) or total > high.sum() + 1e-9 * max(total, 1):
        raise ValueError(f"a weekly budget of {total:,.0f} cannot be split within the bounds "
                         f"(they allow {low.sum():,.0f} – {high.sum():,.0f} per week)")
    scale = max(current.sum(), 1.0)

    def objective(x):
        s = x * scale
        return -_weekly_gmv(model, s).sum() / scale, -_marginal(model, s)

    constraint = {"type": "eq", "fun": lambda x: x.sum() - total / scale, "jac": lambda x: np.ones_like(x)}
    box = list(zip(low / scale, high / scale))
    width = np.maximum(high - low, 0)
    starts = [current, low + width * (total - low.sum()) / max(width.sum(), 1e-12)]
    order = np.argsort(-_marginal(model, current))
    greedy = low.copy()  # fill the highest marginal ROAS channels first
    left = total - low.sum()
    for j in order:
        add = min(width[j], left)
        greedy[j] += add
        left -= add
    starts.append(greedy)
    best = None
    for start in starts:
        x0 = np.clip(start, low, high) / scale
        result = minimize(objective, x0, jac=True, bounds=box, constraints=[constraint], method="SLSQP",
                          options={"ftol": 1e-12, "maxiter": 500})
        if best is None or result.fun < best.fun:
            best = result
    return np.clip(best.x * scale, low, high)


@dataclass(repr=False)
class Reallocation(Result):
    """Current vs proposed spend per channel over the period, with the expected GMV change."""

    table: pd.DataFrame
    weeks: int
    blended_before: float
    blended_after: float
    total_change: tuple[float, float, float]
    target_roas: float | None = None
    unit: str = "yuan"  # the money's word, the model's

    title = "Budget reallocation: equal marginal ROAS within bounds"

    def to_pandas(self) -> pd.DataFrame:
        return self.table.copy()

    def display(self) -> pd.DataFrame:
        """Money rounded (in ``unit``), changes in %, marginal ROAS as 'N:1'."""
        t = self.table
        money = lambda v: "–" if pd.isna(v) else f"{v:,.0f}"  # noqa: E731
        signed = lambda v: "–" if pd.isna(v) else f"{v:+,.0f}"  # noqa: E731
        return pd.DataFrame({
            "channel": t["channel"], "current spend": t["current_spend"].map(money), "proposed spend": t["proposed_spend"].map(money),
            "change": t["change_pct"].map(lambda v: "–" if pd.isna(v) else f"{v:+.1%}"),
            "marginal ROAS now": t["current_mroas"].map(lambda v: fmt.roas(v, 2)),
            "marginal ROAS after": t["proposed_mroas"].map(lambda v: fmt.roas(v, 2)),
            "GMV change": t["gmv_change"].map(signed),
            "95% interval": [fmt.interval(lo, hi, signed=True) for lo, hi in zip(t["gmv_change_ci_low"], t["gmv_change_ci_high"])],
        })

    @property
    def notes(self) -> list[str]:
        change, low, high = self.total_change
        shown = fmt.in_unit(change, self.unit, signed=True)
        return [f"Over {self.weeks} weeks: modelled GMV change {shown} (95% interval {fmt.interval(low, high, signed=True)}); "
                f"blended ROAS of the paid channels {fmt.roas(self.blended_before, 2)} → {fmt.roas(self.blended_after, 2)}."]


def _bounds(model: ResponseModel, bounds: Any, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(bounds, Mapping):
        unknown = [c for c in bounds if c not in model.channels]
        if unknown:
            raise ValueError(f"bounds name channel {unknown[0]!r}, which is not in the model ({', '.join(model.channels)})")
        fractions = np.array([float(bounds.get(c, 0.3)) for c in model.channels])
    else:
        fractions = np.full(len(model.channels), float(bounds))
    if ((fractions < 0) | (fractions > 1) | ~np.isfinite(fractions)).any():
        raise ValueError(f"bounds are fractions of current spend between 0 and 1 (0.3 = ±30%), got {bounds!r}")
    return current * (1 - fractions), current * (1 + fractions)


def reallocate(model: ResponseModel, budget: float | None = None, bounds: "float | Mapping[str, float]" = 0.3, *,
               target_roas: float | None = None, period: Any = None, alpha: float = 0.05) -> Reallocation:
    """Propose spend per channel for ``period`` (default: the model's period).

    ``budget`` is the total for the period in the model's currency (default: what was spent); ``bounds`` the allowed
    move as a fraction of each channel's current spend (one number or a mapping per channel).
    ``target_roas`` instead finds the largest budget whose blended modelled ROAS is at least that.
    """
    if budget is not None and target_roas is not None:
        raise ValueError("give either a budget or a target_roas, not both")
    mask = _period_mask(model.weeks, model.period if period is None else period)
    weeks = int(mask.sum())
    current = model.spend.to_numpy()[mask].mean(axis=0)
    low, high = _bounds(model, bounds, current)

    if target_roas is not None:
        if not target_roas > 0:
            raise ValueError(f"target_roas must be positive (3.0 means 3.0:1), got {target_roas!r}")

        def blended(total):
            s = optimal_allocation(model, total, low, high, current)
            return _weekly_gmv(model, s).sum() / s.sum(), s

        lowest, s_low = blended(low.sum())
        if lowest < target_roas:
            raise ValueError(f"a blended ROAS of {fmt.roas(target_roas, 2)} cannot be reached within the bounds: the best is "
                             f"{fmt.roas(lowest, 2)} at the smallest allowed budget ({fmt.in_unit(low.sum() * weeks, model.unit)})")
        top, s_top = blended(high.sum())
        if top >= target_roas:
            proposed = s_top
        else:
            lo, hi = low.sum(), high.sum()
            proposed = s_low
            for _ in range(60):
                mid = (lo + hi) / 2
                value, s = blended(mid)
                if value >= target_roas:
                    lo, proposed = mid, s
                else:
                    hi = mid
    else:
        total = current.sum() if budget is None else float(budget) / weeks
        if budget is not None and not (np.isfinite(budget) and budget > 0):
            raise ValueError(f"budget must be a positive amount of {model.unit} for the period, got {budget!r}")
        proposed = optimal_allocation(model, total, low, high, current)

    gain = (_weekly_gmv(model, proposed) - _weekly_gmv(model, current)) * weeks
    table = pd.DataFrame({
        "channel": model.channels,
        "current_spend": current * weeks,
        "proposed_spend": proposed * weeks,
    })
    table["change"] = table["proposed_spend"] - table["current_spend"]
    table["change_pct"] = table["change"] / table["current_spend"]
    table["current_mroas"] = _marginal(model, current)
    table["proposed_mroas"] = _marginal(model, proposed)
    table["gmv_change"] = gain
    if len(model.draws):
        per_draw = np.stack([(_weekly_gmv(model, proposed, d) - _weekly_gmv(model, current, d)) * weeks for d in model.draws])
        table["gmv_change_ci_low"] = np.percentile(per_draw, 100 * alpha / 2, axis=0)
        table["gmv_change_ci_high"] = np.percentile(per_draw, 100 * (1 - alpha / 2), axis=0)
        totals = per_draw.sum(axis=1)
        total_change = (float(gain.sum()), float(np.percentile(totals, 100 * alpha / 2)), float(np.percentile(totals, 100 * (1 - alpha / 2))))
    else:
        table["gmv_change_ci_low"] = table["gmv_change_ci_high"] = np.nan
        total_change = (float(gain.sum()), np.nan, np.nan)
    before = _weekly_gmv(model, current).sum() / current.sum()
    after = _weekly_gmv(model, proposed).sum() / proposed.sum()
    total_row = {"channel": "total", "current_spend": table["current_spend"].sum(), "proposed_spend": table["proposed_spend"].sum(),
                 "change": table["change"].sum(), "change_pct": table["change"].sum() / table["current_spend"].sum(),
                 "current_mroas": np.nan, "proposed_mroas": np.nan, "gmv_change": total_change[0],
                 "gmv_change_ci_low": total_change[1], "gmv_change_ci_high": total_change[2]}
    table = pd.concat([table, pd.DataFrame([total_row])], ignore_index=True)
    return Reallocation(table, weeks, float(before), float(after), total_change, target_roas, model.unit)
