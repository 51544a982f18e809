"""A do-nothing ASGI app: the ceiling of what `hb server`'s uvicorn serves on this machine.

Served by `hb server --app noop_app:create_app`, i.e. under exactly the ping server's settings.
"""

from __future__ import annotations

from typing import Any

HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"2")]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": b"OK"})


def create_app() -> Any:
    return app
