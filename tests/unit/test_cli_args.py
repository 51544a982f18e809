"""`hb` argument handling (pure: no server is started)."""

from __future__ import annotations

import pytest

import hb.operatorcmd
from hb.main import main


@pytest.mark.parametrize(("argv", "expected"), [
    (["operator", "--verbose"], (["--verbose"], False)),
    (["operator", "--standalone", "--", "-n", "team-a"], (["-n", "team-a"], True)),
    (["operator"], ([], False)),
])
def test_operator_passes_kopf_options_through(monkeypatch: pytest.MonkeyPatch, argv: list[str],
                                              expected: tuple[list[str], bool]) -> None:
    seen: list[tuple[list[str], bool]] = []
    monkeypatch.setattr(hb.operatorcmd, "run",
                        lambda extra, standalone: seen.append((list(extra), standalone)) or 0)
    assert main(argv) == 0
    assert seen == [expected]


def test_other_commands_reject_unknown_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["server", "--bogus"])
    assert exc.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_run_id_comes_from_hb_rid(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CronJob's container sets HB_RID from its Job's UID (downward API), for the
    operator's heartbeat.dev/expect-ping."""
    from hb.main import build_parser

    rid = "0b4d3c1e-7f41-4a39-9a51-2a7e8d1c9f00"
    monkeypatch.setenv("HB_RID", rid)
    parser = build_parser()
    assert parser.parse_args(["run", "--", "true"]).rid == rid
    assert parser.parse_args(["ping", "http://hb/ping/x"]).rid == rid
    assert parser.parse_args(["ping", "--rid", "other", "http://hb/ping/x"]).rid == "other"
    monkeypatch.delenv("HB_RID")
    assert build_parser().parse_args(["run", "--", "true"]).rid is None


def test_durations_take_days() -> None:
    from hb.client import parse_duration

    assert parse_duration("1d") == 86400
    assert parse_duration("1d12h") == 1.5 * 86400
    assert parse_duration("30m") == 1800


def test_silence_add_sends_the_matchers_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    import hb.silence

    sent: list[dict[str, object]] = []
    monkeypatch.setattr(hb.silence, "add", lambda api, key, policy, body: sent.append(
        {"api": api, "key": key, **body}) or 0)
    monkeypatch.setenv("HB_API_URL", "http://hb:8000")
    monkeypatch.setenv("HB_API_KEY", "rw")
    monkeypatch.setenv("USER", "alice")
    assert main(["silence", "add", "tag=db", 'name=~"nightly-.*"', "--duration", "1h30m",
                 "--comment", "pg upgrade"]) == 0
    assert main(["silence", "add", "label:app!=web", "--schedule", "0 2 * * 0",
                 "--duration", "2h", "--tz", "Europe/Berlin", "--author", "ops",
                 "--start", "2030-01-01T00:00:00Z"]) == 0
    assert sent == [
        {"api": "http://hb:8000", "key": "rw", "matchers": ["tag=db", 'name=~"nightly-.*"'],
         "comment": "pg upgrade", "created_by": "alice", "duration": 5400},
        {"api": "http://hb:8000", "key": "rw", "matchers": ["label:app!=web"], "comment": "",
         "created_by": "ops", "duration": 7200, "starts_at": "2030-01-01T00:00:00Z",
         "schedule": "0 2 * * 0", "tz": "Europe/Berlin"}]


def test_silence_usage_errors(monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("HB_API_KEY", raising=False)
    assert main(["silence", "list"]) == 2
    assert "no API key" in capsys.readouterr().err
    assert main(["silence", "add", "tag=db", "--duration", "soon", "--api-key", "k"]) == 2
    assert "'soon' is not a duration" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["silence", "add", "--duration", "1h", "--api-key", "k"])  # no matcher
    with pytest.raises(SystemExit):
        main(["silence", "list", "--state", "muted", "--api-key", "k"])


def test_silence_table() -> None:
    from datetime import UTC, datetime

    from hb.silence import matcher_text, rows

    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert [matcher_text(m) for m in (
        {"name": "tag", "value": "db", "isRegex": False, "isEqual": True},
        {"name": "name", "value": "x.*", "isRegex": True, "isEqual": False},
        {"name": "slug", "value": 'a "b"', "isRegex": False, "isEqual": False})] == [
        'tag="db"', 'name!~"x.*"', 'slug!="a \\"b\\""']
    silences = [
        {"id": "s1", "state": "active", "matchers": [], "current_end": "2026-12-06T14:00:00Z",
         "comment": "x" * 50},
        {"id": "s2", "state": "pending", "matchers": [], "next_start": "2026-12-08T12:00:00Z"},
        {"id": "s3", "state": "expired", "matchers": [], "ends_at": "2026-12-06T11:30:00Z"}]
    table = rows(silences, now)
    assert [r[3] for r in table] == ["ends in 2h", "starts in 2d", "ended 30m ago"]
    assert table[0][4] == "x" * 39 + "…"
