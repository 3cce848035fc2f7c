"""Paths of the project, in one place (notebooks and the CLI import them from here)."""
from __future__ import annotations

import os
import platform
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


def reproducible_blas() -> dict[str, str]:
    """Environment that makes OpenBLAS compute the same last bits on every x86-64 machine.

    OpenBLAS picks its kernels by CPU (Haswell, SkylakeX, …) and they round differently, enough to
    move a bootstrap draw and a shown digit (a response-curve interval bound, say). The committed
    notebooks are computed with the Haswell kernels, which every x86-64 CPU with AVX2 runs; this
    pins them there (elsewhere, or when the caller chose, it returns nothing). It must be in the
    environment before numpy is imported: kernels of `kit report` and nbval get it at start.
    """
    if "OPENBLAS_CORETYPE" in os.environ or platform.machine().lower() not in ("x86_64", "amd64"):
        return {}
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    return {"OPENBLAS_CORETYPE": "Haswell"} if " avx2" in flags else {}
