"""The operator against a real control plane, a real ping server, `hb worker` and a real
webhook receiver: a HeartbeatCheck is registered, pinged up, goes down when pings stop (a
Warning Event and a webhook alert), pauses, is refused or recovers, and is deleted or kept."""

from __future__ import annotations

import datetime as dt
import json
import uuid as uuidlib
from pathlib import Path

import pytest
import requests
from kubernetes import client

from hb_controlplane.cluster import ControlPlane
from hb_controlplane.wait import wait_for
from heartbeat_operator import constants, spec
from tests.k8s.test_operator_harness import (
    API_KEY,
    PING_KEY,
    Kube,
    Stack,
    StartOperator,
    condition,
    crds,
    expected_uuid,
    is_ready,
    minutes_ago,
    stack,
    start_operator,
    write_yaml,
)

__all__ = ["crds", "stack", "start_operator"]

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(240)]

CHECKS, CHANNELS = constants.CHECK_PLURAL, constants.CHANNEL_PLURAL


def test_check_is_registered_goes_up_and_down_and_alerts(
        start_operator: StartOperator, stack: Stack, crds: ControlPlane,
        kube_api: client.ApiClient, namespace: str, tmp_path: Path) -> None:
    kube = Kube(kube_api, namespace)
    operator = start_operator("--standalone")
    token = uuidlib.uuid4().hex  # a secret value that must never leak
    kube.secret("hooks", {"url": f"{stack.receiver.url}/hook/{token}",
                          "auth": f"Bearer {token}"})
    manifest = write_yaml(
        tmp_path / "backup.yaml",
        {"apiVersion": "heartbeat.dev/v1alpha1", "kind": "AlertChannel",
         "metadata": {"name": "ops-hook"},
         "spec": {"kind": "webhook", "webhook": {"down": {
             "url": {"secretKeyRef": {"name": "hooks", "key": "url"}},
             "body": "$NAME is $STATUS",
             "headers": [{"name": "Authorization",
                          "secretKeyRef": {"name": "hooks", "key": "auth"}}]}}}},
        {"apiVersion": "heartbeat.dev/v1alpha1", "kind": "HeartbeatCheck",
         "metadata": {"name": "backup"},
         "spec": {"period": "1m", "grace": "1m", "channels": ["ops-hook"],
                  "tags": ["prod", "db"], "description": "nightly backup"}})
    crds.kubectl("apply", "-n", namespace, "-f", str(manifest))

    # Registered: the ping URL carries the UUID derived from the cluster secret.
    status = kube.wait_status(CHECKS, "backup", lambda s: is_ready(s) and s.get("channels"),
                              "Ready with its channel")
    uuid = expected_uuid(namespace, "backup")
    assert status["checkID"] == uuid
    assert status["pingURL"] == f"{stack.url}/ping/{uuid}"
    assert status["slugURL"] == f"{stack.url}/ping/$(HB_PING_KEY)/{namespace}_backup"
    assert status["state"] == "new"
    assert status["schedule"] == "every 1m"
    assert status["channels"] == ["ops-hook"]
    channel = kube.wait_status(CHANNELS, "ops-hook", lambda s: s.get("ready"), "ready")
    server = stack.check(uuid)
    assert server is not None
    assert (server["name"], server["timeout"], server["grace"]) == (f"{namespace}/backup", 60,
                                                                   60)
    assert server["tags"] == "prod db"
    assert server["channels"] == channel["channelID"]
    ping_secret = client.CoreV1Api(kube_api).read_namespaced_secret(
        constants.PING_KEY_SECRET, namespace)
    assert ping_secret.data is not None
    assert "pingKey" in ping_secret.data

    # A ping: up, with an Event.
    assert requests.get(status["pingURL"], timeout=10).text == "OK"
    status = kube.wait_status(CHECKS, "backup", lambda s: s.get("state") == "up", "up")
    assert condition(status, "Healthy")["status"] == "True"
    assert kube.wait_event("backup", "CheckUp").type == "Normal"

    # Pings stop (the last one 117 s ago, as far as the ping server knows): down, a Warning
    # Event and the webhook alert with the header from the Secret.
    stack.ping_at(uuid, minutes_ago(117 / 60))
    status = kube.wait_status(CHECKS, "backup", lambda s: s.get("state") == "down", "down")
    assert condition(status, "Healthy")["status"] == "False"
    assert status["lastFlip"]
    down = kube.wait_event("backup", "CheckDown")
    assert down.type == "Warning"
    alert = stack.receiver.wait_for(1, f"/hook/{token}", timeout=30)[0]
    assert alert.headers["Authorization"] == f"Bearer {token}"
    assert alert.body.decode() == f"{namespace}/backup is down"

    # kubectl answers "is everything fine?"
    table = crds.kubectl("get", "heartbeatchecks", "-n", namespace)
    header, row = table.splitlines()[:2]
    assert header.split()[:5] == ["NAME", "STATE", "SCHEDULE", "LAST", "PING"]
    assert row.split()[:4] == ["backup", "down", "every", "1m"]
    wide = crds.kubectl("get", "hbc", "-n", namespace, "-o", "wide")
    assert "PING URL" in wide and status["pingURL"] in wide and "NEXT DEADLINE" in wide
    described = crds.kubectl("describe", "heartbeatcheck", "backup", "-n", namespace)
    assert "CheckDown" in described and "Ready" in described
    assert "hbc" in crds.kubectl("api-resources", "--api-group=heartbeat.dev")

    # No secret value in status, Events or the operator's log.
    events = [e.message for name in ("backup", "ops-hook") for e in kube.events(name)]
    for text in (json.dumps(kube.get(CHECKS, "backup")), json.dumps(kube.get(CHANNELS,
                                                                             "ops-hook")),
                 json.dumps(events), operator.output()):
        assert token not in text
        assert PING_KEY not in text

    # Deleted: gone from the ping server as well.
    kube.delete(CHECKS, "backup")
    kube.wait_gone(CHECKS, "backup")
    wait_for(lambda: stack.check(uuid) is None, 30, 0.2, "the check deleted on the ping server")


