"""Benchmark of the sample generator: wall time, CPU time, peak memory and bytes per scale.

    .venv/bin/python bench/bench_synth.py [--scales 1 4.2] [--keep]

Each scale runs ``kit synth --scale X --out bench/data/scale-X`` in a child process, so its peak
memory (``ru_maxrss``) is its own. Scale 4.2 writes ~105M events (monthly Parquet parts: memory
stays bounded by one month of sessions). Results go to bench/results/synth.json; the generated
folders are deleted unless --keep (bench/data is git-ignored).
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_scale(scale: float, keep: bool) -> dict:
    out = ROOT / "bench" / "data" / f"scale-{scale:g}"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kit.synth", "--scale", str(scale), "--out", str(out), "--quiet"], check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    truth = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    result = {
        "scale": scale,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1),
        "peak_rss_mb": round(after.ru_maxrss / 1024, 0),   # max over children so far (Linux: KiB)
        "bytes": size,
        "rows": truth["sizes"],
    }
    if not keep:
        shutil.rmtree(out)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 4.2])
    parser.add_argument("--keep", action="store_true", help="keep the generated folders")
    args = parser.parse_args()
    results = [run_scale(s, args.keep) for s in args.scales]
    print(f"{'scale':>6} {'events':>13} {'wall s':>8} {'cpu s':>8} {'peak MB':>8} {'MB on disk':>10}")
    for r in results:
        print(f"{r['scale']:>6g} {r['rows']['events']:>13,} {r['wall_seconds']:>8} {r['cpu_seconds']:>8} "
              f"{r['peak_rss_mb']:>8.0f} {r['bytes'] / 1e6:>10.0f}")
    # Merge with earlier runs of other scales (one entry per scale, the latest run wins).
    target = ROOT / "bench" / "results" / "synth.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    earlier = json.loads(target.read_text(encoding="utf-8")) if target.exists() else []
    merged = {r["scale"]: r for r in earlier} | {r["scale"]: r for r in results}
    target.write_text(json.dumps([merged[k] for k in sorted(merged)], indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
