"""Benchmark: how fast ``kit report`` stops under each fault, and what it leaves behind.

The same tiny notebook folder as tests/test_report_faults.py (two notebooks that wait to be
released) over a previous good report. For each fault, once both kernels run: the signal, then
the seconds until the main process exits, the seconds until no process of the run is left
(found by an environment marker, in /proc), the exit status, the message, and what remains in
the output folder. Timings are wall-clock, measured here only (the tests check bounds loosely).

    .venv/bin/python bench/bench_report_faults.py --repeat 3    # writes bench/results/report_faults.md
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_overview import write_shop  # noqa: E402
from tests.test_report import fixture_notebook  # noqa: E402
from tests.test_report_faults import WAITING_CODE, Lab  # noqa: E402

FAULTS = {
    "Ctrl-C (SIGINT to the process group)": lambda run: os.killpg(run.pid, signal.SIGINT),
    "SIGTERM to the main process": lambda run: os.kill(run.pid, signal.SIGTERM),
    "SIGKILL of the main process": lambda run: os.kill(run.pid, signal.SIGKILL),
}


def measure(root: Path, shop: Path, fault) -> dict:
    """One run, one fault: times, status, message, processes and leftovers."""
    notebooks = root / "notebooks"
    notebooks.mkdir()
    for name in ("01_first", "02_second"):
        fixture_notebook(notebooks / f"{name}.ipynb", name, WAITING_CODE)
    lab = Lab(root, notebooks, shop)
    try:
        lab.previous_report()
        run = lab.start()
        lab.wait_started(2, run)
        before = len(lab.processes())
        signalled = time.monotonic()
        fault(run)
        run.wait(timeout=60)
        exited = time.monotonic() - signalled
        at_5 = None
        while lab.processes() and time.monotonic() - signalled < 30:
            if at_5 is None and time.monotonic() - signalled >= 5:
                at_5 = len(lab.processes())
            time.sleep(0.05)
        gone = time.monotonic() - signalled
        left_10 = len(lab.processes())
        message = run.stderr_path.read_text().strip()
        leftovers = lab.leftovers()
        return {"status": run.returncode, "exit_s": exited, "gone_s": gone, "processes": before,
                "left_at_5s": at_5 or 0, "left_after": left_10, "message": message, "leftovers": leftovers}
    finally:
        lab.kill_everything()


def main() -> None:
    """Measure every fault ``--repeat`` times; write a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "report_faults.md")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        shop = Path(tmp) / "shop"
        write_shop(shop)
        for name, fault in FAULTS.items():
            results = [measure(Path(tempfile.mkdtemp(dir=tmp)), shop, fault) for _ in range(args.repeat)]
            rows.append((name, results))
            print(name, [(r["status"], round(r["exit_s"], 2), round(r["gone_s"], 2), r["left_after"]) for r in results],
                  flush=True)
    lines = [f"# kit report under faults ({dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, "
             f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, {args.repeat} runs each)", "",
             "Two waiting fixture notebooks (`--jobs 2`), signalled once both kernels run. *exit*: signal to "
             "the main process's exit; *all gone*: to the last process of the run (marker in /proc).", "",
             "| fault | exit status | exit s (median, max) | all gone s (median, max) | processes before | "
             "left at 5 s (max) | left at 30 s | left in the folder |", "|---|---|---|---|---|---|---|---|"]
    for name, results in rows:
        exits = [r["exit_s"] for r in results]
        gone = [r["gone_s"] for r in results]
        lines.append(f"| {name} | {', '.join(sorted({str(r['status']) for r in results}))} | "
                     f"{statistics.median(exits):.2f}, {max(exits):.2f} | {statistics.median(gone):.2f}, {max(gone):.2f} | "
                     f"{results[0]['processes']} | {max(r['left_at_5s'] for r in results)} | {max(r['left_after'] for r in results)} | "
                     f"{sorted({n.split('-')[0] for r in results for n in r['leftovers']}) or 'nothing'} |")
    lines += ["", "Messages:", ""]
    for name, results in rows:
        lines.append(f"- {name}: `{results[0]['message'] or '(none: the process was killed)'}`")
    args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
