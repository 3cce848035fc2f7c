"""The sample's ``outreach`` table: a win-back campaign to dormant customers with a holdout.

It is drawn *after* the orders, from its own random stream, and changes no other table (every
other table's bytes and truths stay as they were). The campaign cannot cause orders that the
order process did not already make, so its effect is planted through whom it reached:

- the pool: every customer whose last order (any status) was ≥ ``DORMANT_DAYS`` local days before
  the send day; a customer *wakes* with an order paid in (sent_at, sent_at + ``WAKE_DAYS`` days];
- the holdout: each pool customer with probability ``HOLDOUT_SHARE``, independently of waking, so
  its expected wake-up rate is the pool's natural rate h;
- the treatment: the other pool customers who woke, all of them, plus each of the others who did
  not wake with probability k = h(1 − h − δ) / ((h + δ)(1 − h)), so its expected wake-up rate is
  h + δ: the planted incremental wake-up δ. Pool customers left out were simply not reached.

To the analyst the data look like a campaign whose reach raised the wake-up rate by δ over a
random holdout; the truth is δ and h (``truth.json``, key ``customers``). The treated customers
who woke are naturally quicker buyers than a real campaign's extra wakers would be (any other
comparison within the treatment group is not a campaign effect).
"""
from __future__ import annotations

import datetime as _dt
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from kit.synth import plan

CAMPAIGN = "2025Q4_winback"
SENT_LOCAL = _dt.datetime(2025, 10, 15, 10, 0)
DORMANT_DAYS = 30
WAKE_DAYS = 30
HOLDOUT_SHARE = 0.2
INCREMENTAL_WAKE = 0.03
TIMEZONE = "Asia/Shanghai"


def treatment_keep_probability(natural: float, incremental: float) -> float:
    """k such that the woken-all, non-woken-with-probability-k group wakes at natural + incremental."""
    return natural * (1 - natural - incremental) / ((natural + incremental) * (1 - natural))


def build(orders: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
    """The outreach rows and the campaign's truth, from the orders (``user_id``, ``paid_at`` in UTC)."""
    zone = ZoneInfo(TIMEZONE)
    sent_utc = pd.Timestamp(SENT_LOCAL, tz=zone).tz_convert("UTC")
    paid = pd.to_datetime(orders["paid_at"], utc=True)
    local_day = paid.dt.tz_convert(zone).dt.tz_localize(None).dt.normalize()
    before = paid < sent_utc
    last = local_day[before].groupby(orders["user_id"][before]).max()
    pool = np.sort(last.index[last <= pd.Timestamp(SENT_LOCAL.date()) - pd.Timedelta(days=DORMANT_DAYS)].to_numpy())
    window = (paid > sent_utc) & (paid <= sent_utc + pd.Timedelta(days=WAKE_DAYS))
    woke = np.isin(pool, orders["user_id"][window].unique())
    natural = float(woke.mean())
    holdout = rng.random(pool.size) < HOLDOUT_SHARE
    keep = treatment_keep_probability(natural, INCREMENTAL_WAKE)
    treated = ~holdout & (woke | (rng.random(pool.size) < keep))
    reached = holdout | treated
    rows = pd.DataFrame({
        "user_id": pool[reached],
        "sent_at": sent_utc,
        "campaign": CAMPAIGN,
        "group": np.where(holdout[reached], "holdout", "treatment"),
    })
    truth = {
        "campaign": CAMPAIGN,
        "sent_at_local": SENT_LOCAL.isoformat(),
        "dormant_days": DORMANT_DAYS,
        "wake_days": WAKE_DAYS,
        "pool": int(pool.size),
        "natural_wake_rate": natural,
        "incremental_wake": INCREMENTAL_WAKE,
        "holdout_share": HOLDOUT_SHARE,
        "treatment_keep_probability": keep,
        "groups": {"treatment": int(treated.sum()), "holdout": int(holdout.sum())},
        "definition": "pool: last order ≥ dormant_days local days before the send day; wake: an order paid in "
                      "(sent_at, sent_at + wake_days]; incremental_wake = E[treatment rate] − E[holdout rate]",
    }
    return rows, truth


def order_process_truth() -> dict:
    """What the existing order process is, for the customer analyses (it is not BG/NBD)."""
    return {
        "kind": "gamma-mixed Poisson without drop-out: each order goes to a user drawn in proportion to a fixed "
                "activity among those signed up, with a common time-varying demand (growth, promotions)",
        "activity_gamma_shape": plan.ACTIVITY_SHAPE,
        "member_activity_multiplier": plan.MEMBER_ACTIVITY,
        "member_share": plan.MEMBER_SHARE,
        "member_tiers": dict(zip(plan.MEMBER_TIERS, plan.MEMBER_TIER_P)),
        "bgnbd": "no drop-out is planted, so a BG/NBD fit should find P(alive) near 1 for most buyers; BG/NBD "
                 "recovery is tested on a simulation with known parameters instead (tests/test_customers_clv.py)",
    }


def write(folder: Path, seed: int) -> dict:
    """Write ``outreach.parquet`` into ``folder`` (from its ``orders.parquet``); returns the truth."""
    from kit.synth.generator import Streams

    orders = pq.read_table(Path(folder) / "orders.parquet", columns=["user_id", "paid_at"]).to_pandas()
    rows, campaign = build(orders, Streams(seed)("outreach"))
    table = pa.Table.from_pandas(rows, preserve_index=False).cast(pa.schema([
        ("user_id", pa.string()), ("sent_at", pa.timestamp("ms", tz="UTC")), ("campaign", pa.string()), ("group", pa.string())]))
    pq.write_table(table, Path(folder) / "outreach.parquet")
    return {"order_process": order_process_truth(), "outreach": campaign}
