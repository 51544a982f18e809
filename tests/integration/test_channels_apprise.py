"""Apprise channel for real: a `json://` URL makes Apprise POST its JSON notification to the
local HTTP receiver. Also its failure path and the SSRF guard on generic HTTP schemes."""

from __future__ import annotations

import json

import pytest

from pingserver.config import Settings
from pingserver.engine.channels import Alert, DeliveryError, PermanentError
from pingserver.engine.channels.apprise import AppriseTransport
from pingserver.engine.channels.ssrf import BlockedAddress
from pingserver.model import Check
from tests.support.engine_fixtures import receiver
from tests.support.receivers import HttpReceiver

__all__ = ["receiver"]

UUID = "0b0c1e3a-2d4f-4a5b-9c6d-7e8f90a1b2c3"


def alert(kind: str = "down") -> Alert:
    check = Check.from_hash(UUID, {"project": "p", "name": "etl", "status": kind})
    return Alert(flip_id="1-0", kind=kind, reason="fail", ts=1700000000000, downtime_ms=0,
                 rid="", check=check)


def channel(*urls: str) -> dict[str, object]:
    return {"id": "a1", "project": "p", "kind": "apprise", "name": "apprise",
            "config": {"urls": list(urls)}}


def test_json_notification_reaches_the_receiver(receiver: HttpReceiver) -> None:
    port = receiver.port
    transport = AppriseTransport(Settings(allow_private_webhooks=True))
    transport.send(channel(f"json://127.0.0.1:{port}/apprise"), alert(), timeout=10)
    request = receiver.wait_for(1, "/apprise")[0]
    payload = json.loads(request.body)
    assert payload["title"] == "DOWN | etl"
    assert "received a failure signal" in payload["message"]
    assert payload["type"] == "failure"


def test_receiver_error_is_a_delivery_error(receiver: HttpReceiver) -> None:
    receiver.rule("/broken", status=500)
    transport = AppriseTransport(Settings(allow_private_webhooks=True))
    url = f"json://127.0.0.1:{receiver.port}/broken?token=secret"
    with pytest.raises(DeliveryError) as failure:
        transport.send(channel(url), alert(), timeout=10)
    assert "secret" not in str(failure.value)
    assert len(receiver.received("/broken")) >= 1


def test_private_targets_are_refused_without_the_setting(receiver: HttpReceiver) -> None:
    transport = AppriseTransport(Settings(allow_private_webhooks=False))
    with pytest.raises(BlockedAddress):
        transport.send(channel(f"json://127.0.0.1:{receiver.port}/x"), alert(), timeout=5)
    assert receiver.received() == []
    with pytest.raises(PermanentError, match="invalid Apprise URL"):
        AppriseTransport(Settings(allow_private_webhooks=True)).send(
            channel("nonsense-scheme://x"), alert(), timeout=5)
