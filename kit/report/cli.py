"""``kit report QUARTER [QUARTER ...]``: every notebook of the quarter into self-contained HTML with an index."""
from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``kit report``."""
    parser.add_argument("quarters", nargs="+", metavar="QUARTER", help="quarter(s) to report on, e.g. 2025Q4")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="parent folder of the reports: each quarter goes to DIR/<QUARTER>/ (default: reports/)")
    parser.add_argument("--only", nargs="+", metavar="NAME", default=None,
                        help="run only these notebooks (01, channel_roi or 01_channel_roi); "
                             "the other pages of an existing report are kept")
    parser.add_argument("--source", metavar="URL", default=None,
                        help="data source for every notebook: a folder, a DuckDB file or an Ibis URL (default: the sample)")
    parser.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                        help="notebooks run in parallel (default: the number of cores)")
    parser.add_argument("--notebooks", metavar="DIR", default=None,
                        help="folder of the NN_*.ipynb notebooks (default: notebooks/)")
    parser.add_argument("--timeout", type=float, default=1800.0, metavar="SECONDS",
                        help="longest a single cell may run before its notebook fails (default: 1800)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Run ``kit report``; returns the exit status."""
    from kit.params import ParamsError
    from kit.report.runner import ReportError, build_reports

    if args.jobs is not None and args.jobs < 1:
        print("kit report: --jobs must be at least 1", file=sys.stderr)
        return 2
    try:
        reports = build_reports(args.quarters, out=args.out, only=args.only, source=args.source, jobs=args.jobs,
                                notebooks_dir=args.notebooks, timeout=args.timeout, progress=not args.no_progress)
    except (ReportError, ParamsError, ValueError) as error:
        print(f"kit report: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kit report: interrupted; existing reports were left as they were", file=sys.stderr)
        return 130
    for report in reports:
        failed = [e for e in report.entries if not e.ok]
        done = len(report.entries) - len(failed)
        print(f"{report.quarter}: {done}/{len(report.entries)} reports ok in {report.seconds:.1f} s → {report.index}")
        for entry in failed:
            first_line = (entry.error or "").splitlines()[0] if entry.error else ""
            print(f"  FAILED {entry.name}: {first_line}")
        if report.tiles_error:
            print(f"  KPI tiles unavailable: {report.tiles_error}")
        for note in report.notes:
            print(f"  note: {note}")
    return 0 if all(r.ok for r in reports) else 1
