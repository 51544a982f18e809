"""Channels (integrations). healthchecks lists them only; here they can also be created,
read, updated and deleted, so that the operator can manage AlertChannel resources (#1017).
Read-write keys only: a channel's configuration holds delivery targets and tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from pingserver.api import schemas
from pingserver.api.auth import JsonBody, RequestKey, WriteAuth
from pingserver.api.checks import ERRORS, UUID_RE
from pingserver.api.deps import StoreDep
from pingserver.api.errors import ApiError, not_found, validate
from pingserver.api.serialize import REDACTED, channel_json
from pingserver.engine.channels import validation
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


def public(channel: dict[str, Any], key: str) -> dict[str, Any]:
    """The full answer: the configuration is write-only (values redacted, plus a digest keyed
    by the request's API key: serialize.config_digest)."""
    return channel_json(channel, full=True, digest_key=key)


def redacted_field(value: Any, path: str = "") -> str | None:
    """The first field of `value` that holds the REDACTED placeholder, as a dotted path."""
    if isinstance(value, dict):
        items: list[tuple[str, Any]] = [(f"{path}.{k}" if path else str(k), v)
                                        for k, v in value.items()]
    elif isinstance(value, list):
        items = [(f"{path}[{i}]", v) for i, v in enumerate(value)]
    else:
        return path if value == REDACTED else None
    return next((found for p, v in items if (found := redacted_field(v, p)) is not None), None)


def checked_config(kind: str, config: dict[str, Any]) -> None:
    placeholder = redacted_field(config)
    if placeholder is not None:  # a read-modify-write of an answer would store it
        raise ApiError(400, f"json validation error: config.{placeholder} is the redacted "
                            "placeholder of API answers, not a value")
    try:
        validation.validate(kind, config)
    except validation.ConfigError as exc:
        raise ApiError(400, f"json validation error: {exc}") from None


@router.get("/channels/", response_model=schemas.ChannelsOut, responses=ERRORS)
async def list_channels(store: StoreDep, auth: WriteAuth) -> JSONResponse:
    channels = await store.list_channels(auth.project)
    return JSONResponse({"channels": [channel_json(c, full=False) for c in channels]})


@router.post("/channels/", status_code=201, response_model=schemas.ChannelOut,
             responses=ERRORS, openapi_extra=schemas.body_schema(schemas.ChannelCreate))
async def create_channel(store: StoreDep, auth: WriteAuth, body: JsonBody,
                         key: RequestKey) -> JSONResponse:
    spec = validate(schemas.ChannelCreate, body)
    checked_config(spec.kind, spec.config)
    channel = await store.save_channel(auth.project, spec.kind, spec.name, spec.config)
    return JSONResponse(public(channel, key), status_code=201)


@router.get("/channels/{cid}", response_model=schemas.ChannelOut, responses=ERRORS)
async def get_channel(store: StoreDep, auth: WriteAuth, cid: str,
                      key: RequestKey) -> JSONResponse:
    return JSONResponse(public(await owned_channel(store, auth, cid), key))


async def update_channel(store: StoreDep, auth: WriteAuth, body: JsonBody,
                         cid: str, key: RequestKey) -> JSONResponse:
    """Partial update: fields left out keep their values."""
    channel = await owned_channel(store, auth, cid)
    spec = validate(schemas.ChannelUpdate, body)
    kind = spec.kind if spec.kind is not None else str(channel["kind"])
    config = spec.config if spec.config is not None else dict(channel["config"])
    checked_config(kind, config)
    saved = await store.save_channel(
        auth.project, kind, spec.name if spec.name is not None else str(channel.get("name", "")),
        config, channel_id=str(channel["id"]))
    return JSONResponse(public(saved, key))


for method in ("POST", "PATCH"):
    router.add_api_route("/channels/{cid}", update_channel, methods=[method],
                         response_model=schemas.ChannelOut, responses=ERRORS,
                         openapi_extra=schemas.body_schema(schemas.ChannelUpdate))


@router.delete("/channels/{cid}", response_model=schemas.ChannelOut, responses=ERRORS)
async def delete_channel(store: StoreDep, auth: WriteAuth, cid: str,
                         key: RequestKey) -> JSONResponse:
    """Delete and unassign from every check; the answer is the channel as it was."""
    channel = await owned_channel(store, auth, cid)
    await unassign(store, auth.project, str(channel["id"]))
    await store.delete_channel(auth.project, str(channel["id"]))
    return JSONResponse(public(channel, key))
