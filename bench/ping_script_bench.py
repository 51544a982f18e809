"""What ping.lua costs Redis, per ping, by batch size (a benchmark: it prints figures).

    .venv/bin/python bench/ping_script_bench.py [--checks 1000] [--pings 20000]

No HTTP and no server: a client sends ping.lua calls of 1, 4, 16 and 64 pings (the batches a
ping server worker makes, store.ping_args) to a Redis with AOF everysec, over distinct checks,
and reads Redis' own accounting (INFO commandstats) and its CPU time. The same for the minimal
durable ping of ping_bench.py (one EVALSHA of HSET + ZADD + LPUSH per ping): the floor a ping
that writes the check, the deadline set and the log cannot go below. On a quiet machine this
isolates Redis' cost from the contention of ping_bench.py, where every process shares 2 cores.
Loopback only, bounded by --pings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from redis import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent))

from noop_app import MINIMAL_PING
from ping_bench import command_stats, cpu_seconds, make_checks

from hb.localredis import RedisServer
from pingserver import keys
from pingserver.config import Settings
from pingserver.store import ping_args

BATCHES = (1, 4, 16, 64)


def measure(client: Redis, pid: int, calls: list[tuple[Any, ...]], pings: int) -> dict[str, Any]:
    """Send the calls (pipelined, 16 at a time, as a busy server would) and report Redis'
    figures per ping."""
    client.config_resetstat()
    cpu = cpu_seconds([pid])
    for start in range(0, len(calls), 16):
        pipe = client.pipeline(transaction=False)
        for call in calls[start:start + 16]:
            pipe.execute_command(*call)
        for reply in pipe.execute():
            assert reply, reply
    cpu = cpu_seconds([pid]) - cpu
    port = client.get_connection_kwargs()["port"]
    return {"pings": pings, "redis_cpu_us_per_ping": round(cpu / pings * 1e6, 2),
            **command_stats(port, pings)}


def ping_calls(uuids: list[str], pings: int, batch: int) -> list[tuple[Any, ...]]:
    sha = keys.script_sha("ping")
    calls = []
    now = int(time.time() * 1000)
    for start in range(0, pings, batch):
        ping_keys: list[str] = []
        args: list[Any] = ["100"]
        for i in range(start, min(start + batch, pings)):
            uuid = uuids[i % len(uuids)]
            ping_keys.append(keys.check_key(uuid))
            args += ping_args(uuid, "success", None, "", "GET", "http", "127.0.0.1",
                              "curl/8.5.0", b"", now + i)
        calls.append(("EVALSHA", sha, len(ping_keys), *ping_keys, *args))
    return calls


def minimal_calls(client: Redis, uuids: list[str], pings: int) -> list[tuple[Any, ...]]:
    sha = client.script_load(MINIMAL_PING)
    now = int(time.time() * 1000)
    calls = []
    for i in range(pings):
        uuid = uuids[i % len(uuids)]
        calls.append(("EVALSHA", sha, 3, keys.check_key(uuid), keys.pings_key(uuid),
                      keys.due_key(keys.shard_of(uuid)), str(now + i), uuid))
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--pings", type=int, default=20_000)
    args = parser.parse_args()
    redis = RedisServer(appendonly=True, appendfsync="everysec").start()
    try:
        assert redis.proc is not None
        uuids = asyncio.run(make_checks(Settings(redis_url=redis.url), args.checks))
        client = Redis(port=redis.port)
        client.script_load(keys.script_source("ping"))
        # A first round fills every check's log and runs the script once everywhere.
        measure(client, redis.proc.pid, ping_calls(uuids, args.checks, 16), args.checks)
        results: dict[str, Any] = {"checks": args.checks, "ping.lua": {}}
        for batch in BATCHES:
            results["ping.lua"][f"batch {batch}"] = measure(
                client, redis.proc.pid, ping_calls(uuids, args.pings, batch), args.pings)
        results["minimal durable ping (1 per call)"] = measure(
            client, redis.proc.pid, minimal_calls(client, uuids, args.pings), args.pings)
        client.close()
        print(json.dumps(results, indent=2))
    finally:
        redis.cleanup()


if __name__ == "__main__":
    main()
