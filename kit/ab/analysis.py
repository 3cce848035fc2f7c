"""``kit.ab.analyze``: every (metric, treatment arm) against control, from one grouped query."""
from __future__ import annotations

import numpy as np
import pandas as pd

from kit import format as fmt
from kit.ab import stats as abstats
from kit.ab.metrics import MEAN, PROPORTION, RATIO, resolve
from kit.ab.moments import Moments, arm_moments
from kit.inputs import check_alpha
from kit.results import Result
from kit.stats import adjust_pvalues, check_correction

TEST_NAMES = {MEAN: "Welch t", PROPORTION: "z (unpooled)", RATIO: "z (delta method)"}

COLUMNS = [
    "metric", "variant", "control", "n_control", "n_treatment", "control_mean", "treatment_mean",
    "control_estimate", "treatment_estimate", "effect", "se", "ci_low", "ci_high",
    "rel_effect", "rel_se", "rel_ci_low", "rel_ci_high", "statistic", "df", "pvalue", "pvalue_adj", "significant",
    "test", "cuped", "variance_reduction", "detectable_rel", "prob_beat_control", "expected_loss",
]


def _choose_control(arms: list[str], control: str | None, variant: str) -> str:
    if len(arms) < 2:
        raise ValueError(f"column {variant!r} has only {len(arms)} {fmt.plural(len(arms), 'arm')} "
                         f"({', '.join(map(repr, arms)) or 'no rows'}); an experiment needs a control and at least one treatment")
    if control is None:
        if "control" in arms:
            return "control"
        raise ValueError(f"no control arm: column {variant!r} has no arm named 'control' (arms: {', '.join(map(repr, arms))}); "
                         f"pass control='<arm name>'")
    if str(control) not in arms:
        raise ValueError(f"no control arm: control={control!r} is not among the arms in column {variant!r} "
                         f"({', '.join(map(repr, arms))})")
    return str(control)


class ABResult(Result):
    """One row per (metric, treatment arm); ``arms`` holds per-arm users and means.

    Columns of :meth:`to_pandas` (full precision):

    - ``control_mean``/``treatment_mean``: raw arm values (mean, share or ratio of means);
      ``control_estimate``/``treatment_estimate``: the CUPED-adjusted values the effect is built on;
    - ``effect`` = treatment − control (adjusted), ``ci_low``/``ci_high`` its interval;
    - ``rel_effect`` = treatment/control − 1 with a delta-method interval ``rel_ci_low``/``rel_ci_high``;
    - ``pvalue`` (fixed-horizon, or always-valid when ``sequential``), ``pvalue_adj`` over the whole
      family of (metric, arm) rows, ``significant`` = ``pvalue_adj < alpha``;
    - ``variance_reduction``: share of the variance CUPED removed; ``detectable_rel``: the relative
      lift this comparison had 80% power to detect at the family-wise level (Bonferroni);
    - ``prob_beat_control``/``expected_loss``: the Bayesian view (Gaussian, prior on the relative lift).

    Intervals are per comparison (not multiplicity-adjusted); the decision uses ``pvalue_adj``.
    """

    title = "A/B test: every arm against control"

    def __init__(self, frame: pd.DataFrame, arms: pd.DataFrame, *, alpha: float, correction: str, sequential: bool,
                 prior_sd: float | None, control: str):
        self.frame = frame
        self.arms = arms
        self.alpha = alpha
        self.correction = correction
        self.sequential = sequential
        self.prior_sd = prior_sd
        self.control = control

    def to_pandas(self) -> pd.DataFrame:
        return self.frame.copy()

    @property
    def metrics(self) -> list[str]:
        return list(dict.fromkeys(self.frame["metric"]))

    def winners(self, metric: str | None = None) -> list[str]:
        """Arms significantly better than control (after correction) on ``metric`` (default: the first)."""
        metric = metric or self.metrics[0]
        rows = self.frame[(self.frame["metric"] == metric) & self.frame["significant"] & (self.frame["effect"] > 0)]
        return rows["variant"].tolist()

    def losers(self, metric: str | None = None) -> list[str]:
        metric = metric or self.metrics[0]
        rows = self.frame[(self.frame["metric"] == metric) & self.frame["significant"] & (self.frame["effect"] < 0)]
        return rows["variant"].tolist()

    @property
    def notes(self) -> list[str]:
        interval = "always-valid confidence sequences (normal mixture)" if self.sequential else "fixed-horizon intervals"
        prior = "flat prior" if self.prior_sd is None else f"N(0, {self.prior_sd:g}²) prior on the relative lift"
        return [f"Control: {self.control}. {int(round((1 - self.alpha) * 100))}% {interval}, per comparison; "
                f"p-values adjusted by {self.correction} over {len(self.frame)} comparisons. Bayesian view: {prior}."]

    def display(self) -> pd.DataFrame:
        f = self.frame
        pct = lambda v: "–" if pd.isna(v) else f"{v:+.2%}"  # noqa: E731
        return pd.DataFrame({
            "metric": f["metric"], "variant": f["variant"], "users": f["n_treatment"].map(lambda v: f"{int(v):,}"),
            "control": f["control_mean"].map(lambda v: f"{v:.4g}"), "treatment": f["treatment_mean"].map(lambda v: f"{v:.4g}"),
            "lift": f["rel_effect"].map(pct),
            "interval": [f"[{pct(lo)}, {pct(hi)}]" for lo, hi in zip(f["rel_ci_low"], f["rel_ci_high"])],
            "p": f["pvalue"].map(lambda v: f"{v:.3g}"), "p adj.": f["pvalue_adj"].map(lambda v: f"{v:.3g}"),
            "P(beat)": f["prob_beat_control"].map(lambda v: f"{v:.1%}"),
            "CUPED −var": f["variance_reduction"].map(lambda v: "–" if pd.isna(v) else f"{v:.1%}".replace("-0.0%", "0.0%")),
            "significant": f["significant"].map({True: "yes", False: ""}),
        })


