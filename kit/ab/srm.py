"""Sample-ratio mismatch: did the arms get the users the design promised?

A chi-square goodness-of-fit test of users per arm against the expected split. A tiny p-value
(default threshold 0.001, stricter than the effect tests because a real mismatch is a bug and
false alarms are costly) means assignment or logging is broken and no effect can be trusted.
"""
from __future__ import annotations

from collections.abc import Mapping

import ibis
import numpy as np
import pandas as pd
from scipy import stats

from kit.contract import require_columns
from kit.inputs import as_table
from kit.results import Result


class SRMResult(Result):
    """The sample-ratio mismatch check: users per arm against the planned split, with its p-value."""

    title = "Sample-ratio mismatch (SRM) check"

    def __init__(self, table: pd.DataFrame, statistic: float, df: int, pvalue: float, threshold: float):
        self.table = table
        self.statistic = statistic
        self.df = df
        self.pvalue = pvalue
        self.threshold = threshold

    @property
    def mismatch(self) -> bool:
        """True when the split is broken (p < threshold): the test is invalid."""
        return bool(self.pvalue < self.threshold)

    def to_pandas(self) -> pd.DataFrame:
        return self.table.copy()

    @property
    def notes(self) -> list[str]:
        verdict = ("MISMATCH: the arms did not get the planned shares; results are invalid"
                   if self.mismatch else "no mismatch detected")
        return [f"χ² = {self.statistic:.4g} on {self.df} df, p = {self.pvalue:.3g} (threshold {self.threshold:g}): {verdict}."]

    def display(self) -> pd.DataFrame:
        return self.table

    def summary(self) -> dict:
        return {"statistic": self.statistic, "df": self.df, "pvalue": self.pvalue, "mismatch": self.mismatch}


def srm(data, variant: str = "variant", expected: Mapping[str, float] | None = None, threshold: float = 0.001) -> SRMResult:
    """Chi-square test of users per arm against ``expected`` shares (``None``: equal split).

    ``data``: one row per user (Ibis table or pandas DataFrame; counted in the engine), or a
    mapping / Series of users per arm. ``expected``: arm → share or weight (normalised); an arm
    the design lists but the data lacks counts as 0 users.
    """
    if isinstance(data, Mapping) or isinstance(data, pd.Series):
        observed = {str(k): float(v) for k, v in dict(data).items()}
    else:
        table = as_table(data)
        require_columns(table, [variant], "srm")
        counts = table.group_by(table[variant].cast("string").name("arm")).aggregate(users=ibis._.count()).to_pyarrow().to_pandas()
        if counts["arm"].isnull().any():
            raise ValueError(f"column {variant!r}: {int(counts.loc[counts['arm'].isnull(), 'users'].sum()):,} rows have no variant (null)")
        observed = dict(zip(counts["arm"], counts["users"].astype(float)))
    if expected is None:
        arms = sorted(observed)
        weights = np.ones(len(arms))
    else:
        extra = sorted(set(observed) - {str(k) for k in expected})
        if extra:
            raise ValueError(f"srm: arm(s) {', '.join(map(repr, extra))} have users but are not in the expected split "
                             f"({', '.join(map(repr, expected))})")
        arms = [str(k) for k in expected]
        weights = np.array([float(expected[k]) for k in expected])
        if (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(f"srm: expected shares must be ≥ 0 and not all zero, got {dict(expected)}")
        closed = [a for a, w in zip(arms, weights) if w == 0 and observed.get(a, 0) > 0]
        if closed:
            raise ValueError(f"srm: arm(s) {', '.join(map(repr, closed))} have users but a planned share of 0")
        arms = [a for a, w in zip(arms, weights) if w > 0]  # an arm planned at 0 with no users is no evidence
        weights = weights[weights > 0]
    if len(arms) < 2:
        raise ValueError(f"srm needs at least two arms, got {arms}")
    users = np.array([observed.get(a, 0.0) for a in arms])
    if users.sum() <= 0:
        raise ValueError("srm: no users in any arm")
    shares = weights / weights.sum()
    expected_users = shares * users.sum()
    statistic, pvalue = stats.chisquare(users, expected_users)
    table = pd.DataFrame({"variant": arms, "users": users.astype(int), "share": users / users.sum(),
                          "expected_share": shares, "expected_users": expected_users,
                          "deviation": users / expected_users - 1})
    return SRMResult(table, float(statistic), len(arms) - 1, float(pvalue), threshold)


__all__ = ["srm", "SRMResult"]
