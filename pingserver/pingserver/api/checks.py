"""Checks: list, create (with `unique` upsert), get, update, delete, pause, resume, pings,
ping bodies, flips and the notification log (compat §3.3).

Everything a request asks for is validated before the first write, so a 400 never leaves a
partial change behind. Another project's check answers 404, never 403: ids do not leak. A
path id that is neither a UUID (any case) nor, for reads, a unique_key also answers 404
`{"error": "not found"}`, as healthchecks' URL patterns do for them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from pingserver import muting, schedules, silences
from pingserver.api import schemas
from pingserver.api.auth import JsonBody, ReadAuth, Version, WriteAuth
from pingserver.api.deps import SettingsDep, StoreDep
from pingserver.api.errors import ApiError, not_found, validate
from pingserver.api.serialize import View, check_json, flip_json, notification_json, ping_json
from pingserver.config import Settings
from pingserver.model import Check
from pingserver.store import Auth, Store, now_ms

router = APIRouter(tags=["checks"])
v3_router = APIRouter(tags=["checks"])

UUID_RE = re.compile(schemas.UUID_PATTERN)
UNIQUE_KEY_RE = re.compile(r"^[0-9a-f]{40}$")
MAX_PINGS = 1000
MAX_SECONDS = 31_536_000
MAX_TIMESTAMP = 253_402_300_799  # 9999-12-31, the last moment datetime can represent

# Fields copied from the request to the stored configuration as they are.
DIRECT_FIELDS = (
    "name", "slug", "tags", "desc", "grace", "tz", "manual_resume", "methods", "start_kw",
    "success_kw", "failure_kw", "filter_subject", "filter_body", "filter_http_body",
    "filter_default_fail", "max_runtime", "alert_on_late", "repeat_every", "fail_threshold",
    "expect_first_ping", "namespace",
)

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": schemas.ErrorOut} for code in (400, 401, 404, 409, 413, 503)
}


async def view(store: Store, auth: Auth, version: int, settings: Settings) -> View:
    return View(version=version, readonly=auth.readonly, site_root=settings.site_root,
                now_ms=now_ms(), badge_cipher_key=await store.badge_cipher_key())


def limits(settings: Settings) -> schemas.Limits:
    return schemas.Limits(settings.min_timeout, settings.max_timeout)


async def lookup(store: Store, auth: Auth, ident: str, *, by_unique_key: bool = True) -> Check:
    """The caller's check by UUID (any case) or, for reads, by unique_key; else 404."""
    check = None
    if UUID_RE.match(ident):
        check = await store.get_check(ident.lower())
    elif by_unique_key and UNIQUE_KEY_RE.match(ident):
        checks = await store.list_checks(auth.project)
        check = next((c for c in checks if c.unique_key == ident), None)
    if check is None or check.project != auth.project:
        raise not_found()
    return check


# Request -> stored configuration ------------------------------------------------------------


def spec_config(spec: schemas.CheckSpec, version: int, existing: Check | None) -> dict[str, Any]:
    """The stored fields a validated request sets; absent fields are left out."""
    given = spec.model_dump(exclude_unset=True)
    config = {name: given[name] for name in DIRECT_FIELDS if name in given}
    if version < 3 and "name" in config and "slug" not in config:
        config["slug"] = schemas.slugify(config["name"])
    if spec.labels is not None:
        config["labels"] = json.dumps(spec.labels, sort_keys=True) if spec.labels else ""
    if spec.timeout is not None:
        config.update(kind="simple", timeout=spec.timeout)
    if spec.schedule is not None:  # wins over timeout
        config.update(kind=schedules.schedule_kind(spec.schedule), schedule=spec.schedule)
    _apply_subjects(spec, config, existing)
    return config


def _apply_subjects(spec: schemas.CheckSpec, config: dict[str, Any],
                    existing: Check | None) -> None:
    """Deprecated `subject`/`subject_fail` map to the keywords plus the subject filter."""
    if spec.subject is None and spec.subject_fail is None:
        return
    if spec.subject is not None:
        config["success_kw"] = spec.subject
    if spec.subject_fail is not None:
        config["failure_kw"] = spec.subject_fail
    old = existing.config if existing else {}
    keywords = (config.get("success_kw", old.get("success_kw")),
                config.get("failure_kw", old.get("failure_kw")))
    config["filter_subject"] = any(keywords)


