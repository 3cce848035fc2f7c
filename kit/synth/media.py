"""Paid media: daily spend with independent flights (dark flights included), and the weekly adstock + Hill response.

The planted process, per paid channel c and week w (weeks start on Monday, local dates):
    s_w   = spend in the week (sum of the daily ad_spend rows)
    a_w   = s_w + θ_c · a_{w-1},  a_0 = s_0                      (geometric adstock)
    I_w   = β_c · a_w^k / (a_w^k + K_c^k)                       (Hill saturation, shape k)
I_w is the expected incremental GMV of week w; it is spread evenly over the week's seven days and
realised as orders caused by c. β_c is solved so that the expected two-year ROAS equals the plan.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from kit.synth import plan


def hill(adstocked: np.ndarray, half_saturation: float, shape: float) -> np.ndarray:
    """Hill saturation of adstocked spend: 0.5 at ``half_saturation``."""
    ratio = np.power(np.maximum(adstocked, 0.0) / half_saturation, shape)
    return ratio / (1.0 + ratio)


def adstock(weekly_spend: np.ndarray, theta: float) -> np.ndarray:
    """Geometric adstock of weekly spend with carry-over ``theta``."""
    out = np.empty_like(weekly_spend, dtype=float)
    carry = 0.0
    for w, spend in enumerate(weekly_spend):
        carry = spend + theta * carry
        out[w] = carry
    return out


def marginal_roas(mean_weekly_spend: float, theta: float, half_saturation: float, shape: float, beta: float) -> float:
    """Steady-state d(weekly GMV)/d(weekly spend) at a constant weekly spend (carry-over included)."""
    a = mean_weekly_spend / (1.0 - theta)
    x = a / half_saturation
    d_hill_da = shape * x ** (shape - 1) / half_saturation / (1.0 + x ** shape) ** 2
    return float(beta * d_hill_da / (1.0 - theta))


def _flight_pattern(rng: np.random.Generator, weeks: int) -> np.ndarray:
    """Weekly multipliers around 1 (0.3×–2×): level shifts in blocks of 3–9 weeks, pulses, dark weeks."""
    levels = np.empty(weeks)
    w = 0
    while w < weeks:
        length = int(rng.integers(3, 10))
        levels[w:w + length] = np.exp(rng.uniform(np.log(0.35), np.log(1.9)))
        w += length
    pulses = rng.random(weeks) < 0.08
    levels[pulses] *= 1.6
    dark = rng.random(weeks) < 0.04
    levels[dark] *= 0.4
    levels *= np.exp(rng.normal(0.0, 0.08, weeks))
    return levels


def _stretch(pattern: np.ndarray) -> np.ndarray:
    """Mean-1 pattern whose range reaches below 0.45× and above 1.7× (within 0.3×–2×)."""
    logs = np.log(pattern) - np.log(pattern).mean()
    for _ in range(60):
        out = np.exp(logs)
        out = np.clip(out / out.mean(), 0.3, 2.0)
        out /= out.mean()
        if out.min() < 0.45 and out.max() > 1.7:
            break
        logs *= 1.05
    return out


def blocked_weeks(n_weeks: int) -> np.ndarray:
    """Weeks no dark flight may touch: every promotion window (presale start to end, plus the
    ``plan.DARK_PROMO_BUFFER_DAYS`` after it for all but member days), the first weeks (the adstock
    starts there) and the last two weeks (the last one is partial)."""
    blocked = np.zeros(n_weeks, dtype=bool)
    blocked[: plan.DARK_FIRST_WEEK] = True
    blocked[-2:] = True
    for year in (plan.START.year, plan.END.year):
        for promo in plan.PROMOS:
            opens = dt.date(year, *(promo.presale_from or promo.start))
            buffer = 0 if promo.kind == "member_day" else plan.DARK_PROMO_BUFFER_DAYS
            closes = dt.date(year, *promo.end) + dt.timedelta(days=buffer)
            first, last = (opens - plan.START).days // 7, (closes - plan.START).days // 7
            blocked[max(first, 0): min(last, n_weeks - 1) + 1] = True
    return blocked


def _dark_flights(rng: np.random.Generator, n_weeks: int, blocked: np.ndarray, others_dark: np.ndarray) -> np.ndarray:
    """Dark (zero-spend) flights of one channel: ``plan.DARK_FLIGHTS`` flights of ``plan.DARK_WEEKS`` weeks
    each, on weeks outside ``blocked``, ≥ ``plan.DARK_MIN_GAP_WEEKS`` lit weeks apart, in both years.
    ``others_dark`` counts the channels already dark per week: a flight goes where no other channel is
    dark if it can, and never where ``plan.DARK_MAX_CHANNELS`` already are."""
    lo, hi = plan.DARK_FLIGHTS
    n_flights = int(rng.integers(lo, hi + 1))
    for _attempt in range(2000):
        lengths = rng.choice(np.arange(plan.DARK_WEEKS[0], plan.DARK_WEEKS[1] + 1), size=n_flights, p=plan.DARK_WEEKS_P)
        dark = np.zeros(n_weeks, dtype=bool)
        ok = True
        for length in lengths:
            free = [w for w in range(n_weeks - length + 1)
                    if not (blocked[w:w + length].any() or (others_dark[w:w + length] >= plan.DARK_MAX_CHANNELS).any()
                            or dark[max(w - plan.DARK_MIN_GAP_WEEKS, 0): w + length + plan.DARK_MIN_GAP_WEEKS].any())]
            if not free:
                ok = False
                break
            alone = [w for w in free if not others_dark[w:w + length].any()]   # no other channel dark there
            w = int(rng.choice(alone or free))
            dark[w:w + length] = True
        half = n_weeks // 2
        if ok and dark[:half].any() and dark[half:].any():
            return dark
    raise RuntimeError("could not place the dark flights")  # pragma: no cover


@dataclass
class MediaPlan:
    """Spend per channel and day, and the incremental GMV it causes."""

    daily_spend: np.ndarray          # [channel, day], rounded to the cent
    weekly_spend: np.ndarray         # [channel, week]
    weekly_adstock: np.ndarray
    weekly_incremental: np.ndarray   # expected incremental GMV I_w
    daily_incremental: np.ndarray    # [channel, day] = I_w / 7
    half_saturation: np.ndarray
    beta: np.ndarray
    impressions: np.ndarray
    clicks: np.ndarray
    max_abs_correlation: float
    dark_weeks: np.ndarray           # [channel, week] True = no spend (a dark flight)


def build(rng: np.random.Generator, n_days: int, year_of_day: np.ndarray, scale: float) -> MediaPlan:
    """The media plan of ``n_days`` days at ``scale``."""
    n_weeks = (n_days + 6) // 7
    channels = plan.PAID
    year_of_week = year_of_day[np.minimum(np.arange(n_weeks) * 7, n_days - 1)]
    blocked = blocked_weeks(n_weeks)
    # Draw flight patterns until every pair of weekly spend series is nearly uncorrelated (< 0.3).
    # Each channel goes dark (zero spend) for a few flights of 1–3 weeks, at its own times, off the
    # promotion weeks: weeks without spend show the response near zero, which pins down the curve's
    # level (ROAS = GMV / spend) and the carry-over (how the response decays after spend stops).
    for _attempt in range(500):
        weekly = np.empty((len(channels), n_weeks))
        dark = np.zeros((len(channels), n_weeks), dtype=bool)
        for i, name in enumerate(channels):
            m = plan.MEDIA[name]
            level = np.where(year_of_week == 0, 1.0, m.growth_2025) * m.mean_weekly_spend_2024 * scale
            pattern = _flight_pattern(rng, n_weeks)
            dark[i] = _dark_flights(rng, n_weeks, blocked, dark[:i].sum(axis=0))
            for y in (0, 1):
                sel = year_of_week == y
                lit = sel & ~dark[i]
                # Lit weeks vary as before around their mean; the year's mean spend stays the planned level.
                pattern[lit] = _stretch(pattern[lit]) * sel.sum() / lit.sum()
            pattern[dark[i]] = 0.0
            weekly[i] = level * pattern
        corr = np.corrcoef(weekly)
        max_corr = float(np.max(np.abs(corr[np.triu_indices(len(channels), 1)])))
        if max_corr < 0.25:
            break
    else:  # pragma: no cover - the seed space makes this practically unreachable
        raise RuntimeError("could not draw weakly correlated spend flights")

    # Daily spend: each week's spend spread over its days with random weights, rounded to the cent.
    weights = rng.gamma(20.0, 1.0, size=(len(channels), n_weeks * 7))
    weights = weights.reshape(len(channels), n_weeks, 7)
    weights /= weights.sum(axis=2, keepdims=True)
    daily = np.round((weekly[:, :, None] * weights).reshape(len(channels), -1)[:, :n_days], 2)
    # The model runs on the weekly sums of what was actually spent (the last week is partial:
    # its remaining days fall after the data ends and are spent as planned).
    weekly_spent = np.round((weekly[:, :, None] * weights).reshape(len(channels), -1), 2).reshape(len(channels), n_weeks, 7).sum(axis=2)

    half = np.empty(len(channels))
    beta = np.empty(len(channels))
    stock = np.empty_like(weekly_spent)
    incr = np.empty_like(weekly_spent)
    for i, name in enumerate(channels):
        m = plan.MEDIA[name]
        stock[i] = adstock(weekly_spent[i], m.adstock)
        half[i] = m.half_saturation_ratio * stock[i].mean()
        response = hill(stock[i], half[i], m.shape)
        beta[i] = m.target_true_roas * weekly_spent[i].sum() / response.sum()
        incr[i] = beta[i] * response
    daily_incr = np.repeat(incr / 7.0, 7, axis=1)[:, :n_days]

    cpm = np.array([plan.MEDIA[c].cpm for c in channels])[:, None]
    ctr = np.array([plan.MEDIA[c].click_rate for c in channels])[:, None]
    impressions = np.round(daily / cpm * 1000.0 * np.exp(rng.normal(0, 0.08, daily.shape))).astype(np.int64)
    clicks = rng.binomial(impressions, np.clip(ctr * np.exp(rng.normal(0, 0.1, daily.shape)), 0, 1)).astype(np.int64)
    return MediaPlan(daily, weekly_spent, stock, incr, daily_incr, half, beta, impressions, clicks, max_corr, dark)
