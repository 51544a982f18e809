"""JSON views of checks, pings, flips and channels (healthchecks' shapes), and request
parsing (pure functions)."""

from __future__ import annotations

from typing import Any

import pytest

from pingserver import badges
from pingserver.api import schemas
from pingserver.api.auth import parse_json
from pingserver.api.errors import ApiError, validate
from pingserver.api.serialize import (
    View,
    channel_json,
    check_json,
    feed_json,
    flip_json,
    iso,
    next_ping,
    ping_json,
)
from pingserver.model import Check

UUID = "6c2f6b1e-7c55-4e0b-9d39-6f0c4c1a2b3d"
T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z
SITE = "https://hb.example"
BADGE_CIPHER_KEY = bytes(range(16))


def make(**raw: str) -> Check:
    base = {"project": "p", "status": "new", "name": "job", "kind": "simple", "timeout": "60",
            "grace": "30"}
    return Check.from_hash(UUID, {**base, **raw})


def view(version: int = 3, readonly: bool = False, now: int = T0) -> View:
    return View(version=version, readonly=readonly, site_root=SITE, now_ms=now,
                badge_cipher_key=BADGE_CIPHER_KEY)


def test_iso_drops_microseconds_and_zero_is_never() -> None:
    assert iso(T0 + 999) == "2023-11-14T22:13:20+00:00"
    assert iso(0) is None


@pytest.mark.parametrize(("raw", "version", "now", "status"), [
    ({"status": "up", "grace_start": str(T0 + 1), "down_at": str(T0 + 2)}, 3, T0, "up"),
    ({"status": "up", "grace_start": str(T0), "down_at": str(T0 + 2)}, 3, T0, "grace"),
    ({"status": "up", "grace_start": str(T0), "down_at": str(T0)}, 3, T0, "down"),
    ({"status": "late", "grace_start": "1", "down_at": str(T0 + 5)}, 2, T0, "grace"),
    ({"status": "up", "last_start": str(T0)}, 1, T0, "started"),
    ({"status": "up", "last_start": str(T0)}, 3, T0, "up"),
    ({"status": "down", "last_start": str(T0)}, 1, T0, "started"),
    ({"status": "paused"}, 1, T0, "paused"),
])
def test_status_by_version(raw: dict[str, str], version: int, now: int, status: str) -> None:
    assert check_json(make(**raw), view(version, now=now))["status"] == status


def test_next_ping_is_grace_start_or_a_running_start() -> None:
    assert next_ping(make(status="new")) == 0
    assert next_ping(make(status="up", grace_start=str(T0))) == T0
    assert next_ping(make(status="up", grace_start=str(T0), last_start=str(T0 - 5))) == T0 - 5
    assert next_ping(make(status="new", last_start=str(T0 - 5))) == T0 - 5
    assert next_ping(make(status="down", grace_start=str(T0), last_start=str(T0 - 5))) == T0
    assert next_ping(make(status="paused", grace_start=str(T0))) == 0


def test_read_write_view_has_urls_and_channels() -> None:
    check = make(status="up", last_ping=str(T0), grace_start=str(T0 + 60_000),
                 channels="c1,c2", last_duration="61500", tags="a b")
    data = check_json(check, view(2))
    assert data["uuid"] == UUID
    assert data["ping_url"] == f"{SITE}/ping/{UUID}"
    assert data["update_url"] == f"{SITE}/api/v2/checks/{UUID}"
    assert data["pause_url"] == f"{SITE}/api/v2/checks/{UUID}/pause"
    assert data["resume_url"] == f"{SITE}/api/v2/checks/{UUID}/resume"
    assert data["channels"] == "c1,c2"
    badge_id = badges.check_badge_id(BADGE_CIPHER_KEY, UUID)
    assert data["badge_url"] == f"{SITE}/b/3/{badge_id}.svg"
    assert (data["last_ping"], data["next_ping"]) == (iso(T0), iso(T0 + 60_000))
    assert data["last_duration"] == 61
    assert (data["timeout"], data["grace"], data["tags"]) == (60, 30, "a b")
    assert "unique_key" not in data and "schedule" not in data


def test_read_only_view_hides_secrets() -> None:
    data = check_json(make(channels="c1"), view(readonly=True))
    assert data["unique_key"] == make().unique_key
    for secret in ("uuid", "ping_url", "update_url", "pause_url", "resume_url", "channels"):
        assert secret not in data
    assert "last_duration" not in data


def test_schedule_checks_show_schedule_and_tz() -> None:
    data = check_json(make(kind="cron", schedule="0 9 * * *", tz="Europe/Riga"), view())
    assert (data["schedule"], data["tz"]) == ("0 9 * * *", "Europe/Riga")
    assert "timeout" not in data


def test_subject_fields_follow_the_subject_filter() -> None:
    plain = check_json(make(success_kw="OK", failure_kw="ERR"), view())
    assert (plain["subject"], plain["subject_fail"], plain["filter_subject"]) == ("", "", False)
    mail = check_json(make(success_kw="OK", failure_kw="ERR", filter_subject="1"), view())
    assert (mail["subject"], mail["subject_fail"], mail["filter_subject"]) == ("OK", "ERR", True)


