"""Benchmark: a 5-step funnel over a `kit synth --scale` data set, in the engine and in plain pandas.

    kit synth --scale 0.4 --out /tmp/kit-bench/scale-0.4      # ~10M events
    kit synth --scale 4   --out /tmp/kit-bench/scale-4        # ~100M events
    python bench/bench_funnel.py /tmp/kit-bench/scale-0.4 /tmp/kit-bench/scale-4 --pandas-max 20000000

Each measurement runs in its own process, so peak memory (ru_maxrss) is that run's alone. The
period is the whole of 2025 (every event of the set); the funnel is home_view → pdp_view →
add_to_cart → checkout → pay, 1-day window. "load" is opening the source and checking the contract
(not part of the funnel). DuckDB gets a memory limit and a spill folder, so it spills, not fails.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

STEPS = ["home_view", "pdp_view", "add_to_cart", "checkout", "pay"]
PERIOD = ("2025-01-01", "2025-12-31")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_engine(folder: str, unit: str, attempt: str, memory_limit: str, spill: str) -> dict:
    import warnings
    warnings.simplefilter("ignore")
    import kit
    import kit.funnel as kf

    src = kit.connect(folder)
    src.backend.raw_sql(f"SET memory_limit='{memory_limit}'; SET temp_directory='{spill}'; SET preserve_insertion_order=false")
    start = time.perf_counter()
    events = src.table("events")
    n_events = int(events.count().to_pyarrow().as_py())
    load = time.perf_counter() - start
    start = time.perf_counter()
    result = kf.funnel(events, STEPS, window="1D", attempt=attempt, unit=unit, quarter=PERIOD)
    elapsed = time.perf_counter() - start
    reached = result.to_pandas()["converted_from_previous"].tolist()
    return {"engine": "kit (DuckDB)", "events": n_events, "unit": unit, "attempt": attempt, "load_s": load,
            "funnel_s": elapsed, "peak_mib": _peak_mib(), "reached": reached}


def run_pandas(folder: str, unit: str) -> dict:
    """The straightforward pandas way: read the step events, then one merge_asof per step."""
    import pandas as pd
    import pyarrow.dataset as ds

    start = time.perf_counter()
    table = ds.dataset(os.path.join(folder, "events"), format="parquet").to_table(
        columns=[unit, "ts", "event"], filter=ds.field("event").isin(STEPS))
    frame = table.to_pandas()
    frame["ts"] = frame["ts"].dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
    load = time.perf_counter() - start
    start = time.perf_counter()
    lower, upper = pd.Timestamp(PERIOD[0]), pd.Timestamp(PERIOD[1]) + pd.Timedelta("1D")
    window = pd.Timedelta("1D")
    starts = frame[(frame.event == STEPS[0]) & (frame.ts >= lower) & (frame.ts < upper)][[unit, "ts"]]
    chain = starts.rename(columns={"ts": "t0"}).sort_values("t0")
    chain["prev"] = chain["t0"]
    reached = [chain[unit].nunique()]
    for step in STEPS[1:]:
        right = frame[frame.event == step][[unit, "ts"]].sort_values("ts")
        chain = pd.merge_asof(chain.sort_values("prev"), right, left_on="prev", right_on="ts", by=unit,
                              direction="forward", allow_exact_matches=True)
        chain = chain[chain["ts"].notna() & (chain["ts"] <= chain["t0"] + window)]
        chain = chain.drop(columns="prev").rename(columns={"ts": "prev"})
        reached.append(chain[unit].nunique())   # best attempt: a unit reaches the step if any start does
    elapsed = time.perf_counter() - start
    return {"engine": "pandas merge_asof", "events": len(frame), "unit": unit, "attempt": "best", "load_s": load,
            "funnel_s": elapsed, "peak_mib": _peak_mib(), "reached": reached}


def _child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", json.dumps(args)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}", "args": args}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="*")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--pandas-max", type=int, default=20_000_000, help="run pandas only on sets up to this many events")
    parser.add_argument("--memory-limit", default="8GB")
    parser.add_argument("--headline", action="store_true", help="only the user-level best-attempt funnel (for big sets)")
    args = parser.parse_args()
    if args.one:
        kind, *rest = json.loads(args.one)
        result = run_engine(*rest) if kind == "engine" else run_pandas(*rest)
        print(json.dumps(result))
        return
    spill = tempfile.mkdtemp(prefix="kit-funnel-spill-")
    rows = []
    for folder in args.folders:
        best = _child(["engine", folder, "user_id", "best", args.memory_limit, spill])
        rows.append(best)
        if not args.headline:
            rows.append(_child(["engine", folder, "session_id", "best", args.memory_limit, spill]))
            rows.append(_child(["engine", folder, "user_id", "first", args.memory_limit, spill]))
            rows.append(_child(["engine", folder, "user_id", "totals", args.memory_limit, spill]))
        if best.get("events", 0) <= args.pandas_max:
            baseline = _child(["pandas", folder, "user_id"])
            rows.append(baseline)
            if "reached" in baseline and "reached" in best:
                print(f"{folder}: pandas and kit agree on the best-attempt counts: {baseline['reached'] == best['reached']}")
    print(f"{'engine':<20} {'events':>12} {'unit':<11} {'attempt':<7} {'load s':>7} {'funnel s':>9} {'peak MiB':>9}  reached per step")
    for r in rows:
        if "error" in r:
            print(f"FAILED {r['args']}: {r['error']}")
            continue
        print(f"{r['engine']:<20} {r['events']:>12,} {r['unit']:<11} {r['attempt']:<7} {r['load_s']:>7.1f} "
              f"{r['funnel_s']:>9.2f} {r['peak_mib']:>9.0f}  {r['reached']}")


if __name__ == "__main__":
    main()
