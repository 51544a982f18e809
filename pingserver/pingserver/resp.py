"""A pipelined Redis connection for the ping path.

Every ping of a worker goes through one connection: commands are written back to back (all
pings that arrive in one event-loop turn leave in one write) and replies are matched to callers
in order, which RESP guarantees. Packing and parsing are hiredis'. This removes redis-py's
per-command connection-pool and retry machinery, which profiling showed to be half of a ping's
cost. The connection is an asyncio Protocol rather than streams, and one timer per connection
watches the oldest waiting command instead of one timer per call: both are per-ping costs.
Everything else uses redis-py; on Redis Cluster the ping path does too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any, cast

import hiredis
from redis.asyncio.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError


def pack(args: tuple[Any, ...]) -> bytes:
    """One command in RESP (str, bytes and int arguments)."""
    return hiredis.pack_command(args)


class RespProtocol(asyncio.Protocol):
    """One Redis connection: commands out in order, replies matched to them in order."""

    def __init__(self, timeout: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.timeout = timeout
        self.parser = hiredis.Reader(replyError=ResponseError)
        self.transport: asyncio.Transport | None = None
        # (deadline, future) of every command sent or queued, oldest first.
        self.pending: deque[tuple[float, asyncio.Future[Any]]] = deque()
        self.queued: list[bytes] = []
        self.watchdog: asyncio.TimerHandle | None = None
        self.error: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def send(self, command: bytes) -> asyncio.Future[Any]:
        """Queue one packed command; the future gets its reply (or the connection's error)."""
        future: asyncio.Future[Any] = self.loop.create_future()
        if self.error is not None:
            future.set_exception(self.error)
            return future
        if not self.queued:
            self.loop.call_soon(self._flush)
        self.queued.append(command)
        deadline = self.loop.time() + self.timeout
        self.pending.append((deadline, future))
        if self.watchdog is None:
            self.watchdog = self.loop.call_at(deadline, self._check_deadline)
        return future

    def _flush(self) -> None:
        if self.transport is not None and self.queued:
            self.transport.write(b"".join(self.queued))
        self.queued.clear()

    def data_received(self, data: bytes) -> None:
        self.parser.feed(data)
        pending = self.pending
        while (reply := self.parser.gets()) is not False:
            if not pending:
                self.fail(RedisConnectionError("reply without a command"))
                return
            future = pending.popleft()[1]
            if not future.done():
                future.set_result(reply)

    def _check_deadline(self) -> None:
        """The oldest command waits longest: past its deadline, replies can no longer be
        matched to callers, so the connection is dropped (the next call reconnects)."""
        self.watchdog = None
        if not self.pending:
            return
        deadline = self.pending[0][0]
        if deadline <= self.loop.time():
            self.fail(RedisTimeoutError("Redis did not answer in time"))
        else:
            self.watchdog = self.loop.call_at(deadline, self._check_deadline)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisConnectionError("connection to Redis lost"))

    def fail(self, error: Exception) -> None:
        """Fail every waiting command and close; later sends fail at once."""
        if self.error is None:
            self.error = error
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None
        self.queued.clear()
        while self.pending:
            future = self.pending.popleft()[1]
            if not future.done():
                future.set_exception(error)
        if self.transport is not None:
            self.transport.close()


class PipelinedConnection:
    def __init__(self, url: str, timeout: float) -> None:
        self.options = parse_url(url)
        self.timeout = timeout
        self.protocol: RespProtocol | None = None
        self.lock = asyncio.Lock()

    async def call(self, *args: Any) -> Any:
        """Send one command and wait for its reply (RedisError on failure or timeout)."""
        protocol = self.protocol
        if protocol is None or protocol.error is not None:
            protocol = await self._connect()
        reply = await protocol.send(pack(args))
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    async def _connect(self) -> RespProtocol:
        async with self.lock:
            if self.protocol is not None and self.protocol.error is None:
                return self.protocol
            protocol = RespProtocol(self.timeout)
            try:
                async with asyncio.timeout(self.timeout):
                    await self._open(protocol)
            except (OSError, TimeoutError) as exc:
                raise RedisConnectionError(f"cannot connect to Redis: {exc}") from None
            self.protocol = protocol
            # Sent ahead of anything another caller sends on this connection.
            hello = [protocol.send(pack(command)) for command in self._hello()]
        for future in hello:
            reply = await future
            if isinstance(reply, ResponseError):
                raise reply
        return protocol

    async def _open(self, protocol: RespProtocol) -> None:
        loop = asyncio.get_running_loop()
        if "path" in self.options:
            await loop.create_unix_connection(lambda: protocol, self.options["path"])
        else:
            await loop.create_connection(lambda: protocol, self.options.get("host", "127.0.0.1"),
                                         self.options.get("port", 6379))

    def _hello(self) -> list[tuple[Any, ...]]:
        commands: list[tuple[Any, ...]] = []
        if self.options.get("password"):
            user = self.options.get("username")
            commands.append(("AUTH", user, self.options["password"]) if user
                            else ("AUTH", self.options["password"]))
        if self.options.get("db"):
            commands.append(("SELECT", self.options["db"]))
        return commands

    async def close(self) -> None:
        protocol, self.protocol = self.protocol, None
        if protocol is not None:
            protocol.fail(RedisConnectionError("connection closed"))
        with contextlib.suppress(Exception):
            await asyncio.sleep(0)
