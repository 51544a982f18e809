"""The Alertmanager channel against a real Alertmanager (v2 API): the alert appears with its
labels and annotations, stays active while the check is down for longer than the endsAt
horizon it was posted with, survives a notifier crash and an Alertmanager restart without
storage (Alertmanager keeps alerts in memory only: the re-post restores it), and resolves on
recovery. Plus the transport's request (auth, HA pair) against a recording receiver."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time

import pytest

from pingserver import keys
from pingserver.config import Settings
from pingserver.engine.channels import Alert, DeliveryError, PermanentError
from pingserver.engine.channels.alertmanager import AlertmanagerTransport
from pingserver.model import Check
from pingserver.store import Store, now_ms
from tests.support.engine import EngineProcess, EngineRedis, eventually
from tests.support.engine_fixtures import receiver, single_redis, sstore
from tests.support.monitoring import Alertmanager, alertmanager
from tests.support.receivers import HttpReceiver
from tests.support.redis_server import free_port
from tests.support.wait import wait_for

__all__ = ["alertmanager", "receiver", "single_redis", "sstore"]

pytestmark = pytest.mark.timeout(180)

RESEND = 1.0  # HB_ALERTMANAGER_RESEND in the worker: endsAt is 4 s ahead
SITE = "http://hb.example"


def parse(ts: str) -> float:
    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def worker(redis: EngineRedis, name: str) -> EngineProcess:
    return EngineProcess("worker", {**redis.env(), "HB_ALERTMANAGER_RESEND": str(RESEND),
                                    "HB_SITE_ROOT": SITE}, name).wait_started()


async def test_alert_lives_while_down_and_resolves(single_redis: EngineRedis, sstore: Store,
                                                   alertmanager: Alertmanager) -> None:
    project = await sstore.create_project("am")
    dead = f"http://127.0.0.1:{free_port()}"  # the other half of the HA pair is down
    channel = await sstore.save_channel(project.id, "alertmanager", "am", {
        "urls": [dead, alertmanager.url], "severity": "page", "labels": {"team": "data"}})
    saved = await sstore.save_check(project.id, {
        "name": "prod/nightly-backup", "slug": "nightly", "tags": "db prod", "timeout": 60,
        "grace": 60, "channels": channel["id"]})
    assert saved is not None
    check = saved[0]
    first = worker(single_redis, "am-1")
    second: EngineProcess | None = None
    try:
        now = now_ms()
        await sstore.ping(check.uuid, "success", at=now - 117_000)  # down at +3 s
        deadline = (now + 3000) / 1000
        alert = wait_for(lambda: alertmanager.alerts(slug="nightly"), 30, 0.2,
                         "the alert in Alertmanager")[0]
        assert alert["labels"] == {
            "alertname": "HeartbeatCheckDown", "check": "prod/nightly-backup",
            "slug": "nightly", "project": project.id, "namespace": "prod", "tags": "db prod",
            "severity": "page", "team": "data"}
        assert alert["annotations"]["ping_url"] == f"{SITE}/ping/{check.uuid}"
        assert alert["annotations"]["dashboard"] == f"{SITE}/dashboard/checks/{check.uuid}"
        assert alert["annotations"]["summary"] == "Check 'prod/nightly-backup' is down"
        assert alert["generatorURL"] == f"{SITE}/dashboard/checks/{check.uuid}"
        assert abs(parse(alert["startsAt"]) - deadline) < 1  # the flip time
        first_end = parse(alert["endsAt"])
        assert first_end - time.time() <= 4 * RESEND + 1  # the short horizon is in use

        # Past the endsAt it was first posted with, it is still active: re-posts extended it.
        def extended() -> dict[str, object] | None:
            found = alertmanager.alerts(slug="nightly")
            if time.time() > first_end + 1 and found:
                return found[0]
            return None

        later = wait_for(extended, 30, 0.2, "the alert still active after its first endsAt")
        assert parse(str(later["endsAt"])) > first_end

        # The notifier crashes and Alertmanager restarts without its storage: the next
        # notifier's re-post restores the alert (the firing state lives in Redis).
        first.kill()
        alertmanager.stop()
        alertmanager.wipe_storage()
        restarted = time.time()
        alertmanager.start()
        second = worker(single_redis, "am-2")
        back = wait_for(lambda: alertmanager.alerts(slug="nightly"), 30, 0.2,
                        "the alert restored after the restart")[0]
        assert parse(back["updatedAt"]) >= restarted - 1
        assert abs(parse(back["startsAt"]) - deadline) < 1  # still the original flip time

        # Recovery resolves it: same labels, endsAt now.
        await sstore.ping(check.uuid, "success")
        wait_for(lambda: not alertmanager.alerts(slug="nightly"), 30, 0.2, "the alert resolved")
        assert await sstore.r.zcard(keys.resend_key(keys.shard_of(check.uuid))) == 0
        log = await sstore.notifications(check.uuid)
        assert {(e["kind"], e["status"]) for e in log} == {("down", "ok"), ("up", "ok")}
    finally:
        first.kill()
        if second is not None:
            second.stop()


async def test_down_while_no_alertmanager_answers_is_delivered_later(
        single_redis: EngineRedis, sstore: Store, alertmanager: Alertmanager) -> None:
    """Alertmanager is down when the check flips: the delivery is retried until it is up."""
    alertmanager.stop()
    project = await sstore.create_project("am-late")
    channel = await sstore.save_channel(project.id, "alertmanager", "am",
                                        {"urls": [alertmanager.url]})
    saved = await sstore.save_check(project.id, {"name": "etl", "timeout": 60, "grace": 60,
                                                 "channels": channel["id"]})
    assert saved is not None
    proc = worker(single_redis, "am-late")
    try:
        await sstore.ping(saved[0].uuid, "success", at=now_ms() - 121_000)

        async def failed_once() -> bool:
            return any(e["status"] == "error" for e in await sstore.notifications(saved[0].uuid))

        await eventually(failed_once, timeout=30, message="a failed attempt")
        alertmanager.start()
        wait_for(lambda: alertmanager.alerts(check="etl"), 30, 0.2, "the retried alert")
    finally:
        proc.stop()


UUID = "0b0c1e3a-2d4f-4a5b-9c6d-7e8f90a1b2c3"


def down_alert(kind: str = "down") -> Alert:
    check = Check.from_hash(UUID, {"project": "p", "name": "etl", "slug": "etl",
                                   "status": "down", "namespace": "batch"})
    return Alert(flip_id="1700000000000-1", kind=kind, reason="timeout", ts=1700000000000,
                 downtime_ms=60_000 if kind == "up" else 0, rid="", check=check)


TRANSPORT = AlertmanagerTransport(Settings(allow_private_webhooks=True, site_root=SITE,
                                           alertmanager_resend=60))


def am_channel(*urls: str, **config: object) -> dict[str, object]:
    return {"id": "a1", "project": "p", "kind": "alertmanager", "name": "am",
            "config": {"urls": list(urls), **config}}


def test_request_shape_and_bearer_token(receiver: HttpReceiver) -> None:
    before = time.time()
    TRANSPORT.send(am_channel(receiver.url + "/am/", bearer_token="t0k"), down_alert(), 5)
    request = receiver.received("/am")[0]
    assert (request.method, request.path) == ("POST", "/am/api/v2/alerts")
    assert request.headers["Authorization"] == "Bearer t0k"
    assert request.headers["Content-Type"] == "application/json"
    [body] = json.loads(request.body)
    assert body["labels"]["namespace"] == "batch"  # the check's own field wins
    assert body["startsAt"] == "2023-11-14T22:13:20.000Z"
    assert 4 * 60 - 2 <= parse(body["endsAt"]) - before <= 4 * 60 + 2


def test_resolve_and_basic_auth(receiver: HttpReceiver) -> None:
    TRANSPORT.send(am_channel(receiver.url, username="hb", password="pw"), down_alert("up"), 5)
    request = receiver.received()[0]
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"hb:pw").decode()
    [body] = json.loads(request.body)
    assert body["startsAt"] == "2023-11-14T22:12:20.000Z"  # the flip minus the downtime
    assert abs(parse(body["endsAt"]) - time.time()) < 2  # resolved now


def test_ha_pair_succeeds_if_any_instance_accepts(receiver: HttpReceiver) -> None:
    receiver.rule("/bad", status=500)
    TRANSPORT.send(am_channel(receiver.url + "/bad", receiver.url + "/good"), down_alert(), 5)
    assert len(receiver.received("/good")) == 1 and len(receiver.received("/bad")) == 1
    with pytest.raises(DeliveryError) as failed:
        TRANSPORT.send(am_channel(receiver.url + "/bad", receiver.url + "/bad/2"),
                       down_alert(), 5)
    # Named by position, not URL: Alertmanager URLs may carry credentials.
    assert str(failed.value) == ("alertmanager 1: received status code 500; "
                                 "alertmanager 2: received status code 500")


def test_private_addresses_are_refused_for_good_without_the_guard_lifted(
        receiver: HttpReceiver) -> None:
    guarded = AlertmanagerTransport(Settings(allow_private_webhooks=False))
    with pytest.raises(PermanentError, match=r"^alertmanager 1: "):
        guarded.send(am_channel(receiver.url), down_alert(), 5)
    assert receiver.received() == []
