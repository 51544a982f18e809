"""Pure functions that build status patches and conditions. No I/O, no Kopf."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from heartbeat_operator import constants
from heartbeat_operator.spec import ChannelChoice, CheckSpec, SilenceSpec, format_duration

Condition = dict[str, Any]

# Ping server states -> HeartbeatCheck status.state. healthchecks calls "late" "grace".
STATES = {"new": "new", "up": "up", "grace": "late", "late": "late", "down": "down",
          "paused": "paused"}


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def rfc3339(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def normalize_time(value: Any) -> str | None:
    """An API timestamp (ISO 8601 string, or epoch seconds/milliseconds) as RFC 3339 UTC, the
    format Kubernetes expects in `format: date-time` fields; None when absent or unreadable."""
    if value in (None, "", 0):
        return None
    try:
        if isinstance(value, int | float):
            seconds = value / 1000 if value > 10**11 else value
            return rfc3339(dt.datetime.fromtimestamp(seconds, dt.UTC))
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return rfc3339(parsed)


def parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def map_state(api_status: Any) -> str:
    return STATES.get(str(api_status or ""), "unknown")


# -- conditions -------------------------------------------------------------------------


def condition(type_: str, status: bool | None, reason: str, message: str, *,
              generation: int | None, now: dt.datetime) -> Condition:
    cond: Condition = {
        "type": type_,
        "status": "Unknown" if status is None else ("True" if status else "False"),
        "reason": reason,
        "message": message,
        "lastTransitionTime": rfc3339(now),
    }
    if generation is not None:
        cond["observedGeneration"] = generation
    return cond


def merge_condition(existing: Sequence[Mapping[str, Any]] | None,
                    new: Condition) -> list[Condition]:
    """Replace the condition of the same type, keeping lastTransitionTime when the status
    did not change (the Kubernetes API conventions)."""
    out: list[Condition] = []
    replaced = False
    for cond in existing or []:
        if cond.get("type") == new["type"]:
            merged = dict(new)
            if cond.get("status") == new["status"] and cond.get("lastTransitionTime"):
                merged["lastTransitionTime"] = cond["lastTransitionTime"]
            out.append(merged)
            replaced = True
        else:
            out.append(dict(cond))
    if not replaced:
        out.append(dict(new))
    return out


def find_condition(conditions: Sequence[Mapping[str, Any]] | None,
                   type_: str) -> Mapping[str, Any] | None:
    for cond in conditions or []:
        if cond.get("type") == type_:
            return cond
    return None


def healthy_condition(state: str, *, generation: int | None, now: dt.datetime,
                      detail: str = "") -> Condition:
    """Healthy follows the check's state: True when up, False when down, Unknown otherwise."""
    suffix = f" ({detail})" if detail else ""
    table: dict[str, tuple[bool | None, str, str]] = {
        "up": (True, "Up", "the last signal arrived in time"),
        "down": (False, "Down", "the check is down"),
        "late": (None, "Late", "the expected ping is overdue; the grace period is running"),
        "new": (None, constants.REASON_NO_DATA, "no ping has arrived yet"),
        "paused": (None, "Paused", "the check is paused"),
    }
    status, reason, message = table.get(state, (None, "Unknown", "state unknown"))
    return condition(constants.HEALTHY, status, reason, message + suffix,
                     generation=generation, now=now)


# -- patches ----------------------------------------------------------------------------


def next_deadline(state: str, next_ping: Any, grace: Any) -> str | None:
    """When the state changes next without a signal: the grace start while up (the API's
    next_ping), the end of the grace period while late, never while down or paused."""
    start = parse_time(normalize_time(next_ping))
    if start is None or state in ("down", "paused"):
        return None
    if state == "late":
        if not isinstance(grace, int | float):
            return None
        start += dt.timedelta(seconds=grace)
    return rfc3339(start)


def runtime_fields(check: Mapping[str, Any]) -> dict[str, Any]:
    """State and timestamps from the ping server's check JSON."""
    state = map_state(check.get("status"))
    fields: dict[str, Any] = {
        "state": state,
        "lastPing": normalize_time(check.get("last_ping")),
        "nextDeadline": next_deadline(state, check.get("next_ping"), check.get("grace")),
    }
    # Why the check's alerts are held now ("" from the API: absent, so that unmuted checks
    # are never written for it).
    fields["muted"] = str(check.get("muted") or "") or None
    if "last_start" in check:
        fields["lastStart"] = normalize_time(check.get("last_start"))
    duration = check.get("last_duration")
    fields["lastDuration"] = (format_duration(float(duration))
                              if isinstance(duration, int | float) and duration >= 0 else None)
    return fields


def ready_patch(*, check_id: str, check: Mapping[str, Any], spec: CheckSpec,
                choice: ChannelChoice, slug_url: str | None, generation: int | None,
                conditions: Sequence[Mapping[str, Any]] | None, now: dt.datetime
                ) -> dict[str, Any]:
    """Status after a successful upsert."""
    if choice.pending:
        ready = condition(
            constants.READY, False, constants.REASON_CHANNELS_PENDING,
            "registered, but these AlertChannels are missing or not ready yet: "
            + ", ".join(choice.pending), generation=generation, now=now)
        message = ready["message"]
    else:
        ready = condition(constants.READY, True, constants.REASON_REGISTERED,
                          "the check is registered with the ping server",
                          generation=generation, now=now)
        message = "registered"
    merged = merge_condition(conditions, ready)
    state = map_state(check.get("status"))
    merged = merge_condition(merged, healthy_condition(state, generation=generation, now=now))
    patch: dict[str, Any] = {
        "checkID": check_id,
        "pingURL": check.get("ping_url") or None,
        "slugURL": slug_url,
        "schedule": spec.schedule_summary(),
        "channels": list(choice.names),
        "message": message,
        "conditions": merged,
        "observedGeneration": generation,
    }
    patch.update(runtime_fields(check))
    return patch


