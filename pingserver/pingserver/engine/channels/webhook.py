"""Generic webhook channel with healthchecks' placeholders ($NAME, $STATUS, $JSON, ...).

Config: {"down": SPEC, "up": SPEC, "late": SPEC, "secrets": ["whsec_..."]}, SPEC =
{"method": "GET"|"POST"|"PUT", "url": "...", "body": "...", "headers": {"Name": "value"}}. A
missing spec or an empty url makes that alert kind a no-op. Repeat reminders use the down
spec. With `secrets`, every request is signed (Standard Webhooks, signing.py).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urljoin

import requests

from pingserver.config import Settings
from pingserver.engine.channels import (
    Alert,
    DeliveryError,
    PermanentError,
    check_json,
    signing,
    ssrf,
)

SUCCESS_CODES = (200, 201, 202, 204)
REDIRECT_CODES = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 3
METHODS = ("GET", "POST", "PUT")


def spec_for(config: dict[str, Any], kind: str) -> dict[str, Any] | None:
    spec = config.get(kind)
    if not isinstance(spec, dict) or not str(spec.get("url") or "").strip():
        return None
    return spec


def render(template: str, ctx: dict[str, str]) -> str:
    """Replace placeholders in one pass: values are never scanned again, so a check named
    "$TAGS" stays "$TAGS" ("variable variables" are not expanded). Longer names win, so
    $TAG12 is not read as $TAG1 followed by "2", and $NAME_JSON not as $NAME."""
    if not ctx or "$" not in template:
        return template
    names = sorted(ctx, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(n) for n in names))
    return pattern.sub(lambda m: ctx[m.group(0)], template)


def context(alert: Alert, *, urlencode: bool = False, with_body: bool = False,
            now_ms: int | None = None) -> dict[str, str]:
    """Placeholder values for one alert. `urlencode` for URLs; `with_body` only for
    POST/PUT bodies ($BODY is not allowed in URLs and headers, as in healthchecks)."""
    check = alert.check

    def safe(value: str) -> str:
        # safe="" so that a value cannot add path segments or query parameters.
        return quote(value, safe="") if urlencode else value

    moment = now_ms if now_ms is not None else int(time.time() * 1000)
    ctx = {
        "$CODE": safe(check.uuid),
        "$STATUS": safe(alert.kind),
        "$NOW": safe(datetime.fromtimestamp(alert.ts // 1000, tz=UTC).isoformat()),
        "$NAME_JSON": safe(json.dumps(check.config["name"])),
        "$NAME": safe(str(check.config["name"])),
        "$SLUG": safe(str(check.config["slug"])),
        "$TAGS": safe(str(check.config["tags"])),
        "$JSON": safe(json.dumps(check_json(check, moment))),
        "$EXITSTATUS": str(alert.last_exitstatus),
        # Beyond healthchecks: seconds the check was down (recoveries, reminders), else 0.
        "$DOWNTIME": str(alert.downtime_ms // 1000),
    }
    for i, tag in enumerate(check.tag_list, start=1):
        ctx[f"$TAG{i}"] = safe(tag)
    if with_body:
        body = alert.last_ping_body.decode("utf-8", errors="replace")
        ctx["$BODY"] = body
        ctx["$BODY_JSON"] = json.dumps(body)
    return ctx


def latin1(text: str) -> str:
    """Header values must be latin-1 and one line: other characters become XML character
    references (healthchecks' rule), line breaks become spaces (no header injection)."""
    one_line = text.replace("\r", " ").replace("\n", " ")
    return one_line.encode("latin-1", "xmlcharrefreplace").decode("latin-1")


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


def prepare(spec: dict[str, Any], alert: Alert, now_ms: int | None = None) -> Request:
    method = str(spec.get("method") or "GET").upper()
    if method not in METHODS:
        raise PermanentError(f"unsupported webhook method {method!r}")
    url = render(str(spec["url"]).strip(), context(alert, urlencode=True, now_ms=now_ms))
    plain = context(alert, now_ms=now_ms)
    headers: dict[str, str] = {}
    raw_headers = spec.get("headers") or {}
    if not isinstance(raw_headers, dict):
        raise PermanentError("webhook headers must be an object")
    for name, value in raw_headers.items():
        headers[latin1(str(name))] = latin1(render(str(value), plain))
    body = b""
    if method in ("POST", "PUT") and spec.get("body"):
        ctx = context(alert, with_body=True, now_ms=now_ms)
        body = render(str(spec["body"]), ctx).encode()
    # The flip id lets a receiver drop the duplicates at-least-once delivery may cause.
    headers["Idempotency-Key"] = alert.flip_id
    headers["X-Heartbeat-Flip-Id"] = alert.flip_id
    return Request(method, url, headers, body)


class WebhookTransport:
    def __init__(self, settings: Settings) -> None:
        self.allow_private = settings.allow_private_webhooks

    def wants(self, config: dict[str, Any], kind: str) -> bool:
        return spec_for(config, kind) is not None

    def needs_last_ping(self, config: dict[str, Any]) -> bool:
        return "$BODY" in json.dumps(config) or "$EXITSTATUS" in json.dumps(config)

    def send(self, channel: dict[str, Any], alert: Alert, timeout: float) -> None:
        spec = spec_for(channel.get("config") or {}, alert.kind)
        if spec is None:
            return
        request = prepare(spec, alert)
        secrets = (channel.get("config") or {}).get("secrets") or []
        deadline = time.monotonic() + timeout
        method, url, body = request.method, request.url, request.body
        for _ in range(MAX_REDIRECTS + 1):
            headers = request.headers
            if secrets:
                try:
                    headers = {**headers, **signing.headers(secrets, alert.flip_id, body)}
                except ValueError:
                    raise PermanentError("invalid signing secret") from None  # no value shown
            response = self.once(method, url, headers, body, deadline, timeout)
            if response.status_code in SUCCESS_CODES:
                return
            location = response.headers.get("Location")
            if response.status_code not in REDIRECT_CODES or not location:
                raise DeliveryError(f"received status code {response.status_code}")
            url = urljoin(url, location)
            if response.status_code == 303 or (response.status_code in (301, 302)
                                                and method == "POST"):
                method, body = "GET", b""  # what browsers and requests do
        raise DeliveryError(f"more than {MAX_REDIRECTS} redirects")

    def once(self, method: str, url: str, headers: dict[str, str], body: bytes,
             deadline: float, timeout: float) -> requests.Response:
        """One request without following redirects, SSRF-guarded, within `deadline`; the
        answer read (a little of it) and closed. Also the Alertmanager channel's request."""
        if not self.allow_private:
            ssrf.check_url(url)
        left = deadline - time.monotonic()
        if left <= 0:
            raise DeliveryError.timed_out(timeout)
        try:
            response = ssrf.session(self.allow_private).request(
                method, url, headers=headers, data=body or None, timeout=left,
                allow_redirects=False, stream=True)
            _drain(response, deadline)
            return response
        except requests.Timeout:
            raise DeliveryError.timed_out(timeout) from None
        except requests.ConnectionError as exc:
            raise DeliveryError(f"connection failed: {_reason(exc)}") from None
        except requests.RequestException as exc:
            raise DeliveryError(f"request failed: {type(exc).__name__}") from None


def _reason(exc: Exception) -> str:
    """A short cause without the URL (it may carry credentials in its path or query)."""
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out",
                   "Connection reset", "No route to host", "Network is unreachable",
                   "Remote end closed connection"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__


def _drain(response: requests.Response, deadline: float, limit: int = 65536) -> None:
    """Read a small answer to the end so the connection can be kept alive; give up on a
    large or trickling one (closing the connection) rather than wait or buffer it."""
    size = 0
    for chunk in response.iter_content(8192):
        size += len(chunk)
        if size > limit or time.monotonic() > deadline:
            break
    response.close()
