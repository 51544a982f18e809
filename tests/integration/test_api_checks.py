"""Management API, checks: the healthchecks flow, versions, upserts, filters, keys, pings."""

from __future__ import annotations

import uuid as uuidlib
from datetime import datetime

import pytest

from pingserver import keys as redis_keys
from pingserver.config import Settings
from pingserver.store import ProjectKeys, Store, now_ms
from tests.conftest import PingServer
from tests.support.api import Api, new_project, ping

RW_ONLY = ("uuid", "ping_url", "update_url", "pause_url", "resume_url", "channels")


@pytest.fixture
def api(pingserver: PingServer, keys: ProjectKeys) -> Api:
    return Api(pingserver.url, keys.api_key)


@pytest.fixture
def other_api(pingserver: PingServer, settings: Settings) -> Api:
    """The same server, another project."""
    return Api(pingserver.url, new_project(settings, "other").api_key)


@pytest.fixture
def ro_api(pingserver: PingServer, keys: ProjectKeys) -> Api:
    return Api(pingserver.url, keys.api_key_readonly)


def test_healthchecks_docs_flow(api: Api, pingserver: PingServer) -> None:
    channel = api.channel(name="ops")
    v1 = api.with_version(1)
    resp = v1.post("/checks/", {"name": "test", "tags": "test", "timeout": 60, "grace": 60,
                                "channels": "*"})
    assert resp.status_code == 201
    check = resp.json()
    uid = check["uuid"]
    uuidlib.UUID(uid)
    assert check["ping_url"] == f"{pingserver.url}/ping/{uid}"
    assert check["update_url"] == f"{pingserver.url}/api/v1/checks/{uid}"
    assert check["pause_url"] == check["update_url"] + "/pause"
    assert check["resume_url"] == check["update_url"] + "/resume"
    assert check["channels"] == channel["id"]
    assert (check["name"], check["slug"], check["tags"]) == ("test", "test", "test")
    assert (check["timeout"], check["grace"], check["status"]) == (60, 60, "new")
    assert check["last_ping"] is None and check["next_ping"] is None
    assert "schedule" not in check and "unique_key" not in check

    assert ping(pingserver.url, uid).status_code == 200
    after = v1.check(uid)
    assert after["status"] == "up" and after["n_pings"] == 1
    assert after["last_ping"].endswith("+00:00") and "." not in after["last_ping"]
    assert _seconds_between(after["last_ping"], after["next_ping"]) == 60


def _seconds_between(a: str, b: str) -> float:
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


def test_v1_and_v2_derive_slug_v3_does_not(api: Api) -> None:
    assert api.with_version(2).create(name="Nightly Backup!")["slug"] == "nightly-backup"
    assert api.with_version(1).create(name="Ünïcode job")["slug"] == "unicode-job"
    assert api.create(name="Nightly Backup!")["slug"] == ""
    assert api.with_version(2).create(name="x y", slug="chosen")["slug"] == "chosen"


def test_status_and_started_by_version(api: Api, pingserver: PingServer) -> None:
    uid = api.create(name="runner")["uuid"]
    assert ping(pingserver.url, uid, "start").status_code == 200
    assert api.with_version(1).check(uid)["status"] == "started"
    for version in (2, 3):
        check = api.with_version(version).check(uid)
        assert (check["status"], check["started"]) == ("new", True)
        assert check["last_start"] is not None and check["last_ping"] is None


async def test_late_is_shown_as_grace(pingserver: PingServer, project: ProjectKeys,
                                      store: Store) -> None:
    api = Api(pingserver.url, project.api_key)
    uid = api.create(name="late", timeout=60, grace=3600)["uuid"]
    await store.ping(uid, "success", at=now_ms() - 120_000)
    assert api.check(uid)["status"] == "grace"
    assert api.with_version(1).check(uid)["status"] == "grace"


def test_unique_upsert(api: Api) -> None:
    first = api.post("/checks/", {"name": "db", "timeout": 120, "unique": ["name"]})
    assert first.status_code == 201
    again = api.post("/checks/", {"name": "db", "timeout": 300, "unique": ["name"]})
    assert again.status_code == 200
    assert again.json()["uuid"] == first.json()["uuid"]
    assert [c["timeout"] for c in api.checks()] == [300]
    # A unique field the request does not set never matches: a new check.
    assert api.post("/checks/", {"name": "db", "unique": ["slug"]}).status_code == 201
    assert api.post("/checks/", {"name": "db", "unique": ["name", "tags"],
                                 "tags": "x"}).status_code == 201
    assert len(api.checks()) == 3


