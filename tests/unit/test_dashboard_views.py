"""The dashboard's pure parts: words for schedules and times, the list model, the chart."""

from __future__ import annotations

from typing import Any

import pytest

from pingserver.dashboard import chart, describe, session, views
from pingserver.model import Check

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
