"""Notifier identity, with real processes: a notifier that comes back under a new name (a
Deployment's new pod; HB_CONSUMER_NAME defaults to the host name) does not leave its old
consumer's pending alerts waiting HB_NOTIFY_CLAIM_IDLE, and the old consumer is removed from
the group. On a single Redis and on a Redis Cluster."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from pingserver import keys
from pingserver.store import Store
from tests.integration.test_engine_reliability import bulk_checks, codes_received, ping_all
from tests.support.engine import EngineProcess, EngineRedis, eventually
from tests.support.engine_fixtures import engine_redis, estore, receiver
from tests.support.receivers import HttpReceiver

__all__ = ["engine_redis", "estore", "receiver"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ALERTS = 10
NEVER = "300"  # HB_NOTIFY_CLAIM_IDLE: far beyond the waits below


def notifier(redis: EngineRedis, name: str) -> EngineProcess:
    return EngineProcess("notifier", {**redis.env(), "HB_NOTIFY_CLAIM_IDLE": NEVER,
                                      "HB_NOTIFY_CHANNEL_CONCURRENCY": "16"}, name)


async def consumers(store: Store) -> dict[str, int]:
    """Consumer name -> pending entries, over all shards."""
    out: dict[str, int] = {}
    for shard in range(keys.SHARDS):
        for row in await store.r.xinfo_consumers(keys.events_key(shard), keys.STREAM_GROUP):
            out[row["name"]] = out.get(row["name"], 0) + int(row["pending"])
    return out


async def hung_alerts(store: Store, receiver: HttpReceiver, proc: EngineProcess,
                      name: str) -> list[str]:
    """ALERTS down flips whose deliveries all hang in `proc`; the checks' uuids."""
    receiver.rule("/slow/", hang=True)
    project = await store.create_project(name)
    hook = await store.save_channel(project.id, "webhook", "hook", {
        "down": {"method": "GET", "url": receiver.url + "/slow/$CODE"}})
    uuids = await bulk_checks(store, project, ALERTS, hook)
    proc.wait_started()
    await ping_all(store, uuids, "fail")
    await asyncio.to_thread(receiver.wait_for, ALERTS, "/slow/")
    return uuids


async def test_a_renamed_notifier_takes_over_at_once(engine_redis: EngineRedis, estore: Store,
                                                     receiver: HttpReceiver) -> None:
    first = notifier(engine_redis, "notifier-old-pod")
    second: EngineProcess | None = None
    try:
        uuids = await hung_alerts(estore, receiver, first, "identity")
        assert (await consumers(estore)).get("notifier-old-pod") == ALERTS
        first.kill()

        receiver.rule("/slow/", hang=False)
        second = notifier(engine_redis, "notifier-new-pod").wait_started()
        started = time.monotonic()

        async def all_delivered() -> bool:
            return set(codes_received(receiver, "/slow/")) >= set(uuids)

        await eventually(all_delivered, timeout=45, message="the old pod's alerts waited")
        delivered = time.monotonic() - started

        async def old_consumer_removed() -> bool:
            names = await consumers(estore)
            return "notifier-old-pod" not in names and names.get("notifier-new-pod") == 0

        await eventually(old_consumer_removed, timeout=30, message="old consumer still there")
        print(f"\nrenamed notifier ({engine_redis.kind}): {ALERTS} alerts of the killed pod "
              f"delivered {delivered:.1f} s after the new pod started "
              f"(HB_NOTIFY_CLAIM_IDLE {NEVER} s)")
        assert "took over" in second.output()
    finally:
        first.kill()
        if second is not None:
            assert second.stop() == 0


async def test_a_live_peer_keeps_its_deliveries(engine_redis: EngineRedis, estore: Store,
                                                receiver: HttpReceiver) -> None:
    """A notifier busy with hung deliveries is alive: a peer whose heartbeat TTL (0.3 s) is
    shorter than the busy one's pauses between reads (up to 1 s) sees it idle in round after
    round, finds its heartbeat, and leaves its entries alone."""
    busy = notifier(engine_redis, "busy")
    peer: EngineProcess | None = None
    try:
        await hung_alerts(estore, receiver, busy, "live")
        peer = EngineProcess("notifier", {**engine_redis.env(), "HB_NOTIFY_CLAIM_IDLE": NEVER,
                                          "HB_NOTIFY_HEARTBEAT_TTL": "0.3",
                                          "HB_LOG_LEVEL": "DEBUG"}, "reaper")
        peer.wait_started()
        # Its debug log shows the rounds in which it looked at the busy consumer.
        await eventually(lambda: _reaped_rounds(peer), timeout=20, message="peer never reaped")
        assert (await consumers(estore)).get("busy") == ALERTS
        assert len(receiver.received("/slow/")) == ALERTS  # nothing sent twice
    finally:
        busy.kill()
        if peer is not None:
            assert peer.stop() == 0


async def _reaped_rounds(peer: EngineProcess) -> bool:
    """Three rounds in which the peer saw the busy consumer idle (and found it alive)."""
    rounds = re.findall(r"reap round: (\d+) idle consumers, 0 gone", peer.output())
    return sum(1 for n in rounds if int(n) > 0) >= 3