def test_create_with_chosen_uuid(api: Api, pingserver: PingServer) -> None:
    uid = str(uuidlib.uuid4())
    first = api.post("/checks/", {"uuid": uid, "name": "chosen", "timeout": 600})
    assert first.status_code == 201 and first.json()["uuid"] == uid
    again = api.post("/checks/", {"uuid": uid.upper(), "name": "renamed"})
    assert again.status_code == 200
    assert (again.json()["name"], again.json()["timeout"]) == ("renamed", 600)
    assert ping(pingserver.url, uid).status_code == 200
    assert len(api.checks()) == 1


def test_chosen_uuid_of_another_project_conflicts(api: Api, other_api: Api) -> None:
    uid = api.create(name="mine")["uuid"]
    resp = other_api.post("/checks/", {"uuid": uid, "name": "theirs"})
    assert resp.status_code == 409
    assert resp.json() == {"error": "uuid is in use by another project"}
    assert api.check(uid)["name"] == "mine"
    assert other_api.checks() == []


def test_list_filters(api: Api) -> None:
    api.create(name="a", tags="prod db")
    api.create(name="b", tags="prod web", slug="b-slug")
    api.create(name="c", tags="dev")
    assert {c["name"] for c in api.checks(tag="prod")} == {"a", "b"}
    assert [c["name"] for c in api.checks(tag=["prod", "db"])] == ["a"]
    assert api.checks(tag=["prod", "dev"]) == []
    assert api.checks(tag="pro") == []  # whole tags only
    assert [c["name"] for c in api.checks(slug="b-slug")] == ["b"]
    assert [c["name"] for c in api.checks()] == ["a", "b", "c"]


def test_readonly_key_sees_no_secrets(api: Api, ro_api: Api) -> None:
    uid = api.create(name="secretive", channels="")["uuid"]
    listed = ro_api.checks()[0]
    assert not set(RW_ONLY) & set(listed)
    unique_key = listed["unique_key"]
    assert len(unique_key) == 40
    assert ro_api.check(unique_key) == listed
    assert ro_api.check(uid) == listed
    assert api.check(unique_key)["uuid"] == uid


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/checks/", {"name": "x"}),
    ("POST", "/checks/{uid}", {"name": "x"}),
    ("DELETE", "/checks/{uid}", None),
    ("POST", "/checks/{uid}/pause", None),
    ("POST", "/checks/{uid}/resume", None),
    ("GET", "/checks/{uid}/pings/", None),
    ("GET", "/checks/{uid}/pings/1/body", None),
    ("GET", "/channels/", None),
])
def test_readonly_key_cannot_write(api: Api, ro_api: Api, method: str, path: str,
                                   body: dict[str, str] | None) -> None:
    uid = api.create(name="keep")["uuid"]
    resp = ro_api.request(method, path.format(uid=uid), json=body)
    assert resp.status_code == 401
    assert resp.json() == {"error": "wrong api key"}
    assert [c["name"] for c in api.checks()] == ["keep"]


def test_missing_and_wrong_keys(api: Api, pingserver: PingServer) -> None:
    anonymous = Api(pingserver.url, None)
    for resp in (anonymous.get("/checks/"), anonymous.post("/checks/", {"name": "x"})):
        assert (resp.status_code, resp.json()) == (401, {"error": "missing api key"})
    wrong = Api(pingserver.url, "not-a-key")
    resp = wrong.get("/checks/")
    assert (resp.status_code, resp.json()) == (401, {"error": "wrong api key"})
    assert api.checks() == []


def test_api_key_in_body(api: Api, pingserver: PingServer, keys: ProjectKeys) -> None:
    anonymous = Api(pingserver.url, None)
    resp = anonymous.post("/checks/", {"api_key": keys.api_key, "name": "via body"})
    assert resp.status_code == 201
    assert [c["name"] for c in api.checks()] == ["via body"]


