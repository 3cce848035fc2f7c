"""Notebook kernels forked from a warm process instead of started from scratch.

A fresh ``python -m ipykernel_launcher`` pays for Python start-up and, in the first cell, for
importing pandas, seaborn, statsmodels, Ibis and the kit: about 4 CPU-seconds per notebook here,
more than some notebooks spend on their analysis. The report runner's workers are forked from a
process that has imported all of that once (:mod:`kit.report.warm`), and each worker forks its
kernel: the kernel starts with the modules already in memory, then runs exactly as a launched one
(its own process, session, working directory, environment and ZeroMQ sockets; the connection
file papermill's kernel manager wrote).

Only a kernel of this very interpreter can be forked; any other kernel spec (another Python,
another language) is launched the usual way.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import traceback
import uuid
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner

from kit.report.faults import die_with_parent

# What ``ps -o comm`` and /proc/<pid>/comm show for a forked kernel (its command line is the worker's).
KERNEL_PROCESS_NAME = "kit-kernel"


def _name_process(name: str) -> None:
    try:
        with open("/proc/self/comm", "w") as comm:
            comm.write(name)
    except OSError:  # not Linux, or /proc not mounted: the name is only a convenience
        pass


class _ForkedKernel:
    """The parts of :class:`subprocess.Popen` the provisioner uses, for a forked child."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def _reap(self, flags: int) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, flags)
            except ChildProcessError:  # already reaped elsewhere
                self.returncode = -1
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def poll(self) -> int | None:
        return self._reap(os.WNOHANG)

    def wait(self, timeout: float | None = None) -> int | None:
        return self._reap(0)

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _same_interpreter(cmd: list[str]) -> bool:
    """Whether the kernel command runs ipykernel on the interpreter of this process."""
    if len(cmd) < 3 or "ipykernel" not in " ".join(cmd[1:3]):
        return False
    executable = shutil.which(cmd[0])
    return executable is not None and os.path.realpath(executable) == os.path.realpath(sys.executable)


def _run_kernel(connection_file: str, env: dict[str, str], cwd: str | None, worker: int) -> None:
    """The forked child: become an IPython kernel on ``connection_file``; never returns."""
    code = 1
    try:
        os.setsid()  # its own process group, as a launched kernel: interrupts reach only it
        # Killed by the OS the moment its worker dies, however it dies; ipykernel's own watch of
        # its parent (parent_handle) is a Python thread polling once a second, which a cell
        # holding the interpreter can delay.
        die_with_parent(worker, signal.SIGKILL)
        _name_process(KERNEL_PROCESS_NAME)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        os.environ.clear()
        os.environ.update(env)
        if cwd:
            os.chdir(cwd)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        # The fork happened inside the client's running event loop; the kernel needs its own.
        asyncio.events._set_running_loop(None)
        asyncio.set_event_loop(asyncio.new_event_loop())
        from ipykernel.kernelapp import IPKernelApp

        app = IPKernelApp.instance()
        # As a launched kernel: it exits when its parent (the worker) dies, and prints no banner.
        app.initialize(["-f", connection_file, f"--IPKernelApp.parent_handle={os.getppid()}"])
        app.start()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


class ForkedProvisioner(LocalProvisioner):
    """:class:`LocalProvisioner` that forks this process instead of executing the kernel command."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any):
        if not _same_interpreter(cmd):
            return await super().launch_kernel(cmd, **kwargs)
        env = dict(kwargs.get("env") or os.environ)
        cwd = kwargs.get("cwd")
        sys.stdout.flush()
        sys.stderr.flush()
        worker = os.getpid()
        pid = os.fork()
        if pid == 0:
            _run_kernel(self.parent.connection_file, env, cwd, worker)
        self.process = _ForkedKernel(pid)
        self.pid = self.pgid = pid
        self.cwd = cwd or os.getcwd()
        return self.connection_info


class ForkedKernelManager(AsyncKernelManager):
    """The kernel manager papermill gets from the report runner (``kernel_manager_class``)."""

    async def _async_pre_start_kernel(self, **kw: Any):
        if self.provisioner is None:
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
            self.provisioner = ForkedProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self)
        return await super()._async_pre_start_kernel(**kw)


def kernel_manager_class() -> type[AsyncKernelManager]:
    """The kernel manager for notebooks run by a report worker: forked kernels where ``fork``
    keeps the warm modules usable (Linux), launched ones elsewhere."""
    return ForkedKernelManager if sys.platform.startswith("linux") else AsyncKernelManager
