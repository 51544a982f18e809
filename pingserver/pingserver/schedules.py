"""Schedules: cron (Vixie semantics via cronsim), systemd OnCalendar, time zones.

Pure functions only. Times are UTC milliseconds since the epoch (ints), the unit the Redis
store uses, so that Lua scripts can compare them without conversions.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from oncalendar import OnCalendar, OnCalendarError

# Legacy zone names that zoneinfo may lack on some systems, mapped as healthchecks does.
_LEGACY_TZ = {"Europe/Kiev": "Europe/Kyiv"}

# Vixie cron macros; cronsim only knows the five-field form.
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

# How many upcoming ticks are precomputed and stored with a cron check, so that the ping
# script (Lua) can find the next deadline without cron math.
TICKS_AHEAD = 16


class ScheduleError(ValueError):
    """The schedule or time zone is not valid; the message is user-facing."""


def normalize_cron(expr: str) -> str:
    """Expand @macros and Quartz-style `?` (as Kubernetes CronJobs allow) to five fields."""
    text = expr.strip()
    if text.lower() in _MACROS:
        return _MACROS[text.lower()]
    return " ".join("*" if field == "?" else field for field in text.split())


def schedule_kind(expr: str) -> str:
    """healthchecks' auto-detection: one line of five fields (or a macro) is cron."""
    text = expr.strip()
    if "\n" not in text and (text.lower() in _MACROS or len(text.split()) == 5):
        return "cron"
    return "oncalendar"


def zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(_LEGACY_TZ.get(tz, tz))
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ScheduleError("is not a valid timezone") from exc


def _iterate(expr: str, tz: str, after_ms: int) -> Iterator[datetime]:
    start = datetime.fromtimestamp(after_ms / 1000, tz=UTC).astimezone(zone(tz))
    if schedule_kind(expr) == "cron":
        return CronSim(normalize_cron(expr), start)
    return OnCalendar(expr, start)


def validate(expr: str, tz: str) -> None:
    """Raise ScheduleError unless the schedule has at least one future match in tz."""
    zone(tz)
    try:
        it = _iterate(expr, tz, int(datetime.now(UTC).timestamp() * 1000))
        next(it, None)
    except (CronSimError, OnCalendarError, ValueError, KeyError, IndexError) as exc:
        raise ScheduleError("is not a valid cron or OnCalendar expression") from exc


def ticks_after(expr: str, tz: str, after_ms: int, count: int = TICKS_AHEAD) -> list[int]:
    """The next `count` matches strictly after `after_ms`, as UTC milliseconds.

    An OnCalendar expression may run out of matches (a date in the past); the list is then
    shorter, and an empty list means "never".
    """
    out: list[int] = []
    for moment in _iterate(expr, tz, after_ms):
        ms = int(moment.timestamp() * 1000)
        if ms <= after_ms:
            continue
        out.append(ms)
        if len(out) >= count:
            break
    return out


def describe(kind: str, timeout_s: int, schedule: str, tz: str) -> str:
    """A short human description ("every 5 minutes", "0 12 * * * Asia/Tokyo")."""
    if kind == "simple":
        return "every " + human_duration(timeout_s)
    return f"{schedule.strip()} ({tz})"


def human_duration(seconds: int) -> str:
    units = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))
    for name, size in units:
        if seconds % size == 0 and seconds >= size:
            n = seconds // size
            return f"{n} {name}" if n == 1 else f"{n} {name}s"
    return f"{seconds} seconds"


def cron_tick_at_or_before(expr: str, tz: str, at_ms: int) -> int:
    """The latest match of a cron expression at or before `at_ms` (UTC ms), 0 if none."""
    # Reverse iteration yields ticks strictly before its start: start just after `at_ms`.
    start = datetime.fromtimestamp((at_ms + 1) / 1000, tz=UTC).astimezone(zone(tz))
    moment = next(CronSim(normalize_cron(expr), start, reverse=True), None)
    return int(moment.timestamp() * 1000) if moment else 0


def validate_cron(expr: str) -> None:
    """Raise ScheduleError unless `expr` is a five-field cron expression or a macro."""
    if schedule_kind(expr) != "cron":
        raise ScheduleError("is not a valid cron expression")
    try:
        next(CronSim(normalize_cron(expr), datetime.now(UTC)), None)
    except (CronSimError, ValueError, KeyError, IndexError) as exc:
        raise ScheduleError("is not a valid cron expression") from exc


def add_wall_seconds(at_ms: int, tz: str, seconds: int) -> int:
    """`seconds` added to the local wall-clock time of `at_ms` in `tz`: a window from 02:00
    lasting 2 h closes at 04:00 local time, also on the night the clocks change."""
    zoned = datetime.fromtimestamp(at_ms / 1000, tz=UTC).astimezone(zone(tz))
    wall = zoned.replace(tzinfo=None) + timedelta(seconds=seconds)
    return int(wall.replace(tzinfo=zone(tz)).timestamp() * 1000)
