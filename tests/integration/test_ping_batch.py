"""Pings of one event-loop turn go to Redis in one ping.lua call (pingbatch.py), against a
real Redis (single and cluster): fewer calls, and every guarantee of a single ping kept."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from pingserver import keys
from pingserver.config import Settings
from pingserver.pingbatch import MAX_PINGS
from pingserver.store import ProjectKeys, Store
from tests.support.engine import EngineRedis
from tests.support.engine_fixtures import engine_redis, estore, single_redis, sstore
from tests.support.redis_server import RedisServer

__all__ = ["engine_redis", "estore", "single_redis", "sstore"]


async def make_checks(store: Store, count: int, **config: Any) -> list[str]:
    project: ProjectKeys = await store.create_project("batch")
    uuids = []
    for i in range(count):
        saved = await store.save_check(project.id, {"name": f"c{i}", **config})
        assert saved is not None
        uuids.append(saved[0].uuid)
    return uuids


def script_calls(server: EngineRedis) -> int:
    """ping.lua calls since the last reset, over every node."""
    return sum(server.each_node(
        lambda client: client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)))


async def reset_stats(store: Store, server: EngineRedis) -> None:
    """After one ping, so that the script is loaded (a NOSCRIPT would count as a call)."""
    warm, = await make_checks(store, 1)
    await store.ping(warm, "success")
    server.each_node(lambda client: client.config_resetstat())


async def n_pings(store: Store, uuids: list[str]) -> list[int]:
    return [c.n_pings for c in await store.get_checks(uuids)]


async def test_pings_of_one_turn_make_one_call(sstore: Store, single_redis: EngineRedis) -> None:
    uuids = await make_checks(sstore, 40)
    await reset_stats(sstore, single_redis)
    kinds = await asyncio.gather(*(sstore.ping(u, "success") for u in uuids))
    assert kinds == ["success"] * 40
    assert script_calls(single_redis) == 1
    assert await n_pings(sstore, uuids) == [1] * 40


async def test_a_full_batch_leaves_at_once(sstore: Store, single_redis: EngineRedis) -> None:
    uuids = await make_checks(sstore, 10)
    await reset_stats(sstore, single_redis)
    count = 2 * MAX_PINGS + 12
    kinds = await asyncio.gather(*(sstore.ping(uuids[i % 10], "success") for i in range(count)))
    assert kinds == ["success"] * count
    assert script_calls(single_redis) == 3
    assert await n_pings(sstore, uuids) == [count // 10] * 10


async def test_pings_of_one_check_keep_their_order(estore: Store) -> None:
    uuid, = await make_checks(estore, 1, timeout=60, grace=60)
    rid = "1b6a6c4e-5f0e-4c39-8d39-56ba1b0c9e0f"
    kinds = await asyncio.gather(
        estore.ping(uuid, "start", rid=rid, at=1_000_000),
        estore.ping(uuid, "fail", at=1_001_000),
        estore.ping(uuid, "success", rid=rid, at=1_005_000),
        estore.ping(uuid, "log", body=b"after", at=1_006_000))
    assert kinds == ["start", "fail", "success", "log"]
    log = await estore.pings(uuid, 10)
    assert [(p["n"], p["kind"], p["ts"]) for p in log] == [
        (4, "log", 1_006_000), (3, "success", 1_005_000), (2, "fail", 1_001_000),
        (1, "start", 1_000_000)]
    # The fail had no run id, so it ended every run: the success has no start to time.
    assert log[1]["duration"] is None
    check = await estore.get_check(uuid)
    assert check is not None and check.status == "up" and check.n_pings == 4
    assert check.last_ping == 1_005_000
    flips = await estore.r.zrange(keys.flips_key(uuid), 0, -1)
    assert [f.split("|")[1:4] for f in flips] == [["new", "down", "fail"],
                                                  ["down", "up", "success"]]


async def test_a_run_started_and_ended_in_one_batch_is_timed(estore: Store) -> None:
    uuid, = await make_checks(estore, 1)
    rid = "0c8e3c1a-2b47-4f7e-9d53-3f1a2f1f8a11"
    await asyncio.gather(estore.ping(uuid, "start", rid=rid, at=2_000_000),
                         estore.ping(uuid, "success", rid=rid, at=2_004_500))
    log = await estore.pings(uuid, 10)
    assert log[0]["kind"] == "success" and log[0]["duration"] == 4_500
    check = await estore.get_check(uuid)
    assert check is not None and check.raw.get("last_start") is None  # no run left open


async def test_a_failing_ping_fails_alone(sstore: Store) -> None:
    uuids = await make_checks(sstore, 5)
    broken = uuids[2]
    await sstore.r.set(keys.pings_key(broken), "not a list")  # LPUSH there: WRONGTYPE
    results = await asyncio.gather(*(sstore.ping(u, "success") for u in uuids),
                                   return_exceptions=True)
    assert isinstance(results[2], ResponseError) and "WRONGTYPE" in str(results[2])
    assert [r for i, r in enumerate(results) if i != 2] == ["success"] * 4
    # Nothing of the failed ping was written; the others are all there.
    assert await n_pings(sstore, uuids) == [1, 1, 0, 1, 1]
    assert await sstore.r.zscore(keys.due_key(keys.shard_of(broken)), broken) is None


async def test_a_ping_of_a_missing_check_does_not_spoil_the_batch(sstore: Store) -> None:
    uuids = await make_checks(sstore, 2)
    missing = "00000000-0000-4000-8000-000000000000"
    kinds = await asyncio.gather(sstore.ping(uuids[0], "success"),
                                 sstore.ping(missing, "success"),
                                 sstore.ping(uuids[1], "fail"))
    assert kinds == ["success", None, "fail"]
    assert not await sstore.r.exists(keys.check_key(missing), keys.pings_key(missing))


async def test_redis_down_fails_every_ping_of_the_batch() -> None:
    server = RedisServer(appendonly=True).start()
    try:
        store = Store.from_settings(Settings(redis_url=server.url))
        uuids = await make_checks(store, 3)
        server.stop()
        results = await asyncio.gather(*(store.ping(u, "success") for u in uuids),
                                       return_exceptions=True)
        assert all(isinstance(r, RedisConnectionError) for r in results), results
        restarted = RedisServer(appendonly=True, port=server.port, workdir=server.dir).start()
        try:
            assert await asyncio.gather(*(store.ping(u, "success") for u in uuids)) == [
                "success"] * 3
            assert await n_pings(store, uuids) == [1, 1, 1]  # only the acknowledged ones
        finally:
            await store.close()
            restarted.stop()
    finally:
        server.cleanup()


async def test_many_checks_over_every_shard(estore: Store, engine_redis: EngineRedis) -> None:
    # On a cluster each shard's pings make their own call: a script's keys share one slot.
    uuids = await make_checks(estore, 60)
    assert len({keys.shard_of(u) for u in uuids}) > 8
    await reset_stats(estore, engine_redis)
    for _ in range(3):
        assert await asyncio.gather(*(estore.ping(u, "success") for u in uuids)) == [
            "success"] * 60
    assert await n_pings(estore, uuids) == [3] * 60
    shards = len({keys.shard_of(u) for u in uuids})
    assert script_calls(engine_redis) == (3 * shards if engine_redis.cluster else 3)


async def test_a_flushed_script_is_loaded_again(sstore: Store, single_redis: EngineRedis) -> None:
    uuids = await make_checks(sstore, 3)
    assert await sstore.ping(uuids[0], "success") == "success"  # connected, script loaded
    single_redis.each_node(lambda client: client.script_flush())
    # The call goes out at once, meets NOSCRIPT, and is made again after a SCRIPT LOAD.
    kinds = await asyncio.gather(*(sstore.ping(u, "success") for u in uuids))
    assert kinds == ["success"] * 3
    assert await n_pings(sstore, uuids) == [2, 1, 1]
