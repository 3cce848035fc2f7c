"""The report runner: every notebook of a quarter through papermill into HTML pages and an index.

How a run goes, and why:

- Notebooks run in parallel *processes* (``jobs``, default: the cores this process may use), each
  in a fresh worker forked from a fork server that imported the tooling and the kit once
  (:mod:`kit.report.warm`); the worker forks the notebook's kernel (:mod:`kit.report.kernel`), so
  neither pays for Python start-up or imports (the hand-run pipeline pays them twice per notebook).
  The fork server starts first and warms up while this process checks the data contract, once;
  notebooks skip the tables that passed (see :class:`kit.source.Source`). DuckDB never runs in a
  process that forks.
- Each quarter is written into a hidden temporary folder next to its destination and moved into
  place at the end. An interrupted run leaves the previous folder as it was. A run with a failing
  notebook replaces a previous folder only if that one was not a good report itself; otherwise it
  lands beside it in ``<QUARTER>.failed/`` so a good report is never replaced by a broken one.
- A failing notebook does not stop the others; its executed notebook and page (with the error) are
  still written, the index shows the error, and the run ends with a non-zero status.

Under faults (:mod:`kit.report.faults` has the mechanisms, :class:`_RunGuard` sets them up):

- SIGINT (Ctrl-C, to the whole process group) and SIGTERM raise ``Interrupted`` in this process
  only: the fork server and the workers ignore SIGINT, this process stops the workers (SIGTERM,
  SIGKILL after a few seconds), their kernels die with them, the partial folders are removed, and
  ``kit report`` prints one line and exits 130 / 143.
- If this process is killed outright (SIGKILL), each worker sees it through a pidfd and stops as on
  SIGTERM; its kernel dies with it (``PR_SET_PDEATHSIG``). The next run removes the partial folder.
- A folder is replaced by one ``renameat2(RENAME_EXCHANGE)``: at every moment the old report or
  the new one is in place, complete. Where that is refused, two renames with the stop signals
  held back; a SIGKILL between them leaves the old report beside its place, and the next run puts
  it back.
- One run at a time per quarter folder (``flock`` on ``.<QUARTER>.lock``); a second one waits
  (``wait=True``, ``--wait``) or gets ``FolderBusy``. Holding the lock, a run clears what killed
  runs left for that quarter.
"""
from __future__ import annotations

import html
import json
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import nbformat

from kit import config
from kit.quarter import Quarter
from kit.report.faults import (
    STOP_SIGNALS,
    WORKER_GRACE_SECONDS,
    ExchangeUnsupported,
    FolderLock,
    Interrupted,
    StopOnSignals,
    end_with,
    exchange,
    stop_processes,
)
from kit.report.workers import stop_fork_server, worker_context

MANIFEST = "kit-report.json"
NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"
KERNEL_NAME = "python3"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class ReportError(ValueError):
    """A report run cannot start (bad quarter, unknown notebook name, unsafe output folder)."""


@dataclass(frozen=True)
class Task:
    """One notebook for one quarter."""

    quarter: str
    notebook: Path
    out_dir: Path
    parameters: dict[str, Any]
    cwd: Path
    kernel_name: str = KERNEL_NAME
    timeout: float | None = None
    export_html: bool = True
    environment: dict[str, str] = field(default_factory=dict)   # set for the kernel (KIT_PROJECT)

    @property
    def name(self) -> str:
        return self.notebook.stem


@dataclass
class Outcome:
    """What happened to one notebook; one row of the index."""

    quarter: str
    name: str
    title: str
    status: str                 # "ok", "failed" or "skipped" (the source lacks what it needs)
    seconds: float
    error: str | None = None    # why it failed, or why it was skipped
    html: str | None = None     # file names inside the quarter's folder
    ipynb: str | None = None
    carried_over: bool = False  # copied from the previous run (``--only``)
    tiles_html: str | None = field(default=None, repr=False)  # KPI tiles the notebook displayed, if any

    @property
    def ok(self) -> bool:
        """Nothing went wrong: it ran, or it was skipped for data the source does not have."""
        return self.status != "failed"