async def resolve_channels(store: Store, pid: str, value: str) -> str:
    """`*` = every channel of the project, "" = none, else ids or unique names."""
    if value == "":
        return ""
    available = await store.list_channels(pid)
    if value == "*":
        return ",".join(c["id"] for c in available)
    ids: list[str] = []
    for ident in value.split(","):
        if ident == "":
            raise ApiError(400, "empty channel identifier")
        found = [c for c in available if ident in (c["id"], c.get("name"))]
        if not found:
            raise ApiError(400, f"invalid channel identifier: {ident}")
        if len(found) > 1:
            raise ApiError(400, f"non-unique channel identifier: {ident}")
        if found[0]["id"] not in ids:
            ids.append(found[0]["id"])
    return ",".join(ids)


async def find_unique(store: Store, pid: str, config: dict[str, Any],
                      unique: Sequence[str]) -> Check | None:
    """The first check whose `unique` fields equal the request's; a field the request does
    not set never matches (healthchecks)."""
    if not unique or any(name not in config for name in unique):
        return None
    for check in await store.list_checks(pid):
        if all(check.config[name] == config[name] for name in unique):
            return check
    return None


async def create_target(store: Store, pid: str, spec: schemas.CheckSpec,
                        version: int) -> tuple[Check | None, str | None]:
    """The existing check a create request updates (chosen uuid, else `unique`), and the uuid
    to create under otherwise."""
    if spec.uuid is None:
        config = spec_config(spec, version, None)
        return await find_unique(store, pid, config, spec.unique or []), None
    uuid = spec.uuid.lower()
    check = await store.get_check(uuid)
    if check is not None and check.project != pid:
        raise ApiError(409, "uuid is in use by another project")
    return check, uuid


def _dependency_error(message: str) -> ApiError:
    return ApiError(400, f"json validation error: depends_on {message}")


async def _project_checks(store: Store, pid: str, uuids: list[str]) -> dict[str, Check]:
    found = await store.checks_by_id(sorted(set(uuids)))
    return {u: c for u, c in found.items() if c.project == pid}


async def _dependency_graph(store: Store, pid: str, uuid: str,
                            ids: list[str]) -> dict[str, Check]:
    """`uuid`, its new dependencies and every check they reach: read along the edges, not
    the whole project (the operator sends depends_on with every upsert)."""
    checks = await _project_checks(store, pid, [uuid, *ids])
    seen = {uuid, *ids}
    frontier = [d for u in ids if u in checks for d in checks[u].depends_on]
    while frontier:
        new = sorted(set(frontier) - seen)
        seen.update(new)
        fetched = await _project_checks(store, pid, new) if new else {}
        checks.update(fetched)
        frontier = [d for c in fetched.values() for d in c.depends_on]
    return checks


async def resolve_dependencies(store: Store, pid: str, uuid: str | None,
                               value: str | list[str]) -> str:
    """UUIDs or slugs of the project's checks -> comma-separated UUIDs; refuses unknown and
    ambiguous names and any cycle, naming it."""
    items = value.split(",") if isinstance(value, str) else value
    if isinstance(value, str) and value.strip() == "":
        items = []
    ids: list[str] = []
    for ident in (i.strip() for i in items):
        by_uuid = UUID_RE.match(ident) and await _project_checks(store, pid, [ident.lower()])
        found = [ident.lower()] if by_uuid else (
            await store.uuids_by_slug(pid, ident) if ident else [])
        if not found:
            raise _dependency_error(f"names an unknown check: {ident!r}")
        if len(found) > 1:
            raise _dependency_error(f"names more than one check: {ident!r}")
        if found[0] not in ids:
            ids.append(found[0])
    if uuid is not None and ids:
        checks = await _dependency_graph(store, pid, uuid, ids)
        graph = {u: c.depends_on for u, c in checks.items() if u != uuid}
        cycle = silences.find_cycle(uuid, ids, graph)
        if cycle:
            names = [silences.check_label(checks[u]) if u in checks else u for u in cycle]
            raise _dependency_error("would create a cycle: " + " -> ".join(names))
    return ",".join(ids)


async def full_config(store: Store, pid: str, spec: schemas.CheckSpec, version: int,
                      existing: Check | None, uuid: str | None = None) -> dict[str, Any]:
    config = spec_config(spec, version, existing)
    if spec.channels is not None:
        config["channels"] = await resolve_channels(store, pid, spec.channels)
    if spec.depends_on is not None:
        config["depends_on"] = await resolve_dependencies(
            store, pid, existing.uuid if existing else uuid, spec.depends_on)
    return config


