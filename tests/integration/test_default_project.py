"""The keys given in HB_API_KEY / HB_PING_KEY keep working after Redis lost its data."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
import requests

from tests.conftest import PingServer
from tests.support.redis_server import RedisServer


@pytest.fixture
def own_stack() -> Iterator[tuple[RedisServer, PingServer]]:
    """A Redis and a ping server of its own: this test wipes Redis."""
    server_redis = RedisServer().start()
    server = PingServer(server_redis.url, {"HB_API_KEY": "env-rw-key",
                                           "HB_PING_KEY": "envpingkey"})
    try:
        yield server_redis, server
    finally:
        server.stop()
        server_redis.cleanup()


def test_env_keys_survive_a_redis_wipe(own_stack: tuple[RedisServer, PingServer]) -> None:
    server_redis, server = own_stack
    headers = {"X-Api-Key": "env-rw-key"}
    created = requests.post(f"{server.url}/api/v3/checks/", json={"name": "a", "slug": "a"},
                            headers=headers, timeout=5)
    assert created.status_code == 201
    redis.Redis(port=server_redis.port).flushall()

    # No restart: the server puts the default project back when its keys are used.
    listing = requests.get(f"{server.url}/api/v3/checks/", headers=headers, timeout=5)
    assert (listing.status_code, listing.json()) == (200, {"checks": []})
    again = requests.post(f"{server.url}/api/v3/checks/", json={"name": "b", "slug": "b"},
                          headers=headers, timeout=5)
    assert again.status_code == 201
    assert requests.get(f"{server.url}/ping/envpingkey/b", timeout=5).status_code == 200
    # Other keys are not resurrected.
    wrong = requests.get(f"{server.url}/api/v3/checks/", headers={"X-Api-Key": "x"}, timeout=5)
    assert wrong.status_code == 401


def test_env_ping_key_survives_a_redis_wipe(own_stack: tuple[RedisServer, PingServer]) -> None:
    server_redis, server = own_stack
    assert requests.get(f"{server.url}/ping/envpingkey/job?create=1", timeout=5).status_code == 201
    redis.Redis(port=server_redis.port).flushall()
    r = requests.get(f"{server.url}/ping/envpingkey/job?create=1", timeout=5)
    assert (r.status_code, r.text) == (201, "Created")
    assert requests.get(f"{server.url}/ping/otherkey/job?create=1", timeout=5).status_code == 404