@dataclass
class QuarterReport:
    """The result of one quarter's run."""

    quarter: str
    folder: Path                # where the report ended up
    entries: list[Outcome]
    seconds: float
    tiles_error: str | None = None
    replaced_previous: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(e.ok for e in self.entries)

    @property
    def index(self) -> Path:
        return self.folder / "index.html"


# --------------------------------------------------------------------------------------------
# Discovery

def discover(notebooks_dir: Path | str | None = None) -> list[Path]:
    """The report notebooks, in order: the registered analyses' (:mod:`kit.analyses`) in the kit's
    notebooks folder, or every ``NN_name.ipynb`` of another folder."""
    folder = Path(notebooks_dir) if notebooks_dir is not None else config.NOTEBOOKS_DIR
    if not folder.is_dir():
        raise ReportError(f"notebooks folder not found: {folder}")
    if notebooks_dir is not None and folder.resolve() != Path(config.NOTEBOOKS_DIR).resolve():
        return sorted(folder.glob(NOTEBOOK_PATTERN))
    from kit.analyses import ANALYSES

    registered = [folder / f"{analysis.notebook}.ipynb" for analysis in ANALYSES]
    missing = [path.name for path in registered if not path.exists()]
    if missing:
        raise ReportError(f"registered notebooks missing from {folder}: {', '.join(missing)} (see kit/analyses.py)")
    return sorted(registered)


def select(notebooks: list[Path], only: Iterable[str] | None) -> list[Path]:
    """Notebooks matching ``only``: full stem (``01_channel_roi``), number (``01``) or name (``channel_roi``)."""
    if not only:
        return notebooks
    chosen = []
    for wanted in only:
        key = Path(wanted).stem
        matches = [nb for nb in notebooks if key in (nb.stem, nb.stem[:2], nb.stem[3:])]
        if not matches:
            names = ", ".join(nb.stem for nb in notebooks) or "none"
            raise ReportError(f"--only {wanted!r} matches no notebook; notebooks: {names}")
        chosen.extend(m for m in matches if m not in chosen)
    return sorted(chosen)


def notebook_title(notebook: nbformat.NotebookNode, fallback: str) -> str:
    """The first Markdown heading of the notebook, else a title made from the file name."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return fallback[3:].replace("_", " ").capitalize() if fallback[:2].isdigit() else fallback


# --------------------------------------------------------------------------------------------
# One notebook (runs in a worker process)

def _worker_setup(main: int | None = None) -> None:
    """Set up a worker process; the kernel it forks inherits its environment and stderr.

    - Ctrl-C reaches the whole process group; the parent decides and stops workers with SIGTERM,
      which unwinds papermill so that it shuts its kernel down (see run_tasks); a worker that has
      not exited a few seconds later is ended by SIGALRM.
    - It gets the same SIGTERM when the ``main`` process ends, even by SIGKILL: no worker, and so
      no kernel, outlives the run.
    - stderr goes nowhere: kernels print start-up chatter there. Nothing is lost: cell outputs,
      warnings and errors reach the notebook through the kernel's messages, and a worker's own
      failures come back as outcomes.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if main is not None:
        end_with(main, signal.SIGTERM)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


def _with_environment(task: "Task", environment: dict[str, str]) -> "Outcome":
    """:func:`run_task` with the runner's environment of this run (a worker forked from the fork
    server has the server's, from when it started)."""
    os.environ.clear()
    os.environ.update(environment)
    os.environ.update(task.environment)
    # Figures are shown inline, as in JupyterLab, even when the caller exported MPLBACKEND=Agg
    # (CI does, for the unit tests): with Agg a kernel would silently drop every figure.
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    return run_task(task)