def test_other_projects_checks_are_not_found(api: Api, other_api: Api) -> None:
    uid = api.create(name="private")["uuid"]
    for method, path in [("GET", f"/checks/{uid}"), ("POST", f"/checks/{uid}"),
                         ("DELETE", f"/checks/{uid}"), ("POST", f"/checks/{uid}/pause"),
                         ("GET", f"/checks/{uid}/pings/"), ("GET", f"/checks/{uid}/flips/")]:
        resp = other_api.request(method, path, json={})
        assert (resp.status_code, resp.json()) == (404, {"error": "not found"}), (method, path)
    assert api.check(uid)["status"] == "new"


def test_partial_update(api: Api) -> None:
    uid = api.create(name="job", tags="a b", desc="old", timeout=3600, grace=120)["uuid"]
    resp = api.post(f"/checks/{uid}", {"desc": "new"})
    assert resp.status_code == 200
    check = resp.json()
    assert (check["name"], check["tags"], check["desc"]) == ("job", "a b", "new")
    assert (check["timeout"], check["grace"]) == (3600, 120)

    cron = api.post(f"/checks/{uid}", {"schedule": "*/5 * * * *", "tz": "Europe/Riga",
                                       "timeout": 60}).json()
    assert (cron["schedule"], cron["tz"]) == ("*/5 * * * *", "Europe/Riga")
    assert "timeout" not in cron  # schedule wins over timeout
    oncalendar = api.post(f"/checks/{uid}", {"schedule": "Mon *-*-* 09:00"}).json()
    assert (oncalendar["schedule"], oncalendar["tz"]) == ("Mon *-*-* 09:00", "Europe/Riga")
    simple = api.post(f"/checks/{uid}", {"timeout": 900}).json()
    assert simple["timeout"] == 900 and "schedule" not in simple


async def test_defaults_and_zeros_are_not_stored(api: Api, store: Store) -> None:
    """A check hash holds only what differs from the defaults (memory per check)."""
    uid = api.create(name="job", tags="a", desc="", max_runtime=300, timeout=60)["uuid"]
    fields = set(await store.r.hkeys(redis_keys.check_key(uid)))
    assert {"tags", "max_runtime", "timeout", "grace", "kind"} <= fields
    assert "desc" not in fields
    updated = api.post(f"/checks/{uid}", {"tags": "", "max_runtime": 0}).json()
    assert (updated["tags"], updated["max_runtime"]) == ("", 0)
    fields = set(await store.r.hkeys(redis_keys.check_key(uid)))
    assert not fields & {"tags", "max_runtime"}
    await store.ping(uid, "start")
    await store.ping(uid, "fail")
    await store.ping(uid, "success")
    fields = set(await store.r.hkeys(redis_keys.check_key(uid)))
    assert not fields & {"last_start", "fail_streak", "needs_eval", "down_since", "next_repeat"}
    assert api.check(uid)["status"] == "up" and api.check(uid)["n_pings"] == 3


def test_update_keeps_channels_unless_given(api: Api) -> None:
    hook = api.channel(name="hook")
    uid = api.create(name="job", channels="hook")["uuid"]
    assert api.post(f"/checks/{uid}", {"name": "renamed"}).json()["channels"] == hook["id"]
    assert api.post(f"/checks/{uid}", {"channels": ""}).json()["channels"] == ""


def test_extension_fields_in_every_version(api: Api) -> None:
    fields = {"max_runtime": 300, "alert_on_late": True, "repeat_every": 3600,
              "fail_threshold": 3}
    uid = api.create(name="ext", **fields)["uuid"]
    for version in (1, 2, 3):
        check = api.with_version(version).check(uid)
        assert {k: check[k] for k in fields} == fields
    off = api.post(f"/checks/{uid}", {"max_runtime": 0, "repeat_every": 0}).json()
    assert (off["max_runtime"], off["repeat_every"]) == (0, 0)


def test_subject_maps_to_keywords(api: Api) -> None:
    check = api.create(name="mail", subject="SUCCESS", subject_fail="FAILED")
    assert (check["success_kw"], check["failure_kw"]) == ("SUCCESS", "FAILED")
    assert (check["subject"], check["subject_fail"], check["filter_subject"]) == (
        "SUCCESS", "FAILED", True)


