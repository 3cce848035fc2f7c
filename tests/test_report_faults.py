"""``kit report`` under faults, on a tiny notebook folder built here (not the real analyses).

Each run is a real ``kit report`` subprocess in a session of its own, with a unique marker in its
environment: every process it starts (the fork server, its workers, the kernels they fork, which
start sessions of their own) carries the marker, so the test finds them in /proc even after they
have been reparented. The fixture notebooks wait for a "release" file, so the tests decide when a
notebook ends instead of guessing. Every test has a hard time limit, and whatever it started is
killed (by pid, found by its marker) when it ends.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from kit import config
from kit.report import faults, runner
from kit.report.cli import EXIT_BUSY
from kit.report.runner import MANIFEST
from tests.test_overview import write_shop
from tests.test_report import fixture_notebook

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads processes from /proc")]

TEST_SECONDS = 150  # the hard limit of one test
MARKER = "KIT_FAULT_TEST_MARKER"
# A notebook that says when it has started, then runs until the test creates its release file.
WAITING_CODE = textwrap.dedent("""\
    import os, pathlib, time
    here = pathlib.Path(os.environ["KIT_FAULT_DIR"])
    (here / f"started-{os.getpid()}").touch()
    deadline = time.monotonic() + 120
    while not (here / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    print("released")""")


@pytest.fixture(autouse=True)
def hard_time_limit():
    """Fail the test (instead of hanging the suite) once it has run TEST_SECONDS."""
    def expire(signum, frame):
        raise TimeoutError(f"test ran over its {TEST_SECONDS} s limit")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, TEST_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shop")
    write_shop(folder)
    return folder


@pytest.fixture
def lab(tmp_path, shop):
    """A notebooks folder of two waiting notebooks, an output folder with a previous good report."""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for name in ("01_first", "02_second"):
        fixture_notebook(notebooks / f"{name}.ipynb", name.title(), WAITING_CODE)
    lab = Lab(tmp_path, notebooks, shop)
    yield lab
    lab.kill_everything()


class Lab:
    """Runs of ``kit report`` into ``out`` and the processes they left."""

    def __init__(self, root: Path, notebooks: Path, shop: Path):
        self.root, self.notebooks, self.shop = root, notebooks, shop
        self.out = root / "reports"
        self.signals = root / "signals"
        self.signals.mkdir()
        self.marker = uuid.uuid4().hex
        self.runs: list[subprocess.Popen] = []

    def start(self, *extra: str, quarter: str = "2025Q3", notebooks: Path | None = None) -> subprocess.Popen:
        env = {**os.environ, MARKER: self.marker, "KIT_FAULT_DIR": str(self.signals), "PYTHONPATH": str(config.ROOT)}
        stderr = self.root / f"stderr-{len(self.runs)}.txt"
        with stderr.open("w") as err:
            run = subprocess.Popen(
                [sys.executable, "-m", "kit", "report", quarter, "--out", str(self.out), "--notebooks",
                 str(notebooks or self.notebooks), "--source", str(self.shop), "--jobs", "2", "--no-progress", *extra],
                cwd=config.ROOT, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=err,
                text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as from a terminal
        run.stderr_path = stderr  # read it while the run goes on
        self.runs.append(run)
        return run

    def started(self) -> int:
        return len(list(self.signals.glob("started-*")))

    def wait_started(self, count: int, run: subprocess.Popen, seconds: float = 240) -> None:
        # generous: under CI's load (the parity suite's Spark beside it) a kernel took over 90 s to start
        deadline = time.monotonic() + seconds
        while self.started() < count and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert self.started() >= count, f"{self.started()} of {count} notebooks started; run: {run.poll()}"

    def release(self) -> None:
        (self.signals / "release").touch()

    def processes(self) -> dict[int, str]:
        """The live processes (not zombies) carrying this lab's marker: pid → name."""
        found = {}
        needle = f"{MARKER}={self.marker}".encode()
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                if needle in (proc / "environ").read_bytes().split(b"\0"):
                    state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
                    if state not in ("Z", "X"):
                        found[int(proc.name)] = (proc / "comm").read_text().strip()
            except OSError:
                continue
        return found

    def processes_after(self, seconds: float) -> dict[int, str]:
        """Marked processes still running ``seconds`` from now (returns as soon as there are none)."""
        deadline = time.monotonic() + seconds
        while (left := self.processes()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return left

    def kill_everything(self) -> None:
        """SIGKILL whatever this lab's runs left running, found by its marker (they hold the runs' stdout)."""
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for run in self.runs:
            run.communicate(timeout=30)

    def previous_report(self, quarter: str = "2025Q3") -> dict[str, bytes]:
        """Build a good report into ``out`` (quick notebooks), return its files."""
        quick = self.root / "quick"
        quick.mkdir(exist_ok=True)
        fixture_notebook(quick / "01_first.ipynb", "Quick", 'print("previous")')
        [report] = runner.build_reports([quarter], out=self.out, notebooks_dir=quick, source=str(self.shop),
                                        jobs=1, progress=False)
        assert report.ok
        return snapshot(report.folder)

    def leftovers(self) -> list[str]:
        """Names in ``out`` other than report folders and lock files."""
        return sorted(p.name for p in self.out.iterdir() if p.name.startswith(".") and not p.name.endswith(".lock"))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def finish(run: subprocess.Popen, seconds: float = 60) -> tuple[float, str, str]:
    """Wait for a run: (seconds it took from now, its stdout, its stderr)."""
    started = time.monotonic()
    out, _ = run.communicate(timeout=seconds)
    return time.monotonic() - started, out, run.stderr_path.read_text()


# --------------------------------------------------------------------------------------------
# Signals

@pytest.mark.parametrize("signal_name, to_group, status", [("SIGINT", True, 130), ("SIGTERM", False, 143)])
def test_a_stop_signal_ends_the_run_its_workers_and_kernels(lab, signal_name, to_group, status):
    before = lab.previous_report()
    run = lab.start()
    lab.wait_started(2, run)
    processes = lab.processes()
    names = sorted(processes.values())
    assert names.count("kit-kernel") == 2, names  # two forked kernels, plus the main process, fork server, workers
    signum = getattr(signal, signal_name)
    if to_group:
        os.killpg(run.pid, signum)  # Ctrl-C in a terminal signals the whole foreground process group
    else:
        os.kill(run.pid, signum)    # a supervisor, `timeout` or `kill` signals the main process only
    seconds, out, err = finish(run)
    left = lab.processes_after(5)
    assert run.returncode == status, err
    assert err.strip().splitlines() == [
        f"kit report: stopped by {'Ctrl-C (SIGINT)' if to_group else 'SIGTERM'}; existing reports were left as "
        "they were; workers stopped, partial folders removed"], err
    assert out == ""
    assert left == {}, f"processes outlived the run: {left} (of {processes})"
    assert seconds < 5, f"the run took {seconds:.1f} s to stop"
    assert snapshot(lab.out / "2025Q3") == before
    assert lab.leftovers() == []


def test_ctrl_c_while_the_data_contract_is_checked_is_not_taken_for_a_failed_table(lab, monkeypatch):
    """DuckDB turns Ctrl-C during a query into RuntimeError('Query interrupted'); the run still stops as interrupted."""
    def contract_check_interrupted(*args, **kwargs):
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:  # what DuckDB does with it
            raise RuntimeError("Query interrupted") from None

    monkeypatch.setattr(runner, "_check_contract_once", contract_check_interrupted)
    monkeypatch.setattr(runner, "run_tasks", lambda *a, **k: pytest.fail("notebooks ran after Ctrl-C"))
    with pytest.raises(faults.Interrupted) as stopped:
        runner.build_reports(["2025Q3"], out=lab.out, notebooks_dir=lab.notebooks, source=str(lab.shop), progress=False)
    assert stopped.value.exit_status == 130
    assert lab.leftovers() == []


def test_after_sigkill_of_the_main_process_nothing_is_left_and_the_next_run_clears_up(lab):
    before = lab.previous_report()
    run = lab.start()
    lab.wait_started(2, run)
    processes = lab.processes()
    assert sorted(processes.values()).count("kit-kernel") == 2, processes
    partial = lab.leftovers()
    assert len(partial) == 1 and partial[0].startswith(".2025Q3.partial-"), partial
    run.kill()  # SIGKILL: no chance to clean up
    run.wait(timeout=10)
    left = lab.processes_after(10)
    assert left == {}, f"still running 10 s after the main process was killed: {left} (of {processes})"
    assert snapshot(lab.out / "2025Q3") == before
    assert lab.leftovers() == partial  # what the killed run was writing …
    lab.previous_report()  # … the next run removes (its pid could be anyone's by now: the lock says it is dead)
    assert lab.leftovers() == []


# --------------------------------------------------------------------------------------------
# The swap

KILLED_RUN = textwrap.dedent("""\
    import os, signal, sys
    from pathlib import Path
    from kit.report import runner
    moment, out, notebooks, shop = sys.argv[1:]
    real_exchange, real_rename = runner.exchange, Path.rename

    def kill():
        os.kill(os.getpid(), signal.SIGKILL)

    def exchange(a, b):
        if moment == "before-exchange":
            kill()
        if moment == "no-exchange":
            raise runner.ExchangeUnsupported(95, "refused, as some file systems do")
        real_exchange(a, b)
        if moment == "after-exchange":
            kill()

    def rename(self, target):
        result = real_rename(self, target)
        if moment == "no-exchange" and ".old-" in str(target):
            kill()  # between the fallback's two renames: the worst moment there is
        return result

    runner.exchange, Path.rename = exchange, rename
    runner.build_reports(["2025Q3"], out=out, notebooks_dir=notebooks, source=shop, jobs=1, progress=False)
    """)


@pytest.mark.parametrize("moment", ["before-exchange", "after-exchange", "no-exchange"])
def test_a_kill_at_the_swap_leaves_a_complete_report_in_place(lab, moment):
    before = lab.previous_report()
    fresh = lab.root / "fresh"
    fresh.mkdir()
    fixture_notebook(fresh / "01_first.ipynb", "Fresh", 'print("fresh")')
    run = subprocess.run([sys.executable, "-c", KILLED_RUN, moment, str(lab.out), str(fresh), str(lab.shop)],
                         env={**os.environ, MARKER: lab.marker, "PYTHONPATH": str(config.ROOT)},
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == -signal.SIGKILL, run.stderr
    assert lab.processes_after(10) == {}
    final = lab.out / "2025Q3"
    now = snapshot(final) if final.exists() else None
    if moment == "after-exchange":  # the new report is in place, whole; the old one waits under the partial name
        manifest = json.loads(now[MANIFEST])
        assert manifest["ok"] and [e["name"] for e in manifest["entries"]] == ["01_first"]
        assert b"fresh" in now["01_first.ipynb"] and {"index.html", "01_first.html"} <= set(now)
        [partial] = lab.leftovers()
        assert snapshot(lab.out / partial) == before
    elif moment == "before-exchange":
        assert now == before
    else:  # between the fallback's two renames: no report in place, the old one beside it
        assert now is None
        [old, partial] = lab.leftovers()
        assert old.startswith(".2025Q3.old-") and snapshot(lab.out / old) == before, lab.leftovers()
        assert partial.startswith(".2025Q3.partial-")
        now = before  # the next run puts it back
    broken = lab.root / "broken"
    broken.mkdir()
    fixture_notebook(broken / "01_first.ipynb", "Broken", 'raise ValueError("planted")')
    [report] = runner.build_reports(["2025Q3"], out=lab.out, notebooks_dir=broken, source=str(lab.shop), progress=False)
    assert not report.ok  # a failed run never replaces a good report: what is in place stays
    assert snapshot(final) == now
    assert lab.leftovers() == []


def test_readers_always_find_a_complete_report_while_it_is_exchanged(tmp_path):
    final, new = tmp_path / "2025Q4", tmp_path / ".2025Q4.partial-1"
    for folder, marker in ((final, "a"), (new, "b")):
        folder.mkdir()
        (folder / MANIFEST).write_text(marker)
        (folder / "index.html").write_text(marker)
    stop, missing, reads = threading.Event(), [], [0]

    def read():
        while not stop.is_set():
            reads[0] += 1
            if not (final / MANIFEST).is_file():
                missing.append(reads[0])

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(500):
            faults.exchange(new, final)
    finally:
        stop.set()
        reader.join()
    assert reads[0] > 100 and missing == []
    assert (final / MANIFEST).read_text() == "a"  # an even number of exchanges
    assert (new / "index.html").read_text() == "b"


def test_a_file_system_that_refuses_the_exchange_is_told_apart_from_other_errors(tmp_path, monkeypatch):
    import ctypes
    import errno

    class Libc:
        def __init__(self, code):
            self.code = code

        def renameat2(self, *args):
            ctypes.set_errno(self.code)
            return -1

    monkeypatch.setattr(faults, "_libc", lambda: Libc(errno.EINVAL))
    with pytest.raises(faults.ExchangeUnsupported):
        faults.exchange(tmp_path / "a", tmp_path / "b")
    monkeypatch.setattr(faults, "_libc", lambda: Libc(errno.ENOENT))
    with pytest.raises(FileNotFoundError) as error:
        faults.exchange(tmp_path / "a", tmp_path / "b")
    assert not isinstance(error.value, faults.ExchangeUnsupported)


def test_a_run_with_the_exchange_refused_falls_back_to_two_renames(lab, monkeypatch):
    lab.previous_report()

    def refuse(a, b):
        raise faults.ExchangeUnsupported(95, "refused")

    monkeypatch.setattr(runner, "exchange", refuse)
    fresh = lab.root / "fresh"
    fresh.mkdir()
    fixture_notebook(fresh / "01_first.ipynb", "Fresh", 'print("fresh")')
    [report] = runner.build_reports(["2025Q3"], out=lab.out, notebooks_dir=fresh, source=str(lab.shop), progress=False)
    assert report.ok and report.replaced_previous
    assert b"fresh" in (lab.out / "2025Q3" / "01_first.ipynb").read_bytes()
    assert lab.leftovers() == []


# --------------------------------------------------------------------------------------------
# One run per folder

def test_a_second_run_into_the_same_folder_refuses_or_waits_and_never_interleaves(lab):
    first = lab.start()
    lab.wait_started(2, first)
    refused = lab.start()
    _, out, err = finish(refused)
    assert refused.returncode == EXIT_BUSY, err
    [line] = err.strip().splitlines()
    assert line.startswith(f"kit report: {lab.out / '2025Q3'} is being written by pid {first.pid} since ")
    assert line.endswith("; wait for that run, or pass --wait to queue behind it")
    assert lab.started() == 2  # it ran nothing

    second_notebooks = lab.root / "second"
    second_notebooks.mkdir()
    fixture_notebook(second_notebooks / "01_first.ipynb", "Second", 'print("second run")')
    waiting = lab.start("--wait", notebooks=second_notebooks)
    deadline = time.monotonic() + 60
    while "waiting" not in waiting.stderr_path.read_text() and waiting.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert waiting.poll() is None and "waiting for it to finish" in waiting.stderr_path.read_text()
    time.sleep(1)
    assert lab.started() == 2 and not (lab.out / "2025Q3").exists()  # it waits, running nothing
    lab.release()
    _, first_out, first_err = finish(first)
    assert first.returncode == 0, first_err
    _, second_out, second_err = finish(waiting)
    assert waiting.returncode == 0, second_err
    [line] = second_err.strip().splitlines()
    assert line.startswith(f"kit report: {lab.out / '2025Q3'} is being written by pid {first.pid} since ")
    assert line.endswith("; waiting for it to finish (Ctrl-C stops)")
    assert "2025Q3: 2/2 reports ok" in first_out and "2025Q3: 1/1 reports ok" in second_out
    pages = snapshot(lab.out / "2025Q3")
    manifest = json.loads(pages[MANIFEST])
    assert [e["name"] for e in manifest["entries"]] == ["01_first"]  # the second run's, whole
    assert b"second run" in pages["01_first.ipynb"] and "02_second.ipynb" not in pages
    assert lab.leftovers() == []
    assert lab.processes_after(10) == {}

