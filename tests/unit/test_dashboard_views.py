"""The dashboard's pure parts: words for schedules and times, the list model, the chart."""

from __future__ import annotations

from typing import Any

import pytest

from pingserver.dashboard import chart, describe, session, views
from pingserver.model import Check
from pingserver.silences import Mute, Silence, parse_matcher

NOW = 1_750_000_000_000
MIN = 60_000


@pytest.mark.parametrize(("expr", "words"), [
    ("* * * * *", "every minute"),
    ("*/5 * * * *", "every 5 minutes"),
    ("0 * * * *", "every hour"),
    ("@hourly", "every hour"),
    ("5 * * * *", "every hour at :05"),
    ("1,31 * * * *", "every hour at :01 and :31"),
    ("0 12 * * *", "at 12:00 Asia/Tokyo"),
    ("@daily", "at 00:00 Asia/Tokyo"),
    ("0 0 ? * *", "at 00:00 Asia/Tokyo"),
    ("30 6,18 * * *", "at 06:30 and 18:30 Asia/Tokyo"),
    ("0 9 * * 1-5", "at 09:00 Monday to Friday Asia/Tokyo"),
    ("0 9 * * MON", "at 09:00 on Mondays Asia/Tokyo"),
    ("0 0 * * 7", "at 00:00 on Sundays Asia/Tokyo"),
    ("0 9 * * 1,3,5", "at 09:00 on Monday, Wednesday and Friday Asia/Tokyo"),
    ("0 0 * * 6,0", "at 00:00 on Saturday and Sunday Asia/Tokyo"),
    ("0 0 1 * *", "at 00:00 on day 1 of the month Asia/Tokyo"),
    ("@yearly", "at 00:00 on 1 January Asia/Tokyo"),
    ("0 */2 * * *", "every 2 hours Asia/Tokyo"),
    ("15 */6 * * *", "every 6 hours at :15 Asia/Tokyo"),
    ("0 9-17 * * *", "every hour from 09:00 to 17:00 Asia/Tokyo"),
    ("*/15 9-17 * * 1-5", "every 15 minutes from 09:00 to 17:59 Monday to Friday Asia/Tokyo"),
    # No words: the expression itself, never a wrong description.
    ("*/7 * * * *", "*/7 * * * * (Asia/Tokyo)"),
    ("0 9 1 * 1", "0 9 1 * 1 (Asia/Tokyo)"),
    ("@reboot", "@reboot (Asia/Tokyo)"),
    ("0 0,1,2,3,4,5,6 * * *", "0 0,1,2,3,4,5,6 * * * (Asia/Tokyo)"),
    ("61 * * * *", "61 * * * * (Asia/Tokyo)"),
])
def test_cron_words(expr: str, words: str) -> None:
    assert describe.schedule("cron", 0, expr, "Asia/Tokyo") == words


def test_simple_and_oncalendar_words() -> None:
    assert describe.schedule("simple", 300, "", "UTC") == "every 5 minutes"
    assert describe.schedule("simple", 3600, "", "UTC") == "every hour"
    assert describe.schedule("simple", 90, "", "UTC") == "every 90 seconds"
    assert describe.schedule("oncalendar", 0, "Mon *-*-* 02:00\nFri 03:00", "UTC") == \
        "Mon *-*-* 02:00; Fri 03:00 (UTC)"


@pytest.mark.parametrize(("ms", "text"), [
    (850, "850 ms"), (4200, "4.2 s"), (12_000, "12 s"), (95_000, "1 min 35 s"),
    (120_000, "2 min"), (7_800_000, "2 h 10 min"), (90_000_000, "1 d 1 h"),
])
def test_durations(ms: int, text: str) -> None:
    assert describe.duration(ms) == text


@pytest.mark.parametrize(("offset_s", "text"), [
    (0, "just now"), (30, "30 seconds ago"), (299, "5 minutes ago"), (-299, "in 5 minutes"),
    (3600, "1 hour ago"), (3 * 86400, "3 days ago"),
])
def test_relative(offset_s: int, text: str) -> None:
    assert describe.relative(NOW - offset_s * 1000, NOW) == text
    assert describe.relative(0, NOW) == "never"


def check(name: str, status: str = "up", **fields: Any) -> Check:
    raw = {"name": name, "status": status, "project": "p", "timeout": "300", "grace": "60",
           **{k: str(v) for k, v in fields.items()}}
    return Check.from_hash(f"00000000-0000-4000-8000-{abs(hash(name)) % 10**12:012d}", raw)


