"""Funnels compared: each segment against the rest, and a quarter against the previous one.

Both work on the funnel's counts (sufficient statistics), so no event reaches Python. Step
conversion is a binomial proportion; two are compared with the pooled two-proportion z-test
(statsmodels ``proportions_ztest``) and a Newcombe hybrid-score interval for the difference
(statsmodels ``confint_proportions_2indep(method="newcomb")``), which keeps its coverage for small
counts and rates near 0 or 1 where the Wald interval does not.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from kit.funnel.core import FunnelResult
from kit.results import Result
from kit.stats import adjust_pvalues


def difference_test(converted_a, entered_a, converted_b, entered_b, alpha: float = 0.05):
    """(difference a − b, interval low, high, two-sided p) for two independent proportions; NaN if a side is empty."""
    if entered_a <= 0 or entered_b <= 0:
        return np.nan, np.nan, np.nan, np.nan
    diff = converted_a / entered_a - converted_b / entered_b
    low, high = confint_proportions_2indep(converted_a, entered_a, converted_b, entered_b, method="newcomb",
                                           compare="diff", alpha=alpha)
    pooled = (converted_a + converted_b) / (entered_a + entered_b)
    if pooled in (0.0, 1.0):
        p = 1.0   # both groups all-or-nothing alike: no evidence of a difference
    else:
        p = float(proportions_ztest([converted_a, converted_b], [entered_a, entered_b])[1])
    return float(diff), float(low), float(high), p


class SegmentComparison(Result):
    """Each segment's step conversion against the rest of the units, multiplicity-corrected."""

    digits = 4

    def __init__(self, table: pd.DataFrame, by: list[str], correction: str, alpha: float, attempt: str):
        self._table, self.by, self.correction, self.alpha, self.attempt = table, by, correction, alpha, attempt

    def to_pandas(self) -> pd.DataFrame:
        """Columns: segment, step, entered, converted, conversion, rest_entered, rest_converted,
        rest_conversion, difference (segment − rest) with its interval, p_value, p_adjusted, significant."""
        return self._table.copy()

    def significant(self) -> pd.DataFrame:
        """The rows whose adjusted p-value is below alpha, largest differences first."""
        rows = self._table[self._table["significant"]]
        return rows.reindex(rows["difference"].abs().sort_values(ascending=False, kind="mergesort").index)

    @property
    def title(self) -> str:
        return f"Step conversion by {', '.join(self.by)}: each segment against the rest"

    @property
    def notes(self) -> list[str]:
        n = int(self._table["p_value"].notna().sum())
        notes = [f"Two-proportion z-test per (segment, step); p-values adjusted ({self.correction}) over the {n} "
                 f"comparisons; significant = adjusted p < {self.alpha:g}; intervals: Newcombe {1 - self.alpha:.0%}."]
        if self.attempt == "totals":
            notes.append("Counting every attempt: a unit's attempts are not independent, so p-values are optimistic.")
        return notes

    def display(self) -> pd.DataFrame:
        shown = self._table.copy()
        shown["significant"] = np.where(shown["significant"], "✱", "")
        return shown


def compare_segments(result: FunnelResult, correction: str = "holm", alpha: float | None = None) -> SegmentComparison:
    """Each segment's conversion from the previous step against the rest (all other segments pooled).

    The family for the multiplicity correction is every (segment, step) comparison of the result.
    Segments partition the units (each unit is counted in the segment of its counted start), so
    "the rest" is the funnel's total minus the segment.
    """
    if not isinstance(result, FunnelResult):
        raise TypeError(f"compare_segments takes the result of kit.funnel.funnel(..., by=...), got {type(result).__name__}")
    if not result.by:
        raise ValueError("compare_segments needs a funnel computed with by=... (a breakdown such as 'device')")
    alpha = result.alpha if alpha is None else alpha
    table = result.to_pandas()
    totals = table.groupby("step_number")[["entered", "converted_from_previous"]].sum()
    rows = []
    for row in table[table["step_number"] > 1].itertuples(index=False):
        row = row._asdict()
        n_all, x_all = totals.loc[row["step_number"]]
        n, x = row["entered"], row["converted_from_previous"]
        n_rest, x_rest = int(n_all - n), int(x_all - x)
        diff, low, high, p = difference_test(x, n, x_rest, n_rest, alpha)
        rows.append({**{c: row[c] for c in result.by}, "step": row["step"], "entered": n, "converted": x,
                     "conversion": x / n if n else np.nan, "rest_entered": n_rest, "rest_converted": x_rest,
                     "rest_conversion": x_rest / n_rest if n_rest else np.nan, "difference": diff,
                     "difference_low": low, "difference_high": high, "p_value": p})
    out = pd.DataFrame(rows)
    out["p_adjusted"] = adjust_pvalues(out["p_value"].to_numpy(float), correction) if len(out) else []
    out["significant"] = (out["p_adjusted"] < alpha).fillna(False).astype(bool) if len(out) else []
    return SegmentComparison(out, result.by, correction, alpha, result.spec.attempt)