def _exit_on_sigterm(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one unwinding is enough
    signal.alarm(math.ceil(WORKER_GRACE_SECONDS))  # SIGALRM's default action ends a worker stuck unwinding
    raise SystemExit(128 + signum)


def run_task(task: Task) -> Outcome:
    """Execute one notebook with papermill, then export its page. Never raises: failures are outcomes."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from kit.report.export import notebook_to_html, with_error_box
    from kit.report.kernel import kernel_manager_class

    started = time.perf_counter()
    out_ipynb = task.out_dir / f"{task.name}.ipynb"
    out_html = task.out_dir / f"{task.name}.html"
    error = None
    try:
        source_nb = nbformat.read(str(task.notebook), as_version=4)
        title = notebook_title(source_nb, task.name)
    except Exception as exc:  # unreadable notebook: report it like any other failure
        title, source_nb = task.name, None
        error = f"cannot read {task.notebook.name}: {type(exc).__name__}: {exc}"
    if source_nb is not None:
        try:
            papermill.execute_notebook(
                str(task.notebook), str(out_ipynb), parameters=task.parameters, kernel_name=task.kernel_name,
                cwd=str(task.cwd), progress_bar=False, request_save_on_cell_execute=False,
                execution_timeout=task.timeout,
                # Outputs are all in by the end of the last cell; a graceful shutdown only waits
                # (about 2 s per notebook) for the kernel to tidy up a process we discard anyway.
                shutdown_kernel="immediate",
                kernel_manager_class=kernel_manager_class(),
            )
        except PapermillExecutionError as exc:
            evalue = _ANSI.sub("", str(exc.evalue)).strip()
            error = f"{exc.ename}: {evalue}\n(in cell [{exc.exec_count}])"
        except Exception as exc:  # kernel death, timeout, bad parameters …
            error = f"{type(exc).__name__}: {_ANSI.sub('', str(exc)).strip()}"
    tiles, executed = None, None
    if out_ipynb.exists():
        executed = _relative_paths(out_ipynb, task.notebook.name)
        tiles = _find_tiles(executed)
    html_name = None
    if task.export_html:
        try:
            if out_ipynb.exists():
                shown = with_error_box(executed, title) if error else executed
                page = notebook_to_html(shown, f"{title} — {task.quarter}", task.quarter)
            else:
                page = _error_page(title, task.quarter, error or "the notebook produced no output")
            out_html.write_text(page, encoding="utf-8")
            html_name = out_html.name
        except Exception as exc:
            error = error or f"HTML export failed: {type(exc).__name__}: {exc}"
    return Outcome(task.quarter, task.name, title, "failed" if error else "ok", time.perf_counter() - started, error,
                   html_name, out_ipynb.name if out_ipynb.exists() else None, tiles_html=tiles)


def _relative_paths(executed: Path, source_name: str) -> nbformat.NotebookNode:
    """papermill records absolute input/output paths (here a temporary folder); keep only file names."""
    notebook = nbformat.read(str(executed), as_version=4)
    recorded = notebook.metadata.get("papermill")
    if recorded is not None:
        recorded["input_path"] = source_name
        recorded["output_path"] = executed.name
        nbformat.write(notebook, str(executed))
    return notebook


def _find_tiles(notebook: nbformat.NotebookNode) -> str | None:
    """The KPI tiles a notebook displayed (``QuarterOverview.tiles_html``), so the index need not recompute them."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            html_text = output.get("data", {}).get("text/html", "")
            html_text = "".join(html_text) if isinstance(html_text, list) else html_text
            if html_text.lstrip().startswith('<div class="kit-tiles"'):
                return html_text
    return None


def _error_page(title: str, quarter: str, error: str) -> str:
    from kit.report.export import error_box_html

    ename, _, evalue = error.partition(": ")
    box = error_box_html(ename if evalue else "Error", evalue or error, "starting the notebook")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)} — {quarter}</title></head>"
            f"<body style='font-family:system-ui,sans-serif;max-width:1100px;margin:0 auto;'><p><a href='index.html'>← {quarter} reports</a></p>"
            f"<h1>{html.escape(title)}</h1>{box}</body></html>")


