"""Shared fixtures: a real redis-server and a real ping server (uvicorn) on loopback."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import requests

from pingserver.config import Settings
from pingserver.store import ProjectKeys, Store
from tests.support.redis_server import RedisServer, free_port
from tests.support.wait import wait_for

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer(appendonly=True).start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def settings(redis_server: RedisServer) -> Settings:
    return Settings(redis_url=redis_server.url, site_root="http://127.0.0.1:8000")


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    s = Store.from_settings(settings)
    yield s
    await s.close()


@pytest.fixture
async def project(store: Store) -> ProjectKeys:
    """A fresh project per test: tests share one Redis but never each other's data."""
    return await store.create_project("test")


class PingServer:
    """`hb server` in a subprocess, as users run it."""

    def __init__(self, redis_url: str, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "HB_REDIS_URL": redis_url, "HB_SITE_ROOT": self.url,
               "HB_REDIS_TIMEOUT": "1", **(extra_env or {})}
        self.log = ARTIFACTS / f"pingserver-{self.port}.log"
        ARTIFACTS.mkdir(exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hb", "server", "--port", str(self.port),
             "--log-level", "warning"],
            env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT)
        wait_for(self._up, timeout=30, message=f"ping server did not start: see {self.log}")

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"ping server exited: {self.log.read_text()[-2000:]}")
        try:
            return requests.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session")
def pingserver(redis_server: RedisServer) -> Iterator[PingServer]:
    server = PingServer(redis_server.url, {"HB_API_KEY": "default-rw-key",
                                           "HB_PING_KEY": "defaultpingkey"})
    yield server
    server.stop()


@pytest.fixture
def keys(settings: Settings) -> ProjectKeys:
    """A fresh project created through the store, for tests that talk HTTP only."""

    async def create() -> ProjectKeys:
        s = Store.from_settings(settings)
        try:
            return await s.create_project("http-test")
        finally:
            await s.close()

    return asyncio.run(create())
