"""The ping endpoints (`/ping/...`): the hot path, served as a plain ASGI handler.

Pings bypass FastAPI's routing, validation and dependency machinery: a ping is one parse of
the path and query, one ping.lua call shared with the other pings of its event-loop turn
(pingbatch.py) and a fixed text answer. Everything else goes to the FastAPI application.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from redis.exceptions import RedisError
from starlette.types import ASGIApp, Receive, Scope, Send

from pingserver import schedules
from pingserver.metrics import PINGS
from pingserver.store import Store

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
RID_RE = re.compile(UUID_RE.pattern, re.IGNORECASE)
PING_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SLUG_RE = re.compile(r"^[a-z0-9_-]{1,100}$")
ACTIONS = ("start", "fail", "log")


class BadPing(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def parse_action(segment: str | None) -> tuple[str, int | None]:
    """('success'|'start'|'fail'|'log', exit status) from the last URL segment."""
    if segment is None:
        return "success", None
    if segment in ACTIONS:
        return segment, None
    if segment.isdigit() and len(segment) <= 3 and int(segment) <= 255:
        exit_status = int(segment)
        return "success", exit_status
    raise BadPing(400, "invalid url format")


def client_address(scope: Scope, headers: dict[bytes, bytes]) -> str:
    forwarded = headers.get(b"x-forwarded-for", b"").decode("latin-1").split(",")[0].strip()
    addr = forwarded or (scope.get("client") or ("", 0))[0]
    if addr.startswith("::ffff:") and "." in addr:
        addr = addr[7:]
    # Azure-style "ipv4:port"
    if addr.count(":") == 1 and "." in addr:
        addr = addr.split(":")[0]
    return addr


class PingHandler:
    def __init__(self, store: Callable[[], Store], body_limit: int) -> None:
        self._store = store
        self.body_limit = body_limit
        self._headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"access-control-allow-origin", b"*"),
            (b"cache-control", b"max-age=0, no-cache, no-store, must-revalidate, private"),
            (b"ping-body-limit", str(body_limit).encode()),
        ]
        # Nearly every answer is "200 OK": its headers are built once, not per ping.
        self._ok_headers = self._answer_headers(b"OK")
        self._counters: dict[str, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await self._read_body(receive)
        try:
            status, text = await self.handle(scope, body)
        except BadPing as exc:
            status, text = exc.status, exc.text
        except RedisError:
            status, text = 503, "service unavailable: storage is not reachable"
        payload = text.encode()
        headers = self._ok_headers if payload == b"OK" else self._answer_headers(payload)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body",
                    "body": b"" if scope["method"] == "HEAD" else payload})

    def _answer_headers(self, payload: bytes) -> list[tuple[bytes, bytes]]:
        return [*self._headers, (b"content-length", str(len(payload)).encode())]

    def _count(self, kind: str) -> None:
        """Count a ping in PINGS, without the label lookup (and its lock) every time."""
        counter = self._counters.get(kind)
        if counter is None:
            counter = self._counters[kind] = PINGS.labels(kind)
        counter.inc()

    async def _read_body(self, receive: Receive) -> bytes:
        """Keep up to the limit; the rest is read and dropped, never an error."""
        chunks: list[bytes] = []
        kept = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            if kept < self.body_limit and chunk:
                part = chunk[: self.body_limit - kept]
                chunks.append(part)
                kept += len(part)
            more = message.get("more_body", False)
        return b"".join(chunks)

    async def handle(self, scope: Scope, body: bytes) -> tuple[int, str]:
        parts = scope["path"][len("/ping/"):].rstrip("/").split("/")
        raw_query = scope.get("query_string", b"")
        query = parse_qs(raw_query.decode("latin-1")) if raw_query else {}
        rid = query.get("rid", [""])[0]
        if rid and not RID_RE.match(rid):
            raise BadPing(400, "invalid uuid format")
        headers = dict(scope.get("headers") or [])
        meta = {
            "rid": rid.lower(),
            "method": scope["method"],
            "scheme": headers.get(b"x-forwarded-proto", b"").decode("latin-1")
            or scope.get("scheme", "http"),
            "remote_addr": client_address(scope, headers),
            "ua": headers.get(b"user-agent", b"").decode("latin-1"),
            "body": body,
        }
        store = self._store()
        if UUID_RE.match(parts[0]):
            if len(parts) > 2:
                raise BadPing(400, "invalid url format")
            action, exit_status = parse_action(parts[1] if len(parts) == 2 else None)
            kind = await store.ping(parts[0], action, exitstatus=exit_status, **meta)
            if kind is None:
                return 404, "not found"
            self._count(kind)
            return 200, "OK"
        if len(parts) not in (2, 3) or not PING_KEY_RE.match(parts[0]):
            raise BadPing(404 if len(parts) == 1 else 400, "not found" if len(parts) == 1
                          else "invalid url format")
        if not SLUG_RE.match(parts[1]):
            raise BadPing(400, "invalid slug")
        action, exit_status = parse_action(parts[2] if len(parts) == 3 else None)
        return await self._ping_slug(store, parts[0], parts[1], query, action, exit_status, meta)

    async def _ping_slug(self, store: Store, ping_key: str, slug: str,
                         query: dict[str, list[str]], action: str, exit_status: int | None,
                         meta: dict[str, Any]) -> tuple[int, str]:
        pid = await store.project_by_ping_key(ping_key)
        if pid is None:
            return 404, "not found"
        uuids = await store.uuids_by_slug(pid, slug)
        created = False
        if not uuids and query.get("create", ["0"])[0] == "1":
            config = create_params(slug, query, store.settings.min_timeout,
                                   store.settings.max_timeout)
            uuids, created = await store.create_by_slug(pid, slug, config)
        if not uuids:
            return 404, "not found"
        if len(uuids) > 1:
            return 409, "ambiguous slug"
        kind = await store.ping(uuids[0], action, exitstatus=exit_status, **meta)
        if kind is None:
            return 404, "not found"
        self._count(kind)
        return (201, "Created") if created else (200, "OK")


def create_params(slug: str, query: dict[str, list[str]], min_timeout: int,
                  max_timeout: int) -> dict[str, Any]:
    """The configuration of a check made by `?create=1`: healthchecks' defaults (period 1 day,
    grace 1 hour, every channel), overridden by `timeout`, `grace`, `schedule` and `tz`."""
    config: dict[str, Any] = {"name": slug, "slug": slug, "channels": "*"}
    for name in ("timeout", "grace"):
        if name in query:
            raw = query[name][0]
            if not raw.isdigit() or not min_timeout <= int(raw) <= max_timeout:
                raise BadPing(400, f"invalid {name}: must be {min_timeout}..{max_timeout} seconds")
            config[name] = int(raw)
    if "schedule" in query or "tz" in query:
        schedule = query.get("schedule", ["* * * * *"])[0]
        tz = query.get("tz", ["UTC"])[0]
        try:
            schedules.validate(schedule, tz)
        except schedules.ScheduleError as exc:
            field = "tz" if "timezone" in str(exc) else "schedule"
            raise BadPing(400, f"invalid {field}: {exc}") from None
        config.update(kind=schedules.schedule_kind(schedule), schedule=schedule, tz=tz)
    return config


def with_ping_path(app: ASGIApp, handler: PingHandler) -> ASGIApp:
    """Route `/ping/...` to the handler and everything else (lifespan included) to `app`."""

    async def router(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/ping/"):
            await handler(scope, receive, send)
        else:
            await app(scope, receive, send)

    return router
