"""Pytest fixtures of the engine tests; test modules import the ones they use."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from pingserver.store import Store
from tests.support.engine import EngineRedis, shared_redis
from tests.support.receivers import HttpReceiver, SmtpReceiver


@pytest.fixture(params=["single", "cluster"])
def engine_redis(request: pytest.FixtureRequest) -> EngineRedis:
    """The engine's Redis, once as a single server and once as a three-master cluster."""
    server = shared_redis(str(request.param))
    server.flush()
    return server


@pytest.fixture
def single_redis() -> EngineRedis:
    server = shared_redis("single")
    server.flush()
    return server


@pytest.fixture
async def estore(engine_redis: EngineRedis) -> AsyncIterator[Store]:
    store = Store.from_settings(engine_redis.settings())
    yield store
    await store.close()


@pytest.fixture
async def sstore(single_redis: EngineRedis) -> AsyncIterator[Store]:
    store = Store.from_settings(single_redis.settings())
    yield store
    await store.close()


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    server = HttpReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    server = SmtpReceiver().start()
    yield server
    server.stop()
