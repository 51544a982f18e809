"""End to end, as healthchecks users know it: a check with timeout 60 s and grace 60 s and
a webhook and an email channel; pings stop; `hb worker` (a real process) flips the check
down at its deadline and the alerts arrive; a ping brings it up and the recovery alerts
carry the downtime. Runs on a single Redis and on a Redis Cluster."""

from __future__ import annotations

import asyncio
import json

import pytest

from pingserver.store import Store, now_ms
from tests.support.engine import EngineProcess, EngineRedis, eventually
from tests.support.engine_fixtures import engine_redis, estore, receiver, smtp
from tests.support.receivers import HttpReceiver, SmtpReceiver

__all__ = ["engine_redis", "estore", "receiver", "smtp"]

pytestmark = pytest.mark.timeout(120)


async def test_down_and_recovery_alerts(engine_redis: EngineRedis, estore: Store,
                                        receiver: HttpReceiver, smtp: SmtpReceiver) -> None:
    project = await estore.create_project("e2e")
    hook = await estore.save_channel(project.id, "webhook", "hook", {
        "down": {"method": "POST", "url": receiver.url + "/down/$CODE?tag=$TAG1",
                 "body": '{"check": $JSON, "body": $BODY_JSON, "name": $NAME_JSON}',
                 "headers": {"Content-Type": "application/json", "X-Status": "$STATUS"}},
        "up": {"method": "GET", "url": receiver.url + "/up/$NAME?downtime=$DOWNTIME"}})
    mail = await estore.save_channel(project.id, "email", "ops", {"to": "ops@example.com"})
    saved = await estore.save_check(project.id, {
        "name": "nightly backup", "slug": "backup", "tags": "prod db", "timeout": 60,
        "grace": 60, "channels": f"{hook['id']},{mail['id']}"})
    assert saved is not None
    check = saved[0]

    worker = EngineProcess("worker", {**engine_redis.env(), "HB_SMTP_HOST": "127.0.0.1",
                                      "HB_SMTP_PORT": str(smtp.port),
                                      "HB_SMTP_STARTTLS": "0"}, "e2e-worker").wait_started()
    try:
        # The last ping was 117 s ago: late since 57 s, down at +3 s.
        now = now_ms()
        await estore.ping(check.uuid, "success", body=b"dump ok: 42 tables", at=now - 117_000)
        deadline = (now + 3000) / 1000

        down = (await asyncio.to_thread(receiver.wait_for, 1, "/down/", timeout=30))[0]
        assert down.path == f"/down/{check.uuid}?tag=prod"
        assert down.at >= deadline  # never before the deadline
        assert down.at - deadline < 5  # about a second after it (the sweep interval is 0.1 s)
        payload = json.loads(down.body)
        assert payload["check"]["name"] == "nightly backup"
        assert payload["check"]["status"] == "down"
        assert payload["body"] == "dump ok: 42 tables"
        assert down.headers["X-Status"] == "down"
        assert down.headers["Idempotency-Key"] == down.headers["X-Heartbeat-Flip-Id"]
        email = (await asyncio.to_thread(smtp.wait_for, 1))[0]
        assert email.rcpt_tos == ["ops@example.com"]
        assert b"Subject: DOWN | nightly backup" in email.content
        assert b"dump ok: 42 tables" in email.content

        # A ping 30 s after the deadline (simulated): the check recovers.
        await estore.ping(check.uuid, "success", at=int(deadline * 1000) + 30_000)
        up = (await asyncio.to_thread(receiver.wait_for, 1, "/up/", timeout=30))[0]
        assert up.path == "/up/nightly%20backup?downtime=30"
        emails = await asyncio.to_thread(smtp.wait_for, 2)
        assert b"Subject: UP | nightly backup" in emails[1].content
        assert b"Downtime: 30 seconds" in emails[1].content

        async def logged() -> set[tuple[str, str, str]]:
            log = await estore.notifications(check.uuid)
            seen = {(e["kind"], e["channel_kind"], e["status"]) for e in log}
            return seen if len(log) == 4 else set()

        assert await eventually(logged) == {
            ("down", "webhook", "ok"), ("down", "email", "ok"), ("up", "webhook", "ok"),
            ("up", "email", "ok")}
        # No further alerts: the late flip before the down one stayed quiet.
        assert len(receiver.received()) == 2
    finally:
        assert worker.stop() == 0, worker.output()[-2000:]
