"""Silences, maintenance windows and dependencies: which checks' alerts are held now (pure).

A silence mutes the checks all of its matchers select, from `starts_at` to `ends_at`; with a
`schedule` it is a maintenance window that opens at every cron tick (in `tz`) and stays open
for `duration` seconds of local wall-clock time. A check is also muted while one of the
checks it depends on is down. The notifier holds the alerts of muted checks (engine/hold.py).

Matching is indexed: each silence is filed under one of its equality matchers (or, without
one, under its project's "scan" list), so a check is compared only with the silences that
can match it, not with every silence (docs/oncall.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pingserver import schedules
from pingserver.model import Check

FIELDS = ("uuid", "name", "slug", "tag", "project", "namespace")
LABEL_PREFIX = "label:"
LABEL_KEY_RE = re.compile(r"^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?/)?[A-Za-z0-9]"
                          r"([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
OPERATORS = ("=~", "!~", "!=", "=")  # longest first: "=~" is not "=" followed by "~"
_MATCHER_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*(?::[^\s=!~]+)?)\s*(=~|!~|!=|=)\s*(.*?)\s*$",
                         re.DOTALL)
WINDOW_SCAN = 1000  # overlapping windows merged at most (a minutely schedule, long duration)


class MatcherError(ValueError):
    """A matcher cannot be used; the message is user-facing."""


@dataclass(frozen=True)
class Matcher:
    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True
    pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def make(cls, name: str, value: str, *, is_regex: bool, is_equal: bool) -> Matcher:
        if name not in FIELDS and not (name.startswith(LABEL_PREFIX)
                                       and LABEL_KEY_RE.match(name[len(LABEL_PREFIX):])):
            raise MatcherError(f"unknown matcher name {name!r}")
        if len(value) > 1000:
            raise MatcherError("value is too long")
        pattern = None
        if is_regex:
            try:
                pattern = re.compile(value)
            except re.error as exc:
                raise MatcherError(f"invalid regex {value!r}: {exc}") from None
        return cls(name, value, is_regex, is_equal, pattern)

    def text(self) -> str:
        """amtool's form: name, operator, quoted value."""
        op = ("=~" if self.is_equal else "!~") if self.is_regex else ("=" if self.is_equal
                                                                      else "!=")
        return f"{self.name}{op}{json.dumps(self.value)}"

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "isRegex": self.is_regex,
                "isEqual": self.is_equal}

    def matches(self, values: Sequence[str]) -> bool:
        """Positive operators: any value matches; negative ones: none does."""
        if self.pattern is not None:
            found = any(self.pattern.fullmatch(v) for v in values)
        else:
            found = self.value in values
        return found if self.is_equal else not found


def parse_matcher(text: str) -> Matcher:
    """One matcher in amtool syntax: `tag=db`, `name=~"nightly-.*"`, `label:app!=web`."""
    found = _MATCHER_RE.match(text)
    if not found:
        raise MatcherError(f"{text!r} is not a matcher (name=value, !=, =~ or !~)")
    name, op, value = found.groups()
    if value.startswith('"'):
        try:
            decoded = json.loads(value)
        except ValueError:
            raise MatcherError(f"{text!r}: unterminated or invalid quoted value") from None
        if not isinstance(decoded, str):
            raise MatcherError(f"{text!r}: invalid quoted value")
        value = decoded
    return Matcher.make(name, value, is_regex="~" in op, is_equal=op in ("=", "=~"))


def matcher_from_json(item: object) -> Matcher:
    """A matcher from the API: an amtool string or Alertmanager's object form."""
    if isinstance(item, str):
        return parse_matcher(item)
    if not isinstance(item, Mapping):
        raise MatcherError("must be a string or an object")
    unknown = set(item) - {"name", "value", "isRegex", "isEqual"}
    if unknown:
        raise MatcherError(f"unknown field {sorted(unknown)[0]!r}")
    name, value = item.get("name"), item.get("value")
    is_regex, is_equal = item.get("isRegex", False), item.get("isEqual", True)
    if not isinstance(name, str) or not isinstance(value, str):
        raise MatcherError("name and value must be strings")
    if not isinstance(is_regex, bool) or not isinstance(is_equal, bool):
        raise MatcherError("isRegex and isEqual must be booleans")
    return Matcher.make(name, value, is_regex=is_regex, is_equal=is_equal)


def check_values(check: Check, name: str, project_name: str) -> list[str]:
    """What a matcher named `name` compares with, for one check."""
    config = check.config
    if name == "uuid":
        return [check.uuid]
    if name == "tag":
        return check.tag_list or [""]
    if name == "project":
        return [check.project, project_name]
    if name.startswith(LABEL_PREFIX):
        return [check.labels.get(name[len(LABEL_PREFIX):], "")]
    return [str(config.get(name, ""))]


