"""Silences, maintenance windows and dependencies through the API of a live ping server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pingserver.config import Settings
from pingserver.model import unique_key_of
from pingserver.silences import Silence, parse_matcher
from pingserver.store import ProjectKeys, Store, now_ms
from tests.conftest import PingServer
from tests.support.api import Api


@pytest.fixture
def api(pingserver: PingServer, keys: ProjectKeys) -> Api:
    return Api(pingserver.url, keys.api_key)


@pytest.fixture
def ro_api(pingserver: PingServer, keys: ProjectKeys) -> Api:
    return Api(pingserver.url, keys.api_key_readonly)


def at(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def test_silence_lifecycle(api: Api, ro_api: Api) -> None:
    db = api.create(name="db", slug="db", tags="db prod", timeout=3600)
    api.create(name="web", slug="web", tags="prod", timeout=3600)
    made = api.post("/silences/", {"matchers": ["tag=db", 'name!~"tmp-.*"'],
                                   "duration": 7200, "created_by": "alice",
                                   "comment": "pg upgrade"})
    assert made.status_code == 201, made.text
    silence = made.json()
    assert silence["state"] == "active" and silence["matched_checks"] == 1
    assert silence["matchers"] == [
        {"name": "tag", "value": "db", "isRegex": False, "isEqual": True},
        {"name": "name", "value": "tmp-.*", "isRegex": True, "isEqual": False}]
    start = datetime.fromisoformat(silence["starts_at"])
    end = datetime.fromisoformat(silence["ends_at"])
    assert end - start == timedelta(hours=2)

    shown = api.check(db["uuid"])
    assert shown["silenced_by"] == [silence["id"]]
    assert shown["muted"] == f'silenced by "pg upgrade" ({silence["id"]})'
    assert shown["status"] == "new"  # muting never changes the state
    assert [c["muted"] != "" for c in api.checks()] == [True, False]

    # A read-only key may list and read, not create or expire.
    assert [s["id"] for s in ro_api.get("/silences/").json()["silences"]] == [silence["id"]]
    assert ro_api.get(f"/silences/{silence['id']}").status_code == 200
    assert ro_api.post("/silences/", {"matchers": ["tag=x"], "duration": 60}).status_code == 401
    assert ro_api.delete(f"/silences/{silence['id']}").status_code == 401

    expired = api.delete(f"/silences/{silence['id']}")
    assert expired.status_code == 200 and expired.json()["state"] == "expired"
    assert api.check(db["uuid"])["silenced_by"] == []
    states = {s["id"]: s["state"] for s in api.get("/silences/").json()["silences"]}
    assert states == {silence["id"]: "expired"}  # still listable
    assert api.get("/silences/", params={"state": "active"}).json() == {"silences": []}
    assert api.delete(f"/silences/{silence['id']}").json()["state"] == "expired"


def test_pending_silence_and_upsert_by_id(api: Api) -> None:
    sid = "7e3c6f0e-6a53-4d2e-9d59-1b6f3bd1a001"
    body: dict[str, Any] = {"id": sid, "matchers": [{"name": "slug", "value": "db"}],
                            "starts_at": at(timedelta(hours=1)),
                            "ends_at": at(timedelta(hours=2))}
    first = api.post("/silences/", body)
    assert first.status_code == 201 and first.json()["state"] == "pending"
    assert first.json()["next_start"] == first.json()["starts_at"]
    again = api.post("/silences/", {**body, "comment": "moved"})
    assert again.status_code == 200 and again.json()["comment"] == "moved"
    assert again.json()["created_at"] == first.json()["created_at"]
    assert len(api.get("/silences/").json()["silences"]) == 1


def test_maintenance_window_answers_its_windows(api: Api) -> None:
    made = api.post("/silences/", {"matchers": ["tag=db"], "schedule": "0 2 * * 0",
                                   "duration": 7200, "tz": "Europe/Berlin",
                                   "starts_at": "2026-10-01T00:00:00+02:00",
                                   "ends_at": "2026-11-08T00:00:00+01:00"})
    assert made.status_code == 201, made.text
    windows = made.json()["next_windows"]
    # Computed by the server for the time it runs at: only windows still to come are listed.
    expected = [("2026-10-04T00:00:00+00:00", "2026-10-04T02:00:00+00:00"),
                ("2026-10-11T00:00:00+00:00", "2026-10-11T02:00:00+00:00"),
                ("2026-10-18T00:00:00+00:00", "2026-10-18T02:00:00+00:00"),
                ("2026-10-25T00:00:00+00:00", "2026-10-25T03:00:00+00:00"),  # clocks go back
                ("2026-11-01T01:00:00+00:00", "2026-11-01T03:00:00+00:00")]
    now = datetime.now(UTC).isoformat()
    assert [(w["start"], w["end"]) for w in windows] == [w for w in expected if w[0] > now]


@pytest.mark.parametrize(("body", "message"), [
    ({"matchers": ["color=red"], "duration": 60}, "matchers[0] unknown matcher name 'color'"),
    ({"matchers": ["name=~(unclosed"], "duration": 60}, "matchers[0] invalid regex"),
    ({"matchers": [{"name": "tag", "value": "db", "regex": True}], "duration": 60},
     "matchers[0] unknown field 'regex'"),
    ({"matchers": [], "duration": 60}, "matchers is too short"),
    ({"matchers": ["tag=db"], "duration": 60, "color": "red"}, "color is not a known field"),
    ({"matchers": ["tag=db"], "starts_at": at(timedelta(hours=2)),
      "ends_at": at(timedelta(hours=1))}, "ends_at must be after starts_at"),
    ({"matchers": ["tag=db"], "duration": 40 * 86400}, "ends_at is too far from starts_at"),
    ({"matchers": ["tag=db"]}, "ends_at is missing"),
    ({"matchers": ["tag=db"], "ends_at": "tomorrow"}, "ends_at is not an ISO 8601"),
    ({"matchers": ["tag=db"], "ends_at": "2030-01-01T00:00:00"}, "ends_at needs a UTC offset"),
    ({"matchers": ["tag=db"], "schedule": "61 * * * *", "duration": 60},
     "schedule is not a valid cron expression"),
    ({"matchers": ["tag=db"], "schedule": "0 2 * * 0"}, "duration is missing"),
    ({"matchers": ["tag=db"], "schedule": "0 2 * * 0", "duration": 60, "tz": "Mars/Base"},
     "tz is not a valid timezone"),
    ({"matchers": ["tag=db"], "schedule": "0 2 * * 0", "duration": 40 * 86400},
     "duration is too large"),
])
def test_bad_silences_are_refused_and_nothing_is_written(api: Api, body: dict[str, Any],
                                                        message: str) -> None:
    resp = api.post("/silences/", body)
    assert resp.status_code == 400
    assert resp.json()["error"].startswith(f"json validation error: {message}"), resp.text
    assert api.get("/silences/").json() == {"silences": []}


def test_malformed_silence_ids(api: Api) -> None:
    assert api.get("/silences/not-a-uuid").json() == {"error": "not found"}
    assert api.delete("/silences/7e3c6f0e-6a53-4d2e-9d59-1b6f3bd1a0ff").status_code == 404
    assert api.request("POST", "/silences/", data=b"{" * 10).status_code == 400
    assert api.request("POST", "/silences/", data=b"[1]" * 2_000_000).status_code == 413


def test_silences_are_per_project(api: Api, pingserver: PingServer) -> None:
    made = api.post("/silences/", {"matchers": ["tag=db"], "duration": 60}).json()
    other = Api(pingserver.url, "default-rw-key")
    assert other.get(f"/silences/{made['id']}").status_code == 404
    assert other.delete(f"/silences/{made['id']}").status_code == 404


def test_dependencies(api: Api, ro_api: Api) -> None:
    bucket = api.create(name="bucket", slug="backups-bucket", timeout=3600)
    db = api.create(name="db", slug="db", timeout=3600)
    job = api.create(name="job", slug="job", timeout=3600,
                     depends_on=f"backups-bucket,{db['uuid']}")
    assert job["depends_on"] == [bucket["uuid"], db["uuid"]]
    assert job["held_by"] == [] and job["muted"] == ""
    # Read-only keys see unique keys, never uuids (the secret part of ping URLs).
    assert ro_api.check(unique_key_of(job["uuid"]))["depends_on"] == [
        unique_key_of(bucket["uuid"]), unique_key_of(db["uuid"])]

    cycle = api.post(f"/checks/{bucket['uuid']}", {"depends_on": ["job"]})
    assert cycle.status_code == 400
    assert cycle.json()["error"] == ("json validation error: depends_on would create a "
                                     "cycle: backups-bucket -> job -> backups-bucket")
    self_dep = api.post(f"/checks/{db['uuid']}", {"depends_on": "db"})
    assert "would create a cycle: db -> db" in self_dep.json()["error"]
    unknown = api.post(f"/checks/{db['uuid']}", {"depends_on": "nope", "name": "renamed"})
    assert unknown.status_code == 400
    assert unknown.json()["error"] == ("json validation error: depends_on names an unknown "
                                       "check: 'nope'")
    assert api.check(db["uuid"])["name"] == "db"  # nothing written
    assert api.check(bucket["uuid"])["depends_on"] == []

    api.delete(f"/checks/{db['uuid']}")
    assert api.check(job["uuid"])["depends_on"] == [bucket["uuid"]]
    assert api.post(f"/checks/{job['uuid']}", {"depends_on": ""}).json()["depends_on"] == []


def test_namespace_and_labels(api: Api) -> None:
    c = api.create(name="payments/backup", timeout=3600, namespace="payments",
                   labels={"app": "web", "app.kubernetes.io/part-of": "shop"})
    assert (c["namespace"], c["labels"]) == ("payments", {
        "app": "web", "app.kubernetes.io/part-of": "shop"})
    api.post("/silences/", {"matchers": ["namespace=payments", "label:app=web"],
                            "duration": 60})
    assert api.check(c["uuid"])["silenced_by"] != []
    bad = api.post("/checks/", {"name": "x", "namespace": "Bad_NS"})
    assert bad.json()["error"] == "json validation error: namespace does not match pattern"


def test_expired_silences_are_kept_for_the_retention_then_deleted(
        api: Api, keys: ProjectKeys, settings: Settings) -> None:
    day = 86_400_000
    now = now_ms()

    def old(sid: str, ended_days_ago: int) -> Silence:
        return Silence(id=sid, project=keys.id, matchers=(parse_matcher("tag=db"),),
                       starts_at=now - (ended_days_ago + 1) * day,
                       ends_at=now - ended_days_ago * day, created_at=now - 10 * day)

    async def save() -> Silence | None:
        store = Store.from_settings(settings)
        try:
            await store.save_silence(old("00000000-0000-4000-8000-000000000004", 4))
            await store.save_silence(old("00000000-0000-4000-8000-000000000006", 6))
            api.get("/silences/")  # the listing forgets what is past the retention (5 days)
            return await store.get_silence(keys.id, "00000000-0000-4000-8000-000000000006")
        finally:
            await store.close()

    assert asyncio.run(save()) is None
    listed = api.get("/silences/").json()["silences"]
    assert [(s["id"], s["state"]) for s in listed] == [
        ("00000000-0000-4000-8000-000000000004", "expired")]
