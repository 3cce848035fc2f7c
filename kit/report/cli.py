"""``kit report QUARTER [QUARTER ...]``: every notebook of the quarter into self-contained HTML with an index."""
from __future__ import annotations

import argparse
import sys

EXIT_BUSY = 75  # EX_TEMPFAIL: another run is writing the folder; try again later


def interrupted_message(interrupt: KeyboardInterrupt) -> str:
    """The one line a stopped run prints: what stopped it, and what became of the reports."""
    what = interrupt.describe() if hasattr(interrupt, "describe") else "Ctrl-C (SIGINT)"
    published = ", ".join(folder.name for folder in getattr(interrupt, "published", []))
    kept = (f"{published} had already been replaced, the other existing reports were left as they were"
            if published else "existing reports were left as they were")
    return f"kit report: stopped by {what}; {kept}; workers stopped, partial folders removed"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``kit report``."""
    parser.add_argument("quarters", nargs="+", metavar="QUARTER", help="quarter(s) to report on, e.g. 2025Q4")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="parent folder of the reports: each quarter goes to DIR/<QUARTER>/ (default: the project's reports/)")
    parser.add_argument("--only", nargs="+", metavar="NAME", default=None,
                        help="run only these notebooks (01, channel_roi or 01_channel_roi); "
                             "the other pages of an existing report are kept")
    parser.add_argument("--source", metavar="URL", default=None,
                        help="data source for every notebook: a folder, a DuckDB file or an Ibis URL "
                             "(default: the project's source; without a project, the sample)")
    parser.add_argument("--project", metavar="DIR", default=None,
                        help="the project (params, reports/) to report on (default: found from the current folder, "
                             "else the embedded sample project)")
    parser.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                        help="notebooks run in parallel (default: the number of cores)")
    parser.add_argument("--notebooks", metavar="DIR", default=None,
                        help="folder of the NN_*.ipynb notebooks (default: notebooks/)")
    parser.add_argument("--timeout", type=float, default=1800.0, metavar="SECONDS",
                        help="longest a single cell may run before its notebook fails (default: 1800)")
    parser.add_argument("--wait", action="store_true",
                        help="if another run is writing the same report folder, wait for it to finish "
                             "(default: refuse, exit status 75)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Run ``kit report``; returns the exit status."""
    from kit.report.faults import FolderBusy, StopOnSignals

    if args.jobs is not None and args.jobs < 1:
        print("kit report: --jobs must be at least 1", file=sys.stderr)
        return 2
    try:
        with StopOnSignals():  # from here on, Ctrl-C and SIGTERM end in the one line below
            from kit.params import ParamsError
            from kit.project import ProjectError
            from kit.report.runner import ReportError, build_reports

            try:
                reports = build_reports(args.quarters, out=args.out, only=args.only, source=args.source,
                                        jobs=args.jobs, notebooks_dir=args.notebooks, timeout=args.timeout,
                                        progress=not args.no_progress, project=args.project, wait=args.wait)
            except (ReportError, ParamsError, ProjectError, ValueError) as error:
                print(f"kit report: {error}", file=sys.stderr)
                return 2
    except FolderBusy as error:
        print(f"kit report: {error}", file=sys.stderr)
        return EXIT_BUSY
    except KeyboardInterrupt as interrupt:
        print(interrupted_message(interrupt), file=sys.stderr)
        return getattr(interrupt, "exit_status", 130)
    for report in reports:
        failed = [e for e in report.entries if not e.ok]
        skipped = [e for e in report.entries if e.status == "skipped"]
        done = len(report.entries) - len(failed) - len(skipped)
        print(f"{report.quarter}: {done}/{len(report.entries)} reports ok" + (f", {len(skipped)} skipped" if skipped else "")
              + f" in {report.seconds:.1f} s → {report.index}")
        for entry in skipped:
            print(f"  skipped {entry.name}: {entry.error}")
        for entry in failed:
            first_line = (entry.error or "").splitlines()[0] if entry.error else ""
            print(f"  FAILED {entry.name}: {first_line}")
        if report.tiles_error:
            print(f"  KPI tiles unavailable: {report.tiles_error}")
        for note in report.notes:
            print(f"  note: {note}")
    return 0 if all(r.ok for r in reports) else 1