def compute(arms: list[str], moments: Moments, metrics, control: str, *, alpha: float = 0.05, correction: str = "holm",
            sequential: bool = False, planned_users: float | None = None, prior_sd: float | None = 0.3,
            power: float = 0.8) -> ABResult:
    """The statistics of :func:`analyze` from per-arm moments (arms along the first axis)."""
    return compute_modes(arms, moments, metrics, control, (sequential,), alpha=alpha, correction=correction,
                         planned_users=planned_users, prior_sd=prior_sd, power=power)[0]


def compute_modes(arms: list[str], moments: Moments, metrics, control: str, modes: tuple[bool, ...], *,
                  alpha: float = 0.05, correction: str = "holm", planned_users: float | None = None,
                  prior_sd: float | None = 0.3, power: float = 0.8) -> list[ABResult]:
    """:func:`compute` once per ``sequential`` flag in ``modes``, sharing the work the flags do not change.

    A daily replay wants always-valid and fixed-horizon results of the same moments; only the
    intervals and p-values differ, so the rest is computed once (the numbers are those of separate calls).
    """
    check_correction(correction)
    check_alpha(alpha)
    if planned_users is not None and not planned_users > 1:
        raise ValueError(f"planned_users (users per arm the sequential test is tuned for) must be > 1, got {planned_users!r}")
    if prior_sd is not None and not prior_sd > 0:
        raise ValueError(f"prior_sd must be > 0 (or None for a flat prior), got {prior_sd!r}")
    small = [(a, int(n)) for a, n in zip(arms, moments.n) if n < 2]
    if small:
        raise ValueError(f"every arm needs at least 2 users; too few in: {', '.join(f'{a!r} ({n})' for a, n in small)}")
    ci = arms.index(control)
    treatments = [i for i in range(len(arms)) if i != ci]
    family = len(treatments) * len(metrics)
    level = alpha if correction == "none" else alpha / family
    detect_z = abstats.normal_quantile(1 - level / 2) + abstats.normal_quantile(power)
    rows: dict[bool, list[dict]] = {mode: [] for mode in modes}
    for metric in metrics:
        if metric.kind == RATIO:
            den = moments.select(metric.value_columns[1:2]).sums[:, 0]
            zero = [arms[i] for i in range(len(arms)) if den[i] == 0]
            if zero:
                raise ValueError(f"metric {metric.name!r}: the denominator {metric.value_columns[1]!r} sums to 0 in arm(s) "
                                 f"{', '.join(map(repr, zero))}, so the ratio is undefined")
        theta = pooled_h = None
        if metric.has_covariate:
            theta, pooled_h = abstats.cuped_theta(metric, moments, axis=-1)
        est = abstats.arm_estimate(metric, moments, theta, pooled_h)
        zero_var = [arms[i] for i in range(len(arms)) if not est["var"][i] > 0]
        if len(zero_var) == len(arms):
            raise ValueError(f"metric {metric.name!r} has zero variance in arm(s) {', '.join(map(repr, zero_var))} "
                             f"(every user has the same value {est['raw'][arms.index(zero_var[0])]:.6g}); "
                             f"it cannot be tested — check the column or drop the metric")
        control_part = {k: v[ci] for k, v in est.items()}
        for ti in treatments:
            treatment_part = {k: v[ti] for k, v in est.items()}
            if not control_part["var"] + treatment_part["var"] > 0:
                raise ValueError(f"metric {metric.name!r} has zero variance in both {control!r} and {arms[ti]!r}; it cannot be tested")
            result = abstats.compare(metric, control_part, treatment_part, alpha)
            row = {"metric": metric.name, "variant": arms[ti], "control": control,
                   "n_control": int(moments.n[ci]), "n_treatment": int(moments.n[ti]),
                   "control_mean": float(control_part["raw"]), "treatment_mean": float(treatment_part["raw"]),
                   "control_estimate": float(control_part["estimate"]), "treatment_estimate": float(treatment_part["estimate"]),
                   "test": TEST_NAMES[metric.kind], "cuped": metric.has_covariate}
            row.update({k: float(v) for k, v in result.items() if k != "quantile"})
            if not metric.has_covariate:
                row["variance_reduction"] = np.nan
            row["detectable_rel"] = float(detect_z * row["se"] / abs(row["control_estimate"])) if row["control_estimate"] else np.nan
            for mode in modes:
                rows[mode].append(_sequential(row, moments.n[ci], moments.n[ti], planned_users, alpha) if mode else dict(row))
    arm_table = pd.DataFrame({"variant": arms, "users": moments.n.astype(int), "is_control": [a == control for a in arms]})
    results = []
    bayes = None
    for mode in modes:
        frame = pd.DataFrame(rows[mode])
        if bayes is None:
            # the Bayesian view of every row at once (scipy's per-call overhead dominates row by row)
            post_mean, post_sd = abstats.posterior(frame["rel_effect"].to_numpy(), frame["rel_se"].to_numpy(), prior_sd)
            bayes = (abstats.prob_beat_control(post_mean, post_sd), abstats.expected_loss(post_mean, post_sd))
        frame["prob_beat_control"], frame["expected_loss"] = bayes
        # every correction is the identity on a family of one (and statsmodels' Holm pays a gc.collect() per call)
        frame["pvalue_adj"] = frame["pvalue"].to_numpy() if len(frame) == 1 else adjust_pvalues(frame["pvalue"].to_numpy(), correction)
        frame["significant"] = frame["pvalue_adj"] < alpha
        frame = frame[COLUMNS]
        results.append(ABResult(frame, arm_table, alpha=alpha, correction=correction, sequential=mode, prior_sd=prior_sd,
                                control=control))
    return results


