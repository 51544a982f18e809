"""Small helpers shared by the sweeper and the notifier."""

from __future__ import annotations

import asyncio
import logging
import random
import time


async def pause(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep unless `stop` is set first; True when stopping."""
    if stop.is_set():
        return True
    try:
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, seconds))
    except TimeoutError:
        return False
    return True


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with "equal jitter": a random delay in [d/2, d] for
    d = min(cap, base * 2^(attempt-1)). Half the delay is fixed, so gaps never shrink from
    one attempt to the next, and the random half spreads retries of many deliveries."""
    delay = min(cap, base * 2 ** max(0, attempt - 1))
    return delay / 2 + random.uniform(0, delay / 2)


class Outage:
    """Backoff and rate-limited logging while Redis is unreachable: the first error and
    then one line every 30 s, and one line when it is back."""

    def __init__(self, log: logging.Logger, what: str) -> None:
        self.log = log
        self.what = what
        self.failures = 0
        self._last_log = 0.0

    def delay(self) -> float:
        return min(5.0, 0.1 * 2 ** min(self.failures, 6))

    def failed(self, exc: BaseException) -> float:
        self.failures += 1
        now = time.monotonic()
        if self.failures == 1 or now - self._last_log > 30:
            self.log.warning("%s: Redis error (%s: %s); retrying", self.what,
                             type(exc).__name__, exc)
            self._last_log = now
        return self.delay()

    def ok(self) -> None:
        if self.failures:
            self.log.info("%s: Redis reachable again after %d failed calls", self.what,
                          self.failures)
        self.failures = 0
