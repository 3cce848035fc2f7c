"""Benchmark of kit.ab: 10M users x 31 arms x 4 metrics with CUPED, against tea-tasting and a plain pandas groupby.

    .venv/bin/python bench/bench_ab.py [--users 10000000] [--threads 2] [--db bench/data/ab-10M.duckdb] [--rounds 5]
    .venv/bin/python bench/bench_ab.py --review 2025Q4 2025Q3 [--repeat 3]

1. A per-user table is generated synthetically inside DuckDB (a temporary database file).
2. Each path runs in its own child process, so its wall time and peak memory (``VmHWM``)
   are its own:
   - ``duckdb``: ``kit.ab.analyze`` on the Ibis table — one grouped query returns per-arm sums and
     cross-products; the statistics run in Python on 31 rows (plus the one-arm-per-user check);
   - ``pandas``: the table is loaded into pandas, the products are formed column by column and
     summed with ``groupby("variant")``; the same statistics then run on the same moments.
   - ``tea``: tea-tasting's ``Experiment(...).analyze(table, control="control", all_variants=True)`` on the
     same Ibis table (the ``bench`` extra); it aggregates in the engine too, and checks no uniqueness;
   - ``duckdb-nocheck``: ``kit.ab.analyze(..., unit=None)``, to show what the one-arm-per-user check costs.
   The paths take turns for ``--rounds`` rounds after a warm-up round (``--paths`` picks them; pandas
   takes ~1 min at 10M, so it is left out by default); the table gives medians and the ratio to
   tea-tasting pair by pair, beside the pure-Python gauge loop ``sum(i*i for i in range(10**7))``.
3. The results are compared: the kit and pandas must agree to rounding; against tea-tasting the CUPED
   effects must agree within 0.25 standard errors — they are not equal, because the kit pools the CUPED
   slope θ over all arms and tea-tasting fits it per (control, treatment) pair (so its arm values are
   adjusted per pair too), and the p-values of ``conversion`` and ``ctr`` differ further because the kit
   uses z tests there and tea-tasting Student's t; the script prints how far apart they are and how many
   rows each finds significant after Holm over the 120 rows.

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

from measure import gauge, peak_mib

ARMS = 31
METRIC_NAMES = ["ctr", "conversion", "revenue_per_user", "pdp_views_per_user"]


def generate(path: Path, users: int, threads: int) -> float:
    import duckdb

    start = time.perf_counter()
    con = duckdb.connect(str(path))
    con.execute(f"SET threads = {threads}")
    con.execute("SELECT setseed(0.42)")
    # a user-level propensity drives both the pre-exposure and the in-experiment behaviour (CUPED has signal)
    # the table declares its key, as an assignment table in a database would; the view over it is the
    # same rows without the declaration (the kit then proves one arm per user by counting)
    con.execute("""
        CREATE TABLE users (user_id VARCHAR PRIMARY KEY, variant VARCHAR, pdp_views BIGINT, add_to_carts BIGINT,
                            converted BIGINT, revenue DOUBLE, pre_pdp_views BIGINT, pre_add_to_carts BIGINT,
                            pre_converted BIGINT, pre_revenue DOUBLE)""")
    con.execute(f"""
        INSERT INTO users
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
    con.execute("CREATE VIEW users_undeclared AS SELECT * FROM users")
    con.close()
    return time.perf_counter() - start




def run_duckdb(path: Path, threads: int, table: str = "users", unit: str | None = "user_id") -> dict:
    import ibis

    from kit import ab

    start = time.perf_counter()
    con = ibis.duckdb.connect(str(path), read_only=True, threads=threads)
    metrics = [ab.standard_metrics(cuped=True)[m] for m in METRIC_NAMES]
    # with unit="user_id" this includes the one-arm-per-user check: the declared key on `users`,
    # an exact distinct count on the view without it
    result = ab.analyze(con.table(table), metrics, unit=unit)
    return {"seconds": time.perf_counter() - start, "peak_mb": peak_mib(),
            "frame": result.to_pandas().to_json(orient="split", double_precision=15)}


def run_duckdb_undeclared(path: Path, threads: int) -> dict:
    return run_duckdb(path, threads, table="users_undeclared")


def run_duckdb_nocheck(path: Path, threads: int) -> dict:
    return run_duckdb(path, threads, unit=None)