def test_retain_keeps_the_check_and_reapplying_keeps_the_url(
        start_operator: StartOperator, stack: Stack, kube_api: client.ApiClient,
        namespace: str) -> None:
    kube = Kube(kube_api, namespace)
    start_operator("--standalone")
    kube.create(CHECKS, "keep", {"period": "5m", "deletionPolicy": "Retain"})
    first = kube.wait_status(CHECKS, "keep", is_ready, "Ready")
    kube.delete(CHECKS, "keep")
    kube.wait_gone(CHECKS, "keep")
    assert stack.check(first["checkID"]) is not None  # Retain: still on the ping server

    kube.create(CHECKS, "keep", {"period": "5m"})
    again = kube.wait_status(CHECKS, "keep", is_ready, "Ready again")
    assert again["pingURL"] == first["pingURL"]
    assert [c["slug"] for c in stack.checks()].count(f"{namespace}_keep") == 1
    kube.delete(CHECKS, "keep")  # Delete (the default) this time
    wait_for(lambda: stack.check(first["checkID"]) is None, 30, 0.2, "check deleted")


def test_pause_and_resume_follow_the_spec(start_operator: StartOperator, stack: Stack,
                                          kube_api: client.ApiClient, namespace: str) -> None:
    kube = Kube(kube_api, namespace)
    start_operator("--standalone")
    kube.create(CHECKS, "nightly", {"schedule": "0 3 * * *", "timeZone": "Europe/Berlin",
                                    "paused": True})
    status = kube.wait_status(CHECKS, "nightly", lambda s: is_ready(s)
                              and s.get("state") == "paused", "Ready and paused")
    check = stack.check(status["checkID"])
    assert check is not None
    assert (check["status"], check["schedule"], check["tz"]) == ("paused", "0 3 * * *",
                                                                 "Europe/Berlin")
    kube.patch_spec(CHECKS, "nightly", {"paused": False})
    kube.wait_status(CHECKS, "nightly", lambda s: s.get("state") == "new", "resumed")
    check = stack.check(status["checkID"])
    assert check is not None and check["status"] == "new"


