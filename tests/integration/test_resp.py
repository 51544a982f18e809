"""The ping path's pipelined Redis connection against a real redis-server."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from pingserver.resp import PipelinedConnection, pack
from tests.support.redis_server import RedisServer
from tests.support.wait import wait_for


@contextlib.asynccontextmanager
async def connected(timeout: float) -> AsyncIterator[tuple[PipelinedConnection, redis.Redis]]:
    """A fresh redis-server, a pipelined connection to it and a plain admin client."""
    server = RedisServer().start()
    conn = PipelinedConnection(server.url, timeout=timeout)
    admin = redis.Redis(port=server.port)
    try:
        yield conn, admin
    finally:
        admin.close()
        await conn.close()
        server.cleanup()


def test_pack() -> None:
    assert pack(("SET", "k", b"\xff", 3)) == (
        b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n\xff\r\n$1\r\n3\r\n")


async def test_concurrent_calls_get_their_own_replies() -> None:
    async with connected(timeout=2) as (conn, _):
        replies = await asyncio.gather(*(conn.call("INCRBY", f"k{i % 7}", i) for i in range(500)))
        totals: dict[str, int] = {}
        for i, reply in enumerate(replies):
            totals[f"k{i % 7}"] = totals.get(f"k{i % 7}", 0) + i
            assert reply == totals[f"k{i % 7}"]
        with pytest.raises(ResponseError):
            await conn.call("INCRBY", "k0", "not-a-number")
        assert await conn.call("GET", "k0") == str(totals["k0"]).encode()  # still in step


async def test_password_and_database_from_the_url() -> None:
    server = RedisServer().start()
    admin = PipelinedConnection(server.url, timeout=2)
    try:
        await admin.call("CONFIG", "SET", "requirepass", "s3cret")
        conn = PipelinedConnection(f"redis://:s3cret@127.0.0.1:{server.port}/3", timeout=2)
        await conn.call("SET", "where", "db3")
        assert await conn.call("CLIENT", "INFO") and b"db=3" in await conn.call("CLIENT", "INFO")
        await conn.close()
        wrong = PipelinedConnection(f"redis://:nope@127.0.0.1:{server.port}/0", timeout=2)
        with pytest.raises(ResponseError):
            await wrong.call("PING")
        await wrong.close()
    finally:
        await admin.close()
        server.cleanup()


async def test_redis_down_is_an_error_then_it_reconnects() -> None:
    server = RedisServer().start()
    conn = PipelinedConnection(server.url, timeout=1)
    try:
        assert await conn.call("PING") == b"PONG"
        server.stop()
        with pytest.raises(RedisConnectionError):
            await conn.call("PING")
        server = RedisServer(port=server.port, workdir=server.dir).start()
        assert await conn.call("PING") == b"PONG"
    finally:
        await conn.close()
        server.cleanup()


async def test_a_slow_reply_times_out_and_the_next_call_works() -> None:
    async with connected(timeout=0.3) as (conn, admin):
        assert await conn.call("PING") == b"PONG"
        admin.execute_command("CLIENT", "PAUSE", "10000", "WRITE")  # writes get no answer
        with pytest.raises(RedisTimeoutError):
            await conn.call("SET", "k", "v")
        admin.execute_command("CLIENT", "UNPAUSE")
        assert await conn.call("PING") == b"PONG"  # on a fresh connection, in step
        assert await conn.call("SET", "k", "w") == b"OK"


async def test_the_deadline_is_per_call_not_per_connection() -> None:
    """One timer per connection, set by the first call: a later call still waiting when that
    timer fires gets its own full timeout."""
    async with connected(timeout=1.0) as (conn, _):
        assert await conn.call("PING") == b"PONG"  # the timer now fires at about 1.0 s
        await asyncio.sleep(0.6)  # part of the scenario: the next call starts later
        # Answered at about 1.2 s: past the timer, within the call's own deadline (1.6 s).
        assert await conn.call("BLPOP", "nothing", "0.6") is None


async def test_a_timeout_fails_every_waiting_call() -> None:
    async with connected(timeout=0.3) as (conn, admin):
        assert await conn.call("PING") == b"PONG"
        admin.execute_command("CLIENT", "PAUSE", "10000", "WRITE")
        calls = [conn.call("SET", f"k{i}", "v") for i in range(5)]
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert all(isinstance(r, RedisTimeoutError) for r in results)
        admin.execute_command("CLIENT", "UNPAUSE")
        assert await conn.call("INCR", "n") == 1  # a fresh connection, in step


async def test_unix_socket_url() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="hb-redis-unix-"))
    sock = workdir / "redis.sock"
    proc = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", str(sock),
                             "--save", "", "--dir", str(workdir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conn = PipelinedConnection(f"unix://{sock}?db=2", timeout=2)
    try:
        wait_for(lambda: redis.Redis(unix_socket_path=str(sock)).ping(),
                 ignore=(redis.ConnectionError,), message="redis-server on a unix socket")
        assert await conn.call("SET", "k", "v") == b"OK"
        assert b"db=2" in await conn.call("CLIENT", "INFO")
    finally:
        await conn.close()
        proc.terminate()
        proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)
