"""``kit notebooks``: re-execute the committed notebooks in place (2025Q4 on the sample data), for nbval.

Each notebook is executed into a temporary file and replaces the committed one only if it ran
without error, so a failing notebook keeps its last good outputs (and the command exits non-zero).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

REFERENCE_QUARTER = "2025Q4"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``kit notebooks``."""
    parser.add_argument("--only", nargs="+", metavar="NAME", default=None, help="only these notebooks (01, channel_roi …)")
    parser.add_argument("--jobs", "-j", type=int, default=None, metavar="N", help="parallel notebooks (default: cores)")
    parser.add_argument("--notebooks", metavar="DIR", default=None, help="folder of the notebooks (default: notebooks/)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def refresh(notebooks_dir: Path | str | None = None, only=None, jobs: int | None = None, progress: bool = True) -> list:
    """Re-execute the notebooks in place with ``quarter="2025Q4"`` and the default source; returns the outcomes."""
    from kit import config
    from kit.report.runner import Task, discover, run_tasks, select

    folder = Path(notebooks_dir) if notebooks_dir is not None else config.NOTEBOOKS_DIR
    notebooks = select(discover(folder), only)
    with tempfile.TemporaryDirectory(prefix="kit-notebooks-") as scratch:
        tasks = [Task(REFERENCE_QUARTER, nb, Path(scratch), {"quarter": REFERENCE_QUARTER, "source": None}, folder,
                      export_html=False) for nb in notebooks]
        outcomes = run_tasks(tasks, jobs=jobs, progress=progress)
        for task, outcome in zip(tasks, outcomes):
            if outcome.ok:
                shutil.copyfile(Path(scratch) / f"{task.name}.ipynb", task.notebook)
    return outcomes


def run(args: argparse.Namespace) -> int:
    """Run ``kit notebooks``; returns the exit status."""
    from kit.report.runner import ReportError

    try:
        outcomes = refresh(args.notebooks, args.only, args.jobs, progress=not args.no_progress)
    except ReportError as error:
        print(f"kit notebooks: {error}", file=sys.stderr)
        return 2
    for outcome in outcomes:
        state = "re-executed" if outcome.ok else f"FAILED (kept the previous version): {(outcome.error or '').splitlines()[0]}"
        print(f"{outcome.name}: {state} ({outcome.seconds:.1f} s)")
    return 0 if all(o.ok for o in outcomes) else 1
