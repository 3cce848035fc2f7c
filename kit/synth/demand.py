"""Daily demand: a smooth common index per category, promotions on top, and the order streams.

Baseline orders of category k on day t: base(t) · share_k, where base(t) = level · trend(t) ·
weekday(t) · yearly(t) is shared by all categories (so unaffected categories are good controls).
Promotions multiply the *count* of baseline orders (lift, waiting dip, cannibalisation, pull-forward)
and their *value* (AOV uplift); presale orders are booked in the presale window and paid at the
event start. Media-caused orders (kit.synth.media) are added on top and are not touched by
promotions, so the weekly media model stays exactly additive.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from kit.synth import plan


@dataclass
class PromoInstance:
    """One promotion of the plan placed in one year (day indices)."""

    promotion_id: str
    spec: plan.Promo
    year: int
    start: int            # day index
    end: int              # day index (inclusive)
    presale_start: int | None
    promoted: np.ndarray  # category indices
    cannibalised: np.ndarray

    @property
    def start_date(self) -> dt.date:
        return plan.START + dt.timedelta(days=self.start)


@dataclass
class Demand:
    """Expected demand per day and category, with the promotions' effects."""

    base: np.ndarray              # [day] baseline orders (all categories)
    count_mult: np.ndarray        # [day, category] on regular baseline orders
    value_mult: np.ndarray        # [day, category]
    promo_of: np.ndarray          # [day, category] promotion index active in the event window, -1 none
    presale: list                 # (promo index, day, category, expected orders) paid at the promo start
    member_extra: list            # (promo index, day, category, expected orders) members only
    instances: list


def day_index(day: dt.date) -> int:
    """Days since the generator's first day."""
    return (day - plan.START).days


def build(n_days: int, scale: float) -> Demand:
    """The demand of ``n_days`` days at ``scale``."""
    days = np.arange(n_days)
    dates = np.array([plan.START + dt.timedelta(days=int(t)) for t in days])
    doy = np.array([d.timetuple().tm_yday for d in dates], dtype=float)
    weekday = np.asarray(plan.WEEKDAY_FACTOR)
    weekday = weekday / weekday.mean()
    yearly = np.ones(n_days)
    for k, (a, b) in enumerate(plan.YEARLY_FOURIER, start=1):
        yearly += a * np.cos(2 * np.pi * k * doy / 365.25) + b * np.sin(2 * np.pi * k * doy / 365.25)
    mid_2025 = day_index(dt.date(2025, 7, 2))
    trend = plan.YEARLY_GROWTH ** ((days - mid_2025) / 365.25)
    index = trend * weekday[days % 7] * yearly
    in_2025 = np.array([d.year == 2025 for d in dates])
    base = index / index[in_2025].mean() * plan.BASE_ORDERS_PER_DAY_2025 * scale

    n_cat = len(plan.CATEGORIES)
    share = np.asarray(plan.CATEGORY_ORDER_SHARE)
    count_mult = np.ones((n_days, n_cat))
    value_mult = np.ones((n_days, n_cat))
    promo_of = np.full((n_days, n_cat), -1)
    touched = np.zeros((n_days, n_cat), dtype=bool)   # any promotion effect (incl. pre/post windows)
    presale, member_extra, instances = [], [], []
    cat_index = {c: i for i, c in enumerate(plan.CATEGORIES)}

    for year in (2024, 2025):
        for spec in plan.PROMOS:
            start = day_index(dt.date(year, *spec.start))
            end = day_index(dt.date(year, *spec.end))
            pre = day_index(dt.date(year, *spec.presale_from)) if spec.presale_from else None
            promoted = np.array([cat_index[c] for c in spec.promoted])
            cannibalised = np.array([cat_index[c] for c in spec.cannibalised], dtype=int)
            p = len(instances)
            inst = PromoInstance(f"{year}_{spec.key}", spec, year, start, end, pre, promoted, cannibalised)
            instances.append(inst)
            event = np.arange(start, end + 1)
            window_lo = pre if pre is not None else start
            window = np.arange(window_lo, end + spec.post_days + 1)
            cats = np.concatenate([promoted, cannibalised])
            if touched[np.ix_(window, cats)].any():
                raise AssertionError(f"promotion windows overlap at {inst.promotion_id}")
            touched[np.ix_(window, cats)] = True
            promo_of[np.ix_(event, promoted)] = p
            if spec.members_only:
                for k in promoted:
                    for t in event:
                        member_extra.append((p, int(t), int(k), (spec.lift - 1.0) * base[t] * share[k]))
                continue
            count_mult[np.ix_(event, promoted)] = spec.lift
            value_mult[np.ix_(event, promoted)] = spec.value_uplift
            if len(cannibalised):
                count_mult[np.ix_(event, cannibalised)] = spec.cannibal
            if pre is not None:
                pre_days = np.arange(pre, start)
                count_mult[np.ix_(pre_days, promoted)] = spec.waiting_dip
                weights = base[pre_days] / base[pre_days].sum()
                for k in promoted:
                    # presale_share of the event's promoted baseline orders are booked in presale (on top
                    # of the regular event-day orders) and paid at the event start.
                    total = spec.presale_share / (1.0 - spec.presale_share) * spec.lift * base[event].sum() * share[k]
                    for t, w in zip(pre_days, weights):
                        presale.append((p, int(t), int(k), total * w))
            for j in range(1, spec.post_days + 1):
                t = end + j
                if t < n_days:
                    count_mult[t, promoted] = 1.0 - spec.pull_forward * np.exp(-(j - 1) / spec.decay_days)
    return Demand(base, count_mult, value_mult, promo_of, presale, member_extra, instances)
