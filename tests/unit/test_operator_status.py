"""Status patches and conditions: pure functions, no cluster, no network."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from heartbeat_operator import spec, status
from heartbeat_operator.spec import ChannelChoice, parse_check_spec

T0 = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(minutes=5)

CHECK: dict[str, Any] = {
    "uuid": "0f6f1a3e-5c1b-4d2e-9a7b-1c2d3e4f5a6b",
    "ping_url": "http://hb.example/ping/0f6f1a3e-5c1b-4d2e-9a7b-1c2d3e4f5a6b",
    "status": "up",
    "last_ping": "2026-03-01T11:58:00+00:00",
    "next_ping": "2026-03-01T12:08:00+00:00",
    "last_duration": 75,
}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2026-03-01T11:58:00+00:00", "2026-03-01T11:58:00Z"),
     ("2026-03-01T12:58:00+01:00", "2026-03-01T11:58:00Z"),
     ("2026-03-01T11:58:00.123456Z", "2026-03-01T11:58:00Z"),
     ("2026-03-01T11:58:00", "2026-03-01T11:58:00Z"),
     (1772366280, "2026-03-01T11:58:00Z"), (1772366280000, "2026-03-01T11:58:00Z"),
     (None, None), ("", None), ("yesterday", None)],
)
def test_normalize_time(value: Any, expected: str | None) -> None:
    assert status.normalize_time(value) == expected


@pytest.mark.parametrize(("api", "state"), [("grace", "late"), ("late", "late"), ("up", "up"),
                                            ("paused", "paused"), ("started", "unknown"),
                                            (None, "unknown")])
def test_state_names(api: Any, state: str) -> None:
    assert status.map_state(api) == state


def test_merge_condition_keeps_transition_time_when_status_holds() -> None:
    first = status.condition("Ready", True, "Registered", "ok", generation=1, now=T0)
    again = status.condition("Ready", True, "Registered", "still ok", generation=2, now=T1)
    merged = status.merge_condition([first], again)
    assert merged == [{**again, "lastTransitionTime": "2026-03-01T12:00:00Z"}]


def test_merge_condition_moves_transition_time_on_change() -> None:
    first = status.condition("Ready", True, "Registered", "ok", generation=1, now=T0)
    other = status.condition("Healthy", None, "NoPingYet", "", generation=1, now=T0)
    failed = status.condition("Ready", False, "InvalidSpec", "bad tz", generation=2, now=T1)
    merged = status.merge_condition([first, other], failed)
    assert [c["type"] for c in merged] == ["Ready", "Healthy"]
    assert merged[0]["status"] == "False"
    assert merged[0]["lastTransitionTime"] == "2026-03-01T12:05:00Z"
    assert merged[1] == other


def test_ready_patch() -> None:
    parsed = parse_check_spec({"period": "10m"})
    choice = ChannelChoice(("id-1",), ("mail",), ())
    patch = status.ready_patch(check_id=CHECK["uuid"], check=CHECK, spec=parsed, choice=choice,
                               slug_url=None, generation=3, conditions=None, now=T0)
    assert patch["checkID"] == CHECK["uuid"]
    assert patch["pingURL"] == CHECK["ping_url"]
    assert patch["state"] == "up"
    assert patch["lastPing"] == "2026-03-01T11:58:00Z"
    assert patch["nextDeadline"] == "2026-03-01T12:08:00Z"
    assert patch["lastDuration"] == "1m15s"
    assert patch["schedule"] == "every 10m"
    assert patch["channels"] == ["mail"]
    assert patch["observedGeneration"] == 3
    ready = status.find_condition(patch["conditions"], "Ready")
    healthy = status.find_condition(patch["conditions"], "Healthy")
    assert ready is not None and ready["status"] == "True"
    assert healthy is not None and healthy["status"] == "True" and healthy["reason"] == "Up"


def test_ready_patch_with_pending_channels_is_not_ready() -> None:
    parsed = parse_check_spec({"period": "10m", "channels": ["mail", "pager"]})
    choice = ChannelChoice(("id-1",), ("mail",), ("pager",))
    patch = status.ready_patch(check_id="x", check={**CHECK, "status": "new"}, spec=parsed,
                               choice=choice, slug_url=None, generation=1, conditions=None,
                               now=T0)
    ready = status.find_condition(patch["conditions"], "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("False", "ChannelsNotReady")
    assert "pager" in ready["message"]
    assert patch["pingURL"]  # the check works; only some alerts are missing


def test_failure_patch_keeps_other_fields_out() -> None:
    patch = status.failure_patch(reason="InvalidSpec", message="tz is not a valid timezone",
                                 generation=4, conditions=None, now=T0)
    assert set(patch) == {"message", "conditions", "observedGeneration"}
    assert patch["conditions"][0]["reason"] == "InvalidSpec"


def event_reason(flip: dict[str, Any]) -> str | None:
    event = status.flip_event(flip)
    return event[1] if event else None


def test_flip_patch_and_events() -> None:
    flip = {"check": CHECK["uuid"], "old": "up", "new": "down", "reason": "timeout",
            "timestamp": "2026-03-01T12:10:00+00:00", "ts": 1772366600000, "downtime": 0}
    patch = status.flip_patch(flip=flip, conditions=None, generation=1, now=T1)
    assert patch["state"] == "down"
    assert patch["lastFlip"] == "2026-03-01T12:10:00Z"
    healthy = status.find_condition(patch["conditions"], "Healthy")
    assert healthy is not None
    assert (healthy["status"], healthy["reason"]) == ("False", "Down")
    assert healthy["lastTransitionTime"] == "2026-03-01T12:10:00Z"
    assert status.flip_event(flip) == ("Warning", "CheckDown",
                                       "check is down (was up): timeout")
    back = {**flip, "old": "down", "new": "up", "reason": "success", "downtime": 3720}
    assert status.flip_event(back) == ("Normal", "CheckUp", "check is up (was down) after 1h2m "
                                                            "down")
    assert event_reason({**flip, "new": "grace"}) == "CheckLate"
    assert event_reason({**flip, "new": "paused"}) == "CheckPaused"
    assert event_reason({**flip, "old": "paused", "new": "new"}) == "CheckResumed"
    assert status.flip_event({**flip, "old": "up", "new": "new"}) is None


def test_runtime_changed_reports_only_moved_fields() -> None:
    fields = status.runtime_fields(CHECK)
    current = {"state": "up", "lastPing": "2026-03-01T11:50:00Z",
               "nextDeadline": "2026-03-01T12:08:00Z", "lastDuration": "1m15s"}
    assert status.runtime_changed(current, fields) == {"lastPing": "2026-03-01T11:58:00Z"}
    assert status.runtime_changed({**current, **fields}, fields) == {}


@pytest.mark.parametrize(("state", "deadline"),
                         [("up", "2026-03-01T12:08:00Z"), ("new", "2026-03-01T12:08:00Z"),
                          ("grace", "2026-03-01T12:18:00Z"), ("down", None), ("paused", None)])
def test_next_deadline_follows_the_state(state: str, deadline: str | None) -> None:
    fields = status.runtime_fields({**CHECK, "status": state, "grace": 600})
    assert fields["nextDeadline"] == deadline


def test_runtime_fields_without_optional_values() -> None:
    fields = status.runtime_fields({"status": "new", "last_ping": None, "next_ping": None})
    assert fields == {"state": "new", "lastPing": None, "nextDeadline": None,
                      "lastDuration": None, "muted": None}


def test_channel_patches() -> None:
    ok = status.channel_ready_patch(channel_id="c1", kind="webhook", last_error="",
                                    generation=2, conditions=None, now=T0)
    assert (ok["ready"], ok["channelID"], ok["lastError"]) == (True, "c1", None)
    bad = status.channel_failure_patch(reason="SecretNotFound", message="Secret ns/x not found",
                                       generation=2, conditions=ok["conditions"], now=T1)
    assert bad["ready"] is False
    assert bad["conditions"][0]["status"] == "False"


# -- muted checks and HeartbeatSilence ------------------------------------------------------


def test_muted_is_absent_unless_the_api_says_why() -> None:
    """Absent rather than "": the refresh writes only what moved, and every unmuted check's
    status already lacks the field."""
    assert status.runtime_fields({**CHECK, "muted": ""})["muted"] is None
    reason = 'silenced by "pg upgrade" (4f0c)'
    fields = status.runtime_fields({**CHECK, "muted": reason})
    assert fields["muted"] == reason
    current = {**status.runtime_fields(CHECK)}
    assert status.runtime_changed(current, fields) == {"muted": reason}
    assert status.runtime_changed(fields, status.runtime_fields(CHECK)) == {"muted": None}


SILENCE: dict[str, Any] = {
    "id": "s-1", "state": "active", "matched_checks": 3,
    "starts_at": "2026-03-01T11:00:00+00:00", "ends_at": "2026-03-01T13:00:00+00:00",
    "current_start": "2026-03-01T11:00:00+00:00", "current_end": "2026-03-01T13:00:00+00:00",
    "next_start": None, "next_windows": [], "schedule": "", "duration": 7200,
}


def test_silence_fields_show_the_window_in_force_or_next() -> None:
    assert status.silence_runtime_fields(SILENCE) == {
        "state": "active", "matchedChecks": 3, "startsAt": "2026-03-01T11:00:00Z",
        "endsAt": "2026-03-01T13:00:00Z"}
    window = {**SILENCE, "state": "pending", "current_start": None, "current_end": None,
              "starts_at": "2026-02-01T00:00:00+00:00", "ends_at": None,
              "next_windows": [{"start": "2026-03-08T01:00:00+00:00",
                                "end": "2026-03-08T03:00:00+00:00"}]}
    assert status.silence_runtime_fields(window)["startsAt"] == "2026-03-08T01:00:00Z"
    assert status.silence_runtime_fields(window)["endsAt"] == "2026-03-08T03:00:00Z"
    expired = {**SILENCE, "state": "expired", "matched_checks": 0, "current_start": None}
    assert status.silence_runtime_fields(expired) == {
        "state": "expired", "matchedChecks": 0, "startsAt": "2026-03-01T11:00:00Z",
        "endsAt": "2026-03-01T13:00:00Z"}
    assert status.silence_runtime_fields({"state": "odd"})["state"] == "unknown"


def test_silence_next_change() -> None:
    fields = status.silence_runtime_fields(SILENCE)
    assert status.silence_next_change(fields) == T0 + dt.timedelta(hours=1)
    pending = {**fields, "state": "pending"}
    assert status.silence_next_change(pending) == T0 - dt.timedelta(hours=1)
    assert status.silence_next_change({**fields, "state": "expired"}) is None


def test_silence_ready_patch() -> None:
    parsed = spec.parse_silence_spec({"schedule": "0 2 * * 0", "duration": "2h"})
    patch = status.silence_ready_patch(silence_id="s-1", silence=SILENCE, spec=parsed,
                                       matchers=['namespace="ns"'], generation=4,
                                       conditions=None, now=T0)
    assert (patch["silenceID"], patch["state"], patch["matchedChecks"]) == ("s-1", "active", 3)
    assert patch["schedule"] == "0 2 * * 0 for 2h"
    assert patch["matchers"] == ['namespace="ns"']
    assert patch["conditions"][0]["type"] == "Ready"
    assert patch["conditions"][0]["status"] == "True"
    assert patch["observedGeneration"] == 4