def test_delete_returns_the_check(api: Api, pingserver: PingServer) -> None:
    created = api.create(name="doomed", tags="t")
    uid = created["uuid"]
    resp = api.delete(f"/checks/{uid}")
    assert resp.status_code == 200
    assert (resp.json()["uuid"], resp.json()["name"]) == (uid, "doomed")
    assert api.get(f"/checks/{uid}").status_code == 404
    assert ping(pingserver.url, uid).status_code == 404
    assert api.delete(f"/checks/{uid}").status_code == 404


def test_pause_and_resume(api: Api, pingserver: PingServer) -> None:
    uid = api.create(name="pausable")["uuid"]
    ping(pingserver.url, uid)
    paused = api.post(f"/checks/{uid}/pause")
    assert (paused.status_code, paused.json()["status"]) == (200, "paused")
    assert paused.json()["next_ping"] is None
    resumed = api.post(f"/checks/{uid}/resume")
    assert (resumed.status_code, resumed.json()["status"]) == (200, "new")
    assert resumed.json()["last_ping"] is None
    again = api.post(f"/checks/{uid}/resume")
    assert (again.status_code, again.json()) == (409, {"error": "check is not paused"})


async def test_pings_and_bodies(pingserver: PingServer, project: ProjectKeys,
                                store: Store) -> None:
    api = Api(pingserver.url, project.api_key)
    uid = api.create(name="logged")["uuid"]
    t0 = now_ms() - 10_000
    await store.ping(uid, "start", rid="", at=t0)
    await store.ping(uid, "success", at=t0 + 1234, body=b"all good", ua="cron/1.0",
                     remote_addr="10.0.0.7", method="POST")
    await store.ping(uid, "log", at=t0 + 2000)
    await store.ping(uid, "success", exitstatus=3, at=t0 + 3000)
    resp = api.get(f"/checks/{uid}/pings/")
    assert resp.status_code == 200
    pings = resp.json()["pings"]
    assert [p["type"] for p in pings] == ["fail", "log", "success", "start"]
    assert [p["n"] for p in pings] == [4, 3, 2, 1]
    success = pings[2]
    assert success["duration"] == 1.23
    assert (success["ua"], success["remote_addr"], success["method"]) == (
        "cron/1.0", "10.0.0.7", "POST")
    assert pings[0]["exitstatus"] == 3 and "duration" not in pings[0]
    assert success["body_url"] == f"{api.url('')}/checks/{uid}/pings/2/body"
    assert pings[1]["body_url"] is None

    body = api.get(f"/checks/{uid}/pings/2/body")
    assert (body.status_code, body.text) == (200, "all good")
    assert body.headers["content-type"].startswith("text/plain")
    for n in ("1", "99", "x"):
        assert api.get(f"/checks/{uid}/pings/{n}/body").status_code == 404


async def test_notification_log(pingserver: PingServer, project: ProjectKeys,
                                store: Store) -> None:
    api = Api(pingserver.url, project.api_key)
    uid = api.create(name="alerting")["uuid"]
    await store.record_delivery(uid, "c1", {"ts": 1_700_000_000_000, "channel": "c1",
                                            "status": "down", "error": ""})
    await store.record_delivery(uid, "c1", {"ts": 1_700_000_060_000, "channel": "c1",
                                            "status": "up", "error": "timeout"})
    resp = api.get(f"/checks/{uid}/notifications/")
    assert resp.status_code == 200
    notes = resp.json()["notifications"]
    assert [(n["status"], n["error"]) for n in notes] == [("up", "timeout"), ("down", "")]
    assert notes[0]["date"] == "2023-11-14T22:14:20+00:00"
    ro = Api(pingserver.url, project.api_key_readonly)
    assert ro.get(f"/checks/{uid}/notifications/").status_code == 401
    assert api.with_version(1).get(f"/checks/{uid}/notifications/").status_code == 404


def test_expect_first_ping_gives_a_new_check_a_deadline(api: Api) -> None:
    plain = api.create(name="plain", timeout=3600, grace=60)
    assert (plain["expect_first_ping"], plain["next_ping"]) == (False, None)
    strict = api.create(name="strict", timeout=3600, grace=60, expect_first_ping=True)
    assert strict["expect_first_ping"] is True and strict["status"] == "new"
    assert strict["next_ping"] is not None  # creation + 1 hour
    updated = api.post(f"/checks/{plain['uuid']}", {"expect_first_ping": True}).json()
    assert updated["next_ping"] is not None
