"""The sample generator: plans expected orders, realises them as sessions, events and orders.

Pipeline (all randomness from numpy ``Generator(PCG64)`` streams keyed by (seed, stream name, month)):
1. media.build: daily spend per paid channel and the weekly adstock/Hill incremental GMV.
2. demand.build: baseline orders per day and category, with the promotions' multipliers.
3. Order *streams*: expected orders per (day, category, last-touch channel, cause, user pool).
   A stream with λ expected orders gets Poisson(λ / c̄) sessions, where c̄ is the exact expected
   session conversion of that day, channel and pool; each session then runs the planted funnel,
   so the stream's expected orders are exactly λ.
4. Month by month: sessions get users, start times, devices and funnel outcomes; 2025 sessions get
   their event log; experiments modify the sessions of exposed users; Parquet parts are written.
5. Orders, items, users, experiments, promotions, ad spend; then the truths (kit.synth.truth).
"""
from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from kit.synth import demand as demand_mod
from kit.synth import media as media_mod
from kit.synth import plan
from kit.synth.io import UTC_MS, ParquetOut, id_array

SLOT_HOURS = 3
N_SLOTS = 8
SLOT_WEIGHTS = np.array([0.05, 0.02, 0.06, 0.13, 0.17, 0.16, 0.19, 0.22])
EVENT_NAMES = ("home_view", "search", "recommend_click", "pdp_view", "pdp_scroll", "add_to_cart", "checkout", "pay")
EV = {name: i for i, name in enumerate(EVENT_NAMES)}
GAP_CAP_S = {"pdp_view": 240.0, "add_to_cart": 720.0, "checkout": 300.0, "pay": 520.0}
NO_TIME = np.iinfo(np.int64).max


class Streams:
    """Independent random streams: the same (seed, name, part) always gives the same numbers."""

    def __init__(self, seed: int):
        self.seed = int(seed)

    def __call__(self, name: str, part: int = 0) -> np.random.Generator:
        key = zlib.crc32(name.encode("utf-8"))
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, key, int(part)])))


@dataclass
class Calendar:
    """The generated days with their year, month and quarter."""

    dates: list
    n_days: int
    year: np.ndarray          # 0 = 2024, 1 = 2025
    month: np.ndarray         # 0..23
    quarter: list             # label per day
    peak: np.ndarray          # Double 11 event days (payment congestion)
    epoch_local_s: int        # seconds from 1970-01-01 to START local midnight, as if UTC

    @classmethod
    def build(cls) -> "Calendar":
        n = (plan.END - plan.START).days + 1
        dates = [plan.START + dt.timedelta(days=t) for t in range(n)]
        year = np.array([d.year - plan.START.year for d in dates])
        month = np.array([(d.year - plan.START.year) * 12 + d.month - 1 for d in dates])
        quarter = [f"{d.year}Q{(d.month - 1) // 3 + 1}" for d in dates]
        peak = np.array([d.month == 11 and d.day <= 11 for d in dates])
        epoch = (plan.START - dt.date(1970, 1, 1)).days * 86400
        return cls(dates, n, year, month, quarter, peak, epoch)

    def utc_ms(self, local_seconds: np.ndarray) -> np.ndarray:
        """Local seconds since START → UTC milliseconds since the epoch (int64)."""
        return np.round((local_seconds + self.epoch_local_s - plan.UTC_OFFSET_HOURS * 3600) * 1e3).astype(np.int64)


@dataclass
class Users:
    """The generated users: signup, membership, tier."""

    n: int
    signup_day: np.ndarray        # day index (negative = before 2024), sorted ascending
    signup_s: np.ndarray          # local seconds since START
    member: np.ndarray
    tier: np.ndarray              # -1 = not a member
    activity: np.ndarray
    engagement: np.ndarray
    cart_propensity: np.ndarray
    cum_all: np.ndarray
    member_ids: np.ndarray
    cum_members: np.ndarray
    first_channel: np.ndarray = field(default=None)


def build_users(rng: np.random.Generator, n_days: int, scale: float) -> Users:
    """Draw the users for ``n_days`` days at ``scale``."""
    n = int(round(plan.USERS * scale))
    n_old = int(round(n * plan.USERS_BEFORE_2024))
    old_days = rng.integers(-730, 0, n_old)
    # New signups rise with the demand trend.
    density = plan.YEARLY_GROWTH ** (np.arange(n_days) / 365.25)
    new_days = rng.choice(n_days, size=n - n_old, p=density / density.sum())
    signup_day = np.sort(np.concatenate([old_days, new_days]))
    signup_s = signup_day * 86400.0 + rng.uniform(0, 86400, n)
    member = rng.random(n) < plan.MEMBER_SHARE
    tier = np.where(member, rng.choice(len(plan.MEMBER_TIERS), size=n, p=plan.MEMBER_TIER_P), -1)
    activity = rng.gamma(plan.ACTIVITY_SHAPE, 1.0 / plan.ACTIVITY_SHAPE, n) * np.where(member, plan.MEMBER_ACTIVITY, 1.0)
    engagement = np.exp(rng.normal(-plan.ENGAGEMENT_SIGMA ** 2 / 2, plan.ENGAGEMENT_SIGMA, n))
    propensity = np.minimum(np.exp(rng.normal(-plan.CART_PROPENSITY_SIGMA ** 2 / 2, plan.CART_PROPENSITY_SIGMA, n)), 4.0)
    member_ids = np.flatnonzero(member)
    return Users(n, signup_day, signup_s, member, tier, activity, engagement, propensity,
                 np.cumsum(activity), member_ids, np.cumsum(activity[member_ids]),
                 np.full(n, -1, dtype=np.int64))


