"""``kit notebooks``: re-execute the committed notebooks in place (2025Q4 on the sample data), for nbval.

Each notebook is executed into a temporary file and replaces the committed one only if it ran
without error, so a failing notebook keeps its last good outputs (and the command exits non-zero).

In a project (``--project DIR``, or run from inside one) the kit's notebooks are executed for
``--quarter`` on the project's data into the project's ``notebooks/`` folder instead, as working
copies to open in Jupyter; a notebook whose analysis the source cannot feed is skipped with the
reason (as ``kit report`` does). The kit's own notebooks are never touched then.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

REFERENCE_QUARTER = "2025Q4"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    parser.add_argument("--only", nargs="+", metavar="NAME", default=None, help="only these notebooks (01, channel_roi …)")
    parser.add_argument("--jobs", "-j", type=int, default=None, metavar="N", help="parallel notebooks (default: cores)")
    parser.add_argument("--notebooks", metavar="DIR", default=None, help="folder of the notebooks (default: notebooks/)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--project", metavar="DIR", default=None,
                        help="execute for this project into its notebooks/ folder (default: found from the current "
                             "folder; without one, the kit's notebooks are re-executed in place)")
    parser.add_argument("--quarter", metavar="QUARTER", default=None,
                        help=f"the quarter (in a project: required; the kit's own notebooks: {REFERENCE_QUARTER})")


def refresh(notebooks_dir: Path | str | None = None, only=None, jobs: int | None = None, progress: bool = True,
            project=None, quarter: str | None = None) -> list:
    """Execute the notebooks and keep those that ran (see the module docstring); returns the outcomes."""
    from kit import config
    from kit.project import ENVIRONMENT_VARIABLE, find
    from kit.quarter import Quarter
    from kit.report.runner import ReportError, Task, _check_contract_once, _skipped, discover, run_tasks, select

    chosen = find(project)
    folder = Path(notebooks_dir) if notebooks_dir is not None else config.NOTEBOOKS_DIR
    notebooks = select(discover(folder), only)
    if chosen.embedded:
        label, target, environment, reasons = Quarter(quarter or REFERENCE_QUARTER).label, folder, {}, {}
    else:
        if quarter is None:
            raise ReportError(f"name the quarter for project {chosen.root}, e.g. --quarter 2025Q4")
        label, target = Quarter(quarter).label, chosen.root / "notebooks"
        environment = {ENVIRONMENT_VARIABLE: str(chosen.root)}
        reasons = _check_contract_once([label], None, chosen)[label]
        target.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kit-notebooks-") as scratch:
        tasks = [Task(label, nb, Path(scratch), {"quarter": label, "source": None}, folder, export_html=False,
                      environment=environment) for nb in notebooks]
        outcomes = run_tasks([t for t in tasks if t.name not in reasons], jobs=jobs, progress=progress)
        for outcome in outcomes:
            if outcome.ok:
                shutil.copyfile(Path(scratch) / f"{outcome.name}.ipynb", target / f"{outcome.name}.ipynb")
    skipped = [_skipped(t, reasons[t.name]) for t in tasks if t.name in reasons]
    return sorted(outcomes + skipped, key=lambda o: o.name)


def run(args: argparse.Namespace) -> int:
    """Run ``kit notebooks``; returns the exit status."""
    from kit.project import ProjectError
    from kit.report.runner import ReportError

    try:
        outcomes = refresh(args.notebooks, args.only, args.jobs, progress=not args.no_progress,
                           project=args.project, quarter=args.quarter)
    except (ReportError, ProjectError, ValueError) as error:
        print(f"kit notebooks: {error}", file=sys.stderr)
        return 2
    for outcome in outcomes:
        if outcome.status == "skipped":
            state = f"skipped: {outcome.error}"
        elif outcome.ok:
            state = f"re-executed ({outcome.seconds:.1f} s)"
        else:
            state = f"FAILED (kept the previous version): {(outcome.error or '').splitlines()[0]} ({outcome.seconds:.1f} s)"
        print(f"{outcome.name}: {state}")
    return 0 if all(o.ok for o in outcomes) else 1
