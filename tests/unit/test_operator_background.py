"""The background loop's decisions (feed catch-up, replay protection, bounded refresh, drift
repair), with the ping server client and the Kubernetes calls replaced by in-memory fakes."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

import pytest

from heartbeat_operator import background, kube, reconcile
from heartbeat_operator.background import Background, ObjectRef
from heartbeat_operator.config import load
from heartbeat_operator.identity import check_uuid

SECRET = "0123456789abcdef-unit"
ENV = {"HB_PINGSERVER_URL": "http://hb.test", "HB_API_KEY": "k", "HB_CLUSTER_SECRET": SECRET,
       "HB_NAMESPACES": "ns", "HB_LASTPING_REFRESH": "60s", "HB_DRIFT_INTERVAL": "1h"}
UUID = check_uuid(SECRET, "ns", "job")


class FakeClient:
    def __init__(self, page_size: int = 2) -> None:
        self.page_size = page_size
        self.feed: list[dict[str, Any]] = []
        self.checks: dict[str, dict[str, Any]] = {}
        self.upserts: list[tuple[str, dict[str, Any]]] = []

    def flips(self, cursor: str, limit: int = 500) -> tuple[list[dict[str, Any]], str]:
        start = int(cursor or 0)
        page = self.feed[start:start + self.page_size]
        return page, str(start + len(page)) if page else cursor

    def get_check(self, uuid: str) -> dict[str, Any] | None:
        return self.checks.get(uuid)

    def list_checks(self) -> list[dict[str, Any]]:
        return list(self.checks.values())

    def upsert_check(self, uuid: str, payload: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        self.upserts.append((uuid, dict(payload)))
        created = uuid not in self.checks
        check = {**self.checks.get(uuid, {"status": "new"}), **payload, "uuid": uuid,
                 "ping_url": f"http://hb.test/ping/{uuid}"}
        self.checks[uuid] = check
        return check, created

    def list_channels(self) -> list[dict[str, Any]]:
        return []


class FakeKube:
    """The custom objects and the state ConfigMap, in memory."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.cursor_writes: list[str] = []
        self.rv = 1

    def add(self, name: str, spec: dict[str, Any], status: dict[str, Any]) -> ObjectRef:
        body = {"kind": "HeartbeatCheck", "metadata": {
            "name": name, "namespace": "ns", "uid": f"uid-{name}", "generation": 1,
            "resourceVersion": "1"}, "spec": spec, "status": status}
        self.objects[("ns", name)] = body
        return ObjectRef.from_body(body)

    def get_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        found = self.objects.get((namespace, name))
        return copy.deepcopy(found) if found else None

    def patch_status(self, plural: str, namespace: str, name: str,
                     status: Mapping[str, Any]) -> bool:
        body = self.objects[(namespace, name)]
        for key, value in status.items():
            if value is None:
                body["status"].pop(key, None)
            else:
                body["status"][key] = value
        self.rv += 1
        body["metadata"]["resourceVersion"] = str(self.rv)
        return True

    def patch_status_checked(self, plural: str, namespace: str, name: str,
                             status: Mapping[str, Any], resource_version: str) -> None:
        assert self.objects[(namespace, name)]["metadata"]["resourceVersion"] == resource_version
        self.patch_status(plural, namespace, name, status)

    def write_cursor(self, namespace: str, cursor: str) -> None:
        self.cursor_writes.append(cursor)

    def list_objects(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return []


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake_kube(monkeypatch: pytest.MonkeyPatch) -> FakeKube:
    fake = FakeKube()
    for name in ("get_object", "patch_status", "patch_status_checked", "write_cursor",
                 "list_objects"):
        monkeypatch.setattr(kube, name, getattr(fake, name))
    return fake


def make_loop(client: FakeClient, events: list[tuple[str, str, str]], cursor: str = "",
              clock: Clock | None = None) -> Background:
    ctx = reconcile.Context(load(ENV), client)  # type: ignore[arg-type]
    return Background(ctx, state_namespace="ns", cursor=cursor, clock=clock or Clock(),
                      post_event=lambda ref, t, r, m: events.append((ref["metadata"]["name"],
                                                                     t, r)))


def flip(old: str, new: str, minute: int) -> dict[str, Any]:
    return {"check": UUID, "old": old, "new": new, "reason": "timeout",
            "timestamp": f"2026-03-01T12:{minute:02d}:00+00:00", "downtime": 0}


def test_without_a_cursor_the_backlog_is_skipped_silently(fake_kube: FakeKube) -> None:
    client = FakeClient()
    client.feed = [flip("new", "up", 1), flip("up", "down", 2), flip("down", "up", 3)]
    ref = fake_kube.add("job", {"period": "5m"}, {"checkID": UUID})
    events: list[tuple[str, str, str]] = []
    loop = make_loop(client, events)
    loop.poll_flips({UUID: ref})
    assert events == []
    assert loop.cursor == "3"
    assert fake_kube.cursor_writes[-1] == "3"
    client.feed.append(flip("up", "down", 4))
    loop.poll_flips({UUID: ref})
    assert events == [("job", "Warning", "CheckDown")]
    status = fake_kube.objects[("ns", "job")]["status"]
    assert status["state"] == "down"
    assert status["lastFlip"] == "2026-03-01T12:04:00Z"


def test_with_a_cursor_flips_since_then_are_reported_once(fake_kube: FakeKube) -> None:
    client = FakeClient()
    client.feed = [flip("new", "up", 1), flip("up", "down", 2), flip("down", "up", 3)]
    client.checks[UUID] = {"uuid": UUID, "status": "up",
                           "last_ping": "2026-03-01T12:03:00+00:00"}
    ref = fake_kube.add("job", {"period": "5m"}, {"checkID": UUID})
    events: list[tuple[str, str, str]] = []
    make_loop(client, events, cursor="1").poll_flips({UUID: ref})
    assert events == [("job", "Warning", "CheckDown"), ("job", "Normal", "CheckUp")]
    assert fake_kube.objects[("ns", "job")]["status"]["lastPing"] == "2026-03-01T12:03:00Z"
    # A restart that lost the last cursor write replays: already-reported flips stay quiet.
    make_loop(client, events, cursor="1").poll_flips({UUID: ref})
    assert len(events) == 2


def test_a_page_of_many_checks_flips_is_reported_once_each_in_order(
        fake_kube: FakeKube) -> None:
    client = FakeClient(page_size=100)
    names = [f"job{i}" for i in range(12)]
    refs = {}
    for name in names:
        uuid = check_uuid(SECRET, "ns", name)
        refs[uuid] = fake_kube.add(name, {"period": "5m"}, {"checkID": uuid})
        client.feed += [{**flip("up", "down", 1), "check": uuid},
                        {**flip("down", "up", 2), "check": uuid}]
    events: list[tuple[str, str, str]] = []
    loop = make_loop(client, events, cursor="0")
    loop.poll_flips(refs)
    for name in names:
        mine = [reason for who, _, reason in events if who == name]
        assert mine == ["CheckDown", "CheckUp"], name
        assert fake_kube.objects[("ns", name)]["status"]["state"] == "up"
    assert loop.cursor == str(len(client.feed))


def test_flips_of_unknown_checks_are_ignored(fake_kube: FakeKube) -> None:
    client = FakeClient()
    client.feed = [{**flip("up", "down", 1), "check": "someone-else"}]
    events: list[tuple[str, str, str]] = []
    make_loop(client, events, cursor="0").poll_flips({})
    assert events == []


def test_refresh_writes_only_changed_checks_and_only_when_due(fake_kube: FakeKube) -> None:
    client = FakeClient()
    client.checks[UUID] = {"uuid": UUID, "status": "up", "grace": 60,
                           "last_ping": "2026-03-01T12:00:00+00:00",
                           "next_ping": "2026-03-01T12:05:00+00:00"}
    fake_kube.add("job", {"period": "5m"}, {"checkID": UUID, "state": "up"})
    clock = Clock()
    loop = make_loop(client, [], cursor="0", clock=clock)
    writes_before = fake_kube.rv

    def refs() -> dict[str, ObjectRef]:
        return {UUID: ObjectRef.from_body(fake_kube.objects[("ns", "job")])}

    loop.tick(refs(), [])
    assert fake_kube.rv == writes_before + 1
    assert fake_kube.objects[("ns", "job")]["status"]["lastPing"] == "2026-03-01T12:00:00Z"
    # Pinged again, but the refresh interval has not passed: no write.
    client.checks[UUID]["last_ping"] = "2026-03-01T12:01:00+00:00"
    clock.now += 30
    loop.tick(refs(), [])
    assert fake_kube.rv == writes_before + 1
    clock.now += 31
    loop.tick(refs(), [])
    assert fake_kube.rv == writes_before + 2
    assert fake_kube.objects[("ns", "job")]["status"]["lastPing"] == "2026-03-01T12:01:00Z"
    # Nothing moved: the next due refresh writes nothing.
    clock.now += 61
    loop.tick(refs(), [])
    assert fake_kube.rv == writes_before + 2


def test_refresh_goes_in_slices_and_spares_checks_flipped_since_its_listing(
        fake_kube: FakeKube, monkeypatch: pytest.MonkeyPatch) -> None:
    """A round of 10,000 status writes must not hold up the feed: each tick writes for about
    REFRESH_SLICE seconds and the feed is read between slices. A check that flipped after the
    round's listing keeps what the flip wrote (the listing is older)."""
    monkeypatch.setattr(background, "REFRESH_BATCH", 1)
    clock = Clock()
    uuids = {name: check_uuid(SECRET, "ns", name) for name in ("a", "b", "c", "d")}
    client = FakeClient()
    for name, uuid in uuids.items():
        client.checks[uuid] = {"uuid": uuid, "status": "up",
                               "last_ping": "2026-03-01T12:00:00+00:00"}
        fake_kube.add(name, {"period": "5m"}, {"checkID": uuid, "state": "up"})
    patch_status = fake_kube.patch_status

    def slow_patch_status(*args: Any) -> bool:
        clock.now += 6.0  # a status write outlasts the 5 s slice: one per tick
        return patch_status(*args)

    monkeypatch.setattr(kube, "patch_status", slow_patch_status)
    events: list[tuple[str, str, str]] = []
    loop = make_loop(client, events, cursor="0", clock=clock)

    def tick() -> None:  # the inventory as the watch shows it at the start of each tick
        loop.tick({uuid: ObjectRef.from_body(fake_kube.objects[("ns", name)])
                   for name, uuid in uuids.items()}, [])

    def refreshed() -> list[str]:
        return [name for name in uuids if "lastPing" in fake_kube.objects[("ns", name)]["status"]]

    tick()
    assert refreshed() == ["a"]
    # d goes down after the round's listing; the feed reports it at the next tick.
    client.checks[uuids["d"]] = {**client.checks[uuids["d"]], "status": "down"}
    client.feed.append({"check": uuids["d"], "old": "up", "new": "down", "reason": "timeout",
                        "timestamp": "2026-03-01T12:06:00+00:00", "downtime": 0})
    tick()
    assert events == [("d", "Warning", "CheckDown")]
    assert refreshed()[:2] == ["a", "b"]
    for _ in range(5):
        tick()
    assert loop.health.last_refresh_at is not None  # the round is over
    assert refreshed()[:3] == ["a", "b", "c"]
    assert fake_kube.objects[("ns", "d")]["status"]["state"] == "down"
    assert events == [("d", "Warning", "CheckDown")]


def test_drift_repair_recreates_a_lost_check_under_the_same_uuid(fake_kube: FakeKube) -> None:
    client = FakeClient()
    ref = fake_kube.add("job", {"period": "5m"}, {"checkID": UUID, "state": "up",
                                                   "observedGeneration": 1})
    events: list[tuple[str, str, str]] = []
    loop = make_loop(client, events, cursor="0")
    loop.repair({UUID: ref}, [])
    assert [u for u, _ in client.upserts] == [UUID]
    assert client.upserts[0][1]["timeout"] == 300
    assert events == [("job", "Normal", "CheckRestored")]
    assert fake_kube.objects[("ns", "job")]["status"]["pingURL"].endswith(UUID)
    # In line with the spec now: nothing to do.
    loop.repair({UUID: ObjectRef.from_body(fake_kube.objects[("ns", "job")])}, [])
    assert len(client.upserts) == 1


def test_drift_repair_reapplies_changed_settings(fake_kube: FakeKube) -> None:
    client = FakeClient()
    client.checks[UUID] = {"uuid": UUID, "status": "up", "timeout": 300, "grace": 7200,
                           "channels": "", "tags": ""}
    ref = fake_kube.add("job", {"period": "5m", "grace": "1h"}, {"checkID": UUID,
                                                                 "observedGeneration": 1})
    events: list[tuple[str, str, str]] = []
    make_loop(client, events, cursor="0").repair({UUID: ref}, [])
    assert client.upserts[0][1]["grace"] == 3600
    assert events == []  # a quiet fix, logged only


def test_drift_repair_refreshes_a_status_still_waiting_for_a_ready_channel(
        fake_kube: FakeKube, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server is right but the status lags (a handler's write landed after the channel
    handler's): drift repair rewrites it."""
    channel = {"metadata": {"name": "hook", "labels": {}}, "status": {"channelID": "c-1"}}
    monkeypatch.setattr(kube, "list_objects", lambda plural, namespace=None: [channel])
    client = FakeClient()
    client.checks[UUID] = {"uuid": UUID, "status": "new", "timeout": 300, "grace": 3600,
                           "channels": "c-1"}
    ref = fake_kube.add("job", {"period": "5m", "channels": ["hook"]}, {
        "checkID": UUID, "observedGeneration": 1, "channels": [],
        "conditions": [{"type": "Ready", "status": "False", "reason": "ChannelsNotReady"}]})
    make_loop(client, [], cursor="0").repair({UUID: ref}, [])
    status = fake_kube.objects[("ns", "job")]["status"]
    assert status["channels"] == ["hook"]
    assert status["conditions"][0]["reason"] == "Registered"


def test_drift_repair_leaves_unsettled_objects_to_their_handlers(fake_kube: FakeKube) -> None:
    client = FakeClient()
    fresh = fake_kube.add("fresh", {"period": "5m"}, {})  # handler has not run yet
    changed = fake_kube.add("changed", {"period": "5m"}, {"checkID": "x",
                                                          "observedGeneration": 0})
    make_loop(client, [], cursor="0").repair({"a": fresh, "b": changed}, [])
    assert client.upserts == []


def test_drift_repair_leaves_refused_specs_alone(fake_kube: FakeKube) -> None:
    client = FakeClient()
    ref = fake_kube.add("job", {"schedule": "0 3 * * *", "timeZone": "Mars/Olympus"}, {
        "observedGeneration": 1,
        "conditions": [{"type": "Ready", "status": "False", "reason": "InvalidSpec"}]})
    assert ref.invalid_as_is
    make_loop(client, [], cursor="0").repair({UUID: ref}, [])
    assert client.upserts == []


def test_object_ref_is_a_plain_copy() -> None:
    tags = ["t"]
    body = {"kind": "HeartbeatCheck", "metadata": {"name": "a", "namespace": "ns", "uid": "u",
                                                   "labels": {"x": "y"}},
            "spec": {"tags": tags}, "status": {}}
    ref = ObjectRef.from_body(body)
    tags.append("changed")
    assert ref.spec == {"tags": ["t"]}
    assert ref.reference() == {"apiVersion": "heartbeat.dev/v1alpha1", "kind": "HeartbeatCheck",
                               "metadata": {"name": "a", "namespace": "ns", "uid": "u"}}
    assert background.Health().as_dict()["repaired"] == 0


def test_refresh_writes_muted_when_it_changes_only(fake_kube: FakeKube) -> None:
    """A silence starting or a dependency going down changes no state: the refresh is where
    status.muted follows, one write per change."""
    client = FakeClient()
    check = {"uuid": UUID, "status": "up", "grace": 60, "last_ping": "2026-03-01T12:00:00+00:00",
             "next_ping": "2026-03-01T12:05:00+00:00", "muted": ""}
    client.checks[UUID] = check
    fake_kube.add("job", {"period": "5m"}, {"checkID": UUID, "state": "up"})
    clock = Clock()
    loop = make_loop(client, [], cursor="0", clock=clock)

    def refresh() -> dict[str, Any]:
        loop.tick({UUID: ObjectRef.from_body(fake_kube.objects[("ns", "job")])}, [])
        clock.now += 61
        return dict(fake_kube.objects[("ns", "job")]["status"])

    assert "muted" not in refresh()
    written = fake_kube.rv
    assert "muted" not in refresh() and fake_kube.rv == written  # unmuted: never written
    check["muted"] = 'silenced by "pg upgrade" (s-1)'
    assert refresh()["muted"] == 'silenced by "pg upgrade" (s-1)'
    assert fake_kube.rv == written + 1
    refresh()
    assert fake_kube.rv == written + 1
    check["muted"] = ""
    assert "muted" not in refresh() and fake_kube.rv == written + 2


def test_drift_repair_compares_dependencies_by_uuid(fake_kube: FakeKube) -> None:
    client = FakeClient()
    db = check_uuid(SECRET, "ns", "db")
    client.checks[UUID] = {"uuid": UUID, "status": "up", "timeout": 300, "grace": 3600,
                           "channels": "", "tags": "", "depends_on": [db], "namespace": "ns",
                           "labels": {"app": "etl"}}
    ref = fake_kube.add("job", {"period": "5m", "dependsOn": ["db"]},
                        {"checkID": UUID, "observedGeneration": 1})
    ref = dataclasses.replace(ref, labels={"app": "etl"})
    loop = make_loop(client, [], cursor="0")
    loop.repair({UUID: ref}, [])
    assert client.upserts == []  # the server's UUID is the slug's check: in line
    client.checks[UUID]["depends_on"] = []  # the ping server dropped it (db was deleted)
    loop.repair({UUID: ref}, [])
    assert [p["depends_on"] for _, p in client.upserts] == [["ns_db"]]
