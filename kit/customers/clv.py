"""Customer lifetime value: BG/NBD (purchases and drop-out) and Gamma-Gamma (spend), by maximum likelihood.

Definitions are the literature's (Fader, Hardie & Lee 2005, "Counting your customers the easy way";
Fader & Hardie 2013, "The Gamma-Gamma model of monetary value"):

- purchases on one day are one purchase (their values summed);
- ``frequency`` x = repeat purchases (days with a purchase after the first one);
- ``recency`` t_x = time from the first to the last purchase, ``T`` = time from the first purchase
  to the end of observation, both in ``freq`` units (days / 1 or / 7, continuous);
- ``monetary_value`` = mean value of the repeat purchases (0 for a customer without any).

The per-customer summary is computed in the engine (one group-by over the orders); only one row
per customer reaches Python, where scipy maximises the likelihoods (customers with the same
(x, t_x, T) are fitted once, with their count as a weight).
"""
from __future__ import annotations

import datetime as _dt

import ibis
import numpy as np
import pandas as pd
from scipy import optimize, special

from kit.contract import require_columns
from kit.results import Result

FREQ_DAYS = {"D": 1.0, "W": 7.0}
SUMMARY_COLUMNS = ["user_id", "frequency", "recency", "T", "monetary_value"]


def _as_table(orders):
    return ibis.memtable(orders) if isinstance(orders, pd.DataFrame) else orders


def _day_number(day):
    # days since 1970-01-01 of a date expression (the same on every engine)
    return day.cast("timestamp").epoch_seconds() // 86400


def rfm_summary(orders, observation_end, freq: str = "W", *, user="user_id", time="paid_at", value="gmv",
                start=None, later: str = "error") -> pd.DataFrame:
    """One row per customer: ``user_id, frequency, recency, T, monetary_value`` (see the module docstring).

    ``orders``: an Ibis table or pandas frame with a customer, a timestamp and a value column (the
    contract's ``orders``: ``user_id``, ``paid_at``, ``gmv``; filter refunds before if wanted).
    ``observation_end``: the last day observed (inclusive). ``start``: ignore orders before this day.
    Orders after ``observation_end`` raise a ``ValueError`` (``later="error"``) or are left out
    (``later="drop"``, e.g. to summarise a calibration period).
    """
    if freq not in FREQ_DAYS:
        raise ValueError(f"freq must be one of {sorted(FREQ_DAYS)} (days or weeks), got {freq!r}")
    if later not in ("error", "drop"):
        raise ValueError(f"later must be 'error' or 'drop', got {later!r}")
    t = _as_table(orders)
    require_columns(t, {user: "the customer", time: "when the order was paid", value: "the order's value"}, "rfm_summary: orders")
    end = pd.Timestamp(observation_end).date()
    t = t.select(user=t[user].cast("string"), day=t[time].date(), value=t[value].cast("float64"))
    if start is not None:
        t = t.filter(t.day >= pd.Timestamp(start).date())
    if later == "error":
        after = t.filter(t.day > end)
        count = int(after.count().execute())
        if count:
            example = after.order_by([after.day, after.user]).limit(1).execute().iloc[0]
            raise ValueError(f"rfm_summary: {count:,} orders are after the observation end {end} (example: {user}="
                             f"{example['user']!r} on {example['day']}); pass later='drop' to leave them out, "
                             "or an observation_end on or after the last order")
    t = t.filter(t.day <= end)
    days = t.group_by(["user", "day"]).aggregate(value=t.value.sum())
    days = days.mutate(n=_day_number(days.day), first=_day_number(days.day).min().over(group_by=days.user))
    end_n = (end - _dt.date(1970, 1, 1)).days
    per = days.group_by("user").aggregate(
        frequency=days.count() - 1,
        recency=(days.n.max() - days.first.min()),
        T=(end_n - days.first.min()),
        repeat_value=(days.n != days.first).ifelse(days.value, 0.0).sum(),
    )
    frame = per.order_by("user").execute()
    if frame.empty:
        raise ValueError(f"rfm_summary: no orders on or before the observation end {end}")
    scale = FREQ_DAYS[freq]
    out = pd.DataFrame({
        "user_id": frame["user"].astype(str),
        "frequency": frame["frequency"].astype("int64"),
        "recency": frame["recency"].astype(float) / scale,
        "T": frame["T"].astype(float) / scale,
    })
    out["monetary_value"] = np.where(out["frequency"] > 0, frame["repeat_value"] / out["frequency"].clip(lower=1), 0.0)
    out.attrs.update(freq=freq, observation_end=str(end))
    return out


# --------------------------------------------------------------------------------------------
# BG/NBD

def _distinct(x):
    # the gamma functions depend on x alone: evaluate them once per distinct x (ux[at] == x)
    return np.unique(x, return_inverse=True)


