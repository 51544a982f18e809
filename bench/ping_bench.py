"""Ping throughput and latency on loopback (a benchmark, not a test: it prints figures).

    .venv/bin/python bench/ping_bench.py [--checks 10000] [--seconds 15] [--workers 2]
        [--appendfsync always|everysec]

All in one run, on the same cores, one phase after the other:
1. Ceiling: wrk against a do-nothing ASGI app (noop_app.py) served by `hb server --app`, i.e.
   under the ping server's own uvicorn settings.
2. Durable ceiling: the do-nothing app plus one EVALSHA per request doing HSET + ZADD + LPUSH
   over the ping server's pipelined connection: the least a durable ping costs.
3. Ping server: wrk against `/ping/<uuid>` over N distinct checks: pings/s, latency, CPU per
   ping of each process (wrk, the server's supervisor and workers, Redis), and Redis' own
   accounting (INFO commandstats): script calls, pings per call, microseconds per ping in
   ping.lua and in each command it runs.
4. vegeta at a fixed 5,000 pings/s: p99 latency at that rate (built from the Go module proxy
   into ~/.cache/heartbeat-operator/bench when missing).
5. Durability: every ping answered 200 must be counted in Redis (sum of n_pings). Redis runs
   with AOF; with `--appendfsync always` (the default, as helm/heartbeat/ci/production-values
   .yaml) a ping is on disk before its 200; with `everysec` (the Helm chart's default) it is
   in Redis before its 200 and on disk within about a second. The summary names the policy.

The last block, "summary", sets the figures beside the targets of issue #16. CPU time per
request is the figure that other work on a shared machine disturbs least.
Needs `wrk` (Debian package); it is installed with apt when missing. Loopback only, bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from redis import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hb.localredis import RedisServer, free_port  # noqa: E402
from pingserver.config import Settings  # noqa: E402
from pingserver.store import Store  # noqa: E402

CACHE = Path(os.environ.get("HB_CACHE_DIR", Path.home() / ".cache/heartbeat-operator"))
VEGETA = CACHE / "bench" / "vegeta"

# What a 200 promises under each AOF fsync policy of the benchmark's Redis.
FSYNC = {"always": "on disk (fsync before the reply)",
         "everysec": "in Redis (survives a Redis restart), on disk within about 1 s: a "
                     "machine crash can lose the last second"}

WRK_SCRIPT = """
local uuids = {}
for line in io.lines("%s") do uuids[#uuids + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/ping/" .. uuids[(i %% #uuids) + 1])
end
"""


def ensure_tools() -> None:
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    if not VEGETA.exists():
        VEGETA.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["go", "install", "github.com/tsenart/vegeta/v12@latest"], check=True,
                       env={**os.environ, "GOBIN": str(VEGETA.parent)})


async def make_checks(settings: Settings, count: int) -> list[str]:
    store = Store.from_settings(settings)
    project = await store.create_project("bench")
    uuids = []
    for i in range(count):
        saved = await store.save_check(project.id, {"name": f"c{i}", "timeout": 3600})
        assert saved is not None
        uuids.append(saved[0].uuid)
    await store.close()
    return uuids


async def total_pings(settings: Settings, uuids: list[str]) -> int:
    store = Store.from_settings(settings)
    total = 0
    for start in range(0, len(uuids), 1000):
        total += sum(c.n_pings for c in await store.get_checks(uuids[start:start + 1000]))
    await store.close()
    return total


def serve(app: str, port: int, workers: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`hb server` serving the app factory `app`: the ping server and the ceiling app run
    under the same uvicorn settings (hb.main.UVICORN_OPTIONS)."""
    args = [sys.executable, "-m", "hb", "server", "--app", app, "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    proc = subprocess.Popen(args, env=env, cwd=ROOT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"{app} did not start")


def process_tree(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid] + [p for child in children for p in process_tree(int(child))]


def server_processes(pid: int) -> dict[str, list[int]]:
    """`hb server`'s supervisor and each of its workers, by name."""
    tree = process_tree(pid)
    named = {"server supervisor": [tree[0]]}
    # multiprocessing's resource tracker is a child too, and does no work per request.
    workers = [p for p in tree[1:]
               if b"resource_tracker" not in Path(f"/proc/{p}/cmdline").read_bytes()]
    for i, worker in enumerate(workers, 1):
        named[f"server worker {i}"] = [worker]
    return named


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes (Linux /proc)."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def run_wrk(url: str, script: Path, seconds: int, connections: int,
            watched: dict[str, list[int]]) -> dict[str, Any]:
    """wrk's figures, and the CPU time per request of wrk and of each watched process group:
    the machine is shared, so CPU per request is the figure other work disturbs least."""
    before = {name: cpu_seconds(pids) for name, pids in watched.items()}
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
                          "-s", str(script), url], check=True, capture_output=True,
                         text=True).stdout
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    after = {name: cpu_seconds(pids) for name, pids in watched.items()}
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    cpu = {name: after[name] - before[name] for name in watched}
    cpu["wrk"] = (wrk_after.ru_utime + wrk_after.ru_stime
                  - wrk_before.ru_utime - wrk_before.ru_stime)
    per_request = {name: round(t / max(done, 1) * 1e6, 1) for name, t in cpu.items()}
    per_request["server total"] = round(sum(
        t for name, t in per_request.items() if name.startswith("server")), 1)
    return {"rps": rps, "requests": done, "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else -1,
            "cpu_us_per_request": per_request}


def reset_stats(port: int) -> None:
    client = Redis(port=port)
    try:
        client.config_resetstat()
    finally:
        client.close()


