"""Email channel against a real SMTP server (aiosmtpd on loopback): plain SMTP, STARTTLS
with a self-signed certificate and login, and the refusal to send credentials in clear."""

from __future__ import annotations

import email
from email import policy

import pytest

from pingserver.config import Settings
from pingserver.engine.channels import Alert, DeliveryError, PermanentError
from pingserver.engine.channels.email import EmailTransport
from pingserver.model import Check
from tests.support.receivers import SmtpReceiver

UUID = "0b0c1e3a-2d4f-4a5b-9c6d-7e8f90a1b2c3"


def alert(kind: str = "down", downtime_ms: int = 0) -> Alert:
    check = Check.from_hash(UUID, {"project": "p", "name": "nightly backup", "tags": "prod",
                                   "status": kind, "last_ping": "1700000000000"})
    return Alert(flip_id="1700000000000-7", kind=kind,
                 reason="timeout" if kind == "down" else "success", ts=1700000100000,
                 downtime_ms=downtime_ms, rid="", check=check, last_ping_body=b"42 rows")


def channel(**config: object) -> dict[str, object]:
    return {"id": "c1", "project": "p", "kind": "email", "name": "ops",
            "config": {"to": "ops@example.com, oncall@example.com", **config}}


def test_plain_smtp_delivery() -> None:
    server = SmtpReceiver().start()
    try:
        transport = EmailTransport(Settings(smtp_host="127.0.0.1", smtp_port=server.port,
                                            smtp_starttls=False, smtp_from="hb@example.com"))
        transport.send(channel(), alert("up", downtime_ms=3_720_000), timeout=5)
        mail = server.wait_for(1)[0]
    finally:
        server.stop()
    assert mail.mail_from == "hb@example.com"
    assert mail.rcpt_tos == ["ops@example.com", "oncall@example.com"]
    assert not mail.tls
    message = email.message_from_bytes(mail.content, policy=policy.default)
    assert message["Subject"] == "UP | nightly backup"
    assert message["X-Heartbeat-Flip-Id"] == "1700000000000-7"
    body = message.get_content()
    assert "Downtime: 1 hour 2 minutes" in body
    assert "42 rows" in body


def test_starttls_and_login(monkeypatch: pytest.MonkeyPatch) -> None:
    server = SmtpReceiver(starttls=True, login=("alerts", "s3cret")).start()
    assert server.cert is not None
    monkeypatch.setenv("SSL_CERT_FILE", str(server.cert))  # trust the self-signed cert
    try:
        transport = EmailTransport(Settings(smtp_host="127.0.0.1", smtp_port=server.port,
                                            smtp_user="alerts", smtp_password="s3cret"))
        transport.send(channel(), alert(), timeout=5)
        mail = server.wait_for(1)[0]
        assert mail.tls and mail.login == "alerts"

        wrong = EmailTransport(Settings(smtp_host="127.0.0.1", smtp_port=server.port,
                                        smtp_user="alerts", smtp_password="nope"))
        with pytest.raises(PermanentError, match="SMTP error 535") as failure:
            wrong.send(channel(), alert(), timeout=5)
        assert "nope" not in str(failure.value)
    finally:
        server.stop()


def test_no_credentials_without_starttls() -> None:
    server = SmtpReceiver().start()  # offers no STARTTLS
    try:
        transport = EmailTransport(Settings(smtp_host="127.0.0.1", smtp_port=server.port,
                                            smtp_user="alerts", smtp_password="s3cret"))
        with pytest.raises(DeliveryError, match="STARTTLS"):
            transport.send(channel(), alert(), timeout=5)
        assert server.messages == []
    finally:
        server.stop()


def test_unconfigured_or_unwanted() -> None:
    transport = EmailTransport(Settings(smtp_host=""))
    with pytest.raises(PermanentError, match="HB_SMTP_HOST"):
        transport.send(channel(), alert(), timeout=1)
    assert transport.wants({"to": "a@b.c", "up": False}, "down")
    assert not transport.wants({"to": "a@b.c", "up": False}, "up")
    assert not transport.wants({"to": ""}, "down")
