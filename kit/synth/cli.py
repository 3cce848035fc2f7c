"""``kit synth [--seed N] [--out DIR] [--scale X] [--if-missing]``."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from kit import config
from kit.synth import plan


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``kit synth``."""
    parser.add_argument("--seed", type=int, default=plan.DEFAULT_SEED, help=f"random seed (default {plan.DEFAULT_SEED})")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: data/sample at scale 1, bench/data/scale-X otherwise)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply users, sessions, events and orders (e.g. 5 gives ~100M events); default 1")
    parser.add_argument("--if-missing", action="store_true",
                        help="do nothing if the output exists and matches its MANIFEST.sha256")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Run ``kit synth``; returns the exit status."""
    from kit.synth import io
    from kit.synth.generator import generate

    if args.scale <= 0:
        print(f"kit synth: --scale must be > 0, got {args.scale}", file=sys.stderr)
        return 2
    out = args.out
    if out is None:
        out = config.SAMPLE_DIR if args.scale == 1 else config.BENCH_DATA_DIR / f"scale-{args.scale:g}"
    out = Path(out)
    if args.if_missing and (out / io.MANIFEST).exists() and (out / "truth.json").exists():
        problems = io.manifest_mismatches(out)
        if not problems:
            print(f"kit synth: {out} is up to date (matches {io.MANIFEST})")
            return 0
        print(f"kit synth: {out} does not match its manifest ({problems[0]}{' …' if len(problems) > 1 else ''}); regenerating")
    began = time.perf_counter()
    expected = io.read_manifest(out) if (out / io.MANIFEST).exists() else None
    truth = generate(out, seed=args.seed, scale=args.scale, progress=not args.quiet)
    entries = {p.relative_to(out).as_posix(): io.sha256(p) for p in io.data_files(out)}
    if args.if_missing and expected is not None and args.seed == plan.DEFAULT_SEED and entries != expected:
        print("kit synth: warning: the regenerated files differ from the committed manifest "
              "(another numpy/pyarrow version?); the manifest is left unchanged", file=sys.stderr)
    else:
        io.write_manifest(out)
    seconds = time.perf_counter() - began
    size = sum(p.stat().st_size for p in io.data_files(out))
    sizes = ", ".join(f"{k} {v:,}" for k, v in truth["sizes"].items())
    print(f"kit synth: wrote {out} in {seconds:.1f} s ({size / 1e6:.1f} MB): {sizes}")
    return 0