def test_row_uses_the_effective_state_and_hides_the_uuid_from_read_only_keys() -> None:
    c = check("web/backup", last_ping=NOW - 6 * MIN, grace_start=NOW - MIN,
              down_at=NOW + 4 * MIN, tags="prod db")
    r = views.row(c, [], NOW, readonly=True)
    assert (r.state, r.state_label, r.namespace, r.short_name) == ("late", "Late", "web",
                                                                   "backup")
    assert r.deadline_text == "down in 4 minutes"
    assert r.key == c.unique_key
    assert views.row(c, [], NOW, readonly=False).key == c.uuid


def test_strip_is_oldest_first_and_summarised() -> None:
    pings = [{"kind": "fail", "ts": NOW - MIN, "exitstatus": 2},
             {"kind": "start", "ts": NOW - 2 * MIN},
             {"kind": "success", "ts": NOW - 3 * MIN, "duration": 4200}]
    marks, summary = views.strip(pings, NOW)
    assert [m.kind for m in marks] == ["success", "start", "fail"]
    assert summary == ("Last 3 pings: 1 success, 1 start, 1 failure; newest: Failure, "
                       "1 minute ago, exit status 2")


def test_listing_filters_sorts_and_groups() -> None:
    rows = [views.row(c, [], NOW, readonly=False) for c in (
        check("b/two", "down", tags="x"), check("a/one", "up", tags="x y"),
        check("loose", "new"), check("a/three", "paused"),
        check("a/four", "up", last_start=NOW - MIN))]
    listing = views.listing(rows, state="", tag="", q="", sort="state", descending=False)
    assert [g.namespace for g in listing.groups] == ["a", "b", ""]
    assert [r.name for r in listing.groups[0].rows] == ["a/four", "a/one", "a/three"]
    assert listing.summary == "1 down, 2 up, 1 new, 1 paused, 1 running"
    only = views.listing(rows, state="running", tag="", q="", sort="name", descending=False)
    assert [r.name for g in only.groups for r in g.rows] == ["a/four"]
    tagged = views.listing(rows, state="", tag="x", q="", sort="name", descending=True)
    assert [r.name for g in tagged.groups for r in g.rows] == ["a/one", "b/two"]
    searched = views.listing(rows, state="", tag="", q="A/ O", sort="bogus", descending=False)
    assert [r.name for g in searched.groups for r in g.rows] == ["a/four", "a/one"]
    assert searched.sort == "state"


def test_chart_spans_follow_the_flips() -> None:
    flips = [{"ts": NOW - 50 * MIN, "old": "new", "new": "up"},
             {"ts": NOW - 20 * MIN, "old": "up", "new": "down"}]
    pings = [{"ts": NOW - 50 * MIN, "kind": "success", "duration": 1000},
             {"ts": NOW - 20 * MIN, "kind": "fail", "duration": 4000}]
    c = chart.timeline(flips, pings, current="down", created=NOW - 55 * MIN, now=NOW,
                       range_name="")
    assert c.range == "1h"
    assert [s.state for s in c.segments] == ["new", "up", "down"]
    assert c.segments[0].x == pytest.approx(chart.LEFT + chart.PLOT * 5 / 60, abs=0.1)
    assert [b.kind for b in c.bars] == ["success", "fail"]
    assert c.bars[1].height == chart.RUNS_H and c.bars[0].height == chart.RUNS_H / 4
    assert c.summary == ("Last 1h: 2 pings, 2 timed runs (longest 4 s), went down 1 time.")
    assert all(chart.LEFT <= t.x <= chart.WIDTH - chart.RIGHT for t in c.ticks)
    week = chart.timeline(flips, pings, current="down", created=0, now=NOW, range_name="7d")
    assert week.range == "7d" and [s.state for s in week.segments] == ["up", "down"]


@pytest.mark.parametrize(("target", "safe"), [
    ("/dashboard/checks/x", "/dashboard/checks/x"),
    ("https://evil.example/", "/dashboard/"),
    ("//evil.example/", "/dashboard/"),
    ("/dashboard//evil.example", "/dashboard/"),
    ("/dashboard/\\evil", "/dashboard/"),
    ("", "/dashboard/"),
])
def test_login_redirects_stay_on_the_dashboard(target: str, safe: str) -> None:
    assert session.safe_next(target) == safe


