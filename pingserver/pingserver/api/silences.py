"""Silences and maintenance windows (docs/oncall.md): create or replace, list, read, expire.

Read-only keys may list and read; creating and expiring need a read-write key. Every field is
checked before the one write, so a 400 leaves nothing behind.
"""

from __future__ import annotations

import uuid as uuidlib
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from pingserver import schedules
from pingserver.api import schemas
from pingserver.api.auth import JsonBody, ReadAuth, WriteAuth
from pingserver.api.checks import ERRORS, UUID_RE
from pingserver.api.deps import SettingsDep, StoreDep
from pingserver.api.errors import ApiError, not_found, validate
from pingserver.api.serialize import iso_precise
from pingserver.config import Settings
from pingserver.model import Check
from pingserver.silences import Matcher, MatcherError, Silence, matcher_from_json
from pingserver.store import Auth, Store, now_ms

router = APIRouter(tags=["silences"])
State = Literal["active", "pending", "expired"]
PREVIEW_WINDOWS = 5


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(400, f"json validation error: {field} {message}")


def _timestamp(value: str, field: str) -> int:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _invalid(field, "is not an ISO 8601 date and time") from None
    if moment.tzinfo is None:
        raise _invalid(field, "needs a UTC offset (e.g. 2026-12-06T02:00:00+01:00 or Z)")
    return int(moment.timestamp() * 1000)


def _matchers(items: list[str | dict[str, Any]]) -> tuple[Matcher, ...]:
    out: list[Matcher] = []
    for i, item in enumerate(items):
        try:
            out.append(matcher_from_json(item))
        except MatcherError as exc:
            raise _invalid(f"matchers[{i}]", str(exc)) from None
    return tuple(out)


def build_silence(spec: schemas.SilenceSpec, pid: str, settings: Settings, now: int,
                  previous: Silence | None) -> Silence:
    """The silence a validated request describes, or a 400 naming the field."""
    matchers = _matchers(spec.matchers)
    starts = _timestamp(spec.starts_at, "starts_at") if spec.starts_at else now
    ends = _timestamp(spec.ends_at, "ends_at") if spec.ends_at else 0
    limit = settings.silence_max_duration
    if spec.schedule is not None:
        try:
            schedules.validate_cron(spec.schedule)
        except schedules.ScheduleError as exc:
            raise _invalid("schedule", str(exc)) from None
        if spec.duration is None:
            raise _invalid("duration", "is missing (a schedule needs the window's length)")
        if spec.duration > limit:
            raise _invalid("duration", f"is too large (at most {limit} s)")
    else:
        if spec.tz is not None:
            raise _invalid("tz", "needs a schedule")
        if not ends and spec.duration is None:
            raise _invalid("ends_at", "is missing (give ends_at or duration)")
        if ends and spec.duration is not None:
            raise _invalid("duration", "cannot be given with ends_at")
        ends = ends or starts + (spec.duration or 0) * 1000
        if ends - starts > limit * 1000:
            raise _invalid("ends_at", f"is too far from starts_at (at most {limit} s)")
    if ends and ends <= starts:
        raise _invalid("ends_at", "must be after starts_at")
    return Silence(
        id=previous.id if previous else (spec.id or str(uuidlib.uuid4())).lower(),
        project=pid, matchers=matchers, starts_at=starts, ends_at=ends,
        schedule=spec.schedule or "", duration=spec.duration or 0, tz=spec.tz or "UTC",
        created_by=spec.created_by, comment=spec.comment,
        created_at=previous.created_at if previous else now, updated_at=now)


def silence_json(silence: Silence, now: int, checks: list[Check], project_name: str,
                 auth: Auth) -> dict[str, Any]:
    window = silence.window_at(now)
    nxt = silence.next_start(now)
    matchers = [m.as_json() for m in silence.matchers]
    if auth.readonly:  # a check's uuid is the secret part of its ping URL
        matchers = [{**m, "value": "(hidden)"} if m["name"] == "uuid" else m for m in matchers]
    return {
        "id": silence.id, "matchers": matchers,
        "starts_at": iso_precise(silence.starts_at),
        "ends_at": iso_precise(silence.ends_at) if silence.ends_at else None,
        "schedule": silence.schedule, "duration": silence.duration, "tz": silence.tz,
        "created_by": silence.created_by, "comment": silence.comment,
        "created_at": iso_precise(silence.created_at),
        "updated_at": iso_precise(silence.updated_at),
        "state": silence.state(now),
        "current_start": iso_precise(window.start) if window else None,
        "current_end": iso_precise(window.end) if window else None,
        "next_start": iso_precise(nxt) if nxt else None,
        "next_windows": [{"start": iso_precise(w.start), "end": iso_precise(w.end)}
                         for w in silence.windows(now, PREVIEW_WINDOWS)]
        if silence.recurring else [],
        "matched_checks": sum(1 for c in checks if silence.matches(c, project_name)),
    }


