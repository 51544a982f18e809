"""Silences, windows and dependencies with real processes: `hb worker` (or a sweeper and
notifiers), Redis and an HTTP receiver. Held alerts go out once, when the mute ends, and
never for a check that recovered meanwhile; several notifiers and a killed one change
nothing."""

from __future__ import annotations

import asyncio
import time
import uuid as uuidlib
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from pingserver.api.checks import held_flips
from pingserver.model import Check
from pingserver.silences import Silence, parse_matcher
from pingserver.store import Store, now_ms
from tests.support.engine import EngineProcess, EngineRedis, eventually
from tests.support.engine_fixtures import engine_redis, estore, receiver, single_redis, sstore
from tests.support.receivers import HttpReceiver

__all__ = ["engine_redis", "estore", "receiver", "single_redis", "sstore"]

pytestmark = pytest.mark.timeout(180)


async def make_checks(store: Store, receiver: HttpReceiver, *slugs: str,
                      **extra: str) -> tuple[str, list[Check]]:
    project = await store.create_project("oncall")
    hook = await store.save_channel(project.id, "webhook", "hook", {
        "down": {"method": "POST", "url": receiver.url + "/down/$NAME"},
        "up": {"method": "POST", "url": receiver.url + "/up/$NAME"}})
    checks = []
    for slug in slugs:
        saved = await store.save_check(project.id, {
            "name": slug, "slug": slug, "tags": "db", "timeout": 60, "grace": 60,
            "channels": hook["id"], **extra})
        assert saved is not None
        checks.append(saved[0])
    return project.id, checks


async def silence(store: Store, pid: str, *matchers: str, ends_in: float,
                  **kw: object) -> Silence:
    now = now_ms()
    s = Silence(id=str(uuidlib.uuid4()), project=pid, matchers=tuple(map(parse_matcher, matchers)),
                starts_at=now, ends_at=now + int(ends_in * 1000), created_at=now,
                **kw)  # type: ignore[arg-type]
    await store.save_silence(s)
    return s


async def go_down(store: Store, check: Check) -> None:
    """The last ping 125 s ago: down at the next sweep."""
    await store.ping(check.uuid, "success", at=now_ms() - 125_000)


async def status(store: Store, check: Check, note: str = "") -> bool:
    """The check is down and, if `note` is given, its log has an entry of that status."""
    fresh = await store.get_check(check.uuid)
    if fresh is None or fresh.status != "down":
        return False
    return not note or any(e.get("status") == note for e in await store.notifications(check.uuid))


def worker(redis: EngineRedis, name: str = "oncall-worker") -> EngineProcess:
    return EngineProcess("worker", redis.env(), name).wait_started()


async def test_held_until_silence_ends_then_once(single_redis: EngineRedis, sstore: Store,
                                                 receiver: HttpReceiver) -> None:
    pid, (held, recovered, loud) = await make_checks(sstore, receiver, "held", "recovered",
                                                     "loud")
    proc = worker(single_redis)
    try:
        s = await silence(sstore, pid, "name=~held|recovered", ends_in=8, comment="pg upgrade")
        for c in (held, recovered, loud):
            await go_down(sstore, c)
        # The unsilenced check alerts at once; the silenced ones are down and held.
        await asyncio.to_thread(receiver.wait_for, 1, "/down/loud", timeout=20)
        for c in (held, recovered):
            await eventually(lambda c=c: status(sstore, c, "held"),
                             message=f"{c.uuid} held: {receiver.received()}")
        notes = await sstore.notifications(held.uuid)
        assert notes[0]["why"] == f'silenced by "pg upgrade" ({s.id})'
        await sstore.ping(recovered.uuid, "success")  # recovers inside the silence

        ends = s.ends_at / 1000
        first = (await asyncio.to_thread(receiver.wait_for, 1, "/down/held", timeout=20))[0]
        assert ends <= first.at < ends + 2, (first.at - ends)
        # Another notifier loop later: still exactly one, and nothing for the recovered one.
        await sstore.ping(loud.uuid, "success")
        await asyncio.to_thread(receiver.wait_for, 1, "/up/loud", timeout=20)
        assert [r.path for r in receiver.received("/down/held")] == ["/down/held"]
        assert receiver.received("/down/recovered") == []
        assert receiver.received("/up/recovered") == []
        assert (await sstore.get_check(held.uuid)).status == "down"  # type: ignore[union-attr]
    finally:
        assert proc.stop() == 0, proc.output()[-2000:]


