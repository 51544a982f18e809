"""Standard Webhooks signatures (https://www.standardwebhooks.com/): the headers
webhook-id, webhook-timestamp and webhook-signature, the signature being
"v1,<base64 of HMAC-SHA256(key, '<id>.<timestamp>.<body>')>" for each configured secret
("whsec_<base64 key>"). Two secrets at once sign every request twice (space separated), so a
receiver can switch keys without losing a webhook."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

PREFIX = "whsec_"
MIN_KEY, MAX_KEY = 24, 64  # bytes, the spec's recommendation
MAX_SECRETS = 2


def key_of(secret: str) -> bytes:
    """The HMAC key of a "whsec_..." secret; ValueError naming what is wrong."""
    if not secret.startswith(PREFIX):
        raise ValueError(f"does not start with {PREFIX}")
    try:
        key = base64.b64decode(secret[len(PREFIX):], validate=True)
    except binascii.Error:
        raise ValueError("is not valid base64 after whsec_") from None
    if not MIN_KEY <= len(key) <= MAX_KEY:
        raise ValueError(f"must decode to {MIN_KEY} to {MAX_KEY} bytes")
    return key


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def headers(secrets: list[str], msg_id: str, body: bytes,
            timestamp: int | None = None) -> dict[str, str]:
    """The three headers; the id stays the same on every retry (receivers drop repeats),
    the timestamp is the attempt's (receivers refuse old ones)."""
    ts = int(time.time()) if timestamp is None else timestamp
    signed = " ".join(signature(key_of(s), msg_id, ts, body) for s in secrets)
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signed}
