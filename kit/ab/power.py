"""Planning: users per arm for a lift (``sample_size``) and the lift a size can detect (``mde``).

Proportions (``sd`` not given, baseline a rate in (0, 1)): the two-sided z-test with the unpooled
variance, as :func:`kit.ab.analyze` runs it: ``n = (z₁₋α′/₂ + z_power)² (p₁q₁ + p₂q₂) / (p₂ − p₁)²``.
Means (``sd`` given): Welch/Student t-test with equal arms, solved by statsmodels'
``TTestIndPower`` (non-central t).

Multiplicity: with ``arms`` arms there are ``arms − 1`` comparisons with control (times
``metrics`` if several primary metrics). Any correction other than ``none`` is planned at the
Bonferroni level ``α′ = α / comparisons``: Holm and Hochberg are never less powerful than
Bonferroni, and when one arm carries the effect BH's first step is Bonferroni too, so the size is
enough for each of them.
"""
from __future__ import annotations

import math

import pandas as pd
from scipy import optimize, stats
from statsmodels.stats.power import TTestIndPower

from kit.inputs import check_alpha
from kit.results import Result
from kit.stats import check_correction


class PowerResult(Result):
    """Sample size or minimum detectable effect per metric, multiplicity included."""

    title = "Experiment size"

    def __init__(self, **fields):
        self.fields = fields
        for key, value in fields.items():
            setattr(self, key, value)

    def to_pandas(self) -> pd.DataFrame:
        return pd.DataFrame([self.fields])

    def __int__(self) -> int:
        return int(self.per_arm)

    @property
    def notes(self) -> list[str]:
        f = self.fields
        return [f"{f['users_per_arm']:,} users per arm ({f['total_users']:,} over {f['arms']} arms) detect a lift of "
                f"{f['relative_lift']:+.1%} ({f['baseline']:.4g} → {f['target']:.4g}) with {f['power']:.0%} power at "
                f"α = {f['alpha']:g} ({f['correction']}, {f['comparisons']} comparisons: {f['alpha_per_comparison']:.3g} each)."]


def _level(alpha: float, arms: int, metrics: int, correction: str) -> tuple[float, int]:
    check_correction(correction)
    check_alpha(alpha)
    if int(arms) != arms or arms < 2:
        raise ValueError(f"arms counts control too and must be an integer ≥ 2, got {arms!r}")
    comparisons = (int(arms) - 1) * int(metrics)
    return (alpha if correction == "none" else alpha / comparisons), comparisons


def _kind(baseline: float, sd: float | None) -> str:
    if sd is None:
        if not 0 < baseline < 1:
            raise ValueError(f"baseline {baseline!r} is not a rate in (0, 1); for a mean metric pass its per-user sd=")
        return "proportion"
    if not sd > 0:
        raise ValueError(f"sd must be > 0, got {sd!r}")
    return "mean"


def _target(baseline: float, target: float | None, mde: float | None, relative: bool) -> float:
    if (target is None) == (mde is None):
        raise ValueError("give exactly one of target= (the value to detect, e.g. 0.065) or mde= (the lift, relative by default)")
    value = target if target is not None else (baseline * (1 + mde) if relative else baseline + mde)
    if value == baseline:
        raise ValueError("the target equals the baseline: a zero lift cannot be powered")
    return float(value)


def _proportion_n(p1: float, p2: float, level: float, power: float) -> float:
    z = stats.norm.ppf(1 - level / 2) + stats.norm.ppf(power)
    return z ** 2 * (p1 * (1 - p1) + p2 * (1 - p2)) / (p2 - p1) ** 2


def sample_size(baseline: float, target: float | None = None, mde: float | None = None, alpha: float = 0.05,
                power: float = 0.8, arms: int = 2, correction: str = "bonferroni", *, sd: float | None = None,
                relative: bool = True, metrics: int = 1) -> PowerResult:
    """Users per arm to detect ``baseline → target`` (or a lift ``mde``) in each treatment arm.

    ``sample_size(0.05, target=0.065, arms=31)``: CTR 5% → 6.5% with 30 variants and a control.
    ``sd``: per-user standard deviation for a mean metric (omit for a rate).
    """
    kind = _kind(baseline, sd)
    value = _target(baseline, target, mde, relative)
    if kind == "proportion" and not 0 < value < 1:
        raise ValueError(f"target rate {value!r} is not in (0, 1)")
    if not 0 < power < 1:
        raise ValueError(f"power must be between 0 and 1, got {power!r}")
    level, comparisons = _level(alpha, arms, metrics, correction)
    if kind == "proportion":
        n = _proportion_n(baseline, value, level, power)
    else:
        n = TTestIndPower().solve_power(effect_size=abs(value - baseline) / sd, alpha=level, power=power, ratio=1.0)
    per_arm = int(math.ceil(n - 1e-9))
    return PowerResult(kind=kind, baseline=float(baseline), target=value, absolute_lift=value - baseline,
                       relative_lift=value / baseline - 1, sd=sd, alpha=alpha, correction=correction,
                       comparisons=comparisons, alpha_per_comparison=level, power=power, arms=int(arms),
                       users_per_arm=per_arm, total_users=per_arm * int(arms), per_arm=per_arm)


def mde(baseline: float, users_per_arm: float, alpha: float = 0.05, power: float = 0.8, arms: int = 2,
        correction: str = "bonferroni", *, sd: float | None = None, metrics: int = 1) -> PowerResult:
    """The smallest upward lift detectable with ``users_per_arm`` in each arm (inverse of :func:`sample_size`)."""
    kind = _kind(baseline, sd)
    if not users_per_arm >= 2:
        raise ValueError(f"users_per_arm must be ≥ 2, got {users_per_arm!r}")
    level, comparisons = _level(alpha, arms, metrics, correction)
    if kind == "proportion":
        gap = lambda p2: _proportion_n(baseline, p2, level, power) - users_per_arm  # noqa: E731
        if gap(1 - 1e-12) > 0:
            raise ValueError(f"{users_per_arm:,} users per arm cannot detect any rate above {baseline}")
        value = optimize.brentq(gap, baseline + 1e-12, 1 - 1e-12, xtol=1e-14)
    else:
        effect_size = TTestIndPower().solve_power(nobs1=users_per_arm, alpha=level, power=power, ratio=1.0)
        value = baseline + effect_size * sd
    return PowerResult(kind=kind, baseline=float(baseline), target=float(value), absolute_lift=float(value - baseline),
                       relative_lift=float(value / baseline - 1) if baseline else float("nan"), sd=sd, alpha=alpha,
                       correction=correction, comparisons=comparisons, alpha_per_comparison=level, power=power,
                       arms=int(arms), users_per_arm=int(users_per_arm), total_users=int(users_per_arm) * int(arms),
                       per_arm=int(users_per_arm))
