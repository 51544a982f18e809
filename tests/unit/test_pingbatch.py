"""PingBatch's own logic: when a batch leaves and how replies reach their callers. `send` is a
recording coroutine here; the batches against a real Redis are in
tests/integration/test_ping_batch.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from pingserver.pingbatch import PingBatch


class Recorder:
    def __init__(self, reply: Any = None, error: Exception | None = None) -> None:
        self.calls: list[tuple[list[str], list[Any]]] = []
        self.reply = reply
        self.error = error

    async def __call__(self, keys: list[str], args: list[Any]) -> list[Any]:
        self.calls.append((keys, args))
        await asyncio.sleep(0)
        if self.error is not None:
            raise self.error
        if self.reply is not None:
            return list(self.reply)
        return [[1, b"success", args[i]] for i in range(len(keys))]


async def test_one_call_per_turn_in_arrival_order() -> None:
    send = Recorder()
    batch = PingBatch(send)
    futures = [batch.add(f"k{i}", [i], 0) for i in range(5)]
    assert send.calls == []  # nothing leaves before the turn ends
    assert await asyncio.gather(*futures) == [[1, b"success", i] for i in range(5)]
    assert send.calls == [(["k0", "k1", "k2", "k3", "k4"], [0, 1, 2, 3, 4])]
    later = await batch.add("k5", [5], 0)  # a new turn makes a new call
    assert later == [1, b"success", 5] and len(send.calls) == 2


async def test_each_turn_makes_its_own_call() -> None:
    release = asyncio.Event()
    calls: list[list[str]] = []

    async def send(keys: list[str], args: list[Any]) -> list[Any]:
        calls.append(keys)
        await release.wait()
        return [[1, b"success", a] for a in args]

    async def turns() -> None:
        for _ in range(3):  # the flush, the call's task, its send
            await asyncio.sleep(0)

    batch = PingBatch(send)
    pending = []
    for i in range(3):  # a call in flight does not hold back the next turn's pings
        pending.append(batch.add(f"k{i}", [i], 0))
        await turns()
    assert calls == [["k0"], ["k1"], ["k2"]]
    release.set()
    assert await asyncio.gather(*pending) == [[1, b"success", i] for i in range(3)]


async def test_a_full_batch_leaves_before_the_turn_ends() -> None:
    send = Recorder()
    batch = PingBatch(send, max_pings=3, max_bytes=100)
    futures = [batch.add(f"k{i}", [i], 0) for i in range(7)]
    await asyncio.gather(*futures)
    assert [len(keys) for keys, _ in send.calls] == [3, 3, 1]


async def test_large_bodies_leave_in_smaller_batches() -> None:
    send = Recorder()
    batch = PingBatch(send, max_pings=64, max_bytes=100)
    futures = [batch.add(f"k{i}", [i], 60) for i in range(4)]
    await asyncio.gather(*futures)
    assert [len(keys) for keys, _ in send.calls] == [2, 2]


async def test_an_error_reply_fails_its_ping_only() -> None:
    send = Recorder(reply=[[1, b"success", 1], [-1, b"WRONGTYPE Operation"], [0]])
    batch = PingBatch(send)
    results = await asyncio.gather(*(batch.add(f"k{i}", [i], 0) for i in range(3)),
                                   return_exceptions=True)
    assert results[0] == [1, b"success", 1] and results[2] == [0]
    assert isinstance(results[1], ResponseError) and str(results[1]) == "WRONGTYPE Operation"


async def test_a_failed_call_fails_every_ping() -> None:
    batch = PingBatch(Recorder(error=RedisConnectionError("down")))
    results = await asyncio.gather(*(batch.add(f"k{i}", [i], 0) for i in range(3)),
                                   return_exceptions=True)
    assert all(isinstance(r, RedisConnectionError) for r in results)


async def test_a_reply_count_mismatch_acknowledges_nothing() -> None:
    batch = PingBatch(Recorder(reply=[[1, b"success", 1]]))
    results = await asyncio.gather(*(batch.add(f"k{i}", [i], 0) for i in range(2)),
                                   return_exceptions=True)
    assert all(isinstance(r, ResponseError) for r in results)


async def test_a_caller_that_went_away_does_not_stop_the_others() -> None:
    batch = PingBatch(Recorder())
    gone = batch.add("k0", [0], 0)
    kept = batch.add("k1", [1], 0)
    gone.cancel()
    assert await kept == [1, b"success", 1]
    with pytest.raises(asyncio.CancelledError):
        await gone


async def test_a_call_already_on_its_way_needs_no_task() -> None:
    loop = asyncio.get_running_loop()
    submitted: list[asyncio.Future[list[Any]]] = []

    def send(keys: list[str], args: list[Any]) -> asyncio.Future[list[Any]]:
        future: asyncio.Future[list[Any]] = loop.create_future()
        submitted.append(future)
        return future

    batch = PingBatch(send)
    pings = [batch.add(f"k{i}", [i], 0) for i in range(2)]
    await asyncio.sleep(0)
    assert len(submitted) == 1 and not batch.calls
    submitted[0].set_result([[1, b"start", 1], [-1, b"OOM command not allowed"]])
    results = await asyncio.gather(*pings, return_exceptions=True)
    assert results[0] == [1, b"start", 1]
    assert isinstance(results[1], ResponseError) and str(results[1]).startswith("OOM")
