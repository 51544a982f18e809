"""The sweeper: moves checks to late and down when their deadlines pass.

Each round calls sweep.lua once per shard (all shards concurrently); the script claims the
due entries of that shard and applies their transitions atomically, so any number of
sweepers can run without a transition happening twice. A shard that returns a full batch
is swept again at once, so a backlog (a Redis restart, a burst of deadlines at the top of
the hour) is caught up without waiting for the next round. Checks whose cron/OnCalendar
ticks ran out come back leased; their next ticks are computed here (Python has the cron
library) and stored with a version compare-and-set. A sweeper that dies holding a lease
loses nothing: the lease runs out and another sweeper takes the check.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

from redis.exceptions import RedisError

from pingserver import keys, schedules
from pingserver.config import Settings
from pingserver.engine.util import Outage, pause
from pingserver.metrics import DEADLINE_TO_FLIP, FLIPS, RETICKS, SWEEP_ERRORS, SWEEPER_LAG, SWEEPS
from pingserver.model import DEFAULTS
from pingserver.store import Store

log = logging.getLogger("hb.sweeper")

# Full batches swept back to back per shard and round; bounded so that one huge shard
# cannot starve the round's lag measurement forever.
MAX_ROUNDS = 1000


class Sweeper:
    def __init__(self, store: Store, settings: Settings,
                 shards: list[int] | None = None) -> None:
        self.store = store
        self.interval = settings.sweep_interval
        self.batch = settings.sweep_batch
        self.lease_ms = int(settings.lease_seconds * 1000)
        self.shards = list(range(keys.SHARDS)) if shards is None else shards
        self.outage = Outage(log, "sweeper")
        self.flips = 0  # made by this sweeper (for benchmarks and logs)

    async def run(self, stop: asyncio.Event) -> None:
        # A random first wait keeps several sweepers started together out of step.
        if await pause(stop, random.uniform(0, self.interval)):
            return
        log.info("sweeper started: %d shards, every %.2f s, batch %d", len(self.shards),
                 self.interval, self.batch)
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            began = loop.time()
            delay = await self.sweep_round()
            # Rounds start at most `interval` apart (the time a round takes counts), so a
            # deadline waits at most about one interval whatever the load.
            if await pause(stop, delay - (loop.time() - began)):
                break
        log.info("sweeper stopped")

    async def sweep_round(self) -> float:
        """Sweep every shard once (catching up full batches); returns the time to wait."""
        results = await asyncio.gather(*(self.sweep_shard(s) for s in self.shards),
                                       return_exceptions=True)
        lags = [r for r in results if isinstance(r, float)]
        errors = [r for r in results if isinstance(r, BaseException)]
        if lags:
            SWEEPER_LAG.set(max(lags))
        if errors:
            SWEEP_ERRORS.inc(len(errors))
            unexpected = [e for e in errors if not isinstance(e, RedisError)]
            for exc in unexpected:
                log.error("sweep failed", exc_info=exc)
            return self.outage.failed(errors[0])
        self.outage.ok()
        # Jitter below the interval, never above: it keeps sweepers out of step without
        # stretching the worst-case wait past HB_SWEEP_INTERVAL.
        return self.interval * random.uniform(0.75, 1.0)

    async def sweep_shard(self, shard: int) -> float:
        """Returns the lag: how long the oldest entry claimed had been due (seconds)."""
        lag = 0.0
        for _ in range(MAX_ROUNDS):
            now = int(time.time() * 1000)
            claimed, oldest, leased, states, stamps = await self.store.sweep(
                shard, now, self.batch, self.lease_ms)
            SWEEPS.inc()
            if claimed:
                lag = max(lag, (now - oldest) / 1000)
            self._observe(states, stamps)
            if leased:
                await self.retick(leased)
            if claimed < self.batch:
                break
        return lag

    def _observe(self, states: list[str], stamps: list[int]) -> None:
        if not states:
            return
        self.flips += len(states)
        done = time.time()
        for state in set(states):
            FLIPS.labels(state).inc(states.count(state))
        for ts in stamps:
            DEADLINE_TO_FLIP.observe(max(0.0, done - ts / 1000))

    async def retick(self, uuids: list[str]) -> None:
        """Compute the next cron/OnCalendar ticks of leased checks and store them, unless a
        ping changed the check meanwhile (it then re-scored the check itself)."""
        rows = await self.store.schedule_fields(uuids)
        now = int(time.time() * 1000)
        for uuid, (kind, schedule, tz, last_ping, version) in zip(uuids, rows, strict=True):
            if version is None:
                continue  # deleted meanwhile
            ticks, final = self._ticks(uuid, kind, schedule, tz, int(last_ping or 0) or now)
            await self.store.reticks(uuid, now, version, ticks, final)
            RETICKS.inc()

    @staticmethod
    def _ticks(uuid: str, kind: str | None, schedule: str | None, tz: str | None,
               after: int) -> tuple[list[int], bool]:
        if kind not in ("cron", "oncalendar"):
            return [], True  # the kind changed to simple: ticks no longer matter
        try:
            # A field with its default value is not stored (e.g. "* * * * *", "UTC").
            ticks = schedules.ticks_after(schedule or DEFAULTS["schedule"], tz or DEFAULTS["tz"],
                                          after)
        except Exception:
            # A schedule that cannot be evaluated must not come back every lease forever:
            # store "no further ticks" (the check will not go late) and say so loudly.
            log.exception("check %s: cannot evaluate schedule %r in %r", uuid, schedule, tz)
            return [], True
        return ticks, len(ticks) < schedules.TICKS_AHEAD