async def answer(store: Store, settings: Settings, auth: Auth, version: int,
                 check: Check, status_code: int = 200) -> JSONResponse:
    """One check as the API shows it, with why its alerts are held."""
    ctx = await view(store, auth, version, settings)
    mute = (await muting.mutes(store, auth.project, [check], ctx.now_ms))[check.uuid]
    return JSONResponse(check_json(check, ctx, mute), status_code=status_code)


# Routes -------------------------------------------------------------------------------------


@router.get("/checks/", response_model=schemas.ChecksOut, responses=ERRORS)
async def list_checks(store: StoreDep, settings: SettingsDep, auth: ReadAuth, version: Version,
                      tag: Annotated[list[str] | None, Query()] = None,
                      slug: str | None = None) -> JSONResponse:
    """The project's checks; every `tag` given must be among a check's tags."""
    wanted = set(tag or [])
    ctx = await view(store, auth, version, settings)
    every = await store.list_checks(auth.project)
    mutes = await muting.mutes(store, auth.project, every, ctx.now_ms)
    checks = [check_json(c, ctx, mutes[c.uuid]) for c in every
              if wanted <= set(c.tag_list) and (slug is None or c.config["slug"] == slug)]
    return JSONResponse({"checks": checks})


@router.post("/checks/", status_code=201, response_model=schemas.CheckOut,
             responses={200: {"model": schemas.CheckOut,
                              "description": "An existing check (uuid or unique) was updated"},
                        **ERRORS},
             openapi_extra=schemas.body_schema(schemas.CheckSpec))
async def create_check(store: StoreDep, settings: SettingsDep, auth: WriteAuth,
                       body: JsonBody, version: Version) -> JSONResponse:
    """Create a check, or update the one `uuid` or `unique` names (200)."""
    spec = validate(schemas.CheckSpec, body, limits(settings))
    existing, uuid = await create_target(store, auth.project, spec, version)
    config = await full_config(store, auth.project, spec, version, existing, uuid)
    saved = await store.save_check(auth.project, config,
                                   uuid=existing.uuid if existing else uuid)
    if saved is None:  # the chosen uuid went to another project meanwhile
        raise ApiError(409, "uuid is in use by another project")
    check, created = saved
    return await answer(store, settings, auth, version, check, 201 if created else 200)


@router.get("/checks/{ident}", response_model=schemas.CheckOut, responses=ERRORS)
async def get_check(store: StoreDep, settings: SettingsDep, auth: ReadAuth, version: Version,
                    ident: str) -> JSONResponse:
    """By UUID or by unique_key."""
    check = await lookup(store, auth, ident)
    return await answer(store, settings, auth, version, check)


@router.post("/checks/{ident}", response_model=schemas.CheckOut, responses=ERRORS,
             openapi_extra=schemas.body_schema(schemas.CheckSpec))
async def update_check(store: StoreDep, settings: SettingsDep, auth: WriteAuth,
                       body: JsonBody, version: Version, ident: str) -> JSONResponse:
    """Partial update: fields left out keep their values."""
    check = await lookup(store, auth, ident, by_unique_key=False)
    spec = validate(schemas.CheckSpec, body, limits(settings))
    if spec.uuid is not None and spec.uuid.lower() != check.uuid:
        raise ApiError(400, "json validation error: uuid has unexpected value")
    config = await full_config(store, auth.project, spec, version, check)
    saved = await store.save_check(auth.project, config, uuid=check.uuid, create=False)
    if saved is None:  # deleted meanwhile
        raise not_found()
    return await answer(store, settings, auth, version, saved[0])


@router.delete("/checks/{ident}", response_model=schemas.CheckOut, responses=ERRORS)
async def delete_check(store: StoreDep, settings: SettingsDep, auth: WriteAuth,
                       version: Version, ident: str) -> JSONResponse:
    """Delete; the answer is the check as it was."""
    check = await lookup(store, auth, ident, by_unique_key=False)
    await store.delete_check(check)
    await forget_dependency(store, auth.project, check.uuid)
    return JSONResponse(check_json(check, await view(store, auth, version, settings)))


async def forget_dependency(store: Store, pid: str, uuid: str) -> None:
    """Drop a deleted check from the depends_on of the checks that named it."""
    for check in await store.list_checks(pid):
        if uuid in check.depends_on:
            rest = ",".join(d for d in check.depends_on if d != uuid)
            await store.save_check(pid, {"depends_on": rest}, uuid=check.uuid, create=False)


