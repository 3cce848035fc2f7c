"""Benchmark: the parity suite's analyses (tests/parity.py) on each engine, one table of times.

Each engine runs every step once in a fresh process (so Spark's session start is counted apart,
as "connect"), with no remembered contract passes; the DuckDB run is the reference and every
other engine's results are compared with it (equal = within the parity tolerances).

    .venv/bin/python bench/bench_parity.py                             # the slice, duckdb/spark/postgres
    .venv/bin/python bench/bench_parity.py --data sample --engines spark  # the whole sample on Spark local

PostgreSQL needs KIT_POSTGRES_URL (``.ci/postgres start`` prints one). Timings only, never in tests.
"""
from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _one(engine: str, data: str, folder: Path, out: Path) -> None:
    """Run every step on one engine (in this process) and pickle results and times to ``out``."""
    import kit
    from tests import engines, parity

    p = parity.params() if data == "slice" else kit.params.load(parity.QUARTER)
    began = time.perf_counter()
    if engine == "duckdb":
        src = kit.connect(folder, params=p, reuse_checks=False)
    elif engine == "spark":
        spec = engines.spark_source_spec(folder)
        if data == "sample":  # the sample's big tables are folders of Parquet parts
            spec["tables"] = {name: str(next(iter(sorted(folder.glob(f"{name}*"))))) for name in spec["tables"]}
        src = kit.connect(spec, params=p, reuse_checks=False)
        src.backend.raw_sql("SELECT 1")  # the session is up
    else:
        url = engines.load_postgres(os.environ["KIT_POSTGRES_URL"], folder, f"kit_bench_{data}")
        src = kit.connect(url, params=p)
    connect = time.perf_counter() - began
    results, seconds = parity.run(src, p)
    out.write_bytes(pickle.dumps((results, {"connect": connect, **seconds})))


def main() -> None:
    """Run the engines one after the other and print the Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="duckdb,spark,postgres")
    parser.add_argument("--data", choices=["slice", "sample"], default="slice")
    parser.add_argument("--one", nargs=3, metavar=("ENGINE", "FOLDER", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        _one(args.one[0], args.data, Path(args.one[1]), Path(args.one[2]))
        return

    from kit import config
    from tests import engines, parity

    scratch = Path(tempfile.mkdtemp(prefix="kit-bench-parity-"))
    folder = scratch / "slice" if args.data == "slice" else config.SAMPLE_DIR
    if args.data == "slice":
        engines.write_slice(folder)
    names = args.engines.split(",")
    runs = {}
    for engine in names:
        out = scratch / f"{engine}.pickle"
        subprocess.run([sys.executable, __file__, "--data", args.data, "--one", engine, str(folder), str(out)],
                       check=True, env={**os.environ, "KIT_CACHE_DIR": str(scratch / f"cache-{engine}")})
        runs[engine] = pickle.loads(out.read_bytes())
    reference = runs[names[0]][0]
    steps = list(runs[names[0]][1])
    print(f"| step | {' | '.join(names)} |")
    print(f"| --- |{' --- |' * len(names)}")
    for step in steps:
        cells = []
        for engine in names:
            results, seconds = runs[engine]
            if step not in seconds:
                cells.append("–")
                continue
            same = "" if engine == names[0] or step == "connect" else (
                " equal" if not parity.differences(reference[step], results[step]) else " **differs**")
            cells.append(f"{seconds[step]:.1f} s{same}")
        print(f"| {step} | {' | '.join(cells)} |")
    totals = [sum(v for k, v in runs[e][1].items()) for e in names]
    print(f"| total | {' | '.join(f'{t:.0f} s' for t in totals)} |")


if __name__ == "__main__":
    main()
