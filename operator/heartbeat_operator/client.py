"""The ping server's management API (healthchecks v3 compatible, plus extensions).

The ONLY module that talks to the ping server. Failures are sorted into two kinds:

- `PingServerUnavailable` (a `kopf.TemporaryError`): connection errors, timeouts, 429 and 5xx.
  Nothing is wrong with the object; try again later.
- `PingServerRejected`: any other 4xx. The server refused the request as it stands (for
  example an unknown time zone, 400; a wrong API key, 401); retrying the same request cannot
  help until something changes.

Error messages carry the server's own error text and never the request body, which may hold
channel secrets.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import kopf
import requests
import requests.auth

API = "/api/v3"
DEFAULT_RETRY_DELAY = 10.0
MAX_RETRY_AFTER = 600.0
FEED_LIMIT = 500


class PingServerUnavailable(kopf.TemporaryError):
    """The ping server could not be reached or is overloaded; retry after `delay`."""


class PingServerRejected(Exception):
    """The ping server refused the request (a 4xx other than 404 and 429)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"ping server refused the request ({status}): {message}")
        self.status = status
        self.message = message

    @property
    def invalid_spec(self) -> bool:
        """400/422: the payload is wrong, so the object's spec is (but see unknown_channel)."""
        return self.status in (400, 422)

    @property
    def unknown_channel(self) -> bool:
        """400 for a channel id the server lacks (e.g. it lost its data): not the spec's
        fault, and drift repair re-creates the channel."""
        return self.status == 400 and "channel identifier" in self.message

    @property
    def unknown_dependency(self) -> bool:
        """400 for a depends_on naming a check the server lacks: the HeartbeatCheck may just
        not be registered yet, so this is retried (a cycle is not)."""
        return self.status == 400 and "depends_on names an unknown check" in self.message


def _retry_after(response: requests.Response) -> float:
    raw = response.headers.get("Retry-After", "")
    try:
        return min(max(float(raw), 1.0), MAX_RETRY_AFTER)
    except ValueError:
        return DEFAULT_RETRY_DELAY


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason
    if isinstance(body, Mapping) and body.get("error"):
        return str(body["error"])[:500]
    return response.reason or "error"


class _ApiKey(requests.auth.AuthBase):
    """The X-Api-Key header. As the session's auth rather than a default header it also spares
    every request requests' ~/.netrc lookup (several per cent of the operator's CPU at start-up)."""

    def __init__(self, key: str) -> None:
        self._key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["X-Api-Key"] = self._key
        return request


