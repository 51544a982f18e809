"""Request context of the management API: the JSON body, the API key, the API version.

Order as in healthchecks' `authorize`: the body is parsed first (it may carry `api_key`),
then the key is checked, then the handler validates the body.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from pingserver.api.deps import StoreDep
from pingserver.api.errors import ApiError
from pingserver.store import Auth

MAX_BODY = 64 * 1024
BODY_METHODS = ("POST", "PATCH", "PUT")
_VERSION_RE = re.compile(r"^/api/v(\d)/")

api_key_header = APIKeyHeader(name="X-Api-Key", auto_error=False,
                              description="Project API key (read-write or read-only)")


async def _read_limited(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise ApiError(413, f"request body is larger than {MAX_BODY} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ApiError(413, f"request body is larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object; an empty body is an empty object."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
        # Lone surrogates ("\\ud800") parse but cannot be stored as UTF-8.
        json.dumps(data, ensure_ascii=False).encode()
    except (ValueError, RecursionError):
        raise ApiError(400, "could not parse request body") from None
    if not isinstance(data, dict):
        raise ApiError(400, "json validation error: value is not an object")
    return data


async def json_body(request: Request) -> dict[str, Any]:
    if request.method not in BODY_METHODS:
        return {}
    return parse_json(await _read_limited(request))


JsonBody = Annotated[dict[str, Any], Depends(json_body)]


async def request_key(body: JsonBody,
                      header: Annotated[str | None, Depends(api_key_header)]) -> str:
    """The API key the request carries (header, else the body's `api_key`); "" when none."""
    key = header or body.get("api_key")
    return key if isinstance(key, str) else ""


RequestKey = Annotated[str, Depends(request_key)]


async def read_auth(store: StoreDep, key: RequestKey) -> Auth:
    if not key:
        raise ApiError(401, "missing api key")
    auth = await store.authenticate(key)
    if auth is None:
        raise ApiError(401, "wrong api key")
    return auth


async def write_auth(auth: Annotated[Auth, Depends(read_auth)]) -> Auth:
    # healthchecks answers a read-only key on a write endpoint as if the key were unknown.
    if auth.readonly:
        raise ApiError(401, "wrong api key")
    return auth


async def api_version(request: Request) -> int:
    """1, 2 or 3: the same routers are mounted under /api/v1, /api/v2 and /api/v3 (async, as
    the dependencies in deps.py, to stay out of FastAPI's thread pool)."""
    match = _VERSION_RE.match(request.url.path)
    return int(match.group(1)) if match else 3


ReadAuth = Annotated[Auth, Depends(read_auth)]
WriteAuth = Annotated[Auth, Depends(write_auth)]
Version = Annotated[int, Depends(api_version)]