@router.post("/checks/{ident}/pause", response_model=schemas.CheckOut, responses=ERRORS)
async def pause_check(store: StoreDep, settings: SettingsDep, auth: WriteAuth,
                      version: Version, ident: str) -> JSONResponse:
    return await _set_paused(store, settings, auth, version, ident, paused=True)


@router.post("/checks/{ident}/resume", response_model=schemas.CheckOut, responses=ERRORS)
async def resume_check(store: StoreDep, settings: SettingsDep, auth: WriteAuth,
                       version: Version, ident: str) -> JSONResponse:
    """409 unless the check is paused."""
    return await _set_paused(store, settings, auth, version, ident, paused=False)


async def _set_paused(store: Store, settings: Settings, auth: Auth, version: int, ident: str,
                      *, paused: bool) -> JSONResponse:
    check = await lookup(store, auth, ident, by_unique_key=False)
    result = await store.set_paused(check.uuid, paused)
    if result == 0:
        raise ApiError(409, "check is not paused")
    fresh = await store.get_check(check.uuid) if result == 1 else None
    if fresh is None:
        raise not_found()
    return await answer(store, settings, auth, version, fresh)


@router.get("/checks/{ident}/pings/", response_model=schemas.PingsOut, responses=ERRORS)
async def list_pings(store: StoreDep, settings: SettingsDep, auth: WriteAuth, version: Version,
                     ident: str) -> JSONResponse:
    """The ping log, newest first (read-write keys only)."""
    check = await lookup(store, auth, ident, by_unique_key=False)
    entries = await store.pings(check.uuid, min(settings.ping_log_limit, MAX_PINGS))
    ctx = await view(store, auth, version, settings)
    return JSONResponse({"pings": [ping_json(e, check.uuid, ctx) for e in entries]})


@router.get("/checks/{ident}/pings/{n}/body", response_class=Response,
            responses={200: {"content": {"text/plain": {}}}, **ERRORS})
async def ping_body(store: StoreDep, auth: WriteAuth, ident: str, n: str) -> Response:
    """A ping's body as text/plain; 404 when it had none or is no longer kept."""
    check = await lookup(store, auth, ident, by_unique_key=False)
    body = await store.ping_body(check.uuid, int(n)) if n.isdigit() else None
    if not body:
        raise not_found()
    return Response(body, media_type="text/plain")


@router.get("/checks/{ident}/flips/", response_model=schemas.FlipsOut, responses=ERRORS)
async def list_flips(store: StoreDep, auth: ReadAuth, version: Version, ident: str,
                     seconds: Annotated[int | None, Query(ge=0, le=MAX_SECONDS)] = None,
                     start: Annotated[int | None, Query(ge=0, le=MAX_TIMESTAMP)] = None,
                     end: Annotated[int | None, Query(ge=0, le=MAX_TIMESTAMP)] = None,
                     ) -> JSONResponse:
    """Up and down transitions, newest first. `start` and `end` are UNIX times (start
    inclusive, end exclusive); `seconds` keeps only the last so many seconds."""
    check = await lookup(store, auth, ident)
    lows = [start * 1000 if start is not None else None,
            now_ms() - seconds * 1000 if seconds else None]
    low = max((x for x in lows if x is not None), default=None)
    high = end * 1000 - 1 if end is not None else None
    entries = await store.flips(check.uuid, low, high)
    held = await held_flips(store, check) if version >= 3 else {}
    flips = [f for f in (flip_json(e, held.get(int(e["ts"]))) for e in reversed(entries))
             if f is not None]
    return JSONResponse({"flips": flips})


async def held_flips(store: Store, check: Check) -> dict[int, str]:
    """Flip time -> why its alert was held (v3: the notification log says)."""
    return {int(e["flip_ts"]): str(e.get("why", "")) for e in await store.notifications(check.uuid)
            if e.get("status") == "held" and "flip_ts" in e}


@v3_router.get("/checks/{ident}/notifications/", response_model=schemas.NotificationsOut,
               responses=ERRORS)
async def list_notifications(store: StoreDep, auth: WriteAuth, ident: str) -> JSONResponse:
    """Alert deliveries for this check, newest first (read-write keys only)."""
    check = await lookup(store, auth, ident, by_unique_key=False)
    entries = await store.notifications(check.uuid)
    return JSONResponse({"notifications": [notification_json(e) for e in entries]})
