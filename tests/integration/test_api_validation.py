"""Bad input: each class of mistake is a 400 (or 404/413) with healthchecks' wording, and
nothing is written."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from pingserver.store import ProjectKeys
from tests.conftest import PingServer
from tests.support.api import Api

BAD_BODIES: list[tuple[dict[str, Any], str]] = [
    ({"name": None}, "name is not a string"),
    ({"timeout": None}, "timeout is not a number"),
    ({"manual_resume": None}, "manual_resume is not a boolean"),
    ({"colour": "red"}, "colour is not a known field"),
    ({"name": 5}, "name is not a string"),
    ({"timeout": "60"}, "timeout is not a number"),
    ({"timeout": 60.5}, "timeout is not a number"),
    ({"grace": True}, "grace is not a number"),
    ({"manual_resume": "yes"}, "manual_resume is not a boolean"),
    ({"tags": ["a"]}, "tags is not a string"),
    ({"unique": "name"}, "unique is not an array"),
    ({"unique": ["desc"]}, "an item in 'unique' has unexpected value"),
    ({"timeout": 59}, "timeout is too small"),
    ({"grace": 31_536_001}, "grace is too large"),
    ({"max_runtime": 30}, "max_runtime is too small"),
    ({"repeat_every": -1}, "repeat_every is too small"),
    ({"fail_threshold": 0}, "fail_threshold is too small"),
    ({"fail_threshold": 101}, "fail_threshold is too large"),
    ({"name": "x" * 101}, "name is too long"),
    ({"desc": "x" * 10_001}, "desc is too long"),
    ({"success_kw": "x" * 201}, "success_kw is too long"),
    ({"slug": "Has Caps"}, "slug does not match pattern"),
    ({"methods": "GET"}, "methods has unexpected value"),
    ({"schedule": "61 * * * *"}, "schedule is not a valid cron or OnCalendar expression"),
    ({"schedule": "not a schedule at all"},
     "schedule is not a valid cron or OnCalendar expression"),
    ({"tz": "Mars/Olympus_Mons"}, "tz is not a valid timezone"),
    ({"uuid": "not-a-uuid"}, "uuid does not match pattern"),
]


@pytest.fixture
def api(pingserver: PingServer, keys: ProjectKeys) -> Api:
    return Api(pingserver.url, keys.api_key)


@pytest.fixture
def existing(api: Api) -> dict[str, Any]:
    return api.create(name="existing", tags="t", timeout=3600, grace=60, channels="")


@pytest.mark.parametrize(("body", "reason"), BAD_BODIES)
def test_bad_create_writes_nothing(api: Api, existing: dict[str, Any], body: dict[str, Any],
                                   reason: str) -> None:
    resp = api.post("/checks/", {"name": "new one", **body})
    assert resp.status_code == 400
    assert resp.json() == {"error": f"json validation error: {reason}"}
    assert api.checks() == [existing]


@pytest.mark.parametrize(("body", "reason"), BAD_BODIES)
def test_bad_update_writes_nothing(api: Api, existing: dict[str, Any], body: dict[str, Any],
                                   reason: str) -> None:
    uid = existing["uuid"]
    resp = api.post(f"/checks/{uid}", {"desc": "changed", **body})
    assert resp.status_code == 400
    assert resp.json() == {"error": f"json validation error: {reason}"}
    assert api.check(uid) == existing


def test_update_cannot_change_the_uuid(api: Api, existing: dict[str, Any]) -> None:
    other = "00000000-0000-4000-8000-000000000000"
    resp = api.post(f"/checks/{existing['uuid']}", {"uuid": other, "name": "moved"})
    assert (resp.status_code, resp.json()) == (
        400, {"error": "json validation error: uuid has unexpected value"})
    assert api.checks() == [existing]


def test_only_the_first_error_is_reported(api: Api) -> None:
    resp = api.post("/checks/", {"name": 1, "timeout": 1, "tz": "nowhere"})
    assert resp.json() == {"error": "json validation error: name is not a string"}


@pytest.mark.parametrize(("raw", "message"), [
    (b"{not json", "could not parse request body"),
    (b'{"name": "\\ud800"}', "could not parse request body"),
    (b"[" * 5000 + b"]" * 5000, "could not parse request body"),
    (b'{"timeout": 1' + b"0" * 5000 + b"}", "could not parse request body"),
    (b'["name"]', "json validation error: value is not an object"),
    (b'"text"', "json validation error: value is not an object"),
])
def test_unparsable_bodies(api: Api, existing: dict[str, Any], raw: bytes, message: str) -> None:
    for path in ("/checks/", f"/checks/{existing['uuid']}"):
        resp = api.post(path, data=raw, headers={"Content-Type": "application/json"})
        assert (resp.status_code, resp.json()) == (400, {"error": message})
    assert api.checks() == [existing]


def test_oversized_body_is_413(api: Api, existing: dict[str, Any]) -> None:
    body = {"name": "big", "desc": "x" * 70_000}
    resp = api.post("/checks/", body)
    assert resp.status_code == 413
    assert "error" in resp.json()

    def chunks() -> Any:  # no Content-Length: the limit applies while reading
        for _ in range(70):
            yield b" " * 1024

    streamed = requests.post(api.url("/checks/"), data=chunks(), timeout=10,
                             headers={"X-Api-Key": api.key or ""})
    assert streamed.status_code == 413
    assert api.checks() == [existing]


@pytest.mark.parametrize("ident", ["not-a-uuid", "12345", "ZZZZZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZZZZZZZZZ",
                                   "0" * 39])
def test_malformed_uuid_in_path_is_404(api: Api, existing: dict[str, Any], ident: str) -> None:
    for method, path in [("GET", f"/checks/{ident}"), ("POST", f"/checks/{ident}"),
                         ("DELETE", f"/checks/{ident}"), ("POST", f"/checks/{ident}/pause"),
                         ("GET", f"/checks/{ident}/pings/"), ("GET", f"/checks/{ident}/flips/"),
                         ("GET", f"/channels/{ident}")]:
        resp = api.request(method, path, json={})
        assert (resp.status_code, resp.json()) == (404, {"error": "not found"}), (method, path)
    assert api.checks() == [existing]


def test_channel_identifiers(api: Api, existing: dict[str, Any]) -> None:
    api.channel(name="twin")
    api.channel(name="twin")
    uid = existing["uuid"]
    for channels, message in [("nope", "invalid channel identifier: nope"),
                              ("twin", "non-unique channel identifier: twin"),
                              (",", "empty channel identifier")]:
        for path in ("/checks/", f"/checks/{uid}"):
            resp = api.post(path, {"name": "x", "channels": channels})
            assert (resp.status_code, resp.json()) == (400, {"error": message})
    assert api.checks() == [existing]


@pytest.mark.parametrize(("query", "reason"), [
    ("seconds=abc", "seconds is not a number"),
    ("seconds=31536001", "seconds is too large"),
    ("seconds=-1", "seconds is too small"),
    ("start=yesterday", "start is not a number"),
    ("end=1.5", "end is not a number"),
])
def test_bad_flips_parameters(api: Api, existing: dict[str, Any], query: str,
                              reason: str) -> None:
    resp = api.get(f"/checks/{existing['uuid']}/flips/?{query}")
    assert (resp.status_code, resp.json()) == (400, {"error": f"invalid parameter: {reason}"})


def test_unknown_routes_and_methods_answer_json(api: Api, existing: dict[str, Any]) -> None:
    assert api.get("/nothing/here").json() == {"error": "not found"}
    resp = api.request("PUT", f"/checks/{existing['uuid']}")
    assert (resp.status_code, resp.json()) == (405, {"error": "method not allowed"})
