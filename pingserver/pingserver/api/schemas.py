"""Request and response schemas of the management API, kept apart from the store.

Requests are validated in strict mode with unknown fields and nulls rejected, as healthchecks
does (nulls become a type error). Duration bounds come from the settings, so they are checked
with a validation context rather than fixed in the schema.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from pingserver import schedules

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
SLUG_PATTERN = r"^[a-z0-9-_]*$"
KIND_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
NAMESPACE_PATTERN = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$"
MAX_LABELS = 64
MAX_DEPENDENCIES = 20
UniqueField = Literal["name", "slug", "tags", "timeout", "grace"]


@dataclass(frozen=True)
class Limits:
    """Bounds of timeout and grace (and of max_runtime and repeat_every when not 0)."""

    min_timeout: int
    max_timeout: int


def _drop_nulls(schema: JsonDict) -> None:
    """Optional fields mean "absent", not "may be null": null is rejected, so the published
    schema must not offer it."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return
    for prop in properties.values():
        if not isinstance(prop, dict):
            continue
        options = prop.pop("anyOf", None)
        if isinstance(options, list):
            kept = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            if len(kept) == 1 and isinstance(kept[0], dict):
                prop.update(kept[0])
            else:
                prop["anyOf"] = kept
        if "default" in prop and prop["default"] is None:
            del prop["default"]


