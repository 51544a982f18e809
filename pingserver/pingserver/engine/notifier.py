"""The notifier: reads flips from the shard streams and delivers alerts, at least once.

One reader task per shard (in Redis Cluster the 16 streams live on different nodes) reads
its stream through the consumer group keys.STREAM_GROUP. Every (flip, channel) delivery is
its own asyncio task: the blocking transport runs in a worker thread under its own timeout,
behind a per-channel limit, so a slow or hung channel never holds up another channel.
Failed attempts are retried with exponential backoff and jitter; each attempt is written to
the check's notification log; what still fails after the last attempt goes to the
dead-letter list. A flip is acknowledged (XACK) only when every channel has it delivered or
dead-lettered, so a notifier killed mid-delivery leaves the entry pending, and it is
delivered after a restart (own pending entries first) or by another notifier (XAUTOCLAIM
of entries idle for HB_NOTIFY_CLAIM_IDLE). Retries in progress keep their entries fresh
(XCLAIM JUSTID) so that peers do not take over deliveries that are only waiting.
A notifier that comes back under a new name (a Deployment's pod) never resumes its old
consumer's entries: every notifier renews a heartbeat key (HB_NOTIFY_HEARTBEAT_TTL), and
consumers without one that have not read for that long are gone; their pending entries are
taken over at once and they are removed from the group.
Every delivery carries the flip's stream id as its idempotency key, so receivers can drop
the duplicates at-least-once delivery may produce.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from redis.exceptions import RedisError, ResponseError

from pingserver import keys
from pingserver.config import Settings, consumer
from pingserver.engine.channels import (
    Alert,
    DeliveryError,
    PermanentError,
    Transport,
    build_transports,
)
from pingserver.engine.channels.alertmanager import KIND as ALERTMANAGER
from pingserver.engine.channels.alertmanager import Resender
from pingserver.engine.flips import Flip, alert_kind
from pingserver.engine.hold import Holds
from pingserver.engine.util import Outage, backoff_delay, pause
from pingserver.metrics import (
    DEADLINE_TO_DELIVERED,
    EVENTS,
    FLIP_TO_DELIVERED,
    NOTIFIER_INFLIGHT,
    NOTIFIER_LAG,
    NOTIFY_ATTEMPTS,
    NOTIFY_DEAD,
    NOTIFY_DURATION,
    NOTIFY_FAILURES,
)
from pingserver.model import Check
from pingserver.store import Store, now_ms

log = logging.getLogger("hb.notifier")

T = TypeVar("T")
Entries = list[tuple[str, dict[str, str] | None]]

CHANNEL_CACHE_SECONDS = 5.0
# A gone consumer's entry is taken over only if nobody claimed it this long ago: of two
# notifiers taking over at the same moment, the second finds it just claimed and leaves it.
TAKEOVER_MIN_IDLE_MS = 1000
REDIS_CONCURRENCY = 48  # connections for delivery tasks (readers use one each)


class Abandoned(Exception):
    """The notifier is stopping: leave the entry pending for the next notifier."""


class Unsupported:
    """Transport for channel kinds this notifier cannot send: every delivery fails for good,
    which makes the problem visible in the notification log and the dead-letter list."""

    def wants(self, config: dict[str, Any], kind: str) -> bool:
        return True

    def needs_last_ping(self, config: dict[str, Any]) -> bool:
        return False

    def send(self, channel: dict[str, Any], alert: Alert, timeout: float) -> None:
        raise PermanentError(f"unsupported channel kind {channel.get('kind')!r}")


@dataclass(frozen=True)
class Target:
    channel: dict[str, Any]
    transport: Transport

    @property
    def id(self) -> str:
        return str(self.channel["id"])

    @property
    def kind(self) -> str:
        return str(self.channel.get("kind", ""))


class Notifier:
    def __init__(self, store: Store, settings: Settings, *,
                 transports: dict[str, Transport] | None = None,
                 shards: list[int] | None = None) -> None:
        self.store = store
        self.settings = settings
        self.consumer = consumer(settings)
        self.shards = list(range(keys.SHARDS)) if shards is None else shards
        self.transports = transports if transports is not None else build_transports(settings)
        self.holds = Holds(store, settings, self.shards)
        self.resender = Resender(store, settings, self.shards, self._resend)
        self.pool = ThreadPoolExecutor(settings.notify_workers, thread_name_prefix="hb-notify")
        self.slots = asyncio.Semaphore(settings.notify_workers)
        self.per_channel = settings.notify_channel_concurrency or max(
            1, settings.notify_workers // 4)
        self.channel_slots: dict[str, asyncio.Semaphore] = {}
        self.inflight: dict[tuple[int, str], asyncio.Task[None]] = {}
        # The newest flip in delivery per check: a later flip of a check waits for the
        # earlier one, so a receiver never sees "up" before the "down" it resolves.
        self.latest: dict[str, asyncio.Task[None]] = {}
        self.stopping = asyncio.Event()
        self.room = asyncio.Event()
        self.room.set()
        self._channels: dict[str, tuple[float, dict[str, Any] | None]] = {}
        # XREADGROUP blocks below the socket timeout, or the client would give up first.
        self.block_ms = max(50, int(min(1.0, settings.redis_timeout / 2) * 1000))
        self.outage = Outage(log, "notifier")
        # redis-py's pool refuses (rather than queues) commands beyond max_connections
        # (100): delivery tasks share a bounded number of connections, beside the readers.
        self.redis_slots = asyncio.Semaphore(REDIS_CONCURRENCY)
        # Since when this notifier's heartbeats have been renewed without a gap (see _beat).
        self.beating_since: float | None = None
        self.last_beat = 0.0

    # Lifecycle ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        log.info("notifier %r started: %d shards, %d workers, %d per channel", self.consumer,
                 len(self.shards), self.settings.notify_workers, self.per_channel)
        # Alive before reading: peers must not take this consumer's entries for a gone one's.
        await self._redis_retry(self._beat, slot=False)
        tasks = [asyncio.create_task(self._reader(s)) for s in self.shards]
        tasks.append(asyncio.create_task(self._maintain()))
        tasks.append(asyncio.create_task(self._release_loop()))
        tasks.append(asyncio.create_task(self._identity_loop()))
        tasks.append(asyncio.create_task(self.resender.run(self.stopping)))
        await stop.wait()
        await self.shutdown(tasks)

    async def shutdown(self, tasks: list[asyncio.Task[None]]) -> None:
        """Stop reading, give deliveries in progress a bounded time, leave the rest pending."""
        self.stopping.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        running = list(self.inflight.values())
        if running:
            log.info("notifier stopping: waiting for %d flips in delivery", len(running))
            _, rest = await asyncio.wait(running, timeout=self.settings.notify_drain_timeout)
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)
            if rest:
                log.warning("notifier stopping: %d flips left pending for the next notifier",
                            len(rest))
        self.pool.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(RedisError):  # what it left pending is taken over at once
            await self.store.notifier_gone(self.consumer)
        log.info("notifier stopped")

    # Reading -----------------------------------------------------------------------------

    async def _reader(self, shard: int) -> None:
        if not await self._redis_retry(lambda: self._start_shard(shard), slot=False):
            return
        loop = asyncio.get_running_loop()
        next_claim = loop.time()  # at once: a crashed peer's entries may be waiting
        claim_every = self.settings.notify_claim_idle / 2
        while not self.stopping.is_set():
            try:
                if not await self._wait_room():
                    continue
                if loop.time() >= next_claim:
                    await self._claim(shard)
                    next_claim = loop.time() + claim_every
                room = self.settings.notify_max_inflight - len(self.inflight)
                entries = await self._read_unless_stopped(self.store.read_events(
                    shard, self.consumer, ">", max(1, min(self.settings.notify_batch, room)),
                    self.block_ms))
                if entries:
                    await self._submit(shard, entries)
                self.outage.ok()
            except ResponseError as exc:
                if "NOGROUP" in str(exc):  # Redis lost the group (data loss): recreate it
                    await self._redis_retry(lambda: self.store.ensure_group(shard), slot=False)
                else:
                    await pause(self.stopping, self.outage.failed(exc))
            except RedisError as exc:
                await pause(self.stopping, self.outage.failed(exc))

    async def _read_unless_stopped(self, read: Awaitable[Entries]) -> Entries:
        """A blocking read that SIGTERM interrupts at once. Entries a cancelled read had
        already taken stay pending for this consumer and are read again after a restart."""
        task = asyncio.ensure_future(read)
        stopped = asyncio.ensure_future(self.stopping.wait())
        await asyncio.wait([task, stopped], return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, RedisError):
            await task
        return []

    async def _start_shard(self, shard: int) -> None:
        """Create the group, then finish this consumer's own pending entries: after a
        crash they are the deliveries that were in progress."""
        await self.store.ensure_group(shard)
        start = "0"
        while not self.stopping.is_set():
            entries = await self.store.read_events(shard, self.consumer, start,
                                                   self.settings.notify_batch, None)
            if not entries:
                return
            if start == "0":
                log.info("shard %d: resuming %s+ own pending entries", shard, len(entries))
            await self._submit(shard, entries)
            start = entries[-1][0]
            await self._wait_room()

    async def _claim(self, shard: int) -> None:
        """Take over entries that another consumer left pending for too long."""
        cursor = "0-0"
        idle_ms = int(self.settings.notify_claim_idle * 1000)
        for _ in range(100):
            cursor, entries = await self.store.claim_stale(shard, self.consumer, idle_ms,
                                                           cursor, self.settings.notify_batch)
            fresh = [e for e in entries if (shard, e[0]) not in self.inflight]
            if fresh:
                log.info("shard %d: claimed %d stale pending entries", shard, len(fresh))
                await self._submit(shard, fresh)
            if cursor in ("0-0", "0"):
                return

    async def _wait_room(self) -> bool:
        """Back-pressure: wait while too many flips are in delivery. False if stopping."""
        while len(self.inflight) >= self.settings.notify_max_inflight:
            self.room.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.room.wait(), timeout=1.0)
            if self.stopping.is_set():
                return False
        return not self.stopping.is_set()

    # Deciding ----------------------------------------------------------------------------

    async def _submit(self, shard: int, entries: Entries) -> None:
        acks: list[str] = []
        flips: list[Flip] = []
        for entry_id, fields in entries:
            if (shard, entry_id) in self.inflight:
                continue
            if fields is None:  # trimmed away while pending: nothing left to deliver
                acks.append(entry_id)
                continue
            try:
                flips.append(Flip.from_fields(entry_id, fields))
            except (KeyError, ValueError):
                log.warning("shard %d: malformed stream entry %s dropped", shard, entry_id)
                acks.append(entry_id)
        checks = await self.store.checks_by_id(sorted({f.check for f in flips}))
        alerts: list[tuple[Flip, Check, str, list[Target]]] = []
        for flip in flips:
            EVENTS.labels(flip.reason).inc()
            check = checks.get(flip.check)
            kind = alert_kind(flip, check) if check else None
            targets = await self._targets(check, kind) if check and kind else []
            if not targets:
                acks.append(flip.id)
                continue
            assert check is not None and kind is not None
            alerts.append((flip, check, kind, targets))
        decisions = await self.holds.decide([(f, c, k) for f, c, k, _ in alerts])
        for (flip, check, kind, targets), decision in zip(alerts, decisions, strict=True):
            if decision.action == "deliver":
                self._start(shard, flip, check, kind, targets)
                continue
            if decision.action == "hold":
                await self.holds.hold(flip, check, kind, decision.mute)
            else:
                await self.holds.dropped(flip, check, kind, decision.mute)
            acks.append(flip.id)
        await self.store.ack_events(shard, acks)

    async def _targets(self, check: Check, kind: str) -> list[Target]:
        out: list[Target] = []
        for cid in check.channel_ids:
            channel = await self._channel(cid)
            # A channel of another project is never used, whatever the check says.
            if channel is None or channel.get("project") != check.project:
                continue
            transport = self.transports.get(str(channel.get("kind")), Unsupported())
            if transport.wants(channel.get("config") or {}, kind):
                out.append(Target(channel, transport))
        return out

    async def _channel(self, cid: str) -> dict[str, Any] | None:
        """Channels change rarely and are read for every flip: cache them briefly."""
        now = time.monotonic()
        cached = self._channels.get(cid)
        if cached and cached[0] > now:
            return cached[1]
        channel = await self.store.get_channel(cid)
        self._channels[cid] = (now + CHANNEL_CACHE_SECONDS, channel)
        return channel

    def _start(self, shard: int, flip: Flip, check: Check, kind: str,
               targets: list[Target]) -> None:
        key = (shard, flip.id)
        before = self.latest.get(check.uuid)
        task = asyncio.create_task(self._process(shard, flip, check, kind, targets, before))
        self.inflight[key] = task
        self.latest[check.uuid] = task
        NOTIFIER_INFLIGHT.set(len(self.inflight))

        def done(_: asyncio.Task[None]) -> None:
            self.inflight.pop(key, None)
            if self.latest.get(check.uuid) is task:
                del self.latest[check.uuid]
            NOTIFIER_INFLIGHT.set(len(self.inflight))
            self.room.set()

        task.add_done_callback(done)

    # Delivering --------------------------------------------------------------------------

    async def _process(self, shard: int, flip: Flip, check: Check, kind: str,
                       targets: list[Target], before: asyncio.Task[None] | None) -> None:
        if before is not None:
            await asyncio.wait([before])  # in order per check; its outcome is its own
            if self.stopping.is_set():
                return  # the earlier flip may be left pending: keep the order for later
        try:
            alert = await self._alert(flip, check, kind, targets)
            done = await asyncio.gather(*(self._deliver(alert, t) for t in targets))
            if all(done):
                await self._redis_retry(lambda: self.store.ack_events(shard, [flip.id]))
        except Abandoned:
            pass  # stays pending
        except Exception as exc:
            # A bug, not a channel failure: give the flip up visibly instead of retrying it
            # on every restart forever.
            log.exception("flip %s of check %s: delivery crashed", flip.id, flip.check)
            entry = {"ts": now_ms(), "flip": flip.id, "check": flip.check,
                     "project": flip.project, "channel": "", "kind": kind,
                     "error": f"internal error: {type(exc).__name__}: {exc}"[:300]}
            await self._redis_retry(lambda: self.store.dead_letter(entry))
            await self._redis_retry(lambda: self.store.ack_events(shard, [flip.id]))

    async def _alert(self, flip: Flip, check: Check, kind: str,
                     targets: list[Target]) -> Alert:
        body, exitstatus = b"", -1
        if any(t.transport.needs_last_ping(t.channel.get("config") or {}) for t in targets):
            body, exitstatus = await self._redis_retry_value(lambda: self._last_ping(check))
        return Alert(flip_id=flip.id, kind=kind, reason=flip.reason, ts=flip.ts,
                     downtime_ms=flip.downtime, rid=flip.rid, check=check,
                     last_ping_body=body, last_exitstatus=exitstatus, released=flip.released)

    async def _last_ping(self, check: Check) -> tuple[bytes, int]:
        """Body and exit status of the newest ping, as healthchecks' $BODY uses."""
        pings = await self.store.pings(check.uuid, 1)
        if not pings:
            return b"", -1
        last = pings[0]
        exitstatus = last.get("exitstatus")
        body = b""
        if last.get("size"):
            body = await self.store.ping_body(check.uuid, int(last["n"])) or b""
        return body, int(exitstatus) if exitstatus is not None else -1

    async def _deliver(self, alert: Alert, target: Target) -> bool:
        """Deliver to one channel with retries. True when delivered or dead-lettered,
        False when abandoned because the notifier is stopping."""
        attempt = 0
        while True:
            attempt += 1
            try:
                error, permanent, seconds = await self._attempt(alert, target)
            except Abandoned:
                return False
            final = not error or permanent or attempt >= self.settings.notify_max_attempts
            delay = 0.0 if final else backoff_delay(attempt, self.settings.notify_backoff_base,
                                                    self.settings.notify_backoff_max)
            await self._record(alert, target, attempt, error, seconds, delay)
            if not error:
                self._delivered(alert, target)
                await self._redis_retry(lambda: self.resender.delivered(alert, target.channel))
                return True
            if final:
                await self._dead_letter(alert, target, attempt, error)
                return True
            if await pause(self.stopping, delay):
                return False

    async def _attempt(self, alert: Alert, target: Target) -> tuple[str, bool, float]:
        """One attempt in a worker thread: (error or "", permanent, seconds). Raises
        Abandoned when the notifier stops before the attempt could start."""
        began: list[float] = []  # when a thread took the attempt (not the wait for one)
        error, permanent = "", False
        try:
            await self._in_thread(target, alert, began)
        except Abandoned:
            raise
        except PermanentError as exc:
            error, permanent = str(exc) or type(exc).__name__, True
        except DeliveryError as exc:
            error = str(exc) or type(exc).__name__
        except Exception as exc:  # a transport bug: report it, retry like a failure
            log.exception("channel %s (%s) raised", target.id, target.kind)
            error = f"{type(exc).__name__}: {exc}"[:300]
        seconds = time.monotonic() - (began[0] if began else time.monotonic())
        NOTIFY_ATTEMPTS.labels(target.kind).inc()
        NOTIFY_DURATION.labels(target.kind).observe(seconds)
        if error:
            NOTIFY_FAILURES.labels(target.kind).inc()
        return error, permanent, seconds

    async def _in_thread(self, target: Target, alert: Alert, began: list[float]) -> None:
        """Run the blocking send in the pool. The timeout starts when a thread is free,
        not while waiting for one; the slots are released only when the thread really
        ends, so a hung call cannot make the pool queue work behind it."""
        timeout = self.settings.notify_timeout
        channel_slots = self.channel_slots.setdefault(target.id,
                                                      asyncio.Semaphore(self.per_channel))
        await channel_slots.acquire()
        try:
            await self.slots.acquire()
        except BaseException:
            channel_slots.release()
            raise
        if self.stopping.is_set():
            # Stopping: finish attempts under way, start no new ones (the flip stays
            # pending and the next notifier delivers it).
            self.slots.release()
            channel_slots.release()
            raise Abandoned
        began.append(time.monotonic())
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.pool, target.transport.send, target.channel, alert,
                                      timeout)

        def release(_: object) -> None:
            self.slots.release()
            channel_slots.release()

        future.add_done_callback(release)
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            raise DeliveryError.timed_out(timeout) from None

    async def _resend(self, channel: dict[str, Any], alert: Alert) -> None:
        """A re-post of a firing Alertmanager alert, under the same limits as deliveries."""
        transport = self.transports.get(ALERTMANAGER, Unsupported())
        try:
            await self._in_thread(Target(channel, transport), alert, [])
        except Abandoned:
            raise DeliveryError("the notifier is stopping") from None

    def _delivered(self, alert: Alert, target: Target) -> None:
        now = time.time()
        created = int(alert.flip_id.split("-", 1)[0]) / 1000
        FLIP_TO_DELIVERED.labels(target.kind).observe(max(0.0, now - created))
        if not alert.released:  # a held alert's deadline passed long ago, on purpose
            DEADLINE_TO_DELIVERED.labels(target.kind).observe(max(0.0, now - alert.ts / 1000))

    async def _record(self, alert: Alert, target: Target, attempt: int, error: str,
                      seconds: float, retry_in: float) -> None:
        """One line of the check's notification log (and the channel's last result). Best
        effort: a log entry lost to a Redis outage must not block the delivery itself."""
        entry: dict[str, Any] = {
            "ts": now_ms(), "flip": alert.flip_id, "channel": target.id,
            "channel_kind": target.kind, "kind": alert.kind, "reason": alert.reason,
            "status": "error" if error else "ok", "attempt": attempt, "error": error,
            "duration": round(seconds, 3)}
        if retry_in:
            entry["retry_in"] = round(retry_in, 3)
        for _ in range(3):
            try:
                async with self.redis_slots:
                    await self.store.record_delivery(alert.check.uuid, target.id, entry)
                return
            except RedisError as exc:
                if await pause(self.stopping, self.outage.failed(exc)):
                    return

    async def _dead_letter(self, alert: Alert, target: Target, attempts: int,
                           error: str) -> None:
        NOTIFY_DEAD.labels(target.kind).inc()
        log.warning("flip %s: channel %s (%s) failed %d times, dead-lettered: %s",
                    alert.flip_id, target.id, target.kind, attempts, error)
        entry = {"ts": now_ms(), "flip": alert.flip_id, "check": alert.check.uuid,
                 "project": alert.check.project, "channel": target.id,
                 "channel_kind": target.kind, "kind": alert.kind, "attempts": attempts,
                 "error": error}
        await self._redis_retry(lambda: self.store.dead_letter(entry))

    # Maintenance -------------------------------------------------------------------------

    async def _maintain(self) -> None:
        loop = asyncio.get_running_loop()
        next_touch = loop.time() + self.settings.notify_claim_idle / 3
        next_trim = loop.time() + min(5.0, self.settings.stream_trim_interval)
        while not await pause(self.stopping, 1.0):
            try:
                if loop.time() >= next_touch:
                    await self.touch()
                    next_touch = loop.time() + self.settings.notify_claim_idle / 3
                if loop.time() >= next_trim:
                    await self.trim()
                    next_trim = loop.time() + self.settings.stream_trim_interval
            except RedisError as exc:
                self.outage.failed(exc)

    async def _release_loop(self) -> None:
        """Hand back held alerts whose silence or dependency ended (engine/hold.py)."""
        interval = self.settings.hold_check_interval
        while not await pause(self.stopping, self.holds.next_wake(interval)):
            try:
                await self.holds.release_due()
                self.outage.ok()
            except RedisError as exc:
                await pause(self.stopping, self.outage.failed(exc))

    async def _identity_loop(self) -> None:
        """Renew the heartbeat; take over from gone consumers once it has run unbroken for
        a TTL (after a Redis outage, live peers renew theirs first)."""
        loop = asyncio.get_running_loop()
        ttl = self.settings.notify_heartbeat_ttl
        while not await pause(self.stopping, ttl / 3):
            try:
                await self._beat()
                if self.beating_since is not None and loop.time() - self.beating_since >= ttl:
                    await self.reap()
            except RedisError as exc:
                self.beating_since = None
                self.outage.failed(exc)

    async def _beat(self) -> None:
        ttl = self.settings.notify_heartbeat_ttl
        now = asyncio.get_running_loop().time()
        await self.store.notifier_alive(self.consumer, int(ttl * 1000))
        if self.beating_since is None or now - self.last_beat > ttl:
            self.beating_since = now  # the key may have expired in the gap
        self.last_beat = now

    async def reap(self) -> None:
        """Consumers without a heartbeat that have not read for a TTL are gone: take over
        their pending entries now (not after HB_NOTIFY_CLAIM_IDLE) and remove them from the
        group. A live peer reads at least every second and keeps its heartbeat."""
        ttl_ms = int(self.settings.notify_heartbeat_ttl * 1000)
        idle_seen = gone = 0
        for shard in self.shards:
            try:
                idle = [name for name, _, ms in await self.store.consumers(shard)
                        if name != self.consumer and ms > ttl_ms]
            except ResponseError as exc:
                if "NOGROUP" in str(exc):
                    continue  # the reader recreates it
                raise
            live = await self.store.live_notifiers(idle) if idle else set()
            idle_seen += len(idle)
            for name in idle:
                if name not in live and not self.stopping.is_set():
                    gone += 1
                    await self._take_over(shard, name)
        log.debug("reap round: %d idle consumers, %d gone", idle_seen, gone)

    async def _take_over(self, shard: int, gone: str) -> None:
        batch = self.settings.notify_batch
        while await self._wait_room():
            entries = await self.store.take_over(shard, gone, self.consumer,
                                                 TAKEOVER_MIN_IDLE_MS, batch)
            fresh = [e for e in entries if (shard, e[0]) not in self.inflight]
            if fresh:
                log.info("shard %d: took over %d pending entries of notifier %r (gone)",
                         shard, len(fresh), gone)
                await self._submit(shard, fresh)
            if len(entries) < batch:
                break
        if await self.store.drop_consumer(shard, gone):
            log.info("shard %d: removed notifier %r from the group (gone)", shard, gone)

    async def touch(self) -> None:
        """Keep entries in delivery (retries waiting for their backoff included) from
        looking abandoned to other notifiers."""
        by_shard: dict[int, list[str]] = {}
        for shard, entry_id in list(self.inflight):
            by_shard.setdefault(shard, []).append(entry_id)
        for shard, ids in by_shard.items():
            await self.store.touch_events(shard, self.consumer, ids)

    async def trim(self) -> None:
        keep_ms = int(self.settings.stream_retention * 1000)
        for shard in self.shards:
            _, lag = await self.store.trim_events(shard, keep_ms)
            NOTIFIER_LAG.labels(str(shard)).set(lag)

    # Redis retries -----------------------------------------------------------------------

    async def _redis_retry(self, call: Callable[[], Awaitable[object]], *,
                           slot: bool = True) -> bool:
        """Retry a Redis operation until it works; False (not raising) if stopping."""
        try:
            await self._redis_retry_value(call, slot=slot)
        except Abandoned:
            return False
        return True

    async def _redis_retry_value(self, call: Callable[[], Awaitable[T]], *,
                                 slot: bool = True) -> T:
        """`slot`: take one of the delivery tasks' connections (readers do not: each
        reader uses one connection at a time anyway)."""
        while True:
            try:
                if slot:
                    async with self.redis_slots:
                        value = await call()
                else:
                    value = await call()
                self.outage.ok()
                return value
            except RedisError as exc:
                if await pause(self.stopping, self.outage.failed(exc)):
                    raise Abandoned from exc
