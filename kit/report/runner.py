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
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import nbformat

from kit import config
from kit.quarter import Quarter
from kit.report.workers import worker_context

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

    @property
    def name(self) -> str:
        return self.notebook.stem


@dataclass
class Outcome:
    """What happened to one notebook; one row of the index."""

    quarter: str
    name: str
    title: str
    status: str                 # "ok" or "failed"
    seconds: float
    error: str | None = None
    html: str | None = None     # file names inside the quarter's folder
    ipynb: str | None = None
    carried_over: bool = False  # copied from the previous run (``--only``)
    tiles_html: str | None = field(default=None, repr=False)  # KPI tiles the notebook displayed, if any

    @property
    def ok(self) -> bool:
        return self.status == "ok"


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

def _worker_setup() -> None:
    """Set up a worker process; the kernel it forks inherits its environment and stderr.

    - Ctrl-C reaches the whole process group; the parent decides and stops workers with SIGTERM,
      which unwinds papermill so that it shuts its kernel down (see run_tasks).
    - stderr goes nowhere: kernels print start-up chatter there. Nothing is lost: cell outputs,
      warnings and errors reach the notebook through the kernel's messages, and a worker's own
      failures come back as outcomes.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


def _with_environment(task: "Task", environment: dict[str, str]) -> "Outcome":
    """:func:`run_task` with the runner's environment of this run (a worker forked from the fork
    server has the server's, from when it started)."""
    os.environ.clear()
    os.environ.update(environment)
    # Figures are shown inline, as in JupyterLab, even when the caller exported MPLBACKEND=Agg
    # (CI does, for the unit tests): with Agg a kernel would silently drop every figure.
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    return run_task(task)


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def run_task(task: Task) -> Outcome:
    """Execute one notebook with papermill, then export its page. Never raises: failures are outcomes."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from kit.report.export import notebook_to_html
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
    tiles = None
    if out_ipynb.exists():
        executed = _relative_paths(out_ipynb, task.notebook.name)
        tiles = _find_tiles(executed)
    html_name = None
    if task.export_html:
        try:
            if out_ipynb.exists():
                page = notebook_to_html(out_ipynb, f"{title} — {task.quarter}", task.quarter)
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
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)} — {quarter}</title></head>"
            f"<body style='font-family:system-ui,sans-serif;'><p><a href='index.html'>← {quarter} reports</a></p>"
            f"<h1>{html.escape(title)}</h1><p>This notebook failed before producing output:</p>"
            f"<pre style='color:#b42318;white-space:pre-wrap;'>{html.escape(error)}</pre></body></html>")


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
                             max_tasks_per_child=1) as pool:
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
            for process in list(getattr(pool, "_processes", {}).values()):
                if process.is_alive():
                    process.terminate()
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
    """Move ``new`` to ``final``, replacing it; the old folder is removed only once the new one is in place."""
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
        old.rmdir()
        final.rename(old)
        new.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        new.rename(final)


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


def _overview_tiles(quarter: str, source: Any) -> tuple[str | None, str | None]:
    try:
        from kit.overview import quarter_overview

        return quarter_overview(quarter, source=source).tiles_html(), None
    except Exception as exc:  # the index still lists the reports; it says why the tiles are missing
        return None, f"{type(exc).__name__}: {exc}"


def build_reports(quarters: Iterable[str], *, out: Path | str | None = None, only: Iterable[str] | None = None,
                  source: Any = None, jobs: int | None = None, notebooks_dir: Path | str | None = None,
                  timeout: float | None = None, progress: bool = True, kernel_name: str = KERNEL_NAME) -> list[QuarterReport]:
    """Run the notebooks for each quarter into ``<out>/<QUARTER>/`` (default ``reports/``)."""
    from kit import params as params_module

    labels = []
    for q in quarters:
        label = Quarter(q).label
        params_module.load(label)  # a broken params file stops the run before any notebook starts
        if label not in labels:
            labels.append(label)
    if not labels:
        raise ReportError("name at least one quarter, e.g. kit report 2025Q4")
    notebooks_dir = Path(notebooks_dir) if notebooks_dir is not None else config.NOTEBOOKS_DIR
    notebooks = select(discover(notebooks_dir), only)
    if not notebooks:
        raise ReportError(f"no notebooks named NN_*.ipynb in {notebooks_dir}")
    out_root = Path(out) if out is not None else config.REPORTS_DIR
    out_root.mkdir(parents=True, exist_ok=True)
    for label in labels:
        final = out_root / label
        if not _is_replaceable(final):
            raise ReportError(f"{final} exists and is not a kit report folder (no {MANIFEST}); "
                              f"move it away or choose another --out")
    source = _resolve_source(source)
    jobs = jobs or default_jobs()

    _remove_orphaned_staging(out_root)
    staging = {label: _staging_folder(out_root, label) for label in labels}
    started = time.perf_counter()
    previous_sigterm = _sigterm_as_interrupt()
    worker_context()  # the fork server warms up while the contract is checked
    try:
        tasks = [Task(label, nb, staging[label], {"quarter": label, "source": source}, notebooks_dir,
                      kernel_name=kernel_name, timeout=timeout) for label in labels for nb in notebooks]
        _check_contract_once(labels, source)
        outcomes = run_tasks(longest_first(tasks, out_root), jobs=jobs, progress=progress)
        reports = []
        for label in labels:
            entries = sorted((o for o in outcomes if o.quarter == label), key=lambda o: o.name)
            # The overview notebook already computed the tiles; compute them here only without it.
            shown = next((o.tiles_html for o in entries if o.ok and o.tiles_html), None)
            tiles_html, tiles_error = (shown, None) if shown else _overview_tiles(label, source)
            if only:
                entries = _carry_over(out_root / label, staging[label], entries)
            seconds = time.perf_counter() - started
            ok = all(e.ok for e in entries)
            _write_index(staging[label], label, entries, tiles_html, tiles_error, source, seconds, jobs)
            _write_manifest(staging[label], label, entries, ok, source, seconds)
            folder, replaced = publish(staging[label], out_root / label, ok)
            report = QuarterReport(label, folder, entries, seconds, tiles_error, replaced)
            if not replaced:
                report.notes.append(f"the previous good report in {out_root / label} was kept; this run's pages are in {folder}")
            reports.append(report)
        return reports
    finally:
        for folder in staging.values():
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
        if previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)


def _check_contract_once(labels: list[str], source: Any) -> None:
    """Check the data contract before the notebooks run, once for every source the quarters read:
    a table that passes is remembered (:class:`kit.source.Source`), so no notebook checks it again,
    and none checks it at the same time as another. Tables that fail are left to the notebooks,
    whose pages show the error.

    It runs in this process, which never forks: workers come from the fork server
    (:func:`worker_context`), so no DuckDB thread is ever copied into a child.
    """
    import kit
    from kit import params as params_module
    from kit.contract import ContractError

    seen = set()
    for label in labels:
        try:
            p = params_module.load(label, **({"source": source} if source else {}))
            if (p.source, p.timezone, tuple(p.channels)) in seen:
                continue  # quarters sharing a source and its rules need one check
            seen.add((p.source, p.timezone, tuple(p.channels)))
            src = kit.connect(params=p)
        except Exception:  # an unreadable source: each notebook reports it on its own page
            continue
        try:
            for name in src.tables():
                try:
                    src.table(name)
                except ContractError:
                    continue
        finally:
            src.backend.disconnect()


def _sigterm_as_interrupt():
    """While reports are built, SIGTERM unwinds like Ctrl-C (partial folders removed, workers stopped)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    return signal.signal(signal.SIGTERM, interrupt)


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
                 source: Any, seconds: float, jobs: int) -> None:
    from kit.report.render import render_index

    page = render_index(
        quarter=quarter, entries=[_entry(e) for e in entries], failed=[e.name for e in entries if not e.ok],
        tiles_html=tiles_html, tiles_error=tiles_error, source=source or "embedded sample data (data/sample)",
        total_seconds=seconds, jobs=jobs,
    )
    (folder / "index.html").write_text(page, encoding="utf-8")


def _write_manifest(folder: Path, quarter: str, entries: list[Outcome], ok: bool, source: Any, seconds: float) -> None:
    manifest = {"quarter": quarter, "ok": ok, "source": None if source is None else str(source),
                "seconds": round(seconds, 3), "entries": [_entry(e) for e in entries]}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
