"""CoalescingTransport: the writes of one event-loop turn leave as one write, in order."""

from __future__ import annotations

import asyncio
from typing import Any

from pingserver.httpwrites import CoalescingTransport


class RecordingTransport(asyncio.Transport):
    """Records what reaches the socket and in which order close and abort come."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, Any]] = []
        self.closing = False

    def write(self, data: Any) -> None:
        assert not self.closing, "written after close"
        self.calls.append(("write", bytes(data)))

    def close(self) -> None:
        self.closing = True
        self.calls.append(("close", None))

    def abort(self) -> None:
        self.closing = True
        self.calls.append(("abort", None))

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 7


async def _next_turn() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_one_write_per_turn_in_order() -> None:
    raw = RecordingTransport()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b"")
    transport.write(memoryview(b"OK"))
    assert raw.calls == []
    assert transport.get_write_buffer_size() == 7 + 21
    await _next_turn()
    assert raw.calls == [("write", b"HTTP/1.1 200 OK\r\n\r\nOK")]
    transport.write(b"next")
    await _next_turn()
    assert raw.calls[1:] == [("write", b"next")]


async def test_close_sends_what_was_written_first() -> None:
    raw = RecordingTransport()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())
    transport.write(b"answer")
    transport.close()
    await _next_turn()  # the scheduled flush finds nothing left and writes nothing
    assert raw.calls == [("write", b"answer"), ("close", None)]


async def test_abort_drops_unsent_writes_and_nothing_follows() -> None:
    raw = RecordingTransport()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())
    transport.write(b"half an answer")
    transport.abort()
    await _next_turn()
    assert raw.calls == [("abort", None)]


async def test_no_write_to_a_transport_closed_by_the_peer() -> None:
    raw = RecordingTransport()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())
    transport.write(b"answer")
    raw.closing = True  # connection lost before the turn ended
    await _next_turn()
    assert raw.calls == []