# --------------------------------------------------------------------------------------------
# Parallel execution

def default_jobs() -> int:
    """Notebooks run in parallel by default: the number of usable cores."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run_tasks(tasks: list[Task], jobs: int | None = None, progress: bool = True) -> list[Outcome]:
    """Run the tasks in ``jobs`` processes with a progress bar; results in task order."""
    jobs = max(1, min(jobs or default_jobs(), len(tasks) or 1))
    return _run_in_pool(tasks, jobs, worker_context(), progress)


def _run_in_pool(tasks: list[Task], jobs: int, context, progress: bool) -> list[Outcome]:
    from tqdm.auto import tqdm

    outcomes: dict[int, Outcome] = {}
    environment = dict(os.environ)
    # One worker per notebook: each kernel is forked from a worker that has run nothing yet.
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_worker_setup,
                             initargs=(os.getpid(),), max_tasks_per_child=1) as pool:
        futures = {pool.submit(_with_environment, task, environment): i for i, task in enumerate(tasks)}
        bar = tqdm(total=len(tasks), desc="kit report", unit="notebook", disable=not progress, file=sys.stderr)
        try:
            for future in as_completed(futures):
                i = futures[future]
                try:
                    outcomes[i] = future.result()
                except Exception as exc:  # the worker itself died (e.g. killed): still an outcome
                    task = tasks[i]
                    outcomes[i] = Outcome(task.quarter, task.name, task.name, "failed", 0.0, f"worker crashed: {type(exc).__name__}: {exc}")
                done = outcomes[i]
                bar.set_postfix_str(f"{done.quarter} {done.name}: {done.status}")
                bar.update()
        except BaseException:  # Ctrl-C or SIGTERM: stop the workers now, not after their notebooks
            for future in futures:
                future.cancel()
            # ProcessPoolExecutor has no public way to stop running tasks before Python 3.14's
            # terminate_workers(); SIGTERM makes each worker shut its kernel down and exit.
            stop_processes(list(getattr(pool, "_processes", {}).values()))
            raise
        finally:
            bar.close()
    return [outcomes[i] for i in range(len(tasks))]


# --------------------------------------------------------------------------------------------
# Output folders

def read_manifest(folder: Path) -> dict | None:
    """The manifest of a report folder, or None when there is none or it cannot be read."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _is_replaceable(folder: Path) -> bool:
    """A folder we may replace: missing, empty, or one of our own report folders."""
    return not folder.exists() or read_manifest(folder) is not None or (folder.is_dir() and not any(folder.iterdir()))


def _swap_in(new: Path, final: Path) -> None:
    """Put ``new`` in place of ``final`` in one atomic step (:func:`kit.report.faults.exchange`), so
    that ``final`` is at every moment either the old folder or the new one, complete; the old one,
    left under ``new``'s name, is removed afterwards (or by the next run, if this one is killed)."""
    if not final.exists():
        new.rename(final)
        return
    try:
        exchange(new, final)
    except ExchangeUnsupported:
        _swap_in_two_steps(new, final)
        return
    shutil.rmtree(new, ignore_errors=True)


def _swap_in_two_steps(new: Path, final: Path) -> None:
    """The fallback where folders cannot be exchanged: old away, new in, with Ctrl-C and SIGTERM held
    back in between. Only SIGKILL (or a crash) can land between the renames; the old folder is then
    ``.<name>.old-…`` and the next run puts it back (:class:`_RunGuard`)."""
    old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
    old.rmdir()
    held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS) if hasattr(signal, "pthread_sigmask") else None
    try:
        final.rename(old)
        new.rename(final)
    finally:
        if held is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
    shutil.rmtree(old, ignore_errors=True)


