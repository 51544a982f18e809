"""Alertmanager channel: the check's alert posted to Alertmanager's v2 API.

Config: {"urls": ["http://alertmanager:9093"], "severity": "critical", "labels": {...},
"username": "...", "password": "...", "bearer_token": "..."}. Every URL gets every alert
(Alertmanager's HA instances do not share received alerts; clients must send to all); a
delivery succeeds when at least one instance accepted it, and the re-posts below bring an
instance that missed it up to date.

Alertmanager resolves an alert whose endsAt has passed, and it keeps alerts in memory only.
So a firing alert is posted with endsAt = now + HORIZON_FACTOR x HB_ALERTMANAGER_RESEND and
re-posted every HB_ALERTMANAGER_RESEND seconds while the check stays down (Prometheus' own
rhythm: endsAt four resend intervals ahead, so three lost re-posts are survived). Which
alerts are firing lives in Redis (keys.resend_key, one sorted set per shard scored by the next
re-post), not in a notifier: any notifier claims the due entries atomically (claim_resend.lua),
so a restarted notifier, a second notifier and a restarted Alertmanager all converge on the
check's state at the next re-post. A recovery posts the same labels with endsAt = now.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.exceptions import RedisError

from pingserver.config import Settings
from pingserver.engine.channels import Alert, DeliveryError, PermanentError, iso
from pingserver.engine.channels.templates import REASONS
from pingserver.engine.channels.webhook import WebhookTransport
from pingserver.engine.util import pause
from pingserver.model import Check
from pingserver.store import Store, now_ms

log = logging.getLogger("hb.alertmanager")

KIND = "alertmanager"
ALERTNAME = "HeartbeatCheckDown"
HORIZON_FACTOR = 4
CLAIM_BATCH = 200
API_PATH = "/api/v2/alerts"

Send = Callable[[dict[str, Any], Alert], Awaitable[None]]


def namespace_of(check: Check) -> str:
    """The Kubernetes namespace of an operator-managed check: its own field, or the part of
    its name before '/' (the operator names checks "<namespace>/<name>")."""
    if check.config.get("namespace"):
        return str(check.config["namespace"])
    name = str(check.config["name"])
    return name.split("/", 1)[0] if "/" in name else ""


def labels(config: dict[str, Any], check: Check) -> dict[str, str]:
    """The alert's identity in Alertmanager: the same on every re-post and on the resolve.
    Empty values are left out (Alertmanager treats them as absent anyway)."""
    out = {str(k): str(v) for k, v in (config.get("labels") or {}).items()}
    out.update({
        "alertname": ALERTNAME,
        "check": str(check.config["name"]),
        "slug": str(check.config["slug"]),
        "project": check.project,
        "namespace": namespace_of(check),
        "tags": str(check.config["tags"]),
        "severity": str(config.get("severity") or "critical"),
    })
    return {k: v for k, v in out.items() if v}


def alert_body(config: dict[str, Any], alert: Alert, *, site_root: str, now: int,
               horizon_ms: int) -> list[dict[str, Any]]:
    """The POST body: one alert, firing until now + horizon, or resolved now on "up"."""
    check = alert.check
    dashboard = f"{site_root}/dashboard/checks/{check.uuid}"
    firing = alert.kind != "up"
    starts = alert.ts if firing else alert.ts - alert.downtime_ms
    reason = REASONS.get(alert.reason, "") if firing else "the check is up again"
    description = f"{reason or 'the check is down'}; last ping {iso(check.last_ping) or 'never'}"
    return [{
        "labels": labels(config, check),
        "annotations": {"summary": f"Check {check.config['name']!r} is down",
                        "description": description,
                        "ping_url": f"{site_root}/ping/{check.uuid}",
                        "dashboard": dashboard},
        "generatorURL": dashboard,
        "startsAt": _rfc3339(min(starts or now, now)),
        "endsAt": _rfc3339(now + horizon_ms if firing else now),
    }]


def _rfc3339(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def auth_headers(config: dict[str, Any]) -> dict[str, str]:
    if config.get("bearer_token"):
        return {"Authorization": f"Bearer {config['bearer_token']}"}
    if config.get("username"):
        pair = f"{config['username']}:{config.get('password') or ''}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    return {}


def urls(config: dict[str, Any]) -> list[str]:
    raw = config.get("urls") or []
    return [str(u).strip().rstrip("/") for u in raw if str(u).strip()]


class AlertmanagerTransport:
    def __init__(self, settings: Settings) -> None:
        self.http = WebhookTransport(settings)  # its guarded, bounded request
        self.site_root = settings.site_root
        self.horizon_ms = int(HORIZON_FACTOR * settings.alertmanager_resend * 1000)

    def wants(self, config: dict[str, Any], kind: str) -> bool:
        return kind in ("down", "up") and bool(urls(config))

    def needs_last_ping(self, config: dict[str, Any]) -> bool:
        return False

    def send(self, channel: dict[str, Any], alert: Alert, timeout: float) -> None:
        config = channel.get("config") or {}
        body = json.dumps(alert_body(config, alert, site_root=self.site_root, now=now_ms(),
                                     horizon_ms=self.horizon_ms)).encode()
        headers = {"Content-Type": "application/json", **auth_headers(config)}
        deadline = time.monotonic() + timeout
        errors: list[str] = []
        permanent = True
        targets = urls(config)
        for i, url in enumerate(targets, start=1):
            try:
                self._post(url + API_PATH, headers, body, deadline, timeout)
            except DeliveryError as exc:
                errors.append(f"alertmanager {i}: {exc}")  # by position: URLs may hold tokens
                permanent = permanent and isinstance(exc, PermanentError)
        if len(errors) == len(targets):
            raise (PermanentError if permanent else DeliveryError)("; ".join(errors))
        if errors:
            log.warning("channel %s: %s (delivered to the others)", channel.get("id"),
                        "; ".join(errors))

    def _post(self, url: str, headers: dict[str, str], body: bytes, deadline: float,
              timeout: float) -> None:
        response = self.http.once("POST", url, headers, body, deadline, timeout)
        if response.status_code != 200:
            raise DeliveryError(f"received status code {response.status_code}")


class Resender:
    """Keeps firing Alertmanager alerts alive: remembers them in Redis when delivered and
    re-posts the check's current state (still down: firing; otherwise: resolved) when due."""

    def __init__(self, store: Store, settings: Settings, shards: Sequence[int],
                 send: Send) -> None:
        self.store = store
        self.shards = list(shards)
        self.send = send
        self.interval_ms = int(settings.alertmanager_resend * 1000)

    async def delivered(self, alert: Alert, channel: dict[str, Any]) -> None:
        """After a delivery: a firing alert is due for its re-post, a resolved one is done."""
        if channel.get("kind") != KIND:
            return
        cid = str(channel["id"])
        if alert.kind == "up":
            await self.store.drop_resend(alert.check.uuid, cid)
        else:
            await self.store.schedule_resend(alert.check.uuid, cid, now_ms() + self.interval_ms)

    async def run(self, stopping: asyncio.Event) -> None:
        every = min(1.0, self.interval_ms / 4000)
        while not await pause(stopping, every):
            try:
                for shard in self.shards:
                    await self.resend_due(shard)
            except RedisError as exc:
                log.warning("alertmanager re-posts: Redis error: %s", exc)

    async def resend_due(self, shard: int) -> int:
        now = now_ms()
        due = await self.store.claim_resends(shard, now, now + self.interval_ms, CLAIM_BATCH)
        await asyncio.gather(*(self._resend(member) for member in due))
        return len(due)

    async def _resend(self, member: str) -> None:
        uuid, _, cid = member.partition(" ")
        check = await self.store.get_check(uuid)
        channel = await self.store.get_channel(cid)
        if (check is None or channel is None or channel.get("kind") != KIND
                or cid not in check.channel_ids):
            # Deleted or unassigned: nothing to post to or about; Alertmanager resolves the
            # alert itself when its endsAt passes.
            await self.store.drop_resend(uuid, cid)
            return
        down = check.status == "down"
        alert = Alert(flip_id=f"resend-{now_ms()}", kind="down" if down else "up",
                      reason="repeat" if down else "success",
                      ts=check.down_since or check.last_flip if down else now_ms(),
                      downtime_ms=(now_ms() - check.down_since) if not down and
                      check.down_since else 0, rid="", check=check)
        try:
            await self.send(channel, alert)
        except DeliveryError as exc:
            log.warning("channel %s: re-post of check %s failed: %s", cid, check.config["name"],
                        exc)
            return  # claimed for the next interval already: retried then
        except Exception:  # a transport bug must not end the re-post loop
            log.exception("channel %s: re-post of check %s crashed", cid, check.config["name"])
            return
        if not down:
            await self.store.drop_resend(uuid, cid)
