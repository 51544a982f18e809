"""Alert channels: one transport per channel kind, each sending one alert synchronously.

Transports run in the notifier's worker threads (requests, smtplib and apprise are
blocking libraries); the notifier bounds each call with its own timeout and retries.
A channel is a Store channel dict: {id, project, kind, name, config (dict)}. The config
formats are documented in docs/channels.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pingserver.config import Settings
from pingserver.model import Check


class DeliveryError(Exception):
    """The alert was not delivered; the notifier retries with backoff."""

    @classmethod
    def timed_out(cls, timeout: float) -> DeliveryError:
        """One message for a delivery out of time, whichever layer noticed first (the
        transport's own deadline or the notifier's)."""
        return cls(f"timed out after {timeout:g} s")


class PermanentError(DeliveryError):
    """Retrying cannot help (invalid configuration, refused address): dead-letter at once."""


@dataclass(frozen=True)
class Alert:
    """Everything a transport needs to render one alert for one flip."""

    flip_id: str  # the stream id: idempotency key, identical on every retry
    kind: str  # "down" | "up" | "late"
    reason: str  # flip reason: timeout, fail, runtime, late, success, repeat
    ts: int  # ms: flip time (the computed deadline for timeouts)
    downtime_ms: int
    rid: str
    check: Check
    last_ping_body: bytes = b""
    last_exitstatus: int = -1
    released: bool = False  # held by a silence or a dependency until now (docs/oncall.md)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.kind

    @property
    def repeat(self) -> bool:
        return self.reason == "repeat"


class Transport(Protocol):
    def wants(self, config: dict[str, Any], kind: str) -> bool:
        """False when the channel is configured to skip this kind of alert (a no-op)."""
        ...

    def needs_last_ping(self, config: dict[str, Any]) -> bool:
        """True when rendering needs the last ping's body or exit status."""
        ...

    def send(self, channel: dict[str, Any], alert: Alert, timeout: float) -> None:
        """Deliver or raise DeliveryError; blocking, called in a worker thread."""
        ...


def build_transports(settings: Settings) -> dict[str, Transport]:
    # Imported here: apprise takes a while to import and only the notifier needs it.
    from pingserver.engine.channels.alertmanager import AlertmanagerTransport
    from pingserver.engine.channels.apprise import AppriseTransport
    from pingserver.engine.channels.console import ConsoleTransport
    from pingserver.engine.channels.email import EmailTransport
    from pingserver.engine.channels.webhook import WebhookTransport

    return {"webhook": WebhookTransport(settings), "email": EmailTransport(settings),
            "apprise": AppriseTransport(settings),
            "alertmanager": AlertmanagerTransport(settings),
            "console": ConsoleTransport(settings)}


def iso(ms: int) -> str | None:
    """healthchecks' timestamp format: ISO 8601, UTC, no microseconds."""
    if not ms:
        return None
    return datetime.fromtimestamp(ms // 1000, tz=UTC).isoformat()


def check_json(check: Check, now_ms: int) -> dict[str, Any]:
    """The check as the $JSON webhook placeholder shows it: the API's check object, trimmed
    to fields that are safe to send to a third party (no update or pause URLs)."""
    out: dict[str, Any] = {
        "uuid": check.uuid,
        "name": check.config["name"],
        "slug": check.config["slug"],
        "tags": check.config["tags"],
        "desc": check.config["desc"],
        "grace": check.config["grace"],
        "n_pings": check.n_pings,
        "status": check.effective_status(now_ms),
        "started": check.started,
        "last_ping": iso(check.last_ping),
        "next_ping": iso(check.grace_start) if check.status in ("up", "late") else None,
    }
    if check.config["kind"] == "simple":
        out["timeout"] = check.config["timeout"]
    else:
        out["schedule"] = check.config["schedule"]
        out["tz"] = check.config["tz"]
    if check.last_duration:
        out["last_duration"] = check.last_duration // 1000
    return out


def toggled(config: dict[str, Any], kind: str) -> bool:
    """Per-kind switches ({"up": false} etc.), on unless set false."""
    value = config.get(kind, True)
    return value is not False and value not in ("0", "false", "no", 0)