def test_ping_json() -> None:
    entry: dict[str, Any] = {"n": 7, "ts": T0 + 250, "kind": "success", "scheme": "https",
                             "remote_addr": "10.1.2.3", "method": "POST", "ua": "curl",
                             "rid": "", "exitstatus": None, "duration": 1234, "size": 5}
    data = ping_json(entry, UUID, view(1))
    assert data == {"type": "success", "date": "2023-11-14T22:13:20.250000+00:00", "n": 7,
                    "scheme": "https", "remote_addr": "10.1.2.3", "method": "POST",
                    "ua": "curl", "rid": None, "exitstatus": None, "duration": 1.23,
                    "body_url": f"{SITE}/api/v1/checks/{UUID}/pings/7/body"}
    bare = ping_json({**entry, "kind": "ign", "size": 0, "duration": None}, UUID, view())
    assert bare["type"] == "ign" and bare["body_url"] is None and "duration" not in bare


def test_flip_json_keeps_up_and_down_only() -> None:
    assert flip_json({"ts": T0, "new": "up"}) == {"timestamp": iso(T0), "up": 1}
    assert flip_json({"ts": T0, "new": "down"}) == {"timestamp": iso(T0), "up": 0}
    assert flip_json({"ts": T0, "new": "late"}) is None
    assert flip_json({"ts": T0, "new": "paused"}) is None


def test_feed_json_names_late_grace() -> None:
    data = feed_json("5-0", {"check": UUID, "project": "p", "old": "up", "new": "late",
                             "ts": str(T0), "reason": "late", "rid": "", "downtime": "0"})
    assert data == {"id": "5-0", "check": UUID, "old": "up", "new": "grace", "reason": "late",
                    "rid": "", "timestamp": iso(T0), "ts": T0, "downtime": 0}
    assert feed_json("6-0", {"downtime": "90500"})["downtime"] == 90


def test_channel_json() -> None:
    channel = {"id": "c", "name": "n", "kind": "webhook", "config": {"url": "u"},
               "last_notify": str(T0), "last_error": "boom", "project": "p"}
    assert channel_json(channel, full=False) == {"id": "c", "name": "n", "kind": "webhook"}
    full = channel_json(channel, full=True, digest_key="key")
    assert full == {
        "id": "c", "name": "n", "kind": "webhook", "config": {"url": "<redacted>"},
        "config_digest": full["config_digest"], "last_notify": iso(T0), "last_error": "boom"}
    assert full["config_digest"].startswith("hmac-sha256:")
    assert "u" not in full["config_digest"].removeprefix("hmac-sha256:")  # hex only


def test_channel_config_is_write_only_with_a_keyed_digest() -> None:
    config = {"on_down": {"url": "https://hooks.example/T0k3n", "headers": {"X": "s"}},
              "secrets": ["a", "b"], "up": False, "n": 3}
    channel = {"id": "c", "kind": "webhook", "config": config}
    answer = channel_json(channel, full=True, digest_key="k1")
    assert answer["config"] == {"on_down": {"url": "<redacted>", "headers": {"X": "<redacted>"}},
                                "secrets": ["<redacted>", "<redacted>"], "up": "<redacted>",
                                "n": "<redacted>"}
    assert "T0k3n" not in str(answer)
    # Same config, any key order: same digest; another value or another API key: another one.
    reordered = dict(reversed(list(config.items())))
    assert channel_json({**channel, "config": reordered}, full=True, digest_key="k1")[
        "config_digest"] == answer["config_digest"]
    changed = {**config, "secrets": ["a", "c"]}
    assert channel_json({**channel, "config": changed}, full=True, digest_key="k1")[
        "config_digest"] != answer["config_digest"]
    assert channel_json(channel, full=True, digest_key="k2")["config_digest"] != answer[
        "config_digest"]


@pytest.mark.parametrize(("raw", "message"), [
    (b"", None),
    (b"  ", None),
    (b"{", "could not parse request body"),
    (b"[1]", "json validation error: value is not an object"),
    (b"null", "json validation error: value is not an object"),
    (b'{"a": "\\udfff"}', "could not parse request body"),
])
def test_parse_json(raw: bytes, message: str | None) -> None:
    if message is None:
        assert parse_json(raw) == {}
        return
    with pytest.raises(ApiError) as info:
        parse_json(raw)
    assert (info.value.status, info.value.message) == (400, message)


LIMITS = schemas.Limits(60, 86400)


@pytest.mark.parametrize(("body", "message"), [
    ({"timeout": 86401}, "timeout is too large"),
    ({"grace": 59}, "grace is too small"),
    ({"max_runtime": 0, "repeat_every": 0}, None),
    ({"max_runtime": 59}, "max_runtime is too small"),
    ({"tz": "Europe/Kiev", "schedule": "0 9 * * *"}, None),
    ({"schedule": "0 9 * *"}, "schedule is not a valid cron or OnCalendar expression"),
    ({"unique": [None]}, "an item in 'unique' has unexpected value"),
    ({"fail_threshold": None}, "fail_threshold is not a number"),
])
def test_check_spec_validation(body: dict[str, Any], message: str | None) -> None:
    if message is None:
        assert validate(schemas.CheckSpec, body, LIMITS).model_dump(exclude_unset=True) == body
        return
    with pytest.raises(ApiError) as info:
        validate(schemas.CheckSpec, body, LIMITS)
    assert info.value.message == f"json validation error: {message}"


def test_published_schema_has_no_nulls() -> None:
    props = schemas.CheckSpec.model_json_schema()["properties"]
    assert props["name"] == {"maxLength": 100, "title": "Name", "type": "string"}
    assert props["timeout"]["minimum"] == 60
    assert all("null" not in str(p) for p in props.values())


@pytest.mark.parametrize(("name", "slug"), [
    ("Nightly Backup!", "nightly-backup"),
    ("  spaced   out  ", "spaced-out"),
    ("Ünïcödé", "unicode"),
    ("a_b-c", "a_b-c"),
    ("---", ""),
])
def test_slugify(name: str, slug: str) -> None:
    assert schemas.slugify(name) == slug
