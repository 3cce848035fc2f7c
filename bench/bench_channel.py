"""Benchmark of kit.channel: attribution on 1M journeys (every model), one response-model fit and a
200-draw bootstrap on 3 years of weekly data with 8 channels. Run: ``.venv/bin/python bench/bench_channel.py``.

Data are simulated here (seeded). Wall time is measured untraced; peak memory is tracemalloc's
peak (Python and NumPy allocations) in a second run of the step; the process's peak RSS closes.
"""
from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
import pandas as pd
from measure import peak_mib

from kit.channel import MODELS, attribution, response_model
from kit.channel.response import adstock, saturation

CHANNELS = [f"ch{i}" for i in range(8)]


def journeys(n: int, seed: int = 0) -> pd.DataFrame:
    """n single journeys (1–6 touches), 3% convert; time lags for time decay."""
    rng = np.random.default_rng(seed)
    length = rng.integers(1, 7, n)
    flat = rng.choice(np.array(CHANNELS, dtype=object), int(length.sum()), p=np.linspace(2, 1, 8) / np.linspace(2, 1, 8).sum())
    lags = np.round(rng.uniform(0, 30, int(length.sum())), 1)
    cuts = np.cumsum(length)[:-1]
    converted = rng.random(n) < 0.03
    return pd.DataFrame({"path": [list(p) for p in np.split(flat, cuts)], "lags": [list(x) for x in np.split(lags, cuts)],
                         "conversions": converted.astype(int), "value": np.where(converted, rng.gamma(2, 150, n), 0.0),
                         "nulls": (~converted).astype(int)})


