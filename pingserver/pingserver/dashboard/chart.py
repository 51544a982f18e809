"""The geometry of a check's timeline chart (pure): state bands from the flips, one bar per
finished run (its height is the run time) and one mark per ping, over a window of time.

The template turns this into inline SVG; the same facts are in the history table under the
chart, so the chart is a picture for the eye and never the only place to read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pingserver.dashboard import describe

RANGES = {"1h": 3600_000, "6h": 6 * 3600_000, "24h": 86400_000, "7d": 7 * 86400_000}

WIDTH = 1000
LEFT = 84  # room for the lane labels
RIGHT = 12
PLOT = WIDTH - LEFT - RIGHT
STATE_Y, STATE_H = 6, 24
RUNS_Y, RUNS_H = 42, 72
PINGS_Y, PINGS_H = 124, 14
AXIS_Y = 150
HEIGHT = 170
TICK_STEPS = (60_000, 300_000, 600_000, 900_000, 1800_000, 3600_000, 2 * 3600_000,
              3 * 3600_000, 6 * 3600_000, 12 * 3600_000, 86400_000)
STATE_WORDS = {"up": "Up", "late": "Late", "down": "Down", "paused": "Paused", "new": "New"}
KIND_WORDS = {"success": "Success", "start": "Start", "fail": "Failure", "log": "Log",
              "ign": "Ignored"}


@dataclass
class Segment:
    x: float
    width: float
    state: str
    label: str
    title: str
    label_x: float
    show_label: bool


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str
    title: str


@dataclass
class Mark:
    x: float
    kind: str
    title: str


@dataclass
class Tick:
    x: float
    label: str


@dataclass
class Chart:
    range: str
    start: int
    end: int
    segments: list[Segment]
    bars: list[Bar]
    marks: list[Mark]
    ticks: list[Tick]
    max_duration: str
    summary: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    state_y: int = STATE_Y
    state_h: int = STATE_H
    runs_y: int = RUNS_Y
    runs_h: int = RUNS_H
    pings_y: int = PINGS_Y
    pings_h: int = PINGS_H
    axis_y: int = AXIS_Y


def _x(ts: int, start: int, end: int) -> float:
    return round(LEFT + PLOT * (ts - start) / (end - start), 1)


def _states(flips: list[dict[str, Any]], current: str, created: int, start: int,
            end: int) -> list[tuple[int, int, str]]:
    """(from, to, state) spans covering the window from the check's creation on."""
    ordered = sorted(flips, key=lambda f: int(f.get("ts") or 0))
    before = [f for f in ordered if int(f["ts"]) <= start]
    inside = [f for f in ordered if start < int(f["ts"]) <= end]
    if before:
        state = str(before[-1]["new"])
    elif inside:
        state = str(inside[0].get("old") or "new")
    else:
        state = current
    spans = []
    at = max(start, min(created, end)) if created else start
    for flip in inside:
        ts = int(flip["ts"])
        if ts > at:
            spans.append((at, ts, state))
        at = max(at, ts)
        state = str(flip["new"])
    if end > at:
        spans.append((at, end, state))
    return spans


def _ticks(start: int, end: int) -> list[Tick]:
    span = end - start
    step = next((s for s in TICK_STEPS if span / s <= 8), TICK_STEPS[-1])
    fmt = "%a %d" if step >= 86400_000 else "%H:%M"
    first = (start // step + 1) * step
    last = end - span * 0.07  # leave room for the "now" label
    return [Tick(_x(t, start, end), datetime.fromtimestamp(t / 1000, tz=UTC).strftime(fmt))
            for t in range(first, end, step) if t < last]


def fitting_range(pings: list[dict[str, Any]], now: int) -> str:
    """The shortest range that shows every kept ping (the ping log is capped, so a check
    pinged every minute gets a short range and a daily one a long range)."""
    oldest = min((int(p.get("ts") or now) for p in pings), default=now)
    return next((name for name, span in RANGES.items() if now - oldest <= span * 0.95),
                "7d")


def timeline(flips: list[dict[str, Any]], pings: list[dict[str, Any]], *, current: str,
             created: int, now: int, range_name: str) -> Chart:
    if range_name not in RANGES:
        range_name = fitting_range(pings, now)
    span = RANGES[range_name]
    start, end = now - span, now
    # Checks made with back-dated history (imports, tests) have pings before `created`.
    created = min([created or now] + [int(p.get("ts") or now) for p in pings]
                  + [int(f.get("ts") or now) for f in flips])
    segments = []
    for a, b, state in _states(flips, current, created, start, end):
        x, x2 = _x(a, start, end), _x(b, start, end)
        word = STATE_WORDS.get(state, state)
        segments.append(Segment(
            x=x, width=max(round(x2 - x, 1), 0.5), state=state, label=word,
            title=f"{word} from {describe.clock(a)} to {describe.clock(b)}",
            label_x=round(x + 4, 1), show_label=x2 - x >= 8 * len(word) + 8))
    shown = [p for p in pings if start <= int(p.get("ts") or 0) <= end]
    runs = [p for p in shown if p.get("duration") is not None]
    longest = max((int(p["duration"]) for p in runs), default=0)
    bars = []
    for p in runs:
        ms = int(p["duration"])
        height = max(round(RUNS_H * ms / longest, 1), 2.0) if longest else 2.0
        kind = str(p.get("kind") or "success")
        bars.append(Bar(x=_x(int(p["ts"]), start, end) - 2, y=RUNS_Y + RUNS_H - height,
                        width=4, height=height, kind=kind,
                        title=f"{KIND_WORDS.get(kind, kind)} at {describe.clock(int(p['ts']))}, "
                              f"ran {describe.duration(ms)}"))
    marks = [Mark(x=_x(int(p["ts"]), start, end), kind=str(p.get("kind") or "success"),
                  title=f"{KIND_WORDS.get(str(p.get('kind')), 'Ping')} at "
                        f"{describe.clock(int(p['ts']))}")
             for p in shown]
    downs = sum(1 for f in flips if f.get("new") == "down" and start < int(f["ts"]) <= end)
    summary = (f"Last {range_name}: {len(shown)} pings, {len(runs)} timed runs"
               + (f" (longest {describe.duration(longest)})" if longest else "")
               + f", went down {downs} time{'s' if downs != 1 else ''}.")
    return Chart(range=range_name, start=start, end=end, segments=segments, bars=bars,
                 marks=marks, ticks=_ticks(start, end),
                 max_duration=describe.duration(longest) if longest else "",
                 summary=summary)