def run_tea(path: Path, threads: int) -> dict:
    import ibis
    import pandas as pd
    import tea_tasting as tt

    start = time.perf_counter()
    con = ibis.duckdb.connect(str(path), read_only=True, threads=threads)
    experiment = tt.Experiment(
        ctr=tt.RatioOfMeans("add_to_carts", "pdp_views", "pre_add_to_carts", "pre_pdp_views"),
        conversion=tt.Mean("converted", "pre_converted"),
        revenue_per_user=tt.Mean("revenue", "pre_revenue"),
        pdp_views_per_user=tt.Mean("pdp_views", "pre_pdp_views"),
    )
    result = experiment.analyze(con.table("users"), control="control", all_variants=True)
    seconds = time.perf_counter() - start
    frame = pd.concat([pair_result.to_pandas().assign(variant=str(pair[1])) for pair, pair_result in result.items()],
                      ignore_index=True)
    return {"seconds": seconds, "peak_mb": peak_mib(),
            "frame": frame.to_json(orient="split", double_precision=15)}


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
    return {"seconds": load + compute_seconds, "load_seconds": load, "groupby_seconds": compute_seconds,
            "peak_mb": peak_mib(), "frame": result.to_pandas().to_json(orient="split", double_precision=15)}


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
    if args.child == "generate":
        print(json.dumps({"seconds": generate(Path(args.db), args.users, args.threads)}))
        return 0
    if args.child == "review":
        print(json.dumps(run_review(args.quarter)))
        return 0
    runner = {"duckdb": run_duckdb, "duckdb-undeclared": run_duckdb_undeclared, "duckdb-nocheck": run_duckdb_nocheck,
              "tea": run_tea, "pandas": run_pandas}[args.child]
    print(json.dumps(runner(Path(args.db), args.threads)))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--review", nargs="+", metavar="QUARTER", help="time the notebook's quarter review instead")
    parser.add_argument("--repeat", type=int, default=3, help="runs per quarter with --review")
    parser.add_argument("--db", help="reuse this DuckDB file's users table (generated there if missing)")
    parser.add_argument("--rounds", type=int, default=3, help="counted rounds (after one warm-up round)")
    parser.add_argument("--paths", default="duckdb,tea,duckdb-undeclared,duckdb-nocheck",
                        help="comma-separated: duckdb, tea, duckdb-undeclared, duckdb-nocheck, pandas")
    parser.add_argument("--child", choices=["duckdb", "duckdb-undeclared", "duckdb-nocheck", "tea", "pandas", "review", "generate"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--quarter", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    if args.review:
        return review_speed(args.review, args.repeat)

    paths = [p.strip() for p in args.paths.split(",")]
    # Everything heavy runs in children (the data's generation too), so this process stays light.
    with tempfile.TemporaryDirectory() as folder:
        db = Path(args.db) if args.db else Path(folder) / "ab_bench.duckdb"
        generation = 0.0
        if not db.exists():
            done = subprocess.run([sys.executable, __file__, "--child", "generate", "--db", str(db), "--users", str(args.users),
                                   "--threads", str(args.threads)], capture_output=True, text=True, check=True)
            generation = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
        runs: dict[str, list[dict]] = {p: [] for p in paths}
        gauges = []
        for round_no in range(args.rounds + 1):
            gauges.append(gauge())
            for path in paths:
                done = subprocess.run([sys.executable, __file__, "--child", path, "--db", str(db), "--threads", str(args.threads)],
                                      capture_output=True, text=True, check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
                if round_no:
                    runs[path].append(json.loads(done.stdout.strip().splitlines()[-1]))
    import statistics
    from io import StringIO

    import numpy as np
    import pandas as pd

    from kit.stats import adjust_pvalues

    frames = {p: pd.read_json(StringIO(r[0]["frame"]), orient="split") for p, r in runs.items()}
    print(f"kit.ab benchmark: {args.users:,} users x {ARMS} arms x {len(METRIC_NAMES)} metrics with CUPED, string user ids, "
          f"{args.threads} threads{f' (data generated in {generation:.1f} s)' if generation else ''}; {args.rounds} rounds after "
          f"a warm-up; gauge loop {min(gauges):.2f}–{max(gauges):.2f} s; load average {os.getloadavg()[0]:.1f}")
    print(f"{'path':<17} {'wall s median (min–max)':>24} {'÷ tea (pairs)':>14} {'peak MB':>8} {'÷ tea':>6}")
    for path, rows in runs.items():
        wall = [r["seconds"] for r in rows]
        peak = statistics.median(r["peak_mb"] for r in rows)
        ratio = mem = ""
        if "tea" in runs:
            ratio = f"{statistics.median(a['seconds'] / b['seconds'] for a, b in zip(rows, runs['tea'])):.2f}"
            mem = f"{peak / statistics.median(r['peak_mb'] for r in runs['tea']):.2f}"
        print(f"{path:<17} {statistics.median(wall):>8.2f} ({min(wall):.2f}–{max(wall):.2f}){'':>5} {ratio:>14} {peak:>8.0f} {mem:>6}")
    kit_paths = [p for p in frames if p.startswith("duckdb")]
    kit_frame = frames[kit_paths[0]]
    for path in kit_paths[1:]:  # how the check is made must not change a number (float sums: last bits)
        pd.testing.assert_frame_equal(frames[path], kit_frame, rtol=1e-12)
    if "pandas" in frames:
        diff = float(np.nanmax(np.abs(kit_frame["effect"].to_numpy() - frames["pandas"]["effect"].to_numpy())
                               / np.abs(kit_frame["se"].to_numpy())))
        assert diff < 1e-6, diff
        print(f"kit and pandas agree: max |effect difference| = {diff:.2e} standard errors over {len(kit_frame)} rows")
    if "tea" in frames:
        tea = frames["tea"].set_index(["metric", "variant"])
        kit_rows = kit_frame.set_index(["metric", "variant"]).loc[tea.index]
        effect = np.abs(kit_rows["effect"].to_numpy() - tea["effect_size"].to_numpy()) / kit_rows["se"].to_numpy()
        # the same data and the same estimators up to θ: a wrong moment or slope would be many s.e. off
        assert effect.max() < 0.25, f"CUPED effects differ from tea-tasting's by up to {effect.max():.3f} s.e."
        tiny = np.finfo(float).tiny  # both tools round the smallest p-values to 0
        logp = np.abs(np.log(np.maximum(kit_rows["pvalue"].to_numpy(), tiny) / np.maximum(tea["pvalue"].to_numpy(), tiny)))
        significant = int(kit_rows["significant"].sum()), int((adjust_pvalues(tea["pvalue"].to_numpy(), "holm") < 0.05).sum())
        print(f"kit and tea-tasting: the same {len(tea)} rows; CUPED effects {effect.max():.3f} s.e. apart at most "
              f"(θ pooled over arms vs per pair; tea-tasting's arm values are adjusted per pair too); p-values within a "
              f"factor {np.exp(logp.max()):.2f}; significant after Holm: kit {significant[0]}, tea-tasting {significant[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