def _bgnbd_terms(params, x, tx, T, distinct=None):
    # per-row log-likelihood (FHL 2005, eq. 6) and its gradient in (r, alpha, a, b)
    r, alpha, a, b = params
    ux, at = distinct or _distinct(x)
    lead = (special.gammaln(r + ux) - special.gammaln(r) + r * np.log(alpha) + special.gammaln(a + b)
            + special.gammaln(b + ux) - special.gammaln(b) - special.gammaln(a + b + ux))[at]
    repeat = ux > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        drop = np.where(repeat, np.log(a) - np.log(np.maximum(b + ux - 1, 1e-300)), -np.inf)[at]
    a3 = -(r + x) * np.log(alpha + T)
    a4 = drop - (r + x) * np.log(alpha + tx)
    both = np.logaddexp(a3, a4)
    w3, w4 = np.exp(a3 - both), np.exp(a4 - both)  # the two terms' shares of the likelihood
    d_r = (special.digamma(r + ux) - special.digamma(r))[at] + np.log(alpha) - w3 * np.log(alpha + T) - w4 * np.log(alpha + tx)
    d_alpha = r / alpha - (r + x) * (w3 / (alpha + T) + w4 / (alpha + tx))
    ab = (special.digamma(a + b) - special.digamma(a + b + ux))[at]
    with np.errstate(divide="ignore"):
        d_a = ab + w4 / a
        d_b = ab + (special.digamma(b + ux) - special.digamma(b))[at] - w4 * np.where(repeat, 1 / np.maximum(b + ux - 1, 1e-300), 0.0)[at]
    return lead + both, np.stack([d_r, d_alpha, d_a, d_b])


def bgnbd_loglik(params, x, tx, T, weights=None, *, gradient: bool = False):
    """BG/NBD log-likelihood of (x, t_x, T) at params (r, alpha, a, b) (FHL 2005, eq. 6); with
    ``gradient=True`` also its gradient in (r, alpha, a, b)."""
    x, tx, T = (np.asarray(v, dtype=float) for v in (x, tx, T))
    ll, grad = _bgnbd_terms(params, x, tx, T)
    w = np.ones_like(ll) if weights is None else np.asarray(weights, float)
    return (float((ll * w).sum()), (grad * w).sum(axis=1)) if gradient else float((ll * w).sum())


def _newton_polish(objective, z, steps: int = 20):
    # Newton steps on the analytic gradient: L-BFGS-B stops where the objective stops moving (~1e-6
    # relative in the parameters), which lets inputs that differ in their last bits (another
    # engine's float sums) move shown digits; Newton ends where the gradient is zero to rounding, so
    # such inputs give parameters equal to ~1e-14. The Hessian (central differences of the gradient)
    # is taken once at L-BFGS-B's end: that near the optimum it converges as fast, at one gradient a step.
    f, g = objective(z)
    h = np.empty((len(z), len(z)))
    for i in range(len(z)):
        e = np.zeros_like(z)
        e[i] = 1e-5
        h[:, i] = (objective(z + e)[1] - objective(z - e)[1]) / 2e-5
    h = (h + h.T) / 2
    if not np.all(np.isfinite(h)) or np.linalg.eigvalsh(h).min() <= 0:
        return z, f   # not a strict minimum in reach: keep L-BFGS-B's point
    for _ in range(steps):
        step = np.linalg.solve(h, g)
        f_new, g_new = objective(z - step)
        if not (np.isfinite(f_new) and np.max(np.abs(g_new)) < np.max(np.abs(g))):
            break
        z, f, g = z - step, f_new, g_new
        if np.max(np.abs(step)) < 1e-13:
            break
    return z, f


def _fit(objective, start, names):
    # Log parameters keep them positive. L-BFGS-B on the analytic gradient, then Newton to the end.
    best = optimize.minimize(objective, np.log(start), jac=True, method="L-BFGS-B",
                             options={"maxiter": 2000})
    if not np.isfinite(best.fun):
        raise ValueError(f"the {names} likelihood could not be maximised (non-finite at every point tried)")
    z, f = _newton_polish(objective, best.x)
    return dict(zip(names, np.exp(z))), -f


