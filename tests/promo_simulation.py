"""A simulator of e-commerce-like daily series for the promotion calibration study (issue 20).

Two years of history before the event; log demand = size + slow trend + yearly swing + weekday pattern
+ a shared random-walk demand shock. Three controls share the yearly swing, the weekday pattern and the
shock, each with its own scale and its own (larger) noise. The event multiplies the counterfactual by
``1 + uplift`` for ``DURING_DAYS`` days, then by ``1 - dip`` for ``AFTER_DAYS`` days, so the truth of each
period is known exactly: actual − counterfactual over its days. Used by tests/test_promo_calibration.py
(the fast study) and bench/bench_promo_calibration.py (the full one).
"""
from __future__ import annotations

import multiprocessing
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

import kit.promo as promo
from kit.promo.data import weekly_mean

PRE_DAYS = 730
DURING_DAYS = 11
AFTER_DAYS = 19
UPLIFT = 0.30
DIP = 0.08
CONTROLS = ("c1", "c2", "c3")
# Weekday shape in log demand (Monday first): weekend peak, midweek trough.
WEEKDAY = np.array([0.0, -0.03, -0.05, -0.02, 0.03, 0.10, 0.08])


@dataclass
class Case:
    """One simulated series: the daily table, the event's dates, and the true effect per period."""

    data: pd.DataFrame
    start: pd.Timestamp
    end: pd.Timestamp
    post_days: int
    truth: dict[str, float]    # during, after, net (0 for a no-event series)


def simulate(seed: int, *, event: bool = True, uplift: float = UPLIFT, dip: float = DIP,
             pre_days: int = PRE_DAYS, first_day: str = "2023-01-01") -> Case:
    """One series of ``pre_days + DURING_DAYS + AFTER_DAYS`` days; parameters drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    n = pre_days + DURING_DAYS + AFTER_DAYS
    # The event starts on a random day of the year so that it meets every phase of the yearly swing.
    offset = int(rng.integers(0, 365))
    dates = pd.date_range(pd.Timestamp(first_day) + pd.Timedelta(days=offset), periods=n, freq="D")
    day_of_year = dates.day_of_year.to_numpy()
    yearly_phase = 2 * np.pi * day_of_year / 365.25
    yearly = (rng.uniform(0.10, 0.25) * np.sin(yearly_phase + rng.uniform(0, 2 * np.pi))
              + rng.uniform(0.0, 0.08) * np.sin(2 * yearly_phase + rng.uniform(0, 2 * np.pi)))
    weekday = WEEKDAY[dates.day_of_week.to_numpy()] * rng.uniform(0.5, 1.5)
    trend = rng.uniform(-0.10, 0.25) * np.arange(n) / 365.25
    shock = np.cumsum(rng.normal(0, rng.uniform(0.004, 0.010), n))
    size = np.exp(rng.uniform(np.log(2e4), np.log(2e6)))        # 20k–2M yuan a day
    common = yearly + weekday + shock
    counterfactual = size * np.exp(trend + common + rng.normal(0, rng.uniform(0.03, 0.06), n))
    frame = pd.DataFrame({"date": dates})
    for name in CONTROLS:
        # Each control: its own size and noise, its own share of the swing and a slow drift of its own.
        own = np.cumsum(rng.normal(0, 0.002, n)) + rng.normal(0, rng.uniform(0.05, 0.12), n)
        frame[name] = size * rng.uniform(0.05, 0.4) * np.exp(rng.uniform(0.8, 1.2) * common + own)
    effect = np.zeros(n)
    start = dates[pre_days]
    end = dates[pre_days + DURING_DAYS - 1]
    during = slice(pre_days, pre_days + DURING_DAYS)
    after = slice(pre_days + DURING_DAYS, n)
    if event:
        effect[during] = uplift
        effect[after] = -dip
    actual = counterfactual * (1 + effect)
    frame.insert(1, "gmv", actual)
    increment = actual - counterfactual
    truth = {"during": float(increment[during].sum()), "after": float(increment[after].sum())}
    truth["net"] = truth["during"] + truth["after"]
    return Case(data=frame, start=start, end=end, post_days=AFTER_DAYS, truth=truth)


def study_row(case: Case, summary: pd.DataFrame) -> list[dict]:
    """One row per period: estimate, interval and truth, from a lift summary (one row per period)."""
    rows = []
    for period in ("during", "after", "net"):
        row = summary.set_index("period").loc[period]
        rows.append({"period": period, "truth": case.truth[period], "effect": float(row["effect"]),
                     "ci_low": float(row["ci_low"]), "ci_high": float(row["ci_high"]),
                     "pvalue": float(row["pvalue"])})
    return rows


def calibration(results: pd.DataFrame, nulls: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """The study's table: per period bias and RMSE (% of the truth), coverage, width (% of |truth|), and the
    false-positive rate on no-event series.

    ``results``: rows of :func:`study_row` on event series (a ``series`` column tells them apart);
    ``nulls``: the same on no-event series (their truth is 0).
    Bias and RMSE are pooled over series as a share of the mean |truth|, so that a series whose truth is
    small does not dominate: bias = Σ(est − truth) / Σ|truth|.
    """
    rows = []
    for period, group in results.groupby("period", sort=False):
        scale = group["truth"].abs().sum()
        error = group["effect"] - group["truth"]
        inside = (group["ci_low"] <= group["truth"]) & (group["truth"] <= group["ci_high"])
        null = nulls[nulls["period"] == period]
        rows.append({"period": period, "series": len(group),
                     "bias": error.sum() / scale,
                     "rmse": float(np.sqrt((error**2).mean())) / (scale / len(group)),
                     "coverage": float(inside.mean()),
                     "width": float((group["ci_high"] - group["ci_low"]).sum() / scale),
                     "null_series": len(null),
                     "false_positive": float((null["pvalue"] < alpha).mean()) if len(null) else np.nan})
    return pd.DataFrame(rows)


def smoothed(frame: pd.DataFrame) -> pd.DataFrame:
    """Controls replaced by their centred 7-day means (as kit.promo.daily does for the sample)."""
    return frame.assign(**{name: weekly_mean(frame[name]) for name in CONTROLS})


def fit_case(task: tuple) -> tuple[list[dict], float]:
    """lift() on one simulated series: its study rows and the fit's CPU seconds.

    ``task`` = (seed, event, lift options); the option ``smooth_controls=True`` smooths the controls first."""
    seed, event, options = task
    options = dict(options)
    case = simulate(seed, event=event)
    data = smoothed(case.data) if options.pop("smooth_controls", False) else case.data
    began = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = promo.lift(data, case.start, case.end, controls=list(CONTROLS), post_days=case.post_days,
                            seed=seed, warn=False, **options)
    cpu = time.process_time() - began
    return [dict(row, series=seed, event=event) for row in study_row(case, result.summary)], cpu


def study(options: dict, series: int, nulls: int, processes: int = 2) -> tuple[pd.DataFrame, np.ndarray]:
    """The calibration table of lift(**options) over seeds 0..series-1 with the event and 0..nulls-1 without,
    and the CPU seconds of every fit. Fits run in ``processes`` worker processes (the table does not depend
    on how many)."""
    tasks = [(seed, True, options) for seed in range(series)] + [(seed, False, options) for seed in range(nulls)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        out = pool.map(fit_case, tasks, chunksize=4)
    frame = pd.DataFrame([row for rows, _ in out for row in rows])
    table = calibration(frame[frame["event"]], frame[~frame["event"]])
    return table, np.array([cpu for _, cpu in out])