def test_csrf_token_depends_on_the_key() -> None:
    assert session.csrf_token("a") != session.csrf_token("b")
    assert session.csrf_token("a") == session.csrf_token("a")


# Silences and dependencies ------------------------------------------------------------------


def silence(sid: str, *matchers: str, comment: str = "") -> Silence:
    return Silence(id=sid, project="p", matchers=tuple(parse_matcher(m) for m in matchers),
                   starts_at=NOW - MIN, ends_at=NOW + 60 * MIN, comment=comment)


def test_mute_marks_name_and_link_the_silences_and_dependencies() -> None:
    db = check("db", "down", slug="primary-db")
    web = check("web", "down")
    mute = Mute((silence("s1", "tag=db", comment="pg upgrade"), silence("s2", "name=x")),
                (db, web))
    silenced, held = views.mute_marks(mute, readonly=False)
    assert (silenced.kind, silenced.label, silenced.before) == ("silenced", "Silenced", "by")
    assert silenced.reason == 'silenced by "pg upgrade" (s1)'
    assert silenced.links == [views.Link("pg upgrade", "/dashboard/silences#silence-s1"),
                              views.Link('name="x"', "/dashboard/silences#silence-s2")]
    assert (held.kind, held.before, held.after) == ("held", "dependencies", "are down")
    assert held.reason == "dependencies primary-db, web are down"
    assert held.links[0] == views.Link("primary-db", f"/dashboard/checks/{db.uuid}")
    [only] = views.mute_marks(Mute(held_by=(db,)), readonly=True)
    assert (only.before, only.after) == ("dependency", "is down")
    assert only.links == [views.Link("primary-db", f"/dashboard/checks/{db.unique_key}")]
    assert views.mute_marks(Mute(), readonly=False) == []
    assert views.mute_marks(None, readonly=False) == []


def test_a_silence_never_names_a_uuid() -> None:
    """Its reason reaches read-only keys and notification logs; a uuid is a ping URL's
    secret part."""
    uuid = "7d18e248-7f24-4fe6-a3bc-22a105700000"
    s = silence("s1", f"uuid={uuid}", "tag=db")
    assert s.summary() == 'uuid="(hidden)" tag="db"'
    [mark] = views.mute_marks(Mute((s,)), readonly=False)
    assert uuid not in mark.reason and uuid not in mark.links[0].text


def test_row_carries_the_mute_marks() -> None:
    c = check("job", "up")
    assert views.row(c, [], NOW, readonly=False).mutes == []
    r = views.row(c, [], NOW, readonly=False, mute=Mute((silence("s1", "name=job"),)))
    assert [m.kind for m in r.mutes] == ["silenced"]


def answer(**changes: Any) -> dict[str, Any]:
    """A silence as api/silences.silence_json answers it."""
    base: dict[str, Any] = {
        "id": "s1", "matchers": [{"name": "tag", "value": "db", "isRegex": False,
                                  "isEqual": True},
                                 {"name": "name", "value": "nightly-.*", "isRegex": True,
                                  "isEqual": False}],
        "starts_at": "2026-12-06T12:00:00+00:00", "ends_at": "2026-12-06T14:00:00+00:00",
        "schedule": "", "duration": 7200, "tz": "UTC", "created_by": "alice",
        "comment": "pg upgrade", "created_at": "2026-12-06T11:59:00+00:00",
        "updated_at": "2026-12-06T11:59:00+00:00", "state": "active",
        "current_start": "2026-12-06T12:00:00+00:00",
        "current_end": "2026-12-06T14:00:00+00:00", "next_start": None, "next_windows": [],
        "matched_checks": 12}
    return {**base, **changes}


def test_silence_card_from_the_api_answer() -> None:
    checks = [check(f"db/job-{i:02d}", "up") for i in range(12)]
    card = views.silence_card(answer(), checks, readonly=True)
    assert card.matchers == ['tag="db"', 'name!~"nightly-.*"']
    assert (card.title, card.state_label, card.expirable) == ("pg upgrade", "Active", True)
    assert card.ends - card.starts == 7200 * 1000
    assert card.schedule == "" and card.windows == []
    assert card.matched == 12 and len(card.checks) == views.CHECKS_NAMED
    assert card.checks[0] == views.Link("db/job-00", f"/dashboard/checks/{checks[0].unique_key}")
    untitled = views.silence_card(answer(comment="", state="expired"), [], readonly=False)
    assert untitled.title == 'tag="db" name!~"nightly-.*"'
    assert untitled.expirable is False


