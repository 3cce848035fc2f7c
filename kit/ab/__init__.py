"""Detail-page A/B tests: many arms, ratio metrics, CUPED, multiplicity, peeking and a Bayesian view.

::

    import kit
    users = kit.ab.user_metrics(src, "pdp_selling_points")          # Ibis table, one row per user
    kit.ab.srm(users)                                               # sample-ratio mismatch check
    res = kit.ab.analyze(users, ["ctr", "conversion", "revenue_per_user"], correction="holm")
    res.to_pandas()                                                 # one row per (metric, arm)
    kit.ab.sample_size(0.05, target=0.065, arms=31)                 # users per arm, multiplicity included

Per-arm sufficient statistics come from one grouped query in the engine; the statistics
(Welch, z, delta method, CUPED, mixture sequential tests, Gaussian posterior) run in Python on
those. See :mod:`kit.ab.stats` for the methods.
"""
from __future__ import annotations

import importlib

from kit.ab.analysis import ABResult, analyze
from kit.ab.daily import SequentialPath, daily_user_metrics, sequential_path
from kit.ab.metrics import Mean, Metric, Proportion, Ratio, standard_metrics
from kit.ab.moments import Moments, arm_moments
from kit.ab.power import PowerResult, mde, sample_size
from kit.ab.review import ExperimentReview, QuarterReview, review, review_quarter
from kit.ab.srm import SRMResult, srm
from kit.ab.users import user_metrics
from kit.ab.verdict import Verdict, verdict

__all__ = [
    "ABResult", "ExperimentReview", "QuarterReview", "SequentialPath", "Mean", "Metric", "Moments", "PowerResult", "Proportion",
    "Ratio", "SRMResult", "Verdict",
    "analyze", "arm_moments", "daily_user_metrics", "sequential_path", "mde", "plots", "review", "review_quarter", "sample_size",
    "srm", "standard_metrics", "user_metrics", "verdict",
]


def __getattr__(name: str):
    # the plots (and matplotlib) load when first used: an analysis alone stays ~30 MB lighter
    if name == "plots":
        return importlib.import_module("kit.ab.plots")
    raise AttributeError(f"module 'kit.ab' has no attribute {name!r}")
