"""What the dashboard pages show, built from the store's records (pure functions).

A `Row` is one check in the list; `Listing` is the filtered, sorted and grouped list with the
counts by state; `Event` is one line of a check's history (a ping or a state change);
`MuteMark` says why a check's alerts are held; `SilenceCard` is one silence on the silences
page, made from the API's answer for it (api/silences.silence_json).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pingserver.dashboard import describe
from pingserver.model import Check
from pingserver.silences import Matcher, Mute, check_label

STATE_LABELS = {"up": "Up", "late": "Late", "down": "Down", "paused": "Paused", "new": "New"}
STATE_ORDER = {"down": 0, "late": 1, "up": 2, "new": 3, "paused": 4}
FILTER_STATES = ("down", "late", "up", "running", "new", "paused")
KIND_LABELS = {"success": "Success", "start": "Start", "fail": "Failure", "log": "Log",
               "ign": "Ignored"}
SORTS = {"state": "State", "name": "Name", "last_ping": "Last ping", "next": "Next deadline",
         "duration": "Last duration"}
STRIP_LENGTH = 20
SILENCE_STATES = {"active": "Active", "pending": "Pending", "expired": "Expired"}
SILENCE_FOR = {"1h": 3600, "4h": 4 * 3600}  # the check page's "Silence for …" buttons
CHECKS_NAMED = 10  # matched checks named on a silence; the rest are counted
FLIP_REASONS = {
    "success": "success ping", "fail": "failure ping", "fail_tolerated": "failure below the "
    "threshold", "late": "no ping in time", "timeout": "grace period ended", "runtime":
    "run took too long", "pause": "paused", "resume": "resumed", "api": "changed",
}


@dataclass
class Mark:
    """One ping in a check's recent-pings strip."""

    kind: str
    label: str
    ts: int
    title: str


@dataclass(frozen=True)
class Link:
    text: str
    href: str


@dataclass(frozen=True)
class MuteMark:
    """One reason a check's alerts are held now: "Silenced by <links>" or "Held: dependency
    <links> is down", with the whole reason in words for a tooltip."""

    kind: str  # "silenced" or "held"
    label: str
    reason: str
    before: str
    links: list[Link]
    after: str = ""


@dataclass
class Row:
    key: str  # the identifier in the check page's URL
    name: str
    short_name: str  # the name without its namespace
    namespace: str
    slug: str
    desc: str
    tags: list[str]
    state: str
    state_label: str
    state_note: str  # "for 5 minutes"
    running: bool
    running_note: str
    schedule: str
    schedule_raw: str
    grace: str
    last_ping: int
    last_ping_text: str
    deadline: int
    deadline_text: str
    deadline_what: str  # "late", "down" or ""
    duration: int
    duration_text: str
    strip: list[Mark]
    strip_summary: str
    mutes: list[MuteMark] = field(default_factory=list)


@dataclass
class Group:
    namespace: str
    rows: list[Row]


@dataclass
class Listing:
    groups: list[Group]
    shown: int
    total: int
    counts: dict[str, int]  # by state over all checks, plus "running"
    tags: list[str]  # every tag of the project
    state: str
    tag: str
    q: str
    sort: str
    descending: bool

    @property
    def summary(self) -> str:
        parts = [f"{self.counts[s]} {STATE_LABELS[s].lower()}" for s in STATE_ORDER
                 if self.counts.get(s)]
        if self.counts.get("running"):
            parts.append(f"{self.counts['running']} running")
        return ", ".join(parts) if parts else "no checks"

    @property
    def filtered(self) -> bool:
        return bool(self.state or self.tag or self.q)


@dataclass
class Event:
    ts: int
    kind: str  # success, start, fail, log, ign, or "flip"
    label: str
    detail: str = ""
    duration: str = ""
    source: str = ""
    body: str = ""
    body_truncated: bool = False
    n: int = 0
    old: str = ""
    new: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def namespace_of(name: str) -> tuple[str, str]:
    """("payments", "nightly-report") for "payments/nightly-report" (the operator's names)."""
    ns, sep, rest = name.partition("/")
    if sep and ns and rest:
        return ns, rest
    return "", name


def ping_title(entry: dict[str, Any], now: int) -> str:
    kind = str(entry.get("kind") or "success")
    text = f"{KIND_LABELS.get(kind, kind)}, {describe.relative(int(entry.get('ts') or 0), now)}"
    if entry.get("exitstatus") is not None:
        text += f", exit status {entry['exitstatus']}"
    if entry.get("duration") is not None:
        text += f", ran {describe.duration(int(entry['duration']))}"
    return text


