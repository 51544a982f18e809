"""FastAPI dependencies shared by the API routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from pingserver.config import Settings
from pingserver.store import Store


# Async although they do no I/O: FastAPI runs a plain `def` dependency in its thread pool,
# three thread hand-offs per API request (a third of an operator upsert's CPU).
async def get_store(request: Request) -> Store:
    return request.app.state.store


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
