"""Benchmark: the CLV fit (BG/NBD + Gamma-Gamma by maximum likelihood) — the kit's ``fit_clv``
against ``lifetimes`` (``BetaGeoFitter`` + ``GammaGammaFitter``, its defaults, no penalizer) on the
same customer summaries.

    python bench/bench_clv.py --rounds 5
    python bench/bench_clv.py --one '["lifetimes", "simulated-100k"]'   # one run, JSON out

Data: ``simulated-100k`` (100,000 BG/NBD customers with weekly-rounded times and Gamma-Gamma spend,
``bench_customers.simulated_summary``) and ``cdnow`` (the whole CDNOW master file from the
``lifetimes`` wheel, 23,570 customers, calibration 1997-01-01 … 1997-09-30, weeks). Every run is a
child process of its own (wall time of the fit alone, imports and the summary excluded; peak memory
``VmHWM`` of the whole child); the tools take turns round by round, and the table gives medians
and the median of the kit/lifetimes ratios pair by pair. Both tools must find the same parameters
(1e-4 relative: lifetimes stops its optimiser earlier than the kit's Newton polish) or the script stops.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

from measure import peak_mib

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

DATA = ("simulated-100k", "cdnow")
TOOLS = ("kit", "lifetimes")


def summary(data: str):
    """The customer summary both tools fit (columns frequency, recency, T, monetary_value)."""
    import kit.customers as kc
    if data == "cdnow":
        from kit import datasets
        orders = datasets.read_cdnow(sample=False).rename(columns={"customer_id": "user_id", "date": "paid_at", "dollars": "gmv"})
        return kc.rfm_summary(orders, "1997-09-30", later="drop")
    from bench_customers import simulated_summary
    return simulated_summary(100_000)


def run(tool: str, data: str) -> dict:
    """Fit both models once; seconds of the fit, the child's peak MiB and the parameters."""
    s = summary(data)
    if tool == "kit":
        from kit.customers import clv
        began = time.perf_counter()
        fit = clv.fit_clv(s)
        seconds = time.perf_counter() - began
        params = {**fit.bgnbd_params, **fit.gamma_gamma_params}
    else:
        warnings.simplefilter("ignore")
        import lifetimes
        repeat = s[(s["frequency"] > 0) & (s["monetary_value"] > 0)]
        began = time.perf_counter()
        bg = lifetimes.BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
        gg = lifetimes.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
        seconds = time.perf_counter() - began
        params = {**bg.params_.to_dict(), **gg.params_.to_dict()}
    return {"seconds": seconds, "peak_mib": peak_mib(),
            "params": {k: float(v) for k, v in params.items()}}


def _child(tool: str, data: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", json.dumps([tool, data])], capture_output=True, text=True,
                         check=False, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if out.returncode != 0:
        raise SystemExit(f"{tool} on {data} failed: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Print one table per data set."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=5, help="counted rounds (after one warm-up round)")
    parser.add_argument("--data", default=",".join(DATA))
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run(*json.loads(args.one))))
        return
    for data in args.data.split(","):
        runs = {tool: [] for tool in TOOLS}
        for round_no in range(args.rounds + 1):
            for tool in TOOLS:
                result = _child(tool, data)
                if round_no:
                    runs[tool].append(result)
        kit_params, peer_params = runs["kit"][0]["params"], runs["lifetimes"][0]["params"]
        for name, value in kit_params.items():
            if abs(peer_params[name] / value - 1) > 1e-4:
                raise SystemExit(f"{data}: {name} differs: kit {value!r}, lifetimes {peer_params[name]!r}")
        print(f"\n{data}: {args.rounds} rounds after a warm-up; load average {os.getloadavg()[0]:.1f}")
        print("| tool | fit s, median (min–max) | ÷ lifetimes (pairs) | peak MiB | ÷ lifetimes |\n| --- | --- | --- | --- | --- |")
        peer_peak = statistics.median(r["peak_mib"] for r in runs["lifetimes"])
        for tool in TOOLS:
            wall = [r["seconds"] for r in runs[tool]]
            peak = statistics.median(r["peak_mib"] for r in runs[tool])
            ratio = statistics.median(a["seconds"] / b["seconds"] for a, b in zip(runs[tool], runs["lifetimes"]))
            print(f"| {tool} | {statistics.median(wall):.2f} ({min(wall):.2f}–{max(wall):.2f}) | {ratio:.2f} | {peak:.0f} | "
                  f"{peak / peer_peak:.2f} |")
        largest = max(abs(peer_params[k] / v - 1) for k, v in kit_params.items())
        print(f"parameters equal to {largest:.1e} relative: " + ", ".join(f"{k} {v:.4g}" for k, v in kit_params.items()))


if __name__ == "__main__":
    main()
