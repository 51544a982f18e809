"""Channels (integrations). healthchecks lists them only; here they can also be created,
read, updated and deleted, so that the operator can manage AlertChannel resources (#1017).
Read-write keys only: a channel's configuration holds delivery targets and tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from pingserver.api import schemas
from pingserver.api.auth import JsonBody, WriteAuth
from pingserver.api.checks import ERRORS, UUID_RE
from pingserver.api.deps import StoreDep
from pingserver.api.errors import not_found, validate
from pingserver.api.serialize import channel_json
from pingserver.store import Auth, Store

router = APIRouter(tags=["channels"])


async def owned_channel(store: Store, auth: Auth, cid: str) -> dict[str, Any]:
    channel = await store.get_channel(cid.lower()) if UUID_RE.match(cid) else None
    if channel is None or channel.get("project") != auth.project:
        raise not_found()
    return channel


async def unassign(store: Store, pid: str, cid: str) -> None:
    """Drop a deleted channel from the checks that named it."""
    for check in await store.list_checks(pid):
        if cid in check.channel_ids:
            rest = ",".join(c for c in check.channel_ids if c != cid)
            await store.save_check(pid, {"channels": rest}, uuid=check.uuid, create=False)


@router.get("/channels/", response_model=schemas.ChannelsOut, responses=ERRORS)
async def list_channels(store: StoreDep, auth: WriteAuth) -> JSONResponse:
    channels = await store.list_channels(auth.project)
    return JSONResponse({"channels": [channel_json(c, full=False) for c in channels]})


@router.post("/channels/", status_code=201, response_model=schemas.ChannelOut,
             responses=ERRORS, openapi_extra=schemas.body_schema(schemas.ChannelCreate))
async def create_channel(store: StoreDep, auth: WriteAuth, body: JsonBody) -> JSONResponse:
    spec = validate(schemas.ChannelCreate, body)
    channel = await store.save_channel(auth.project, spec.kind, spec.name, spec.config)
    return JSONResponse(channel_json(channel, full=True), status_code=201)


@router.get("/channels/{cid}", response_model=schemas.ChannelOut, responses=ERRORS)
async def get_channel(store: StoreDep, auth: WriteAuth, cid: str) -> JSONResponse:
    return JSONResponse(channel_json(await owned_channel(store, auth, cid), full=True))


async def update_channel(store: StoreDep, auth: WriteAuth, body: JsonBody,
                         cid: str) -> JSONResponse:
    """Partial update: fields left out keep their values."""
    channel = await owned_channel(store, auth, cid)
    spec = validate(schemas.ChannelUpdate, body)
    saved = await store.save_channel(
        auth.project,
        spec.kind if spec.kind is not None else str(channel["kind"]),
        spec.name if spec.name is not None else str(channel.get("name", "")),
        spec.config if spec.config is not None else dict(channel["config"]),
        channel_id=str(channel["id"]))
    return JSONResponse(channel_json(saved, full=True))


for method in ("POST", "PATCH"):
    router.add_api_route("/channels/{cid}", update_channel, methods=[method],
                         response_model=schemas.ChannelOut, responses=ERRORS,
                         openapi_extra=schemas.body_schema(schemas.ChannelUpdate))


@router.delete("/channels/{cid}", response_model=schemas.ChannelOut, responses=ERRORS)
async def delete_channel(store: StoreDep, auth: WriteAuth, cid: str) -> JSONResponse:
    """Delete and unassign from every check; the answer is the channel as it was."""
    channel = await owned_channel(store, auth, cid)
    await unassign(store, auth.project, str(channel["id"]))
    await store.delete_channel(auth.project, str(channel["id"]))
    return JSONResponse(channel_json(channel, full=True))