def strip(pings: list[dict[str, Any]], now: int) -> tuple[list[Mark], str]:
    """Marks for the newest pings, oldest first, and a sentence for screen readers."""
    newest_first = pings[:STRIP_LENGTH]
    marks = [Mark(kind=str(p.get("kind") or "success"),
                  label=KIND_LABELS.get(str(p.get("kind")), "Ping"),
                  ts=int(p.get("ts") or 0), title=ping_title(p, now))
             for p in reversed(newest_first)]
    if not marks:
        return marks, "No pings yet"
    counts: dict[str, int] = {}
    for mark in marks:
        counts[mark.label.lower()] = counts.get(mark.label.lower(), 0) + 1
    parts = [f"{n} {label}" for label, n in counts.items()]
    return marks, (f"Last {len(marks)} pings: " + ", ".join(parts)
                   + f"; newest: {marks[-1].title}")


def deadline(check: Check, state: str) -> tuple[int, str]:
    """When the check next changes state by itself, and to what."""
    if state == "up" and check.grace_start:
        return check.grace_start, "late"
    if state in ("up", "late") and check.down_at:
        return check.down_at, "down"
    return 0, ""


def check_href(check: Check, *, readonly: bool) -> str:
    """A check page's URL: read-only keys never see a uuid (the ping URL's secret part)."""
    return f"/dashboard/checks/{check.unique_key if readonly else check.uuid}"


def silence_href(sid: str) -> str:
    return f"/dashboard/silences#silence-{sid}"


def mute_marks(mute: Mute | None, *, readonly: bool) -> list[MuteMark]:
    """The silences and the down dependencies holding a check's alerts, each linked."""
    if not mute:
        return []
    marks = []
    if mute.silences:
        marks.append(MuteMark(
            "silenced", "Silenced", Mute(silences=mute.silences).reason, "by",
            [Link(s.summary(), silence_href(s.id)) for s in mute.silences]))
    if mute.held_by:
        many = len(mute.held_by) > 1
        marks.append(MuteMark(
            "held", "Held", Mute(held_by=mute.held_by).reason,
            "dependencies" if many else "dependency",
            [Link(check_label(c), check_href(c, readonly=readonly)) for c in mute.held_by],
            "are down" if many else "is down"))
    return marks


def row(check: Check, pings: list[dict[str, Any]], now: int, *, readonly: bool,
        mute: Mute | None = None) -> Row:
    config = check.config
    state = check.effective_status(now)
    ns, short = namespace_of(str(config["name"]) or "(unnamed)")
    when, what = deadline(check, state)
    note = ""
    if state == "down" and check.down_since:
        note = "for " + describe.since(check.down_since, now)
    elif state == "late" and check.grace_start:
        note = "for " + describe.since(check.grace_start, now)
    elif state in ("up", "paused") and check.last_flip:
        note = "for " + describe.since(check.last_flip, now)
    if when:
        overdue = when <= now
        deadline_text = (f"{what} {describe.relative(when, now)}" if not overdue
                         else f"{what} since {describe.relative(when, now)}")
    else:
        deadline_text = "none"
    marks, summary = strip(pings, now)
    kind = str(config["kind"])
    return Row(
        key=check.unique_key if readonly else check.uuid,
        name=str(config["name"]), short_name=short, namespace=ns, slug=str(config["slug"]),
        desc=str(config["desc"]), tags=check.tag_list, state=state,
        state_label=STATE_LABELS.get(state, state.title()), state_note=note,
        running=check.started and state != "paused",
        running_note=("started " + describe.relative(check.last_start, now)
                      if check.last_start else ""),
        schedule=describe.schedule(kind, int(config["timeout"]), str(config["schedule"]),
                                   str(config["tz"])),
        schedule_raw=("" if kind == "simple"
                      else f"{config['schedule']} ({config['tz']})"),
        grace=describe.human_duration(int(config["grace"])),
        last_ping=check.last_ping, last_ping_text=describe.relative(check.last_ping, now),
        deadline=when, deadline_text=deadline_text, deadline_what=what,
        duration=check.last_duration,
        duration_text=describe.duration(check.last_duration) if check.last_duration else "",
        strip=marks, strip_summary=summary, mutes=mute_marks(mute, readonly=readonly),
    )


def matches(r: Row, state: str, tag: str, q: str) -> bool:
    if state == "running":
        if not r.running:
            return False
    elif state and r.state != state:
        return False
    if tag and tag not in r.tags:
        return False
    if q:
        text = " ".join([r.name, r.slug, r.desc, *r.tags, r.schedule]).lower()
        return all(word in text for word in q.lower().split())
    return True


