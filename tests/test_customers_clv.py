"""BG/NBD and Gamma-Gamma: the published CDNOW fits, a simulation with known truth, bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

import kit.customers as kc
from kit.customers import clv

# Fader, Hardie & Lee (2005), CDNOW 1/10 sample, calibration 1997-01-01 … 1997-09-30, weeks.
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_LL = -9582.4
# Fader & Hardie (2013), Gamma-Gamma on the 946 repeat customers' mean spend.
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "v": 15.44}


@pytest.fixture(scope="module")
def cdnow():
    datasets = pytest.importorskip("kit.datasets")
    try:
        purchases = datasets.read_cdnow(sample=True)
    except FileNotFoundError as error:
        pytest.skip(str(error))
    return purchases.rename(columns={"customer_id": "user_id", "date": "paid_at", "dollars": "gmv"})


@pytest.fixture(scope="module")
def cdnow_fit(cdnow):
    summary = kc.rfm_summary(cdnow, "1997-09-30", later="drop")
    return summary, kc.fit_clv(summary)


def test_cdnow_summary_matches_the_paper(cdnow_fit):
    summary, _ = cdnow_fit
    assert len(summary) == 2357
    assert (summary["frequency"] > 0).sum() == 946
    # customer 00004 (the first of the file): purchases 1997-01-01, -01-18, -08-02, -12-12 (the last after calibration)
    row = summary.set_index("user_id").loc["00004"]
    assert row["frequency"] == 2 and row["recency"] == pytest.approx(213 / 7) and row["T"] == pytest.approx(272 / 7)
    assert row["monetary_value"] == pytest.approx((29.73 + 14.96) / 2)


def test_cdnow_bgnbd_matches_published_fit(cdnow_fit):
    _, fit = cdnow_fit
    for name, value in PUBLISHED_BGNBD.items():
        assert fit.bgnbd_params[name] == pytest.approx(value, abs=0.0015), name
    assert fit.bgnbd_loglik == pytest.approx(PUBLISHED_LL, abs=0.1)


def test_cdnow_gamma_gamma_matches_published_fit(cdnow_fit):
    _, fit = cdnow_fit
    for name, value in PUBLISHED_GG.items():
        assert fit.gamma_gamma_params[name] == pytest.approx(value, abs=0.01), name


def test_cdnow_holdout_39_weeks(cdnow, cdnow_fit):
    # Predicted (conditional expectation) against actual purchases in weeks 40-78 by calibration
    # frequency: 1,653 predicted against 1,882 purchase days made (-12%); each group rises with frequency.
    summary, fit = cdnow_fit
    later = cdnow[(cdnow["paid_at"] > "1997-09-30") & (cdnow["paid_at"] <= "1998-06-30")]
    actual = later.groupby("user_id")["paid_at"].nunique().rename("purchases").reset_index()
    check = fit.holdout(actual, duration=39)
    total_actual = (check["actual"] * check["customers"]).sum()
    total_predicted = (check["predicted"] * check["customers"]).sum()
    assert total_actual == later.groupby("user_id")["paid_at"].nunique().sum()
    assert abs(total_predicted / total_actual - 1) < 0.15
    assert (check["predicted"].diff().dropna() > 0).all() and (check["actual"].diff().dropna() > 0).all()
    row = summary.set_index("user_id").loc["00004"]
    assert check["customers"].sum() == len(summary)
    assert clv.expected_purchases(fit.bgnbd_params, 39, row["frequency"], row["recency"], row["T"]) > 0


def test_predictions_against_direct_integration():
    params = {"r": 0.5, "alpha": 5.0, "a": 0.8, "b": 2.5}
    x, tx, T, t = 3, 20.0, 35.0, 26.0
    # P(alive): the posterior odds of the drop-out branch, written out
    alive = clv.probability_alive(params, x, tx, T)
    odds = params["a"] / (params["b"] + x - 1) * ((params["alpha"] + T) / (params["alpha"] + tx)) ** (params["r"] + x)
    assert alive == pytest.approx(1 / (1 + odds))
    # E[Y(t)] = P(alive) x E[(1 - exp(-lambda p t)) / p] over the posteriors lambda ~ Gamma(r + x, alpha + T)
    # and p ~ Beta(a, b + x); the lambda expectation is closed-form, the p one is integrated numerically.
    r_post, a_post = params["r"] + x, params["alpha"] + T
    def integrand(p):
        return (1 - (a_post / (a_post + p * t)) ** r_post) / p * stats.beta(params["a"], params["b"] + x).pdf(p)
    expected = integrate.quad(integrand, 0, 1, limit=200)[0] * alive
    assert clv.expected_purchases(params, t, x, tx, T) == pytest.approx(expected, rel=1e-4)


def _simulate_bgnbd(n, r, alpha, a, b, rng):
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    T = rng.uniform(20, 52, n)
    x = np.zeros(n, int)
    tx = np.zeros(n)
    alive = np.ones(n, bool)
    clock = np.zeros(n)
    while alive.any():
        clock[alive] += rng.exponential(1 / lam[alive])
        bought = alive & (clock <= T)
        x[bought] += 1
        tx[bought] = clock[bought]
        alive = bought & (rng.random(n) >= p)
    return pd.DataFrame({"user_id": [f"u{i}" for i in range(n)], "frequency": x, "recency": tx, "T": T})


def test_bgnbd_recovers_simulated_truth():
    truth = {"r": 0.6, "alpha": 6.0, "a": 0.7, "b": 3.0}
    summary = _simulate_bgnbd(60_000, *truth.values(), np.random.default_rng(7))
    params, _ = clv.fit_bgnbd(summary)
    for name, value in truth.items():
        assert params[name] == pytest.approx(value, rel=0.12), name


def test_gamma_gamma_recovers_simulated_truth():
    truth = {"p": 4.0, "q": 5.0, "v": 60.0}
    rng = np.random.default_rng(11)
    n = 20_000
    x = rng.integers(1, 8, n)
    nu = rng.gamma(truth["q"], 1 / truth["v"], n)
    spend = rng.gamma(truth["p"] * x, 1 / nu) / x   # the mean of x Gamma(p, nu) purchases
    summary = pd.DataFrame({"user_id": [f"u{i}" for i in range(n)], "frequency": x, "recency": 1.0, "T": 2.0,
                            "monetary_value": spend})
    params, _ = clv.fit_gamma_gamma(summary)
    for name, value in truth.items():
        assert params[name] == pytest.approx(value, rel=0.1), name


def test_gradients_against_finite_differences(cdnow_fit):
    # the analytic gradients the fits use, against central differences of the log-likelihood
    summary, _ = cdnow_fit
    x, tx, T = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    rep = summary[summary["frequency"] > 0]
    xr, m = rep["frequency"].to_numpy(float), rep["monetary_value"].to_numpy(float)
    cases = [(lambda q: clv.bgnbd_loglik(q, x, tx, T), lambda q: clv.bgnbd_loglik(q, x, tx, T, gradient=True)[1],
              [[0.243, 4.414, 0.793, 2.426], [1.5, 0.8, 0.2, 6.0]]),
             (lambda q: clv.gamma_gamma_loglik(q, xr, m), lambda q: clv.gamma_gamma_loglik(q, xr, m, gradient=True)[1],
              [[6.25, 3.74, 15.44], [1.2, 9.0, 80.0]])]
    for value, gradient, points in cases:
        for point in points:
            point = np.asarray(point)
            steps = np.diag(1e-5 * point)
            numeric = np.array([(value(point + h) - value(point - h)) / (2 * h.max()) for h in steps])
            np.testing.assert_allclose(gradient(point), numeric, rtol=1e-6, atol=1e-4)


def test_fits_do_not_hang_on_last_bits():
    # Another engine sums order values in another order: inputs equal to ~1e-16. The fitted
    # parameters (and so every shown CLV digit) must not move beyond ~1e-12 for that.
    rng = np.random.default_rng(3)
    summary = _simulate_bgnbd(20_000, 0.6, 6.0, 0.7, 3.0, rng)
    summary["monetary_value"] = np.where(summary["frequency"] > 0, rng.gamma(5.0, 10.0, len(summary)), 0.0)
    nudged = summary.assign(monetary_value=summary["monetary_value"] * (1 + rng.uniform(-2e-16, 2e-16, len(summary))),
                            recency=np.minimum(summary["recency"] * (1 + rng.uniform(-2e-16, 2e-16, len(summary))), summary["T"]))
    a, b = clv.fit_clv(summary), clv.fit_clv(nudged)
    for name in a.bgnbd_params:
        assert a.bgnbd_params[name] == pytest.approx(b.bgnbd_params[name], rel=1e-12), name
    for name in a.gamma_gamma_params:
        assert a.gamma_gamma_params[name] == pytest.approx(b.gamma_gamma_params[name], rel=1e-12), name


def test_rfm_summary_against_pandas():
    rng = np.random.default_rng(3)
    n = 3000
    orders = pd.DataFrame({"user_id": [f"c{i:03d}" for i in rng.integers(0, 400, n)],
                           "paid_at": pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.uniform(0, 300, n), unit="D").floor("s"),
                           "gmv": rng.gamma(2.0, 50.0, n).round(2)})
    end = pd.Timestamp("2025-10-27")
    got = kc.rfm_summary(orders, end, freq="D").set_index("user_id")
    days = orders.assign(day=orders["paid_at"].dt.normalize()).groupby(["user_id", "day"])["gmv"].sum().reset_index()
    for user, g in days.groupby("user_id"):
        g = g.sort_values("day")
        first = g["day"].iloc[0]
        row = got.loc[user]
        assert row["frequency"] == len(g) - 1
        assert row["recency"] == (g["day"].iloc[-1] - first).days
        assert row["T"] == (end - first).days
        assert row["monetary_value"] == pytest.approx(g["gmv"].iloc[1:].mean() if len(g) > 1 else 0.0)
    weeks = kc.rfm_summary(orders, end, freq="W").set_index("user_id")
    assert np.allclose(weeks["T"], got["T"] / 7)


def test_bad_input_is_named():
    orders = pd.DataFrame({"user_id": ["a", "a", "b"], "paid_at": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01"]),
                           "gmv": [10.0, 20.0, 5.0]})
    with pytest.raises(ValueError, match=r"1 orders are after the observation end 2025-02-15 \(example: user_id='b'"):
        kc.rfm_summary(orders, "2025-02-15")
    assert len(kc.rfm_summary(orders, "2025-02-15", later="drop")) == 1
    with pytest.raises(ValueError, match="no orders on or before the observation end 2024-12-31"):
        kc.rfm_summary(orders, "2024-12-31", later="drop")
    with pytest.raises(ValueError, match="'gmv' is missing"):
        kc.rfm_summary(orders.drop(columns="gmv"), "2025-12-31")
    with pytest.raises(ValueError, match="freq must be one of"):
        kc.rfm_summary(orders, "2025-12-31", freq="M")
    one = kc.rfm_summary(orders[orders.user_id == "a"], "2025-12-31")
    with pytest.raises(ValueError, match="1 customer"):
        kc.fit_clv(one)
    none_repeat = kc.rfm_summary(orders.drop_duplicates("user_id"), "2025-12-31")
    with pytest.raises(ValueError, match="none of the 2 customers has a repeat purchase"):
        kc.fit_clv(none_repeat)
    broken = kc.rfm_summary(orders, "2025-12-31").assign(recency=[400.0, 0.0])
    with pytest.raises(ValueError, match="0 ≤ recency ≤ T.*user_id='a'"):
        kc.fit_clv(broken)
