"""The sweeper against a real Redis (single and cluster): transitions, exactly-once under
concurrent sweepers, leases of cron checks, run budgets and repeat reminders."""

from __future__ import annotations

import asyncio

import pytest

from pingserver import keys, schedules
from pingserver.config import Settings
from pingserver.engine.sweeper import Sweeper
from pingserver.store import ProjectKeys, Store, now_ms
from tests.support.engine import EngineRedis
from tests.support.engine_fixtures import engine_redis, estore

__all__ = ["engine_redis", "estore"]

pytestmark = pytest.mark.timeout(60)


async def events(store: Store) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for shard in range(keys.SHARDS):
        out += [fields for _, fields in await store.r.xrange(keys.events_key(shard))]
    return out


async def make_check(store: Store, project: ProjectKeys, **config: object) -> str:
    saved = await store.save_check(project.id, {"name": "c", "timeout": 60, "grace": 60,
                                                **config})
    assert saved is not None
    return saved[0].uuid


@pytest.fixture
def settings_(engine_redis: EngineRedis) -> Settings:
    return engine_redis.settings(sweep_batch=50)


async def test_late_then_down_at_the_computed_times(estore: Store, settings_: Settings) -> None:
    project = await estore.create_project("s")
    uuid = await make_check(estore, project)
    now = now_ms()
    await estore.ping(uuid, "success", at=now - 90_000)  # late since 30 s, down in 30 s
    sweeper = Sweeper(estore, settings_)
    await sweeper.sweep_round()
    check = await estore.get_check(uuid)
    assert check is not None and check.status == "late"
    flips = [e for e in await events(estore) if e["check"] == uuid]
    assert [(f["old"], f["new"], f["reason"]) for f in flips] == [("new", "up", "success"),
                                                                ("up", "late", "late")]
    assert int(flips[1]["ts"]) == now - 30_000  # the grace start, not the detection time
    await sweeper.sweep_round()
    assert len([e for e in await events(estore) if e["check"] == uuid]) == 2  # nothing new

    # Pretend 30 s passed: the due entry is at the down time.
    await estore.ping(uuid, "log")  # log pings do not change the deadline
    due = await estore.r.zscore(keys.due_key(keys.shard_of(uuid)), uuid)
    assert int(due) == now + 30_000
    await estore.r.zadd(keys.due_key(keys.shard_of(uuid)), {uuid: now - 1})
    await estore.r.hset(keys.check_key(uuid), mapping={"down_at": now - 1})
    await sweeper.sweep_round()
    check = await estore.get_check(uuid)
    assert check is not None and check.status == "down"
    last = [e for e in await events(estore) if e["check"] == uuid][-1]
    assert (last["old"], last["new"], last["reason"], last["ts"]) == (
        "late", "down", "timeout", str(now - 1))
    # Down without reminders: nothing is due any more.
    assert await estore.r.zscore(keys.due_key(keys.shard_of(uuid)), uuid) is None


async def test_up_straight_to_down_when_both_deadlines_passed(estore: Store,
                                                              settings_: Settings) -> None:
    project = await estore.create_project("s")
    uuid = await make_check(estore, project)
    now = now_ms()
    await estore.ping(uuid, "success", at=now - 200_000)
    await Sweeper(estore, settings_).sweep_round()
    flips = [e for e in await events(estore) if e["check"] == uuid]
    assert [(f["new"], f["reason"], f["ts"]) for f in flips[1:]] == [
        ("down", "timeout", str(now - 200_000 + 120_000))]


async def test_concurrent_sweepers_flip_each_check_once(estore: Store,
                                                        settings_: Settings) -> None:
    project = await estore.create_project("s")
    now = now_ms()
    uuids = [await make_check(estore, project) for _ in range(300)]
    for u in uuids:
        await estore.ping(u, "success", at=now - 500_000)
    sweepers = [Sweeper(estore, settings_) for _ in range(4)]
    await asyncio.gather(*(s.sweep_round() for s in sweepers))
    await asyncio.gather(*(s.sweep_round() for s in sweepers))
    downs = [e["check"] for e in await events(estore) if e["new"] == "down"]
    assert sorted(downs) == sorted(uuids)
    assert sum(s.flips for s in sweepers) == 300


async def test_run_over_budget_goes_down_with_its_rid(estore: Store,
                                                      settings_: Settings) -> None:
    project = await estore.create_project("s")
    uuid = await make_check(estore, project, max_runtime=120)
    rid = "9b2d1c4e-0000-4000-8000-000000000001"
    now = now_ms()
    await estore.ping(uuid, "success", at=now - 10_000)
    await estore.ping(uuid, "start", rid=rid, at=now - 130_000)  # over its 120 s budget
    await estore.ping(uuid, "start", rid="9b2d1c4e-0000-4000-8000-000000000002", at=now)
    await Sweeper(estore, settings_).sweep_round()
    last = [e for e in await events(estore) if e["check"] == uuid][-1]
    assert (last["new"], last["reason"], last["rid"], last["ts"]) == (
        "down", "runtime", rid, str(now - 10_000))
    assert list(await estore.runs(uuid)) == ["9b2d1c4e-0000-4000-8000-000000000002"]


