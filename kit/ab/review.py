"""The quarter's experiment review, as the notebook shows it: SRM, effects, detectability, verdict.

The primary metric and the guardrails are analysed as two families: the multiplicity correction
runs over the primary metric's arms (the decision), while a guardrail counts as breached at the
unadjusted level (see :mod:`kit.ab.verdict`), so adding guardrails never costs the primary
metric power.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from kit import format as fmt
from kit import params as params_module
from kit.ab.analysis import ABResult, analyze
from kit.ab.daily import SequentialPath, daily_arm_moments, replay
from kit.ab.srm import SRMResult, srm
from kit.ab.users import user_metrics
from kit.ab.verdict import Verdict, verdict
from kit.results import Result


class Detectability(Result):
    """Per metric: the lift the test had the power to detect, and the users that ``min_lift`` would need."""

    title = "What the test could detect"

    def __init__(self, frame: pd.DataFrame, power: float):
        self.frame = frame
        self.power = power

    def to_pandas(self) -> pd.DataFrame:
        return self.frame.copy()

    @property
    def notes(self) -> list[str]:
        return [f"detectable_lift: the relative lift each arm had {self.power:.0%} power to detect at the family-wise "
                f"level (median over arms); users_for_min_lift: users per arm that would detect min_lift "
                f"(the size scales with 1/lift²)."]


@dataclass
class ExperimentReview:
    """Everything the notebook shows for one experiment: the split, the effects, the verdict, the daily path."""

    experiment_id: str
    users: object  # Ibis table, one row per exposed user (cached in the engine)
    srm: SRMResult
    primary: ABResult
    guardrails: ABResult | None
    verdict: Verdict
    detectability: Detectability
    start: object = None  # local date of the first exposure
    end: object = None    # local date of the last exposure (the window's end)
    path: SequentialPath | None = None  # the primary metric day by day (what daily peeking showed)

    def path_frame(self, max_arms: int = 5) -> pd.DataFrame:
        """The day-by-day rows of the primary metric for the arms worth plotting."""
        frame = self.path.to_pandas()
        frame = frame[frame["metric"] == self.verdict.primary]
        return frame[frame["variant"].isin(self.path.arms_to_show(self.verdict.primary, max_arms))]

    def finding(self) -> str:
        """The experiment's verdict in words (Markdown)."""
        return self.verdict.text

    def effects(self) -> pd.DataFrame:
        """Primary and guardrail rows together (each family keeps its own adjusted p-values)."""
        frames = [self.primary.to_pandas()] + ([self.guardrails.to_pandas()] if self.guardrails is not None else [])
        return pd.concat(frames, ignore_index=True)


def _detectability(results: list[ABResult], min_lift: float, power: float) -> Detectability:
    rows = []
    for result in results:
        frame = result.to_pandas()
        for metric, group in frame.groupby("metric", sort=False):
            users = float(group["n_treatment"].median())
            detectable = float(group["detectable_rel"].median())
            rows.append({"metric": metric, "users_per_arm": int(users), "detectable_lift": detectable,
                         "min_lift": min_lift, "users_for_min_lift": int(round(users * (detectable / min_lift) ** 2))})
    return Detectability(pd.DataFrame(rows), power)


def review(source, params, experiment_id: str, *, path: bool = True, **overrides) -> ExperimentReview:
    """Review one experiment with the quarter's ``params.ab``, ``overrides`` applied over them
    (``primary_metric=``, ``alpha=``, …; None keeps the params' value).

    ``path``: also replay the primary metric day by day (always-valid against fixed-horizon).
    """
    ab = params_module.section(params, "ab", **overrides)
    primary, alpha, correction = ab.primary_metric, ab.alpha, ab.correction
    guardrails = [g for g in ab.guardrails if g != primary]
    options = dict(alpha=alpha, sequential=ab.sequential, planned_users=ab.planned_users, prior_sd=ab.prior_sd, cuped=ab.cuped)

    users = user_metrics(source, experiment_id, pre_window_days=ab.pre_window_days, gmv_basis=params.gmv_basis).cache()
    split = srm(users, expected=ab.splits.get(experiment_id), threshold=ab.srm_threshold)
    primary_result = analyze(users, [primary], correction=correction, **options)
    guardrail_result = analyze(users, guardrails, correction=correction, **options) if guardrails else None
    decision = verdict(primary_result, primary, guardrails, srm=split, min_lift=ab.min_lift, guardrail_result=guardrail_result)
    results = [primary_result] + ([guardrail_result] if guardrail_result is not None else [])
    window = users.aggregate(start=users.first_exposure_at.min(), end=users.first_exposure_at.max()).to_pyarrow().to_pylist()[0]
    day_by_day = None
    if path:
        # the same per-(arm, day) numbers as sequential_path(daily_user_metrics(...)), without materialising
        # users × days in the engine (see daily_arm_moments)
        rows, moments = daily_arm_moments(source, users, [primary], gmv_basis=params.gmv_basis, cuped=ab.cuped)
        day_by_day = replay(rows, moments, [primary], alpha=alpha, correction=correction, planned_users=ab.planned_users,
                            prior_sd=ab.prior_sd, cuped=ab.cuped)
    return ExperimentReview(experiment_id, users, split, primary_result, guardrail_result, decision,
                            _detectability(results, ab.min_lift, 0.8), window["start"].date(), window["end"].date(), day_by_day)


@dataclass(repr=False)
class QuarterReview(Result):
    """Every experiment of a quarter reviewed; ``to_pandas()`` has one row per experiment."""

    quarter: str
    experiments: list[ExperimentReview]

    @property
    def title(self) -> str:
        return f"Detail-page experiments of {self.quarter}"

    def to_pandas(self) -> pd.DataFrame:
        rows = [{"experiment_id": r.experiment_id, "start": r.start, "end": r.end, "arms": len(r.srm.table),
                 "users": int(r.srm.table["users"].sum()), "primary_metric": r.verdict.primary, "status": r.verdict.status,
                 "winners": ", ".join(r.verdict.winners)} for r in self.experiments]
        return pd.DataFrame(rows, columns=["experiment_id", "start", "end", "arms", "users", "primary_metric", "status", "winners"])

    def finding(self) -> str:
        """One line per experiment (window, arms, users, the verdict's status), or why there is none (Markdown)."""
        if not self.experiments:
            return (f"No detail-page experiment is listed for {self.quarter} (`ab.experiments` in `params/{self.quarter}.yaml`), "
                    f"so there is nothing to review this quarter.")
        lines = [f"{len(self.experiments)} {fmt.plural(len(self.experiments), 'experiment')} reviewed for {self.quarter}:", ""]
        for r in self.experiments:
            arms = len(r.srm.table)
            users = int(r.srm.table["users"].sum())
            lines.append(f"- **{r.experiment_id}** ({r.start} to {r.end}): {arms} arms, {users:,} exposed users, "
                         f"primary metric {r.verdict.primary} — **{r.verdict.status}**"
                         + (f" ({', '.join(r.verdict.winners)})" if r.verdict.winners else "") + ".")
        return "\n".join(lines)


def review_quarter(source, params, *, path: bool = True, **overrides) -> QuarterReview:
    """Every experiment the quarter's params list (``ab.experiments``, or ``experiments=[...]``), reviewed,
    with ``overrides`` of ``params.ab`` (None keeps the params' value)."""
    ab = params_module.section(params, "ab", **overrides)
    return QuarterReview(params.quarter, [review(source, params, e, path=path, **overrides) for e in ab.experiments])
