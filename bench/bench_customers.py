"""Benchmark of kit.customers: RFM + cohorts on the sample, the CLV fit on 100k simulated customers,
the quarter's review (what notebook 05 runs), beside the machine gauge ``sum(i*i for i in range(10**7))``.

Run: ``.venv/bin/python bench/bench_customers.py [--runs 3]``; figures in bench/results/customers.md.
Goals (issue 21): RFM + cohorts ≤ 2 s, CLV fit on 100k customers ≤ 2 s, notebook 05 ≤ 10 s.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from measure import gauge

import kit
import kit.customers as kc
from kit.customers import clv


def simulated_summary(n: int, seed: int = 0) -> pd.DataFrame:
    """BG/NBD customers with weekly-rounded times (like an rfm_summary of real orders) and spend."""
    rng = np.random.default_rng(seed)
    lam, p = rng.gamma(0.6, 1 / 6.0, n), rng.beta(0.7, 3.0, n)
    T = np.round(rng.uniform(1, 52, n) * 7) / 7
    x, tx, clock, alive = np.zeros(n, int), np.zeros(n), np.zeros(n), np.ones(n, bool)
    while alive.any():
        clock[alive] += rng.exponential(1 / lam[alive])
        bought = alive & (clock <= T)
        x[bought] += 1
        tx[bought] = np.round(clock[bought] * 7) / 7
        alive = bought & (rng.random(n) >= p)
    nu = rng.gamma(5.0, 1 / 60.0, n)
    spend = np.where(x > 0, rng.gamma(4.0 * np.maximum(x, 1), 1 / nu) / np.maximum(x, 1), 0.0)
    return pd.DataFrame({"user_id": np.arange(n).astype(str), "frequency": x, "recency": tx, "T": T, "monetary_value": spend})


def timed(fn, runs: int) -> list[float]:
    """Wall seconds of each of ``runs`` calls of ``fn``."""
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        out.append(time.perf_counter() - began)
    return out


def main() -> None:
    """Print the benchmark's Markdown table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    p = kit.params.load("2025Q4")
    src = kit.connect(params=p)
    orders = src.table("orders")
    orders.count().execute()  # contract check outside the timings
    end = dt.date(2025, 12, 31)

    def rfm_and_cohorts():
        kc.rfm_layers(orders, end)
        kc.cohorts(orders, end)

    summary = simulated_summary(100_000)
    rows = [("gauge loop", timed(gauge, args.runs)),
            ("RFM layers + cohorts, sample (263k orders)", timed(rfm_and_cohorts, args.runs)),
            ("fit_clv, 100k simulated customers", timed(lambda: clv.fit_clv(summary), args.runs)),
            ("review_quarter (notebook 05's computation)", timed(lambda: kc.review_quarter(src, p), args.runs))]
    print("| step | runs (s) | best (s) |\n| --- | --- | --- |")
    for name, times in rows:
        print(f"| {name} | {', '.join(f'{t:.2f}' for t in times)} | {min(times):.2f} |")


if __name__ == "__main__":
    main()