# Silences ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    start: int  # ms
    end: int  # ms


@dataclass(frozen=True)
class Silence:
    id: str
    project: str
    matchers: tuple[Matcher, ...]
    starts_at: int  # ms
    ends_at: int  # ms; 0 = never (windows only)
    schedule: str = ""
    duration: int = 0  # seconds
    tz: str = "UTC"
    created_by: str = ""
    comment: str = ""
    created_at: int = 0
    updated_at: int = 0

    @property
    def recurring(self) -> bool:
        return bool(self.schedule)

    def to_json(self) -> str:
        return json.dumps({
            "id": self.id, "project": self.project,
            "matchers": [m.as_json() for m in self.matchers], "starts_at": self.starts_at,
            "ends_at": self.ends_at, "schedule": self.schedule, "duration": self.duration,
            "tz": self.tz, "created_by": self.created_by, "comment": self.comment,
            "created_at": self.created_at, "updated_at": self.updated_at})

    @classmethod
    def from_json(cls, raw: str) -> Silence:
        data = json.loads(raw)
        matchers = tuple(matcher_from_json(m) for m in data["matchers"])
        return cls(id=data["id"], project=data["project"], matchers=matchers,
                   starts_at=int(data["starts_at"]), ends_at=int(data["ends_at"]),
                   schedule=data.get("schedule", ""), duration=int(data.get("duration", 0)),
                   tz=data.get("tz", "UTC"), created_by=data.get("created_by", ""),
                   comment=data.get("comment", ""), created_at=int(data.get("created_at", 0)),
                   updated_at=int(data.get("updated_at", 0)))

    def window_at(self, now: int) -> Window | None:
        """The window in force at `now` (overlapping windows merged), else None."""
        if now < self.starts_at or (self.ends_at and now >= self.ends_at):
            return None
        if not self.recurring:
            return Window(self.starts_at, self.ends_at)
        tick = schedules.cron_tick_at_or_before(self.schedule, self.tz, now)
        if tick < self.starts_at or not tick:
            return None
        end = self._close(tick)
        if end <= now:
            return None
        return Window(tick, self._merged_end(tick, end))

    def _close(self, tick: int) -> int:
        end = schedules.add_wall_seconds(tick, self.tz, self.duration)
        return min(end, self.ends_at) if self.ends_at else end

    def _merged_end(self, tick: int, end: int) -> int:
        """The end of the window opened at `tick`, with the windows opening inside it."""
        for _ in range(WINDOW_SCAN):
            tick = self.next_start(tick)
            if not tick or tick > end:
                break
            end = max(end, self._close(tick))
        return end

    def next_start(self, after: int) -> int:
        """The first opening strictly after `after` (0: none)."""
        if not self.recurring:
            return self.starts_at if self.starts_at > after else 0
        ticks = schedules.ticks_after(self.schedule, self.tz, max(after, self.starts_at - 1), 1)
        if not ticks or (self.ends_at and ticks[0] >= self.ends_at):
            return 0
        return ticks[0]

    def windows(self, after: int, count: int) -> list[Window]:
        """The next `count` windows that open after `after` (for previews)."""
        out: list[Window] = []
        at = after
        while len(out) < count:
            start = self.next_start(at)
            if not start:
                break
            out.append(Window(start, self._close(start)))
            at = start
        return out

    def state(self, now: int) -> str:
        if self.window_at(now) is not None:
            return "active"
        return "pending" if self.next_start(now) else "expired"

    def finished_at(self, now: int) -> int:
        """When it expired (0 while it may still mute)."""
        if self.state(now) != "expired":
            return 0
        return self.ends_at or now

    def next_change(self, now: int) -> int:
        """When `state` may next change (0: never)."""
        window = self.window_at(now)
        if window is not None:
            return window.end
        return self.next_start(now)

    def matches(self, check: Check, project_name: str) -> bool:
        return check.project == self.project and all(
            m.matches(check_values(check, m.name, project_name)) for m in self.matchers)

    def summary(self) -> str:
        """Its comment, else its matchers; never a uuid value (the secret part of a ping URL:
        the reason is shown to read-only keys and written to notification logs)."""
        return self.comment or " ".join(
            'uuid="(hidden)"' if m.name == "uuid" else m.text() for m in self.matchers)

    def label(self) -> str:
        """How alerts and pages name it."""
        return f'silenced by "{self.summary()[:80]}" ({self.id})'

    def expire(self, now: int) -> Silence:
        """This silence ended at `now` (it stays listable until the retention passes)."""
        return replace(self, ends_at=now, starts_at=min(self.starts_at, now), updated_at=now)