def command_stats(port: int, pings: int) -> dict[str, Any]:
    """Redis' own accounting since reset_stats (INFO commandstats): script calls, pings per
    call, and microseconds per ping in the script and in each command it ran."""
    client = Redis(port=port)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    evalsha = stats.get("cmdstat_evalsha", {"calls": 0, "usec": 0})
    per = max(pings, 1)
    return {"script_calls": evalsha["calls"],
            "pings_per_call": round(pings / max(evalsha["calls"], 1), 1),
            "script_us_per_ping": round(evalsha["usec"] / per, 2),
            "commands_us_per_ping": {
                name.removeprefix("cmdstat_"): round(stat["usec"] / per, 2)
                for name, stat in sorted(stats.items())
                if name not in ("cmdstat_evalsha", "cmdstat_config|resetstat", "cmdstat_info")
                and stat["calls"] >= pings // 10}}


def run_vegeta(port: int, uuids: list[str], rate: int, seconds: int) -> dict[str, float]:
    targets = "\n".join(f"GET http://127.0.0.1:{port}/ping/{u}" for u in uuids)
    attack = subprocess.run([str(VEGETA), "attack", f"-rate={rate}", f"-duration={seconds}s",
                             "-max-workers=256"], input=targets.encode(), capture_output=True,
                            check=True).stdout
    report = json.loads(subprocess.run([str(VEGETA), "report", "-type=json"], input=attack,
                                       capture_output=True, check=True).stdout)
    lat = report["latencies"]
    return {"rate": report["rate"], "requests": report["requests"],
            "success": report["success"], "p50_ms": lat["50th"] / 1e6,
            "p99_ms": lat["99th"] / 1e6, "max_ms": lat["max"] / 1e6}


def ceiling(app: str, args: argparse.Namespace, script: Path, env: dict[str, str],
            redis: RedisServer) -> dict[str, Any]:
    port = free_port()
    proc = serve(app, port, args.workers, env)
    assert redis.proc is not None
    try:
        return run_wrk(f"http://127.0.0.1:{port}", script, args.seconds, args.connections,
                       {**server_processes(proc.pid), "redis": [redis.proc.pid]})
    finally:
        proc.terminate()
        proc.wait()


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """The figures of issue #16 beside its targets."""
    ping, fixed = results["ping"], results["fixed_rate"]
    return {
        "pings_per_s": ping["rps"],
        "ratio_to_do_nothing_ceiling": round(ping["rps"] / results["ceiling"]["rps"], 3),
        "ratio_to_minimal_durable_ceiling": round(
            ping["rps"] / results["durable_ceiling"]["rps"], 3),
        "redis_cpu_us_per_ping": ping["cpu_us_per_request"]["redis"],
        "redis_script_us_per_ping": ping["redis"]["script_us_per_ping"],
        "p99_ms_at_fixed_rate": round(fixed["p99_ms"], 2),
        "acknowledged_missing": results["durability"]["lost"],
        "targets": {"pings_per_s": ">= 25000 (everysec)", "ratio_to_do_nothing_ceiling":
                    ">= 0.45", "ratio_to_minimal_durable_ceiling": ">= 0.8",
                    "redis_us_per_ping": "<= 20", "p99_ms_at_fixed_rate": "<= 10 at 5000/s",
                    "acknowledged_missing": "0"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--appendfsync", choices=sorted(FSYNC), default="always",
                        help="Redis' AOF fsync policy (default: always)")
    args = parser.parse_args()
    ensure_tools()
    redis = RedisServer(appendonly=True, appendfsync=args.appendfsync).start()
    work = Path(tempfile.mkdtemp(prefix="hb-bench-"))
    try:
        settings = Settings(redis_url=redis.url)
        uuids = asyncio.run(make_checks(settings, args.checks))
        (work / "uuids.txt").write_text("\n".join(uuids) + "\n")
        script = work / "ping.lua"
        script.write_text(WRK_SCRIPT % (work / "uuids.txt"))
        env = {**os.environ, "HB_REDIS_URL": redis.url, "PYTHONPATH": str(ROOT / "bench")}
        # Other work on this shared machine shows here (the figures are from the same cores).
        results: dict[str, Any] = {"checks": args.checks, "workers": args.workers,
                                   "redis_appendfsync": args.appendfsync,
                                   "acknowledged_means": FSYNC[args.appendfsync],
                                   "load_average_at_start": os.getloadavg()}
        results["ceiling"] = ceiling("noop_app:create_app", args, script, env, redis)
        reset_stats(redis.port)
        durable = ceiling("noop_app:create_durable_app", args, script, env, redis)
        durable["redis"] = command_stats(redis.port, durable["requests"])
        results["durable_ceiling"] = durable

        port = free_port()
        server = serve("pingserver.app:create_app", port, args.workers, env)
        try:
            before = asyncio.run(total_pings(settings, uuids))
            assert redis.proc is not None
            reset_stats(redis.port)
            ping = run_wrk(f"http://127.0.0.1:{port}", script, args.seconds, args.connections,
                           {**server_processes(server.pid), "redis": [redis.proc.pid]})
            during = asyncio.run(total_pings(settings, uuids))
            ping["redis"] = command_stats(redis.port, during - before)
            results["ping"] = ping
            results["fixed_rate"] = run_vegeta(port, uuids, args.rate, min(args.seconds, 10))
        finally:
            server.terminate()
            server.wait()
        fixed = results["fixed_rate"]
        recorded = asyncio.run(total_pings(settings, uuids)) - before
        answered_ok = int(ping["requests"] - ping["non2xx"]) + int(
            fixed["requests"] * fixed["success"])
        results["durability"] = {"answered_200": answered_ok, "recorded_in_redis": recorded,
                                 "lost": max(0, answered_ok - recorded)}
        results["summary"] = summary(results)
        print(json.dumps(results, indent=2))
    finally:
        redis.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
