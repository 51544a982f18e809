"""The HTTP API: one router per resource."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from pingserver import dashboard
from pingserver.api import badges, channels, checks, errors, feed, health, metrics, silences

API_VERSIONS = (1, 2, 3)


def _versioned(version: int) -> APIRouter:
    """The management API under /api/v<version>; handlers read the version from the path."""
    router = APIRouter(prefix=f"/api/v{version}")
    for resource in (checks.router, channels.router, badges.router):
        router.include_router(resource)
    if version == 3:  # additions beyond healthchecks exist in the newest version only
        router.include_router(checks.v3_router)
        router.include_router(feed.router)
        router.include_router(silences.router)
    return router


def routers() -> list[APIRouter]:
    return [health.router, metrics.router, badges.public_router,
            *map(_versioned, API_VERSIONS), dashboard.router]


def install_error_handlers(app: FastAPI) -> None:
    errors.install(app)

    @app.exception_handler(RedisError)
    async def storage_down(request: Request, exc: RedisError) -> JSONResponse:
        return JSONResponse({"error": "service unavailable: storage is not reachable"},
                            status_code=503)