# ---------------------------------------------------------------------------------------------
# Funnel probabilities


def step_rates(device: np.ndarray, channel: np.ndarray, new: np.ndarray, peak: np.ndarray,
               propensity: np.ndarray | float = 1.0) -> np.ndarray:
    """[4, n] per-session step probabilities (pdp_view, add_to_cart, checkout, pay).

    ``propensity`` (the user's persistent cart propensity, ≤ 4) scales add_to_cart; no rate ever
    reaches the 0.98 cap, so expected conversion stays linear in it.
    """
    dev_f = np.array([plan.DEVICE_FACTOR[d] for d in plan.DEVICES]).T          # [4, device]
    ch_f = np.array([plan.CHANNEL_CART_FACTOR[c] for c in plan.CHANNELS])
    base = np.asarray(plan.BASE_STEP_RATE)[:, None]
    new_f = np.where(new[None, :], np.asarray(plan.NEW_FACTOR)[:, None], np.asarray(plan.RETURNING_FACTOR)[:, None])
    rates = base * dev_f[:, device] * new_f
    rates[1] *= ch_f[channel] * propensity
    rates[3] *= np.where(peak, plan.PEAK_PAY_FACTOR, 1.0)
    return np.minimum(rates, 0.98)


def expected_conversion(cal: Calendar, users: Users) -> np.ndarray:
    """[day, channel, pool] exact expected P(pay) of a session (pool 0 = all users, 1 = members)."""
    n_days = cal.n_days
    days = np.arange(n_days)
    out = np.zeros((n_days, len(plan.CHANNELS), 2))
    for pool in (0, 1):
        ids = np.arange(users.n) if pool == 0 else users.member_ids
        sig = users.signup_day[ids]
        cum = np.r_[0.0, np.cumsum(users.activity[ids])]
        cum_prop = np.r_[0.0, np.cumsum(users.activity[ids] * users.cart_propensity[ids])]
        n_elig = np.searchsorted(sig, days, side="left")
        n_old = np.searchsorted(sig, days - plan.NEW_CUSTOMER_DAYS + 1, side="left")
        total, older = cum[n_elig], cum[n_old]
        p_new = (total - older) / total
        # Activity-weighted mean cart propensity of the users a session can be drawn from.
        prop_new = np.where(total > older, (cum_prop[n_elig] - cum_prop[n_old]) / np.maximum(total - older, 1e-300), 1.0)
        prop_old = cum_prop[n_old] / np.maximum(older, 1e-300)
        for c, ch in enumerate(plan.CHANNELS):
            mix = plan.DEVICE_MIX[ch]
            for d in range(len(plan.DEVICES)):
                if mix[d] == 0:
                    continue
                for is_new, weight, prop in ((True, p_new, prop_new), (False, 1 - p_new, prop_old)):
                    r = step_rates(np.full(n_days, d), np.full(n_days, c), np.full(n_days, is_new), cal.peak, prop)
                    out[:, c, pool] += mix[d] * weight * r.prod(axis=0)
    return out


# ---------------------------------------------------------------------------------------------
# Streams of expected orders


@dataclass
class Cells:
    """Orders to draw per (day, category, channel, cause, pool) cell."""

    day: np.ndarray
    category: np.ndarray
    channel: np.ndarray
    cause: np.ndarray         # 0 = baseline/promotion demand; 1 + i = caused by paid channel PAID[i]
    pool: np.ndarray          # 0 = all users, 1 = members only
    presale: np.ndarray       # promotion index of a presale order, else -1
    value_mult: np.ndarray
    orders: np.ndarray        # expected orders λ


def build_cells(cal: Calendar, dem: demand_mod.Demand, med: media_mod.MediaPlan) -> Cells:
    """The order cells from the calendar, the demand and the media plan."""
    share = np.asarray(plan.CATEGORY_ORDER_SHARE)
    mean_value = float(np.dot(share, plan.CATEGORY_MEAN_GMV))
    ch_index = {c: i for i, c in enumerate(plan.CHANNELS)}
    base_share = np.array([plan.BASE_CHANNEL_SHARE[c] for c in plan.CHANNELS])
    base_share = base_share / base_share.sum()
    parts = []
    n_days, n_cat = cal.n_days, len(plan.CATEGORIES)
    t_grid, k_grid = np.meshgrid(np.arange(n_days), np.arange(n_cat), indexing="ij")

    def add(day, cat, channel_probs, cause, pool, presale, vmult, lam):
        day, cat, lam = np.ravel(day), np.ravel(cat), np.ravel(lam)
        vmult = np.broadcast_to(vmult, lam.shape).ravel()
        for c, pr in enumerate(channel_probs):
            if pr <= 0:
                continue
            parts.append((day, cat, np.full(day.size, c), np.full(day.size, cause), np.full(day.size, pool),
                          np.full(day.size, presale), vmult, lam * pr))

    regular = dem.base[:, None] * share[None, :] * dem.count_mult
    add(t_grid, k_grid, base_share, 0, 0, -1, dem.value_mult.ravel(), regular)
    for p, t, k, lam in dem.presale:
        add([t], [k], base_share, 0, 0, p, dem.instances[p].spec.value_uplift, [lam])
    for p, t, k, lam in dem.member_extra:
        add([t], [k], base_share, 0, 1, -1, 1.0, [lam])
    for i, name in enumerate(plan.PAID):
        m = plan.MEDIA[name]
        probs = np.zeros(len(plan.CHANNELS))
        probs[ch_index[name]] += m.last_touch_self
        for other, w in plan.REROUTE.items():
            probs[ch_index[other]] += (1 - m.last_touch_self) * w
        lam = (med.daily_incremental[i] / mean_value)[:, None] * share[None, :]
        add(t_grid, k_grid, probs, i + 1, 0, -1, 1.0, lam)
    cols = [np.concatenate([p[j] for p in parts]) for j in range(8)]
    keep = cols[7] > 0
    return Cells(*(c[keep] for c in cols[:7]), cols[7][keep])


