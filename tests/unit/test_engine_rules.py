"""Pure parts of the engine: which flips alert, backoff, the SSRF address rule, message
texts, email and Apprise config parsing."""

from __future__ import annotations

import pytest

from pingserver.engine.channels import Alert, templates, toggled
from pingserver.engine.channels.apprise import urls
from pingserver.engine.channels.email import message, recipients
from pingserver.engine.channels.ssrf import BlockedAddress, check_ip
from pingserver.engine.flips import Flip, alert_kind
from pingserver.engine.util import backoff_delay
from pingserver.model import Check

UUID = "0b0c1e3a-2d4f-4a5b-9c6d-7e8f90a1b2c3"


def check(status: str = "down", alert_on_late: bool = False, **extra: str) -> Check:
    raw = {"project": "p", "name": "job", "status": status,
           "alert_on_late": "1" if alert_on_late else "0", **extra}
    return Check.from_hash(UUID, raw)


def flip(old: str, new: str, reason: str) -> Flip:
    return Flip.from_fields("1700000000000-0", {
        "check": UUID, "project": "p", "old": old, "new": new, "ts": "1700000000000",
        "reason": reason, "rid": "", "downtime": "0", "seq": "1"})


@pytest.mark.parametrize("old,new,reason,status,late,expected", [
    ("up", "down", "timeout", "down", False, "down"),
    ("late", "down", "timeout", "down", False, "down"),
    ("up", "down", "fail", "down", False, "down"),
    ("new", "down", "fail", "down", False, "down"),
    ("up", "down", "runtime", "down", False, "down"),
    ("down", "up", "success", "up", False, "up"),
    ("new", "up", "success", "up", False, None),
    ("paused", "up", "success", "up", False, None),
    ("up", "paused", "pause", "paused", False, None),
    ("down", "paused", "pause", "paused", False, None),
    ("paused", "new", "resume", "new", False, None),
    ("new", "up", "fail_tolerated", "up", False, None),
    ("late", "up", "fail_tolerated", "up", True, None),
    ("up", "late", "late", "late", False, None),
    ("up", "late", "late", "late", True, "late"),
    ("late", "up", "success", "up", False, None),
    ("late", "up", "success", "up", True, "up"),
    ("down", "down", "repeat", "down", False, "down"),
    ("down", "down", "repeat", "up", False, None),  # recovered before the reminder
])
def test_alert_kind(old: str, new: str, reason: str, status: str, late: bool,
                    expected: str | None) -> None:
    assert alert_kind(flip(old, new, reason), check(status, late)) == expected


def test_flip_fields() -> None:
    f = Flip.from_fields("1700000000123-4", {"check": UUID, "new": "down", "ts": "5",
                                             "reason": "timeout", "downtime": "60000"})
    assert (f.created_ms, f.ts, f.downtime, f.old, f.rid) == (1700000000123, 5, 60000, "", "")
    with pytest.raises(KeyError):
        Flip.from_fields("1-0", {"new": "down"})


def test_backoff_grows_with_jitter_and_cap() -> None:
    for _ in range(200):
        delays = [backoff_delay(a, 2.0, 60.0) for a in range(1, 9)]
        assert 1.0 <= delays[0] <= 2.0
        assert 2.0 <= delays[1] <= 4.0
        assert all(30.0 <= d <= 60.0 for d in delays[5:])  # capped
        # Equal jitter: each gap is at least as long as the previous one could have been.
        assert all(delays[i + 1] >= delays[i] / 2 for i in range(len(delays) - 1))
    assert len({backoff_delay(3, 2.0, 60.0) for _ in range(20)}) > 1  # jittered


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0",
    "100.64.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "224.0.0.1",
    "255.255.255.255", "192.0.2.1", "fe80::1%eth0"])
def test_non_public_addresses_are_refused(address: str) -> None:
    with pytest.raises(BlockedAddress):
        check_ip(address)


@pytest.mark.parametrize("address", ["1.1.1.1", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    check_ip(address)


def alert(kind: str, reason: str, downtime_ms: int = 0, body: bytes = b"") -> Alert:
    c = check("up" if kind == "up" else "down", tags="prod nightly", desc="Backs up the DB",
              timeout="86400", grace="3600", last_ping="1700000000000")
    return Alert(flip_id="1-0", kind=kind, reason=reason, ts=1700003600000,
                 downtime_ms=downtime_ms, rid="", check=c, last_ping_body=body,
                 last_exitstatus=-1)


def test_down_message() -> None:
    a = alert("down", "timeout", body=b"x" * 3000)
    assert templates.headline(a) == "DOWN | job"
    text = templates.body(a, now_ms=1700007200000)
    assert "is DOWN" in text
    assert "grace time passed" in text
    assert "Schedule: every 1 day, grace 1 hour" in text
    assert "Tags: prod nightly" in text
    assert "Description: Backs up the DB" in text
    assert "Last ping: 2023-11-14T22:13:20+00:00 (2 hours ago)" in text
    assert "(truncated)" in text
    assert "x" * templates.BODY_PREVIEW in text and "x" * 2001 not in text


def test_recovery_message_carries_the_downtime() -> None:
    a = alert("up", "success", downtime_ms=(3 * 3600 + 5 * 60 + 7) * 1000)
    assert templates.headline(a) == "UP | job"
    assert "Downtime: 3 hours 5 minutes" in templates.body(a)
    assert templates.headline(alert("down", "repeat")) == "STILL DOWN | job"
    assert templates.headline(alert("late", "late")) == "LATE | job"


def test_email_config_and_message() -> None:
    assert recipients({"to": "a@b.c, d@e.f"}) == ["a@b.c", "d@e.f"]
    assert recipients({"to": ["a@b.c"]}) == ["a@b.c"]
    assert recipients({}) == []
    assert toggled({"up": False}, "up") is False
    assert toggled({"up": False}, "down") is True
    msg = message(alert("down", "fail"), "hb@example.com", ["a@b.c"])
    assert msg["Subject"] == "DOWN | job"
    assert msg["To"] == "a@b.c"
    assert msg["X-Heartbeat-Flip-Id"] == "1-0"
    assert "received a failure signal" in msg.get_content()


def test_apprise_urls() -> None:
    assert urls({"urls": ["json://h/", " ntfy://topic "]}) == ["json://h/", "ntfy://topic"]
    assert urls({"urls": "json://a/ json://b/"}) == ["json://a/", "json://b/"]
    assert urls({}) == []


def test_metrics_text_helpers() -> None:
    from pingserver.api.metrics import CheckLines, effective_state, escape

    assert escape('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    row: dict[str, str | None] = {"uuid": "u", "project": "p", "name": 'say "hi"',
                                  "status": "up", "grace_start": "100", "down_at": "200",
                                  "last_ping": "1500", "last_duration": "", "last_start": "0"}
    assert [effective_state(row, t) for t in (99, 100, 200)] == ["up", "late", "down"]
    assert effective_state({**row, "status": "paused"}, 300) == "paused"
    lines = CheckLines()
    lines.add(row, 150)
    text = lines.text()
    assert 'hb_check_state{project="p",check="u",name="say \\"hi\\"",state="late"} 1' in text
    assert 'hb_check_last_ping_timestamp_seconds{project="p",check="u",name="say \\"hi\\""} 1.5' \
        in text
    assert 'hb_checks{project="p",state="late"} 1' in text
    assert 'hb_checks{project="p",state="down"} 0' in text
    assert "hb_check_last_duration_seconds{" not in text