class StrictSpec(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", json_schema_extra=_drop_nulls)

    api_key: str | None = Field(None, description="Alternative to the X-Api-Key header")

    @model_validator(mode="before")
    @classmethod
    def _reject_nulls(cls, data: Any) -> Any:
        # No field accepts a float, so in strict mode 0.0 fails every field's type check and
        # the error names the field (healthchecks' trick).
        if isinstance(data, dict):
            return {k: 0.0 if v is None else v for k, v in data.items()}
        return data


def _time_zone(value: str) -> str:
    try:
        schedules.zone(value)
    except schedules.ScheduleError:
        raise PydanticCustomError("tz_syntax", "is not a valid timezone") from None
    return value


def _seconds(value: int, info: ValidationInfo, *, zero_ok: bool) -> int:
    limits = info.context
    if not isinstance(limits, Limits) or (zero_ok and value == 0):
        return value
    if value < limits.min_timeout:
        raise PydanticCustomError("too_small", "is too small")
    if value > limits.max_timeout:
        raise PydanticCustomError("too_large", "is too large")
    return value


DURATION = "seconds, HB_MIN_TIMEOUT..HB_MAX_TIMEOUT (60..31536000 unless configured)"
# The published bounds are the defaults; the server enforces its configured ones.
PERIOD_SCHEMA: JsonDict = {"minimum": 60, "maximum": 31_536_000}
OPTIONAL_PERIOD_SCHEMA: JsonDict = {"minimum": 0, "maximum": 31_536_000}


class CheckSpec(StrictSpec):
    """A check's configuration as sent to create or update it: absent fields stay as they are
    (or take the defaults on create)."""

    uuid: str | None = Field(None, pattern=UUID_PATTERN,
                             description="Create only: choose the check's UUID (rw keys)")
    name: str | None = Field(None, max_length=100)
    slug: str | None = Field(None, max_length=100, pattern=SLUG_PATTERN)
    tags: str | None = Field(None, max_length=500, description="Space-separated")
    desc: str | None = Field(None, max_length=10000)
    timeout: int | None = Field(None, description=DURATION, json_schema_extra=PERIOD_SCHEMA)
    grace: int | None = Field(None, description=DURATION, json_schema_extra=PERIOD_SCHEMA)
    tz: str | None = Field(None, max_length=36)  # before schedule, which is checked in tz
    schedule: str | None = Field(None, max_length=100,
                                 description="Cron (5 fields) or systemd OnCalendar")
    manual_resume: bool | None = None
    methods: Literal["", "POST"] | None = None
    channels: str | None = Field(None, description='"*", "" or comma-separated ids or names')
    unique: list[UniqueField] | None = None
    subject: str | None = Field(None, max_length=200)
    subject_fail: str | None = Field(None, max_length=200)
    start_kw: str | None = Field(None, max_length=200)
    success_kw: str | None = Field(None, max_length=200)
    failure_kw: str | None = Field(None, max_length=200)
    filter_subject: bool | None = None
    filter_body: bool | None = None
    filter_http_body: bool | None = None
    filter_default_fail: bool | None = None
    max_runtime: int | None = Field(None, description="0 = grace; else " + DURATION,
                                    json_schema_extra=OPTIONAL_PERIOD_SCHEMA)
    alert_on_late: bool | None = None
    repeat_every: int | None = Field(None, description="0 = off; else " + DURATION,
                                     json_schema_extra=OPTIONAL_PERIOD_SCHEMA)
    fail_threshold: int | None = Field(None, ge=1, le=100)
    expect_first_ping: bool | None = Field(
        None, description="run the schedule from creation: a check never pinged goes down")
    depends_on: str | list[str] | None = Field(
        None, description="UUIDs or slugs of checks of the project, comma-separated or a "
                          "list: their being down holds this check's down alerts")
    namespace: str | None = Field(None, max_length=63, pattern=NAMESPACE_PATTERN,
                                  description="Kubernetes namespace (operator-managed checks)")
    labels: dict[str, str] | None = Field(None, description="Kubernetes labels")

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_LABELS:
            raise PydanticCustomError("too_large", "is too large")
        if any(len(k) > 317 or len(v) > 63 for k, v in value.items()):
            raise PydanticCustomError("string_too_long", "is too long")
        return value

    @field_validator("depends_on")
    @classmethod
    def _depends_on(cls, value: str | list[str]) -> str | list[str]:
        items = value.split(",") if isinstance(value, str) else value
        if len(items) > MAX_DEPENDENCIES:
            raise PydanticCustomError("too_large", "is too large")
        return value

    @field_validator("timeout", "grace")
    @classmethod
    def _period(cls, value: int, info: ValidationInfo) -> int:
        return _seconds(value, info, zero_ok=False)

    @field_validator("max_runtime", "repeat_every")
    @classmethod
    def _optional_period(cls, value: int, info: ValidationInfo) -> int:
        return _seconds(value, info, zero_ok=True)

    @field_validator("tz")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _time_zone(value)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str, info: ValidationInfo) -> str:
        tz = info.data.get("tz") or "UTC"
        try:
            schedules.validate(value, tz)
        except Exception:  # third-party parsers raise many types on hostile input
            raise PydanticCustomError("cron_syntax", "is not a valid expression") from None
        return value


class SilenceSpec(StrictSpec):
    """A silence or maintenance window as sent to create or replace it (docs/oncall.md)."""

    id: str | None = Field(None, pattern=UUID_PATTERN,
                           description="Create under this id, or replace the silence with it")
    matchers: list[str | dict[str, Any]] = Field(
        min_length=1, max_length=20,
        description='amtool strings ("tag=db") or {"name", "value", "isRegex", "isEqual"}')
    starts_at: str | None = Field(None, max_length=40, description="ISO 8601; default now")
    ends_at: str | None = Field(None, max_length=40, description="ISO 8601")
    duration: int | None = Field(None, ge=1, description="seconds")
    schedule: str | None = Field(None, max_length=100, description="cron: a recurring window")
    tz: str | None = Field(None, max_length=36)
    created_by: str = Field("", max_length=100)
    comment: str = Field("", max_length=1000)

    @field_validator("tz")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _time_zone(value)


class ChannelCreate(StrictSpec):
    kind: str = Field(pattern=KIND_PATTERN, description="Integration kind: webhook, email, "
                      "apprise, alertmanager or console (docs/channels.md)")
    name: str = Field("", max_length=100)
    config: dict[str, Any] = Field(default_factory=dict, description="Kind-specific settings")


