"""Reliability with real processes: `python -m hb sweeper|notifier|worker` subprocesses, a
real Redis (single and cluster), a real HTTP receiver on loopback. Bounded in count and
time; every wait is for a condition, with a timeout.

(a) two sweepers and two notifiers, 2,000 checks whose deadlines pass together: exactly one
    down flip per check, each delivered, no duplicates. (10,000 checks: bench/engine_bench.py
    --scenario fleet; 2,000 keep this test under half a minute on 2 cores.)
(b) a notifier killed with SIGKILL mid-batch: every alert delivered after a restart, by the
    same consumer (its own pending entries) or by a peer (XAUTOCLAIM).
(c) a receiver answering 500 for a while: everything delivered, backoff in the log.
(d) one channel hangs: the other channels' alerts arrive on time.
(e) Redis (AOF, appendfsync always) killed and restarted under ping load: no acknowledged
    ping lost; sweeper and notifier resume by themselves.
Plus SIGTERM: a notifier stops gracefully (exit 0) and leaves nothing undelivered.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import Counter
from typing import Any

import pytest
import requests

from pingserver import keys
from pingserver.config import Settings
from pingserver.store import ProjectKeys, Store, now_ms
from tests.conftest import PingServer
from tests.support.engine import EngineProcess, EngineRedis, eventually, stream_entries
from tests.support.engine_fixtures import engine_redis, receiver, single_redis
from tests.support.receivers import HttpReceiver
from tests.support.redis_server import RedisServer
from tests.support.wait import wait_for

__all__ = ["engine_redis", "receiver", "single_redis"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

FLEET = 2000


async def bulk_checks(store: Store, project: ProjectKeys, n: int, channel: dict[str, Any],
                      **config: Any) -> list[str]:
    """n checks with the channel, created 50 at a time (the pool holds 100 connections)."""
    out: list[str] = []

    async def one(i: int) -> str:
        saved = await store.save_check(project.id, {"name": f"job-{i}", "timeout": 60,
                                                    "grace": 60, "channels": channel["id"],
                                                    **config})
        assert saved is not None
        return saved[0].uuid

    for start in range(0, n, 50):
        out += await asyncio.gather(*(one(i) for i in range(start, min(n, start + 50))))
    return out


async def ping_all(store: Store, uuids: list[str], action: str, at: int | None = None) -> None:
    for start in range(0, len(uuids), 50):
        await asyncio.gather(*(store.ping(u, action, at=at) for u in uuids[start:start + 50]))


def start(role: str, redis: EngineRedis, name: str, **env: str) -> EngineProcess:
    return EngineProcess(role, {**redis.env(), **env}, name)


def stop_all(*procs: EngineProcess) -> None:
    codes = {p.name: p.stop() for p in procs}
    assert all(code == 0 for code in codes.values()), codes


def codes_received(receiver: HttpReceiver, prefix: str) -> Counter[str]:
    return Counter(r.path[len(prefix):].split("/")[0] for r in receiver.received(prefix)
                   if r.status == 200)


async def test_a_fleet_with_two_sweepers_and_two_notifiers(engine_redis: EngineRedis,
                                                           receiver: HttpReceiver) -> None:
    settings = engine_redis.settings()
    store = Store.from_settings(settings)
    procs = [start("sweeper", engine_redis, "s1"), start("sweeper", engine_redis, "s2"),
             start("notifier", engine_redis, "n1"), start("notifier", engine_redis, "n2")]
    try:
        project = await store.create_project("fleet")
        hook = await store.save_channel(project.id, "webhook", "hook", {
            "down": {"method": "POST", "url": receiver.url + "/fleet/$CODE", "body": "$NAME"}})
        t0 = time.monotonic()
        uuids = await bulk_checks(store, project, FLEET, hook)
        for p in procs:
            p.wait_started()
        t1 = time.monotonic()
        # Every check was last pinged 115 s ago: all go down together, 5 s from now.
        await ping_all(store, uuids, "success", at=now_ms() - 115_000)
        t2 = time.monotonic()

        await asyncio.to_thread(receiver.wait_for, FLEET, "/fleet/", timeout=90)
        await eventually(lambda: _all_acked(store), timeout=30, message="pending entries")
        received = codes_received(receiver, "/fleet/")
        downs = Counter(f["check"] for _, f in await asyncio.to_thread(stream_entries, settings)
                        if f["new"] == "down")
        assert set(downs) == set(uuids) and set(downs.values()) == {1}  # exactly once each
        assert set(received) == set(uuids)  # each delivered
        duplicates = sum(received.values()) - len(received)
        print(f"\nfleet: {FLEET} checks, {len(downs)} down flips, "
              f"{sum(received.values())} deliveries, {duplicates} duplicates; "
              f"create {t1 - t0:.1f} s, ping {t2 - t1:.1f} s, "
              f"deliver {time.monotonic() - t2:.1f} s")
        assert duplicates == 0
    finally:
        stop_all(*procs)
        await store.close()


async def _all_acked(store: Store) -> bool:
    for shard in range(keys.SHARDS):
        info = await store.r.xpending(keys.events_key(shard), keys.STREAM_GROUP)
        if info["pending"]:
            return False
    return True


@pytest.mark.parametrize("restart", ["same-consumer", "peer"])
async def test_b_notifier_killed_mid_batch(engine_redis: EngineRedis, receiver: HttpReceiver,
                                           restart: str) -> None:
    settings = engine_redis.settings()
    store = Store.from_settings(settings)
    n = 40
    receiver.rule("/slow/", delay=1.0)
    first = start("notifier", engine_redis, "victim", HB_NOTIFY_CHANNEL_CONCURRENCY="8")
    try:
        project = await store.create_project("kill")
        hook = await store.save_channel(project.id, "webhook", "hook", {
            "down": {"method": "GET", "url": receiver.url + "/slow/$CODE"}})
        uuids = await bulk_checks(store, project, n, hook)
        first.wait_started()
        await ping_all(store, uuids, "fail")
        await asyncio.to_thread(receiver.wait_for, 8, "/slow/")  # deliveries in flight
        first.kill()
        assert len(set(codes_received(receiver, "/slow/"))) < n  # the batch was cut short

        receiver.rule("/slow/", delay=0.0)
        if restart == "same-consumer":  # a restarted pod with a stable name
            second = start("notifier", engine_redis, "victim")
        else:  # another notifier takes over entries idle for 1 s
            second = start("notifier", engine_redis, "peer", HB_NOTIFY_CLAIM_IDLE="1")
        try:
            second.wait_started()
            await eventually(lambda: _has_all(receiver, uuids), timeout=60,
                             message="alerts lost after kill -9")
            await eventually(lambda: _all_acked(store), timeout=30)
        finally:
            stop_all(second)
        received = codes_received(receiver, "/slow/")
        print(f"\nkill -9 ({restart}): {n} alerts, {sum(received.values())} deliveries, "
              f"{sum(received.values()) - n} duplicates (at-least-once)")
    finally:
        first.kill()
        await store.close()


async def _has_all(receiver: HttpReceiver, uuids: list[str]) -> bool:
    return set(codes_received(receiver, "/slow/")) >= set(uuids)


async def test_c_receiver_failing_for_a_while(single_redis: EngineRedis,
                                              receiver: HttpReceiver) -> None:
    settings = single_redis.settings()
    store = Store.from_settings(settings)
    receiver.rule("/flaky/", status=500)
    notifier = start("notifier", single_redis, "flaky", HB_NOTIFY_BACKOFF_BASE="0.2",
                     HB_NOTIFY_BACKOFF_MAX="10", HB_NOTIFY_MAX_ATTEMPTS="10")
    try:
        project = await store.create_project("flaky")
        hook = await store.save_channel(project.id, "webhook", "hook", {
            "down": {"method": "POST", "url": receiver.url + "/flaky/$CODE", "body": "x"}})
        uuids = await bulk_checks(store, project, 5, hook)
        notifier.wait_started()
        await ping_all(store, uuids, "fail")
        # Three failed attempts per alert, then the receiver recovers.
        await eventually(lambda: _failed_thrice(store, uuids), timeout=30)
        receiver.rule("/flaky/", status=200)
        await eventually(lambda: _delivered_all(store, uuids), timeout=60)

        for uuid in uuids:
            log = list(reversed(await store.notifications(uuid)))  # oldest first
            assert [e["attempt"] for e in log] == list(range(1, len(log) + 1))
            assert [e["status"] for e in log] == ["error"] * (len(log) - 1) + ["ok"]
            assert len(log) >= 4
            assert {e["error"] for e in log[:-1]} == {"received status code 500"}
            gaps = [b["ts"] - a["ts"] for a, b in itertools.pairwise(log)]
            # Exponential backoff with equal jitter: gaps never shrink (a few ms of noise).
            assert all(later >= earlier - 20 for earlier, later in itertools.pairwise(gaps)), gaps
            assert gaps[-1] > 1.5 * gaps[0], gaps
            assert all(e["retry_in"] > 0 for e in log[:-1])
        assert await store.dead_letters() == []
        channel = await store.get_channel(hook["id"])
        assert channel is not None and channel["last_error"] == ""
    finally:
        stop_all(notifier)
        await store.close()


async def _failed_thrice(store: Store, uuids: list[str]) -> bool:
    for uuid in uuids:
        log = await store.notifications(uuid)
        if len([e for e in log if e["status"] == "error"]) < 3:
            return False
    return True


async def _delivered_all(store: Store, uuids: list[str]) -> bool:
    for uuid in uuids:
        log = await store.notifications(uuid, 1)
        if not log or log[0]["status"] != "ok":
            return False
    return True


async def test_d_a_hung_channel_does_not_delay_the_others(single_redis: EngineRedis,
                                                          receiver: HttpReceiver) -> None:
    settings = single_redis.settings()
    store = Store.from_settings(settings)
    receiver.rule("/hang/", hang=True)
    notifier = start("notifier", single_redis, "hang", HB_NOTIFY_TIMEOUT="10",
                     HB_NOTIFY_MAX_ATTEMPTS="1")
    try:
        project = await store.create_project("hang")
        dead = await store.save_channel(project.id, "webhook", "dead", {
            "down": {"url": receiver.url + "/hang/$CODE"}})
        fast = await store.save_channel(project.id, "webhook", "fast", {
            "down": {"url": receiver.url + "/fast/$CODE"}})
        uuids = await bulk_checks(store, project, 16, dead)
        for uuid in uuids:
            await store.save_check(project.id, {"channels": f"{dead['id']},{fast['id']}"},
                                   uuid=uuid, create=False)
        notifier.wait_started()
        # Some alerts first, so that the hung channel holds its worker threads...
        await ping_all(store, uuids[:8], "fail")
        await asyncio.to_thread(receiver.wait_for, 8, "/hang/")
        # ...then more: the fast channel still gets every alert at once.
        await ping_all(store, uuids[8:], "fail")
        await asyncio.to_thread(receiver.wait_for, 16, "/fast/", timeout=15)
        # All of them before the first hung attempt even timed out: nothing waited for it.
        assert await store.dead_letters() == []
        # The hung channel's attempts time out and are reported, each on its own clock.
        letters = await eventually(lambda: _dead(store, 16), timeout=60)
        assert {d["channel"] for d in letters} == {dead["id"]}
        assert {d["error"] for d in letters} == {"timed out after 10 s"}
    finally:
        receiver.released.set()
        stop_all(notifier)
        await store.close()


async def _dead(store: Store, n: int) -> list[dict[str, Any]]:
    letters = await store.dead_letters()
    return letters if len(letters) >= n else []


async def test_sigterm_finishes_deliveries_in_progress(single_redis: EngineRedis,
                                                       receiver: HttpReceiver) -> None:
    settings = single_redis.settings()
    store = Store.from_settings(settings)
    receiver.rule("/term/", delay=0.5)
    notifier = start("notifier", single_redis, "term")
    try:
        project = await store.create_project("term")
        hook = await store.save_channel(project.id, "webhook", "hook", {
            "down": {"url": receiver.url + "/term/$CODE"}})
        uuids = await bulk_checks(store, project, 30, hook)
        notifier.wait_started()
        await ping_all(store, uuids, "fail")
        await asyncio.to_thread(receiver.wait_for, 4, "/term/")
        began = time.monotonic()
        assert notifier.stop() == 0, notifier.output()[-2000:]
        assert time.monotonic() - began < 10
        answered = set(codes_received(receiver, "/term/"))
        # Whatever it answered for was acknowledged: a restart delivers only the rest.
        receiver.rule("/term/", delay=0.0)
        before = len(receiver.received("/term/"))
        again = start("notifier", single_redis, "term").wait_started()
        try:
            await eventually(lambda: _has_all_prefix(receiver, uuids, "/term/"), timeout=30)
        finally:
            stop_all(again)
        redelivered = Counter(r.path.split("/")[2] for r in receiver.received("/term/")[before:])
        assert not set(redelivered) & answered, "delivered alerts were sent again"
    finally:
        notifier.kill()
        await store.close()


async def _has_all_prefix(receiver: HttpReceiver, uuids: list[str], prefix: str) -> bool:
    return set(codes_received(receiver, prefix)) >= set(uuids)


async def test_e_redis_restart_under_ping_load(receiver: HttpReceiver) -> None:
    redis = RedisServer(appendonly=True).start()  # appendfsync always (the helper's AOF mode)
    settings = Settings(redis_url=redis.url, allow_private_webhooks=True, sweep_interval=0.1)
    env = {"HB_REDIS_URL": redis.url, "HB_REDIS_TIMEOUT": "1"}
    server = PingServer(redis.url)
    worker = EngineProcess("worker", env, "restart")
    store = Store.from_settings(settings)
    try:
        project = await store.create_project("restart")
        hook = await store.save_channel(project.id, "webhook", "hook", {
            "down": {"url": receiver.url + "/down/$CODE"},
            "up": {"url": receiver.url + "/up/$CODE"}})
        target = await bulk_checks(store, project, 1, hook)
        worker.wait_started()

        answers: Counter[int] = Counter()
        n_pings = 600

        def load() -> None:
            with requests.Session() as session:
                for _ in range(n_pings // 4):
                    try:
                        code = session.get(f"{server.url}/ping/{target[0]}", timeout=5)
                        answers[code.status_code] += 1
                    except requests.RequestException:
                        answers[-1] += 1

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        # Kill Redis once the load is well under way, and restart it once pings are failing.
        await asyncio.to_thread(wait_for, lambda: answers[200] >= 50, timeout=30,
                                message="pings acknowledged before the restart")
        redis.kill()  # SIGKILL: only what the AOF has survives
        await asyncio.to_thread(wait_for, lambda: answers[503] + answers[-1] > 0, timeout=30,
                                message="pings refused while Redis is down")
        redis = RedisServer(appendonly=True, port=redis.port, workdir=redis.dir).start()
        for t in threads:
            await asyncio.to_thread(t.join, 60)
        await store.close()
        store = Store.from_settings(settings)  # the old client's connections are dead
        assert sum(answers.values()) == n_pings
        assert answers[200] > 0 and answers[503] + answers[-1] > 0, answers  # it did go down

        check = await eventually(lambda: store.get_check(target[0]), timeout=10)
        assert check is not None
        print(f"\nredis restart: answers {dict(answers)}, pings stored {check.n_pings}")
        # Every ping answered 200 was on disk before the answer (a ping that failed with
        # 503 may have been recorded all the same: Redis died before replying).
        assert check.n_pings >= answers[200], (check.n_pings, answers)

        # The engine came back by itself: a failure alert, then a deadline passing.
        await store.ping(target[0], "fail")
        await asyncio.to_thread(receiver.wait_for, 1, "/down/", timeout=30)
        await store.ping(target[0], "success", at=now_ms() - 118_000)
        await asyncio.to_thread(receiver.wait_for, 1, "/up/", timeout=30)
        await asyncio.to_thread(receiver.wait_for, 2, "/down/", timeout=30)
        assert "Redis error" in worker.output()  # it noticed the outage...
        assert "reachable again" in worker.output()  # ...and the return
    finally:
        server.stop()
        stop_all(worker)
        await store.close()
        redis.cleanup()
