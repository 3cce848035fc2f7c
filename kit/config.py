"""Paths of the project, in one place (notebooks and the CLI import them from here)."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
# The embedded default source; KIT_SAMPLE_DIR lets tests and benchmarks point elsewhere.
SAMPLE_DIR = Path(os.environ.get("KIT_SAMPLE_DIR", DATA_DIR / "sample"))
PARAMS_DIR = ROOT / "params"
NOTEBOOKS_DIR = ROOT / "notebooks"
REPORTS_DIR = ROOT / "reports"
BENCH_DATA_DIR = ROOT / "bench" / "data"    # generated benchmark data (not committed)

DEFAULT_TIMEZONE = "Asia/Shanghai"


def cache_dir() -> Path | None:
    """Where the kit remembers work across runs (tables that passed the contract): KIT_CACHE_DIR,
    else $XDG_CACHE_HOME/kit or ~/.cache/kit; ``KIT_CACHE_DIR=off`` remembers nothing. Read at
    each use, so a test or a report run can point it elsewhere."""
    chosen = os.environ.get("KIT_CACHE_DIR")
    if chosen == "off":
        return None
    if chosen:
        return Path(chosen)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kit"