class ChannelUpdate(StrictSpec):
    kind: str | None = Field(None, pattern=KIND_PATTERN)
    name: str | None = Field(None, max_length=100)
    config: dict[str, Any] | None = None


def slugify(name: str) -> str:
    """Django's slugify, as API v1 and v2 derive a check's slug from its name."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text.lower())
    return re.sub(r"[-\s]+", "-", text).strip("-_")


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """An `openapi_extra` declaring `model` as the JSON request body: the API parses bodies
    itself (healthchecks' error messages, api_key in the body), so FastAPI must not."""
    schema = model.model_json_schema()
    return {"requestBody": {"required": False,
                            "content": {"application/json": {"schema": schema}}}}


# Responses, for the OpenAPI document ---------------------------------------------------------


class ErrorOut(BaseModel):
    error: str


class CheckOut(BaseModel):
    name: str
    slug: str
    tags: str
    desc: str
    grace: int
    n_pings: int
    status: str
    started: bool
    last_ping: str | None
    last_start: str | None
    next_ping: str | None
    manual_resume: bool
    methods: str
    subject: str
    subject_fail: str
    start_kw: str
    success_kw: str
    failure_kw: str
    filter_subject: bool
    filter_body: bool
    filter_http_body: bool
    filter_default_fail: bool
    badge_url: str
    max_runtime: int
    alert_on_late: bool
    repeat_every: int
    fail_threshold: int
    expect_first_ping: bool
    last_duration: int | None = None
    timeout: int | None = None
    schedule: str | None = None
    tz: str | None = None
    uuid: str | None = None
    ping_url: str | None = None
    update_url: str | None = None
    pause_url: str | None = None
    resume_url: str | None = None
    channels: str | None = None
    unique_key: str | None = None
    depends_on: list[str] = []
    namespace: str = ""
    labels: dict[str, str] = {}
    silenced_by: list[str] = []
    held_by: list[str] = []
    muted: str = ""


class SilenceOut(BaseModel):
    id: str
    matchers: list[dict[str, Any]]
    starts_at: str
    ends_at: str | None
    schedule: str
    duration: int
    tz: str
    created_by: str
    comment: str
    created_at: str
    updated_at: str
    state: Literal["active", "pending", "expired"]
    current_start: str | None
    current_end: str | None
    next_start: str | None
    next_windows: list[dict[str, str]]
    matched_checks: int


class SilencesOut(BaseModel):
    silences: list[SilenceOut]


class ChecksOut(BaseModel):
    checks: list[CheckOut]


class PingOut(BaseModel):
    type: str
    date: str
    n: int
    scheme: str
    remote_addr: str
    method: str
    ua: str
    rid: str | None
    exitstatus: int | None
    duration: float | None = None
    body_url: str | None


class PingsOut(BaseModel):
    pings: list[PingOut]


class FlipOut(BaseModel):
    timestamp: str
    up: int
    held: str | None = None


class FlipsOut(BaseModel):
    flips: list[FlipOut]


class ChannelOut(BaseModel):
    id: str
    name: str
    kind: str
    config: dict[str, Any] | None = Field(None, description="Write-only: its keys, every value "
                                          "redacted")
    config_digest: str | None = Field(None, description="HMAC-SHA256 of the configuration's "
                                      "canonical JSON, keyed by the request's API key")
    last_notify: str | None = None
    last_error: str | None = None


class ChannelsOut(BaseModel):
    channels: list[ChannelOut]


class BadgeUrls(BaseModel):
    svg: str
    svg3: str
    json_: str = Field(alias="json")
    json3: str
    shields: str
    shields3: str


class BadgesOut(BaseModel):
    badges: dict[str, BadgeUrls]


class FeedFlip(BaseModel):
    id: str
    check: str
    old: str
    new: str
    reason: str
    rid: str
    timestamp: str
    ts: int
    downtime: int


class FeedOut(BaseModel):
    flips: list[FeedFlip]
    cursor: str


class NotificationsOut(BaseModel):
    notifications: list[dict[str, Any]]
