"""Webhook transport against a real HTTP server: status codes, redirects, timeouts, and the
SSRF guard (before the request and on the connected socket)."""

from __future__ import annotations

import time

import pytest

from pingserver.config import Settings
from pingserver.engine.channels import Alert, DeliveryError
from pingserver.engine.channels.ssrf import BlockedAddress, session
from pingserver.engine.channels.webhook import WebhookTransport
from pingserver.model import Check
from tests.support.engine_fixtures import receiver
from tests.support.receivers import HttpReceiver

__all__ = ["receiver"]

UUID = "0b0c1e3a-2d4f-4a5b-9c6d-7e8f90a1b2c3"


def alert() -> Alert:
    check = Check.from_hash(UUID, {"project": "p", "name": "etl", "status": "down"})
    return Alert(flip_id="1700000000000-1", kind="down", reason="fail", ts=1700000000000,
                 downtime_ms=0, rid="", check=check)


def channel(url: str, method: str = "POST") -> dict[str, object]:
    return {"id": "w1", "project": "p", "kind": "webhook", "name": "hook",
            "config": {"down": {"method": method, "url": url, "body": "$NAME is $STATUS"}}}


OPEN = WebhookTransport(Settings(allow_private_webhooks=True))
GUARDED = WebhookTransport(Settings(allow_private_webhooks=False))


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_success_codes(receiver: HttpReceiver, status: int) -> None:
    receiver.rule("/ok", status=status)
    OPEN.send(channel(receiver.url + "/ok"), alert(), timeout=5)
    request = receiver.received("/ok")[0]
    assert (request.method, request.body) == ("POST", b"etl is down")
    assert request.headers["Idempotency-Key"] == "1700000000000-1"


@pytest.mark.parametrize("status", [301, 400, 404, 500, 503])
def test_other_codes_fail(receiver: HttpReceiver, status: int) -> None:
    receiver.rule("/bad", status=status)  # a 301 without Location is an error too
    with pytest.raises(DeliveryError, match=f"received status code {status}"):
        OPEN.send(channel(receiver.url + "/bad"), alert(), timeout=5)


def test_redirects_are_followed_up_to_three(receiver: HttpReceiver) -> None:
    receiver.rule("/a", status=307, location="/b")  # 307 keeps the method and body
    receiver.rule("/b", status=302, location=receiver.url + "/c")  # 302 after POST: GET
    receiver.rule("/c", status=308, location="/done")
    OPEN.send(channel(receiver.url + "/a"), alert(), timeout=5)
    seen = [(r.method, r.path, r.body) for r in receiver.received()]
    assert seen == [("POST", "/a", b"etl is down"), ("POST", "/b", b"etl is down"),
                    ("GET", "/c", b""), ("GET", "/done", b"")]
    receiver.rule("/loop", status=302, location="/loop")
    with pytest.raises(DeliveryError, match="more than 3 redirects"):
        OPEN.send(channel(receiver.url + "/loop"), alert(), timeout=5)
    assert len(receiver.received("/loop")) == 4


def test_a_hung_receiver_times_out(receiver: HttpReceiver) -> None:
    receiver.rule("/hang", hang=True)
    began = time.monotonic()
    with pytest.raises(DeliveryError, match="timed out"):
        OPEN.send(channel(receiver.url + "/hang"), alert(), timeout=1)
    assert time.monotonic() - began < 3


def test_refused_connection(receiver: HttpReceiver) -> None:
    url = receiver.url + "/x"
    receiver.stop()
    with pytest.raises(DeliveryError, match="connection failed"):
        OPEN.send(channel(url), alert(), timeout=2)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "10.0.0.1",
                                  "169.254.169.254"])
def test_private_targets_are_refused(receiver: HttpReceiver, host: str) -> None:
    with pytest.raises(BlockedAddress):
        GUARDED.send(channel(f"http://{host}:{receiver.port}/x"), alert(), timeout=2)
    assert receiver.received() == []


def test_the_connected_address_is_checked_too(receiver: HttpReceiver) -> None:
    # As if DNS had answered differently between the check and the connect (rebinding):
    # the guarded session refuses the socket itself.
    with pytest.raises(BlockedAddress):
        session(allow_private=False).get(receiver.url + "/direct", timeout=2)
    assert receiver.received() == []
    assert session(allow_private=True).get(receiver.url + "/direct", timeout=2).ok
