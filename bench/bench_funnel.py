"""Benchmark: a 5-step funnel over a `kit synth --scale` data set — the kit against ClickHouse's
``windowFunnel`` (the ``chdb`` package), pandas ``merge_asof`` and polars ``join_asof``.

    kit synth --scale 0.4 --out bench/data/scale-0.4      # ~10M events
    kit synth --scale 4   --out bench/data/scale-4        # ~100M events
    pip install -e '.[bench]' -c constraints.txt          # the peers
    python bench/bench_funnel.py bench/data/scale-0.4 --rounds 5
    python bench/bench_funnel.py --one '["chdb", "bench/data/scale-0.4"]'   # one run, JSON out

Every run is a child process of its own (so its wall time and peak memory, ``VmHWM``, are its
own), and the tools take turns round by round (kit, chdb, pandas, polars, kit, …), so a drift of
the machine's speed hits all of them alike; the table gives medians and each tool's median ratio to
chdb. A run's wall time is the whole job from the Parquet files to the counts per step (imports
excluded; the kit's includes opening the source, whose contract pass is remembered after the
warm-up round). Every tool must report the same units per step as the kit's ``attempt="best"``
(the script stops otherwise); the kit's other modes (first, totals, a breakdown, a hold) are timed
against the same chdb query, the fastest peer's answer to the headline question.

The funnel is home_view → pdp_view → add_to_cart → checkout → pay, 1-day window, the whole of 2025
(local time) as the entry period; the synthetic sets hold exactly 2025's events, so the peers need
no period filter. ``--gauge`` figures: the pure-Python loop ``sum(i*i for i in range(10**7))``,
timed before each round, as a measure of the machine's speed at the time.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time

from measure import gauge, peak_mib

STEPS = ["home_view", "pdp_view", "add_to_cart", "checkout", "pay"]
PERIOD = ("2025-01-01", "2025-12-31")
WINDOW_MS = 86_400_000
# (label, runner, arguments after the folder); the kit's modes, then the peers.
RUNS = {
    "kit best": ("kit", ["best", "", ""]),
    "kit first": ("kit", ["first", "", ""]),
    "kit totals": ("kit", ["totals", "", ""]),
    "kit best by device": ("kit", ["best", "device", ""]),
    "kit best hold sku_id": ("kit", ["best", "", "sku_id"]),
    "chdb windowFunnel": ("chdb", []),
    "pandas merge_asof": ("pandas", []),
    "polars join_asof": ("polars", []),
}




def run_kit(folder: str, attempt: str, by: str, hold: str) -> dict:
    import warnings
    warnings.simplefilter("ignore")
    import kit
    import kit.funnel as kf
    from kit.funnel.data import attach_attributes

    start = time.perf_counter()
    src = kit.connect(folder)
    src.backend.raw_sql(f"SET temp_directory='{os.path.join(folder, '.spill')}'")
    events = src.table("events")
    if by:
        first, last = (dt.date.fromisoformat(day) for day in PERIOD)
        events = attach_attributes(src, events, [by], first, last, where=events.event == STEPS[0])
    result = kf.funnel(events, STEPS, window="1D", attempt=attempt, by=by or None, hold=hold or None, quarter=PERIOD)
    reached = result.overall().to_pandas()["converted_from_previous"].astype(int).tolist()
    return {"seconds": time.perf_counter() - start, "peak_mib": peak_mib(), "reached": reached}


def run_chdb(folder: str) -> dict:
    import chdb

    start = time.perf_counter()
    conditions = ", ".join(f"event = '{s}'" for s in STEPS)
    names = ", ".join(f"'{s}'" for s in STEPS)
    sql = f"""SELECT level, count() AS n FROM (
        SELECT user_id, windowFunnel({WINDOW_MS})(toUInt64(toUnixTimestamp64Milli(ts)), {conditions}) AS level
        FROM file('{os.path.abspath(folder)}/events/*.parquet', Parquet) WHERE event IN ({names}) GROUP BY user_id)
        GROUP BY level ORDER BY level"""
    per_level = dict(tuple(map(int, line.split(","))) for line in str(chdb.query(sql, "CSV")).split())
    # a unit of level L reached steps 1..L: the units reaching step j are those of level ≥ j
    reached = [sum(n for level, n in per_level.items() if level > j) for j in range(len(STEPS))]
    return {"seconds": time.perf_counter() - start, "peak_mib": peak_mib(), "reached": reached}


def _step_events(folder: str):
    """The step events (user, local time, step name) as an Arrow table, for pandas and polars."""
    import pyarrow.dataset as ds

    return ds.dataset(os.path.join(folder, "events"), format="parquet").to_table(
        columns=["user_id", "ts", "event"], filter=ds.field("event").isin(STEPS))


def run_pandas(folder: str) -> dict:
    """The straightforward pandas way: one forward ``merge_asof`` per step, each start's chain."""
    import pandas as pd

    start = time.perf_counter()
    frame = _step_events(folder).to_pandas()
    frame["ts"] = frame["ts"].dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
    window = pd.Timedelta("1D")
    chain = frame[frame.event == STEPS[0]][["user_id", "ts"]].rename(columns={"ts": "t0"})
    chain["prev"] = chain["t0"]
    reached = [chain["user_id"].nunique()]
    for step in STEPS[1:]:
        right = frame[frame.event == step][["user_id", "ts"]].sort_values("ts")
        chain = pd.merge_asof(chain.sort_values("prev"), right, left_on="prev", right_on="ts", by="user_id",
                              direction="forward", allow_exact_matches=True)
        chain = chain[chain["ts"].notna() & (chain["ts"] <= chain["t0"] + window)]
        chain = chain.drop(columns="prev").rename(columns={"ts": "prev"})
        reached.append(chain["user_id"].nunique())  # best attempt: a unit reaches the step if any start does
    return {"seconds": time.perf_counter() - start, "peak_mib": peak_mib(), "reached": reached}