async def test_repeat_reminders_and_switching_them_off(estore: Store,
                                                       settings_: Settings) -> None:
    project = await estore.create_project("s")
    uuid = await make_check(estore, project, repeat_every=60)
    now = now_ms()
    await estore.ping(uuid, "fail", at=now - 150_000)  # down 150 s ago: reminders at 60, 120
    sweeper = Sweeper(estore, settings_)
    await sweeper.sweep_round()
    reminders = [e for e in await events(estore) if e["reason"] == "repeat"]
    assert len(reminders) == 1  # missed reminders are not replayed one by one
    assert reminders[0]["ts"] == str(now - 90_000)
    check = await estore.get_check(uuid)
    assert check is not None and int(check.raw["next_repeat"]) == now + 30_000
    # Reminders switched off while down: the check leaves the deadline set instead of
    # staying due in the past (it used to be claimed on every sweep).
    await estore.save_check(project.id, {"repeat_every": 0}, uuid=uuid, create=False)
    assert await estore.r.zscore(keys.due_key(keys.shard_of(uuid)), uuid) is None
    await estore.r.zadd(keys.due_key(keys.shard_of(uuid)), {uuid: now - 1})
    await estore.r.hset(keys.check_key(uuid), "next_repeat", now - 1)
    await sweeper.sweep_round()
    assert await estore.r.zscore(keys.due_key(keys.shard_of(uuid)), uuid) is None
    # Switched on again: the next multiple of the period after down_since.
    await estore.save_check(project.id, {"repeat_every": 60}, uuid=uuid, create=False)
    check = await estore.get_check(uuid)
    assert check is not None and int(check.raw["next_repeat"]) == now + 30_000


async def test_cron_ticks_are_recomputed_under_a_lease(estore: Store,
                                                       settings_: Settings) -> None:
    project = await estore.create_project("s")
    uuid = await make_check(estore, project, kind="cron", schedule="*/5 * * * *", tz="UTC")
    # The precomputed ticks ran out (they all lie before the next ping).
    await estore.r.hset(keys.check_key(uuid), mapping={"ticks": "1000,2000",
                                                       "ticks_final": "0"})
    pinged = now_ms()
    await estore.ping(uuid, "success", at=pinged)
    check = await estore.get_check(uuid)
    assert check is not None and check.raw["needs_eval"] == "1"
    shard = keys.shard_of(uuid)

    # A sweeper that leases and dies: the check comes back only when the lease runs out.
    now = now_ms()
    _, _, leased, _, _ = await estore.sweep(shard, now, 100, 30_000)
    assert leased == [uuid]
    assert (await estore.sweep(shard, now + 29_000, 100, 30_000))[2] == []
    assert (await estore.sweep(shard, now + 30_001, 100, 30_000))[2] == [uuid]

    await Sweeper(estore, settings_).retick([uuid])
    check = await estore.get_check(uuid)
    assert check is not None and "needs_eval" not in check.raw  # 0: not stored
    assert check.grace_start == schedules.ticks_after("*/5 * * * *", "UTC", pinged)[0]
    assert int(await estore.r.zscore(keys.due_key(shard), uuid)) == check.grace_start


async def test_retick_of_the_default_schedule(estore: Store, settings_: Settings) -> None:
    # "* * * * *" and "UTC" are the defaults, which the check hash does not store.
    project = await estore.create_project("s")
    uuid = await make_check(estore, project, kind="cron", schedule="* * * * *", tz="UTC")
    await estore.r.hset(keys.check_key(uuid), mapping={"ticks": "1000", "ticks_final": "0"})
    pinged = now_ms()
    await estore.ping(uuid, "success", at=pinged)
    await Sweeper(estore, settings_).retick([uuid])
    check = await estore.get_check(uuid)
    assert check is not None and "schedule" not in check.raw
    assert check.grace_start == schedules.ticks_after("* * * * *", "UTC", pinged)[0]


async def test_retick_loses_to_a_concurrent_ping(estore: Store, settings_: Settings) -> None:
    project = await estore.create_project("s")
    uuid = await make_check(estore, project, kind="cron", schedule="0 * * * *", tz="UTC")
    await estore.r.hset(keys.check_key(uuid), mapping={"ticks": "1000", "ticks_final": "0"})
    await estore.ping(uuid, "success")
    (_, _, _, _, version), = await estore.schedule_fields([uuid])
    assert version is not None
    await estore.ping(uuid, "log")  # the check changed after the version was read
    assert not await estore.reticks(uuid, now_ms(), version, [1, 2], True)


