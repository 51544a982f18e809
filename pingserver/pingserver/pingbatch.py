"""Many pings in one call of ping.lua.

A ping server worker receives pings in bursts: every connection with a request ready is read in
the same turn of the event loop. Each ping joins the batch of its turn, which leaves as one
script call at the end of the turn, or sooner when it is full. (Holding a batch back while a
call is in flight made calls only a sixth larger at full load and doubled the median latency
at 5,000 pings/s, 0.7 to 1.5 ms: bench/ping_bench.py.) Redis runs the pings of a call one
after the other in arrival order, so pings of one check keep their order, and answers each one
separately: a caller gets its own ping's reply, and is answered only after Redis has
acknowledged the whole call. When the call fails (Redis unreachable, a
timeout, too few replicas), every ping of the batch fails with that error: none of them is
acknowledged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from redis.exceptions import ResponseError

# Bounds of one call: Redis runs a script without serving anyone else, so a call stays short
# (64 pings are about 1 ms of Redis time), and bodies (up to HB_PING_BODY_LIMIT each) do not
# pile up into one huge command.
MAX_PINGS = 64
MAX_BYTES = 1 << 20

# `send(keys, args)` makes one call of ping.lua with these pings and returns its replies, one
# per ping: as a future when the call is already on its way to Redis (no task, and no extra
# event-loop turn before the write), else as a coroutine to run.
Send = Callable[[list[str], list[Any]],
                "asyncio.Future[list[Any]] | Coroutine[Any, Any, list[Any]]"]


class PingBatch:
    """Made and used in one running event loop."""

    def __init__(self, send: Send, *, max_pings: int = MAX_PINGS,
                 max_bytes: int = MAX_BYTES) -> None:
        # Kept: asyncio.get_running_loop() makes a getpid() system call, 6% of a worker's
        # time when it ran once per ping.
        self.loop = asyncio.get_running_loop()
        self.send = send
        self.max_pings = max_pings
        self.max_bytes = max_bytes
        self.keys: list[str] = []
        self.args: list[Any] = []
        self.futures: list[asyncio.Future[Any]] = []
        self.size = 0
        self.calls: set[asyncio.Task[list[Any]]] = set()  # running calls, kept from the GC

    def add(self, key: str, ping_args: list[Any], size: int) -> asyncio.Future[Any]:
        """Queue one ping: its check key, its arguments and its body's length; the future gets
        its reply."""
        if not self.futures:
            self.loop.call_soon(self.flush)
        future: asyncio.Future[Any] = self.loop.create_future()
        self.keys.append(key)
        self.args += ping_args
        self.futures.append(future)
        self.size += size
        if len(self.futures) >= self.max_pings or self.size >= self.max_bytes:
            self.flush()
        return future

    def flush(self) -> None:
        if not self.futures:
            return
        futures = self.futures
        sent = self.send(self.keys, self.args)
        self.keys, self.args, self.futures, self.size = [], [], [], 0
        if not isinstance(sent, asyncio.Future):
            call = self.loop.create_task(sent)
            self.calls.add(call)
            call.add_done_callback(self.calls.discard)
            sent = call
        sent.add_done_callback(lambda done: self._deliver(done, futures))

    def _deliver(self, done: asyncio.Future[list[Any]],
                 futures: list[asyncio.Future[Any]]) -> None:
        if done.cancelled():
            for future in futures:
                future.cancel()
            return
        error = done.exception()
        if error is not None:
            self._fail(futures, error)
            return
        replies = done.result()
        if len(replies) != len(futures):
            self._fail(futures, ResponseError(f"{len(replies)} replies to {len(futures)} pings"))
            return
        for future, reply in zip(futures, replies, strict=True):
            if future.done():  # its request went away
                continue
            if reply[0] == -1:
                message = reply[1]
                future.set_exception(ResponseError(
                    message.decode() if isinstance(message, bytes) else str(message)))
            else:
                future.set_result(reply)

    @staticmethod
    def _fail(futures: list[asyncio.Future[Any]], error: BaseException) -> None:
        for future in futures:
            if not future.done():
                future.set_exception(error)
