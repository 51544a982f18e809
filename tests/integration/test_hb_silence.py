"""`hb silence add|list|expire` as a maintenance script runs it: real subprocesses against a
real ping server and Redis."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pytest
import requests

from pingserver.config import Settings
from tests.conftest import PingServer
from tests.integration.test_hb_client import QUICK, SyncStore, hb
from tests.support.redis_server import free_port


@pytest.fixture
def db(settings: Settings) -> SyncStore:
    return SyncStore(settings)


def silence_cmd(server: PingServer, key: str, *args: str) -> tuple[int, str, str]:
    result = hb("silence", *args, "--api", server.url, env={"HB_API_KEY": key})
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def check_answer(server: PingServer, key: str, uuid: str) -> dict[str, object]:
    answer = requests.get(f"{server.url}/api/v3/checks/{uuid}", headers={"X-Api-Key": key},
                          timeout=10)
    assert answer.status_code == 200
    result: dict[str, object] = answer.json()
    return result


def test_add_list_expire(pingserver: PingServer, db: SyncStore) -> None:
    proj = db.project()
    nightly = db.check(proj, "nightly-backup", tags="db")
    weekly = db.check(proj, "weekly-report", tags="db")
    other = db.check(proj, "nightly-web", tags="web")

    code, out, err = silence_cmd(pingserver, proj.api_key, "add", "tag=db",
                                 'name=~"nightly-.*"', "--duration", "2h",
                                 "--comment", "pg upgrade", "--author", "alice")
    assert code == 0, err
    sid = out.strip()
    assert re.fullmatch(r"[0-9a-f-]{36}", sid), out  # the id alone: ID=$(hb silence add ...)

    assert check_answer(pingserver, proj.api_key, nightly.uuid)["silenced_by"] == [sid]
    assert check_answer(pingserver, proj.api_key, weekly.uuid)["silenced_by"] == []
    assert check_answer(pingserver, proj.api_key, other.uuid)["silenced_by"] == []

    code, out, err = silence_cmd(pingserver, proj.api_key_readonly, "list")
    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split() == ["ID", "STATE", "MATCHERS", "ENDS/NEXT", "COMMENT"]
    [row] = rows
    assert row.split()[:4] == [sid, "active", 'tag="db"', 'name=~"nightly-.*"']
    assert re.search(r"ends in (1h|2h|11\dm)\s+pg upgrade$", row), row

    code, out, _ = silence_cmd(pingserver, proj.api_key, "list", "-q", "--state", "active")
    assert (code, out) == (0, f"{sid}\n")
    code, out, _ = silence_cmd(pingserver, proj.api_key, "list", "-q", "--state", "expired")
    assert (code, out) == (0, "")

    code, out, err = silence_cmd(pingserver, proj.api_key, "expire", sid)
    assert (code, out) == (0, ""), err
    code, out, _ = silence_cmd(pingserver, proj.api_key, "list", "--json")
    [shown] = json.loads(out)
    assert (shown["id"], shown["state"], shown["created_by"]) == (sid, "expired", "alice")
    assert check_answer(pingserver, proj.api_key, nightly.uuid)["silenced_by"] == []
    code, out, _ = silence_cmd(pingserver, proj.api_key, "list")
    assert f"{sid}  expired" in out and "ended just" not in out and "ago" in out


def test_window_with_schedule_and_zone(pingserver: PingServer, db: SyncStore) -> None:
    proj = db.project()
    code, out, err = silence_cmd(pingserver, proj.api_key, "add", "namespace=payments",
                                 "--schedule", "0 2 * * 0", "--duration", "2h",
                                 "--tz", "Europe/Berlin", "--comment", "weekly maintenance")
    assert code == 0, err
    code, listed, _ = silence_cmd(pingserver, proj.api_key, "list", "--json")
    [window] = json.loads(listed)
    assert window["id"] == out.strip()
    assert (window["schedule"], window["duration"], window["tz"]) == ("0 2 * * 0", 7200,
                                                                      "Europe/Berlin")
    assert window["state"] in ("pending", "active")  # active on a Sunday night in Berlin


def test_duration_in_days_and_an_explicit_end(pingserver: PingServer, db: SyncStore) -> None:
    proj = db.project()
    code, out, err = silence_cmd(pingserver, proj.api_key, "add", "slug=a", "--duration", "1d")
    assert code == 0, err
    code, out2, err = silence_cmd(pingserver, proj.api_key, "add", "slug=b",
                                  "--start", "2030-01-01T00:00:00Z",
                                  "--end", "2030-01-01T03:00:00+01:00")
    assert code == 0, err
    code, listed, _ = silence_cmd(pingserver, proj.api_key, "list", "--json")
    by_id = {s["id"]: s for s in json.loads(listed)}
    day = by_id[out.strip()]
    span = datetime.fromisoformat(day["ends_at"]) - datetime.fromisoformat(day["starts_at"])
    assert span == timedelta(days=1)
    assert by_id[out2.strip()]["state"] == "pending"
    assert by_id[out2.strip()]["ends_at"].startswith("2030-01-01T02:00:00")


@pytest.mark.parametrize(("args", "field"), [
    (["add", "colour=red", "--duration", "1h"], "matchers[0] unknown matcher name 'colour'"),
    (["add", "tag=db", 'name=~"("', "--duration", "1h"], "matchers[1] invalid regex"),
    (["add", "tag=db"], "ends_at is missing"),
    (["add", "tag=db", "--start", "2030-01-02T00:00:00Z", "--end", "2030-01-01T00:00:00Z"],
     "ends_at must be after starts_at"),
    (["add", "tag=db", "--duration", "1h", "--tz", "Europe/Berlin"], "tz needs a schedule"),
])
def test_bad_input_is_exit_2_with_the_apis_message(pingserver: PingServer, db: SyncStore,
                                                   args: list[str], field: str) -> None:
    proj = db.project()
    code, out, err = silence_cmd(pingserver, proj.api_key, *args)
    assert (code, out) == (2, ""), err
    assert err.startswith("hb silence add: json validation error: ") and field in err, err
    assert silence_cmd(pingserver, proj.api_key, "list", "-q")[1] == ""  # nothing written


def test_usage_errors_and_refusals(pingserver: PingServer, db: SyncStore) -> None:
    proj = db.project()
    code, _, err = silence_cmd(pingserver, proj.api_key, "add", "tag=db", "--duration", "soon")
    assert code == 2 and "is not a duration" in err
    code, _, err = silence_cmd(pingserver, proj.api_key_readonly, "add", "tag=db",
                               "--duration", "1h")
    assert code == 1 and ("HTTP 401" in err or "HTTP 403" in err), err
    code, _, err = silence_cmd(pingserver, proj.api_key, "expire",
                               "00000000-0000-4000-8000-000000000000")
    assert code == 1 and "no such silence" in err
    assert hb("silence", "list").returncode == 2  # no key
    result = hb("silence", "list", "--api", f"http://127.0.0.1:{free_port()}",
                "--api-key", "k", *QUICK)
    assert result.returncode == 3
