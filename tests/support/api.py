"""A small client for the management API of a live ping server, for integration tests."""

from __future__ import annotations

import asyncio
from typing import Any

import requests

from pingserver.config import Settings
from pingserver.store import ProjectKeys, Store

TIMEOUT = 10


class Api:
    """Requests against /api/v<version>/ with one project's key in the X-Api-Key header."""

    def __init__(self, base_url: str, key: str | None, version: int = 3) -> None:
        self.base_url = base_url
        self.key = key
        self.version = version

    def url(self, path: str) -> str:
        return f"{self.base_url}/api/v{self.version}{path}"

    def with_version(self, version: int) -> Api:
        return Api(self.base_url, self.key, version)

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if self.key is not None:
            headers.setdefault("X-Api-Key", self.key)
        return requests.request(method, self.url(path), headers=headers, timeout=TIMEOUT,
                                **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json=json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def create(self, **fields: Any) -> dict[str, Any]:
        """Create a check; fails the test unless the server answers 201."""
        resp = self.post("/checks/", fields)
        assert resp.status_code == 201, resp.text
        body: dict[str, Any] = resp.json()
        return body

    def check(self, ident: str) -> dict[str, Any]:
        resp = self.get(f"/checks/{ident}")
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    def checks(self, **params: Any) -> list[dict[str, Any]]:
        resp = self.get("/checks/", params=params)
        assert resp.status_code == 200, resp.text
        checks: list[dict[str, Any]] = resp.json()["checks"]
        return checks

    def channel(self, kind: str = "webhook", name: str = "", **config: Any) -> dict[str, Any]:
        resp = self.post("/channels/", {"kind": kind, "name": name, "config": config})
        assert resp.status_code == 201, resp.text
        body: dict[str, Any] = resp.json()
        return body


def ping(base_url: str, uuid: str, action: str = "", body: bytes = b"") -> requests.Response:
    suffix = f"/{action}" if action else ""
    return requests.post(f"{base_url}/ping/{uuid}{suffix}", data=body, timeout=TIMEOUT)


def new_project(settings: Settings, name: str = "api-test") -> ProjectKeys:
    """A fresh project in the store the ping server uses (for calls from sync tests)."""

    async def create() -> ProjectKeys:
        store = Store.from_settings(settings)
        try:
            return await store.create_project(name)
        finally:
            await store.close()

    return asyncio.run(create())
