"""Badges (compat §6): public per-check and per-tag badge URLs, and the API listing them."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from pingserver import badges
from pingserver.api import schemas
from pingserver.api.auth import ReadAuth
from pingserver.api.checks import ERRORS, UUID_RE
from pingserver.api.deps import SettingsDep, StoreDep
from pingserver.api.errors import not_found
from pingserver.store import now_ms

router = APIRouter(tags=["badges"])
public_router = APIRouter(tags=["badges"])

# Badges are embedded in pages and dashboards: always fresh, readable from any origin.
HEADERS = {
    "Cache-Control": "max-age=0, no-cache, no-store, must-revalidate, private",
    "Access-Control-Allow-Origin": "*",
}
BADGE_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"image/svg+xml": {}, "application/json": {}}},
    404: {"model": schemas.ErrorOut},
}


def split_name(filename: str) -> tuple[str, str]:
    """("tag", "svg") from "tag.svg"; 404 for an unknown format."""
    name, dot, fmt = filename.rpartition(".")
    if not dot or fmt not in badges.FORMATS:
        raise not_found()
    return name, fmt


def render(fmt: str, label: str, summary: badges.Summary) -> Response:
    if fmt == "json":
        return JSONResponse(badges.as_json(summary), headers=HEADERS)
    if fmt == "shields":
        return JSONResponse(badges.as_shields(label, summary.status), headers=HEADERS)
    return Response(badges.render_svg(label, summary.status), media_type="image/svg+xml",
                    headers=HEADERS)


@public_router.get("/b/{states}/{filename}", response_class=Response,
                   responses=BADGE_RESPONSES)
async def check_badge(store: StoreDep, states: str, filename: str) -> Response:
    """One check's badge: `states` is 2 (late counts as up) or 3."""
    badge_id, fmt = split_name(filename)
    check = await store.check_by_badge_id(badge_id) if UUID_RE.match(badge_id) else None
    if states not in ("2", "3") or check is None:
        raise not_found()
    summary = badges.summarize([check.effective_status(now_ms())], int(states))
    return render(fmt, str(check.config["name"]) or check.uuid, summary)


@public_router.get("/badge/{badge_key}/{sig}/{filename:path}", response_class=Response,
                   responses=BADGE_RESPONSES)
async def tag_badge(store: StoreDep, badge_key: str, sig: str, filename: str) -> Response:
    """The checks carrying a tag (`*` = all of the project's checks) as one badge."""
    tag, fmt = split_name(filename)
    pid = await store.project_by_badge_key(badge_key)
    secret = (await store.project(pid)).get("badge_secret", "") if pid else ""
    states = badges.states_of(secret, tag, sig) if secret else None
    if states is None or pid is None:
        raise not_found()
    now = now_ms()
    statuses = [c.effective_status(now) for c in await store.list_checks(pid)
                if tag == badges.ALL_TAGS or tag in c.tag_list]
    label = badges.ALL_LABEL if tag == badges.ALL_TAGS else tag
    return render(fmt, label, badges.summarize(statuses, states))


@router.get("/badges/", response_model=schemas.BadgesOut, responses=ERRORS)
async def list_badges(store: StoreDep, settings: SettingsDep, auth: ReadAuth) -> JSONResponse:
    """Badge URLs for every tag in use and for `*` (all checks)."""
    project = await store.project(auth.project)
    badge_key, secret = project.get("badge_key", ""), project.get("badge_secret", "")
    tags = {badges.ALL_TAGS}
    for check in await store.list_checks(auth.project):
        tags.update(check.tag_list)
    listing = {tag: badges.tag_urls(settings.site_root, badge_key, secret, tag)
               for tag in sorted(tags)}
    return JSONResponse({"badges": listing})
