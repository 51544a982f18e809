"""Ping endpoints against a real ping server and a real Redis."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import uuid as uuidlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from pingserver import keys as keys_module
from pingserver.app import create_api
from pingserver.config import Settings
from pingserver.model import Check
from pingserver.store import ProjectKeys, Store
from tests.conftest import PingServer
from tests.support.redis_server import RedisServer
from tests.support.wait import wait_for


def make_check(store: Store, project: ProjectKeys, **config: Any) -> Check:
    async def create() -> Check:
        saved = await store.save_check(project.id, {"name": "c", "slug": "c", **config})
        assert saved is not None
        return saved[0]

    return asyncio.get_event_loop().run_until_complete(create())


@pytest.fixture
def sync_store(settings: Any) -> Any:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    store = Store.from_settings(settings)
    yield store
    loop.run_until_complete(store.close())
    loop.close()


def run(coro: Any) -> Any:
    return asyncio.get_event_loop().run_until_complete(coro)


def check_of(store: Store, uuid: str) -> Check:
    check = run(store.get_check(uuid))
    assert check is not None
    return check


@pytest.fixture
def proj(sync_store: Store) -> ProjectKeys:
    return run(sync_store.create_project("ping-test"))  # type: ignore[no-any-return]


def test_uuid_ping_forms(pingserver: PingServer, sync_store: Store, proj: ProjectKeys) -> None:
    check = make_check(sync_store, proj)
    base = f"{pingserver.url}/ping/{check.uuid}"
    r = requests.get(base, timeout=5)
    assert (r.status_code, r.text) == (200, "OK")
    assert r.headers["Ping-Body-Limit"] == "100000"
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert check_of(sync_store, check.uuid).status == "up"
    assert requests.post(f"{base}/fail", data=b"boom", timeout=5).status_code == 200
    assert check_of(sync_store, check.uuid).status == "down"
    assert requests.head(f"{base}/0", timeout=5).status_code == 200
    assert check_of(sync_store, check.uuid).status == "up"
    assert requests.get(f"{base}/3", timeout=5).status_code == 200
    assert check_of(sync_store, check.uuid).status == "down"
    assert requests.get(f"{base}/log", timeout=5).status_code == 200
    assert requests.get(f"{base}/start", timeout=5).status_code == 200
    kinds = [p["kind"] for p in run(sync_store.pings(check.uuid, 10))]
    assert kinds == ["start", "log", "fail", "success", "fail", "success"]
    assert check_of(sync_store, check.uuid).last_exitstatus == 3


@pytest.mark.parametrize(("suffix", "status", "text"), [
    ("/256", 400, "invalid url format"),
    ("/start/extra", 400, "invalid url format"),
    ("/bogus", 400, "invalid url format"),
    ("?rid=not-a-uuid", 400, "invalid uuid format"),
])
def test_bad_ping_urls(pingserver: PingServer, sync_store: Store, proj: ProjectKeys,
                       suffix: str, status: int, text: str) -> None:
    check = make_check(sync_store, proj)
    r = requests.get(f"{pingserver.url}/ping/{check.uuid}{suffix}", timeout=5)
    assert (r.status_code, r.text) == (status, text)
    assert check_of(sync_store, check.uuid).n_pings == 0


def test_unknown_check_is_404(pingserver: PingServer) -> None:
    r = requests.get(f"{pingserver.url}/ping/{uuidlib.uuid4()}", timeout=5)
    assert (r.status_code, r.text) == (404, "not found")


def test_answer_headers(pingserver: PingServer, sync_store: Store, proj: ProjectKeys) -> None:
    """The "200 OK" headers are built once; every answer still gets its own length."""
    check = make_check(sync_store, proj)
    for _ in range(2):
        ok = requests.get(f"{pingserver.url}/ping/{check.uuid}", timeout=5)
        assert (ok.text, ok.headers["Content-Length"]) == ("OK", "2")
        assert ok.headers["Cache-Control"].startswith("max-age=0, no-cache")
    head = requests.head(f"{pingserver.url}/ping/{check.uuid}", timeout=5)
    assert (head.status_code, head.content, head.headers["Content-Length"]) == (200, b"", "2")
    missing = requests.get(f"{pingserver.url}/ping/{uuidlib.uuid4()}", timeout=5)
    assert missing.headers["Content-Length"] == str(len("not found"))
    assert missing.headers["Ping-Body-Limit"] == "100000"
    assert check_of(sync_store, check.uuid).n_pings == 3


def test_slug_urls(pingserver: PingServer, sync_store: Store, proj: ProjectKeys) -> None:
    check = make_check(sync_store, proj, slug="backup-db")
    url = f"{pingserver.url}/ping/{proj.ping_key}/backup-db"
    assert requests.get(url, timeout=5).status_code == 200
    assert requests.get(f"{url}/start", timeout=5).status_code == 200
    assert requests.get(f"{url}/fail", timeout=5).status_code == 200
    assert check_of(sync_store, check.uuid).status == "down"
    assert requests.get(f"{pingserver.url}/ping/{proj.ping_key}/Backup-DB",
                        timeout=5).status_code == 400
    assert requests.get(f"{pingserver.url}/ping/{proj.ping_key}/missing",
                        timeout=5).status_code == 404
    assert requests.get(f"{pingserver.url}/ping/wrongkey/backup-db", timeout=5).status_code == 404
    make_check(sync_store, proj, slug="backup-db")
    r = requests.get(url, timeout=5)
    assert (r.status_code, r.text) == (409, "ambiguous slug")


def test_slug_index_follows_renames_and_deletes(pingserver: PingServer, sync_store: Store,
                                                proj: ProjectKeys) -> None:
    first = make_check(sync_store, proj, slug="old-name")
    second = make_check(sync_store, proj, slug="shared")
    url = f"{pingserver.url}/ping/{proj.ping_key}"
    # A rename onto another check's slug makes that slug ambiguous and frees the old one.
    run(sync_store.save_check(proj.id, {"slug": "shared"}, uuid=first.uuid, create=False))
    assert requests.get(f"{url}/old-name", timeout=5).status_code == 404
    r = requests.get(f"{url}/shared", timeout=5)
    assert (r.status_code, r.text) == (409, "ambiguous slug")
    assert run(sync_store.uuids_by_slug(proj.id, "shared")) == sorted([first.uuid, second.uuid])
    # Saving again without a slug change keeps one entry per check.
    run(sync_store.save_check(proj.id, {"name": "again"}, uuid=first.uuid, create=False))
    assert len(run(sync_store.uuids_by_slug(proj.id, "shared"))) == 2
    # Deleting one resolves the ambiguity; deleting the other removes the slug.
    run(sync_store.delete_check(check_of(sync_store, first.uuid)))
    assert run(sync_store.uuids_by_slug(proj.id, "shared")) == [second.uuid]
    assert requests.get(f"{url}/shared", timeout=5).status_code == 200
    run(sync_store.delete_check(check_of(sync_store, second.uuid)))
    assert run(sync_store.uuids_by_slug(proj.id, "shared")) == []
    assert requests.get(f"{url}/shared", timeout=5).status_code == 404
    # Clearing a slug removes it from the index too.
    third = make_check(sync_store, proj, slug="goes-away")
    run(sync_store.save_check(proj.id, {"slug": ""}, uuid=third.uuid, create=False))
    assert run(sync_store.uuids_by_slug(proj.id, "goes-away")) == []


def test_create_on_slug_with_parameters(pingserver: PingServer, sync_store: Store,
                                        proj: ProjectKeys) -> None:
    url = f"{pingserver.url}/ping/{proj.ping_key}/nightly?create=1&grace=120"
    r = requests.get(url + "&schedule=0+2+*+*+*&tz=Europe/Berlin", timeout=5)
    assert (r.status_code, r.text) == (201, "Created")
    uuids = run(sync_store.uuids_by_slug(proj.id, "nightly"))
    assert len(uuids) == 1
    check = check_of(sync_store, uuids[0])
    assert check.config["kind"] == "cron"
    assert check.config["schedule"] == "0 2 * * *"
    assert check.config["tz"] == "Europe/Berlin"
    assert check.config["grace"] == 120
    assert check.status == "up"
    assert requests.get(url, timeout=5).status_code == 200  # exists now: plain OK


@pytest.mark.parametrize("query", ["timeout=5", "grace=abc", "tz=Mars/Base",
                                   "schedule=not+a+cron"])
def test_create_rejects_bad_parameters(pingserver: PingServer, sync_store: Store,
                                       proj: ProjectKeys, query: str) -> None:
    r = requests.get(f"{pingserver.url}/ping/{proj.ping_key}/new-one?create=1&{query}",
                     timeout=5)
    assert r.status_code == 400
    assert query.split("=")[0] in r.text
    assert run(sync_store.uuids_by_slug(proj.id, "new-one")) == []


def test_concurrent_create_makes_one_check(pingserver: PingServer, sync_store: Store,
                                           proj: ProjectKeys) -> None:
    url = f"{pingserver.url}/ping/{proj.ping_key}/racy?create=1"
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: requests.get(url, timeout=10).status_code, range(8)))
    assert codes.count(201) == 1
    assert sorted(set(codes)) == [200, 201]
    assert len(run(sync_store.uuids_by_slug(proj.id, "racy"))) == 1


def test_body_is_cut_at_limit_and_metadata_recorded(pingserver: PingServer, sync_store: Store,
                                                    proj: ProjectKeys) -> None:
    check = make_check(sync_store, proj)
    body = b"x" * 150_000
    r = requests.post(f"{pingserver.url}/ping/{check.uuid}", data=body, timeout=5,
                      headers={"X-Forwarded-For": "203.0.113.7, 10.0.0.1",
                               "User-Agent": "curl/8", "X-Forwarded-Proto": "https"})
    assert r.status_code == 200
    ping = run(sync_store.pings(check.uuid, 1))[0]
    assert ping["size"] == 100_000
    assert ping["remote_addr"] == "203.0.113.7"
    assert ping["ua"] == "curl/8"
    assert ping["method"] == "POST"
    assert ping["scheme"] == "https"
    assert run(sync_store.ping_body(check.uuid, ping["n"])) == body[:100_000]


def test_ping_log_entry_fields_round_trip(pingserver: PingServer, sync_store: Store,
                                          proj: ProjectKeys) -> None:
    """Log entries are '|'-separated (model.ping_entry): a '|' in a header cannot shift the
    fields, and every field comes back with its type."""
    check = make_check(sync_store, proj)
    rid = str(uuidlib.uuid4())
    base = f"{pingserver.url}/ping/{check.uuid}"
    headers = {"X-Forwarded-For": "203.0.113.7|evil, 10.0.0.1", "X-Forwarded-Proto": "ht|tps",
               "User-Agent": "agent|with|bars (x|y)"}
    assert requests.get(f"{base}/start?rid={rid}", timeout=5, headers=headers).ok
    assert requests.post(f"{base}/7?rid={rid}", data=b"abc", timeout=5, headers=headers).ok
    fail, start = run(sync_store.pings(check.uuid, 2))
    assert start == {"n": 1, "ts": start["ts"], "kind": "start", "scheme": "https",
                     "method": "GET", "remote_addr": "203.0.113.7evil", "rid": rid,
                     "exitstatus": None, "duration": None, "size": 0,
                     "ua": "agent|with|bars (x|y)"}
    assert (fail["n"], fail["kind"], fail["method"], fail["exitstatus"], fail["size"]) == (
        2, "fail", "POST", 7, 3)
    assert fail["duration"] == fail["ts"] - start["ts"] and fail["ua"] == start["ua"]


def test_ping_log_entries_written_as_json_still_read(pingserver: PingServer,
                                                     sync_store: Store,
                                                     proj: ProjectKeys) -> None:
    """Entries of the earlier JSON format (a Redis kept across an upgrade) are still served."""
    check = make_check(sync_store, proj)
    old = {"n": 1, "ts": 1_700_000_000_000, "kind": "success", "scheme": "http",
           "remote_addr": "10.0.0.1", "method": "GET", "ua": "curl", "rid": "",
           "exitstatus": None, "duration": None, "size": 0}
    run(sync_store.r.lpush(keys_module.pings_key(check.uuid), json.dumps(old)))
    assert requests.get(f"{pingserver.url}/ping/{check.uuid}", timeout=5).ok
    new, kept = run(sync_store.pings(check.uuid, 10))
    assert kept == old
    assert (new["kind"], new["exitstatus"], new["size"]) == ("success", None, 0)
    listed = requests.get(f"{pingserver.url}/api/v3/checks/{check.uuid}/pings/", timeout=5,
                          headers={"X-Api-Key": proj.api_key}).json()["pings"]
    assert [p["type"] for p in listed] == ["success", "success"]


def test_non_utf8_body_kept(pingserver: PingServer, sync_store: Store, proj: ProjectKeys) -> None:
    check = make_check(sync_store, proj)
    requests.post(f"{pingserver.url}/ping/{check.uuid}/fail", data=b"\xff\xfe err", timeout=5)
    assert run(sync_store.ping_body(check.uuid, 1)) == b"\xff\xfe err"


def test_concurrent_runs_timed_by_rid(pingserver: PingServer, sync_store: Store,
                                      proj: ProjectKeys) -> None:
    check = make_check(sync_store, proj)
    t0 = 1_800_000_000_000
    a, b = str(uuidlib.uuid4()), str(uuidlib.uuid4())
    run(sync_store.ping(check.uuid, "start", rid=a, at=t0))
    run(sync_store.ping(check.uuid, "start", rid=b, at=t0 + 10_000))
    assert set(run(sync_store.runs(check.uuid))) == {a, b}
    run(sync_store.ping(check.uuid, "success", rid=a, at=t0 + 30_000))
    # Run a took 30 s although run b started later (healthchecks would say 20 s).
    assert check_of(sync_store, check.uuid).last_duration == 30_000
    assert check_of(sync_store, check.uuid).started  # b is still running
    r = requests.get(f"{pingserver.url}/ping/{check.uuid}?rid={b.upper()}", timeout=5)
    assert r.status_code == 200
    assert run(sync_store.runs(check.uuid)) == {}
    durations = [p["duration"] for p in run(sync_store.pings(check.uuid, 4))]
    assert durations[1] == 30_000 and durations[0] is not None


def test_methods_post_only_and_keyword_filters(pingserver: PingServer, sync_store: Store,
                                               proj: ProjectKeys) -> None:
    check = make_check(sync_store, proj, methods="POST", filter_http_body=True,
                       success_kw="SUCCESS", failure_kw="ERROR, FATAL", start_kw="BEGIN")
    url = f"{pingserver.url}/ping/{check.uuid}"
    requests.get(url, timeout=5)
    assert check_of(sync_store, check.uuid).status == "new"  # GET ignored
    requests.post(url, data="job BEGIN", timeout=5)
    assert check_of(sync_store, check.uuid).started
    requests.post(url, data="all SUCCESS", timeout=5)
    assert check_of(sync_store, check.uuid).status == "up"
    requests.post(url, data="FATAL: disk full", timeout=5)
    assert check_of(sync_store, check.uuid).status == "down"
    requests.post(url, data="nothing to see", timeout=5)
    kinds = [p["kind"] for p in run(sync_store.pings(check.uuid, 5))]
    assert kinds == ["ign", "fail", "success", "start", "ign"]


def test_manual_resume_ignores_pings_while_paused(pingserver: PingServer, sync_store: Store,
                                                  proj: ProjectKeys) -> None:
    check = make_check(sync_store, proj, manual_resume=True)
    assert run(sync_store.set_paused(check.uuid, True)) == 1
    requests.get(f"{pingserver.url}/ping/{check.uuid}", timeout=5)
    assert check_of(sync_store, check.uuid).status == "paused"
    assert run(sync_store.pings(check.uuid, 1))[0]["kind"] == "ign"


def test_ping_log_is_capped(pingserver: PingServer, sync_store: Store, proj: ProjectKeys) -> None:
    check = make_check(sync_store, proj)
    for _ in range(105):
        run(sync_store.ping(check.uuid, "log", body=b"b"))
    pings = run(sync_store.pings(check.uuid, 1000))
    assert len(pings) == 100
    assert pings[-1]["n"] == 6
    assert run(sync_store.ping_body(check.uuid, 5)) is None
    assert run(sync_store.ping_body(check.uuid, 6)) == b"b"


def test_body_leaves_with_its_ping_among_pings_without_body(sync_store: Store,
                                                           proj: ProjectKeys) -> None:
    check = make_check(sync_store, proj)
    run(sync_store.ping(check.uuid, "log", body=b"first"))
    run(sync_store.ping(check.uuid, "log", body=b"second"))
    for _ in range(99):
        run(sync_store.ping(check.uuid, "success"))
    assert run(sync_store.ping_body(check.uuid, 1)) is None
    assert run(sync_store.ping_body(check.uuid, 2)) == b"second"
    run(sync_store.ping(check.uuid, "success"))
    assert run(sync_store.ping_body(check.uuid, 2)) is None
    assert len(run(sync_store.pings(check.uuid, 1000))) == 100


def test_failure_threshold(sync_store: Store, proj: ProjectKeys) -> None:
    check = make_check(sync_store, proj, fail_threshold=3)
    run(sync_store.ping(check.uuid, "success"))
    run(sync_store.ping(check.uuid, "fail"))
    run(sync_store.ping(check.uuid, "fail"))
    assert check_of(sync_store, check.uuid).status == "up"
    run(sync_store.ping(check.uuid, "fail"))
    assert check_of(sync_store, check.uuid).status == "down"
    run(sync_store.ping(check.uuid, "success"))
    run(sync_store.ping(check.uuid, "fail"))
    assert check_of(sync_store, check.uuid).status == "up"


async def new_check(settings: Settings) -> str:
    store = Store.from_settings(settings)
    try:
        proj = await store.create_project("down")
        saved = await store.save_check(proj.id, {"name": "c"})
        assert saved is not None
        return saved[0].uuid
    finally:
        await store.close()


def test_ping_while_redis_is_down_is_503_then_recovers() -> None:
    """The ping path's own connection (resp.py) fails fast and reconnects by itself."""
    redis = RedisServer(appendonly=True).start()
    server = PingServer(redis.url)
    try:
        url = f"{server.url}/ping/{asyncio.run(new_check(Settings(redis_url=redis.url)))}"
        assert requests.get(url, timeout=5).status_code == 200
        redis.stop()
        r = requests.get(url, timeout=5)
        assert (r.status_code, r.text) == (503, "service unavailable: storage is not reachable")
        redis = RedisServer(appendonly=True, port=redis.port, workdir=redis.dir).start()
        wait_for(lambda: requests.get(url, timeout=5).status_code == 200, timeout=15,
                 message="pings did not recover after Redis came back")
    finally:
        server.stop()
        redis.cleanup()