def publish(staging: Path, final: Path, ok: bool) -> tuple[Path, bool]:
    """Move a finished staging folder into place; returns (where it went, whether it replaced ``final``)."""
    previous = read_manifest(final) if final.exists() else None
    if ok or previous is None or not previous.get("ok", False):
        _swap_in(staging, final)
        return final, True
    failed = final.with_name(final.name + ".failed")
    if not _is_replaceable(failed):
        raise ReportError(f"{failed} exists and is not a kit report folder; move it away and run again")
    _swap_in(staging, failed)
    return failed, False


# --------------------------------------------------------------------------------------------
# The whole run

def _resolve_source(source: Any) -> Any:
    """Local paths become absolute: notebooks run in the notebooks folder, not in the caller's."""
    if source is None or not isinstance(source, (str, Path)) or "://" in str(source):
        return source
    path = Path(source).expanduser()
    return str(path.resolve()) if path.exists() else str(source)


def _overview_tiles(quarter: str, source: Any, project: Any) -> tuple[str | None, str | None]:
    try:
        from kit import params as params_module
        from kit.overview import quarter_overview

        p = params_module.load(quarter, project=project)
        return quarter_overview(quarter, source=source, params=p).tiles_html(), None
    except Exception as exc:  # the index still lists the reports; it says why the tiles are missing
        return None, f"{type(exc).__name__}: {exc}"


def build_reports(quarters: Iterable[str], *, out: Path | str | None = None, only: Iterable[str] | None = None,
                  source: Any = None, jobs: int | None = None, notebooks_dir: Path | str | None = None,
                  timeout: float | None = None, progress: bool = True, kernel_name: str = KERNEL_NAME,
                  project: Any = None, wait: bool = False) -> list[QuarterReport]:
    """Run the notebooks for each quarter into ``<out>/<QUARTER>/`` (default: the project's
    ``reports/``). The project (``project=``, else found from the current folder, see
    :mod:`kit.project`) gives the params; a notebook whose analysis needs a table or column the
    source lacks is skipped, with the reason on the index.

    While another run writes one of these folders, wait for it (``wait``) or raise
    :class:`~kit.report.faults.FolderBusy`; SIGINT and SIGTERM raise :class:`~kit.report.faults.Interrupted`.
    """
    from kit import analyses
    from kit import params as params_module
    from kit.project import ENVIRONMENT_VARIABLE, find

    project = find(project)
    labels = []
    for q in quarters:
        label = Quarter(q).label
        params_module.load(label, project=project)  # a broken params file stops the run before any notebook starts
        if label not in labels:
            labels.append(label)
    if not labels:
        raise ReportError("name at least one quarter, e.g. kit report 2025Q4")
    notebooks_dir = Path(notebooks_dir) if notebooks_dir is not None else config.NOTEBOOKS_DIR
    notebooks = select(discover(notebooks_dir), only)
    if not notebooks:
        raise ReportError(f"no notebooks named NN_*.ipynb in {notebooks_dir}")
    out_root = Path(out) if out is not None else project.reports_dir
    out_root.mkdir(parents=True, exist_ok=True)
    for label in labels:
        final = out_root / label
        if not _is_replaceable(final):
            raise ReportError(f"{final} exists and is not a kit report folder (no {MANIFEST}); "
                              f"move it away or choose another --out")
    source = _resolve_source(source)
    jobs = jobs or default_jobs()

    guard = _RunGuard(out_root, labels, wait)  # signals, locks, leftovers of killed runs
    _remove_orphaned_staging(out_root)
    staging = {label: _staging_folder(out_root, label) for label in labels}
    started = time.perf_counter()
    worker_context()  # the fork server warms up while the contract is checked
    try:
        environment = {} if project.embedded else {ENVIRONMENT_VARIABLE: str(project.root)}
        tasks = [Task(label, nb, staging[label], {"quarter": label, "source": source}, notebooks_dir,
                      kernel_name=kernel_name, timeout=timeout, environment=environment)
                 for label in labels for nb in notebooks]
        data_warnings: dict[str, list[str]] = {}
        skip_reasons = _check_contract_once(labels, source, project, warnings=data_warnings)
        guard.signals.check()  # DuckDB turns Ctrl-C into its own error, which the check passes over
        skipped = [_skipped(t, skip_reasons[t.quarter][t.name]) for t in tasks if skip_reasons[t.quarter].get(t.name)]
        runnable = [t for t in tasks if not skip_reasons[t.quarter].get(t.name)]
        outcomes = run_tasks(longest_first(runnable, out_root), jobs=jobs, progress=progress) + skipped
        reports = []
        for label in labels:
            entries = sorted((o for o in outcomes if o.quarter == label), key=lambda o: o.name)
            # The overview notebook already computed the tiles; compute them here only without it.
            shown = next((o.tiles_html for o in entries if o.ok and o.tiles_html), None)
            overview_skipped = skip_reasons[label].get(analyses.by_key("overview").notebook)
            if shown or overview_skipped:
                tiles_html, tiles_error = shown, overview_skipped and f"the overview {overview_skipped}"
            else:
                tiles_html, tiles_error = _overview_tiles(label, source, project)
            if only:
                entries = _carry_over(out_root / label, staging[label], entries)
            seconds = time.perf_counter() - started
            ok = all(e.ok for e in entries)
            notes = _params_notes(label, project)
            p = params_module.load(label, project=project, **({"source": source} if source else {}))
            shown_source = source or p.source or "embedded sample data (data/sample)"
            _write_index(staging[label], label, entries, tiles_html, tiles_error, shown_source, seconds, jobs, notes, project,
                         data_warnings.get(label, []))
            _write_manifest(staging[label], label, entries, ok, source, seconds)
            folder, replaced = publish(staging[label], out_root / label, ok)
            guard.published.append(folder)
            report = QuarterReport(label, folder, entries, seconds, tiles_error, replaced, notes=list(notes))
            if not replaced:
                report.notes.append(f"the previous good report in {out_root / label} was kept; this run's pages are in {folder}")
            reports.append(report)
        return reports
    except BaseException as error:
        guard.stopped(error)
        raise
    finally:
        for folder in staging.values():
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
        guard.close()


