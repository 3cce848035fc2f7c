"""Benchmark: ``kit report QUARTER`` against the hand-run pipeline, side by side in one run.

The hand-run pipeline is what analysts do without the kit: for each notebook, the papermill CLI
(``papermill --cwd notebooks -k python3 NB OUT -p quarter Q``), then ``jupyter nbconvert --to html``
on the result, one notebook after the other. Both sides run the same notebooks on the same data;
each side starts from a fresh output folder. Timings are wall-clock, measured here only (never in
tests).

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

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results" / "report.md"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # both sides draw figures inline, as in JupyterLab
    return env


def hand_run(notebooks: list[Path], quarter: str, out: Path) -> tuple[float, dict[str, float]]:
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
                       check=False, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run([str(BIN / "jupyter"), "nbconvert", "--to", "html", "--log-level", "WARN", str(executed)],
                       check=True, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        per_notebook[notebook.stem] = time.perf_counter() - t0
    return time.perf_counter() - started, per_notebook


def kit_run(quarter: str, out: Path, jobs: int | None) -> tuple[float, dict[str, float], int]:
    command = [str(BIN / "kit"), "report", quarter, "--out", str(out), "--no-progress"]
    if jobs:
        command += ["--jobs", str(jobs)]
    started = time.perf_counter()
    result = subprocess.run(command, env=_env(), capture_output=True, text=True)
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
    rows: dict[str, list] = {"hand": [], "kit": [], "kit1": []}
    with tempfile.TemporaryDirectory(prefix="bench-report-") as scratch:
        for attempt in range(args.repeat):
            base = Path(scratch) / str(attempt)
            rows["hand"].append(hand_run(notebooks, args.quarter, base / "hand"))
            rows["kit"].append(kit_run(args.quarter, base / "kit", None))
            rows["kit1"].append(kit_run(args.quarter, base / "kit1", 1))
            shutil.rmtree(base, ignore_errors=True)
    hand_seconds, hand_per = min(rows["hand"], key=lambda r: r[0])
    kit_seconds, kit_per, kit_code = min(rows["kit"], key=lambda r: r[0])
    kit1_seconds, kit1_per, kit1_code = min(rows["kit1"], key=lambda r: r[0])

    revision = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    lines = [
        "# `kit report` against the hand-run pipeline",
        "",
        f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC at commit `{revision}` by `bench/bench_report.py` "
        f"(best of {args.repeat}); {platform.machine()}, {cores} cores available, Python {platform.python_version()}. "
        "The machine was shared with other work while measuring, so absolute times are noisy; both sides ran back to back.",
        "",
        f"Quarter {args.quarter}, {len(notebooks)} notebooks on the sample data: {', '.join(nb.stem for nb in notebooks)}.",
        "",
        "| pipeline | wall time | speed-up |",
        "| --- | ---: | ---: |",
        f"| hand-run: papermill CLI, then `jupyter nbconvert --to html`, per notebook | {hand_seconds:.1f} s | 1.0× |",
        f"| `kit report {args.quarter} --jobs 1` | {kit1_seconds:.1f} s | {hand_seconds / kit1_seconds:.1f}× |",
        f"| `kit report {args.quarter}` (default `--jobs {cores}`) | {kit_seconds:.1f} s | {hand_seconds / kit_seconds:.1f}× |",
        "",
        "Per notebook (hand-run: papermill + nbconvert; kit: execution + export inside a worker, in parallel):",
        "",
        "| notebook | hand-run | kit --jobs 1 | kit |",
        "| --- | ---: | ---: | ---: |",
    ]
    for notebook in notebooks:
        name = notebook.stem
        lines.append(f"| {name} | {hand_per.get(name, float('nan')):.1f} s | {kit1_per.get(name, float('nan')):.1f} s | "
                     f"{kit_per.get(name, float('nan')):.1f} s |")
    status = "all notebooks ok" if kit_code == 0 and kit1_code == 0 else f"exit codes {kit_code}/{kit1_code}: some notebooks failed"
    lines += ["", f"kit report status: {status}. Goals: ≥ 2× faster than the hand-run pipeline and the whole quarter in ≤ 30 s "
              f"on a 2-core machine: {'met' if hand_seconds / kit_seconds >= 2 and kit_seconds <= 30 else 'not met'} "
              f"({hand_seconds / kit_seconds:.1f}×, {kit_seconds:.1f} s).", ""]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