async def test_dependency_holds_until_it_recovers(engine_redis: EngineRedis, estore: Store,
                                                  receiver: HttpReceiver) -> None:
    """On a single Redis and on a Redis Cluster (held alerts and silences keys)."""
    sstore = estore
    await silence(sstore, "another-project", "tag=db", ends_in=60)  # cluster: MULTI works
    pid, (bucket,) = await make_checks(sstore, receiver, "backups-bucket")
    saved = await sstore.save_check(pid, {"name": "nightly", "slug": "nightly", "timeout": 60,
                                          "grace": 60, "channels": bucket.config["channels"],
                                          "depends_on": bucket.uuid})
    assert saved is not None
    nightly = saved[0]
    proc = worker(engine_redis)
    try:
        await go_down(sstore, bucket)
        await asyncio.to_thread(receiver.wait_for, 1, "/down/backups-bucket", timeout=20)
        await go_down(sstore, nightly)
        await eventually(lambda: status(sstore, nightly, "held"), message="dependent held")
        notes = await sstore.notifications(nightly.uuid)
        assert notes[0]["why"] == "dependency backups-bucket is down"
        assert receiver.received("/down/nightly") == []
        # The API's flips of the check say why (v3 `held`).
        flips = await sstore.flips(nightly.uuid)
        down_ts = [int(f["ts"]) for f in flips if f["new"] == "down"]
        assert await held_flips(sstore, nightly) == {
            down_ts[0]: "dependency backups-bucket is down"}

        await sstore.ping(bucket.uuid, "success")
        await asyncio.to_thread(receiver.wait_for, 1, "/up/backups-bucket", timeout=20)
        await asyncio.to_thread(receiver.wait_for, 1, "/down/nightly", timeout=20)
        await sstore.ping(nightly.uuid, "success")
        await asyncio.to_thread(receiver.wait_for, 1, "/up/nightly", timeout=20)
        assert len(receiver.received("/down/nightly")) == 1
    finally:
        assert proc.stop() == 0, proc.output()[-2000:]


async def test_two_notifiers_and_a_killed_one_deliver_each_held_alert_once(
        single_redis: EngineRedis, sstore: Store, receiver: HttpReceiver) -> None:
    slugs = [f"c{i}" for i in range(12)]
    pid, checks = await make_checks(sstore, receiver, *slugs)
    env = single_redis.env()
    sweeper = EngineProcess("sweeper", env, "oncall-sweeper").wait_started()
    doomed = EngineProcess("notifier", env, "oncall-n1").wait_started()
    other = EngineProcess("notifier", env, "oncall-n2").wait_started()
    try:
        s = await silence(sstore, pid, "tag=db", ends_in=600)
        for c in checks:
            await go_down(sstore, c)

        async def all_held() -> bool:
            return sum(await sstore.held_counts()) == len(checks)

        await eventually(all_held, message="every alert held")
        doomed.kill()  # killed while the alerts are held: they live in Redis
        replacement = EngineProcess("notifier", env, "oncall-n3").wait_started()
        try:
            await sstore.save_silence(replace(s, ends_at=now_ms()))
            got = await asyncio.to_thread(receiver.wait_for, len(checks), "/down/", timeout=30)
            assert sorted(r.path for r in got) == sorted(f"/down/{c}" for c in slugs)
            # Each exactly once, also after both notifiers had more turns of their loops.
            await eventually(lambda: _quiet_for(receiver, 2.0), timeout=30)
            assert len(receiver.received("/down/")) == len(checks)
            assert sum(await sstore.held_counts()) == 0
        finally:
            assert replacement.stop() == 0, replacement.output()[-2000:]
    finally:
        for proc in (other, sweeper):
            assert proc.stop() == 0, proc.output()[-2000:]


async def _quiet_for(receiver: HttpReceiver, seconds: float) -> bool:
    """True once no request arrived for `seconds` (a bounded observation, not a sleep)."""
    received = receiver.received()
    last = max((r.at for r in received), default=0.0)
    return time.time() - last >= seconds


async def test_recurring_window_opens_and_closes(single_redis: EngineRedis, sstore: Store,
                                                 receiver: HttpReceiver) -> None:
    """Every minute, a window of its first 30 seconds (in a zone that is not UTC)."""
    pid, (check,) = await make_checks(sstore, receiver, "windowed")
    proc = worker(single_redis)
    try:
        async def early_in_minute() -> bool:
            return 2 <= datetime.now(UTC).second < 15

        await eventually(early_in_minute, timeout=70, interval=0.2)
        now = now_ms()
        window = Silence(id=str(uuidlib.uuid4()), project=pid,
                         matchers=(parse_matcher("slug=windowed"),), starts_at=now - 60_000,
                         ends_at=0, schedule="* * * * *", duration=30,
                         tz="America/New_York", created_at=now)
        await sstore.save_silence(window)
        assert window.state(now) == "active"
        await go_down(sstore, check)
        await eventually(lambda: status(sstore, check, "held"), message="held in the window")
        close = (now // 60_000) * 60_000 / 1000 + 30
        got = (await asyncio.to_thread(receiver.wait_for, 1, "/down/windowed", timeout=40))[0]
        assert close <= got.at < close + 2, got.at - close
    finally:
        assert proc.stop() == 0, proc.output()[-2000:]
