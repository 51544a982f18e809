"""`hb run -- command…`: start ping, the command, then its exit status with the tail of its
output as the ping body. Exits with the command's own code, as runitor does.

Monitoring never breaks the job: when the server cannot be reached the command still runs, a
warning goes to stderr, and the exit code is still the command's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Sequence
from types import FrameType
from typing import BinaryIO

from hb.client import DEFAULT_BODY_LIMIT, Policy, UsageError, ping, ping_url, report

PROG = "hb run"
FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
TERMINAL = (signal.SIGINT, signal.SIGQUIT)  # a terminal sends these to the whole group
EXIT_NOT_EXECUTABLE = 126
EXIT_NOT_FOUND = 127


class Tail:
    """The last `limit` bytes written to it, from any thread."""

    def __init__(self, limit: int) -> None:
        self.limit = max(0, limit)
        self._buf = bytearray()
        self._lock = threading.Lock()

    def write(self, chunk: bytes) -> None:
        with self._lock:
            self._buf += chunk
            excess = len(self._buf) - self.limit
            if excess > 0:
                del self._buf[:excess]

    def value(self) -> bytes:
        with self._lock:
            return bytes(self._buf)


def _pump(source: BinaryIO, sink: BinaryIO, tail: Tail) -> None:
    """Copy the child's output through to ours as it comes, keeping the tail."""
    fd = source.fileno()
    while chunk := os.read(fd, 65536):
        tail.write(chunk)
        try:
            sink.write(chunk)
            sink.flush()
        except (OSError, ValueError):  # our own stdout went away: keep capturing
            pass
    source.close()


def _start(argv: Sequence[str], tail: Tail) -> subprocess.Popen[bytes] | int:
    try:
        return subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError:
        message, code = f"{PROG}: {argv[0]}: command not found\n", EXIT_NOT_FOUND
    except PermissionError:
        message, code = f"{PROG}: {argv[0]}: permission denied\n", EXIT_NOT_EXECUTABLE
    except OSError as exc:
        message, code = f"{PROG}: {argv[0]}: {exc.strerror}\n", EXIT_NOT_EXECUTABLE
    sys.stderr.write(message)
    tail.write(message.encode())
    return code


def execute(argv: Sequence[str], tail: Tail) -> int:
    """Run the command with its output passed through; signals to us go to it. Returns its
    exit code, 128+N when a signal N ended it (as a shell reports it)."""
    proc = _start(argv, tail)
    if isinstance(proc, int):
        return proc
    assert proc.stdout is not None and proc.stderr is not None

    def forward(signum: int, frame: FrameType | None) -> None:
        if proc.poll() is None:
            proc.send_signal(signum)

    def ignore(signum: int, frame: FrameType | None) -> None:
        pass  # the child got it from the terminal too; stay alive to report its exit

    # At a terminal, Ctrl-C reaches the child directly; in a container (PID 1, no terminal)
    # only we receive signals, so every one is passed on.
    interactive = os.getpid() != 1 and sys.stdin is not None and sys.stdin.isatty()
    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    previous |= {sig: signal.signal(sig, ignore if interactive else forward) for sig in TERMINAL}
    pumps = [threading.Thread(target=_pump, args=(proc.stdout, sys.stdout.buffer, tail),
                              daemon=True),
             threading.Thread(target=_pump, args=(proc.stderr, sys.stderr.buffer, tail),
                              daemon=True)]
    try:
        for pump in pumps:
            pump.start()
        code = proc.wait()
        for pump in pumps:
            pump.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - code if code < 0 else code


def run(argv: Sequence[str], url: str, policy: Policy, *, rid: str | None = None,
        start: bool = True, body_limit: int | None = None) -> int:
    if url:
        try:
            ping_url(url)
        except UsageError as exc:  # e.g. $(VAR) left unexpanded by a missing Secret
            print(f"{PROG}: {exc}; running without monitoring", file=sys.stderr)
            url = ""
    else:
        print(f"{PROG}: no ping URL (--url or HB_PING_URL); running without monitoring",
              file=sys.stderr)
    rid = rid or str(uuid.uuid4())  # every run timed on its own, even when runs overlap
    limit = body_limit
    if url and start:
        started = ping(url, policy, kind="start", rid=rid)
        report(PROG, started, "start ping")
        if limit is None:
            limit = started.body_limit
    tail = Tail(DEFAULT_BODY_LIMIT if limit is None else limit)
    code = execute(argv, tail)
    if url:
        finished = ping(url, policy, exit_status=code, rid=rid, body=tail.value())
        report(PROG, finished, f"exit status ping ({code})")
    return code
