"""Helpers for engine tests: a dedicated Redis (single or cluster) per kind, started once
per test session and flushed between tests, and `hb sweeper|notifier|worker` subprocesses.

The engine tests do not share the session Redis of the other tests: their sweepers would
act on other tests' checks, and the notifier on other tests' flips.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import redis

from pingserver import keys
from pingserver.config import Settings
from pingserver.store import Store
from tests.support.redis_server import RedisCluster, RedisServer

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent.parent
ARTIFACTS = ROOT / "artifacts"


def terminate(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM, wait up to `timeout`, then SIGKILL: the exit status of an `hb` process."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return int(proc.returncode)


class EngineRedis:
    """A Redis for engine tests: `kind` is "single" or "cluster" (three masters)."""

    def __init__(self, kind: str, *, appendonly: bool = False) -> None:
        self.kind = kind
        self.cluster = kind == "cluster"
        self.server: RedisServer | RedisCluster
        if self.cluster:
            self.server = RedisCluster().start()
        else:
            self.server = RedisServer(appendonly=appendonly).start()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def ports(self) -> list[int]:
        if isinstance(self.server, RedisCluster):
            return [n.port for n in self.server.nodes]
        return [self.server.port]

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {"redis_url": self.url, "redis_cluster": self.cluster,
                                  "allow_private_webhooks": True, "sweep_interval": 0.1,
                                  "notify_backoff_base": 0.2, "notify_backoff_max": 2.0,
                                  "notify_timeout": 5.0}
        values.update(overrides)
        return Settings(**values)

    def env(self) -> dict[str, str]:
        return {"HB_REDIS_URL": self.url, "HB_REDIS_CLUSTER": "1" if self.cluster else "0"}

    def each_node(self, call: Callable[[redis.Redis], Any]) -> list[Any]:
        """`call` with a client of each node (the server, or every cluster master)."""
        results = []
        for port in self.ports:
            client = redis.Redis(port=port)
            try:
                results.append(call(client))
            finally:
                client.close()
        return results

    def flush(self) -> None:
        self.each_node(lambda client: client.flushall())

    def cleanup(self) -> None:
        self.server.cleanup()





_shared: dict[str, EngineRedis] = {}


def shared_redis(kind: str) -> EngineRedis:
    """One Redis per kind for the whole session (a cluster takes a second or two to form)."""
    if kind not in _shared:
        _shared[kind] = EngineRedis(kind)
        atexit.register(_shared[kind].cleanup)
    return _shared[kind]


class EngineProcess:
    """`python -m hb <role>` with HB_ environment, output in artifacts/."""

    def __init__(self, role: str, env: dict[str, str], name: str,
                 args: tuple[str, ...] = ()) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.role = role
        self.name = name
        self.log = ARTIFACTS / f"engine-{name}-{int(time.time() * 1000)}.log"
        full_env = {**os.environ, "HB_ALLOW_PRIVATE_WEBHOOKS": "1", "HB_SWEEP_INTERVAL": "0.1",
                    "HB_CONSUMER_NAME": name, "HB_LOG_LEVEL": "INFO",
                    "HB_NOTIFY_BACKOFF_BASE": "0.2", "HB_NOTIFY_BACKOFF_MAX": "2",
                    "HB_NOTIFY_TIMEOUT": "5", **env}
        self.proc = subprocess.Popen([sys.executable, "-m", "hb", role, *args], env=full_env,
                                     stdout=self.log.open("wb"), stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_started(self, timeout: float = 30.0) -> EngineProcess:
        needles = {"sweeper": ["sweeper started"],
                   "notifier": [f"notifier {self.name!r} started"],
                   "worker": ["sweeper started", f"notifier {self.name!r} started"]}[self.role]
        deadline = time.monotonic() + timeout
        while not all(n in self.output() for n in needles):
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.role} exited: {self.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.role} did not start: {self.output()[-3000:]}")
            time.sleep(0.05)
        return self

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; the exit status."""
        return terminate(self.proc, timeout)

    def kill(self) -> None:
        """SIGKILL: no chance to finish or acknowledge anything."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def stream_entries(settings: Settings) -> list[tuple[str, dict[str, str]]]:
    """Every entry of every shard stream (a fresh client per call)."""

    async def read() -> list[tuple[str, dict[str, str]]]:
        store = Store.from_settings(settings)
        try:
            out: list[tuple[str, dict[str, str]]] = []
            for shard in range(keys.SHARDS):
                out += await store.r.xrange(keys.events_key(shard))
            return out
        finally:
            await store.close()

    return asyncio.run(read())


async def eventually(probe: Callable[[], Awaitable[T]], *, timeout: float = 20.0,
                     interval: float = 0.05, message: str = "condition not met") -> T:
    """Await `probe` until it returns something truthy; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{message} (after {timeout} s): last value {value!r}")
        await asyncio.sleep(interval)