async def test_no_reminder_right_after_a_late_detected_down(estore: Store,
                                                            settings_: Settings) -> None:
    project = await estore.create_project("s")
    uuid = await make_check(estore, project, repeat_every=60)
    await estore.ping(uuid, "success", at=now_ms() - 500_000)  # down 380 s ago
    sweeper = Sweeper(estore, settings_)
    before = now_ms()
    await sweeper.sweep_round()
    await sweeper.sweep_round()
    reasons = [e["reason"] for e in await events(estore) if e["check"] == uuid]
    assert reasons == ["success", "timeout"]  # the down alert, and no reminder yet
    check = await estore.get_check(uuid)
    assert check is not None and int(check.raw["next_repeat"]) >= before + 60_000


async def test_expect_first_ping_runs_the_schedule_from_creation(estore: Store) -> None:
    project = await estore.create_project("s")
    quiet = await make_check(estore, project)
    strict = await make_check(estore, project, expect_first_ping=True)
    assert await estore.r.zscore(keys.due_key(keys.shard_of(quiet)), quiet) is None
    check = await estore.get_check(strict)
    assert check is not None and check.status == "new"
    assert check.grace_start == check.created + 60_000
    assert check.next_deadline() == check.grace_start
    assert check.effective_status(check.created + 61_000) == "late"

    # The job never ran: two minutes later the sweeper turns it down (no ping needed).
    shard = keys.shard_of(strict)
    await estore.sweep(shard, check.created + 200_000, 100, 30_000)
    check = await estore.get_check(strict)
    assert check is not None and check.status == "down"
    flips = [e for e in await events(estore) if e["check"] == strict]
    assert [(f["old"], f["new"], f["reason"], int(f["ts"])) for f in flips] == [
        ("new", "down", "timeout", check.created + 120_000)]

    # Paused and resumed: expected again, counted from the resume.
    await estore.set_paused(strict, True)
    await estore.set_paused(strict, False)
    check = await estore.get_check(strict)
    assert check is not None and check.status == "new"
    resumed = int(check.raw["expect_since"])
    assert check.grace_start == resumed + 60_000
    assert await estore.r.zscore(keys.due_key(shard), strict) == resumed + 60_000


async def due_score(store: Store, uuid: str) -> int | None:
    score = await store.r.zscore(keys.due_key(keys.shard_of(uuid)), uuid)
    return None if score is None else int(score)


async def test_frequent_pings_keep_the_earlier_wake_up(estore: Store) -> None:
    # A ping moves the check's score in the due set only when the score there is less than
    # halfway to its new deadline; the sweeper, woken early, re-scores and nothing is late.
    project = await estore.create_project("s")
    uuid = await make_check(estore, project)  # timeout 60 s, grace 60 s
    shard = keys.shard_of(uuid)
    t0 = now_ms() - 3_600_000
    await estore.ping(uuid, "success", at=t0)
    assert await due_score(estore, uuid) == t0 + 60_000
    await estore.ping(uuid, "success", at=t0 + 10_000)  # 50 s left of 70: kept
    assert await due_score(estore, uuid) == t0 + 60_000
    check = await estore.get_check(uuid)
    assert check is not None and check.grace_start == t0 + 70_000
    await estore.ping(uuid, "success", at=t0 + 40_000)  # 20 s left of 60: moved
    assert await due_score(estore, uuid) == t0 + 100_000

    # Pings stop. At the early wake-up the sweeper finds the check up and re-scores it to its
    # real deadline; past that deadline it turns late at the grace start, as always.
    await estore.ping(uuid, "success", at=t0 + 45_000)  # kept: the wake-up stays at +100 s
    assert await due_score(estore, uuid) == t0 + 100_000
    await estore.sweep(shard, t0 + 100_000, 100, 30_000)
    check = await estore.get_check(uuid)
    assert check is not None and check.status == "up"
    assert await due_score(estore, uuid) == t0 + 105_000
    await estore.sweep(shard, t0 + 105_000, 100, 30_000)
    check = await estore.get_check(uuid)
    assert check is not None and check.status == "late"
    flips = [e for e in await events(estore) if e["check"] == uuid]
    assert [(f["new"], int(f["ts"])) for f in flips] == [("up", t0), ("late", t0 + 105_000)]


async def test_a_ping_once_per_period_moves_the_score_every_time(estore: Store) -> None:
    project = await estore.create_project("s")
    uuid = await make_check(estore, project)
    t0 = now_ms() - 3_600_000
    for n in range(4):  # each ping comes shortly before the deadline of the one before
        await estore.ping(uuid, "success", at=t0 + n * 59_000)
        assert await due_score(estore, uuid) == t0 + n * 59_000 + 60_000


async def test_a_ping_that_brings_the_deadline_closer_moves_the_score(estore: Store) -> None:
    project = await estore.create_project("s")
    uuid = await make_check(estore, project, max_runtime=30)
    rid = "4d0c7a4e-5d3e-4f0b-9a37-2b5e6f8a9c10"
    t0 = now_ms() - 3_600_000
    await estore.ping(uuid, "success", at=t0)
    assert await due_score(estore, uuid) == t0 + 60_000
    await estore.ping(uuid, "start", rid=rid, at=t0 + 1_000)  # a run may last 30 s
    assert await due_score(estore, uuid) == t0 + 31_000
