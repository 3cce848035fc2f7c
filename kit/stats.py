"""Small statistics shared by the analyses: one place for interval and multiplicity conventions."""
from __future__ import annotations

import numpy as np
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

# The names analysts pass, mapped to statsmodels' method names.
CORRECTIONS = {
    "none": None,
    "bonferroni": "bonferroni",
    "holm": "holm",
    "hochberg": "simes-hochberg",
    "bh": "fdr_bh",
    "by": "fdr_by",
}


def adjust_pvalues(pvalues, correction: str = "holm") -> np.ndarray:
    """Multiplicity-adjusted p-values over one family (NaNs are kept out of the family)."""
    if correction not in CORRECTIONS:
        raise ValueError(f"unknown correction {correction!r}; choose one of {sorted(CORRECTIONS)}")
    p = np.asarray(pvalues, dtype=float)
    out = p.copy()
    ok = ~np.isnan(p)
    method = CORRECTIONS[correction]
    if method is not None and ok.any():
        out[ok] = multipletests(p[ok], method=method)[1]
    return out


def wilson_interval(successes, trials, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion (vectorised); NaN where trials == 0."""
    successes = np.asarray(successes, dtype=float)
    trials = np.asarray(trials, dtype=float)
    safe = np.where(trials > 0, trials, 1.0)
    low, high = proportion_confint(successes, safe, alpha=alpha, method="wilson")
    empty = trials <= 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def format_roas(value: float, digits: int = 1) -> str:
    """ROAS the way the reviews write ROI: 3.5 -> '3.5:1'."""
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:.{digits}f}:1"