# ---------------------------------------------------------------------------------------------
# Experiments


@dataclass
class ExperimentState:
    """One planted experiment: its window, every user's arm and first exposure."""

    spec: plan.Experiment
    start_day: int
    end_day: int
    arm: np.ndarray                  # [user] arm index (0 = control), assigned to every user
    exposure_s: np.ndarray           # [user] local seconds of the first pdp view in the window (inf = never)
    exposure_session_s: np.ndarray   # [user] start of the exposure session
    ctr_mult: np.ndarray             # [arm] multiplier of expected add-to-carts
    pay_factor: np.ndarray           # [arm] checkout→pay multiplier
    acc: dict = field(default_factory=dict)

    @classmethod
    def build(cls, spec: plan.Experiment, rng: np.random.Generator, n_users: int) -> "ExperimentState":
        arms = spec.arms
        acc = {name: np.zeros(n_users) for name in (
            "views", "carts", "base_carts", "orders", "revenue", "pre_views", "pre_carts",
            "log_noconv_control", "log_noconv_treated", "expected_revenue_control")}
        return cls(spec, demand_mod.day_index(spec.start), demand_mod.day_index(spec.end),
                   rng.integers(0, len(arms), n_users).astype(np.int16),
                   np.full(n_users, np.inf), np.full(n_users, np.inf),
                   np.array([1.0 + spec.ctr_lift.get(a, 0.0) for a in arms]),
                   np.array([spec.pay_factor.get(a, 1.0) for a in arms]), acc)


# ---------------------------------------------------------------------------------------------
# Month by month


def _lognormal_gap(rng: np.random.Generator, median: np.ndarray | float, cap: float, n: int) -> np.ndarray:
    return np.minimum(np.exp(np.log(median) + plan.GAP_SIGMA * rng.normal(size=n)), cap)


def _ranks_within(keys: np.ndarray) -> np.ndarray:
    """Rank of each element among equal keys (keys sorted)."""
    n = keys.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[True, keys[1:] != keys[:-1]]
    group_start = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    return np.arange(n) - group_start


