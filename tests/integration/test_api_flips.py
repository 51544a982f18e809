"""Flips: the per-check history with time filters, and the project feed with a cursor."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from pingserver.store import ProjectKeys, Store
from tests.conftest import PingServer
from tests.support.api import Api

HOUR = 3600


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat()


@pytest.fixture
async def history(pingserver: PingServer, project: ProjectKeys,
                  store: Store) -> tuple[Api, str, list[int]]:
    """A check that went up 3 h ago, down 2 h ago, up 1 h ago, then was paused; with a long
    period so that no deadline passes during the test."""
    api = Api(pingserver.url, project.api_key)
    uid = api.create(name="flappy", timeout=86400, grace=3600)["uuid"]
    now = int(time.time())
    times = [now - 3 * HOUR, now - 2 * HOUR, now - HOUR]
    for action, at in zip(("success", "fail", "success"), times, strict=True):
        await store.ping(uid, action, at=at * 1000)
    assert api.post(f"/checks/{uid}/pause").status_code == 200
    return api, uid, times


async def test_flips_are_up_and_down_newest_first(history: tuple[Api, str, list[int]]) -> None:
    api, uid, (t1, t2, t3) = history
    resp = api.get(f"/checks/{uid}/flips/")
    assert resp.status_code == 200
    assert resp.json() == {"flips": [{"timestamp": iso(t3), "up": 1},
                                     {"timestamp": iso(t2), "up": 0},
                                     {"timestamp": iso(t1), "up": 1}]}


@pytest.mark.parametrize(("query", "expected"), [
    ("start={t2}", ["t3", "t2"]),
    ("end={t2}", ["t1"]),
    ("start={t1}&end={t3}", ["t2", "t1"]),
    ("seconds=5400", ["t3"]),
    ("seconds=5400&start={t1}", ["t3"]),
    ("seconds=0", ["t3", "t2", "t1"]),
    ("start={t3}&end={t3}", []),
])
async def test_flip_time_filters(history: tuple[Api, str, list[int]], query: str,
                                 expected: list[str]) -> None:
    api, uid, (t1, t2, t3) = history
    named = {"t1": t1, "t2": t2, "t3": t3}
    resp = api.get(f"/checks/{uid}/flips/?{query.format(**named)}")
    assert resp.status_code == 200
    assert [f["timestamp"] for f in resp.json()["flips"]] == [iso(named[n]) for n in expected]


async def test_flips_by_unique_key_with_readonly_key(history: tuple[Api, str, list[int]],
                                                     pingserver: PingServer,
                                                     project: ProjectKeys) -> None:
    api, uid, _ = history
    ro = Api(pingserver.url, project.api_key_readonly)
    unique_key = ro.checks()[0]["unique_key"]
    assert ro.get(f"/checks/{unique_key}/flips/").json() == api.get(f"/checks/{uid}/flips/").json()


def drain(api: Api, cursor: str = "", limit: int = 1) -> tuple[list[dict[str, Any]], str]:
    """Every flip after `cursor`, page by page; the cursor to continue from."""
    flips: list[dict[str, Any]] = []
    for _ in range(10_000):
        resp = api.get("/flips/", params={"cursor": cursor, "limit": limit})
        assert resp.status_code == 200, resp.text
        page = resp.json()
        assert len(page["flips"]) <= limit
        if not page["flips"] and page["cursor"] == cursor:
            return flips, cursor
        flips += page["flips"]
        cursor = page["cursor"]
    raise AssertionError("the feed never ended")


async def test_feed_pages_through_the_projects_flips(history: tuple[Api, str, list[int]],
                                                     pingserver: PingServer,
                                                     store: Store) -> None:
    api, uid, (t1, t2, t3) = history
    other = await store.create_project("elsewhere")
    other_uid = Api(pingserver.url, other.api_key).create(name="elsewhere")["uuid"]
    await store.ping(other_uid, "fail")

    flips, cursor = drain(api)
    assert [(f["check"], f["old"], f["new"], f["reason"]) for f in flips] == [
        (uid, "new", "up", "success"), (uid, "up", "down", "fail"),
        (uid, "down", "up", "success"), (uid, "up", "paused", "pause")]
    assert [f["ts"] for f in flips[:3]] == [t1 * 1000, t2 * 1000, t3 * 1000]
    assert flips[1]["timestamp"] == iso(t2)
    assert flips[2]["downtime"] == HOUR
    assert len({f["id"] for f in flips}) == 4
    assert drain(api, limit=3)[0] == flips

    assert api.post(f"/checks/{uid}/resume").status_code == 200
    await store.ping(uid, "fail")
    newer, _ = drain(api, cursor, limit=100)
    assert [(f["old"], f["new"]) for f in newer] == [("paused", "new"), ("new", "down")]


@pytest.mark.parametrize("cursor", ["%%%", "bm90IGEgY3Vyc29y", "LCws", "é"])
def test_feed_rejects_bad_cursors(pingserver: PingServer, keys: ProjectKeys,
                                  cursor: str) -> None:
    resp = Api(pingserver.url, keys.api_key).get("/flips/", params={"cursor": cursor})
    assert (resp.status_code, resp.json()) == (400, {"error": "invalid cursor"})


def test_feed_limit_bounds(pingserver: PingServer, keys: ProjectKeys) -> None:
    api = Api(pingserver.url, keys.api_key)
    assert api.get("/flips/", params={"limit": 0}).status_code == 400
    assert api.get("/flips/", params={"limit": 1001}).status_code == 400
    assert api.get("/flips/", params={"limit": 1000}).status_code == 200