class _NoKey(requests.auth.AuthBase):
    """For pings: they need no key, and the API key is not sent where it is not needed."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


class PingServerClient:
    def __init__(self, base_url: str, api_key: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout
        self._local = threading.local()  # one Session per thread: handlers run in threads

    def __repr__(self) -> str:
        return f"PingServerClient({self.base_url!r})"

    @property
    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.auth = _ApiKey(self._api_key)
            session.headers["User-Agent"] = "heartbeat-operator"
            self._local.session = session
        return session

    def _call(self, method: str, path: str, *, body: Mapping[str, Any] | None = None,
              params: Mapping[str, Any] | None = None) -> tuple[int, Any]:
        """(status, JSON body) for 2xx and 404; raises for everything else."""
        url = f"{self.base_url}{API}{path}"
        try:
            response = self._session.request(method, url, json=body, params=params,
                                             timeout=self.timeout)
        except requests.Timeout:
            raise PingServerUnavailable(f"{method} {path}: timed out after {self.timeout:g}s",
                                        delay=DEFAULT_RETRY_DELAY) from None
        except requests.RequestException as exc:
            reason = type(exc).__name__
            raise PingServerUnavailable(f"{method} {path}: {reason} connecting to "
                                        f"{self.base_url}", delay=DEFAULT_RETRY_DELAY) from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise PingServerUnavailable(
                f"{method} {path}: {status} {_error_text(response)}",
                delay=_retry_after(response))
        if status == 404:
            return status, None
        if status >= 400:
            raise PingServerRejected(status, _error_text(response))
        try:
            return status, response.json() if response.content else None
        except ValueError:
            return status, None

    # -- checks ---------------------------------------------------------------------------

    def get_check(self, uuid: str) -> dict[str, Any] | None:
        _, body = self._call("GET", f"/checks/{uuid}")
        return dict(body) if body else None

    def list_checks(self) -> list[dict[str, Any]]:
        _, body = self._call("GET", "/checks/")
        return [dict(c) for c in (body or {}).get("checks", [])]

    def upsert_check(self, uuid: str, payload: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """Create the check under the client-chosen `uuid`, or update the check that already
        has it: one idempotent request. Returns (check JSON, created)."""
        status, body = self._call("POST", "/checks/", body={**payload, "uuid": uuid})
        return dict(body or {}), status == 201

    def delete_check(self, uuid: str) -> bool:
        status, _ = self._call("DELETE", f"/checks/{uuid}")
        return status != 404

    def pause_check(self, uuid: str) -> dict[str, Any] | None:
        _, body = self._call("POST", f"/checks/{uuid}/pause")
        return dict(body) if body else None

    def resume_check(self, uuid: str) -> dict[str, Any] | None:
        try:
            _, body = self._call("POST", f"/checks/{uuid}/resume")
        except PingServerRejected as exc:
            if exc.status == 409:  # not paused: nothing to do
                return self.get_check(uuid)
            raise
        return dict(body) if body else None

    def pings(self, uuid: str) -> list[dict[str, Any]]:
        """The check's ping log, newest first (as many as the server keeps); [] when the
        check does not exist."""
        _, body = self._call("GET", f"/checks/{uuid}/pings/")
        return [dict(p) for p in (body or {}).get("pings", [])]

    # -- signals --------------------------------------------------------------------------

    def ping(self, uuid: str, kind: str, *, rid: str = "", body: str = "") -> bool:
        """Send a signal to a check, as a job would: POST /ping/<uuid>[/start|/fail|/log]
        with `rid` and a text body. False when the check does not exist (404)."""
        suffix = "" if kind == "success" else f"/{kind}"
        url = f"{self.base_url}/ping/{uuid}{suffix}"
        params = {"rid": rid} if rid else None
        try:
            response = self._session.post(url, params=params, data=body.encode(), auth=_NoKey(),
                                          headers={"Content-Type": "text/plain; charset=utf-8"},
                                          timeout=self.timeout)
        except requests.Timeout:
            raise PingServerUnavailable(f"ping {kind}: timed out after {self.timeout:g}s",
                                        delay=DEFAULT_RETRY_DELAY) from None
        except requests.RequestException as exc:
            raise PingServerUnavailable(f"ping {kind}: {type(exc).__name__} connecting to "
                                        f"{self.base_url}", delay=DEFAULT_RETRY_DELAY) from None
        if response.status_code == 404:
            return False
        if response.status_code == 429 or response.status_code >= 500:
            raise PingServerUnavailable(f"ping {kind}: {response.status_code}",
                                        delay=_retry_after(response))
        if response.status_code >= 400:
            raise PingServerRejected(response.status_code, response.text[:200])
        return True

    # -- channels -------------------------------------------------------------------------

    def list_channels(self) -> list[dict[str, Any]]:
        _, body = self._call("GET", "/channels/")
        return [dict(c) for c in (body or {}).get("channels", [])]

    def create_channel(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        _, body = self._call("POST", "/channels/", body=payload)
        return dict(body or {})

    def get_channel(self, channel_id: str) -> dict[str, Any] | None:
        """With its config and delivery status (the list has id, name and kind only)."""
        _, body = self._call("GET", f"/channels/{channel_id}")
        return dict(body) if body else None

    def update_channel(self, channel_id: str, payload: Mapping[str, Any]
                       ) -> dict[str, Any] | None:
        _, body = self._call("POST", f"/channels/{channel_id}", body=payload)
        return dict(body) if body else None

    def delete_channel(self, channel_id: str) -> bool:
        status, _ = self._call("DELETE", f"/channels/{channel_id}")
        return status != 404

    # -- silences -------------------------------------------------------------------------

    def upsert_silence(self, silence_id: str, payload: Mapping[str, Any]
                       ) -> tuple[dict[str, Any], bool]:
        """Create the silence under the client-chosen id, or replace the one that has it.
        Returns (silence JSON, created)."""
        status, body = self._call("POST", "/silences/", body={**payload, "id": silence_id})
        return dict(body or {}), status == 201

    def get_silence(self, silence_id: str) -> dict[str, Any] | None:
        _, body = self._call("GET", f"/silences/{silence_id}")
        return dict(body) if body else None

    def expire_silence(self, silence_id: str) -> bool:
        """Expire it now (it stays listable for a while); False when there is no such one."""
        status, _ = self._call("DELETE", f"/silences/{silence_id}")
        return status != 404

    # -- flips feed -----------------------------------------------------------------------

    def flips(self, cursor: str, limit: int = FEED_LIMIT) -> tuple[list[dict[str, Any]], str]:
        """Flips after `cursor` ("" = the oldest the server keeps), oldest first, and the
        cursor to pass next time."""
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        status, body = self._call("GET", "/flips/", params=params)
        if status == 404 or body is None:
            raise PingServerRejected(404, "the ping server has no flips feed (/api/v3/flips/)")
        return [dict(f) for f in body.get("flips", [])], str(body.get("cursor") or cursor)
