"""Probes: /healthz (the process serves), /readyz and /api/vN/status (Redis answers)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from pingserver.api.deps import StoreDep

router = APIRouter(tags=["health"])


@router.get("/healthz", response_class=PlainTextResponse)
async def healthz() -> str:
    return "OK"


async def _ready(store: StoreDep) -> PlainTextResponse:
    if await store.healthy():
        return PlainTextResponse("OK")
    return PlainTextResponse("storage is not reachable", status_code=503)


for path in ("/readyz", "/api/v1/status/", "/api/v2/status/", "/api/v3/status/"):
    router.add_api_route(path, _ready, methods=["GET"], response_class=PlainTextResponse)