class Run:
    """State shared across months: users, experiments, accumulators for the truths."""

    def __init__(self, seed: int, scale: float, out: ParquetOut, progress=None):
        self.streams = Streams(seed)
        self.scale = scale
        self.out = out
        self.progress = progress
        self.cal = Calendar.build()
        self.media = media_mod.build(self.streams("media"), self.cal.n_days, self.cal.year, scale)
        self.demand = demand_mod.build(self.cal.n_days, scale)
        self.users = build_users(self.streams("users"), self.cal.n_days, scale)
        self.conversion = expected_conversion(self.cal, self.users)
        self.cells = build_cells(self.cal, self.demand, self.media)
        self.experiments = [ExperimentState.build(e, self.streams("assign:" + e.experiment_id), self.users.n)
                            for e in plan.EXPERIMENTS]
        n_users = self.users.n
        self.user_width = max(7, len(str(n_users)))
        expected_sessions = float((self.cells.orders / self.conversion[self.cells.day, self.cells.channel, self.cells.pool]).sum())
        self.session_width = max(7, len(str(int(expected_sessions * 1.01) + 10)))
        self.session_offset = 0
        self.prev_keys = np.zeros(0, dtype=np.int64)
        self.funnel = {}              # (quarter, dimension, value) -> [sum p (4), count (4)]
        self.views_by_screen = np.zeros(plan.MAX_SCREEN + 1, dtype=np.int64)
        self.quarter_of_day = np.array([int(q[5]) - 1 if q.startswith("2025") else -1 for q in self.cal.quarter])
        self.sku_category = np.repeat(np.arange(len(plan.CATEGORIES)), plan.SKUS_PER_CATEGORY)
        self.orders: list[dict] = []
        self.counts = {"sessions": 0, "events": 0, "touchpoints": 0}
        self.visitors = np.zeros((8, n_users), dtype=bool)          # [year*4 + quarter, user]
        self.sessions_by_quarter = np.zeros((8, 2), dtype=np.int64)   # [quarter, is_paid]

    # -- sessions -------------------------------------------------------------------------
    def _sessions(self, m: int, rng: np.random.Generator) -> dict:
        cells, cal, users = self.cells, self.cal, self.users
        sel = np.flatnonzero(cal.month[cells.day] == m)
        conv = self.conversion[cells.day[sel], cells.channel[sel], cells.pool[sel]]
        counts = rng.poisson(cells.orders[sel] / conv)
        idx = np.repeat(sel, counts)
        s = {"day": cells.day[idx], "category": cells.category[idx], "channel": cells.channel[idx],
             "cause": cells.cause[idx], "pool": cells.pool[idx], "presale": cells.presale[idx],
             "value_mult": cells.value_mult[idx]}
        n = idx.size
        # Users: drawn by activity among those who signed up before that day (members for member-day lift).
        user = np.empty(n, dtype=np.int64)

        def draw(mask):
            pos = np.flatnonzero(mask)
            members = s["pool"][pos] == 1
            for flag in (False, True):
                p = pos[members == flag]
                if p.size == 0:
                    continue
                sig = users.signup_day[users.member_ids] if flag else users.signup_day
                cum = users.cum_members if flag else users.cum_all
                n_elig = np.searchsorted(sig, s["day"][p], side="left")
                picked = np.searchsorted(cum, rng.random(p.size) * cum[n_elig - 1], side="right")
                picked = np.minimum(picked, n_elig - 1)
                user[p] = users.member_ids[picked] if flag else picked

        draw(np.ones(n, dtype=bool))
        # At most one session per user and 3-hour slot: redraw the rare overflow beyond 8 a day.
        for _ in range(50):
            order = np.lexsort((s["day"], user))
            key = user[order] * 1024 + s["day"][order]
            rank = np.empty(n, dtype=np.int64)
            rank[order] = _ranks_within(key)
            overflow = rank >= N_SLOTS
            if not overflow.any():
                break
            draw(overflow)
        s["user"] = user
        order = np.lexsort((s["day"], user))
        key = user[order] * 1024 + s["day"][order]
        first = np.r_[True, key[1:] != key[:-1]]
        group = np.cumsum(first) - 1
        slot0 = rng.choice(N_SLOTS, size=int(group[-1]) + 1 if n else 0, p=SLOT_WEIGHTS / SLOT_WEIGHTS.sum())
        slot = np.empty(n, dtype=np.int64)
        slot[order] = (slot0[group] + 3 * _ranks_within(key)) % N_SLOTS
        start = s["day"] * 86400.0 + slot * SLOT_HOURS * 3600.0 + rng.uniform(0, 3600.0, n)
        start = np.round(start, 3)
        chrono = np.argsort(start, kind="stable")
        s = {k: v[chrono] for k, v in s.items()}
        s["start"] = start[chrono]
        n = s["start"].size
        mix = np.array([plan.DEVICE_MIX[c] for c in plan.CHANNELS])
        cum_mix = np.cumsum(mix, axis=1)
        u = rng.random(n)
        s["device"] = np.minimum((u[:, None] > cum_mix[s["channel"]]).sum(axis=1), len(plan.DEVICES) - 1)
        s["new"] = (s["day"] - users.signup_day[s["user"]]) < plan.NEW_CUSTOMER_DAYS
        s["peak"] = cal.peak[s["day"]]
        return s

    # -- one month ------------------------------------------------------------------------
    def month(self, m: int) -> None:
        rng = self.streams("sessions", m)
        cal, users = self.cal, self.users
        s = self._sessions(m, rng)
        n = s["start"].size
        p = step_rates(s["device"], s["channel"], s["new"], s["peak"], users.cart_propensity[s["user"]])
        o1 = rng.random(n) < p[0]
        g1 = _lognormal_gap(rng, plan.GAP_MEDIAN_S["pdp_view"], GAP_CAP_S["pdp_view"], n)
        pdp_s = s["start"] + g1

        # Experiments: exposure = first pdp view in the window; in-test = that session and later ones.
        in_test = []
        for e in self.experiments:
            window = (s["day"] >= e.start_day) & (s["day"] <= e.end_day)
            cand = np.flatnonzero(window & o1 & np.isinf(e.exposure_s[s["user"]]))
            if cand.size:
                uniq, first = np.unique(s["user"][cand], return_index=True)
                e.exposure_s[uniq] = pdp_s[cand[first]]
                e.exposure_session_s[uniq] = s["start"][cand[first]]
            test = window & (s["start"] >= e.exposure_session_s[s["user"]])
            arm = e.arm[s["user"]]
            p[3] = np.where(test, p[3] * e.pay_factor[arm], p[3])
            in_test.append((e, test, arm))

        o2 = o1 & (rng.random(n) < p[1])
        o3 = o2 & (rng.random(n) < p[2])
        o4 = o3 & (rng.random(n) < p[3])
        g2 = _lognormal_gap(rng, plan.GAP_MEDIAN_S["add_to_cart"], GAP_CAP_S["add_to_cart"], n)
        g3 = _lognormal_gap(rng, plan.GAP_MEDIAN_S["checkout"], GAP_CAP_S["checkout"], n)
        pay_median = np.where(s["peak"], plan.PEAK_PAY_GAP_MEDIAN_S, plan.GAP_MEDIAN_S["pay"])
        g4 = _lognormal_gap(rng, pay_median, GAP_CAP_S["pay"], n)
        base_carts = np.where(o2, 1 + rng.poisson(plan.EXTRA_CART_MEAN * users.cart_propensity[s["user"]]), 0)
        carts = base_carts.copy()
        for e, test, arm in in_test:
            lift = e.ctr_mult[arm] - 1.0
            extra = test & (lift > 0) & (base_carts > 0)
            if extra.any():
                carts[extra] += rng.poisson(lift[extra] * base_carts[extra])
        n_views = np.where(o1, 1 + rng.poisson(plan.PDP_EXTRA_VIEWS_MEAN * users.engagement[s["user"]]), 0)

        cart_s = pdp_s + g2
        checkout_s = cart_s + g3
        pay_s = checkout_s + g4

        # Session ids (chronological across months) and the sessions part.
        ids = self.session_offset + np.arange(n) + 1
        self.session_offset += n
        s["id"] = ids
        utc_start = cal.utc_ms(s["start"])
        is_paid = s["channel"] < len(plan.PAID)
        self.out.part("sessions", pa.table({
            "session_id": id_array("s", ids, self.session_width),
            "user_id": id_array("u", s["user"] + 1, self.user_width),
            "started_at": pa.array(utc_start, UTC_MS),
            "channel": _dict(plan.CHANNELS, s["channel"]),
            "is_paid": pa.array(is_paid),
            "device": _dict(plan.DEVICES, s["device"]),
        }))
        self.counts["sessions"] += n
        q8 = (m // 12) * 4 + (m % 12) // 3
        self.visitors[q8, s["user"]] = True
        self.sessions_by_quarter[q8] += np.bincount(is_paid.astype(np.int64), minlength=2)
        unset = np.flatnonzero(users.first_channel[s["user"]] < 0)
        if unset.size:
            uniq, first = np.unique(s["user"][unset], return_index=True)
            users.first_channel[uniq] = s["channel"][unset[first]]

        # Events (2025: clickstream retention) — also gives realised pdp views per session.
        first_cart_sku = np.full(n, -1, dtype=np.int64)
        views_real = n_views
        if n and cal.dates[int(s["day"][0])] >= plan.EVENTS_FROM:
            views_real, first_cart_sku = self._events(rng, s, o1, o2, o3, o4, g1, n_views, carts, cart_s, checkout_s, pay_s)
            self._funnel_truth(s, p, o1, o2, o3)

        # Experiment accumulators.
        mean_value = np.asarray(plan.CATEGORY_MEAN_GMV)[s["category"]] * s["value_mult"]
        for e, test, arm in in_test:
            u = s["user"][test]
            acc = e.acc
            np.add.at(acc["views"], u, views_real[test])
            np.add.at(acc["carts"], u, carts[test])
            np.add.at(acc["base_carts"], u, base_carts[test])
            p_control = o1[test] * p[1][test] * p[2][test] * (p[3][test] / e.pay_factor[arm[test]])
            treated_factor = float(min(e.pay_factor))
            np.add.at(acc["log_noconv_control"], u, np.log1p(-p_control))
            np.add.at(acc["log_noconv_treated"], u, np.log1p(-p_control * treated_factor))
            np.add.at(acc["expected_revenue_control"], u, p_control * mean_value[test])
            pre = (s["day"] >= e.start_day - 14) & (s["day"] < e.start_day)
            np.add.at(acc["pre_views"], s["user"][pre], views_real[pre])
            np.add.at(acc["pre_carts"], s["user"][pre], carts[pre])

        # Touchpoints.
        self._touchpoints(rng, s)

        # Orders of this month's sessions (values drawn at the end, from one stream).
        k = np.flatnonzero(o4)
        presale = s["presale"][k]
        paid = pay_s[k].copy()
        if (presale >= 0).any():
            ps = np.flatnonzero(presale >= 0)
            start_day = np.array([self.demand.instances[i].start for i in presale[ps]])
            # The balance is paid from midnight of the event's first day (most within the first hours).
            paid[ps] = start_day * 86400.0 + np.minimum(rng.exponential(3 * 3600.0, ps.size), 20 * 3600.0)
        self.orders.append({
            "session": s["id"][k], "user": s["user"][k], "paid_s": np.round(paid, 3), "channel": s["channel"][k],
            "category": s["category"][k], "cause": s["cause"][k], "presale": presale, "value_mult": s["value_mult"][k],
            "sku": first_cart_sku[k], "pool": s["pool"][k],
        })
        self.prev_keys = s["user"] * 10 ** 8 + np.floor(s["start"]).astype(np.int64)
        self.prev_keys.sort()

    # -- funnel truth ---------------------------------------------------------------------
    def _funnel_truth(self, s, p, o1, o2, o3) -> None:
        q = self.quarter_of_day[s["day"]]
        at_step = np.vstack([np.ones_like(o1), o1, o2, o3]).astype(float)     # sessions at the previous step
        dims = {"all": np.zeros(q.size, dtype=np.int64), "device": s["device"], "channel": s["channel"],
                "customer": s["new"].astype(np.int64)}
        for dim, values in dims.items():
            for quarter in np.unique(q):
                mask = q == quarter
                for v in np.unique(values[mask]):
                    sel = mask & (values == v)
                    key = (int(quarter), dim, int(v))
                    sums = (p[:, sel] * at_step[:, sel]).sum(axis=1)
                    cnts = at_step[:, sel].sum(axis=1)
                    old = self.funnel.get(key)
                    self.funnel[key] = (sums, cnts) if old is None else (old[0] + sums, old[1] + cnts)

    # -- events ---------------------------------------------------------------------------
    def _events(self, rng, s, o1, o2, o3, o4, g1, n_views, carts, cart_s, checkout_s, pay_s):
        n = s["start"].size
        start = s["start"]
        # Views: screens reached per view, durations, start times; views starting too late are not shown.
        view_sess = np.repeat(np.arange(n), n_views)
        v = view_sess.size
        cont = np.asarray(plan.SCREEN_CONTINUE)
        screens = 1 + np.cumprod(rng.random((v, plan.MAX_SCREEN - 1)) < cont[None, :], axis=1).sum(axis=1)
        duration = 7.0 * screens + np.exp(np.log(12.0) + 0.5 * rng.normal(size=v))
        csum = np.cumsum(duration)
        first_view = np.r_[0, np.cumsum(n_views)[:-1]]
        before = csum - duration - np.repeat((csum - duration)[first_view[n_views > 0]] if v else np.zeros(0), n_views[n_views > 0])
        view_t = (g1[view_sess] + before) if v else np.zeros(0)
        keep = view_t <= plan.SESSION_MAX_S - 7.0 * plan.MAX_SCREEN
        view_sess, screens, view_t = view_sess[keep], screens[keep], view_t[keep]
        v = view_sess.size
        in_cat = rng.random(v) < 0.8
        cat = np.where(in_cat, s["category"][view_sess], rng.integers(0, len(plan.CATEGORIES), v))
        sku = cat * plan.SKUS_PER_CATEGORY + rng.integers(0, plan.SKUS_PER_CATEGORY, v)
        np.add.at(self.views_by_screen, screens, 1)
        views_real = np.bincount(view_sess, minlength=n)

        # Carts: the first at pdp + g2, extra ones later; each on the last product viewed before it.
        view_key = view_sess * 10_000.0 + view_t
        cart_sess = np.repeat(np.arange(n), carts)
        first_cart = np.r_[True, cart_sess[1:] != cart_sess[:-1]] if cart_sess.size else np.zeros(0, bool)
        cart_t = np.where(first_cart, cart_s[cart_sess] - start[cart_sess],
                          np.minimum(cart_s[cart_sess] - start[cart_sess] + rng.uniform(5, 300, cart_sess.size), plan.SESSION_MAX_S))
        which_view = np.searchsorted(view_key, cart_sess * 10_000.0 + cart_t, side="right") - 1
        # The product carted first is of the session's category (it becomes the order's first line).
        fv = which_view[first_cart]
        wrong = self.sku_category[sku[fv]] != s["category"][cart_sess[first_cart]]
        sku[fv[wrong]] = s["category"][cart_sess[first_cart]][wrong] * plan.SKUS_PER_CATEGORY + rng.integers(0, plan.SKUS_PER_CATEGORY, int(wrong.sum()))
        cart_sku = sku[which_view]
        first_cart_sku = np.full(n, -1, dtype=np.int64)
        first_cart_sku[cart_sess[first_cart]] = cart_sku[first_cart]

        # Search / recommendation clicks before the detail page (or instead of it).
        search = rng.random(n) < plan.PRE_PDP_SEARCH
        recommend = rng.random(n) < plan.PRE_PDP_RECOMMEND
        lead = np.where(o1, g1, np.minimum(np.exp(np.log(20.0) + 0.6 * rng.normal(size=n)), 600.0))
        search_t = lead * rng.uniform(0.1, 0.5, n)
        recommend_t = lead * rng.uniform(0.55, 0.95, n)

        scroll_view = np.repeat(np.arange(v), screens - 1)
        scroll_screen = (np.arange(scroll_view.size) - np.repeat(np.r_[0, np.cumsum(screens - 1)[:-1]], screens - 1)) + 2
        scroll_t = view_t[scroll_view] + 7.0 * (scroll_screen - 1) + rng.uniform(0.5, 6.5, scroll_view.size)

        home = np.arange(n)
        sr, rc = np.flatnonzero(search), np.flatnonzero(recommend)
        ck, py = np.flatnonzero(o3), np.flatnonzero(o4)
        sess = np.concatenate([home, sr, rc, view_sess, view_sess[scroll_view], cart_sess, ck, py])
        t_rel = np.concatenate([np.zeros(n), search_t[sr], recommend_t[rc], view_t, scroll_t, cart_t,
                                checkout_s[ck] - start[ck], pay_s[py] - start[py]])
        code = np.concatenate([np.full(n, EV["home_view"]), np.full(sr.size, EV["search"]), np.full(rc.size, EV["recommend_click"]),
                               np.full(v, EV["pdp_view"]), np.full(scroll_view.size, EV["pdp_scroll"]),
                               np.full(cart_sess.size, EV["add_to_cart"]), np.full(ck.size, EV["checkout"]), np.full(py.size, EV["pay"])])
        ev_sku = np.concatenate([np.full(n + sr.size + rc.size, -1), sku, sku[scroll_view], cart_sku, np.full(ck.size + py.size, -1)])
        screen = np.concatenate([np.zeros(n + sr.size + rc.size, dtype=np.int64), np.ones(v, dtype=np.int64), scroll_screen,
                                 np.zeros(cart_sess.size + ck.size + py.size, dtype=np.int64)])
        t_abs = np.round(start[sess] + t_rel, 3)
        order = np.lexsort((code, t_abs, sess))
        sess, t_abs, code, ev_sku, screen = sess[order], t_abs[order], code[order], ev_sku[order], screen[order]
        self.out.part("events", pa.table({
            "user_id": id_array("u", s["user"][sess] + 1, self.user_width),
            "session_id": id_array("s", s["id"][sess], self.session_width),
            "ts": pa.array(self.cal.utc_ms(t_abs), UTC_MS),
            "event": _dict(EVENT_NAMES, code),
            "sku_id": id_array("k", np.maximum(ev_sku, 0) + 1, 5, null=ev_sku < 0),
            "screen": pa.array(screen.astype(np.int16), pa.int16(), mask=screen == 0),
        }))
        self.counts["events"] += int(sess.size)
        return views_real, first_cart_sku

    # -- touchpoints ----------------------------------------------------------------------
    def _touchpoints(self, rng, s) -> None:
        n = s["start"].size
        channel_index = {c: i for i, c in enumerate(plan.CHANNELS)}
        cause_channel = np.where(s["cause"] > 0, s["cause"] - 1, -1)        # PAID index = CHANNELS index
        rerouted = (cause_channel >= 0) & (cause_channel != s["channel"])
        repeat_self = (cause_channel >= 0) & ~rerouted & (rng.random(n) < 0.3)
        early = rng.random(n) < 0.12
        early_pool = np.array([channel_index["xiaohongshu"], channel_index["douyin"], channel_index["feed_ads"]])
        early_channel = early_pool[rng.choice(3, n, p=[0.40, 0.35, 0.25])]
        extra_user = np.concatenate([s["user"][rerouted | repeat_self], s["user"][early]])
        extra_channel = np.concatenate([cause_channel[rerouted | repeat_self], early_channel[early]])
        anchor = np.concatenate([s["start"][rerouted | repeat_self], s["start"][early]])
        extra_t = np.round(anchor - rng.uniform(3600.0, 20 * 86400.0, anchor.size), 3)
        # A touch must not land inside a session (it would become that session's last touch).
        cur_keys = np.sort(s["user"] * 10 ** 8 + np.floor(s["start"]).astype(np.int64))
        keys = np.sort(np.concatenate([self.prev_keys, cur_keys]))
        tkey = extra_user * 10 ** 8 + np.floor(extra_t).astype(np.int64)
        pos = np.searchsorted(keys, tkey, side="right") - 1
        prev = keys[np.maximum(pos, 0)]
        clash = (pos >= 0) & (prev // 10 ** 8 == extra_user) & (tkey - prev <= 1800)
        ok = ~clash & (extra_t >= 0)
        user = np.concatenate([s["user"], extra_user[ok]])
        t = np.concatenate([s["start"], extra_t[ok]])
        channel = np.concatenate([s["channel"], extra_channel[ok]])
        order = np.lexsort((channel, t, user))
        self.out.part("touchpoints", pa.table({
            "user_id": id_array("u", user[order] + 1, self.user_width),
            "ts": pa.array(self.cal.utc_ms(t[order]), UTC_MS),
            "channel": _dict(plan.CHANNELS, channel[order]),
        }))
        self.counts["touchpoints"] += int(user.size)


def _dict(names, codes) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(np.asarray(codes, dtype=np.int8)), pa.array(list(names), pa.string()))


# ---------------------------------------------------------------------------------------------
# Orders, items and the small tables


def _orders(run: Run) -> dict:
    """Concatenate the months' orders, draw values, discounts, promotions, refunds; write orders + items."""
    rng = run.streams("orders")
    o = {k: np.concatenate([part[k] for part in run.orders]) for k in run.orders[0]}
    order = np.lexsort((o["session"], o["paid_s"]))
    o = {k: v[order] for k, v in o.items()}
    n = o["session"].size
    o["id"] = np.arange(n) + 1
    o["day"] = np.floor(o["paid_s"] / 86400.0).astype(np.int64)
    mean = np.asarray(plan.CATEGORY_MEAN_GMV)[o["category"]] * o["value_mult"]
    sigma = plan.ORDER_VALUE_SIGMA
    o["gmv"] = np.round(mean * np.exp(rng.normal(-sigma ** 2 / 2, sigma, n)), 2)
    promo = run.demand.promo_of[o["day"], o["category"]]
    members_only = np.array([inst.spec.members_only for inst in run.demand.instances] + [False])
    promo = np.where(members_only[promo] & ~run.users.member[o["user"]], -1, promo)
    o["promo"] = promo
    rate = np.array([inst.spec.discount_rate for inst in run.demand.instances] + [0.0])[promo]
    discount = np.round(o["gmv"] * rate / (1 - rate), 2)
    threshold = np.array([inst.spec.threshold or 0.0 for inst in run.demand.instances] + [0.0])[promo]
    coupon = np.array([inst.spec.coupon or 0.0 for inst in run.demand.instances] + [0.0])[promo]
    is_coupon = (promo >= 0) & (coupon > 0)
    # 满1000减200: a list value (gmv + discount) of at least the threshold gets the fixed discount.
    discount = np.where(is_coupon, np.where(o["gmv"] + coupon >= threshold, coupon, 0.0), discount)
    o["discount"] = np.where(promo >= 0, discount, 0.0)
    refund_p = np.where(promo >= 0, plan.REFUND_RATE_PROMO, plan.REFUND_RATE)
    o["refunded"] = rng.random(n) < refund_p
    o["is_presale"] = o["presale"] >= 0
    promo_ids = [inst.promotion_id for inst in run.demand.instances]
    promo_col = pa.array([promo_ids[p] if p >= 0 else None for p in promo], pa.string())
    run.out.table("orders", pa.table({
        "order_id": id_array("o", o["id"], max(7, len(str(n)))),
        "user_id": id_array("u", o["user"] + 1, run.user_width),
        "session_id": id_array("s", o["session"], run.session_width),
        "paid_at": pa.array(run.cal.utc_ms(o["paid_s"]), UTC_MS),
        "gmv": pa.array(o["gmv"]),
        "discount": pa.array(o["discount"]),
        "channel": _dict(plan.CHANNELS, o["channel"]),
        "promotion_id": promo_col,
        "is_presale": pa.array(o["is_presale"]),
        "status": _dict(("paid", "refunded"), o["refunded"].astype(np.int8)),
    }))

    # Items: one category per order; the first line is the product carted in the session.
    lines = 1 + np.minimum(rng.poisson(0.3, n), 3)
    item_order = np.repeat(np.arange(n), lines)
    line_no = np.arange(item_order.size) - np.repeat(np.r_[0, np.cumsum(lines)[:-1]], lines)
    random_sku = o["category"][item_order] * plan.SKUS_PER_CATEGORY + rng.integers(0, plan.SKUS_PER_CATEGORY, item_order.size)
    first_sku = o["sku"][item_order]
    sku = np.where((line_no == 0) & (first_sku >= 0), first_sku, random_sku)
    qty = 1 + rng.poisson(0.15, item_order.size)
    weight = qty * rng.gamma(3.0, 1.0, item_order.size)
    total_w = np.bincount(item_order, weights=weight, minlength=n)
    amount = np.round(o["gmv"][item_order] * weight / total_w[item_order], 2)
    last = np.r_[line_no[1:] == 0, True]
    others = np.bincount(item_order, weights=np.where(last, 0.0, amount), minlength=n)
    amount = np.where(last, np.round(o["gmv"][item_order] - others[item_order], 2), amount)
    run.out.table("order_items", pa.table({
        "order_id": id_array("o", o["id"][item_order], max(7, len(str(n)))),
        "sku_id": id_array("k", sku + 1, 5),
        "category": _dict(plan.CATEGORIES, o["category"][item_order]),
        "qty": pa.array(qty.astype(np.int64)),
        "amount": pa.array(amount),
    }))
    return o


def _small_tables(run: Run) -> dict:
    cal, users, med = run.cal, run.users, run.media
    rng = run.streams("tables")
    # Users: acquisition channel = channel of the first session (or the baseline mix if none yet).
    base_share = np.array([plan.BASE_CHANNEL_SHARE[c] for c in plan.CHANNELS])
    fallback = rng.choice(len(plan.CHANNELS), size=users.n, p=base_share / base_share.sum())
    acquisition = np.where(users.first_channel >= 0, users.first_channel, fallback)
    tiers = pa.array([plan.MEMBER_TIERS[t] if t >= 0 else None for t in users.tier], pa.string())
    run.out.table("users", pa.table({
        "user_id": id_array("u", np.arange(users.n) + 1, run.user_width),
        "signup_at": pa.array(cal.utc_ms(np.round(users.signup_s, 3)), UTC_MS),
        "member_tier": tiers,
        "acquisition_channel": _dict(plan.CHANNELS, acquisition),
    }))

    # Ad spend: one row per (date, paid channel).
    n_days = cal.n_days
    dates = np.array(cal.dates, dtype="datetime64[D]")
    run.out.table("ad_spend", pa.table({
        "date": pa.array(np.tile(dates, len(plan.PAID)), pa.date32()),
        "channel": _dict(plan.CHANNELS, np.repeat(np.arange(len(plan.PAID)), n_days)),
        "spend": pa.array(med.daily_spend.ravel()),
        "impressions": pa.array(med.impressions.ravel()),
        "clicks": pa.array(med.clicks.ravel()),
    }))

    # Experiments: one row per exposed user; an SRM arm loses a share of its exposures from the log.
    exp_rows = {"experiment_id": [], "user": [], "variant": [], "first": []}
    logged = {}
    for e in run.experiments:
        exposed = np.flatnonzero(np.isfinite(e.exposure_s))
        keep = np.ones(exposed.size, dtype=bool)
        for arm_name, share in e.spec.lost_share.items():
            a = e.spec.arms.index(arm_name)
            in_arm = e.arm[exposed] == a
            keep &= ~(in_arm & (rng.random(exposed.size) < share))
        exposed = exposed[keep]
        logged[e.spec.experiment_id] = exposed
        exp_rows["experiment_id"] += [e.spec.experiment_id] * exposed.size
        exp_rows["user"].append(exposed)
        exp_rows["variant"].append(e.arm[exposed])
        exp_rows["first"].append(e.exposure_s[exposed])
    variant_names = sorted({a for e in plan.EXPERIMENTS for a in e.arms})
    arm_code = np.concatenate([np.array([variant_names.index(a) for a in e.spec.arms])[v]
                               for e, v in zip(run.experiments, exp_rows["variant"])])
    run.out.table("experiments", pa.table({
        "experiment_id": pa.array(exp_rows["experiment_id"], pa.string()),
        "user_id": id_array("u", np.concatenate(exp_rows["user"]) + 1, run.user_width),
        "variant": _dict(tuple(variant_names), arm_code),
        "first_exposure_at": pa.array(cal.utc_ms(np.round(np.concatenate(exp_rows["first"]), 3)), UTC_MS),
    }))

    # Promotions.
    inst = run.demand.instances
    run.out.table("promotions", pa.table({
        "promotion_id": pa.array([i.promotion_id for i in inst], pa.string()),
        "name": pa.array([i.spec.name for i in inst], pa.string()),
        "kind": pa.array([i.spec.kind for i in inst], pa.string()),
        "start": pa.array([cal.dates[i.start] for i in inst], pa.date32()),
        "end": pa.array([cal.dates[i.end] for i in inst], pa.date32()),
        "presale_start": pa.array([cal.dates[i.presale_start] if i.presale_start is not None else None for i in inst], pa.date32()),
        "categories": pa.array([",".join(i.spec.promoted) for i in inst], pa.string()),
        "threshold": pa.array([i.spec.threshold for i in inst], pa.float64()),
        "discount": pa.array([i.spec.coupon for i in inst], pa.float64()),
    }))
    return logged


def generate(out: Path, seed: int = plan.DEFAULT_SEED, scale: float = 1.0, progress: bool = True) -> dict:
    """Write the sample data set and truth.json into ``out``; returns the truth dict."""
    import json
    import shutil

    from kit.synth import outreach as outreach_mod
    from kit.synth import truth as truth_mod

    final = Path(out)
    # Build in a sibling folder and swap at the end, so readers never see half-written files.
    out = final.parent / f".{final.name}.partial"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    writer = ParquetOut(out)
    run = Run(seed, scale, writer)
    months = range(24)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(months) + 2, desc="kit synth", unit="step")
    for m in months:
        run.month(m)
        if bar:
            bar.update(1)
            bar.set_postfix(events=f"{run.counts['events']:,}")
    orders = _orders(run)
    logged = _small_tables(run)
    if bar:
        bar.update(1)
    truth = truth_mod.build(run, orders, logged, seed)
    truth["customers"] = outreach_mod.write(out, seed)
    truth["sizes"] = dict(sorted({**truth["sizes"], "outreach": sum(truth["customers"]["outreach"]["groups"].values())}.items()))
    (out / "truth.json").write_text(json.dumps(truth, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    if bar:
        bar.update(1)
        bar.close()
    _swap_into(out, final)
    return truth


def _swap_into(built: Path, final: Path) -> None:
    """Replace the generated entries of ``final`` by those of ``built`` (other files are kept)."""
    import shutil

    final.mkdir(parents=True, exist_ok=True)
    for name in ("sessions", "events", "touchpoints"):
        if (final / name).exists():
            shutil.rmtree(final / name)
    for entry in sorted(built.iterdir()):
        entry.replace(final / entry.name)
    built.rmdir()
