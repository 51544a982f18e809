"""Words for the dashboard: schedules, durations and moments as people say them (pure).

`schedule()` describes the common cron shapes ("every 5 minutes", "at 12:00 Asia/Tokyo",
"at 09:00 Monday to Friday UTC") and falls back to the raw expression for anything else, so a
description is never wrong, only sometimes less friendly.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from pingserver.schedules import human_duration, normalize_cron

DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
_DAY_NAMES = {name[:3].lower(): i for i, name in enumerate(DAYS)}
_MONTH_NAMES = {name[:3].lower(): i + 1 for i, name in enumerate(MONTHS)}


class _Unsupported(Exception):
    """A cron field this describer has no words for; the caller falls back to the raw text."""


# Schedules -------------------------------------------------------------------------------


def schedule(kind: str, timeout_s: int, expr: str, tz: str) -> str:
    """One short phrase for a check's schedule."""
    if kind == "simple":
        return "every " + _period(timeout_s)
    if kind == "cron":
        return cron(expr, tz)
    return "; ".join(line.strip() for line in expr.strip().splitlines()) + f" ({tz})"


def _period(seconds: int) -> str:
    text = human_duration(seconds)
    return text[2:] if text.startswith("1 ") else text  # "every hour", not "every 1 hour"


def cron(expr: str, tz: str) -> str:
    """Words for a five-field cron expression (or a macro), else the expression and zone."""
    fallback = f"{expr.strip()} ({tz})"
    fields = normalize_cron(expr).split()
    if len(fields) != 5:
        return fallback
    try:
        text = _cron_words(*fields)
    except (_Unsupported, ValueError):
        return fallback
    # A schedule that names hours or days needs its zone; "every 5 minutes" does not.
    hour, days = fields[1], fields[2:]
    return text if hour == "*" and days == ["*", "*", "*"] else f"{text} {tz}"


def _cron_words(minute: str, hour: str, dom: str, month: str, dow: str) -> str:
    days = _day_words(dom, month, dow)
    when = _time_words(minute, hour)
    return f"{when} {days}".strip()


def _time_words(minute: str, hour: str) -> str:
    step_m = _step(minute, 60)
    step_h = _step(hour, 24)
    if minute == "*" and hour == "*":
        return "every minute"
    if step_m and hour == "*":
        return f"every {step_m} minutes"
    if step_m and "-" in hour and "," not in hour and "/" not in hour:
        low, high = _range(hour, 0, 23)
        return f"every {step_m} minutes from {low:02d}:00 to {high:02d}:59"
    if minute == "*" and hour.isdigit():
        return f"every minute from {int(hour):02d}:00 to {int(hour):02d}:59"
    minutes = _numbers(minute, 0, 59)
    if hour == "*":
        if len(minutes) == 1:
            return "every hour" if minutes[0] == 0 else f"every hour at :{minutes[0]:02d}"
        return "every hour at " + _join([f":{m:02d}" for m in minutes])
    if step_h and len(minutes) == 1:
        every = f"every {step_h} hours"
        return every if minutes[0] == 0 else f"{every} at :{minutes[0]:02d}"
    if "-" in hour and "," not in hour and "/" not in hour and len(minutes) == 1:
        low, high = _range(hour, 0, 23)
        m = minutes[0]
        return f"every hour from {low:02d}:{m:02d} to {high:02d}:{m:02d}"
    hours = _numbers(hour, 0, 23)
    times = [f"{h:02d}:{m:02d}" for h in hours for m in minutes]
    if len(times) > 6:
        raise _Unsupported(minute + " " + hour)
    return "at " + _join(times)


def _day_words(dom: str, month: str, dow: str) -> str:
    if dom != "*" and dow != "*":
        raise _Unsupported("day of month and day of week (either may match)")
    if dow != "*":
        if month != "*":
            raise _Unsupported(month)
        return _weekdays(dow)
    if dom == "*" and month == "*":
        return ""
    days = _numbers(dom, 1, 31) if dom != "*" else []
    if month == "*":
        if not days:
            raise _Unsupported(dom)
        return "on day " + _join([str(d) for d in days]) + " of the month"
    months = _numbers(month, 1, 12, _MONTH_NAMES)
    names = [MONTHS[m - 1] for m in months]
    if not days:
        return "every day in " + _join(names)
    if len(days) == 1:
        return "on " + _join([f"{days[0]} {name}" for name in names])
    return "on day " + _join([str(d) for d in days]) + " of " + _join(names)


