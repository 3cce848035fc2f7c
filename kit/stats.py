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


def check_correction(correction: str) -> str:
    """A multiplicity correction the kit knows by name (the keys of :data:`CORRECTIONS`)."""
    if correction not in CORRECTIONS:
        raise ValueError(f"unknown correction {correction!r}; choose one of {', '.join(CORRECTIONS)}")
    return correction


def adjust_pvalues(pvalues, correction: str = "holm") -> np.ndarray:
    """Multiplicity-adjusted p-values over one family (NaNs are kept out of the family)."""
    check_correction(correction)
    p = np.asarray(pvalues, dtype=float)
    out = p.copy()
    ok = ~np.isnan(p)
    method = CORRECTIONS[correction]
    if method == "holm" and ok.any():
        out[ok] = _holm(p[ok])
    elif method is not None and ok.any():
        out[ok] = multipletests(p[ok], method=method)[1]
    return out


def _holm(p: np.ndarray) -> np.ndarray:
    # Same numbers as statsmodels' multipletests(method="holm") (tests check it), without the
    # full gc.collect() it runs on every call, which makes daily replays and simulations slow.
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate(p[order] * np.arange(len(p), 0, -1))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def wilson_interval(successes, trials, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion (vectorised); NaN where trials == 0."""
    successes = np.asarray(successes, dtype=float)
    trials = np.asarray(trials, dtype=float)
    safe = np.where(trials > 0, trials, 1.0)
    low, high = proportion_confint(successes, safe, alpha=alpha, method="wilson")
    empty = trials <= 0
    # floating point can leave the upper end a hair under 1 at a rate of exactly 1 (and the lower above 0)
    low = np.where(successes <= 0, 0.0, low)
    high = np.where(successes >= trials, 1.0, high)
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)
