"""The irreducible error of a promotion's planted truth, from the raw sample files with pandas only
(independent of kit.promo): shared by tests/test_promo_truth.py and bench/bench_promo.py."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

TIMEZONE = "Asia/Shanghai"
TOLERANCE = 0.2      # "within 20% of the truth"
ORACLE_Z = 1.645     # within the tolerance is promised where an oracle makes it with >= 90% probability


def order_items_by_day(sample_dir: Path) -> pd.DataFrame:
    """order_items with the local paid day of their order (column ``day``)."""
    orders = pd.read_parquet(sample_dir / "orders.parquet", columns=["order_id", "paid_at"])
    orders["day"] = orders["paid_at"].dt.tz_convert(TIMEZONE).dt.tz_localize(None).dt.normalize()
    items = pd.read_parquet(sample_dir / "order_items.parquet", columns=["order_id", "category", "amount"])
    return items.merge(orders[["order_id", "day"]], on="order_id")


def irreducible_sd(items: pd.DataFrame, t: dict, period: str) -> float:
    """S.d. of the error that even an oracle knowing the *expected* counterfactual would make on this truth.

    The truth is realised GMV × (1 − 1/M) per day (kit/synth/truth.py), so estimate − truth = realised / M −
    predicted: the realised counterfactual's own sampling noise (which orders arrive, at which values) stays
    in every estimator's error. A compound-Poisson total has variance Σ value² over its orders; 1/M scales it
    (M = realised / (realised − truth) over the period)."""
    day = pd.Timedelta(days=1)
    start, end = pd.Timestamp(t["start"]), pd.Timestamp(t["end"])
    first = pd.Timestamp(t["presale_start"]) if t["presale_start"] else start
    spans = {"before": (first, start - day), "during": (start, end),
             "after": (end + day, end + t["incremental_gmv"]["post_days"] * day)}
    own = items[items["category"].isin(t["promoted_categories"])]
    per_order = own.groupby(["order_id", "day"], observed=True)["amount"].sum().reset_index()
    variance = 0.0
    for name in (("before", "during", "after") if period == "net" else (period,)):
        amounts = per_order.loc[per_order["day"].between(*spans[name]), "amount"]
        if amounts.empty:
            continue
        realised, true = amounts.sum(), t["incremental_gmv"][name]
        variance += (amounts**2).sum() * ((realised - true) / realised) ** 2
    return float(np.sqrt(variance))


def oracle_within(floor: float) -> float:
    """Probability that the oracle (normal error, s.d. ``floor`` as a share of the truth) is within the tolerance."""
    return float(2 * stats.norm.cdf(TOLERANCE / floor) - 1)


def above_noise_floor(floor: float) -> bool:
    """Whether the data let an estimator promise the tolerance: ORACLE_Z s.d. of the floor fit inside it."""
    return ORACLE_Z * floor <= TOLERANCE
