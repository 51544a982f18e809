"""Apprise channel: config {"urls": ["ntfy://...", "json://host/path", ...]}, each URL an
Apprise service URL (https://github.com/caronc/apprise/wiki). Optional "up", "down" and
"late" switches. Generic HTTP schemes go through the same SSRF guard as webhooks."""

from __future__ import annotations

import inspect
from typing import Any
from urllib.parse import urlsplit

from pingserver.config import Settings
from pingserver.engine.channels import (
    Alert,
    DeliveryError,
    PermanentError,
    ssrf,
    templates,
    toggled,
)

# Schemes that post to an arbitrary host given in the URL (Apprise's custom JSON, XML and
# form notifications): the host must pass the SSRF guard.
GENERIC_HTTP = {"json": "http", "jsons": "https", "xml": "http", "xmls": "https",
                "form": "http", "forms": "https"}


def urls(config: dict[str, Any]) -> list[str]:
    raw = config.get("urls") or config.get("url") or []
    items = raw if isinstance(raw, list) else str(raw).split()
    return [str(u).strip() for u in items if str(u).strip()]


class AppriseTransport:
    def __init__(self, settings: Settings) -> None:
        self.allow_private = settings.allow_private_webhooks

    def wants(self, config: dict[str, Any], kind: str) -> bool:
        return toggled(config, kind) and bool(urls(config))

    def needs_last_ping(self, config: dict[str, Any]) -> bool:
        return True

    def send(self, channel: dict[str, Any], alert: Alert, timeout: float) -> None:
        import apprise  # slow to import; only notifiers with Apprise channels pay for it

        targets = urls(channel.get("config") or {})
        if not self.allow_private:
            for url in targets:
                self._guard(url)
        client = apprise.Apprise()  # one per delivery: Apprise objects keep state
        for url in targets:
            if not client.add(url):
                raise PermanentError(f"invalid Apprise URL with scheme "
                                     f"{urlsplit(url).scheme!r}")
        notify_type = {"down": apprise.NotifyType.FAILURE, "up": apprise.NotifyType.SUCCESS,
                       "late": apprise.NotifyType.WARNING}[alert.kind]
        options: dict[str, Any] = {}
        if "timeout" in inspect.signature(client.notify).parameters:  # Apprise >= 2
            options["timeout"] = timeout
        result = client.notify(body=templates.body(alert), title=templates.headline(alert),
                               notify_type=notify_type, **options)
        if not result:
            raise DeliveryError(_failure(result, targets))

    def _guard(self, url: str) -> None:
        parts = urlsplit(url)
        scheme = GENERIC_HTTP.get(parts.scheme.lower())
        if scheme:
            ssrf.check_url(f"{scheme}://{parts.netloc}/")


def _failure(result: Any, targets: list[str]) -> str:
    """The last warning or error Apprise logged, with the configured URLs blanked out
    (they usually hold tokens)."""
    message = "Apprise could not deliver the notification"
    logs = getattr(result, "logs", None)
    if callable(logs):
        for entry in logs():
            if entry.level in ("WARNING", "ERROR"):
                message = entry.message
    for url in targets:
        message = message.replace(url, "<url>")
    return message[:300]
