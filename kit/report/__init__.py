"""The report runner behind ``kit report``: notebooks → executed notebooks + offline HTML + an index.

    from kit.report import build_reports
    reports = build_reports(["2025Q4"])          # reports/2025Q4/index.html …
    reports[0].ok, reports[0].entries

See :mod:`kit.report.runner` for how a run is organised (parallel processes, atomic folders).
"""
from __future__ import annotations

from kit.report.runner import (
    MANIFEST,
    Outcome,
    QuarterReport,
    ReportError,
    build_reports,
    default_jobs,
    discover,
    select,
)

__all__ = ["MANIFEST", "Outcome", "QuarterReport", "ReportError", "build_reports", "default_jobs", "discover", "select"]