class _RunGuard:
    """What makes a run safe under faults, set up before it writes anything and undone after:

    - SIGINT and SIGTERM raise :class:`~kit.report.faults.Interrupted` (:meth:`stopped` raises it
      again when a library caught the first one, e.g. DuckDB's "Query interrupted");
    - one lock per quarter folder (:class:`~kit.report.faults.FolderLock`), taken in order so two
      runs over overlapping quarters cannot deadlock; busy: wait with a message, or refuse;
    - with the locks held, whatever killed runs left for these quarters is cleared: their partial
      folders (or an old report left by an exchange) are removed, and an old report that the
      two-rename fallback had moved away is put back if no report is in its place.
    """

    def __init__(self, out_root: Path, labels: list[str], wait: bool):
        self.signals = StopOnSignals().__enter__()
        self.locks: list[FolderLock] = []
        self.published: list[Path] = []
        try:
            for label in sorted(labels):
                lock = FolderLock(out_root / label)
                lock.acquire(wait, on_wait=lambda holder, folder=lock.folder: print(
                    f"kit report: {folder} is being written by {holder}; waiting for it to finish (Ctrl-C stops)",
                    file=sys.stderr, flush=True))
                self.locks.append(lock)
                for final in (out_root / label, out_root / f"{label}.failed"):
                    _clear_leftovers(final)
        except BaseException:
            self.close()
            raise

    def stopped(self, error: BaseException) -> None:
        """Raise :class:`Interrupted` instead of ``error`` if a stop signal came during the run."""
        try:
            self.signals.check()
        except Interrupted as interrupted:
            interrupted.published = list(self.published)
            stop_fork_server()
            raise interrupted from (None if isinstance(error, KeyboardInterrupt) else error)

    def close(self) -> None:
        """Release the locks and restore the previous signal handlers."""
        for lock in reversed(self.locks):
            lock.release()
        self.locks.clear()
        self.signals.__exit__(None, None, None)


