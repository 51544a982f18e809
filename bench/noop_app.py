"""The ceiling apps of bench/ping_bench.py, served by `hb server --app` under exactly the ping
server's uvicorn settings.

- `create_app`: does nothing, answers 200 OK: what the HTTP layer alone costs.
- `create_durable_app`: the do-nothing app plus the least a durable ping must do, one EVALSHA
  per request writing the check hash, the deadline set and the ping log (HSET + ZADD + LPUSH)
  over the ping server's own pipelined connection (HB_REDIS_URL), answering after Redis did.
"""

from __future__ import annotations

import os
import time
from typing import Any

from pingserver import keys
from pingserver.resp import PipelinedConnection

HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"2")]

MINIMAL_PING = """
redis.call('HSET', KEYS[1], 'last_ping', ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[1] + 3600000, ARGV[2])
redis.call('LPUSH', KEYS[2], ARGV[1])
return 1
"""


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": b"OK"})


def create_app() -> Any:
    return app


def create_durable_app() -> Any:
    conn = PipelinedConnection(os.environ["HB_REDIS_URL"], timeout=5.0)
    sha: list[str] = []

    async def durable(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        uuid = scope["path"].rsplit("/", 1)[-1]
        if uuid and uuid != "healthz":
            if not sha:
                sha.append((await conn.call("SCRIPT", "LOAD", MINIMAL_PING)).decode())
            await conn.call("EVALSHA", sha[0], 3, keys.check_key(uuid), keys.pings_key(uuid),
                            keys.due_key(keys.shard_of(uuid)),
                            str(int(time.time() * 1000)), uuid)
        await app(scope, receive, send)

    return durable
