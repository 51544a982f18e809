"""Redis goes away: the API answers 503 quickly, as JSON, and recovers when Redis returns."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from pingserver.config import Settings
from tests.conftest import PingServer
from tests.support.api import Api, new_project
from tests.support.redis_server import RedisServer
from tests.support.wait import wait_for

UNAVAILABLE = {"error": "service unavailable: storage is not reachable"}


@pytest.fixture
def own_stack() -> Iterator[tuple[RedisServer, PingServer]]:
    """A Redis and a ping server of its own: this test stops Redis."""
    redis = RedisServer(appendonly=True).start()
    server = PingServer(redis.url)
    try:
        yield redis, server
    finally:
        server.stop()
        redis.cleanup()


def test_redis_down_is_503_then_recovers(own_stack: tuple[RedisServer, PingServer]) -> None:
    redis, server = own_stack
    api = Api(server.url, new_project(Settings(redis_url=redis.url)).api_key)
    check = api.create(name="survivor")

    redis.stop()
    for method, path in [("GET", "/checks/"), ("POST", "/checks/"),
                         ("GET", f"/checks/{check['uuid']}/flips/"), ("GET", "/flips/")]:
        started = time.monotonic()
        resp = api.request(method, path, json={"name": "while down"})
        assert time.monotonic() - started < 3, (method, path)
        assert (resp.status_code, resp.json()) == (503, UNAVAILABLE), (method, path)
    badge = requests.get(check["badge_url"], timeout=5)
    assert badge.status_code == 503

    # Same port and data directory: the server's client reconnects by itself.
    restarted = RedisServer(appendonly=True, port=redis.port, workdir=redis.dir).start()
    try:
        wait_for(lambda: api.get("/checks/").status_code == 200, timeout=15,
                 message="the API did not recover after Redis came back")
        assert [c["name"] for c in api.checks()] == ["survivor"]
    finally:
        restarted.stop()  # the fixture removes the shared data directory
