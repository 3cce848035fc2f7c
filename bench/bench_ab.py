"""Benchmark of kit.ab: 10M users x 31 arms x 4 metrics with CUPED, DuckDB push-down vs a plain pandas groupby.

    .venv/bin/python bench/bench_ab.py [--users 10000000] [--threads 2]
    .venv/bin/python bench/bench_ab.py --review 2025Q4 2025Q3 [--repeat 3]

1. A per-user table is generated synthetically inside DuckDB (a temporary database file).
2. Each path runs in its own child process, so its wall time and peak memory (``ru_maxrss``)
   are its own:
   - ``duckdb``: ``kit.ab.analyze`` on the Ibis table — one grouped query returns per-arm sums and
     cross-products; the statistics run in Python on 31 rows (plus the one-arm-per-user check);
   - ``pandas``: the table is loaded into pandas, the products are formed column by column and
     summed with ``groupby("variant")``; the same statistics then run on the same moments.
3. The two results are compared (they must agree to rounding), and a table is printed.

``--review 2025Q4 [2025Q3 ...]`` instead times the notebook's quarter review (``kit.ab.review_quarter`` on the
sample data, as ``notebooks/02_detail_page_ab.ipynb`` runs it): each run in a fresh process (so the data contract
checks of ``experiments``, ``orders`` and ``events`` are part of it, as in the notebook), CPU time of the process
(user + sys, DuckDB's threads included) and wall time, ``--repeat`` times.
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
from pathlib import Path

ARMS = 31
METRIC_NAMES = ["ctr", "conversion", "revenue_per_user", "pdp_views_per_user"]


def generate(path: Path, users: int, threads: int) -> float:
    import duckdb

    start = time.perf_counter()
    con = duckdb.connect(str(path))
    con.execute(f"SET threads = {threads}")
    con.execute("SELECT setseed(0.42)")
    # a user-level propensity drives both the pre-exposure and the in-experiment behaviour (CUPED has signal)
    con.execute(f"""
        CREATE TABLE users AS
        WITH base AS (
            SELECT i, i % {ARMS} AS arm, -ln(1 - random()) AS propensity FROM range({users}) t(i)
        ), counts AS (
            SELECT i, arm, propensity,
                   CAST(floor(-ln(1 - random()) * 4 * propensity) AS BIGINT) AS pdp_views,
                   CAST(floor(-ln(1 - random()) * 1 * propensity) AS BIGINT) AS pre_pdp_views
            FROM base
        )
        SELECT 'u' || CAST(i AS VARCHAR) AS user_id,
               CASE WHEN arm = 0 THEN 'control' ELSE 'v' || lpad(CAST(arm AS VARCHAR), 2, '0') END AS variant,
               pdp_views,
               CAST(floor(pdp_views * random() * 0.12 * (1 + 0.01 * arm)) AS BIGINT) AS add_to_carts,
               CAST(random() < 0.12 * least(propensity, 3) AS BIGINT) AS converted,
               CAST(random() < 0.12 * least(propensity, 3) AS DOUBLE) * -ln(1 - random()) * 400 AS revenue,
               pre_pdp_views,
               CAST(floor(pre_pdp_views * random() * 0.12) AS BIGINT) AS pre_add_to_carts,
               CAST(random() < 0.05 * least(propensity, 3) AS BIGINT) AS pre_converted,
               CAST(random() < 0.05 * least(propensity, 3) AS DOUBLE) * -ln(1 - random()) * 400 AS pre_revenue
        FROM counts
    """)
    con.close()
    return time.perf_counter() - start


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def run_duckdb(path: Path, threads: int) -> dict:
    import ibis

    from kit import ab

    con = ibis.duckdb.connect(str(path), read_only=True, threads=threads)
    table = con.table("users")
    metrics = [ab.standard_metrics(cuped=True)[m] for m in METRIC_NAMES]
    start = time.perf_counter()
    arms, moments = ab.arm_moments(table, metrics, unit=None)
    moments_seconds = time.perf_counter() - start
    start = time.perf_counter()
    result = ab.analyze(table, metrics)  # includes the one-arm-per-user check (a distinct count)
    total = time.perf_counter() - start
    return {"path": "duckdb", "seconds": total, "moments_seconds": moments_seconds, "peak_mb": _peak_mb(),
            "frame": result.to_pandas().to_json(orient="split", double_precision=15)}


def run_pandas(path: Path, threads: int) -> dict:
    import duckdb
    import numpy as np

    from kit import ab
    from kit.ab.analysis import compute
    from kit.ab.moments import Moments

    metrics = [ab.standard_metrics(cuped=True)[m] for m in METRIC_NAMES]
    start = time.perf_counter()
    con = duckdb.connect(str(path), read_only=True)
    con.execute(f"SET threads = {threads}")
    frame = con.execute("SELECT * FROM users").df()
    con.close()
    load = time.perf_counter() - start

    start = time.perf_counter()
    if frame["user_id"].duplicated().any():
        raise ValueError("a user in two rows")
    columns = list(dict.fromkeys(c for m in metrics for c in m.columns))
    index = {c: i for i, c in enumerate(columns)}
    pairs = sorted({(min(index[a], index[b]), max(index[a], index[b])) for m in metrics for a in m.columns for b in m.columns})
    work = frame[["variant"] + columns].astype({c: "float64" for c in columns})
    for a, b in pairs:
        work[f"p{a}_{b}"] = work[columns[a]] * work[columns[b]]
    sums = work.groupby("variant", sort=True).agg(["sum"]).droplevel(1, axis=1)
    counts = work.groupby("variant", sort=True).size()
    k = len(columns)
    cross = np.full((len(sums), k, k), np.nan)
    for a, b in pairs:
        cross[:, a, b] = cross[:, b, a] = sums[f"p{a}_{b}"].to_numpy()
    moments = Moments(tuple(columns), counts.to_numpy(float), sums[columns].to_numpy(), cross)
    result = compute(list(sums.index), moments, metrics, "control")
    compute_seconds = time.perf_counter() - start
    return {"path": "pandas", "seconds": load + compute_seconds, "load_seconds": load, "groupby_seconds": compute_seconds,
            "peak_mb": _peak_mb(), "frame": result.to_pandas().to_json(orient="split", double_precision=15)}


def run_review(quarter: str) -> dict:
    import kit
    from kit.ab import plots  # noqa: F401  (the notebook imports kit.ab before the review)

    params = kit.params.load(quarter)
    source = kit.connect(params=params)
    cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])  # noqa: E731  user + sys
    cpu0, wall0 = cpu(), time.perf_counter()
    kit.ab.review_quarter(source, params).finding()
    return {"quarter": quarter, "cpu": cpu() - cpu0, "wall": time.perf_counter() - wall0, "load": os.getloadavg()[0]}


def review_speed(quarters: list[str], repeat: int) -> int:
    import statistics

    print(f"kit.ab quarter review on the sample data, {repeat} fresh process(es) per quarter")
    print(f"{'quarter':<8} {'CPU s (median, min-max)':>26} {'wall s (median, min-max)':>27} {'load 1 min':>11}")
    for quarter in quarters:
        runs = []
        for _ in range(repeat):
            done = subprocess.run([sys.executable, __file__, "--child", "review", "--quarter", quarter], capture_output=True,
                                  text=True, check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        cpu, wall = [r["cpu"] for r in runs], [r["wall"] for r in runs]
        print(f"{quarter:<8} {statistics.median(cpu):>10.2f} ({min(cpu):.2f}-{max(cpu):.2f})      "
              f"{statistics.median(wall):>10.2f} ({min(wall):.2f}-{max(wall):.2f})      "
              f"{statistics.median(r['load'] for r in runs):>6.2f}")
    return 0


def child(args) -> int:
    if args.child == "review":
        print(json.dumps(run_review(args.quarter)))
        return 0
    runner = run_duckdb if args.child == "duckdb" else run_pandas
    print(json.dumps(runner(Path(args.db), args.threads)))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--review", nargs="+", metavar="QUARTER", help="time the notebook's quarter review instead")
    parser.add_argument("--repeat", type=int, default=3, help="runs per quarter with --review")
    parser.add_argument("--child", choices=["duckdb", "pandas", "review"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--quarter", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    if args.review:
        return review_speed(args.review, args.repeat)

    import numpy as np
    import pandas as pd

    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "ab_bench.duckdb"
        generation = generate(db, args.users, args.threads)
        outputs = {}
        for path in ("duckdb", "pandas"):
            done = subprocess.run([sys.executable, __file__, "--child", path, "--db", str(db), "--threads", str(args.threads)],
                                  capture_output=True, text=True, check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
            outputs[path] = json.loads(done.stdout.strip().splitlines()[-1])
    from io import StringIO
    frames = {k: pd.read_json(StringIO(v.pop("frame")), orient="split") for k, v in outputs.items()}
    diff = float(np.nanmax(np.abs(frames["duckdb"]["effect"].to_numpy() - frames["pandas"]["effect"].to_numpy())
                           / np.abs(frames["duckdb"]["se"].to_numpy())))
    print(f"kit.ab benchmark: {args.users:,} users x {ARMS} arms x {len(METRIC_NAMES)} metrics with CUPED, "
          f"{args.threads} threads (data generated in DuckDB in {generation:.1f} s)")
    print(f"{'path':<8} {'wall s':>8} {'peak MB':>9}  detail")
    d, p = outputs["duckdb"], outputs["pandas"]
    print(f"{'duckdb':<8} {d['seconds']:>8.2f} {d['peak_mb']:>9.0f}  moments query alone {d['moments_seconds']:.2f} s; "
          f"analyze = uniqueness check + moments + statistics")
    print(f"{'pandas':<8} {p['seconds']:>8.2f} {p['peak_mb']:>9.0f}  load {p['load_seconds']:.2f} s + products/groupby/statistics "
          f"{p['groupby_seconds']:.2f} s")
    print(f"results agree: max |effect difference| = {diff:.2e} standard errors over {len(frames['duckdb'])} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
