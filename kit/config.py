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

DEFAULT_TIMEZONE = "Asia/Shanghai"
