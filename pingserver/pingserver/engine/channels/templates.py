"""Plain-text alert messages for email and Apprise: subject, title and body."""

from __future__ import annotations

import time

from pingserver import schedules
from pingserver.engine.channels import Alert, iso

BODY_PREVIEW = 2000  # characters of the last ping body shown in a message

REASONS = {
    "timeout": "the success signal did not arrive on time, grace time passed",
    "fail": "received a failure signal",
    "runtime": "a run did not finish within its time budget",
    "late": "the expected ping is late: the grace period has started",
    "success": "received a success signal",
    "repeat": "the check is still down (reminder)",
}


def headline(alert: Alert) -> str:
    label = {"down": "DOWN", "up": "UP", "late": "LATE"}[alert.kind]
    if alert.repeat:
        label = "STILL DOWN"
    return f"{label} | {alert.check.config['name'] or alert.check.uuid[:8]}"


def ago(ms: int, now_ms: int) -> str:
    return duration(now_ms - ms) + " ago" if now_ms - ms >= 1000 else "just now"


def duration(ms: int) -> str:
    """"3 hours 5 minutes": the two largest units, enough for a downtime."""
    seconds = max(0, ms // 1000)
    parts: list[str] = []
    for name, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            parts.append(f"{n} {name}" + ("" if n == 1 else "s"))
    return " ".join(parts[:2]) or "0 seconds"


def schedule_text(alert: Alert) -> str:
    c = alert.check.config
    return schedules.describe(str(c["kind"]), int(c["timeout"]), str(c["schedule"]), str(c["tz"]))


def body(alert: Alert, now_ms: int | None = None) -> str:
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    check = alert.check
    c = check.config
    lines = [headline(alert), ""]
    if alert.kind == "down":
        lines.append(f"The check \"{c['name']}\" is DOWN.")
    elif alert.kind == "late":
        lines.append(f"The check \"{c['name']}\" is LATE.")
    else:
        lines.append(f"The check \"{c['name']}\" is UP again.")
    lines.append(f"Reason: {REASONS.get(alert.reason, alert.reason)}"
                 + (f" (run {alert.rid})" if alert.rid else ""))
    if alert.downtime_ms and alert.kind == "up":
        lines.append(f"Downtime: {duration(alert.downtime_ms)}")
    elif alert.downtime_ms and alert.repeat:
        lines.append(f"Down for: {duration(alert.downtime_ms)}")
    lines.append(f"Since: {iso(alert.ts)}")
    lines += ["", f"Schedule: {schedule_text(alert)}, grace "
              f"{schedules.human_duration(int(c['grace']))}"]
    if c["tags"]:
        lines.append(f"Tags: {c['tags']}")
    if c["desc"]:
        lines.append(f"Description: {c['desc']}")
    if check.last_ping:
        lines.append(f"Last ping: {iso(check.last_ping)} ({ago(check.last_ping, now)})")
    else:
        lines.append("Last ping: never")
    if alert.last_exitstatus >= 0:
        lines.append(f"Last exit status: {alert.last_exitstatus}")
    if alert.last_ping_body:
        text = alert.last_ping_body.decode("utf-8", errors="replace")
        cut = len(text) > BODY_PREVIEW
        lines += ["", "Last ping body" + (" (truncated):" if cut else ":"),
                  text[:BODY_PREVIEW]]
    return "\n".join(lines) + "\n"
