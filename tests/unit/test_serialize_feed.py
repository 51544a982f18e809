"""The flips feed's cursor and merge of the shard streams (pure functions)."""

from __future__ import annotations

import pytest

from pingserver import keys
from pingserver.api.errors import ApiError
from pingserver.api.feed import Entry, decode_cursor, encode_cursor, merge, take


def entry(sid: str, project: str = "p", old: str = "up", new: str = "down") -> Entry:
    return sid, {"check": f"c{sid}", "project": project, "old": old, "new": new, "ts": "1",
                 "reason": "x", "rid": "", "downtime": "0"}


def shards(**batches: list[Entry]) -> list[list[Entry]]:
    """All shards empty except the ones named s0, s1, ..."""
    out: list[list[Entry]] = [[] for _ in range(keys.SHARDS)]
    for name, batch in batches.items():
        out[int(name[1:])] = batch
    return out


def test_cursor_round_trip() -> None:
    ids = [""] * keys.SHARDS
    ids[3], ids[15] = "1700000000000-0", "1700000000001-12"
    assert decode_cursor(encode_cursor(ids)) == ids
    assert decode_cursor("") == [""] * keys.SHARDS
    assert "=" not in encode_cursor(ids)


@pytest.mark.parametrize("cursor", [
    "!!!", "é", encode_cursor(["1-0"] * (keys.SHARDS - 1)),
    encode_cursor(["x-0"] + [""] * (keys.SHARDS - 1)),
    encode_cursor([f"{2**64}-0"] + [""] * (keys.SHARDS - 1)),
])
def test_bad_cursors(cursor: str) -> None:
    with pytest.raises(ApiError) as info:
        decode_cursor(cursor)
    assert (info.value.status, info.value.message) == (400, "invalid cursor")


def test_merge_orders_by_stream_id_across_shards() -> None:
    merged = merge(shards(s0=[entry("1-0"), entry("10-0")], s5=[entry("2-0"), entry("9-1")]), 3)
    assert [(shard, sid) for shard, sid, _ in merged] == [
        (0, "1-0"), (5, "2-0"), (5, "9-1"), (0, "10-0")]


def test_merge_stops_where_a_full_shard_has_more() -> None:
    # Shard 0 returned a full batch ending at 5-0: its later entries are unread, so shard 1's
    # entries after 5-0 must wait for the next page.
    merged = merge(shards(s0=[entry("1-0"), entry("5-0")], s1=[entry("3-0"), entry("7-0")]), 2)
    assert [sid for _, sid, _ in merged] == ["1-0", "3-0", "5-0"]


def test_take_filters_and_advances_cursors() -> None:
    batches = shards(s0=[entry("1-0", "other"), entry("4-0")],
                     s2=[entry("2-0", old="down", new="down"), entry("3-0"), entry("5-0")])
    cursors = [""] * keys.SHARDS
    flips = take(merge(batches, 100), cursors, "p", limit=1)
    assert [f["id"] for f in flips] == ["3-0"]
    # Past the other project's entry and the repeat reminder, not past what was not returned.
    assert (cursors[0], cursors[2]) == ("1-0", "3-0")

    cursors = [""] * keys.SHARDS
    flips = take(merge(batches, 100), cursors, "p", limit=10)
    assert [f["id"] for f in flips] == ["3-0", "4-0", "5-0"]
    assert (cursors[0], cursors[2]) == ("4-0", "5-0")