def _clear_leftovers(final: Path) -> None:
    """Remove what killed runs left beside ``final`` (call it holding ``final``'s lock)."""
    for old in sorted(final.parent.glob(f".{final.name}.old-*")):
        if not final.exists() and read_manifest(old) is not None:
            old.rename(final)  # killed between the fallback's two renames: the old report goes back
        else:
            shutil.rmtree(old, ignore_errors=True)
    for partial in final.parent.glob(f".{final.name}.partial-*"):
        shutil.rmtree(partial, ignore_errors=True)


def _skipped(task: Task, reason: str) -> Outcome:
    """The index row of a notebook not run because the source lacks what its analysis needs."""
    try:
        title = notebook_title(nbformat.read(str(task.notebook), as_version=4), task.name)
    except Exception:  # unreadable: it is not run anyway
        title = task.name
    return Outcome(task.quarter, task.name, title, "skipped", 0.0, reason)


def _params_notes(label: str, project: Any) -> list[str]:
    """What the index and the command say about the params a quarter ran with."""
    if project.quarter_file(label) is None:
        where = "the embedded sample project" if project.embedded else f"project {project.root}"
        return [f"no params/{label}.yaml in {where}: the quarter uses params/defaults.yaml as it is "
                f"(no targets, every promotion of the quarter)"]
    return []


def _check_contract_once(labels: list[str], source: Any, project: Any = None,
                         warnings: dict[str, list[str]] | None = None) -> dict[str, dict[str, str]]:
    """Check the data contract before the notebooks run, once for every source the quarters read:
    a table that passes is remembered (:class:`kit.source.Source`), so no notebook checks it again,
    and none checks it at the same time as another. Tables that fail are left to the notebooks,
    whose pages show the error.

    Returns, per quarter, the notebooks whose analysis the source cannot feed and why
    (:func:`kit.analyses.readiness`); an unreadable source skips nothing (each page says why).
    ``warnings``, when given, receives per quarter the plausibility warnings of the checked tables
    (:func:`kit.contract.describe`), for the index.

    It runs in this process, which never forks: workers come from the fork server
    (:func:`worker_context`), so no DuckDB thread is ever copied into a child.
    """
    import kit
    from kit import analyses
    from kit import params as params_module
    from kit.contract import ContractError, describe

    seen: dict[tuple, dict[str, str]] = {}
    seen_warnings: dict[tuple, list[str]] = {}
    warnings = {} if warnings is None else warnings
    reasons: dict[str, dict[str, str]] = {}
    for label in labels:
        reasons[label] = {}
        try:
            p = params_module.load(label, project=project, **({"source": source} if source else {}))
            key = (p.source, p.timezone, tuple(p.channels))
            if key in seen:
                reasons[label] = seen[key]  # quarters sharing a source and its rules need one check
                warnings[label] = seen_warnings.get(key, [])
                continue
            src = kit.connect(params=p)
        except Exception:  # an unreadable source: each notebook reports it on its own page
            continue
        try:
            rows = {}
            for name in src.tables():
                try:
                    src.table(name)
                except ContractError:
                    continue
                # counted as stored: from Parquet metadata, not a scan of the normalised table
                rows[name] = int(src.raw(name).count().to_pyarrow().as_py())
            ready = analyses.readiness(analyses.source_columns(src), rows)
            reasons[label] = seen[key] = {r.analysis.notebook: r.reason for r in ready if not r.runnable}
            warnings[label] = seen_warnings[key] = [describe(w) for name in src.tables() for w in src.warnings.get(name, [])]
        finally:
            src.backend.disconnect()
    return reasons


