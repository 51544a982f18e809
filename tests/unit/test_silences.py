"""Silences, windows and dependencies: matchers, DST-correct windows, the index (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from pingserver.model import Check
from pingserver.silences import (
    Matcher,
    MatcherError,
    Silence,
    SilenceIndex,
    find_cycle,
    matcher_from_json,
    mute_of,
    parse_matcher,
)

BERLIN = ZoneInfo("Europe/Berlin")


def ms(text: str, tz: ZoneInfo = BERLIN) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=tz).timestamp() * 1000)


def check(uuid: str = "c1", project: str = "p", **raw: str) -> Check:
    return Check.from_hash(uuid, {"project": project, "status": "up", **raw})


def silence(*matchers: str, sid: str = "s1", project: str = "p", starts: int = 0,
            ends: int = 10**13, **kw: object) -> Silence:
    return Silence(id=sid, project=project, matchers=tuple(map(parse_matcher, matchers)),
                   starts_at=starts, ends_at=ends, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "expected"), [
    ("tag=db", Matcher("tag", "db")),
    ("name!=x", Matcher("name", "x", is_equal=False)),
    ('name=~"nightly-.*"', Matcher("name", "nightly-.*", is_regex=True)),
    ("slug !~ tmp.*", Matcher("slug", "tmp.*", is_regex=True, is_equal=False)),
    ("label:app.kubernetes.io/name=web", Matcher("label:app.kubernetes.io/name", "web")),
    ('comment="a \\"quoted\\" = value"', None),
])
def test_parse_matcher(text: str, expected: Matcher | None) -> None:
    if expected is None:
        with pytest.raises(MatcherError, match="unknown matcher name 'comment'"):
            parse_matcher(text)
        return
    assert parse_matcher(text) == expected
    assert parse_matcher(parse_matcher(text).text()) == expected  # text() round-trips


@pytest.mark.parametrize(("item", "message"), [
    ("tag", "is not a matcher"),
    ("name=~(", "invalid regex"),
    ('tag="open', "unterminated"),
    ({"name": "tag", "value": "db", "isRegex": "no"}, "must be booleans"),
    ({"name": "tag", "value": "db", "extra": 1}, "unknown field 'extra'"),
    (7, "must be a string or an object"),
])
def test_bad_matchers(item: object, message: str) -> None:
    with pytest.raises(MatcherError, match=message):
        matcher_from_json(item)


def test_matching_fields() -> None:
    c = check(name="payments/backup", slug="payments_backup", tags="db prod",
              namespace="payments", labels='{"app": "web"}')
    assert silence("tag=db").matches(c, "Default")
    assert not silence("tag=db", project="other").matches(c, "Default")
    assert not silence("tag!=db").matches(c, "Default")  # none of the tags may match
    assert silence("tag!=staging", "namespace=payments").matches(c, "Default")
    assert silence('name=~"payments/.*"').matches(c, "Default")
    assert not silence("name=~backup").matches(c, "Default")  # anchored at both ends
    assert silence("label:app=web", "project=Default").matches(c, "Default")
    assert silence("label:team=").matches(c, "Default")  # a missing label is ""
    assert silence("uuid=c1").matches(c, "Default")


def test_one_off_states() -> None:
    s = silence("tag=db", starts=1000, ends=2000)
    assert [s.state(t) for t in (999, 1000, 1999, 2000)] == [
        "pending", "active", "active", "expired"]
    assert s.next_change(500) == 1000 and s.next_change(1500) == 2000


def test_window_across_dst_opens_and_closes_at_local_times() -> None:
    # Sundays 02:00-04:00 Berlin; clocks go back on 2026-10-25 (CEST -> CET).
    s = silence("tag=db", starts=ms("2026-10-01T00:00:00"), ends=0, schedule="0 2 * * 0",
                duration=7200, tz="Europe/Berlin")
    windows = s.windows(ms("2026-10-17T00:00:00"), 3)
    local = [(datetime.fromtimestamp(w.start / 1000, BERLIN).strftime("%m-%d %H:%M %Z"),
              datetime.fromtimestamp(w.end / 1000, BERLIN).strftime("%H:%M %Z"))
             for w in windows]
    assert local == [("10-18 02:00 CEST", "04:00 CEST"), ("10-25 02:00 CEST", "04:00 CET"),
                     ("11-01 02:00 CET", "04:00 CET")]
    # UTC: 00:00 before the change, 01:00 after it; the night of the change lasts 3 h.
    assert windows[0].start == ms("2026-10-18T00:00:00", UTC)
    assert windows[2].start == ms("2026-11-01T01:00:00", UTC)
    assert windows[1].end - windows[1].start == 3 * 3600_000
    assert s.state(ms("2026-11-01T01:59:00")) == "pending"
    assert s.state(ms("2026-11-01T02:00:00")) == "active"
    assert s.state(ms("2026-11-01T03:59:59")) == "active"
    assert s.state(ms("2026-11-01T04:00:00")) == "pending"
    assert s.next_change(ms("2026-11-01T03:00:00")) == ms("2026-11-01T04:00:00")


def test_window_in_spring_skips_the_missing_hour() -> None:
    # Clocks go forward 2026-03-29 02:00 -> 03:00: a 02:00 window opens at 03:00 (cron's
    # rule for a time that does not exist) and closes two wall-clock hours later.
    s = silence("tag=db", starts=ms("2026-03-01T00:00:00"), ends=0, schedule="0 2 * * 0",
                duration=7200, tz="Europe/Berlin")
    w = s.windows(ms("2026-03-28T00:00:00"), 1)[0]
    assert datetime.fromtimestamp(w.start / 1000, BERLIN).strftime("%H:%M %Z") == "03:00 CEST"


def test_recurring_window_bounded_by_ends_at() -> None:
    s = silence("tag=db", starts=ms("2026-01-01T00:00:00"), ends=ms("2026-01-01T01:30:00"),
                schedule="0 * * * *", duration=3600, tz="Europe/Berlin")
    assert s.state(ms("2026-01-01T01:10:00")) == "active"
    window = s.window_at(ms("2026-01-01T01:10:00"))
    assert window is not None and window.end == ms("2026-01-01T01:30:00")
    assert s.state(ms("2026-01-01T01:30:00")) == "expired"


def test_overlapping_windows_merge() -> None:
    s = silence("tag=db", starts=0, ends=0, schedule="*/10 * * * *", duration=900, tz="UTC")
    window = s.window_at(ms("2026-01-01T00:05:00", UTC))
    assert window is not None and window.end > ms("2026-01-01T23:00:00", UTC)


def test_index_finds_the_same_silences_as_a_scan() -> None:
    silences = [silence(f"name=check-{i}", sid=f"n{i}") for i in range(200)]
    silences += [silence("tag=db", "name!=check-3", sid="tag"),
                 silence("name=~check-1.*", sid="regex"),
                 silence("tag=db", sid="other-project", project="q"),
                 silence("tag=db", sid="later", starts=5000, ends=6000)]
    index = SilenceIndex.build(silences, {"p": "P"}, now=1000)
    for i in range(0, 20):
        c = check(f"u{i}", name=f"check-{i}", tags="db" if i % 2 else "")
        expected = sorted(s.id for s in silences
                          if s.state(1000) == "active" and s.matches(c, "P"))
        assert sorted(s.id for s in index.matching(c, 1000)) == expected
    assert index.next_change(1000) == 5000


def test_mute_reasons() -> None:
    db = check("db", slug="primary-db", status="down")
    job = check("job", slug="nightly", depends_on="db,gone")
    index = SilenceIndex.build([silence("slug=nightly", comment="pg upgrade")], {}, 0)
    assert mute_of(job, SilenceIndex(), {"db": db}, 0).reason == "dependency primary-db is down"
    assert mute_of(job, index, {"db": db}, 1).reason == 'silenced by "pg upgrade" (s1)'
    up = check("db", slug="primary-db", status="up")
    assert not mute_of(job, SilenceIndex(), {"db": up}, 0)


def test_find_cycle() -> None:
    graph = {"b": ["c"], "c": ["a"], "d": []}
    assert find_cycle("a", ["d", "b"], graph) == ["a", "b", "c", "a"]
    assert find_cycle("a", ["a"], graph) == ["a", "a"]
    assert find_cycle("a", ["d"], graph) == []