def test_silence_card_of_a_window_in_its_time_zone() -> None:
    window = answer(schedule="0 2 * * 0", tz="Europe/Berlin", ends_at=None, state="pending",
                    current_end=None, next_windows=[
                        {"start": "2026-12-13T01:00:00+00:00", "end": "2026-12-13T03:00:00+00:00"},
                        {"start": "2027-03-28T01:00:00+00:00", "end": "2027-03-28T03:00:00+00:00"}])
    card = views.silence_card(window, [], readonly=False)
    assert card.schedule == "at 02:00 on Sundays Europe/Berlin"
    assert (card.window_length, card.ends, card.current_end) == ("2 hours", 0, 0)
    # 28 March 2027: clocks go forward at 02:00 in Berlin; the window keeps its UTC length.
    assert card.windows == ["Sun 2026-12-13 02:00 to 04:00 Europe/Berlin",
                            "Sun 2027-03-28 03:00 to 05:00 Europe/Berlin"]


def test_window_words_across_midnight() -> None:
    start = 1_796_512_800_000  # 2026-12-05T23:20:00Z
    assert describe.window(start, start + 3600_000, "UTC") == \
        "Sat 2026-12-05 23:20 to Sun 2026-12-06 00:20 UTC"


def test_silence_groups_order_expired_by_end() -> None:
    cards = [views.silence_card(answer(id=sid, state=state, ends_at=end), [], readonly=False)
             for sid, state, end in (("a", "expired", "2026-12-01T00:00:00+00:00"),
                                     ("b", "active", "2026-12-09T00:00:00+00:00"),
                                     ("c", "expired", "2026-12-03T00:00:00+00:00"),
                                     ("d", "pending", "2026-12-09T00:00:00+00:00"))]
    groups = views.silence_groups(cards)
    assert [(g.state, [c.id for c in g.cards]) for g in groups] == [
        ("active", ["b"]), ("pending", ["d"]), ("expired", ["c", "a"])]
    assert [g.title for g in groups] == ["Active silences", "Pending silences",
                                         "Expired silences"]


@pytest.mark.parametrize(("form", "expected"), [
    ({"for": "1h", "comment": " pg upgrade "}, {"duration": 3600}),
    ({"for": "4h", "comment": "x", "created_by": "alice"},
     {"duration": 14400, "created_by": "alice"}),
    ({"for": "until", "comment": "x", "until": "2025-06-16T12:00"},
     {"ends_at": "2025-06-16T12:00:00+00:00"}),
])
def test_silence_request(form: dict[str, str], expected: dict[str, Any]) -> None:
    body = views.silence_request("u-1", form, NOW)  # NOW is 2025-06-15T15:06:40Z
    assert body["matchers"] == ["uuid=u-1"]
    assert body["comment"] == form["comment"].strip()
    assert body["created_by"] == expected.pop("created_by", "dashboard")
    assert {k: v for k, v in body.items()
            if k not in ("matchers", "comment", "created_by")} == expected


@pytest.mark.parametrize(("form", "message"), [
    ({"for": "1h", "comment": "  "}, "comment is missing"),
    ({"for": "2h", "comment": "x"}, "for has unexpected value"),
    ({"comment": "x"}, "for has unexpected value"),
    ({"for": "until", "comment": "x"}, "until is missing"),
    ({"for": "until", "comment": "x", "until": "tomorrow"}, "until is not a date"),
    ({"for": "until", "comment": "x", "until": "2025-06-15T15:00"}, "until must be in the future"),
])
def test_silence_request_names_the_bad_field(form: dict[str, str], message: str) -> None:
    with pytest.raises(views.FormError, match=message):
        views.silence_request("u-1", form, NOW)


def test_held_notifications_say_why() -> None:
    held = views.notification({"ts": NOW, "channel": "", "kind": "down", "status": "held",
                               "why": "dependency db is down"}, {})
    assert (held["held"], held["why"], held["channel"]) == ("held", "dependency db is down",
                                                             "every channel")
    sent = views.notification({"ts": NOW, "channel": "c1", "kind": "down"},
                              {"c1": {"name": "ops", "kind": "webhook"}})
    assert (sent["held"], sent["channel"], sent["ok"]) == ("", "ops", True)