class QuarterComparison(Result):
    """Step conversion in a quarter against the previous one, with 95% intervals of the change."""

    digits = 4

    def __init__(self, table: pd.DataFrame, current: str, previous: str, alpha: float, by: list[str]):
        self._table, self.current, self.previous, self.alpha, self.by = table, current, previous, alpha, by

    def to_pandas(self) -> pd.DataFrame:
        """One row per (segment, step, measure): measure ``from_previous`` (step conversion) or
        ``from_start`` (cumulative); the previous and current counts and rates, the change in
        percentage points as a fraction (``difference``) with its interval, and the p-value."""
        return self._table.copy()

    @property
    def title(self) -> str:
        return f"Quarter over quarter: {self.current} against {self.previous}"

    @property
    def notes(self) -> list[str]:
        return [f"difference = {self.current} − {self.previous}; Newcombe {1 - self.alpha:.0%} interval; "
                f"two-proportion z-test (a unit active in both quarters counts in both)."]


def compare_quarters(current: FunnelResult, previous: FunnelResult, alpha: float = 0.05) -> QuarterComparison:
    """The change of each step's conversion between two funnels with the same steps (and breakdown)."""
    for name, r in (("current", current), ("previous", previous)):
        if not isinstance(r, FunnelResult):
            raise TypeError(f"compare_quarters takes two funnel results; {name} is {type(r).__name__}")
    if current.steps != previous.steps:
        raise ValueError(f"the funnels have different steps: {current.steps} against {previous.steps}")
    if current.by != previous.by:
        raise ValueError(f"the funnels have different breakdowns: {current.by} against {previous.by}")
    by = current.by
    a, b = current.to_pandas(), previous.to_pandas()
    keys = [*by, "step_number", "step"]
    cohort = lambda t: t.groupby(by, dropna=False)["entered"].transform("first") if by else t["entered"].iloc[0]  # noqa: E731
    a["cohort"], b["cohort"] = cohort(a), cohort(b)
    merged = a.merge(b, on=keys, how="outer", suffixes=("", "_previous"), sort=False)
    merged = merged.sort_values(keys, na_position="last", kind="mergesort").reset_index(drop=True)
    rows = []
    for row in merged.itertuples(index=False):
        row = row._asdict()
        for measure, (n, x, n0, x0) in {
            "from_previous": (row["entered"], row["converted_from_previous"], row["entered_previous"], row["converted_from_previous_previous"]),
            "from_start": (row["cohort"], row["converted_from_previous"], row["cohort_previous"], row["converted_from_previous_previous"]),
        }.items():
            if row["step_number"] == 1:
                continue
            n, x, n0, x0 = (0 if pd.isna(v) else int(v) for v in (n, x, n0, x0))
            diff, low, high, p = difference_test(x, n, x0, n0, alpha)
            rows.append({**{c: row[c] for c in by}, "step": row["step"], "measure": measure,
                         "previous_entered": n0, "previous_converted": x0, "previous_rate": x0 / n0 if n0 else np.nan,
                         "entered": n, "converted": x, "rate": x / n if n else np.nan,
                         "difference": diff, "difference_low": low, "difference_high": high, "p_value": p})
    table = pd.DataFrame(rows)
    return QuarterComparison(table, current.quarter or "current", previous.quarter or "previous", alpha, by)


def quarter_over_quarter(events, steps, quarter, **funnel_kwargs) -> QuarterComparison:
    """Funnels of ``quarter`` and the quarter before, compared step by step.

    ``events`` must cover both quarters plus the window (``load_events(src, q, window, quarters=2)``);
    ``funnel_kwargs`` go to :func:`kit.funnel.funnel` (window, attempt, by, hold, unit, alpha).
    """
    from kit.funnel.core import funnel
    from kit.quarter import Quarter

    if "quarter" in funnel_kwargs:
        raise ValueError("pass the quarter once, as the third argument")
    q = Quarter(quarter)
    current = funnel(events, steps, quarter=q.label, **funnel_kwargs)
    previous = funnel(events, steps, quarter=q.previous().label, **funnel_kwargs)
    return compare_quarters(current, previous, alpha=current.alpha)
