"""A project's flips as a feed with a cursor, for the operator (beyond healthchecks).

Flips live in one Redis stream per shard. The opaque cursor holds the last stream id read
from each shard, so a client that passes back the cursor it got sees every flip exactly once
and survives restarts of the servers, as long as the stream still retains the entries.
"""

from __future__ import annotations

import base64
import re
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from pingserver import keys
from pingserver.api import schemas
from pingserver.api.auth import ReadAuth
from pingserver.api.checks import ERRORS
from pingserver.api.deps import StoreDep
from pingserver.api.errors import ApiError
from pingserver.api.serialize import feed_json

router = APIRouter(tags=["flips"])

STREAM_ID_RE = re.compile(r"^(\d{1,20})-(\d{1,20})$")
MAX_STREAM_PART = 2**64 - 1
READ_AHEAD = 200  # entries read per shard per request: other projects' flips are skipped

Entry = tuple[str, dict[str, str]]


def decode_cursor(cursor: str) -> list[str]:
    """One stream id per shard; "" = from the oldest retained entry."""
    if not cursor:
        return [""] * keys.SHARDS
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except ValueError:
        raise ApiError(400, "invalid cursor") from None
    ids = text.split(",")
    if len(ids) != keys.SHARDS or not all(i == "" or _valid_id(i) for i in ids):
        raise ApiError(400, "invalid cursor")
    return ids


def _valid_id(stream_id: str) -> bool:
    match = STREAM_ID_RE.match(stream_id)
    return match is not None and all(int(part) <= MAX_STREAM_PART for part in match.groups())


def encode_cursor(ids: list[str]) -> str:
    return base64.urlsafe_b64encode(",".join(ids).encode()).decode().rstrip("=")


def stream_order(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq)


def merge(batches: list[list[Entry]], read_ahead: int) -> list[tuple[int, str, dict[str, str]]]:
    """(shard, id, fields) of every shard in stream id order, cut where the first shard with
    more unread entries stops, so that no shard's later entries overtake another's."""
    full = [stream_order(batch[-1][0]) for batch in batches if len(batch) >= read_ahead]
    cutoff = min(full, default=None)
    merged = sorted((stream_order(sid), shard, sid, fields)
                    for shard, batch in enumerate(batches) for sid, fields in batch)
    return [(shard, sid, fields) for order, shard, sid, fields in merged
            if cutoff is None or order <= cutoff]


def take(entries: list[tuple[int, str, dict[str, str]]], cursors: list[str], project: str,
         limit: int) -> list[dict[str, Any]]:
    """Up to `limit` of the project's state changes; advances `cursors` over what was read,
    including other projects' entries and repeat reminders (no state change)."""
    flips: list[dict[str, Any]] = []
    for shard, sid, fields in entries:
        if len(flips) >= limit:
            break
        cursors[shard] = sid
        if fields.get("project") == project and fields.get("old") != fields.get("new"):
            flips.append(feed_json(sid, fields))
    return flips


@router.get("/flips/", response_model=schemas.FeedOut, responses=ERRORS)
async def flips_feed(store: StoreDep, auth: ReadAuth, cursor: str = "",
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> JSONResponse:
    """The project's flips after `cursor`, oldest first, and the cursor to continue from."""
    cursors = decode_cursor(cursor)
    read_ahead = max(limit, READ_AHEAD)
    batches = await store.events_after(cursors, read_ahead)
    flips = take(merge(batches, read_ahead), cursors, auth.project, limit)
    return JSONResponse({"flips": flips, "cursor": encode_cursor(cursors)})
