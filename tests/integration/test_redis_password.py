"""HB_REDIS_PASSWORD: a Redis password that is not URL-safe, kept out of HB_REDIS_URL, used
by every client (the ping path's pipelined connection, redis-py for the API, the engine),
and never logged. Against a real redis-server with requirepass."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import requests

from pingserver.config import ConfigError, Settings, load
from pingserver.store import Store, now_ms
from tests.conftest import PingServer
from tests.support.api import Api, ping
from tests.support.engine import EngineProcess, eventually
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.timeout(90)

PASSWORD = "s3cr@t:/#%?&+ pw"  # not URL-safe in any part of a URL


@pytest.fixture(scope="module")
def locked_redis() -> Iterator[RedisServer]:
    server = RedisServer(password=PASSWORD).start()
    yield server
    server.cleanup()


async def test_every_client_authenticates_with_the_password(locked_redis: RedisServer) -> None:
    env = {"HB_REDIS_PASSWORD": PASSWORD}
    settings = Settings(redis_url=locked_redis.url, redis_password=PASSWORD,
                        allow_private_webhooks=True)
    store = Store.from_settings(settings)
    server = PingServer(locked_redis.url, env)
    worker = EngineProcess("worker", {"HB_REDIS_URL": locked_redis.url, **env}, "pw-worker")
    try:
        project = await store.create_project("password")
        api = Api(server.url, project.api_key)
        check = await asyncio.to_thread(api.create, name="pw", timeout=60, grace=60)
        resp = await asyncio.to_thread(ping, server.url, check["uuid"])  # pipelined path
        assert (resp.status_code, resp.text) == (200, "OK")
        assert (await asyncio.to_thread(api.check, check["uuid"]))["n_pings"] == 1  # redis-py
        await store.ping(check["uuid"], "success", at=now_ms() - 121_000)
        worker.wait_started()  # the engine's own clients: its sweeper takes the check down

        async def down() -> bool:
            return (await asyncio.to_thread(api.check, check["uuid"]))["status"] == "down"

        await eventually(down, timeout=20, message="the worker did not sweep")
    finally:
        server.stop()
        assert worker.stop() == 0
        await store.close()
    for log in (server.log.read_text(errors="replace"), worker.output()):
        assert PASSWORD not in log


def test_a_wrong_password_is_a_503_that_names_no_password(locked_redis: RedisServer) -> None:
    server = PingServer(locked_redis.url, {"HB_REDIS_PASSWORD": "wrong" + PASSWORD})
    try:
        resp = requests.get(f"{server.url}/ping/00000000-0000-4000-8000-000000000000",
                            timeout=10)
        assert resp.status_code == 503
        assert PASSWORD not in resp.text
    finally:
        server.stop()
    assert PASSWORD not in server.log.read_text(errors="replace")


def test_a_password_in_both_places_is_refused_naming_the_variable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HB_REDIS_URL", "redis://:other@127.0.0.1:6379/0")
    monkeypatch.setenv("HB_REDIS_PASSWORD", PASSWORD)
    with pytest.raises(ConfigError, match="HB_REDIS_PASSWORD") as failure:
        load()
    assert PASSWORD not in str(failure.value)