def sort_key(r: Row, sort: str) -> tuple[Any, ...]:
    name = r.name.lower()
    if sort == "name":
        return (name,)
    if sort == "last_ping":
        return (r.last_ping, name)
    if sort == "next":
        return (r.deadline == 0, r.deadline, name)  # checks without a deadline last
    if sort == "duration":
        return (r.duration, name)
    return (STATE_ORDER.get(r.state, 9), not r.running, name)


def listing(rows: list[Row], *, state: str, tag: str, q: str, sort: str,
            descending: bool) -> Listing:
    counts: dict[str, int] = {s: 0 for s in STATE_ORDER}
    counts["running"] = 0
    tags: set[str] = set()
    for r in rows:
        counts[r.state] = counts.get(r.state, 0) + 1
        counts["running"] += r.running
        tags.update(r.tags)
    state = state if state in FILTER_STATES else ""
    sort = sort if sort in SORTS else "state"
    shown = sorted((r for r in rows if matches(r, state, tag, q)),
                   key=lambda r: sort_key(r, sort), reverse=descending)
    by_ns: dict[str, list[Row]] = {}
    for r in shown:
        by_ns.setdefault(r.namespace, []).append(r)
    # Namespaces in order, then the checks without one.
    groups = [Group(ns, by_ns[ns]) for ns in sorted(by_ns, key=lambda ns: (ns == "", ns))]
    return Listing(groups=groups, shown=len(shown), total=len(rows), counts=counts,
                   tags=sorted(tags), state=state, tag=tag, q=q, sort=sort,
                   descending=descending)


def body_text(body: bytes, limit: int = 20_000) -> tuple[str, bool]:
    text = body[:limit].decode("utf-8", errors="replace")
    return text, len(body) > limit


def ping_event(entry: dict[str, Any], *, body: bytes | None, readonly: bool) -> Event:
    kind = str(entry.get("kind") or "success")
    detail = []
    if entry.get("exitstatus") is not None:
        detail.append(f"exit status {entry['exitstatus']}")
    if entry.get("rid"):
        detail.append(f"run {str(entry['rid'])[:8]}")
    source = ""
    if not readonly:
        source = " ".join(str(x) for x in (entry.get("method"), entry.get("remote_addr")) if x)
        if entry.get("ua"):
            source += f" · {entry['ua']}"
    text, cut = body_text(body or b"")
    return Event(ts=int(entry.get("ts") or 0), kind=kind, label=KIND_LABELS.get(kind, kind),
                 detail=", ".join(detail),
                 duration=(describe.duration(int(entry["duration"]))
                           if entry.get("duration") is not None else ""),
                 source=source, body=text, body_truncated=cut, n=int(entry.get("n") or 0))


def flip_event(entry: dict[str, Any]) -> Event:
    old, new = str(entry.get("old", "")), str(entry.get("new", ""))
    reason = str(entry.get("reason", ""))
    detail = FLIP_REASONS.get(reason, reason)
    if entry.get("rid"):
        detail += f" (run {str(entry['rid'])[:8]})"
    if entry.get("downtime"):
        detail += f"; was down {describe.duration(int(entry['downtime']))}"
    return Event(ts=int(entry.get("ts") or 0), kind="flip",
                 label=f"{STATE_LABELS.get(old, old)} → {STATE_LABELS.get(new, new)}",
                 detail=detail, old=old, new=new)


def history(pings: list[Event], flips: list[dict[str, Any]], *, complete: bool) -> list[Event]:
    """Pings and the state changes of the same span of time, newest first. `complete`: the
    pings are the whole ping log, so every kept flip belongs to the span."""
    oldest = 0 if complete else min((p.ts for p in pings), default=0)
    events = pings + [flip_event(f) for f in flips if int(f.get("ts") or 0) >= oldest]
    return sorted(events, key=lambda e: (e.ts, e.kind == "flip"), reverse=True)


