"""`hb sidecar --url URL --interval 30s`: a success ping every interval for a long-running pod.

A failed ping is reported on stderr and the loop goes on: the check going late is the alert.
SIGTERM or SIGINT ends the loop at once, without a last ping, and the exit code is 0.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from dataclasses import replace
from types import FrameType

from hb.client import EXIT_OK, Policy, ping, report

PROG = "hb sidecar"


def run(url: str, interval: float, policy: Policy, *, count: int = 0) -> int:
    """Ping every `interval` seconds until a signal (or `count` pings, when not 0)."""
    stop = threading.Event()
    # One exchange never outlasts the interval, so pings stay on schedule.
    policy = replace(policy, stop=stop, max_time=min(policy.max_time, interval))

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    sent = 0
    try:
        next_at = time.monotonic()
        while not stop.is_set():
            result = ping(url, policy)
            if not stop.is_set():
                report(PROG, result, "ping")
            sent += 1
            if count and sent >= count:
                break
            next_at = max(next_at + interval, time.monotonic())  # late: no burst to catch up
            if stop.wait(max(0.0, next_at - time.monotonic())):
                break
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    print(f"{PROG}: stopped after {sent} ping(s)", file=sys.stderr)
    return EXIT_OK
