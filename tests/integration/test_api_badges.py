"""Badges: the listing API, project and tag badges, per-check badges, formats and states."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from pingserver import badges
from pingserver.store import ProjectKeys, Store, now_ms
from tests.conftest import PingServer
from tests.support.api import Api

NO_CACHE = "max-age=0, no-cache, no-store, must-revalidate, private"


@pytest.fixture
async def board(pingserver: PingServer, project: ProjectKeys,
                store: Store) -> tuple[Api, dict[str, Any]]:
    """Four checks: up (web prod), late (web), down (db prod) and new (idle)."""
    api = Api(pingserver.url, project.api_key)
    made = {name: api.create(name=name, tags=tags, timeout=60, grace=3600)
            for name, tags in [("up", "web prod"), ("late", "web"), ("down", "db prod"),
                               ("new", "idle")]}
    await store.ping(made["up"]["uuid"], "success")
    await store.ping(made["late"]["uuid"], "success", at=now_ms() - 120_000)
    await store.ping(made["down"]["uuid"], "fail")
    listing = Api(pingserver.url, project.api_key_readonly).get("/badges/")
    assert listing.status_code == 200
    return api, listing.json()["badges"]


def fetch(url: str) -> requests.Response:
    resp = requests.get(url, timeout=10)
    assert resp.status_code == 200, (url, resp.text)
    assert resp.headers["cache-control"] == NO_CACHE
    assert resp.headers["access-control-allow-origin"] == "*"
    return resp


async def test_listing_has_every_tag_and_all(board: tuple[Api, dict[str, Any]],
                                             project: ProjectKeys, store: Store) -> None:
    _, listing = board
    assert set(listing) == {"*", "web", "prod", "db", "idle"}
    secret = (await store.project(project.id))["badge_secret"]
    for tag, urls in listing.items():
        assert set(urls) == {"svg", "svg3", "json", "json3", "shields", "shields3"}
        sig = badges.signature(secret, tag)
        # The secret is not the key that is in every URL, so one URL cannot forge another.
        assert sig != badges.signature(project.badge_key, tag)
        assert urls["json3"].endswith(f"/badge/{project.badge_key}/{sig}/{tag}.json")
        assert urls["json"].endswith(f"/badge/{project.badge_key}/{sig}-2/{tag}.json")


@pytest.mark.parametrize(("tag", "fmt", "expected"), [
    ("web", "json3", {"status": "late", "total": 2, "grace": 1, "down": 0}),
    ("web", "json", {"status": "up", "total": 2, "grace": 1, "down": 0}),
    ("prod", "json3", {"status": "down", "total": 2, "grace": 0, "down": 1}),
    ("*", "json", {"status": "down", "total": 4, "grace": 1, "down": 1}),
    ("idle", "json3", {"status": "up", "total": 1, "grace": 0, "down": 0}),
    ("web", "shields3", {"schemaVersion": 1, "label": "web", "message": "late",
                         "color": "important"}),
    ("db", "shields", {"schemaVersion": 1, "label": "db", "message": "down",
                       "color": "critical"}),
    ("*", "shields", {"schemaVersion": 1, "label": "status", "message": "down",
                      "color": "critical"}),
])
async def test_tag_badge_states(board: tuple[Api, dict[str, Any]], tag: str, fmt: str,
                                expected: dict[str, Any]) -> None:
    _, listing = board
    assert fetch(listing[tag][fmt]).json() == expected


async def test_tag_badge_svg(board: tuple[Api, dict[str, Any]]) -> None:
    _, listing = board
    resp = fetch(listing["web"]["svg3"])
    assert resp.headers["content-type"].startswith("image/svg+xml")
    assert "web: late" in resp.text and badges.COLORS["late"] in resp.text
    assert "web: up" in fetch(listing["web"]["svg"]).text


async def test_forged_or_unknown_badges_are_404(board: tuple[Api, dict[str, Any]],
                                                pingserver: PingServer,
                                                project: ProjectKeys) -> None:
    _, listing = board
    web = listing["web"]["json3"]
    key = project.badge_key
    stranger = "nobody-has-this-key"
    for url in [web.replace("/web.json", "/prod.json"),  # web's signature, prod's tag
                web.replace(".json", ".png"),
                f"{pingserver.url}/badge/{key}/AAAAAAAA/web.json",
                f"{pingserver.url}/badge/{stranger}/{badges.signature(stranger, 'web')}/web.json",
                ]:
        resp = requests.get(url, timeout=10)
        assert (resp.status_code, resp.json()) == (404, {"error": "not found"}), url


async def test_check_badges(board: tuple[Api, dict[str, Any]], pingserver: PingServer) -> None:
    api, _ = board
    late = next(c for c in api.checks() if c["name"] == "late")
    svg_url = late["badge_url"]
    assert svg_url.startswith(f"{pingserver.url}/b/3/") and svg_url.endswith(".svg")
    assert "late: late" in fetch(svg_url).text
    json3 = svg_url.replace(".svg", ".json")
    assert fetch(json3).json() == {"status": "late", "total": 1, "grace": 1, "down": 0}
    assert fetch(json3.replace("/b/3/", "/b/2/")).json()["status"] == "up"
    assert fetch(svg_url.replace(".svg", ".shields")).json()["label"] == "late"
    for bad in (svg_url.replace("/b/3/", "/b/4/"), svg_url.replace(".svg", ".gif"),
                f"{pingserver.url}/b/3/00000000-0000-4000-8000-000000000000.svg"):
        assert requests.get(bad, timeout=10).status_code == 404


async def test_check_badge_ids(board: tuple[Api, dict[str, Any]], pingserver: PingServer,
                               store: Store) -> None:
    api, _ = board
    check = next(c for c in api.checks() if c["name"] == "up")
    url = check["badge_url"]
    badge_id = url.rsplit("/", 1)[1].removesuffix(".svg")
    # The badge id is not the uuid, which would let anyone who sees the badge ping the check.
    assert check["uuid"] not in url
    assert badge_id == badges.check_badge_id(await store.badge_cipher_key(), check["uuid"])
    assert "up: up" in fetch(url).text
    flipped = badge_id[:-1] + ("0" if badge_id[-1] != "0" else "1")
    for forged in (url.replace(badge_id, flipped), url.replace(badge_id, check["uuid"]),
                   url.replace(badge_id, badges.check_badge_id(bytes(16), check["uuid"]))):
        resp = requests.get(forged, timeout=10)
        assert (resp.status_code, resp.json()) == (404, {"error": "not found"}), forged
    assert api.delete(f"/checks/{check['uuid']}").status_code == 200
    assert requests.get(url, timeout=10).status_code == 404


def test_badge_label_is_escaped(pingserver: PingServer, keys: ProjectKeys) -> None:
    api = Api(pingserver.url, keys.api_key)
    check = api.create(name='<script>alert("x")</script>&')
    svg = fetch(check["badge_url"]).text
    assert "<script>" not in svg
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in svg
