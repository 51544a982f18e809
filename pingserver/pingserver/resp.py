"""A pipelined Redis connection for the ping path.

Every ping of a worker goes through one connection: commands are written back to back (the
commands of one event-loop turn leave in one write; the pings of a turn are one command,
pingbatch.py, written as soon as it is made) and replies are matched to callers in order, which
RESP guarantees. Packing and parsing are hiredis'. This removes redis-py's
per-command connection-pool and retry machinery, which profiling showed to be half of a ping's
cost. The connection is an asyncio Protocol rather than streams, and one timer per connection
watches the oldest waiting command instead of one timer per call: both are per-ping costs.
Everything else uses redis-py; on Redis Cluster the ping path does too. Behind Sentinel the
connection asks for the primary's address on every (re)connect.

With WAIT-based acknowledgement, one WAIT follows all the writes that leave in one flush:
WAIT covers every earlier write of the connection, so the calls of a burst share one replica
round trip instead of waiting for one each.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, cast

import hiredis
from redis.asyncio.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError


class NotReplicated(RedisError):
    """WAIT ran out of time before enough replicas confirmed a write."""


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
        # The WAIT that goes out after the writes of the next flush, shared by their callers.
        self.wait_future: asyncio.Future[Any] | None = None
        self.wait_command = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def send(self, command: bytes, *, now: bool = False) -> asyncio.Future[Any]:
        """Queue one packed command; the future gets its reply (or the connection's error).
        `now`: write it (and everything queued before it) at once, not at the end of the
        turn: for a caller that batches itself."""
        future: asyncio.Future[Any] = self.loop.create_future()
        if self.error is not None:
            future.set_exception(self.error)
            return future
        if not self.queued and not now:
            self.loop.call_soon(self._flush)
        self.queued.append(command)
        deadline = self.loop.time() + self.timeout
        self.pending.append((deadline, future))
        if self.watchdog is None:
            self.watchdog = self.loop.call_at(deadline, self._check_deadline)
        if now:
            self._flush()
        return future

    def send_replicated(self, command: bytes,
                        wait: bytes) -> tuple[asyncio.Future[Any], asyncio.Future[Any]]:
        """Queue a write; the second future gets the reply of the WAIT sent after it."""
        future = self.send(command)
        if self.error is not None:
            return future, future
        if self.wait_future is None:
            self.wait_future = self.loop.create_future()
            # Its callers may all have failed on their own replies already.
            self.wait_future.add_done_callback(
                lambda f: None if f.cancelled() else f.exception())
            self.wait_command = wait
        return future, self.wait_future

    def _flush(self) -> None:
        if self.wait_future is not None:
            self.queued.append(self.wait_command)
            self.pending.append((self.loop.time() + self.timeout, self.wait_future))
            self.wait_future = None
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
        if self.wait_future is not None:
            self.wait_future.set_exception(error)
            self.wait_future = None
        while self.pending:
            future = self.pending.popleft()[1]
            if not future.done():
                future.set_exception(error)
        if self.transport is not None:
            self.transport.close()


class PipelinedConnection:
    """`credentials`: username and password beside the URL's; `locate`: the address to
    connect to, asked for on every (re)connect (the primary behind Sentinel)."""

    def __init__(self, url: str, timeout: float, *, credentials: dict[str, str] | None = None,
                 locate: Callable[[], Awaitable[tuple[str, int]]] | None = None) -> None:
        self.options: dict[str, Any] = {**parse_url(url), **(credentials or {})}
        self.timeout = timeout
        self.locate = locate
        self.protocol: RespProtocol | None = None
        self.lock = asyncio.Lock()

    async def call(self, *args: Any) -> Any:
        """Send one command and wait for its reply (RedisError on failure or timeout)."""
        protocol = await self._ready()
        return self.checked(protocol, await protocol.send(pack(args)))

    async def call_replicated(self, replicas: int, timeout_ms: int, *args: Any) -> Any:
        """Send one write; its reply once WAIT saw `replicas` replicas have it, else
        NotReplicated (the write may still be on the primary, but is not acknowledged)."""
        protocol = await self._ready()
        reply, acked = protocol.send_replicated(pack(args),
                                                pack(("WAIT", replicas, timeout_ms)))
        result = self.checked(protocol, await reply)
        count = self.checked(protocol, await acked)
        if int(count) < replicas:
            raise NotReplicated(f"{count} of {replicas} replicas confirmed in {timeout_ms} ms")
        return result

    def connected(self) -> RespProtocol | None:
        """The connection, when it is up (no waiting)."""
        protocol = self.protocol
        return protocol if protocol is not None and protocol.error is None else None

    async def _ready(self) -> RespProtocol:
        protocol = self.protocol
        if protocol is None or protocol.error is not None:
            protocol = await self._connect()
        return protocol

    @staticmethod
    def checked(protocol: RespProtocol, reply: Any) -> Any:
        if isinstance(reply, ResponseError):
            if str(reply).startswith("READONLY"):
                # A failover made this server a replica: reconnect to the new primary.
                error = RedisConnectionError("Redis became a replica")
                protocol.fail(error)
                raise error
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
        if self.locate is not None:
            host, port = await self.locate()
            await loop.create_connection(lambda: protocol, host, port)
        elif "path" in self.options:
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
