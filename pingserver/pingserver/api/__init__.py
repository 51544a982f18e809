"""The HTTP API: one router per resource."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from pingserver.api import health


def routers() -> list[APIRouter]:
    return [health.router]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RedisError)
    async def storage_down(request: Request, exc: RedisError) -> JSONResponse:
        return JSONResponse({"error": "service unavailable: storage is not reachable"},
                            status_code=503)
