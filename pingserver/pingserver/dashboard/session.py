"""Who is looking: the API key in an HttpOnly cookie, and the CSRF token of its forms.

The dashboard keeps no server-side sessions. The login form stores the API key itself in a
cookie that scripts cannot read (HttpOnly), that other sites' requests do not carry
(SameSite=Strict) and that is Secure when the site is served over HTTPS. Every request looks
the key up again, so revoking a key ends its dashboard sessions at once.

Forms that change something carry a CSRF token derived from the key (an HMAC, so it reveals
nothing about the key and cannot be computed without it), and a POST whose Origin names
another site is refused before the token is even read.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from pingserver.store import Store

COOKIE = "hb_dashboard"
COOKIE_PATH = "/dashboard"
REMEMBER_SECONDS = 30 * 86400
MAX_FORM = 16 * 1024


@dataclass(frozen=True)
class Viewer:
    project: str
    readonly: bool
    csrf: str


def csrf_token(api_key: str) -> str:
    return hmac.new(api_key.encode(), b"hb-dashboard-csrf-v1", hashlib.sha256).hexdigest()


async def viewer(request: Request, store: Store) -> Viewer | None:
    """The project and role of the key in the cookie; None without a valid key."""
    key = request.cookies.get(COOKIE, "")
    if not key:
        return None
    auth = await store.authenticate(key)
    if auth is None:
        return None
    return Viewer(project=auth.project, readonly=auth.readonly, csrf=csrf_token(key))


def _secure(request: Request, site_root: str) -> bool:
    # Behind a TLS-terminating proxy the request itself is plain HTTP; HB_SITE_ROOT tells.
    return request.url.scheme == "https" or site_root.startswith("https://")


def set_key(response: Response, request: Request, site_root: str, api_key: str, *,
            remember: bool) -> None:
    response.set_cookie(COOKIE, api_key, max_age=REMEMBER_SECONDS if remember else None,
                        path=COOKIE_PATH, httponly=True, samesite="strict",
                        secure=_secure(request, site_root))


def clear_key(response: Response, request: Request, site_root: str) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict",
                           secure=_secure(request, site_root))


def same_origin(request: Request, site_root: str) -> bool:
    """False when the browser says the request comes from another site: its Origin must be
    the host the request was sent to, or HB_SITE_ROOT. Requests without Origin (command-line
    tools) still need the cookie and the token."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if origin == "null":
        return False
    netloc = urlsplit(origin).netloc
    return netloc == request.headers.get("host", "") or netloc == urlsplit(site_root).netloc


def token_ok(viewer: Viewer, form: dict[str, str]) -> bool:
    return hmac.compare_digest(viewer.csrf, form.get("csrf", ""))


async def read_form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (first value of each field)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return {}
    if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"):
        return {}
    try:
        fields = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {name: values[0] for name, values in fields.items()}


def safe_next(target: str) -> str:
    """A redirect target inside the dashboard, never another site."""
    if target.startswith("/dashboard/") and not target.startswith("/dashboard//") \
            and "\\" not in target:
        return target
    return "/dashboard/"