def longest_first(tasks: list[Task], out_root: Path) -> list[Task]:
    """Order tasks by their duration in the previous report, longest first; without a previous
    report, by the duration papermill recorded in the notebook file itself (its last execution);
    unknown ones first.

    With a few notebooks on a few cores, starting the long ones first shortens the whole run
    (a long notebook started last would leave the other cores idle at the end).
    """
    previous: dict[tuple[str, str], float] = {}
    for label in {t.quarter for t in tasks}:
        for entry in (read_manifest(out_root / label) or {}).get("entries", []):
            if not entry.get("carried_over"):
                previous[(label, entry["name"])] = float(entry.get("seconds") or 0.0)

    def expected_seconds(task: Task) -> float:
        if (task.quarter, task.name) in previous:
            return previous[(task.quarter, task.name)]
        try:
            recorded = nbformat.read(str(task.notebook), as_version=4).metadata.get("papermill", {}).get("duration")
        except Exception:  # unreadable: run_task reports it; schedule it first
            recorded = None
        return float(recorded) if recorded else float("inf")

    return sorted(tasks, key=lambda t: -expected_seconds(t))


def _staging_folder(out_root: Path, label: str) -> Path:
    """A hidden folder beside the destination (same file system, so the final move is a rename)."""
    folder = Path(tempfile.mkdtemp(prefix=f".{label}.partial-{os.getpid()}-", dir=out_root))
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)  # mkdtemp makes it private; the published folder should look like any other
    return folder


def _remove_orphaned_staging(out_root: Path) -> None:
    """Remove partial folders left by runs that were killed outright (their process is gone)."""
    for folder in out_root.glob(".*.partial-*"):
        match = re.search(r"\.partial-(\d+)-", folder.name)
        if match and not _process_alive(int(match.group(1))):
            shutil.rmtree(folder, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but someone else's
        return True
    return True


def _carry_over(previous: Path, staging: Path, entries: list[Outcome]) -> list[Outcome]:
    """With ``--only``, keep the other notebooks' pages of the previous run so the index stays complete."""
    manifest = read_manifest(previous)
    if manifest is None:
        return entries
    fresh = {e.name for e in entries}
    kept = []
    for old in manifest.get("entries", []):
        if old["name"] in fresh:
            continue
        for key in ("html", "ipynb"):
            if old.get(key) and (previous / old[key]).is_file():
                shutil.copy2(previous / old[key], staging / old[key])
        kept.append(Outcome(**{**old, "carried_over": True}))
    return sorted(entries + kept, key=lambda e: e.name)


def _entry(outcome: Outcome) -> dict[str, Any]:
    row = asdict(outcome)
    row.pop("tiles_html")
    return row


def _write_index(folder: Path, quarter: str, entries: list[Outcome], tiles_html: str | None, tiles_error: str | None,
                 source: Any, seconds: float, jobs: int, notes: list[str], project: Any,
                 data_warnings: list[str] = ()) -> None:
    from kit.report.render import render_index

    page = render_index(
        quarter=quarter, entries=[_entry(e) for e in entries], failed=[e.name for e in entries if not e.ok],
        skipped=[e.name for e in entries if e.status == "skipped"], notes=notes, project=project.name,
        data_warnings=list(data_warnings),
        tiles_html=tiles_html, tiles_error=tiles_error, source=source, total_seconds=seconds, jobs=jobs,
    )
    (folder / "index.html").write_text(page, encoding="utf-8")


def _write_manifest(folder: Path, quarter: str, entries: list[Outcome], ok: bool, source: Any, seconds: float) -> None:
    manifest = {"quarter": quarter, "ok": ok, "source": None if source is None else str(source),
                "seconds": round(seconds, 3), "entries": [_entry(e) for e in entries]}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
