"""Badge signatures, summaries and rendering (pure functions)."""

from __future__ import annotations

import re
import uuid as uuidlib
import xml.etree.ElementTree as ET

import pytest

from pingserver import badges

KEY = "project-badge-key"


def test_signature_is_8_urlsafe_characters_and_keyed() -> None:
    sig = badges.signature(KEY, "backups")
    assert len(sig) == 8
    assert set(sig) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert sig == badges.signature(KEY, "backups")
    assert sig != badges.signature(KEY, "backup")
    assert sig != badges.signature("other-key", "backups")


def test_states_of_signature_segment() -> None:
    sig = badges.signature(KEY, "db")
    assert badges.states_of(KEY, "db", sig) == 3
    assert badges.states_of(KEY, "db", sig + "-2") == 2
    assert badges.states_of(KEY, "web", sig) is None
    assert badges.states_of(KEY, "db", sig[:-1] + ("A" if sig[-1] != "A" else "B")) is None
    assert badges.states_of(KEY, "db", sig + "-3") is None
    assert badges.states_of(KEY, "db", "") is None


def test_signature_ending_in_suffix_is_still_three_state() -> None:
    # Find a tag whose own signature ends in "-2": it must not be read as a 2-state badge.
    tag = next(f"t{i}" for i in range(100_000) if badges.signature(KEY, f"t{i}").endswith("-2"))
    sig = badges.signature(KEY, tag)
    assert badges.states_of(KEY, tag, sig) == 3
    assert badges.states_of(KEY, tag, sig + "-2") == 2


def test_urls() -> None:
    sig = badges.signature(KEY, "a b/c")
    assert badges.tag_url("http://x", "bk", KEY, "a b/c", "svg", 3) == (
        f"http://x/badge/bk/{sig}/a%20b%2Fc.svg")
    star = badges.signature(KEY, "*")
    assert badges.tag_url("http://x", "bk", KEY, "*", "json", 2) == f"http://x/badge/bk/{star}-2/*.json"
    assert badges.check_url("http://x", "abc") == "http://x/b/3/abc.svg"
    urls = badges.tag_urls("http://x", "badgekey", KEY, "db")
    assert set(urls) == {"svg", "svg3", "json", "json3", "shields", "shields3"}
    assert urls["svg3"].endswith(f"/{badges.signature(KEY, 'db')}/db.svg")
    assert urls["shields"].endswith("-2/db.shields")


def test_check_badge_id_hides_the_uuid_and_decrypts_back() -> None:
    key, other_key = bytes(16), bytes(range(16))
    uuid = str(uuidlib.uuid4())
    badge_id = badges.check_badge_id(key, uuid)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", badge_id)
    assert badge_id != uuid and badge_id == badges.check_badge_id(key, uuid.upper())
    assert badges.check_of_badge_id(key, badge_id) == uuid
    assert badges.check_of_badge_id(key, badge_id.upper()) == uuid
    assert badges.check_badge_id(other_key, uuid) != badge_id
    # One changed digit, or another key: some other uuid, which no check has.
    tampered = badge_id[:-1] + ("0" if badge_id[-1] != "0" else "1")
    assert badges.check_of_badge_id(key, tampered) != uuid
    assert badges.check_of_badge_id(other_key, badge_id) != uuid


@pytest.mark.parametrize(("statuses", "states", "expected"), [
    ([], 3, badges.Summary("up", 0, 0, 0)),
    (["up", "new", "paused"], 3, badges.Summary("up", 3, 0, 0)),
    (["up", "late"], 3, badges.Summary("late", 2, 1, 0)),
    (["up", "late"], 2, badges.Summary("up", 2, 1, 0)),
    (["late", "down", "down"], 3, badges.Summary("down", 3, 1, 2)),
    (["late", "down"], 2, badges.Summary("down", 2, 1, 1)),
])
def test_summarize(statuses: list[str], states: int, expected: badges.Summary) -> None:
    assert badges.summarize(statuses, states) == expected


def test_json_and_shields() -> None:
    assert badges.as_json(badges.Summary("late", 3, 1, 0)) == {
        "status": "late", "total": 3, "grace": 1, "down": 0}
    assert badges.as_shields("db", "down") == {
        "schemaVersion": 1, "label": "db", "message": "down", "color": "critical"}
    assert badges.as_shields("db", "up")["color"] == "success"
    assert badges.as_shields("db", "late")["color"] == "important"


@pytest.mark.parametrize("status", ["up", "late", "down"])
def test_svg_is_well_formed_and_coloured(status: str) -> None:
    svg = badges.render_svg("nightly backup", status)
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert texts == ["nightly backup", "nightly backup", status, status]
    assert badges.COLORS[status] in svg


def test_svg_escapes_the_label() -> None:
    label = '<b onload="x()">&co</b>'
    svg = badges.render_svg(label, "up")
    root = ET.fromstring(svg)  # still parses: nothing was injected
    assert root.find("{http://www.w3.org/2000/svg}title").text == f"{label}: up"  # type: ignore[union-attr]
    assert "<b " not in svg


def test_svg_width_grows_with_the_label() -> None:
    short = ET.fromstring(badges.render_svg("a", "up")).get("width")
    long = ET.fromstring(badges.render_svg("a much longer label", "up")).get("width")
    assert short is not None and long is not None
    assert int(long) > int(short)
