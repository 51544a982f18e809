"""Sweeper and notifier figures on loopback (a benchmark, not a test: it prints figures).

    .venv/bin/python bench/engine_bench.py [--checks 1000000] [--burst 100000]
        [--flips 20000 --window 20 --deliver-every 10] [--sweepers 1,2] [--fleet 10000]

1. Population: N checks created as the API and a ping would (configure.lua, the indexes,
   ping.lua), pipelined, with deadlines spread over the next day (they stay quiet).
   Redis memory per check: INFO used_memory delta / N, without ping history (the ping
   lists are deleted before measuring) and without the flip streams (kept 24 h), with a
   breakdown by key type.
2. For 1 and 2 sweeper processes (`hb sweeper`, default interval 0.5 s, batch 1000):
   a. burst: B more checks whose deadlines all passed; transitions per second from the
      first to the last flip in the streams (stream ids carry Redis' clock);
   b. latency: F checks whose grace start and down time (grace 2 s) fall uniformly in the
      next W seconds (2F transitions), one in `--deliver-every` with a webhook channel to a
      local HTTP receiver, one `hb notifier`: deadline->flip (stream id time - ts) and
      deadline->delivered (arrival at the receiver - ts), p50 / p99 / max.
3. --silences K: the latency run of 2b (one sweeper) again with K active silences in the
   project (most filed under an equality matcher, one in a hundred a regex every check is
   compared with; none matches the bench's checks, so every alert is still delivered):
   deadline->delivered with and without them, and the notifier's CPU per flip.
4. --fleet M: M checks with a webhook channel going down together under two sweepers and
   two notifiers: down flips, deliveries, duplicates, time (the reliability test runs 2,000).

Redis runs without persistence here (the durability tests use appendfsync always).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
import uuid as uuidlib
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hb.localredis import RedisServer  # noqa: E402
from pingserver import keys  # noqa: E402
from pingserver.config import Settings  # noqa: E402
from pingserver.model import DEFAULTS, stored  # noqa: E402
from pingserver.silences import Silence, SilenceIndex, parse_matcher  # noqa: E402
from pingserver.store import Store, now_ms, ping_args  # noqa: E402
from tests.support.engine import EngineProcess  # noqa: E402
from tests.support.receivers import HttpReceiver  # noqa: E402

CHUNK = 2000


class Bench:
    def __init__(self, store: Store, redis: RedisServer) -> None:
        self.store = store
        self.redis = redis
        self.project = ""
        self.channel = ""
        self.shas: dict[str, str] = {}

    async def setup(self, receiver: HttpReceiver) -> None:
        project = await self.store.create_project("bench")
        self.project = project.id
        hook = await self.store.save_channel(project.id, "webhook", "bench", {
            "down": {"method": "POST", "url": receiver.url + "/hook/$CODE", "body": "$NAME"}})
        self.channel = hook["id"]
        for name in ("configure", "ping", "slug"):
            self.shas[name] = await self.store.r.script_load(keys.script_source(name))

    async def populate(self, count: int, *, last_ping: Any, timeout: int, grace: int,
                       channel: Any = lambda i: False, prefix: str = "job") -> list[str]:
        """Checks created exactly as save_check + one ping would, pipelined."""
        uuids: list[str] = []
        now = now_ms()
        for start in range(0, count, CHUNK):
            pipe = self.store.r.pipeline(transaction=False)
            for i in range(start, min(count, start + CHUNK)):
                uuid = str(uuidlib.uuid4())
                slug = f"{prefix}-{i}"
                # As save_check stores a new check: kind, timeout, grace, and what differs
                # from the defaults.
                fields = {"kind": DEFAULTS["kind"], "project": self.project, "name": slug,
                          "slug": slug, "timeout": timeout, "grace": grace}
                if channel(i):
                    fields["channels"] = self.channel
                argv: list[str] = [uuid, str(now), "upsert"]
                for name, value in fields.items():
                    argv += [name, stored(name, value)]
                pipe.evalsha(self.shas["configure"], 5, *keys.state_keys(uuid), *argv)
                pipe.sadd(keys.project_checks_key(self.project), uuid)
                pipe.evalsha(self.shas["slug"], 1, keys.project_slugs_key(self.project), uuid,
                             "", slug)
                pipe.evalsha(self.shas["ping"], 1, keys.check_key(uuid), "100",
                             *ping_args(uuid, "success", None, "", "GET", "http",
                                        "127.0.0.1", "bench", b"", int(last_ping(i))))
                uuids.append(uuid)
            await pipe.execute()
        return uuids

    async def used_memory(self) -> int:
        return int((await self.store.r.info("memory"))["used_memory"])

    async def delete(self, pattern_keys: list[str]) -> None:
        for start in range(0, len(pattern_keys), CHUNK):
            await self.store.r.delete(*pattern_keys[start:start + CHUNK])

    async def drop_streams(self) -> int:
        size = 0
        for shard in range(keys.SHARDS):
            size += int(await self.store.r.memory_usage(keys.events_key(shard)) or 0)
            await self.store.r.delete(keys.events_key(shard))
        return size

    async def stream_flips(self) -> list[tuple[int, dict[str, str]]]:
        out: list[tuple[int, dict[str, str]]] = []
        for shard in range(keys.SHARDS):
            for entry_id, fields in await self.store.r.xrange(keys.events_key(shard)):
                out.append((int(entry_id.split("-")[0]), fields))
        return out

    async def due_before(self, moment: int) -> int:
        total = 0
        for shard in range(keys.SHARDS):
            total += await self.store.r.zcount(keys.due_key(shard), "-inf", moment)
        return int(total)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def summary(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (f"p50 {pct(values, 0.5) * 1000:.0f} ms, p99 {pct(values, 0.99) * 1000:.0f} ms, "
            f"max {max(values) * 1000:.0f} ms (n={len(values)})")


def engines(redis: RedisServer, roles: list[str], tag: str) -> list[EngineProcess]:
    env = {"HB_REDIS_URL": redis.url, "HB_SWEEP_INTERVAL": "0.5", "HB_NOTIFY_TIMEOUT": "10"}
    procs = [EngineProcess(role, env, f"{tag}-{role}-{i}") for i, role in enumerate(roles)]
    for p in procs:
        p.proc.poll()
    return procs


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(procs: list[EngineProcess], label: str = "") -> dict[str, float]:
    """Stop the processes; the CPU seconds each role used (summed)."""
    used: dict[str, float] = {}
    for p in procs:
        used[p.role] = used.get(p.role, 0.0) + cpu_seconds(p.proc.pid)
    if label:
        print(f"  CPU time {label}: "
              + ", ".join(f"{role} {sec:.1f} s" for role, sec in used.items()))
    for p in procs:
        p.stop()
    return used


async def memory_phase(bench: Bench, n: int) -> list[str]:
    base = await bench.used_memory()
    began = time.monotonic()
    day = 86_400_000
    now = now_ms()
    # Last pings spread over the past day, period 1 day: deadlines spread over the next day.
    uuids = await bench.populate(n, last_ping=lambda i: now - random.randint(0, day - 600_000),
                                 timeout=86_400, grace=3600)
    took = time.monotonic() - began
    print(f"population: {n:,} checks in {took:.1f} s ({n / took:,.0f} checks/s, pipelined "
          f"configure.lua + indexes + ping.lua)")
    with_pings = await bench.used_memory()
    stream_bytes = await bench.drop_streams()
    sample = random.sample(uuids, min(200, n))
    ping_bytes = 0
    for u in sample:
        ping_bytes += int(await bench.store.r.memory_usage(keys.pings_key(u)) or 0)
    await bench.delete([keys.pings_key(u) for u in uuids])
    after = await bench.used_memory()
    per_check = (after - base) / n
    print(f"redis memory: {per_check:,.0f} bytes per check without ping history and streams "
          f"(used_memory {base / 2**20:,.0f} -> {after / 2**20:,.0f} MiB); with one ping "
          f"each and the flip streams: {(with_pings - base) / n:,.0f} bytes")
    per_key = {"check hash": keys.check_key, "flip history": keys.flips_key,
               "runs": keys.runs_key}
    breakdown = []
    for label, fn in per_key.items():
        size = 0
        for u in sample:
            size += int(await bench.store.r.memory_usage(fn(u)) or 0)
        breakdown.append(f"{label} {size / len(sample):.0f}")
    due = 0
    for shard in range(keys.SHARDS):
        due += int(await bench.store.r.memory_usage(keys.due_key(shard), samples=0) or 0)
    shared = {"slug index": keys.project_slugs_key, "project set": keys.project_checks_key}
    for label, fn in shared.items():
        size = int(await bench.store.r.memory_usage(fn(bench.project), samples=0) or 0)
        breakdown.append(f"{label} {size / n:.0f}")
    breakdown.append(f"deadline sets {due / n:.0f}")
    print("  per check (MEMORY USAGE, sampled): " + ", ".join(breakdown)
          + f"; not counted: ping log with one ping {ping_bytes / len(sample):.0f}, "
          f"stream entries {stream_bytes / n:.0f} (kept 24 h)")
    return uuids


async def burst_phase(bench: Bench, redis: RedisServer, count: int, sweepers: int) -> None:
    await bench.drop_streams()
    now = now_ms()
    await bench.populate(count, last_ping=lambda i: now - 10_000_000, timeout=3600, grace=600,
                         prefix=f"burst{sweepers}")
    await bench.drop_streams()  # only the sweepers' flips from here on
    cutoff = now_ms()
    assert await bench.due_before(cutoff) >= count
    procs = engines(redis, ["sweeper"] * sweepers, f"burst{sweepers}")
    deadline = time.monotonic() + 600
    while await bench.due_before(cutoff) > 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    stop(procs, "of the sweepers")
    flips = [ms for ms, f in await bench.stream_flips() if f["new"] == "down"]
    span = (max(flips) - min(flips)) / 1000 if len(flips) > 1 else float("nan")
    rate = len(flips) / span if span else float("nan")
    print(f"burst, {sweepers} sweeper(s): {len(flips):,} transitions in {span:.2f} s = "
          f"{rate:,.0f}/s ({rate / sweepers:,.0f}/s per sweeper)")
    await bench.drop_streams()


async def latency_phase(bench: Bench, redis: RedisServer, receiver: HttpReceiver, flips: int,
                        window: float, every: int, sweepers: int,
                        label: str = "") -> tuple[list[float], float, int]:
    """The deadline->delivered latencies, the notifier's CPU seconds and the flips."""
    await bench.drop_streams()
    procs = engines(redis, ["sweeper"] * sweepers + ["notifier"], f"lat{sweepers}")
    for p in procs:
        p.wait_started()
    lead = 3000 + flips // 3  # creating the checks takes about 1 s per 4,000
    start = now_ms() + lead
    grace = 2
    # Grace starts uniformly over the window (timeout 60 s), down 2 s later.
    offsets = [random.uniform(0, window * 1000) for _ in range(flips)]
    expected_hooks = len(range(0, flips, every))
    before = len(receiver.received("/hook/"))
    uuids = await bench.populate(flips, last_ping=lambda i: start + offsets[i] - 60_000,
                                 timeout=60, grace=grace, channel=lambda i: i % every == 0,
                                 prefix=f"lat{sweepers}")
    if now_ms() > start:
        print(f"  warning: checks were created {now_ms() - start} ms after the window began")
    end = time.monotonic() + (start - now_ms()) / 1000 + window + grace + 60
    while time.monotonic() < end:
        await asyncio.sleep(0.5)
        if len(receiver.received("/hook/")) - before >= expected_hooks and \
                await bench.due_before(start + int(window * 1000) + grace * 1000) == 0:
            break
    used = stop(procs, "of the engine processes")
    mine = set(uuids)
    entries = [(ms, f) for ms, f in await bench.stream_flips()
               if f["check"] in mine and f["new"] in ("late", "down")]
    flip_lat = [(ms - int(f["ts"])) / 1000 for ms, f in entries]
    down_ts = {f["check"]: int(f["ts"]) for _, f in entries if f["new"] == "down"}
    hooks = receiver.received("/hook/")[before:]
    delivered = [r.at - down_ts[r.path.split("/")[2]] / 1000 for r in hooks
                 if r.path.split("/")[2] in down_ts]
    counts = Counter(f["new"] for _, f in entries)
    rate = len(entries) / window
    print(f"latency{label}, {sweepers} sweeper(s) + 1 notifier: {len(entries):,} transitions "
          f"({dict(counts)}) over {window:.0f} s (~{rate:,.0f}/s), "
          f"{len(hooks):,}/{expected_hooks:,} webhooks")
    print(f"  deadline->flip:      {summary(flip_lat)}")
    if os.environ.get("BENCH_DEBUG"):
        buckets: dict[int, list[float]] = {}
        for ms, f in entries:
            buckets.setdefault((int(f["ts"]) - start) // 1000, []).append(ms - int(f["ts"]))
        print("  p50/max ms by second of the window:",
              [(k, int(pct(v, 0.5)), int(max(v))) for k, v in sorted(buckets.items())])
    print(f"  deadline->delivered: {summary(delivered)}")
    await bench.drop_streams()
    return delivered, used.get("notifier", float("nan")), len(entries)


async def add_silences(bench: Bench, count: int) -> None:
    """`count` active silences that match none of the bench's checks."""
    now = now_ms()
    for i in range(count):
        if i % 100 == 99:
            matcher = f'name=~"nomatch-{i}-.*"'  # no equality matcher: compared with all
        elif i % 10 == 9:
            matcher = f"tag=team-{i}"
        else:
            matcher = f"name=other-{i}"
        await bench.store.save_silence(Silence(
            id=str(uuidlib.uuid4()), project=bench.project, matchers=(parse_matcher(matcher),),
            starts_at=now, ends_at=now + 3_600_000, created_at=now, comment=f"bench {i}"))


async def matching_cost(bench: Bench) -> None:
    """Python time per alert to find the silences of a check: the index against a scan."""
    silences = await bench.store.list_silences(bench.project)
    checks = await bench.store.get_checks(
        sorted(await bench.store.r.srandmember(keys.project_checks_key(bench.project), 2000)))
    now = now_ms()
    began = time.perf_counter()
    index = SilenceIndex.build(silences, {bench.project: "bench"}, now)
    built = time.perf_counter() - began
    began = time.perf_counter()
    indexed = sum(len(index.matching(c, now)) for c in checks)
    by_index = (time.perf_counter() - began) / len(checks)
    began = time.perf_counter()
    scanned = sum(1 for c in checks for s in silences
                  if s.state(now) == "active" and s.matches(c, "bench"))
    by_scan = (time.perf_counter() - began) / len(checks)
    assert indexed == scanned
    print(f"silence matching, {len(silences):,} silences, {len(checks):,} checks: index "
          f"{by_index * 1e6:.1f} µs per check (built in {built * 1000:.0f} ms), scan of every "
          f"silence {by_scan * 1e6:.0f} µs per check")


async def silences_phase(bench: Bench, redis: RedisServer, receiver: HttpReceiver,
                         args: argparse.Namespace) -> None:
    runs = {}
    for label, count in (("without silences", 0), (f"with {args.silences:,} silences",
                                                    args.silences)):
        if count:
            await add_silences(bench, count)
        delivered, cpu, flips = await latency_phase(
            bench, redis, receiver, args.flips, args.window, args.deliver_every, 1,
            label=f" ({label})")
        runs[label] = (pct(delivered, 0.99), cpu, flips, len(delivered))
    await matching_cost(bench)
    print("silences: deadline->delivered p99 and notifier CPU per flip")
    for label, (p99, cpu, flips, hooks) in runs.items():
        print(f"  {label:>24}: p99 {p99 * 1000:.0f} ms, notifier {cpu:.2f} CPU-s for "
              f"{flips:,} flips = {cpu / flips * 1e6:.0f} µs per flip "
              f"({hooks:,} delivered)")


async def fleet_phase(bench: Bench, redis: RedisServer, receiver: HttpReceiver,
                      count: int) -> None:
    await bench.drop_streams()
    before = len(receiver.received("/hook/"))
    procs = engines(redis, ["sweeper", "sweeper", "notifier", "notifier"], "fleet")
    start = now_ms() + 5000
    began = time.monotonic()
    uuids = await bench.populate(count, last_ping=lambda i: start - 120_000, timeout=60,
                                 grace=60, channel=lambda i: True, prefix="fleet")
    deadline = time.monotonic() + 300
    while len(receiver.received("/hook/")) - before < count and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    took = time.monotonic() - began
    await asyncio.sleep(1.0)  # late duplicates, if any, would arrive now
    stop(procs, "of the engine processes")
    mine = set(uuids)
    downs = Counter(f["check"] for _, f in await bench.stream_flips()
                    if f["new"] == "down" and f["check"] in mine)
    got = Counter(r.path.split("/")[2] for r in receiver.received("/hook/")[before:]
                  if r.status == 200)
    print(f"fleet: {count:,} checks, 2 sweepers + 2 notifiers: {len(downs):,} checks down "
          f"({sum(downs.values()):,} down flips), {len(set(got) & mine):,} delivered, "
          f"{sum(got.values()) - len(got):,} duplicates, {took:.1f} s from creation to the "
          f"last delivery")


async def main(args: argparse.Namespace) -> None:
    redis = RedisServer().start()
    receiver = HttpReceiver().start()
    store = Store.from_settings(Settings(redis_url=redis.url))
    try:
        bench = Bench(store, redis)
        await bench.setup(receiver)
        print(f"engine bench: {args.checks:,} checks, Redis {redis.url}")
        if args.checks:
            await memory_phase(bench, args.checks)
        for n in [int(x) for x in args.sweepers.split(",") if x]:
            if args.burst:
                await burst_phase(bench, redis, args.burst, n)
            if args.flips:
                await latency_phase(bench, redis, receiver, args.flips, args.window,
                                    args.deliver_every, n)
        if args.silences:
            await silences_phase(bench, redis, receiver, args)
        if args.fleet:
            await fleet_phase(bench, redis, receiver, args.fleet)
    finally:
        await store.close()
        receiver.stop()
        redis.cleanup()


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checks", type=int, default=1_000_000)
    parser.add_argument("--burst", type=int, default=100_000)
    parser.add_argument("--flips", type=int, default=20_000)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--deliver-every", type=int, default=10)
    parser.add_argument("--sweepers", default="1,2")
    parser.add_argument("--silences", type=int, default=0)
    parser.add_argument("--fleet", type=int, default=0)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
