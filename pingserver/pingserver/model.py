"""The check model: typed views of what the store keeps, and the state rules read from it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

STATES = ("new", "up", "late", "down", "paused")

# Configuration fields and their types, as stored in the check hash. Everything else in the
# hash is runtime state written by the Lua scripts.
CONFIG_FIELDS: dict[str, type] = {
    "name": str,
    "slug": str,
    "tags": str,
    "desc": str,
    "kind": str,  # simple | cron | oncalendar
    "timeout": int,  # seconds, simple checks
    "grace": int,  # seconds
    "schedule": str,
    "tz": str,
    "methods": str,  # "" | "POST"
    "manual_resume": bool,
    "filter_http_body": bool,
    "filter_default_fail": bool,
    "start_kw": str,
    "success_kw": str,
    "failure_kw": str,
    "channels": str,  # comma-separated channel ids
    # Beyond healthchecks
    "max_runtime": int,  # seconds a run may take; 0 = use grace (healthchecks' rule)
    "alert_on_late": bool,  # alert when the grace period starts (healthchecks #377)
    "repeat_every": int,  # seconds between repeated down alerts; 0 = off (#510)
    "fail_threshold": int,  # consecutive failure signals before down (#525)
    # A never-pinged check runs its schedule from creation (or resume): a job that never
    # starts at all goes late and down, instead of staying "new" forever as in healthchecks.
    "expect_first_ping": bool,
    # On-call controls (docs/oncall.md)
    "depends_on": str,  # comma-separated uuids of checks of the same project
    "namespace": str,  # Kubernetes namespace of an operator-managed check
    "labels": str,  # its Kubernetes labels, a JSON object
}

DEFAULTS: dict[str, Any] = {
    "name": "",
    "slug": "",
    "tags": "",
    "desc": "",
    "kind": "simple",
    "timeout": 86400,
    "grace": 3600,
    "schedule": "* * * * *",
    "tz": "UTC",
    "methods": "",
    "manual_resume": False,
    "filter_http_body": False,
    "filter_default_fail": False,
    "start_kw": "",
    "success_kw": "",
    "failure_kw": "",
    "channels": "",
    "max_runtime": 0,
    "alert_on_late": False,
    "repeat_every": 0,
    "fail_threshold": 1,
    "expect_first_ping": False,
    "depends_on": "",
    "namespace": "",
    "labels": "",
}


# The Lua scripts read these without defaults of their own, so every check stores them.
ALWAYS_STORED = ("kind", "timeout", "grace")


def encode(value: Any) -> str:
    """How a config value is written to Redis."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def stored(name: str, value: Any) -> str:
    """A config value as configure.lua takes it: '' for a default, which deletes the field.
    A missing field reads as its default (Check.from_hash), and fewer fields use less memory."""
    if name in DEFAULTS and name not in ALWAYS_STORED and value == DEFAULTS[name]:
        return ""
    return encode(value)


# A ping log entry as ping.lua writes it: these fields joined by '|', the user agent last so
# that it may hold '|' itself. Entries written before this format are JSON objects.
PING_FIELDS = ("n", "ts", "kind", "scheme", "method", "remote_addr", "rid", "exitstatus",
               "duration", "size", "ua")
_PING_INTS = ("n", "ts", "size")
_PING_OPTIONAL_INTS = ("exitstatus", "duration")


def ping_entry(row: str) -> dict[str, Any]:
    """One entry of a check's ping log as a dict (None for no exit status or duration)."""
    if row.startswith("{"):
        return dict(json.loads(row))
    entry: dict[str, Any] = dict(zip(PING_FIELDS, row.split("|", len(PING_FIELDS) - 1),
                                     strict=True))
    for name in _PING_INTS:
        entry[name] = int(entry[name])
    for name in _PING_OPTIONAL_INTS:
        entry[name] = int(entry[name]) if entry[name] else None
    return entry


def unique_key_of(uuid: str) -> str:
    # Same derivation as healthchecks: stable, and reveals nothing about the ping URL.
    return hashlib.sha1(uuid.encode()).hexdigest()


def _int(raw: dict[str, str], key: str) -> int:
    try:
        return int(raw.get(key) or 0)
    except ValueError:
        return 0


@dataclass
class Check:
    uuid: str
    project: str
    config: dict[str, Any]
    status: str
    n_pings: int
    created: int
    last_ping: int
    last_start: int
    last_duration: int
    last_exitstatus: int | None
    grace_start: int
    down_at: int
    down_since: int
    last_flip: int
    version: int
    raw: dict[str, str] = field(repr=False, default_factory=dict)

    @classmethod
    def from_hash(cls, uuid: str, raw: dict[str, str]) -> Check:
        config: dict[str, Any] = {}
        for name, kind in CONFIG_FIELDS.items():
            value = raw.get(name)
            if value is None:
                config[name] = DEFAULTS[name]
            elif kind is bool:
                config[name] = value == "1"
            elif kind is int:
                config[name] = _int(raw, name)
            else:
                config[name] = value
        exit_raw = raw.get("last_exitstatus", "")
        return cls(
            uuid=uuid,
            project=raw.get("project", ""),
            config=config,
            status=raw.get("status", "new"),
            n_pings=_int(raw, "n_pings"),
            created=_int(raw, "created"),
            last_ping=_int(raw, "last_ping"),
            last_start=_int(raw, "last_start"),
            last_duration=_int(raw, "last_duration"),
            last_exitstatus=int(exit_raw) if exit_raw.lstrip("-").isdigit() else None,
            grace_start=_int(raw, "grace_start"),
            down_at=_int(raw, "down_at"),
            down_since=_int(raw, "down_since"),
            last_flip=_int(raw, "last_flip"),
            version=_int(raw, "version"),
            raw=raw,
        )

    @property
    def started(self) -> bool:
        return self.last_start > 0

    @property
    def tag_list(self) -> list[str]:
        return [t for t in str(self.config["tags"]).split(" ") if t]

    @property
    def channel_ids(self) -> list[str]:
        return [c for c in str(self.config["channels"]).split(",") if c]

    @property
    def depends_on(self) -> list[str]:
        return [c for c in str(self.config["depends_on"]).split(",") if c]

    @property
    def labels(self) -> dict[str, str]:
        raw = str(self.config["labels"])
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}

    @property
    def unique_key(self) -> str:
        return unique_key_of(self.uuid)

    def effective_status(self, now_ms: int) -> str:
        """The state at `now_ms`, even if the sweeper has not acted yet (as healthchecks
        computes grace on read)."""
        if self.status in ("new", "up", "late"):
            if self.down_at and now_ms >= self.down_at:
                return "down"
            if self.grace_start and now_ms >= self.grace_start:
                return "late"
        return self.status

    def next_deadline(self) -> int:
        """When the check next changes state without a signal (0 = never)."""
        if self.status in ("new", "up"):
            return self.grace_start
        if self.status == "late":
            return self.down_at
        return 0