def test_pipelined_requests_on_one_connection(pingserver: PingServer, sync_store: Store,
                                              proj: ProjectKeys) -> None:
    """Answers are joined per event-loop turn (pingserver.httpwrites): pipelined requests
    still get complete answers in order, HEAD has no body, and `Connection: close` closes
    only after its answer."""
    check = make_check(sync_store, proj)
    path = f"/ping/{check.uuid}"
    requests_ = (f"GET {path}/start HTTP/1.1\r\nHost: t\r\n\r\n"
                 f"HEAD /ping/{uuidlib.uuid4()} HTTP/1.1\r\nHost: t\r\n\r\n"
                 f"POST {path}/fail HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nboom"
                 f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", pingserver.port), timeout=10) as sock:
        sock.sendall(requests_)
        received = b""
        while chunk := sock.recv(65536):  # the server closes after the last answer
            received += chunk
    answers = received.split(b"HTTP/1.1 ")[1:]
    assert [a.split(b"\r\n", 1)[0] for a in answers] == [b"200 OK", b"404 Not Found",
                                                          b"200 OK", b"200 OK"]
    assert [a.rsplit(b"\r\n\r\n", 1)[1] for a in answers] == [b"OK", b"", b"OK", b"OK"]
    assert b"connection: close" in answers[-1].lower()
    pings = run(sync_store.pings(check.uuid, 10))
    assert [p["kind"] for p in reversed(pings)] == ["start", "fail", "success"]
    assert check_of(sync_store, check.uuid).status == "up"


async def test_worker_freezes_its_start_up_objects(settings: Settings) -> None:
    """After start-up the application's objects are out of the collector's sight (gc.freeze),
    so a full collection does not stall pings for tens of milliseconds."""
    gc.unfreeze()
    api = create_api(settings, {})
    try:
        async with api.router.lifespan_context(api):
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
