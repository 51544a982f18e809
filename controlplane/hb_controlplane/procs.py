"""Child processes that never outlive the Python process that started them.

Each child runs in its own process group (so a SIGTERM reaches anything it forks), is registered
for an atexit sweep, and, where `setpriv` exists, gets PR_SET_PDEATHSIG=KILL so even a SIGKILLed
parent (an OOM kill, a CI runner timeout) takes its children along.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import threading
from collections import deque
from pathlib import Path
from types import FrameType

_LIVE: set[ManagedProcess] = set()
_LIVE_LOCK = threading.Lock()


class ControlPlaneError(RuntimeError):
    """A control-plane process failed to start, exited or did not become ready."""


class ManagedProcess:
    def __init__(
        self, name: str, argv: list[str], log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            log.write(f"$ {' '.join(self.argv)}\n".encode())
            log.flush()
            self._popen = subprocess.Popen(
                _with_pdeathsig(self.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        with _LIVE_LOCK:
            _LIVE.add(self)

    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def check(self) -> None:
        """Raise with the log tail when the process has exited (it should run until stopped)."""
        if self._popen is not None and not self.running():
            raise self.failure(f"exited with code {self._popen.returncode}")

    def failure(self, what: str) -> ControlPlaneError:
        return ControlPlaneError(
            f"{self.name} {what}; log: {self.log_path}\n--- last lines ---\n{self.tail()}"
        )

    def tail(self, lines: int = 40) -> str:
        try:
            with self.log_path.open(errors="replace") as log:
                return "".join(deque(log, maxlen=lines))
        except OSError as exc:
            return f"(cannot read log: {exc})"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL it if it lingers past `timeout`."""
        popen = self._popen
        if popen is None:
            return
        if popen.poll() is None:
            _signal_group(popen.pid, signal.SIGTERM)
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(popen.pid, signal.SIGKILL)
                popen.wait(timeout)
        # Children of the child (if any) share the group; sweep them even after a clean exit.
        _signal_group(popen.pid, signal.SIGKILL)
        with _LIVE_LOCK:
            _LIVE.discard(self)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    # The group may be gone already; that is the goal, not an error.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _with_pdeathsig(argv: list[str]) -> list[str]:
    # PDEATHSIG fires when the *thread* that forked exits, so only use it from the main thread,
    # whose end means the end of the process anyway.
    setpriv = shutil.which("setpriv")
    if setpriv is None or threading.current_thread() is not threading.main_thread():
        return argv
    return [setpriv, "--pdeathsig", "KILL", "--", *argv]


def kill_all() -> None:
    """Last-resort sweep: stop every process this interpreter still owns."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for proc in live:
        proc.stop(timeout=5.0)


def _interrupt_on_signal(signum: int, _frame: FrameType | None) -> None:
    # KeyboardInterrupt rather than SystemExit: pytest treats SystemExit inside a test as one
    # failed test and carries on, but stops the session (running teardowns) on an interrupt.
    # Either way `with` blocks unwind and the atexit sweep runs.
    raise KeyboardInterrupt(f"received signal {signal.Signals(signum).name}")


def install_signal_handlers() -> None:
    """Make SIGTERM/SIGHUP unwind like Ctrl-C, unless someone else already handles them."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            signal.signal(sig, _interrupt_on_signal)


atexit.register(kill_all)
