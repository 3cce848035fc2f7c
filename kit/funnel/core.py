"""``funnel`` and ``time_to_convert``: counts and times of the counted chains, aggregated in the engine."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from kit.funnel import _engine
from kit.funnel._engine import ChainSpec, time_column
from kit.funnel._input import as_list, describe_window, parse_steps, parse_window
from kit.inputs import as_table, check_alpha, period_bounds
from kit.results import Result
from kit.stats import wilson_interval

_ATTEMPT_WORDS = {
    "best": "each unit's deepest attempt",
    "first": "each unit's first attempt in the period",
    "totals": "every attempt",
}


def _spec(steps, window, attempt, by, hold, unit, quarter, check) -> ChainSpec:
    if attempt not in _engine.ATTEMPTS:
        raise ValueError(f"attempt must be one of {', '.join(_engine.ATTEMPTS)}, got {attempt!r}")
    if hold is not None and not isinstance(hold, str):
        raise ValueError(f"hold must be one column name (e.g. 'sku_id'), got {hold!r}")
    if not isinstance(unit, str):
        raise ValueError(f"unit must be a column name such as 'user_id' or 'session_id', got {unit!r}")
    by = as_list(by, "by")
    if unit in by:
        raise ValueError(f"by: '{unit}' is the unit itself, not a breakdown")
    return ChainSpec(steps=tuple(parse_steps(steps)), window=parse_window(window), attempt=attempt, unit=unit,
                     by=tuple(by), hold=hold, bounds=period_bounds(quarter), check=check)


def _segment_order(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Rows in a fixed order: segments sorted by value (missing last), steps in funnel order."""
    if not by:
        return frame.reset_index(drop=True)
    return frame.sort_values(by, na_position="last", kind="mergesort").reset_index(drop=True)