def _index_key(silence: Silence) -> tuple[str, str] | None:
    """An equality matcher every check it mutes must satisfy, to file the silence under."""
    for m in silence.matchers:
        if m.is_equal and not m.is_regex and m.name != "project":
            return m.name, m.value
    return None


@dataclass
class SilenceIndex:
    """Active-or-pending silences filed by project and by one equality matcher."""

    silences: dict[str, Silence] = field(default_factory=dict)
    by_key: dict[tuple[str, str, str], list[Silence]] = field(default_factory=dict)
    scan: dict[str, list[Silence]] = field(default_factory=dict)
    fields: dict[str, set[str]] = field(default_factory=dict)  # project -> indexed names
    project_names: dict[str, str] = field(default_factory=dict)
    # silence id -> (valid until ms, window in force): the cron math runs once per change
    _windows: dict[str, tuple[int, int, Window | None]] = field(default_factory=dict)

    @classmethod
    def build(cls, silences: Iterable[Silence], project_names: Mapping[str, str],
              now: int) -> SilenceIndex:
        index = cls(project_names=dict(project_names))
        for s in silences:
            if s.state(now) == "expired":
                continue
            index.silences[s.id] = s
            key = _index_key(s)
            if key is None:
                index.scan.setdefault(s.project, []).append(s)
            else:
                index.by_key.setdefault((s.project, *key), []).append(s)
                index.fields.setdefault(s.project, set()).add(key[0])
        return index

    def _candidates(self, check: Check, name: str) -> list[Silence]:
        out = list(self.scan.get(check.project, ()))
        for field_name in self.fields.get(check.project, ()):
            for value in check_values(check, field_name, name):
                out.extend(self.by_key.get((check.project, field_name, value), ()))
        return out

    def window(self, silence: Silence, now: int) -> Window | None:
        cached = self._windows.get(silence.id)
        if cached and cached[0] <= now < cached[1]:
            return cached[2]
        window = silence.window_at(now)
        until = silence.next_change(now) or (1 << 62)
        self._windows[silence.id] = (now, until, window)
        return window

    def matching(self, check: Check, now: int) -> list[Silence]:
        """The silences muting `check` at `now`, oldest first."""
        name = self.project_names.get(check.project, "")
        seen: set[str] = set()
        out: list[Silence] = []
        for s in self._candidates(check, name):
            if s.id in seen:
                continue
            seen.add(s.id)
            if self.window(s, now) is not None and s.matches(check, name):
                out.append(s)
        return sorted(out, key=lambda s: (s.created_at, s.id))

    def next_change(self, now: int) -> int:
        """The next moment any silence opens or closes (0: none)."""
        moments = [m for s in self.silences.values() if (m := s.next_change(now))]
        return min(moments, default=0)


# Muting -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mute:
    silences: tuple[Silence, ...] = ()
    held_by: tuple[Check, ...] = ()  # dependencies that are down

    def __bool__(self) -> bool:
        return bool(self.silences or self.held_by)

    @property
    def reason(self) -> str:
        if self.silences:
            return self.silences[0].label()
        if not self.held_by:
            return ""
        names = [check_label(c) for c in self.held_by]
        if len(names) == 1:
            return f"dependency {names[0]} is down"
        return f"dependencies {', '.join(names)} are down"


def check_label(check: Check) -> str:
    return str(check.config["slug"] or check.config["name"] or check.uuid)


def down_dependencies(check: Check, checks: Mapping[str, Check], now: int) -> tuple[Check, ...]:
    found = (checks.get(uuid) for uuid in check.depends_on)
    return tuple(c for c in found if c is not None and c.effective_status(now) == "down")


def mute_of(check: Check, index: SilenceIndex, checks: Mapping[str, Check], now: int) -> Mute:
    """Why `check`'s alerts are held at `now`; `checks` must hold its dependencies."""
    return Mute(tuple(index.matching(check, now)), down_dependencies(check, checks, now))


def find_cycle(start: str, depends_on: Sequence[str],
               graph: Mapping[str, Sequence[str]]) -> list[str]:
    """A dependency path from `start` back to itself if `start` depended on `depends_on`
    (with the rest of the project's dependencies in `graph`); [] when there is none."""
    stack: list[tuple[str, list[str]]] = [(d, [start, d]) for d in reversed(depends_on)]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        if node == start:
            return path
        if node in seen:
            continue
        seen.add(node)
        for nxt in reversed(graph.get(node, ())):
            stack.append((nxt, [*path, nxt]))
    return []