async def _answer(store: Store, auth: Auth, silences: list[Silence]) -> list[dict[str, Any]]:
    now = now_ms()
    checks = await store.list_checks(auth.project)
    name = (await store.project(auth.project)).get("name", "")
    return [silence_json(s, now, checks, name, auth) for s in silences]


async def _owned(store: Store, auth: Auth, sid: str) -> Silence:
    silence = await store.get_silence(auth.project, sid.lower()) if UUID_RE.match(sid) else None
    if silence is None:
        raise not_found()
    return silence


async def forget_expired(store: Store, pid: str, silences: list[Silence], now: int,
                         retention_s: int) -> list[Silence]:
    """Delete the silences expired longer than the retention; the rest."""
    old = [s for s in silences
           if (done := s.finished_at(now)) and now - done > retention_s * 1000]
    await store.delete_silences(pid, [s.id for s in old])
    return [s for s in silences if s not in old]


@router.get("/silences/", response_model=schemas.SilencesOut, responses=ERRORS)
async def list_silences(store: StoreDep, settings: SettingsDep, auth: ReadAuth,
                        state: Annotated[State | None, Query()] = None) -> JSONResponse:
    """The project's silences, oldest first; `state` keeps only active, pending or expired."""
    now = now_ms()
    kept = await forget_expired(store, auth.project, await store.list_silences(auth.project),
                                now, settings.silence_retention)
    chosen = [s for s in kept if state is None or s.state(now) == state]
    return JSONResponse({"silences": await _answer(store, auth, chosen)})


@router.post("/silences/", status_code=201, response_model=schemas.SilenceOut,
             responses={200: {"model": schemas.SilenceOut,
                              "description": "The silence with the given id was replaced"},
                        **ERRORS},
             openapi_extra=schemas.body_schema(schemas.SilenceSpec))
async def create_silence(store: StoreDep, settings: SettingsDep, auth: WriteAuth,
                         body: JsonBody) -> JSONResponse:
    """Create a silence, or replace the one `id` names (200)."""
    spec = validate(schemas.SilenceSpec, body)
    previous = await store.get_silence(auth.project, spec.id.lower()) if spec.id else None
    silence = build_silence(spec, auth.project, settings, now_ms(), previous)
    await store.save_silence(silence)
    shown = (await _answer(store, auth, [silence]))[0]
    return JSONResponse(shown, status_code=200 if previous else 201)


@router.get("/silences/{sid}", response_model=schemas.SilenceOut, responses=ERRORS)
async def get_silence(store: StoreDep, auth: ReadAuth, sid: str) -> JSONResponse:
    silence = await _owned(store, auth, sid)
    return JSONResponse((await _answer(store, auth, [silence]))[0])


@router.post("/silences/{sid}", response_model=schemas.SilenceOut, responses=ERRORS,
             openapi_extra=schemas.body_schema(schemas.SilenceSpec))
async def replace_silence(store: StoreDep, settings: SettingsDep, auth: WriteAuth,
                          body: JsonBody, sid: str) -> JSONResponse:
    """Replace the definition of an existing silence (every field as on create)."""
    previous = await _owned(store, auth, sid)
    spec = validate(schemas.SilenceSpec, body)
    if spec.id is not None and spec.id.lower() != previous.id:
        raise _invalid("id", "has unexpected value")
    silence = build_silence(spec, auth.project, settings, now_ms(), previous)
    await store.save_silence(silence)
    return JSONResponse((await _answer(store, auth, [silence]))[0])


@router.delete("/silences/{sid}", response_model=schemas.SilenceOut, responses=ERRORS)
async def expire_silence(store: StoreDep, auth: WriteAuth, sid: str) -> JSONResponse:
    """Expire now (it stays listable for HB_SILENCE_RETENTION); expired ones are unchanged."""
    silence = await expire_now(store, await _owned(store, auth, sid), now_ms())
    return JSONResponse((await _answer(store, auth, [silence]))[0])


async def expire_now(store: Store, silence: Silence, now: int) -> Silence:
    """Expire it at `now` (the API's DELETE, the dashboard's Expire); an expired one is left
    as it is."""
    if silence.state(now) != "expired":
        silence = silence.expire(now)
        await store.save_silence(silence)
    return silence