def _sequential(row: dict, n_control: float, n_treatment: float, planned_users: float | None, alpha: float) -> dict:
    """A fixed-horizon row with always-valid intervals and p-value instead."""
    row = dict(row)
    n_now = (n_control + n_treatment) / 2
    planned = planned_users if planned_users is not None else n_now
    for prefix in ("", "rel_"):
        variance = row[f"{prefix}se"] ** 2
        tau2 = abstats.mixture_tau2(variance, n_now, planned, alpha)
        half = float(abstats.confidence_sequence_halfwidth(variance, tau2, alpha))
        centre = row[f"{prefix}effect"]
        row[f"{prefix}ci_low"], row[f"{prefix}ci_high"] = centre - half, centre + half
        if prefix == "":
            row["pvalue"] = float(abstats.always_valid_pvalue(centre, variance, tau2))
    row["test"] += ", always valid"
    return row


def analyze(data, metrics, variant: str = "variant", control: str | None = None, alpha: float = 0.05,
            correction: str = "holm", sequential: bool = False, *, planned_users: float | None = None,
            prior_sd: float | None = 0.3, unit: str | None = "user_id", cuped: bool = True) -> ABResult:
    """Compare every treatment arm with control on every metric.

    ``data``: an Ibis table or a pandas DataFrame with one row per user (e.g. from
    :func:`kit.ab.user_metrics`). ``metrics``: ``kit.ab.Mean``/``Proportion``/``Ratio`` objects,
    standard names (``"ctr"``, ``"conversion"``, ``"revenue_per_user"`` …), or a list/dict of them.
    ``correction``: none, bonferroni, holm, hochberg, bh (Benjamini–Hochberg) or by, over every
    (metric, arm) row. ``sequential``: always-valid intervals and p-values (safe under peeking),
    tightest at ``planned_users`` per arm (default: the users seen so far). ``prior_sd``: the
    Bayesian prior on the relative lift. ``unit``: the user id column, checked to be unique when
    present. ``cuped``: for standard names, use their pre-exposure covariates.

    One grouped query computes the per-arm sufficient statistics in the engine.
    """
    metric_list = resolve(metrics, cuped=cuped)
    arms, moments = arm_moments(data, metric_list, variant=variant, unit=unit)
    chosen = _choose_control(arms, control, variant)
    return compute(arms, moments, metric_list, chosen, alpha=alpha, correction=correction, sequential=sequential,
                   planned_users=planned_users, prior_sd=prior_sd)