def run_polars(folder: str) -> dict:
    """The same chains with polars: one forward ``join_asof`` per step."""
    import polars as pl

    start = time.perf_counter()
    frame = pl.from_arrow(_step_events(folder)).with_columns(pl.col("ts").dt.convert_time_zone("Asia/Shanghai"))
    chain = frame.filter(pl.col("event") == STEPS[0]).select("user_id", t0="ts", prev="ts")
    reached = [chain["user_id"].n_unique()]
    for step in STEPS[1:]:
        right = frame.filter(pl.col("event") == step).select("user_id", nxt="ts").sort("nxt")
        chain = chain.sort("prev").join_asof(right, left_on="prev", right_on="nxt", by="user_id", strategy="forward")
        chain = chain.filter(pl.col("nxt").is_not_null() & (pl.col("nxt") <= pl.col("t0") + pl.duration(days=1)))
        chain = chain.select("user_id", "t0", prev="nxt")
        reached.append(chain["user_id"].n_unique())
    return {"seconds": time.perf_counter() - start, "peak_mib": peak_mib(), "reached": reached}


RUNNERS = {"kit": run_kit, "chdb": run_chdb, "pandas": run_pandas, "polars": run_polars}


def _child(kind: str, folder: str, extra: list[str]) -> dict:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--one", json.dumps([kind, folder, *extra])],
                         capture_output=True, text=True, check=False, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if out.returncode != 0:
        raise SystemExit(f"{kind} {extra} failed: {out.stderr.strip()[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="*")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=5, help="counted rounds (after one warm-up round)")
    parser.add_argument("--runs", default=",".join(RUNS),
                        help="comma-separated labels of RUNS to include")
    args = parser.parse_args()
    if args.one:
        kind, *rest = json.loads(args.one)
        print(json.dumps(RUNNERS[kind](*rest)))
        return
    labels = [label.strip() for label in args.runs.split(",")]
    for folder in args.folders:
        runs: dict[str, list[dict]] = {label: [] for label in labels}
        gauges = []
        for round_no in range(args.rounds + 1):
            gauges.append(gauge())
            for label in labels:
                kind, extra = RUNS[label]
                result = _child(kind, folder, extra)
                if round_no:
                    runs[label].append(result)
        best = runs.get("kit best", [{}])[0].get("reached")
        print(f"\n{folder}: {args.rounds} rounds after a warm-up; gauge loop {min(gauges):.2f}–{max(gauges):.2f} s; "
              f"load average {os.getloadavg()[0]:.1f}")
        reference = statistics.median(r["seconds"] for r in runs["chdb windowFunnel"]) if "chdb windowFunnel" in runs else None
        chdb_peak = statistics.median(r["peak_mib"] for r in runs["chdb windowFunnel"]) if reference else None
        print(f"{'tool':<22} {'wall s median (min–max)':>24} {'÷ chdb (pairs)':>16} {'peak MiB':>9} {'÷ chdb':>7}  reached per step")
        for label in labels:
            rows = runs[label]
            wall = [r["seconds"] for r in rows]
            peak = statistics.median(r["peak_mib"] for r in rows)
            ratio = (f"{statistics.median(a['seconds'] / b['seconds'] for a, b in zip(rows, runs['chdb windowFunnel'])):.2f}"
                     if reference else "")
            mem = f"{peak / chdb_peak:.2f}" if reference else ""
            print(f"{label:<22} {statistics.median(wall):>8.2f} ({min(wall):.2f}–{max(wall):.2f}){'':>5} {ratio:>16} {peak:>9.0f} "
                  f"{mem:>7}  {rows[0]['reached']}")
            if best is not None and label in ("chdb windowFunnel", "pandas merge_asof", "polars join_asof", "kit best by device"):
                if rows[0]["reached"] != best:
                    raise SystemExit(f"{label} disagrees with the kit's best attempt: {rows[0]['reached']} vs {best}")
        print("every peer (and the breakdown's segments summed) agrees with the kit's best-attempt counts")


if __name__ == "__main__":
    main()