def test_a_spec_only_the_ping_server_can_refuse_is_reported_once(
        start_operator: StartOperator, stack: Stack, kube_api: client.ApiClient,
        namespace: str) -> None:
    """An unknown time zone passes the schema; the ping server refuses it (400). The object
    shows Ready=False with the reason and gets one Warning Event; nothing retries until the
    spec changes; fixing the spec fixes the object."""
    kube = Kube(kube_api, namespace)
    operator = start_operator("--standalone")
    kube.create(CHECKS, "mars", {"schedule": "0 3 * * *", "timeZone": "Mars/Olympus"})
    status = kube.wait_status(CHECKS, "mars", lambda s: condition(s, "Ready").get("reason")
                              == "InvalidSpec", "Ready=False InvalidSpec")
    ready = condition(status, "Ready")
    assert ready["status"] == "False"
    assert "tz is not a valid timezone" in ready["message"]
    assert "pingURL" not in status
    warning = kube.wait_event("mars", "InvalidSpec")
    assert warning.type == "Warning" and "timezone" in str(warning.message)

    # No retry storm: two drift-repair rounds later (every 3 s here) there was still exactly
    # one attempt and one Event, and the ping server has no such check.
    failed_at = dt.datetime.fromisoformat(str(ready["lastTransitionTime"]).replace("Z",
                                                                                 "+00:00"))

    def drift_rounds_since_failure() -> bool:
        seen = ((operator.probe() or {}).get("background") or {}).get("last_drift_at")
        return bool(seen) and dt.datetime.fromisoformat(
            str(seen).replace("Z", "+00:00")) >= failed_at + dt.timedelta(seconds=7)

    wait_for(drift_rounds_since_failure, 45, 0.5, "two drift repair rounds")
    assert stack.check(expected_uuid(namespace, "mars")) is None
    assert operator.output().count(f"[{namespace}/mars] Handler 'check_upsert' failed") == 1
    invalid = [e for e in kube.events("mars") if e.reason == "InvalidSpec"]
    assert len(invalid) == 1 and (invalid[0].count or 1) == 1

    kube.patch_spec(CHECKS, "mars", {"timeZone": "Europe/Berlin"})
    status = kube.wait_status(CHECKS, "mars", is_ready, "Ready after the fix")
    check = stack.check(status["checkID"])
    assert check is not None and check["tz"] == "Europe/Berlin"


def test_channel_waits_for_its_secret_and_the_check_follows(
        start_operator: StartOperator, stack: Stack, kube_api: client.ApiClient,
        namespace: str) -> None:
    kube = Kube(kube_api, namespace)
    start_operator("--standalone")
    kube.create(CHANNELS, "pager", {"kind": "apprise", "apprise": {"urls": [
        {"secretKeyRef": {"name": "apprise", "key": "url"}}]}}, labels={"team": "a"})
    kube.create(CHECKS, "sync", {"period": "10m", "channelSelector": {
        "matchLabels": {"team": "a"}}})

    channel = kube.wait_status(CHANNELS, "pager", lambda s: condition(s, "Ready").get(
        "reason") == "SecretNotFound", "SecretNotFound")
    assert channel["ready"] is False
    assert f"Secret {namespace}/apprise not found" in channel["lastError"]
    assert kube.wait_event("pager", "SecretNotFound").type == "Warning"
    check = kube.wait_status(CHECKS, "sync", lambda s: condition(s, "Ready").get("reason")
                             == "ChannelsNotReady", "waiting for its channel")
    assert check["pingURL"]  # pings work meanwhile; only the alerts are missing

    kube.secret("apprise", {"url": "json://127.0.0.1:9/never"})
    channel = kube.wait_status(CHANNELS, "pager", lambda s: s.get("ready") is True,
                               "ready once the Secret exists")
    check = kube.wait_status(CHECKS, "sync", is_ready, "Ready with the channel")
    assert check["channels"] == ["pager"]
    server = stack.check(check["checkID"])
    assert server is not None and server["channels"] == channel["channelID"]
    server_channel = stack.channel(channel["channelID"])
    assert server_channel is not None
    assert server_channel["config"] == {"urls": ["<redacted>"]}  # write-only
    assert server_channel["config_digest"] == spec.config_digest(
        API_KEY, {"urls": ["json://127.0.0.1:9/never"]})
    assert server_channel["name"] == f"k8s:{namespace}/pager"
