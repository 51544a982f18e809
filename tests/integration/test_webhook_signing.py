"""Signed webhooks (Standard Webhooks), verified with the `standardwebhooks` library as a
receiver would: one secret, two secrets during a rotation, the same webhook-id on a retry.
And channel configs through the API: bad ones are a 400 naming the field, and credentials
never come back in an answer."""

from __future__ import annotations

import base64
import json
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from pingserver.config import Settings
from pingserver.engine.channels import Alert, PermanentError
from pingserver.engine.channels.webhook import WebhookTransport
from pingserver.model import Check
from pingserver.store import ProjectKeys
from tests.conftest import PingServer
from tests.support.api import Api
from tests.support.engine_fixtures import receiver
from tests.support.receivers import HttpReceiver

__all__ = ["receiver"]

OLD = "whsec_" + base64.b64encode(b"o" * 32).decode()
NEW = "whsec_" + base64.b64encode(b"n" * 32).decode()
OTHER = "whsec_" + base64.b64encode(b"x" * 32).decode()
TRANSPORT = WebhookTransport(Settings(allow_private_webhooks=True))


def alert() -> Alert:
    check = Check.from_hash("0b0c1e3a-2d4f-4a5b-9c6d-7e8f90a1b2c3",
                            {"project": "p", "name": "etl", "status": "down"})
    return Alert(flip_id="1700000000000-7", kind="down", reason="timeout", ts=1700000000000,
                 downtime_ms=0, rid="", check=check)


def channel(url: str, secrets: list[str], method: str = "POST") -> dict[str, object]:
    return {"id": "w1", "project": "p", "kind": "webhook", "name": "hook", "config": {
        "secrets": secrets,
        "down": {"method": method, "url": url, "body": '{"check": $NAME_JSON}'}}}


def test_signature_verifies_with_the_library(receiver: HttpReceiver) -> None:
    TRANSPORT.send(channel(receiver.url + "/hook", [OLD]), alert(), timeout=5)
    request = receiver.received("/hook")[0]
    assert Webhook(OLD).verify(request.body, request.headers) == {"check": "etl"}
    assert request.headers["webhook-id"] == "1700000000000-7"  # the flip id: stable
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 5
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):  # a tampered body
        Webhook(OLD).verify(request.body + b" ", request.headers)


def test_rotation_signs_with_both_secrets(receiver: HttpReceiver) -> None:
    TRANSPORT.send(channel(receiver.url + "/hook", [OLD, NEW]), alert(), timeout=5)
    request = receiver.received("/hook")[0]
    parts = request.headers["webhook-signature"].split(" ")
    assert len(parts) == 2 and all(p.startswith("v1,") for p in parts)
    for secret in (OLD, NEW):  # receivers on either key accept it
        Webhook(secret).verify(request.body, request.headers, json_parse=False)


def test_get_requests_are_signed_over_an_empty_body(receiver: HttpReceiver) -> None:
    TRANSPORT.send(channel(receiver.url + "/hook", [NEW], method="GET"), alert(), timeout=5)
    request = receiver.received("/hook")[0]
    assert request.body == b""
    Webhook(NEW).verify(b"", request.headers, json_parse=False)


def test_retries_keep_the_id(receiver: HttpReceiver) -> None:
    receiver.rule("/flaky", status=500)
    with pytest.raises(Exception, match="500"):
        TRANSPORT.send(channel(receiver.url + "/flaky", [NEW]), alert(), timeout=5)
    receiver.rule("/flaky", status=200)
    TRANSPORT.send(channel(receiver.url + "/flaky", [NEW]), alert(), timeout=5)
    first, second = receiver.received("/flaky")
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    Webhook(NEW).verify(second.body, second.headers, json_parse=False)


def test_a_broken_stored_secret_fails_without_showing_it(receiver: HttpReceiver) -> None:
    with pytest.raises(PermanentError) as failed:
        TRANSPORT.send(channel(receiver.url + "/hook", ["whsec_!!secret!!"]), alert(), 5)
    assert "secret!!" not in str(failed.value)
    assert receiver.received() == []


@pytest.fixture
def api(pingserver: PingServer, keys: ProjectKeys) -> Api:
    return Api(pingserver.url, keys.api_key)


@pytest.mark.parametrize(("kind", "config", "reason"), [
    ("alertmanager", {}, "config.urls is missing"),
    ("alertmanager", {"urls": []}, "config.urls is missing"),
    ("alertmanager", {"urls": "http://am:9093"}, "config.urls is not an array"),
    ("alertmanager", {"urls": ["am:9093"]}, "config.urls[0] is not an http or https URL"),
    ("alertmanager", {"urls": ["http://am"], "labels": {"bad-name": "x"}},
     "config.labels.bad-name is not a valid label name"),
    ("alertmanager", {"urls": ["http://am"], "bearer_token": "t", "username": "u"},
     "config.bearer_token excludes username and password"),
    ("webhook", {"down": {"method": "POST"}}, "config.down.url is missing"),
    ("webhook", {"secrets": "whsec_x"}, "config.secrets is not an array of strings"),
    ("webhook", {"secrets": ["s3cret"]}, "config.secrets[0] does not start with whsec_"),
    ("webhook", {"secrets": [OLD, "whsec_c2hvcnQ="]},
     "config.secrets[1] must decode to 24 to 64 bytes"),
    ("webhook", {"secrets": [OLD, NEW, OTHER]}, "config.secrets has more than 2 items"),
])
def test_bad_channel_configs_are_a_400_naming_the_field(api: Api, kind: str,
                                                        config: dict[str, object],
                                                        reason: str) -> None:
    resp = api.post("/channels/", {"kind": kind, "name": "bad", "config": config})
    assert (resp.status_code, resp.json()) == (400, {"error": f"json validation error: {reason}"})
    assert api.get("/channels/").json() == {"channels": []}  # nothing written


def test_credentials_never_come_back(api: Api) -> None:
    hook = api.channel("webhook", "signed", secrets=[OLD],
                       down={"method": "POST", "url": "https://example.com/hook"})
    am = api.channel("alertmanager", "am", urls=["https://am.example"], password="pw-123",
                     username="hb", bearer_token="")
    fetched = [api.get(f"/channels/{c['id']}").json() for c in (hook, am)]
    for answer in [hook, am, *fetched]:
        text = json.dumps(answer)
        assert OLD not in text and "pw-123" not in text
    assert hook["config"]["secrets"] == ["<redacted>"]
    assert am["config"]["password"] == "<redacted>"
    # A rotation shows as a changed digest.
    rotated = api.post(f"/channels/{hook['id']}", {"config": {
        "down": {"method": "POST", "url": "https://example.com/hook"}, "secrets": [OLD, NEW]}})
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["config"]["secrets"] == ["<redacted>", "<redacted>"]
    assert rotated.json()["config_digest"] != hook["config_digest"]
    bad_update = api.post(f"/channels/{am['id']}", {"config": {"urls": []}})
    assert bad_update.json() == {"error": "json validation error: config.urls is missing"}
