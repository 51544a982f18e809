"""Channels: healthchecks' listing, plus create, read, update and delete (beyond healthchecks)."""

from __future__ import annotations

import pytest

from pingserver.api.serialize import config_digest
from pingserver.config import Settings
from pingserver.store import ProjectKeys
from tests.conftest import PingServer
from tests.support.api import Api, new_project


@pytest.fixture
def api(pingserver: PingServer, keys: ProjectKeys) -> Api:
    return Api(pingserver.url, keys.api_key)


def test_channel_lifecycle(api: Api, keys: ProjectKeys) -> None:
    created = api.post("/channels/", {"kind": "webhook", "name": "ops",
                                      "config": {"url_down": "https://example.com/down"}})
    assert created.status_code == 201
    channel = created.json()
    cid = channel["id"]
    assert (channel["kind"], channel["name"]) == ("webhook", "ops")
    assert channel["config"] == {"url_down": "<redacted>"}  # write-only
    assert channel["config_digest"] == config_digest(
        keys.api_key, {"url_down": "https://example.com/down"})
    assert (channel["last_notify"], channel["last_error"]) == (None, "")

    assert api.get("/channels/").json() == {"channels": [{"id": cid, "name": "ops",
                                                          "kind": "webhook"}]}
    assert api.get(f"/channels/{cid}").json() == channel

    renamed = api.request("PATCH", f"/channels/{cid}", json={"name": "oncall"}).json()
    assert renamed["name"] == "oncall"
    assert renamed["config_digest"] == channel["config_digest"]  # kept
    reconfigured = api.post(f"/channels/{cid}", {"config": {"url_down": "https://x.test"}})
    assert reconfigured.status_code == 200
    assert reconfigured.json()["config_digest"] == config_digest(
        keys.api_key, {"url_down": "https://x.test"})
    assert reconfigured.json()["name"] == "oncall"

    deleted = api.delete(f"/channels/{cid}")
    assert (deleted.status_code, deleted.json()["id"]) == (200, cid)
    assert api.get(f"/channels/{cid}").status_code == 404
    assert api.get("/channels/").json() == {"channels": []}


def test_deleting_a_channel_unassigns_it(api: Api) -> None:
    keep = api.channel(name="keep")
    gone = api.channel(name="gone")
    uid = api.create(name="job", channels="*")["uuid"]
    assert set(api.check(uid)["channels"].split(",")) == {keep["id"], gone["id"]}
    api.delete(f"/channels/{gone['id']}")
    assert api.check(uid)["channels"] == keep["id"]


def test_checks_name_channels_by_id_or_name(api: Api) -> None:
    email = api.channel(kind="email", name="mail", to="ops@example.com")
    hook = api.channel(name="hook")
    check = api.create(name="job", channels=f"mail,{hook['id']},mail")
    assert check["channels"] == f"{email['id']},{hook['id']}"
    assert api.create(name="none")["channels"] == ""


@pytest.mark.parametrize(("body", "reason"), [
    ({}, "kind is missing"),
    ({"kind": "Web Hook"}, "kind does not match pattern"),
    ({"kind": "webhook", "name": None}, "name is not a string"),
    ({"kind": "webhook", "config": "url"}, "config is not an object"),
    ({"kind": "webhook", "secret": 1}, "secret is not a known field"),
    ({"kind": "webhook", "name": "n" * 101}, "name is too long"),
])
def test_bad_channels_are_rejected(api: Api, body: dict[str, object], reason: str) -> None:
    resp = api.post("/channels/", body)
    assert (resp.status_code, resp.json()) == (400, {"error": f"json validation error: {reason}"})
    assert api.get("/channels/").json() == {"channels": []}


def test_bad_channel_update_changes_nothing(api: Api) -> None:
    channel = api.channel(name="stable", url="https://a.test")
    resp = api.request("PATCH", f"/channels/{channel['id']}", json={"name": "x", "config": []})
    assert resp.status_code == 400
    assert api.get(f"/channels/{channel['id']}").json() == channel


def test_channels_are_private_and_need_a_read_write_key(api: Api, pingserver: PingServer,
                                                        keys: ProjectKeys,
                                                        settings: Settings) -> None:
    channel = api.channel(name="mine")
    other = Api(pingserver.url, new_project(settings).api_key)
    for method in ("GET", "POST", "PATCH", "DELETE"):
        resp = other.request(method, f"/channels/{channel['id']}", json={"name": "stolen"})
        assert (resp.status_code, resp.json()) == (404, {"error": "not found"})
    assert other.get("/channels/").json() == {"channels": []}
    assert other.post("/checks/", {"channels": "mine"}).status_code == 400
    ro = Api(pingserver.url, keys.api_key_readonly)
    assert ro.get("/channels/").status_code == 401
    assert ro.post("/channels/", {"kind": "webhook"}).status_code == 401
    assert api.get(f"/channels/{channel['id']}").json()["name"] == "mine"


def test_channel_secrets_never_come_back(api: Api, keys: ProjectKeys) -> None:
    """healthchecks never shows a channel's configuration; here it is write-only: no answer
    carries a value of it, the digest tells a client whether it holds what it wrote."""
    token = "T0k3n-xoxb-1234"
    config = {"down": {"url": f"https://hooks.example/services/{token}", "method": "POST",
                       "headers": {"Authorization": f"Bearer {token}"}}}
    created = api.post("/channels/", {"kind": "webhook", "name": "hook", "config": config})
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    answers = [created, api.get(f"/channels/{cid}"), api.get("/channels/"),
               api.request("PATCH", f"/channels/{cid}", json={"name": "hook2"})]
    for answer in answers:
        assert answer.status_code == 200 or answer is created
        assert token not in answer.text and "hooks.example" not in answer.text
    fetched = answers[1].json()
    assert fetched["config"] == {"down": {"url": "<redacted>", "method": "<redacted>",
                                          "headers": {"Authorization": "<redacted>"}}}
    assert fetched["config_digest"] == config_digest(keys.api_key, config)
    assert fetched["config_digest"] != config_digest(keys.api_key, {**config, "x": 1})
    # Writing an answer back would store the placeholder: refused, nothing changed.
    back = api.post(f"/channels/{cid}", {"config": fetched["config"]})
    assert (back.status_code, back.json()) == (400, {
        "error": "json validation error: config.down.url is the redacted placeholder of API "
                 "answers, not a value"})
    assert api.get(f"/channels/{cid}").json()["config_digest"] == fetched["config_digest"]