def _grouped(summary: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return summary.groupby(columns, sort=True).size().rename("weight").reset_index()


def fit_bgnbd(summary: pd.DataFrame) -> tuple[dict, float]:
    """Maximum-likelihood BG/NBD parameters {r, alpha, a, b} and the log-likelihood."""
    g = _grouped(summary, ["frequency", "recency", "T"])
    x, tx, T, w = (g[c].to_numpy(float) for c in ("frequency", "recency", "T", "weight"))
    scale = float(np.mean(T)) or 1.0

    distinct, share = _distinct(x), w / w.sum()

    # Sums as numpy reductions, not BLAS products: a matrix-vector product of this size wakes
    # OpenBLAS's threads, whose spinning after it made the whole fit 4x slower on a busy 2-core machine.
    def negll(logp):
        ll, grad = _bgnbd_terms(np.exp(logp), x, tx, T, distinct)
        return -float((ll * share).sum()), -(grad * share).sum(axis=1) * np.exp(logp)

    params, ll = _fit(negll, [1.0, scale, 1.0, 1.0], ["r", "alpha", "a", "b"])
    return params, ll * w.sum()


def _gamma_gamma_terms(params, x, mean, distinct=None, logs=None):
    # per-row log-likelihood (Fader & Hardie 2013) and its gradient in (p, q, v)
    p, q, v = params
    ux, at = distinct or _distinct(x)
    log_x, log_mean = logs or (np.log(x), np.log(mean))
    lead = (special.gammaln(p * ux + q) - special.gammaln(p * ux) - special.gammaln(q) + p * ux * np.log(ux))[at]
    spent = np.log(v + x * mean)
    ll = lead + q * np.log(v) + (p * x - 1) * log_mean - (p * x + q) * spent
    psi = special.digamma(p * ux + q)[at]
    grad = np.stack([x * (psi - special.digamma(p * ux)[at] + log_x + log_mean - spent),
                     psi - special.digamma(q) + np.log(v) - spent,
                     q / v - (p * x + q) / (v + x * mean)])
    return ll, grad


def gamma_gamma_loglik(params, x, mean, weights=None, *, gradient: bool = False):
    """Gamma-Gamma log-likelihood of the repeat customers' mean spend at (p, q, v) (Fader & Hardie 2013);
    with ``gradient=True`` also its gradient in (p, q, v)."""
    x, mean = np.asarray(x, float), np.asarray(mean, float)
    ll, grad = _gamma_gamma_terms(params, x, mean)
    w = np.ones_like(ll) if weights is None else np.asarray(weights, float)
    return (float((ll * w).sum()), (grad * w).sum(axis=1)) if gradient else float((ll * w).sum())


def fit_gamma_gamma(summary: pd.DataFrame) -> tuple[dict, float]:
    """Maximum-likelihood Gamma-Gamma parameters {p, q, v} on the customers with repeat purchases of
    positive mean spend (the model is of positive amounts; real exports hold free or fully refunded
    repeat orders: those customers are left out of the fit and counted by :func:`fit_clv`)."""
    rep = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    if rep.empty:
        raise ValueError("Gamma-Gamma: no customer has a repeat purchase of positive value, so there is no repeat "
                         "spend to fit")
    x, m = rep["frequency"].to_numpy(float), rep["monetary_value"].to_numpy(float)

    distinct, logs = _distinct(x), (np.log(x), np.log(m))

    def negll(logp):
        ll, grad = _gamma_gamma_terms(np.exp(logp), x, m, distinct, logs)
        return -ll.mean(), -grad.mean(axis=1) * np.exp(logp)

    params, ll = _fit(negll, [1.0, 1.0, float(np.mean(m))], ["p", "q", "v"])
    return params, ll * len(x)


# --------------------------------------------------------------------------------------------
# Predictions

def expected_purchases(params: dict, t, x, tx, T) -> np.ndarray:
    """E[purchases in (T, T + t] | x, t_x, T] under BG/NBD (FHL 2005, eq. 10)."""
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    t, x, tx, T = (np.asarray(v, dtype=float) for v in (t, x, tx, T))
    z = t / (alpha + T + t)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    head = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
    return head * probability_alive(params, x, tx, T)


def probability_alive(params: dict, x, tx, T) -> np.ndarray:
    """P(still a customer at T | x, t_x, T) under BG/NBD (FHL 2005, eq. 11)."""
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    x, tx, T = (np.asarray(v, dtype=float) for v in (x, tx, T))
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = np.where(x > 0, a / np.maximum(b + x - 1, 1e-300) * ((alpha + T) / (alpha + tx)) ** (r + x), 0.0)
    return 1.0 / (1.0 + odds)


def expected_spend(params: dict, x, mean) -> np.ndarray:
    """E[value of a purchase | x repeat purchases of mean value ``mean``] under Gamma-Gamma."""
    p, q, v = (params[k] for k in ("p", "q", "v"))
    x, mean = np.asarray(x, float), np.asarray(mean, float)
    return (v + x * mean) * p / (p * x + q - 1)


class CLVFit(Result):
    """Fitted BG/NBD and Gamma-Gamma models: ``.bgnbd_params``, ``.gamma_gamma_params``, ``.customers()``."""

    title = "Customer lifetime value: BG/NBD + Gamma-Gamma (maximum likelihood)"

    def __init__(self, summary: pd.DataFrame, bgnbd_params: dict, bgnbd_ll: float,
                 gamma_gamma_params: dict | None, gamma_gamma_ll: float | None):
        self.summary = summary
        self.bgnbd_params = bgnbd_params
        self.bgnbd_loglik = bgnbd_ll
        self.gamma_gamma_params = gamma_gamma_params
        self.gamma_gamma_loglik = gamma_gamma_ll
        self.freq = summary.attrs.get("freq", "W")
        self.gamma_gamma_left_out = 0  # repeat customers without positive mean spend (not in the Gamma-Gamma fit)

    def to_pandas(self) -> pd.DataFrame:
        """The parameters, one row each, with their model."""
        rows = [("BG/NBD", k, v) for k, v in self.bgnbd_params.items()]
        rows += [("Gamma-Gamma", k, v) for k, v in (self.gamma_gamma_params or {}).items()]
        return pd.DataFrame(rows, columns=["model", "parameter", "value"])

    def customers(self, horizon: float = 52.0, discount_rate: float = 0.0, steps: int = 12) -> pd.DataFrame:
        """Per customer: expected purchases over ``horizon`` (``freq`` units), P(alive), expected spend
        per purchase and CLV = Σ over ``steps`` equal slices of the horizon of the slice's expected
        purchases × expected spend / (1 + discount_rate)^k (``discount_rate`` per slice)."""
        s = self.summary
        x, tx, T = s["frequency"], s["recency"], s["T"]
        out = s[["user_id"]].copy()
        spent = x.where(s["monetary_value"] > 0, 0)  # no positive repeat spend: the population's mean spend
        out["expected_purchases"] = expected_purchases(self.bgnbd_params, horizon, x, tx, T)
        out["p_alive"] = probability_alive(self.bgnbd_params, x, tx, T)
        if self.gamma_gamma_params is None:
            out["expected_spend"] = np.nan
        else:
            out["expected_spend"] = expected_spend(self.gamma_gamma_params, spent, s["monetary_value"].where(spent > 0, 0.0))
        cumulative = [np.zeros(len(s))] + [expected_purchases(self.bgnbd_params, horizon * k / steps, x, tx, T)
                                           for k in range(1, steps + 1)]
        discounted = sum((cumulative[k] - cumulative[k - 1]) / (1 + discount_rate) ** k for k in range(1, steps + 1))
        out["clv"] = discounted * out["expected_spend"]
        return out

    def holdout(self, actual: pd.DataFrame, duration: float, max_frequency: int = 7) -> pd.DataFrame:
        """Predicted against actual purchases in the ``duration`` after calibration, by calibration
        frequency (frequencies ≥ ``max_frequency`` pooled). ``actual``: ``user_id, purchases``."""
        s = self.summary.merge(actual[["user_id", "purchases"]], on="user_id", how="left").fillna({"purchases": 0})
        s["predicted"] = expected_purchases(self.bgnbd_params, duration, s["frequency"], s["recency"], s["T"])
        s["frequency_group"] = s["frequency"].clip(upper=max_frequency)
        return (s.groupby("frequency_group").agg(customers=("user_id", "size"), actual=("purchases", "mean"),
                                                 predicted=("predicted", "mean")).reset_index())


def fit_clv(summary: pd.DataFrame) -> CLVFit:
    """Fit BG/NBD on every customer and Gamma-Gamma on the repeat customers of an :func:`rfm_summary`."""
    require_columns(summary, SUMMARY_COLUMNS, "fit_clv: the summary (from kit.customers.rfm_summary)")
    if len(summary) < 2:
        raise ValueError(f"fit_clv: {len(summary)} customer(s); BG/NBD needs many customers to estimate their "
                         "heterogeneity (hundreds at least)")
    if (summary["frequency"] == 0).all():
        raise ValueError(f"fit_clv: none of the {len(summary):,} customers has a repeat purchase; BG/NBD cannot "
                         "separate purchase rate from drop-out without repeat purchases")
    bad = summary[(summary["recency"] > summary["T"]) | (summary["recency"] < 0) | (summary["frequency"] < 0)]
    if len(bad):
        row = bad.iloc[0]
        raise ValueError(f"fit_clv: {len(bad):,} rows break 0 ≤ recency ≤ T, frequency ≥ 0 (example: user_id="
                         f"{row['user_id']!r}, frequency={row['frequency']}, recency={row['recency']}, T={row['T']})")
    bg, bg_ll = fit_bgnbd(summary)
    gg, gg_ll = fit_gamma_gamma(summary)
    fit = CLVFit(summary, bg, bg_ll, gg, gg_ll)
    fit.gamma_gamma_left_out = int(((summary["frequency"] > 0) & (summary["monetary_value"] <= 0)).sum())
    return fit
