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