def failure_patch(*, reason: str, message: str, generation: int | None,
                  conditions: Sequence[Mapping[str, Any]] | None, now: dt.datetime
                  ) -> dict[str, Any]:
    """Ready=False with the reason; the rest of the status stays as it was."""
    ready = condition(constants.READY, False, reason, message, generation=generation, now=now)
    return {"message": message, "conditions": merge_condition(conditions, ready),
            "observedGeneration": generation}


def flip_patch(*, flip: Mapping[str, Any], conditions: Sequence[Mapping[str, Any]] | None,
               generation: int | None, now: dt.datetime) -> dict[str, Any]:
    state = map_state(flip.get("new"))
    reason = str(flip.get("reason") or "")
    healthy = healthy_condition(state, generation=generation, now=now, detail=reason)
    flipped_at = normalize_time(flip.get("timestamp")) or normalize_time(flip.get("ts"))
    if flipped_at:
        healthy["lastTransitionTime"] = flipped_at
    merged = merge_condition(conditions, healthy)
    if flipped_at:  # the flip time is when it happened, even if the status did not change
        for cond in merged:
            if cond["type"] == constants.HEALTHY:
                cond["lastTransitionTime"] = flipped_at
    return {"state": state, "lastFlip": flipped_at, "conditions": merged}


def flip_event(flip: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(event type, reason, message) for a flip, or None when it deserves no Event."""
    old, new = map_state(flip.get("old")), map_state(flip.get("new"))
    reason = str(flip.get("reason") or "")
    because = f": {reason}" if reason else ""
    if new == "down":
        return "Warning", constants.EVENT_DOWN, f"check is down (was {old}){because}"
    if new == "up":
        down_for = flip.get("downtime")  # seconds
        detail = ""
        if isinstance(down_for, int | float) and down_for > 0 and old == "down":
            detail = f" after {format_duration(down_for)} down"
        return "Normal", constants.EVENT_UP, f"check is up (was {old}){detail}"
    if new == "late":
        return "Warning", constants.EVENT_LATE, "the expected ping is overdue (grace period)"
    if new == "paused":
        return "Normal", constants.EVENT_PAUSED, "check paused"
    if new == "new" and old == "paused":
        return "Normal", constants.EVENT_RESUMED, "check resumed"
    return None


def runtime_changed(current: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """The subset of `fields` that differs from the current status."""
    return {k: v for k, v in fields.items() if current.get(k) != v}


def channel_ready_patch(*, channel_id: str, kind: str, last_error: str,
                        generation: int | None, conditions: Sequence[Mapping[str, Any]] | None,
                        now: dt.datetime) -> dict[str, Any]:
    ready = condition(constants.READY, True, constants.REASON_REGISTERED,
                      f"{kind} channel registered with the ping server",
                      generation=generation, now=now)
    return {"ready": True, "channelID": channel_id, "lastError": last_error or None,
            "conditions": merge_condition(conditions, ready), "observedGeneration": generation}


def channel_failure_patch(*, reason: str, message: str, generation: int | None,
                          conditions: Sequence[Mapping[str, Any]] | None, now: dt.datetime
                          ) -> dict[str, Any]:
    ready = condition(constants.READY, False, reason, message, generation=generation, now=now)
    return {"ready": False, "lastError": message,
            "conditions": merge_condition(conditions, ready), "observedGeneration": generation}


# -- HeartbeatSilence ---------------------------------------------------------------------


def silence_runtime_fields(silence: Mapping[str, Any]) -> dict[str, Any]:
    """What changes with time, from the API's silence JSON: the state, the matched checks
    and the window shown (the one in force, else the next, else the silence's own)."""
    state = str(silence.get("state") or "")
    windows = silence.get("next_windows") or []
    if state == "active" and silence.get("current_start"):
        start, end = silence.get("current_start"), silence.get("current_end")
    elif state == "pending" and windows:
        start, end = windows[0].get("start"), windows[0].get("end")
    else:
        start, end = silence.get("starts_at"), silence.get("ends_at")
    matched = silence.get("matched_checks")
    return {"state": state if state in ("active", "pending", "expired") else "unknown",
            "matchedChecks": matched if isinstance(matched, int) else None,
            "startsAt": normalize_time(start), "endsAt": normalize_time(end)}


def silence_next_change(current: Mapping[str, Any]) -> dt.datetime | None:
    """When a silence's state changes next, from its status: a pending one starts, an active
    one ends; an expired one never changes."""
    state = current.get("state")
    if state == "pending":
        return parse_time(current.get("startsAt"))
    if state == "active":
        return parse_time(current.get("endsAt"))
    return None


def silence_ready_patch(*, silence_id: str, silence: Mapping[str, Any], spec: SilenceSpec,
                        matchers: Sequence[str], generation: int | None,
                        conditions: Sequence[Mapping[str, Any]] | None, now: dt.datetime
                        ) -> dict[str, Any]:
    ready = condition(constants.READY, True, constants.REASON_REGISTERED,
                      "the silence is registered with the ping server",
                      generation=generation, now=now)
    patch: dict[str, Any] = {
        "silenceID": silence_id,
        "matchers": list(matchers),
        "schedule": spec.schedule_summary() or None,
        "message": "registered",
        "conditions": merge_condition(conditions, ready),
        "observedGeneration": generation,
    }
    patch.update(silence_runtime_fields(silence))
    return patch
