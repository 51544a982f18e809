"""uvicorn's httptools protocol, sending what one event-loop turn writes in one socket write.

uvicorn writes an answer's status line and headers, then its body: two `send` system calls
per request, and on loopback each one also runs the receiver's side of TCP. Profiling the
ping path put those writes at a sixth of a worker's time. Here the writes of one turn of the
event loop are joined and leave at the start of the next turn: one call per answer (fewer
still for pipelined requests), a few microseconds later. Flow control is untouched: uvicorn
still pauses on the real transport's buffer, and a turn adds at most what it wrote.
`hb server` uses this protocol (hb.main.UVICORN_OPTIONS) for the ping server and for the
benchmark's do-nothing ceiling app alike.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport(asyncio.Transport):
    """A transport whose writes of one event-loop turn reach the socket as one write."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._chunks: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._chunks:
            self._loop.call_soon(self.flush)
        self._chunks.append(bytes(data))

    def flush(self) -> None:
        if not self._chunks:
            return
        data = b"".join(self._chunks)
        self._chunks.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()  # the answer written just before a `Connection: close` must still go
        self._transport.close()

    def abort(self) -> None:
        self._chunks.clear()
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._chunks))

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def can_write_eof(self) -> bool:
        return False  # a half-close would overtake the joined writes

    def write_eof(self) -> None:
        raise NotImplementedError("write_eof: not supported by CoalescingTransport")


class HttpProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` on a CoalescingTransport."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are no asyncio.Transport subclass, hence the cast.
        super().connection_made(CoalescingTransport(cast(asyncio.Transport, transport),
                                                    self.loop))
