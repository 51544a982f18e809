"""A pipelined Redis connection for the ping path.

Every ping of a worker goes through one connection: commands are written back to back (all
pings that arrive in one event-loop turn leave in one write) and replies are matched to callers
in order, which RESP guarantees. Parsing is hiredis'. This removes redis-py's per-command
connection-pool and retry machinery, which profiling showed to be half of a ping's cost.
Everything else uses redis-py; on Redis Cluster the ping path does too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

import hiredis
from redis.asyncio.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError


def pack(args: tuple[Any, ...]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class PipelinedConnection:
    def __init__(self, url: str, timeout: float) -> None:
        self.options = parse_url(url)
        self.timeout = timeout
        self.writer: asyncio.StreamWriter | None = None
        self.pending: deque[asyncio.Future[Any]] = deque()
        self.buffer = bytearray()
        self.flush_scheduled = False
        self.lock = asyncio.Lock()
        self.reader_task: asyncio.Task[None] | None = None

    async def call(self, *args: Any) -> Any:
        """Send one command and wait for its reply (RedisError on failure or timeout)."""
        if self.writer is None:
            await self._connect()
        future = self._enqueue(args)
        try:
            async with asyncio.timeout(self.timeout):
                reply = await future
        except TimeoutError:
            # Replies can no longer be matched to callers: start over on a new connection.
            self._fail(RedisTimeoutError("Redis did not answer in time"))
            raise RedisTimeoutError("Redis did not answer in time") from None
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    def _flush(self) -> None:
        self.flush_scheduled = False
        if self.writer is not None and self.buffer:
            self.writer.write(bytes(self.buffer))
        self.buffer.clear()

    async def _connect(self) -> None:
        async with self.lock:
            if self.writer is not None:
                return
            host = self.options.get("host", "127.0.0.1")
            port = self.options.get("port", 6379)
            try:
                async with asyncio.timeout(self.timeout):
                    reader, writer = await asyncio.open_connection(host, port)
            except (OSError, TimeoutError) as exc:
                raise RedisConnectionError(f"cannot connect to Redis: {exc}") from None
            self.writer = writer
            self.reader_task = asyncio.create_task(self._read(reader, writer))
            # Queued ahead of anything another caller writes on this connection.
            hello = [self._enqueue(command) for command in self._hello()]
        for future in hello:
            async with asyncio.timeout(self.timeout):
                reply = await future
            if isinstance(reply, ResponseError):
                raise reply

    def _hello(self) -> list[tuple[Any, ...]]:
        commands: list[tuple[Any, ...]] = []
        if self.options.get("password"):
            user = self.options.get("username")
            commands.append(("AUTH", user, self.options["password"]) if user
                            else ("AUTH", self.options["password"]))
        if self.options.get("db"):
            commands.append(("SELECT", self.options["db"]))
        return commands

    def _enqueue(self, args: tuple[Any, ...]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self.pending.append(future)
        self.buffer += pack(args)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            loop.call_soon(self._flush)
        return future

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser = hiredis.Reader(replyError=ResponseError)
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                parser.feed(data)
                while (reply := parser.gets()) is not False:
                    future = self.pending.popleft()
                    if not future.done():
                        future.set_result(reply)
        except (OSError, IndexError):
            pass
        if self.writer is writer:
            self._fail(RedisConnectionError("connection to Redis lost"))

    def _fail(self, error: Exception) -> None:
        """Fail every waiting call and drop the connection; the next call reconnects."""
        writer, self.writer = self.writer, None
        if writer is not None:
            writer.close()
        if self.reader_task is not None and self.reader_task is not asyncio.current_task():
            self.reader_task.cancel()
        self.reader_task = None
        self.buffer.clear()
        while self.pending:
            future = self.pending.popleft()
            if not future.done():
                future.set_exception(error)

    async def close(self) -> None:
        self._fail(RedisConnectionError("connection closed"))
        with contextlib.suppress(Exception):
            await asyncio.sleep(0)