class FunnelResult(Result):
    """A funnel: one row per (segment, step). See :func:`funnel` for the columns."""

    digits = 4

    def __init__(self, counts: pd.DataFrame, spec: ChainSpec, quarter: Any = None, alpha: float = 0.05):
        self.spec = spec
        self.quarter = None if quarter is None else str(quarter)
        self.alpha = alpha
        self.steps = [s.label for s in spec.steps]
        self.by = list(spec.by)
        self.counts = counts          # per segment: cohort and reached_0..reached_{k-1}
        self._table = self._build(counts)

    # The counts are sufficient statistics: every rate and interval derives from them.
    def _build(self, counts: pd.DataFrame) -> pd.DataFrame:
        rows = []
        for _, seg in counts.iterrows():
            reached = [int(seg[f"reached_{j}"]) for j in range(len(self.steps))]
            for j, label in enumerate(self.steps):
                row = {c: seg[c] for c in self.by}
                previous = reached[j - 1] if j else reached[0]
                row.update(step_number=j + 1, step=label, entered=previous, converted_from_previous=reached[j])
                rows.append(row)
        table = pd.DataFrame(rows, columns=[*self.by, "step_number", "step", "entered", "converted_from_previous"])
        table["entered"] = table["entered"].astype("int64")
        table["converted_from_previous"] = table["converted_from_previous"].astype("int64")
        cohort = table.groupby(self.by, sort=False, dropna=False)["entered"].transform("first") if self.by else \
            pd.Series(table["entered"].iloc[0] if len(table) else 0, index=table.index)
        entered, converted = table["entered"].to_numpy(float), table["converted_from_previous"].to_numpy(float)
        cohort = cohort.to_numpy(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            table["conversion_from_previous"] = np.where(entered > 0, converted / np.where(entered > 0, entered, 1), np.nan)
            table["conversion_from_start"] = np.where(cohort > 0, converted / np.where(cohort > 0, cohort, 1), np.nan)
        low, high = wilson_interval(converted, entered, self.alpha)
        table["conversion_from_previous_low"], table["conversion_from_previous_high"] = low, high
        low, high = wilson_interval(converted, cohort, self.alpha)
        table["conversion_from_start_low"], table["conversion_from_start_high"] = low, high
        table["drop_off"] = (table["entered"] - table["converted_from_previous"]).astype("int64")
        table["drop_off_rate"] = 1.0 - table["conversion_from_previous"]
        return table

    def to_pandas(self) -> pd.DataFrame:
        """One row per (segment, step), unrounded.

        ``entered``: units that reached the previous step (for step 1: the cohort);
        ``converted_from_previous``: those of them that reached this step; ``conversion_from_previous``
        = converted / entered; ``conversion_from_start`` = converted / cohort (both with Wilson
        intervals at ``1 - alpha``); ``drop_off`` = entered − converted; ``drop_off_rate`` = 1 − conversion.
        """
        return self._table.copy()

    def overall(self) -> "FunnelResult":
        """The funnel without the breakdown (segments partition the units, so counts add up)."""
        if not self.by:
            return self
        summed = self.counts.drop(columns=self.by).sum().to_frame().T
        spec = ChainSpec(**{**self.spec.__dict__, "by": ()})
        return FunnelResult(summed, spec, self.quarter, self.alpha)

    @property
    def cohort(self) -> int:
        """Units (or attempts, for ``totals``) that entered the funnel, over all segments."""
        return int(self.counts["reached_0"].sum())

    def biggest_leak(self) -> pd.Series:
        """The step transition (overall, not by segment) with the largest drop-off rate."""
        table = self.overall().to_pandas()
        transitions = table[table["step_number"] > 1].dropna(subset=["drop_off_rate"])
        if transitions.empty:
            raise ValueError("the funnel has no step transition with entrants, so there is no leak to name")
        # Ties go to the earliest transition: the first place users are lost.
        worst = transitions.sort_values(["drop_off_rate", "step_number"], ascending=[False, True], kind="mergesort").iloc[0]
        previous = self.steps[int(worst["step_number"]) - 2]
        return pd.Series({
            "from_step": previous, "to_step": worst["step"], "entered": int(worst["entered"]),
            "lost": int(worst["drop_off"]), "drop_off_rate": float(worst["drop_off_rate"]),
            "drop_off_low": float(1 - worst["conversion_from_previous_high"]),
            "drop_off_high": float(1 - worst["conversion_from_previous_low"]),
        })

    def compare_segments(self, correction: str = "holm", alpha: float | None = None):
        """Each segment's step conversion against the rest (see :func:`kit.funnel.compare_segments`)."""
        from kit.funnel.compare import compare_segments
        return compare_segments(self, correction=correction, alpha=alpha)

    @property
    def title(self) -> str:
        period = f" — {self.quarter}" if self.quarter else ""
        return f"Funnel{period}: {' → '.join(self.steps)}"

    @property
    def notes(self) -> list[str]:
        s = self.spec
        unit = {"user_id": "users", "session_id": "sessions"}.get(s.unit, f"units of '{s.unit}'")
        notes = [f"Counted: {_ATTEMPT_WORDS[s.attempt]} ({unit}); window {describe_window(s.window)} from the first "
                 f"step, boundary inclusive; intervals: Wilson {1 - self.alpha:.0%}."]
        if s.hold:
            notes.append(f"'{s.hold}' held constant across steps.")
        if self.by:
            notes.append(f"Breakdown by {', '.join(self.by)}, read on the counted first-step event.")
        return notes

    def display(self) -> pd.DataFrame:
        return self._table.drop(columns=["conversion_from_start_low", "conversion_from_start_high"])


def funnel(events, steps, window="1D", attempt: str = "best", by=None, hold: str | None = None, *,
           unit: str = "user_id", quarter=None, alpha: float = 0.05, check: bool = True) -> FunnelResult:
    """Windowed, ordered funnel over an event log, computed in the engine.

    Parameters
    ----------
    events : Ibis table or pandas DataFrame with ``ts`` (naive local time), ``event`` and ``unit``.
        Pass the events from the period's start to its end plus the window (later steps may finish
        after the period): e.g. :func:`kit.funnel.load_events`.
    steps : list of event names, or ``(label, rule)`` pairs where ``rule`` is an Ibis expression
        (``ibis._.event == "pdp_view"``) or a function of the table. Steps must not overlap.
    window : the conversion window from the step-1 event, boundary inclusive (``"1D"``, ``"30min"``).
    attempt : ``"best"`` (each unit's deepest chain), ``"first"`` (the unit's first start in the
        period) or ``"totals"`` (every start counted).
    by : breakdown column(s), read on the counted step-1 event; segments partition the units.
    hold : a column held constant across steps (``"sku_id"``); events without a value fit any.
    unit : the column identifying whose funnel is counted (``"user_id"``, or ``"session_id"``).
    quarter : ``"2025Q4"`` or ``(start_date, end_date)``: the period whose step-1 events enter.
    check : one aggregate over the (materialised) step events that rejects null ``ts``/unit and
        events matching several step rules.
    """
    spec = _spec(steps, window, attempt, by, hold, unit, quarter, check)
    check_alpha(alpha)
    with _engine.prepared(as_table(events, "events"), spec) as tagged:
        return _funnel_result(tagged, spec, quarter, alpha)


def _funnel_result(tagged, spec: ChainSpec, quarter, alpha: float, lv=None) -> FunnelResult:
    counts = _engine.reached_counts(tagged, spec, lv)
    for j in range(len(spec.steps)):
        counts[f"reached_{j}"] = counts[f"reached_{j}"].fillna(0).astype("int64")
    counts = _segment_order(counts, list(spec.by))
    return FunnelResult(counts, spec, quarter, alpha)


def funnel_with_breakdowns(events, steps, window="1D", attempt: str = "best", breakdowns=(), hold: str | None = None, *,
                           unit: str = "user_id", quarter=None, alpha: float = 0.05,
                           check: bool = True) -> tuple[FunnelResult, dict[str, FunnelResult], TimeToConvert]:
    """The funnel, the funnel by each breakdown column, and the time to convert, from one pass.

    The same results as :func:`funnel` (without and with ``by=`` each breakdown) and
    :func:`time_to_convert`, but the step events are prepared and the chains joined once, carrying
    every breakdown column; each result then aggregates those levels.
    """
    shared = _spec(steps, window, attempt, as_list(breakdowns, "breakdowns"), hold, unit, quarter, check)
    check_alpha(alpha)
    with _engine.prepared(as_table(events, "events"), shared) as tagged:
        return _with_breakdowns(tagged, shared, quarter, alpha)


def _with_breakdowns(tagged, shared: ChainSpec, quarter, alpha: float):
    overall = replace(shared, by=())
    lv = _engine.levels(tagged, shared, start_ids=_engine.needs_start_ids(shared), cache=True)
    try:
        lv.cache_leaders(shared)
        result = _funnel_result(tagged, overall, quarter, alpha, lv.project(()))
        by = {name: _funnel_result(tagged, replace(shared, by=(name,)), quarter, alpha, lv.project((name,)))
              for name in shared.by}
        times = _time_to_convert_result(tagged, overall, quarter, lv.project(()))
    finally:
        lv.release()
    return result, by, times


def quarter_funnels(events, steps, window="1D", attempt: str = "best", breakdowns=(), hold: str | None = None, *,
                    unit: str = "user_id", quarter, previous, alpha: float = 0.05,
                    check: bool = True) -> tuple[FunnelResult, dict[str, FunnelResult], TimeToConvert, FunnelResult]:
    """:func:`funnel_with_breakdowns` for ``quarter`` plus the overall funnel of the ``previous``
    period, from one materialisation of the step events of both (``events`` must cover them).

    Each period's starts are its own; a chain's later steps are bounded by its window, so sharing
    the step events changes no count (tested against separate calls).
    """
    shared = _spec(steps, window, attempt, as_list(breakdowns, "breakdowns"), hold, unit, quarter, check)
    check_alpha(alpha)
    before = period_bounds(previous)
    if shared.bounds is None or before is None:
        raise ValueError(f"quarter_funnels needs both periods, got quarter={quarter!r} and previous={previous!r}")
    span = replace(shared, bounds=(min(before[0], shared.bounds[0]), max(before[1], shared.bounds[1])))
    with _engine.prepared(as_table(events, "events"), span) as tagged:
        result, by, times = _with_breakdowns(tagged, shared, quarter, alpha)
        earlier = _funnel_result(tagged, replace(shared, by=(), bounds=before), previous, alpha)
    return result, by, times, earlier


class TimeToConvert(Result):
    """Median and 90th percentile of the time between consecutive steps and from start to end."""

    digits = 4

    def __init__(self, table: pd.DataFrame, spec: ChainSpec, quarter: Any = None):
        self.spec, self.quarter, self._table = spec, None if quarter is None else str(quarter), table

    def to_pandas(self) -> pd.DataFrame:
        """Columns: (segments), ``from_step``, ``to_step``, ``conversions``, ``median_seconds``, ``p90_seconds``."""
        return self._table.copy()

    @property
    def title(self) -> str:
        period = f" — {self.quarter}" if self.quarter else ""
        return f"Time to convert{period}"

    @property
    def notes(self) -> list[str]:
        return [f"Between the counted chain's step times ({_ATTEMPT_WORDS[self.spec.attempt]}); the last row runs "
                f"from the first step to the last. Quantiles are exact (linear interpolation)."]


def time_to_convert(events, steps, window="1D", attempt: str = "best", by=None, hold: str | None = None, *,
                    unit: str = "user_id", quarter=None, check: bool = True) -> TimeToConvert:
    """Median and 90th percentile (seconds) between consecutive steps of the counted chains, and start to end.

    Same arguments and the same counted chains as :func:`funnel`. A chain's step times are the
    earliest it could reach each step, so the times are the fastest path of that attempt.
    """
    spec = _spec(steps, window, attempt, by, hold, unit, quarter, check)
    with _engine.prepared(as_table(events, "events"), spec) as tagged:
        return _time_to_convert_result(tagged, spec, quarter)


def _time_to_convert_result(tagged, spec: ChainSpec, quarter, lv=None) -> TimeToConvert:
    k = len(spec.steps)
    if k < 2:
        raise ValueError("time to convert needs at least two steps")
    labels = [s.label for s in spec.steps]
    pairs = [(j - 1, j) for j in range(1, k)] + ([(0, k - 1)] if k > 2 else [])
    by = list(spec.by)
    chain = _engine.chains(tagged, spec, times=True, lv=lv)
    metrics = {}
    for n, (a, b) in enumerate(pairs):
        seconds = chain[time_column(b)].delta(chain[time_column(a)], unit="microsecond") / 1e6
        metrics[f"n{n}"] = seconds.count()
        metrics[f"median{n}"] = seconds.quantile(0.5)
        metrics[f"p90_{n}"] = seconds.quantile(0.9)
    wide = (chain.group_by(by).aggregate(**metrics) if by else chain.aggregate(**metrics)).to_pandas()
    wide = _segment_order(wide, by)
    rows = []
    for _, seg in wide.iterrows():
        for n, (a, b) in enumerate(pairs):
            row = {c: seg[c] for c in by}
            row.update(from_step=labels[a], to_step=labels[b], conversions=int(seg[f"n{n}"] or 0),
                       median_seconds=float(seg[f"median{n}"]) if pd.notna(seg[f"median{n}"]) else np.nan,
                       p90_seconds=float(seg[f"p90_{n}"]) if pd.notna(seg[f"p90_{n}"]) else np.nan)
            rows.append(row)
    table = pd.DataFrame(rows, columns=[*by, "from_step", "to_step", "conversions", "median_seconds", "p90_seconds"])
    return TimeToConvert(table, spec, quarter)
