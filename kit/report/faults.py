"""How ``kit report`` behaves under faults (standard library only: the fork server's workers and the
kernels they fork import it before anything else).

- :class:`StopOnSignals`: while a run is on, SIGINT (Ctrl-C) and SIGTERM raise :class:`Interrupted`
  in the main thread, remembered even when a library turns the interrupt into its own error (DuckDB
  raises ``RuntimeError: Query interrupted``) or swallows it.
- :func:`end_with` and :func:`die_with_parent`: a SIGKILL of the main process leaves no process
  behind. Each worker watches the main process (a pidfd) and stops as if sent SIGTERM when it
  ends; each kernel is killed by the OS when its worker dies (Linux ``prctl(PR_SET_PDEATHSIG)``);
  the fork server exits once the main process and the last worker are gone.
- :func:`exchange` swaps two folders in one atomic step (``renameat2(RENAME_EXCHANGE)`` on Linux,
  ``renamex_np(RENAME_SWAP)`` on macOS); :class:`ExchangeUnsupported` when neither works here.
- :class:`FolderLock`: one run per report folder (``fcntl.flock`` on a lock file beside it).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import signal
import sys
import threading
import time
from pathlib import Path

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# How long a stopped worker may take to shut its kernel down before it is killed outright.
WORKER_GRACE_SECONDS = 3.0


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal (``signum``); the command exits with ``128 + signum``."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        """The shell's convention for a process ended by a signal: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum

    def describe(self) -> str:
        """``Ctrl-C (SIGINT)`` or ``SIGTERM``: the words the command's one-line message uses."""
        return "Ctrl-C (SIGINT)" if self.signum == signal.SIGINT else signal.Signals(self.signum).name


class StopOnSignals:
    """A context in which SIGINT and SIGTERM raise :class:`Interrupted`, and :meth:`check` raises it
    again if a library caught the first one. Outside the main thread it does nothing (Python only
    delivers signals there)."""

    def __init__(self):
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "StopOnSignals":
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame) -> None:
        self.received = self.received or signum
        raise Interrupted(signum)

    def check(self) -> None:
        """Raise :class:`Interrupted` if a stop signal came, whatever became of its exception."""
        if self.received is not None:
            raise Interrupted(self.received)


# --------------------------------------------------------------------------------------------
# Children that end with their parent

_PR_SET_PDEATHSIG = 1


def _libc():
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name, use_errno=True) if name else ctypes.CDLL(None, use_errno=True)


def die_with_parent(parent: int, signum: int = signal.SIGTERM) -> bool:
    """Have this process receive ``signum`` when its parent (process ``parent``) dies; if the parent
    is already gone, exit now. Returns whether the kernel will do so (Linux only)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        if _libc().prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent:  # the parent died before prctl took effect: no signal will come
        os._exit(128 + int(signum))
    return True


def end_with(pid: int, signum: int = signal.SIGTERM) -> None:
    """Have this process receive ``signum`` when process ``pid`` (not its parent) ends, however it
    ends: a daemon thread waits on a pidfd (Linux 5.3+), elsewhere polls twice a second.

    A report worker's parent is the fork server, which stays up as long as any worker does (each
    holds the end of the pipe the server watches), so the worker watches the main process itself.
    """
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        os.kill(os.getpid(), signum)
        return
    except (AttributeError, OSError):
        handle = None

    def watch() -> None:
        if handle is not None:
            import select

            poller = select.poll()
            poller.register(handle, select.POLLIN)
            while not poller.poll():
                pass
        else:
            while True:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                except PermissionError:
                    pass
                time.sleep(0.5)
        os.kill(os.getpid(), signum)

    threading.Thread(target=watch, name=f"end-with-{pid}", daemon=True).start()


def stop_processes(processes, grace: float = WORKER_GRACE_SECONDS) -> None:
    """SIGTERM each process (``multiprocessing.Process``), wait at most ``grace`` seconds in all,
    then SIGKILL those still running (their kernels die with them, see :func:`die_with_parent`)."""
    alive = [p for p in processes if p.is_alive()]
    for process in alive:
        process.terminate()
    deadline = time.monotonic() + grace
    for process in alive:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in alive:
        if process.is_alive():
            process.kill()
            process.join(1.0)


# --------------------------------------------------------------------------------------------
# One atomic step

class ExchangeUnsupported(OSError):
    """This system or file system cannot swap two folders atomically."""


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2     # linux/fs.h
_RENAME_SWAP = 2         # macOS sys/stdio.h
_SYS_RENAMEAT2 = {"x86_64": 316, "aarch64": 276}


def exchange(a: Path, b: Path) -> None:
    """Swap the folders ``a`` and ``b`` in one step: no moment exists when either name is missing.

    Raises :class:`ExchangeUnsupported` where that cannot be done (no such call, or a file system
    that refuses it, e.g. some network ones), and other :class:`OSError` as the call reports them.
    """
    fa, fb = os.fsencode(a), os.fsencode(b)
    try:
        libc = _libc()
    except OSError as error:
        raise ExchangeUnsupported(errno.ENOSYS, "no C library to call") from error
    if sys.platform.startswith("linux"):
        call = getattr(libc, "renameat2", None)  # glibc 2.28 and later
        if call is not None:
            result = call(_AT_FDCWD, fa, _AT_FDCWD, fb, _RENAME_EXCHANGE)
        elif os.uname().machine in _SYS_RENAMEAT2:
            result = libc.syscall(_SYS_RENAMEAT2[os.uname().machine], _AT_FDCWD, fa, _AT_FDCWD, fb, _RENAME_EXCHANGE)
        else:
            raise ExchangeUnsupported(errno.ENOSYS, "renameat2 is not available")
    elif sys.platform == "darwin" and hasattr(libc, "renamex_np"):
        result = libc.renamex_np(fa, fb, _RENAME_SWAP)
    else:
        raise ExchangeUnsupported(errno.ENOSYS, f"no atomic folder exchange on {sys.platform}")
    if result != 0:
        code = ctypes.get_errno()
        if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise ExchangeUnsupported(code, f"cannot exchange {a} and {b}: {os.strerror(code)}")
        raise OSError(code, os.strerror(code), str(a), None, str(b))


# --------------------------------------------------------------------------------------------
# One run per report folder

class FolderBusy(RuntimeError):
    """Another run holds the report folder's lock."""


class FolderLock:
    """An exclusive ``flock`` on ``<parent>/.<name>.lock``, held while a run writes ``<parent>/<name>``.

    The lock file says who holds it (pid, since when), for the message a second run prints. It is
    never deleted (deleting a lock file lets two runs lock two different files); the kernel drops
    the lock when its holder dies, however it dies.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.path = self.folder.with_name(f".{self.folder.name}.lock")
        self._fd: int | None = None

    def holder(self) -> str:
        """Who holds the lock, as the lock file says (``pid 1234 since 16:58:02 UTC``)."""
        try:
            return self.path.read_text(encoding="utf-8").strip() or "another run"
        except OSError:
            return "another run"

    def acquire(self, wait: bool, on_wait=None) -> None:
        """Take the lock. If another run has it: with ``wait``, call ``on_wait(holder)`` and block
        until it is free (Ctrl-C still stops); without, raise :class:`FolderBusy`."""
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not wait:
                    raise FolderBusy(f"{self.folder} is being written by {self.holder()}; "
                                     f"wait for that run, or pass --wait to queue behind it") from None
                if on_wait is not None:
                    on_wait(self.holder())
                fcntl.flock(fd, fcntl.LOCK_EX)
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} since {time.strftime('%H:%M:%S %Z')}\n".encode())
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (closing the file drops it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