def weekly(weeks: int = 156, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2023-01-02", periods=weeks, freq="7D")
    gmv = 5e6 * (1 + 0.3 * np.arange(weeks) / weeks) * (1 + 0.08 * np.cos(2 * np.pi * dates.day_of_year / 365.25))
    frame = pd.DataFrame({"week": dates})
    for name in CHANNELS:
        flights = np.exp(rng.uniform(np.log(0.35), np.log(1.9), weeks // 3 + 1)) * (rng.random(weeks // 3 + 1) > 0.15)
        spend = rng.uniform(1e5, 5e5) * np.repeat(flights, 3)[:weeks] * np.exp(rng.normal(0, 0.1, weeks))
        a = adstock(spend, rng.uniform(0.1, 0.6))
        s = saturation(a, a.mean(), rng.uniform(1.0, 2.0), "hill")
        gmv = gmv + rng.uniform(1.5, 4.5) * spend.sum() / s.sum() * s
        frame[name] = spend
    frame["gmv"] = gmv * (1 + rng.normal(0, 0.02, weeks))
    return frame


def measure(label: str, func, memory=None):
    """Wall time untraced (tracemalloc slows allocation-heavy code several-fold); then peak memory of
    ``memory`` (default: the same call) under tracemalloc in a second run."""
    start = time.perf_counter()
    result = func()
    seconds = time.perf_counter() - start
    tracemalloc.start()
    (memory or func)()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(f"| {label} | {seconds:.2f} s | {peak:.0f} MiB |", flush=True)
    return result


def sample_accuracy(quarter: str = "2025Q4") -> None:
    """Planted (data/sample/truth.json) against recovered, with the notebook's settings, and the steps' wall time."""
    import json

    import kit
    from kit import config

    truth = json.loads((config.SAMPLE_DIR / "truth.json").read_text(encoding="utf-8"))["channels"]
    p = kit.params.load(quarter)
    start = time.perf_counter()
    src = kit.connect(params=p)
    weekly_table = kit.channel.weekly(src, p.channel.history_start, kit.Quarter(quarter).end, params=p)
    loaded = time.perf_counter() - start
    start = time.perf_counter()
    model = kit.channel.response_model(weekly_table, "gmv", weekly_table.attrs["spend_columns"], controls=p.channel.controls,
                                       saturation=p.channel.saturation, bootstrap=p.channel.bootstrap, seed=p.channel.seed,
                                       period=quarter, exclude="promo_week")
    fitted = time.perf_counter() - start
    table = model.roas().set_index("channel")
    params = model.params().set_index("channel")
    plan = kit.channel.reallocate(model, bounds=p.channel.bounds).to_pandas().set_index("channel")
    print(f"\nSample, {quarter}: weekly table {loaded:.1f} s; response model ({model.kind}, {p.channel.bootstrap} draws, both shapes) {fitted:.1f} s")
    print("| channel | planted ROAS | ROAS (95% interval) | planted adstock | adstock | planted mROAS | mROAS (95% interval) | budget move |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for channel, row in table.iterrows():
        t = truth[channel]
        print(f"| {channel} | {t['roas'][quarter]:.2f} | {row.roas:.2f} ({row.roas_ci_low:.2f}–{row.roas_ci_high:.2f}) | "
              f"{t['adstock']:.2f} | {params.loc[channel, 'adstock']:.2f} | {t['mroas'][quarter]:.2f} | "
              f"{row.mroas:.2f} ({row.mroas_ci_low:.2f}–{row.mroas_ci_high:.2f}) | {plan.loc[channel, 'change_pct']:+.0%} |")


def recovery(runs: int, quarter: str = "2025Q4", draws: int = 0) -> None:
    """How often the sample's media design lets the response model recover the planted truth.

    Each run draws the media plan anew (``kit.synth.media.build`` with the plan of ``kit.synth.plan``,
    seed 1000 + run) onto the sample's own weekly baseline (its fitted base: trend, seasonality,
    promotion control), adds compound-Poisson sampling noise as the orders bring it (weekly variance
    = GMV × E[order value²] / E[order value], measured on the sample's orders) and fits as the
    notebook does (both shapes, the lower AIC kept; promotion weeks left out). Prints, per channel,
    the share of runs with ROAS within 15% of the planted, adstock within 0.1 and (with ``draws``)
    the planted ROAS inside the 95% interval; and the share of runs where all six pass."""
    import datetime as dt

    import duckdb

    import kit
    from kit import config
    from kit.synth import media, plan

    p = kit.params.load(quarter)
    src = kit.connect(params=p)
    table = kit.channel.weekly(src, p.channel.history_start, kit.Quarter(quarter).end, params=p)
    channels = list(plan.PAID)
    fit = response_model(table, "gmv", channels, controls=p.channel.controls, saturation="logistic", bootstrap=0,
                         period=quarter, exclude="promo_week", compare_shapes=False)
    base = fit.contributions()["base"].to_numpy()
    mean_value, second = duckdb.sql(f"select avg(gmv), avg(gmv * gmv) from '{config.SAMPLE_DIR / 'orders.parquet'}'").fetchone()
    n_days = (plan.END - plan.START).days + 1
    year = np.array([(plan.START + dt.timedelta(days=d)).year - plan.START.year for d in range(n_days)])
    q = kit.Quarter(quarter)
    in_quarter = ((table["week"] >= pd.Timestamp(q.start)) & (table["week"] <= pd.Timestamp(q.end))).to_numpy()
    n = len(table)
    roas_ok, adstock_ok, inside = [], [], []
    for run in range(runs):
        rng = np.random.default_rng(1000 + run)
        planned = media.build(rng, n_days, year, 1.0)
        incremental, spend = planned.weekly_incremental[:, :n], planned.weekly_spend[:, :n]
        gmv = base + incremental.sum(axis=0)
        gmv = gmv + rng.normal(0.0, np.sqrt(gmv * second / mean_value))
        weekly_run = table.copy()
        weekly_run["gmv"] = gmv
        for i, channel in enumerate(channels):
            weekly_run[channel] = spend[i]
        model = response_model(weekly_run, "gmv", channels, controls=p.channel.controls, saturation=p.channel.saturation,
                               bootstrap=draws, seed=run, period=quarter, exclude="promo_week", compare_shapes=False)
        roas = model.roas().set_index("channel")
        fitted = model.params().set_index("channel")
        planted = incremental[:, in_quarter].sum(axis=1) / spend[:, in_quarter].sum(axis=1)
        roas_ok.append(np.abs(roas["roas"].to_numpy() / planted - 1) < 0.15)
        adstock_ok.append(np.abs(fitted["adstock"].to_numpy() - [plan.MEDIA[c].adstock for c in channels]) < 0.1)
        if draws:
            inside.append((roas["roas_ci_low"].to_numpy() <= planted) & (planted <= roas["roas_ci_high"].to_numpy()))
    roas_ok, adstock_ok = np.array(roas_ok), np.array(adstock_ok)
    print(f"\nRecovery on {runs} redraws of the sample's media design ({quarter}; weekly noise sd "
          f"{np.sqrt(table['gmv'].mean() * second / mean_value):,.0f} yuan at the mean weekly GMV)")
    print("| channel | ROAS within 15% | adstock within 0.1 |" + (" planted ROAS inside the 95% interval |" if draws else ""))
    print("| --- | --- | --- |" + (" --- |" if draws else ""))
    for i, channel in enumerate(channels):
        print(f"| {channel} | {roas_ok[:, i].mean():.0%} | {adstock_ok[:, i].mean():.0%} |"
              + (f" {np.array(inside)[:, i].mean():.0%} |" if draws else ""))
    print(f"| all six | {roas_ok.all(axis=1).mean():.0%} | {adstock_ok.all(axis=1).mean():.0%} |"
          + (f" {np.array(inside).all(axis=1).mean():.0%} |" if draws else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--journeys", type=int, default=1_000_000)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--sample", action="store_true", help="only: planted vs recovered on data/sample")
    parser.add_argument("--recovery", type=int, default=0, metavar="RUNS",
                        help="only: how often the sample's media design is recovered, over RUNS redraws (with --draws bootstrap)")
    args = parser.parse_args()
    if args.recovery:
        recovery(args.recovery, draws=args.draws if args.draws != 200 else 0)
        return
    if args.sample:
        sample_accuracy()
        return

    print("| step | wall time | peak memory (tracemalloc) |")
    print("| --- | --- | --- |")
    start = time.perf_counter()
    paths = journeys(args.journeys)
    print(f"| simulate {args.journeys:,} journeys (setup) | {time.perf_counter() - start:.2f} s | – |", flush=True)
    for model in MODELS:
        measure(f"attribution `{model}` on {args.journeys:,} journeys",
                lambda model=model: attribution(paths, model, channels=CHANNELS))
    measure(f"attribution, all {len(MODELS)} models in one call",
            lambda: attribution(paths, list(MODELS), channels=CHANNELS))
    grouped = paths.assign(key=paths.path.map(tuple)).groupby("key", as_index=False)[["conversions", "value", "nulls"]].sum()
    grouped = grouped.rename(columns={"key": "path"})
    measure(f"attribution, 6 models without time decay, {len(grouped):,} distinct paths (grouped)",
            lambda: attribution(grouped, [m for m in MODELS if m != "time_decay"], channels=CHANNELS))
    paths = None  # free the journeys before the next measurement

    frame = weekly()
    measure("response model: one fit (156 weeks × 8 channels, Hill)",
            lambda: response_model(frame, "gmv", CHANNELS, bootstrap=0, compare_shapes=False))
    few = lambda: response_model(frame, "gmv", CHANNELS, bootstrap=20, compare_shapes=False)  # noqa: E731 (memory: same per draw)
    measure(f"response model: fit + {args.draws}-draw moving-block bootstrap (memory with 20 draws)",
            lambda: response_model(frame, "gmv", CHANNELS, bootstrap=args.draws, compare_shapes=False), few)
    measure(f"response model: fit + {args.draws} draws + logistic comparison fit (what the notebook runs; memory with 20 draws)",
            lambda: response_model(frame, "gmv", CHANNELS, bootstrap=args.draws), few)
    print(f"\nprocess peak RSS: {peak_mib():.0f} MiB")


if __name__ == "__main__":
    main()
