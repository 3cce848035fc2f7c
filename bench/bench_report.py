"""Benchmark: ``kit report QUARTER`` against the hand-run pipeline, side by side in one run.

The hand-run pipeline is what analysts do without the kit: for each notebook, the papermill CLI
(``papermill --cwd notebooks -k python3 NB OUT -p quarter Q``), then ``jupyter nbconvert --to html``
on the result, one notebook after the other. Both sides run the same notebooks on the same data;
each side starts from a fresh output folder. Timings are wall-clock, measured here only (never in
tests).

Cold and warm: the kit remembers tables that passed the data contract (``KIT_CACHE_DIR``), on both
sides (the hand-run notebooks call ``kit.connect`` too). Each side first runs with an empty cache
folder of its own (cold: the first run on new data), then again with what that run remembered
(warm: the same data a second time).

    .venv/bin/python bench/bench_report.py                 # 2025Q4, writes bench/results/report.md
    .venv/bin/python bench/bench_report.py --repeat 2      # best of two per side
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import gauge

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results" / "report.md"


def _env(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # both sides draw figures inline, as in JupyterLab
    env["KIT_CACHE_DIR"] = str(cache)
    return env


def hand_run(notebooks: list[Path], quarter: str, out: Path, cache: Path) -> tuple[float, dict[str, float]]:
    out.mkdir(parents=True)
    per_notebook = {}
    started = time.perf_counter()
    for notebook in notebooks:
        t0 = time.perf_counter()
        executed = out / notebook.name
        # A failing notebook does not stop this side either (papermill still writes the executed
        # notebook with the error), so both sides do the same work.
        subprocess.run([str(BIN / "papermill"), "--cwd", str(notebook.parent), "-k", "python3", "--no-progress-bar",
                        "--log-level", "WARNING", str(notebook), str(executed), "-p", "quarter", quarter],
                       check=False, env=_env(cache), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run([str(BIN / "jupyter"), "nbconvert", "--to", "html", "--log-level", "WARN", str(executed)],
                       check=True, env=_env(cache), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        per_notebook[notebook.stem] = time.perf_counter() - t0
    return time.perf_counter() - started, per_notebook



def kit_run(quarter: str, out: Path, jobs: int | None, cache: Path) -> tuple[float, dict[str, float], int]:
    command = [str(BIN / "kit"), "report", quarter, "--out", str(out), "--no-progress"]
    if jobs:
        command += ["--jobs", str(jobs)]
    started = time.perf_counter()
    result = subprocess.run(command, env=_env(cache), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    manifest_path = out / quarter / "kit-report.json"
    if not manifest_path.exists():
        manifest_path = out / f"{quarter}.failed" / "kit-report.json"
    manifest = json.loads(manifest_path.read_text())
    return seconds, {e["name"]: e["seconds"] for e in manifest["entries"]}, result.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("quarter", nargs="?", default="2025Q4")
    parser.add_argument("--repeat", type=int, default=1, help="runs per side; the best is reported")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    from kit.report.runner import default_jobs, discover

    notebooks = discover()
    cores = default_jobs()
    rows: dict[str, list] = {key: [] for key in ("hand_cold", "kit_cold", "hand_warm", "kit_warm", "kit1_warm")}
    gauges: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-report-") as scratch:
        for attempt in range(args.repeat):
            base = Path(scratch) / str(attempt)
            hand_cache, kit_cache = base / "hand-cache", base / "kit-cache"
            runs = {"hand_cold": lambda: hand_run(notebooks, args.quarter, base / "hand-cold", hand_cache),
                    "kit_cold": lambda: kit_run(args.quarter, base / "kit-cold", None, kit_cache),
                    "hand_warm": lambda: hand_run(notebooks, args.quarter, base / "hand-warm", hand_cache),
                    "kit_warm": lambda: kit_run(args.quarter, base / "kit-warm", None, kit_cache),
                    "kit1_warm": lambda: kit_run(args.quarter, base / "kit1-warm", 1, kit_cache)}
            for key, run in runs.items():
                gauges.append(gauge())
                rows[key].append(run())
            gauges.append(gauge())
            shutil.rmtree(base, ignore_errors=True)
    best = {key: min(runs, key=lambda r: r[0]) for key, runs in rows.items()}
    seconds = {key: run[0] for key, run in best.items()}
    codes = [run[2] for key, run in best.items() if key.startswith("kit")]

    revision = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    lines = [
        "# `kit report` against the hand-run pipeline",
        "",
        f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC at commit `{revision}` by `bench/bench_report.py` "
        f"(best of {args.repeat}); {platform.machine()}, {cores} cores available, Python {platform.python_version()}. "
        f"Both sides ran back to back, in the order of the table; the gauge loop (`sum(i*i for i in range(10**7))`) "
        f"took {min(gauges):.2f}–{max(gauges):.2f} s between the runs.",
        "",
        f"Quarter {args.quarter}, {len(notebooks)} notebooks on the sample data: {', '.join(nb.stem for nb in notebooks)}.",
        "Cold: an empty contract cache (the first run on new data); warm: the cache that side's cold run left.",
        "",
        "| pipeline | cold | warm | speed-up cold / warm |",
        "| --- | ---: | ---: | ---: |",
        f"| hand-run: papermill CLI, then `jupyter nbconvert --to html`, per notebook | {seconds['hand_cold']:.1f} s | "
        f"{seconds['hand_warm']:.1f} s | 1.0× / 1.0× |",
        f"| `kit report {args.quarter}` (default `--jobs {cores}`) | {seconds['kit_cold']:.1f} s | {seconds['kit_warm']:.1f} s | "
        f"{seconds['hand_cold'] / seconds['kit_cold']:.1f}× / {seconds['hand_warm'] / seconds['kit_warm']:.1f}× |",
        f"| `kit report {args.quarter} --jobs 1` | | {seconds['kit1_warm']:.1f} s | – / "
        f"{seconds['hand_warm'] / seconds['kit1_warm']:.1f}× |",
        "",
        "Per notebook (hand-run: papermill + nbconvert; kit: execution + export inside a worker, in parallel):",
        "",
        "| notebook | hand-run cold | kit cold | hand-run warm | kit warm | kit --jobs 1 warm |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for notebook in notebooks:
        name = notebook.stem
        cells = [best[key][1].get(name, float("nan")) for key in ("hand_cold", "kit_cold", "hand_warm", "kit_warm", "kit1_warm")]
        lines.append(f"| {name} | " + " | ".join(f"{c:.1f} s" for c in cells) + " |")
    status = "all notebooks ok" if not any(codes) else f"exit codes {codes}: some notebooks failed"
    def met(kind: str) -> bool:
        return seconds[f"hand_{kind}"] / seconds[f"kit_{kind}"] >= 2 and seconds[f"kit_{kind}"] <= 30

    lines += ["", f"kit report status: {status}. Goals: ≥ 2× faster than the hand-run pipeline and the whole quarter in "
              f"≤ 30 s on a 2-core machine: cold {'met' if met('cold') else 'not met'} "
              f"({seconds['hand_cold'] / seconds['kit_cold']:.1f}×, {seconds['kit_cold']:.1f} s), warm "
              f"{'met' if met('warm') else 'not met'} ({seconds['hand_warm'] / seconds['kit_warm']:.1f}×, "
              f"{seconds['kit_warm']:.1f} s).", ""]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