def _weekdays(dow: str) -> str:
    text = dow.lower()
    if text in ("1-5", "mon-fri"):
        return "Monday to Friday"
    if text in ("0,6", "6,0", "6,7", "sat,sun", "sun,sat", "6-7", "sat-sun"):
        return "on Saturday and Sunday"
    days = sorted({d % 7 for d in _numbers(dow, 0, 7, _DAY_NAMES)},
                  key=lambda d: (d + 6) % 7)  # Monday first
    if len(days) == 7:
        return ""
    if len(days) == 1:
        return f"on {DAYS[days[0]]}s"
    return "on " + _join([DAYS[d] for d in days])


def _step(field: str, size: int) -> int:
    """N for `*/N` (or `0/N`), when N divides the field evenly; else 0."""
    if "/" not in field:
        return 0
    base, _, n = field.partition("/")
    if base not in ("*", "0") or not n.isdigit():
        raise _Unsupported(field)
    step = int(n)
    if step <= 0 or step >= size:
        raise _Unsupported(field)
    if size % step:
        raise _Unsupported(field)  # "*/7" restarts at each hour: not really every 7 minutes
    return step


def _value(text: str, low: int, high: int, names: dict[str, int] | None) -> int:
    if text.isdigit():
        value = int(text)
    elif names and text.lower() in names:
        value = names[text.lower()]
    else:
        raise _Unsupported(text)
    if not low <= value <= high:
        raise _Unsupported(text)
    return value


def _range(text: str, low: int, high: int,
           names: dict[str, int] | None = None) -> tuple[int, int]:
    first, _, last = text.partition("-")
    a, b = _value(first, low, high, names), _value(last, low, high, names)
    if a > b:
        raise _Unsupported(text)
    return a, b


def _numbers(field: str, low: int, high: int,
             names: dict[str, int] | None = None) -> list[int]:
    """The values of a list of numbers and ranges (no steps)."""
    if field == "*" or "/" in field:
        raise _Unsupported(field)
    out: set[int] = set()
    for part in field.split(","):
        if "-" in part:
            a, b = _range(part, low, high, names)
            out.update(range(a, b + 1))
        else:
            out.add(_value(part, low, high, names))
    return sorted(out)


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# Durations and moments -------------------------------------------------------------------


def duration(ms: int) -> str:
    """A run time, short: "850 ms", "4.2 s", "3 min 5 s", "2 h 10 min", "3 d 4 h"."""
    if ms < 1000:
        return f"{ms} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s".replace(".0 s", " s")
    total = int(seconds)
    if total < 3600:
        m, s = divmod(total, 60)
        return f"{m} min {s} s" if s else f"{m} min"
    if total < 86400:
        h, rest = divmod(total, 3600)
        m = rest // 60
        return f"{h} h {m} min" if m else f"{h} h"
    d, rest = divmod(total, 86400)
    h = rest // 3600
    return f"{d} d {h} h" if h else f"{d} d"


def _amount(seconds: int) -> str:
    """A rounded amount of time in one unit: "4 minutes" for 4 min 10 s, "5 minutes" for
    4 min 50 s (people read "in 5 minutes" for a deadline 4:59 away)."""
    if seconds < 60:
        n, name = max(seconds, 0), "second"
    elif seconds < 3570:
        n, name = round(seconds / 60), "minute"
    elif seconds < 84600:
        n, name = round(seconds / 3600), "hour"
    else:
        n, name = round(seconds / 86400), "day"
    return f"{n} {name}" if n == 1 else f"{n} {name}s"


def relative(ms: int, now_ms: int, *, never: str = "never") -> str:
    """"3 minutes ago", "in 2 hours", "just now"; `never` for 0."""
    if not ms:
        return never
    delta = (now_ms - ms) // 1000
    if abs(delta) < 5:
        return "just now"
    if delta > 0:
        return f"{_amount(delta)} ago"
    return f"in {_amount(-delta)}"


def since(ms: int, now_ms: int) -> str:
    """How long ago, without "ago": "5 minutes", "less than a minute"."""
    seconds = (now_ms - ms) // 1000
    return _amount(seconds) if seconds >= 60 else "less than a minute"


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds")


def time_of_day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%H:%M:%S UTC")


def clock(ms: int) -> str:
    """An absolute moment for people: "2025-03-01 12:00:05 UTC"."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def window(start_ms: int, end_ms: int, tz: str) -> str:
    """A maintenance window in its own zone: "Sun 2026-12-13 02:00 to 04:00 Europe/Berlin"
    (the end's date only when it differs)."""
    zone = ZoneInfo(tz)
    start = datetime.fromtimestamp(start_ms / 1000, tz=zone)
    end = datetime.fromtimestamp(end_ms / 1000, tz=zone)
    last = end.strftime("%H:%M") if end.date() == start.date() else end.strftime(
        "%a %Y-%m-%d %H:%M")
    return f"{start.strftime('%a %Y-%m-%d %H:%M')} to {last} {tz}"
