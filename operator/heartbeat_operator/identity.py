"""Stable identities: the same object always maps to the same check UUID.

The UUID is derived from HMAC-SHA256(cluster secret, "<namespace>/<name>"), so a
HeartbeatCheck that is deleted and applied again, or a check re-created by drift repair
after the ping server lost its data, keeps its ping URL. Without the secret nobody can
compute another object's UUID (the UUID is the ping URL's secret part).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid


def _derive(secret: str, message: str) -> str:
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    # Version 4 and RFC 4122 variant bits, so the result looks like any random UUID.
    return str(uuid.UUID(bytes=digest[:16], version=4))


def check_uuid(secret: str, namespace: str, name: str) -> str:
    return _derive(secret, f"{namespace}/{name}")



def silence_uuid(secret: str, namespace: str, name: str) -> str:
    """A HeartbeatSilence's silence id: upserts under it are idempotent, and re-applying a
    deleted object replaces its expired silence instead of piling up new ones."""
    return _derive(secret, f"silence:{namespace}/{name}")
