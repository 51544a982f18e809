"""The web dashboard: server-rendered pages under /dashboard/ (and a redirect from /).

Pages: the login form, the list of checks (with a fragment the page fetches every few
seconds to refresh itself), a page per check, pause/resume, the silences page, and silencing
one check or expiring a silence. Everything a page shows comes from the project of the API
key in the session cookie; another project's check or silence is a 404.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import re
from collections.abc import Awaitable, Callable, Coroutine
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from redis.exceptions import RedisError
from starlette.responses import HTMLResponse, RedirectResponse, Response

from pingserver import muting
from pingserver.api import schemas
from pingserver.api.errors import ApiError, validate
from pingserver.api.silences import build_silence, expire_now, forget_expired, silence_json
from pingserver.config import Settings
from pingserver.dashboard import chart, describe, session, views
from pingserver.dashboard.session import Viewer
from pingserver.model import Check
from pingserver.silences import check_label
from pingserver.store import Auth, Store, now_ms

REFRESH_SECONDS = 5
HISTORY_PINGS = 50
NOTES_SHOWN = 50
PARALLEL_READS = 16
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
UNIQUE_KEY_RE = re.compile(r"[0-9a-f]{40}")

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # check URLs hold the ping URL's secret part
    "Cache-Control": "no-store",
}


class DashboardRoute(APIRoute):
    """Dashboard routes answer an HTML page, not the API's JSON, when Redis is down."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except RedisError:
                return error_page(request, 503, "Storage is not reachable",
                                  "The server cannot reach Redis right now. "
                                  "The page will work again as soon as it can.")

        return guarded


router = APIRouter(route_class=DashboardRoute, include_in_schema=False)


# Templates and static files ---------------------------------------------------------------

_HERE = resources.files("pingserver.dashboard")


def _load_static() -> dict[str, tuple[bytes, str, str]]:
    files = {}
    for entry in _HERE.joinpath("static").iterdir():
        if entry.is_file() and not entry.name.startswith("."):
            data = entry.read_bytes()
            kind = mimetypes.guess_type(entry.name)[0] or "application/octet-stream"
            if kind.startswith("text/") or kind.endswith(("javascript", "svg+xml")):
                kind += "; charset=utf-8"
            files[entry.name] = (data, kind, hashlib.sha256(data).hexdigest()[:12])
    return files


STATIC = _load_static()


def static_url(name: str) -> str:
    return f"/dashboard/static/{name}?v={STATIC[name][2]}"


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pingserver.dashboard", "templates"),
        autoescape=jinja2.select_autoescape(("html", "svg")),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(static=static_url, state_labels=views.STATE_LABELS,
                       kind_labels=views.KIND_LABELS, sorts=views.SORTS,
                       filter_states=views.FILTER_STATES, ranges=list(chart.RANGES),
                       refresh_seconds=REFRESH_SECONDS)
    env.filters.update(clock=describe.clock, iso=describe.iso, duration=describe.duration,
                       time_of_day=describe.time_of_day,
                       human=describe.human_duration)
    return env


TEMPLATES = _env()


def render(request: Request, template: str, context: dict[str, Any],
           status: int = 200) -> HTMLResponse:
    body = TEMPLATES.get_template(template).render(request=request, **context)
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


def error_page(request: Request, status: int, title: str, message: str,
               viewer: Viewer | None = None, project_name: str = "") -> HTMLResponse:
    return render(request, "error.html", {"viewer": viewer, "project_name": project_name,
                                          "title": title, "message": message,
                                          "status": status}, status)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


async def not_found(request: Request, viewer: Viewer,
                    what: str = "There is no such check in this project.") -> HTMLResponse:
    name = await _project_name(_store(request), viewer.project)
    return error_page(request, 404, "Not found", what, viewer, name)


