"""JSON views of checks, pings, flips and channels, in healthchecks' shapes (compat §3.4)."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pingserver import badges
from pingserver.model import Check, unique_key_of
from pingserver.silences import Mute

# Our state names where the API says something else: healthchecks calls "late" "grace".
API_STATES = {"late": "grace"}
PING_KINDS = ("success", "start", "fail", "log", "ign")
REDACTED = "<redacted>"  # every value of a channel configuration in API answers


@dataclass(frozen=True)
class View:
    """Who is looking and through which API version."""

    version: int
    readonly: bool
    site_root: str
    now_ms: int
    badge_cipher_key: bytes  # turns check uuids into badge ids


def iso(ms: int) -> str | None:
    """ISO 8601 without microseconds, as healthchecks' `isostring`; None for "never" (0)."""
    if not ms:
        return None
    return datetime.fromtimestamp(ms // 1000, tz=UTC).isoformat()


def iso_precise(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def api_state(state: str) -> str:
    return API_STATES.get(state, state)


def api_status(check: Check, view: View) -> str:
    status = api_state(check.effective_status(view.now_ms))
    if view.version == 1 and check.started and status != "paused":
        return "started"  # v1 folds the running state into status (healthchecks #633)
    return status


def next_ping(check: Check) -> int:
    """healthchecks' `get_grace_start`: the grace start, or the start of a run in progress."""
    if check.status == "paused":
        return 0
    moments = [check.grace_start]
    if check.status != "down":
        moments.append(check.last_start)
    return min((m for m in moments if m), default=0)


def _flag(check: Check, name: str) -> bool:
    # Email filters are kept for healthchecks clients but are not part of the model.
    return check.raw.get(name) == "1"


def check_json(check: Check, view: View, mute: Mute | None = None) -> dict[str, Any]:
    config = check.config
    filter_subject = _flag(check, "filter_subject")
    result: dict[str, Any] = {
        "name": config["name"],
        "slug": config["slug"],
        "tags": config["tags"],
        "desc": config["desc"],
        "grace": config["grace"],
        "n_pings": check.n_pings,
        "status": api_status(check, view),
        "started": check.started,
        "last_ping": iso(check.last_ping),
        "last_start": iso(check.last_start),  # newest open run (beyond healthchecks)
        "next_ping": iso(next_ping(check)),
        "manual_resume": config["manual_resume"],
        "methods": config["methods"],
        "subject": config["success_kw"] if filter_subject else "",
        "subject_fail": config["failure_kw"] if filter_subject else "",
        "start_kw": config["start_kw"],
        "success_kw": config["success_kw"],
        "failure_kw": config["failure_kw"],
        "filter_subject": filter_subject,
        "filter_body": _flag(check, "filter_body"),
        "filter_http_body": config["filter_http_body"],
        "filter_default_fail": config["filter_default_fail"],
        "badge_url": badges.check_url(view.site_root,
                                      badges.check_badge_id(view.badge_cipher_key, check.uuid)),
        "max_runtime": config["max_runtime"],
        "alert_on_late": config["alert_on_late"],
        "repeat_every": config["repeat_every"],
        "fail_threshold": config["fail_threshold"],
        "expect_first_ping": config["expect_first_ping"],
        "depends_on": [public_id(u, view) for u in check.depends_on],
        "namespace": config["namespace"],
        "labels": check.labels,
        "silenced_by": [s.id for s in mute.silences] if mute else [],
        "held_by": [public_id(c.uuid, view) for c in mute.held_by] if mute else [],
        "muted": mute.reason if mute else "",
    }
    if check.last_duration:
        result["last_duration"] = check.last_duration // 1000
    if config["kind"] == "simple":
        result["timeout"] = config["timeout"]
    else:
        result["schedule"] = config["schedule"]
        result["tz"] = config["tz"]
    result.update(_access(check, view))
    return result


def public_id(uuid: str, view: View) -> str:
    """A check's uuid for read-write keys, its unique_key for read-only ones (the uuid is
    the secret part of the ping URL)."""
    return unique_key_of(uuid) if view.readonly else uuid


def _access(check: Check, view: View) -> dict[str, Any]:
    """Secrets for read-write keys; a stable public id for read-only ones."""
    if view.readonly:
        return {"unique_key": check.unique_key}
    update_url = f"{view.site_root}/api/v{view.version}/checks/{check.uuid}"
    return {
        "uuid": check.uuid,
        "ping_url": f"{view.site_root}/ping/{check.uuid}",
        "update_url": update_url,
        "pause_url": update_url + "/pause",
        "resume_url": update_url + "/resume",
        "channels": ",".join(check.channel_ids),
    }


def ping_json(entry: dict[str, Any], uuid: str, view: View) -> dict[str, Any]:
    n = int(entry.get("n") or 0)
    body_url = None
    if entry.get("size"):
        body_url = f"{view.site_root}/api/v{view.version}/checks/{uuid}/pings/{n}/body"
    result: dict[str, Any] = {
        "type": entry.get("kind") or "success",
        "date": iso_precise(int(entry.get("ts") or 0)),
        "n": n,
        "scheme": entry.get("scheme") or "http",
        "remote_addr": entry.get("remote_addr") or "",
        "method": entry.get("method") or "",
        "ua": entry.get("ua") or "",
        "rid": entry.get("rid") or None,
        "exitstatus": entry.get("exitstatus"),
        "body_url": body_url,
    }
    if entry.get("duration") is not None:
        result["duration"] = round(int(entry["duration"]) / 1000, 2)
    return result


def flip_json(entry: dict[str, Any], held: str | None = None) -> dict[str, Any] | None:
    """healthchecks' flip shape; None for transitions that are neither up nor down. `held`:
    why the flip's alert was held (v3)."""
    if entry.get("new") not in ("up", "down"):
        return None
    out: dict[str, Any] = {"timestamp": iso(int(entry["ts"])),
                           "up": 1 if entry["new"] == "up" else 0}
    if held is not None:
        out["held"] = held
    return out


def channel_json(channel: dict[str, Any], *, full: bool,
                 digest_key: str = "") -> dict[str, Any]:
    """healthchecks' `{id, name, kind}`; `full` adds the delivery status and the configuration,
    write-only: its keys with every value redacted, and `config_digest` (config_digest)."""
    result: dict[str, Any] = {"id": channel["id"], "name": channel.get("name", ""),
                              "kind": channel.get("kind", "")}
    if full:
        config = channel.get("config") or {}
        result["config"] = redacted(config)
        result["config_digest"] = config_digest(digest_key, config)
        result["last_notify"] = iso(int(channel.get("last_notify") or 0))
        result["last_error"] = channel.get("last_error") or ""
    return result


def redacted(value: Any) -> Any:
    """The shape of a channel configuration without its values: any of them may be a secret
    (a webhook URL with a token, a password, an apprise URL with credentials)."""
    if isinstance(value, dict):
        return {key: redacted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redacted(item) for item in value]
    return REDACTED


def config_digest(api_key: str, config: dict[str, Any]) -> str:
    """HMAC-SHA256 of the canonical JSON of `config`, keyed by the API key of the request: a
    client computes it from the configuration it means to have and compares (drift), and
    nobody without a read-write key can test guesses of a secret against it. The operator
    has a copy (heartbeat_operator/spec.py `config_digest`): the same rule."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    mac = hmac.new(api_key.encode(), canonical.encode(), hashlib.sha256).hexdigest()
    return f"hmac-sha256:{mac}"


def feed_json(stream_id: str, fields: dict[str, str]) -> dict[str, Any]:
    ts = int(fields.get("ts") or 0)
    return {
        "id": stream_id,
        "check": fields.get("check", ""),
        "old": api_state(fields.get("old", "")),
        "new": api_state(fields.get("new", "")),
        "reason": fields.get("reason", ""),
        "rid": fields.get("rid", ""),
        "timestamp": iso(ts),
        "ts": ts,
        "downtime": int(float(fields.get("downtime") or 0)) // 1000,
    }


def notification_json(entry: dict[str, Any]) -> dict[str, Any]:
    ts = entry.get("ts")
    return {**entry, "date": iso(int(ts)) if isinstance(ts, int | float) else None}