def notification(entry: dict[str, Any], channels: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A notification log entry in the words of the page; tolerant of missing fields."""
    cid = str(entry.get("channel") or entry.get("channel_id") or "")
    channel = channels.get(cid)
    name = (channel.get("name") or channel.get("kind") or cid) if channel else (cid or "?")
    ts = entry.get("ts")
    what = entry.get("kind") or entry.get("alert") or entry.get("event") or entry.get("new")
    error = str(entry.get("error") or "")
    held = str(entry.get("status") or "") if entry.get("status") in ("held", "dropped") else ""
    return {
        "ts": int(ts) if isinstance(ts, int | float) else 0,
        "channel": "every channel" if held and not cid else name,
        "channel_kind": channel.get("kind", "") if channel else str(entry.get("channel_kind")
                                                                    or ""),
        "what": str(what or ""),
        "attempt": entry.get("attempt") or entry.get("attempts") or "",
        "error": error,
        "ok": not error,
        "held": held,  # "held" (silence or dependency) or "dropped" (recovered meanwhile)
        "why": str(entry.get("why") or ""),
    }


# Silences ---------------------------------------------------------------------------------


class FormError(ValueError):
    """A dashboard form that cannot be used; the message names the field."""


@dataclass
class SilenceCard:
    id: str
    state: str
    state_label: str
    title: str
    matchers: list[str]  # amtool syntax
    starts: int  # ms
    ends: int  # ms; 0: a window schedule without an end
    schedule: str  # words, "" for a one-off silence
    schedule_raw: str
    window_length: str
    current_end: int  # ms, the open window's end while active
    windows: list[str]  # the next windows in their time zone, in words
    created_by: str
    created_at: int
    comment: str
    matched: int
    checks: list[Link]
    expirable: bool


@dataclass
class SilenceGroup:
    state: str
    title: str
    cards: list[SilenceCard]


def _ms(iso: str | None) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000) if iso else 0


def matcher_text(m: dict[str, Any]) -> str:
    """An answer's matcher in amtool syntax (read-only keys get uuid values hidden)."""
    return Matcher(str(m["name"]), str(m["value"]), bool(m["isRegex"]),
                   bool(m["isEqual"])).text()


def silence_card(data: dict[str, Any], matched: list[Check], *, readonly: bool) -> SilenceCard:
    """One silence as the silences page shows it, from its API answer and the checks its
    matchers select."""
    matchers = [matcher_text(m) for m in data["matchers"]]
    tz = str(data["tz"])
    recurring = bool(data["schedule"])
    named = sorted(matched, key=lambda c: str(c.config["name"]))[:CHECKS_NAMED]
    return SilenceCard(
        id=str(data["id"]), state=str(data["state"]),
        state_label=SILENCE_STATES.get(str(data["state"]), str(data["state"])),
        title=(str(data["comment"]) or " ".join(matchers))[:120], matchers=matchers,
        starts=_ms(data["starts_at"]), ends=_ms(data["ends_at"]),
        schedule=describe.cron(str(data["schedule"]), tz) if recurring else "",
        schedule_raw=f"{data['schedule']} ({tz})" if recurring else "",
        window_length=describe.human_duration(int(data["duration"])) if recurring else "",
        current_end=_ms(data["current_end"]),
        windows=[describe.window(_ms(w["start"]), _ms(w["end"]), tz)
                 for w in data["next_windows"]],
        created_by=str(data["created_by"]), created_at=_ms(data["created_at"]),
        comment=str(data["comment"]), matched=int(data["matched_checks"]),
        checks=[Link(str(c.config["name"]) or check_label(c), check_href(c, readonly=readonly))
                for c in named],
        expirable=data["state"] != "expired")


def silence_groups(cards: list[SilenceCard]) -> list[SilenceGroup]:
    """Active, pending and expired silences; the most recently ended expired ones first."""
    groups = [SilenceGroup(state, f"{label} silences", [c for c in cards if c.state == state])
              for state, label in SILENCE_STATES.items()]
    groups[-1].cards.sort(key=lambda c: c.ends, reverse=True)
    return groups


def silence_request(uuid: str, form: dict[str, str], now: int) -> dict[str, Any]:
    """The API request (schemas.SilenceSpec) the check page's silence form asks for: one
    matcher, this check's uuid; for 1 h, 4 h, or until a UTC date and time."""
    comment = form.get("comment", "").strip()
    if not comment:
        raise FormError("comment is missing: say why the alerts are silenced")
    body: dict[str, Any] = {"matchers": [f"uuid={uuid}"], "comment": comment,
                            "created_by": form.get("created_by", "").strip() or "dashboard"}
    choice = form.get("for", "")
    if choice in SILENCE_FOR:
        return {**body, "duration": SILENCE_FOR[choice]}
    if choice != "until":
        raise FormError("for has unexpected value (1h, 4h or until)")
    text = form.get("until", "").strip()
    if not text:
        raise FormError("until is missing: choose the date and time the silence ends")
    try:
        until = datetime.fromisoformat(text)
    except ValueError:
        raise FormError("until is not a date and time (YYYY-MM-DDTHH:MM)") from None
    until = until.replace(tzinfo=UTC) if until.tzinfo is None else until
    if until.timestamp() * 1000 <= now:
        raise FormError("until must be in the future (the time is UTC)")
    return {**body, "ends_at": until.isoformat()}
