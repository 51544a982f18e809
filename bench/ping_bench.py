"""Ping throughput and latency on loopback (a benchmark, not a test: it prints figures).

    .venv/bin/python bench/ping_bench.py [--checks 10000] [--seconds 15] [--workers 2]
        [--appendfsync always|everysec]

1. wrk against `/ping/<uuid>` over N distinct checks: pings/s and latency percentiles.
2. The same wrk run against a do-nothing ASGI app (noop_app.py) served by `hb server --app`,
   i.e. under the ping server's own uvicorn settings: the ceiling.
3. vegeta at a fixed 5,000 pings/s: p99 latency at that rate (built from the Go module proxy
   into ~/.cache/heartbeat-operator/bench when missing).
4. Durability: every ping answered 200 must be counted in Redis (sum of n_pings). Redis runs
   with AOF; with `--appendfsync always` (the default, as helm/heartbeat/ci/production-values
   .yaml) a ping is on disk before its 200; with `everysec` (the Helm chart's default) it is
   in Redis before its 200 and on disk within about a second. The summary names the policy.

wrk runs also report CPU time per request of wrk, the server processes and Redis, which other
work on a shared machine disturbs far less than requests/s.
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
    return {"rps": rps, "requests": done, "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else -1,
            "cpu_us_per_request": {name: round(t / max(done, 1) * 1e6, 1)
                                   for name, t in cpu.items()}}


def script_stats(port: int, *, reset: bool = False) -> float:
    """Redis' microseconds per EVALSHA (ping.lua) since the last reset."""
    client = Redis(port=port)
    try:
        if reset:
            client.config_resetstat()
            return 0.0
        stats = client.info("commandstats").get("cmdstat_evalsha", {})
        return float(stats.get("usec_per_call", 0.0))
    finally:
        client.close()


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

        port = free_port()
        noop = serve("noop_app:create_app", port, args.workers, env)
        try:
            results["ceiling"] = run_wrk(f"http://127.0.0.1:{port}", script, args.seconds,
                                         args.connections, {"server": process_tree(noop.pid)})
        finally:
            noop.terminate()
            noop.wait()

        port = free_port()
        server = serve("pingserver.app:create_app", port, args.workers, env)
        try:
            before = asyncio.run(total_pings(settings, uuids))
            assert redis.proc is not None
            script_stats(redis.port, reset=True)
            ping = run_wrk(f"http://127.0.0.1:{port}", script, args.seconds, args.connections,
                           {"server": process_tree(server.pid), "redis": [redis.proc.pid]})
            # Of Redis' CPU per ping, the part spent in ping.lua itself (INFO commandstats).
            ping["redis_us_per_script_call"] = script_stats(redis.port)
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
        results["ratio_to_ceiling"] = round(ping["rps"] / results["ceiling"]["rps"], 3)
        print(json.dumps(results, indent=2))
    finally:
        redis.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
