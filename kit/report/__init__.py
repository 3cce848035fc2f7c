"""The report runner behind ``kit report``: notebooks → executed notebooks + offline HTML + an index.

    from kit.report import build_reports
    reports = build_reports(["2025Q4"])          # reports/2025Q4/index.html …
    reports[0].ok, reports[0].entries

See :mod:`kit.report.runner` for how a run is organised (parallel processes, atomic folders).
"""
from __future__ import annotations

import sys


def _import_jsonschema_without_iri_checker() -> None:
    """Import jsonschema (under nbformat and papermill) without its optional 'iri' format checker.

    When rfc3987-syntax is installed (jupyter-events pulls it in), jsonschema imports it at its own
    import, and that module builds an Earley parser right away: 1.9 s here, paid by the report
    process and again by the fork server. Notebook validation never checks that format (nbformat's
    schemas use no string formats), so the one import is made to fail, and put back afterwards.
    """
    if "jsonschema" in sys.modules or "rfc3987_syntax" in sys.modules:
        return
    sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  # makes the import raise ImportError
    try:
        import jsonschema  # noqa: F401
    finally:
        del sys.modules["rfc3987_syntax"]


_import_jsonschema_without_iri_checker()

__all__ = ["MANIFEST", "Outcome", "QuarterReport", "ReportError", "build_reports", "default_jobs", "discover", "select"]


def __getattr__(name: str):
    # On first use: importing kit.report.workers (the fork server's start) must not import the runner.
    if name in __all__:
        from kit.report import runner
        return getattr(runner, name)
    raise AttributeError(f"module 'kit.report' has no attribute {name!r}")