def forbidden(request: Request, message: str) -> HTMLResponse:
    return error_page(request, 403, "Not allowed", message)


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _here(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def signed_out(request: Request) -> Response:
    """The sign-in form, except after a link from another site: the SameSite=Strict cookie
    is not sent with such a navigation, so the page first reloads itself from this site
    (a same-site navigation, which does carry the cookie)."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        return render(request, "bounce.html", {"viewer": None, "project_name": "",
                                               "target": session.safe_next(_here(request))})
    return redirect("/dashboard/login?" + urlencode({"next": _here(request)}))


async def _bounded(calls: list[Awaitable[Any]]) -> list[Any]:
    """Run store reads concurrently, a few at a time (one Redis connection each)."""
    gate = asyncio.Semaphore(PARALLEL_READS)

    async def one(call: Awaitable[Any]) -> Any:
        async with gate:
            return await call

    return list(await asyncio.gather(*(one(c) for c in calls)))


async def _lookup(store: Store, viewer: Viewer, ident: str) -> Check | None:
    """The viewer's check by UUID or by unique_key; None for anything else."""
    ident = ident.lower()
    check = None
    if UUID_RE.fullmatch(ident):
        check = await store.get_check(ident)
    elif UNIQUE_KEY_RE.fullmatch(ident):
        found = [c for c in await store.list_checks(viewer.project) if c.unique_key == ident]
        check = found[0] if found else None
    if check is None or check.project != viewer.project:
        return None
    return check


async def _project_name(store: Store, pid: str) -> str:
    return (await store.project(pid)).get("name") or pid


# Entry points -------------------------------------------------------------------------------


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/dashboard/", status_code=307)


@router.get("/dashboard")
async def dashboard_no_slash() -> RedirectResponse:
    return RedirectResponse("/dashboard/", status_code=307)


@router.get("/dashboard/static/{name}")
async def static(name: str, request: Request) -> Response:
    if name not in STATIC:
        return Response("not found", status_code=404, media_type="text/plain")
    data, kind, digest = STATIC[name]
    versioned = request.query_params.get("v") == digest
    cache = "public, max-age=31536000, immutable" if versioned else "no-cache"
    return Response(data, media_type=kind,
                    headers={"Cache-Control": cache, "ETag": f'"{digest}"',
                             "X-Content-Type-Options": "nosniff"})


# Sign in and out ----------------------------------------------------------------------------


@router.get("/dashboard/login")
async def login_form(request: Request) -> Response:
    target = session.safe_next(request.query_params.get("next", ""))
    if await session.viewer(request, _store(request)):
        return redirect(target)
    return render(request, "login.html", {"viewer": None, "project_name": "", "error": "",
                                          "next": target})


@router.post("/dashboard/login")
async def login(request: Request) -> Response:
    if not session.same_origin(request, _settings(request).site_root):
        return forbidden(request, "The form was sent from another site.")
    form = await session.read_form(request)
    key = form.get("api_key", "").strip()
    target = session.safe_next(form.get("next", ""))
    auth = await _store(request).authenticate(key) if key else None
    if auth is None:
        error = "Enter an API key." if not key else "That API key is not valid."
        return render(request, "login.html", {"viewer": None, "project_name": "",
                                              "error": error, "next": target}, 401)
    response = redirect(target)
    session.set_key(response, request, _settings(request).site_root, key,
                    remember=form.get("remember") == "1")
    return response


@router.post("/dashboard/logout")
async def logout(request: Request) -> Response:
    viewer = await session.viewer(request, _store(request))
    form = await session.read_form(request)
    if viewer and not (session.same_origin(request, _settings(request).site_root)
                       and session.token_ok(viewer, form)):
        return forbidden(request, "The form has expired or was sent from another site. "
                                  "Reload the page and try again.")
    response = redirect("/dashboard/login")
    session.clear_key(response, request, _settings(request).site_root)
    return response


# The list -----------------------------------------------------------------------------------


async def _listing(request: Request, store: Store, viewer: Viewer) -> views.Listing:
    checks = await store.list_checks(viewer.project)
    pings = await _bounded([store.pings(c.uuid, views.STRIP_LENGTH) for c in checks])
    now = now_ms()
    mutes = await muting.mutes(store, viewer.project, checks, now)
    rows = [views.row(c, p, now, readonly=viewer.readonly, mute=mutes[c.uuid])
            for c, p in zip(checks, pings, strict=True)]
    q = request.query_params
    return views.listing(rows, state=q.get("state", ""), tag=q.get("tag", ""),
                         q=q.get("q", "").strip()[:200], sort=q.get("sort", "state"),
                         descending=q.get("dir") == "desc")


def _list_context(viewer: Viewer, listing: views.Listing, project_name: str) -> dict[str, Any]:
    def sort_link(key: str) -> str:
        descending = listing.sort == key and not listing.descending
        params = {"state": listing.state, "tag": listing.tag, "q": listing.q, "sort": key,
                  "dir": "desc" if descending else ""}
        return "/dashboard/?" + urlencode({k: v for k, v in params.items() if v})

    def filter_link(**changes: str) -> str:
        params = {"state": listing.state, "tag": listing.tag, "q": listing.q,
                  "sort": listing.sort if listing.sort != "state" else "",
                  "dir": "desc" if listing.descending else "", **changes}
        return "/dashboard/?" + urlencode({k: v for k, v in params.items() if v})

    return {"viewer": viewer, "project_name": project_name, "listing": listing,
            "sort_link": sort_link, "filter_link": filter_link, "updated": now_ms()}


@router.get("/dashboard/")
async def list_page(request: Request) -> Response:
    store = _store(request)
    viewer = await session.viewer(request, store)
    if viewer is None:
        return signed_out(request)
    listing = await _listing(request, store, viewer)
    name = await _project_name(store, viewer.project)
    return render(request, "list.html", _list_context(viewer, listing, name))


@router.get("/dashboard/list")
async def list_fragment(request: Request) -> Response:
    """The table and counts alone: what the list page fetches to refresh itself."""
    store = _store(request)
    viewer = await session.viewer(request, store)
    if viewer is None:
        return Response("signed out", status_code=401, media_type="text/plain",
                        headers=SECURITY_HEADERS)
    listing = await _listing(request, store, viewer)
    return render(request, "_checks.html", _list_context(viewer, listing, ""))


# A check ------------------------------------------------------------------------------------


@router.get("/dashboard/checks/{ident}")
async def check_page(ident: str, request: Request) -> Response:
    store = _store(request)
    viewer = await session.viewer(request, store)
    if viewer is None:
        return signed_out(request)
    check = await _lookup(store, viewer, ident)
    if check is None:
        return await not_found(request, viewer)
    settings = _settings(request)
    now = now_ms()
    pings = await store.pings(check.uuid, settings.ping_log_limit)
    flips = await store.flips(check.uuid)
    runs = await store.runs(check.uuid)
    newest = pings[:HISTORY_PINGS]
    bodies: list[bytes | None] = [None] * len(newest)
    notes: list[dict[str, Any]] = []
    channels: list[dict[str, Any]] = []
    ping_key = ""
    if not viewer.readonly:
        bodies = await _bounded([store.ping_body(check.uuid, int(p.get("n") or 0))
                                 if p.get("size") else _none() for p in newest])
        all_channels = {c["id"]: c for c in await store.list_channels(viewer.project)}
        notes = [views.notification(n, all_channels)
                 for n in await store.notifications(check.uuid, NOTES_SHOWN)]
        channels = [all_channels[cid] for cid in check.channel_ids if cid in all_channels]
        ping_key = (await store.project(viewer.project)).get("ping_key", "")
    events = [views.ping_event(p, body=b, readonly=viewer.readonly)
              for p, b in zip(newest, bodies, strict=True)]
    state = check.effective_status(now)
    range_name = request.query_params.get("range", "")
    timeline = chart.timeline(flips + _pending_flips(check, state, now), pings, current=state,
                              created=check.created, now=now, range_name=range_name)
    mute = (await muting.mutes(store, viewer.project, [check], now))[check.uuid]
    row = views.row(check, pings, now, readonly=viewer.readonly, mute=mute)
    depends_on = await store.checks_by_id(check.depends_on)
    ping_url = f"{settings.site_root}/ping/{check.uuid}"
    slug = str(check.config["slug"])
    context = {
        "viewer": viewer, "project_name": await _project_name(store, viewer.project),
        "check": check, "row": row, "config": check.config, "now": now,
        "events": views.history(events, flips, complete=len(pings) <= HISTORY_PINGS),
        "more_pings": max(0, len(pings) - HISTORY_PINGS), "chart": timeline,
        "runs": sorted(runs.items(), key=lambda kv: kv[1]),
        "budget": int(check.config["max_runtime"] or check.config["grace"]) * 1000,
        "notes": notes, "channels": channels,
        "depends_on": [(views.Link(check_label(c), views.check_href(c, readonly=viewer.readonly)),
                        c.effective_status(now)) for c in depends_on.values()],
        "ping_url": "" if viewer.readonly else ping_url,
        "slug_url": (f"{settings.site_root}/ping/{ping_key}/{slug}"
                     if ping_key and slug and not viewer.readonly else ""),
        "done": request.query_params.get("done", ""),
        "relative": lambda ms: describe.relative(ms, now),
    }
    return render(request, "check.html", context)


async def _none() -> None:
    return None


def _pending_flips(check: Check, state: str, now: int) -> list[dict[str, Any]]:
    """Transitions that are due but that the sweeper has not written yet, so that the chart
    agrees with the state shown beside it."""
    out: list[dict[str, Any]] = []
    if check.status == "up" and state in ("late", "down") and check.grace_start <= now:
        out.append({"ts": check.grace_start, "old": "up", "new": "late"})
    if check.status in ("up", "late") and state == "down":
        out.append({"ts": check.down_at, "old": "late", "new": "down"})
    return out


async def _writer(request: Request, what: str) -> tuple[Viewer, dict[str, str]] | Response:
    """The viewer and form of a POST that changes something, or the 403 page: it needs a
    signed-in read-write key, this site's Origin and the form's CSRF token."""
    viewer = await session.viewer(request, _store(request))
    form = await session.read_form(request)
    if viewer is None:
        return forbidden(request, "Sign in first.")
    if not session.same_origin(request, _settings(request).site_root) \
            or not session.token_ok(viewer, form):
        return forbidden(request, "The form has expired or was sent from another site. "
                                  "Reload the page and try again.")
    if viewer.readonly:
        return forbidden(request, f"This API key is read-only: it cannot {what}.")
    return viewer, form


async def _written_check(request: Request, ident: str,
                         what: str) -> tuple[Viewer, dict[str, str], Check] | Response:
    """`_writer` for a form about one check of the viewer's project (else the 404 page)."""
    allowed = await _writer(request, what)
    if isinstance(allowed, Response):
        return allowed
    viewer, form = allowed
    check = await _lookup(_store(request), viewer, ident)
    if check is None:
        return await not_found(request, viewer)
    return viewer, form, check


async def _pause(request: Request, ident: str, paused: bool) -> Response:
    store = _store(request)
    allowed = await _written_check(request, ident, "pause or resume checks")
    if isinstance(allowed, Response):
        return allowed
    viewer, _, check = allowed
    result = await store.set_paused(check.uuid, paused)
    if result < 0:
        return await not_found(request, viewer)
    done = ("paused" if paused else "resumed") if result == 1 else "not-paused"
    return redirect(f"/dashboard/checks/{check.uuid}?done={done}")


@router.post("/dashboard/checks/{ident}/pause")
async def pause(ident: str, request: Request) -> Response:
    return await _pause(request, ident, True)


@router.post("/dashboard/checks/{ident}/resume")
async def resume(ident: str, request: Request) -> Response:
    return await _pause(request, ident, False)


# Silences ---------------------------------------------------------------------------------


@router.post("/dashboard/checks/{ident}/silence")
async def silence_check(ident: str, request: Request) -> Response:
    """A silence for this one check (matcher uuid=<uuid>), made as the API makes one."""
    store = _store(request)
    allowed = await _written_check(request, ident, "silence checks")
    if isinstance(allowed, Response):
        return allowed
    viewer, form, check = allowed
    now = now_ms()
    try:
        spec = validate(schemas.SilenceSpec, views.silence_request(check.uuid, form, now))
        silence = build_silence(spec, viewer.project, _settings(request), now, None)
    except (views.FormError, ApiError) as exc:
        message = exc.message if isinstance(exc, ApiError) else str(exc)
        return error_page(request, 400, "The silence was not created",
                          message.removeprefix("json validation error: ") + ".", viewer,
                          await _project_name(store, viewer.project))
    await store.save_silence(silence)
    return redirect(f"/dashboard/checks/{check.uuid}?done=silenced")


@router.get("/dashboard/silences")
async def silences_page(request: Request) -> Response:
    store = _store(request)
    viewer = await session.viewer(request, store)
    if viewer is None:
        return signed_out(request)
    now = now_ms()
    silences = await forget_expired(store, viewer.project,
                                    await store.list_silences(viewer.project), now,
                                    _settings(request).silence_retention)
    checks = await store.list_checks(viewer.project)
    project_name = (await store.project(viewer.project)).get("name", "")
    auth = Auth(viewer.project, viewer.readonly)
    cards = [views.silence_card(silence_json(s, now, checks, project_name, auth),
                                [c for c in checks if s.matches(c, project_name)],
                                readonly=viewer.readonly) for s in silences]
    return render(request, "silences.html", {
        "viewer": viewer, "project_name": project_name or viewer.project,
        "groups": views.silence_groups(cards), "done": request.query_params.get("done", ""),
        "relative": lambda ms: describe.relative(ms, now)})


@router.post("/dashboard/silences/{sid}/expire")
async def expire_silence(sid: str, request: Request) -> Response:
    store = _store(request)
    allowed = await _writer(request, "expire silences")
    if isinstance(allowed, Response):
        return allowed
    viewer, _ = allowed
    sid = sid.lower()
    silence = await store.get_silence(viewer.project, sid) if UUID_RE.fullmatch(sid) else None
    if silence is None:
        return await not_found(request, viewer, "There is no such silence in this project.")
    await expire_now(store, silence, now_ms())
    return redirect(f"/dashboard/silences?done=expired#silence-{silence.id}")
