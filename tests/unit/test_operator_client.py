"""The ping server client's error mapping, with an in-process transport (no network)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import kopf
import pytest
import requests
from requests.adapters import BaseAdapter

from heartbeat_operator.client import PingServerClient, PingServerRejected, PingServerUnavailable

Handler = Callable[[requests.PreparedRequest], tuple[int, Any, Mapping[str, str]]]


class FakeTransport(BaseAdapter):
    def __init__(self, handler: Handler) -> None:
        super().__init__()
        self.handler = handler
        self.requests: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, stream: bool = False,
             timeout: float | tuple[float, float] | tuple[float, None] | None = None,
             verify: bool | str = True, cert: Any = None,
             proxies: Mapping[str, str] | None = None) -> requests.Response:
        self.requests.append(request)
        status, body, headers = self.handler(request)
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode() if body is not None else b""
        response.headers.update(headers)
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


def client_with(handler: Handler) -> tuple[PingServerClient, FakeTransport]:
    client = PingServerClient("http://hb.test/", "secret-api-key", timeout=2)
    transport = FakeTransport(handler)
    client._session.mount("http://", transport)
    return client, transport


def respond(status: int, body: Any = None, **headers: str) -> Handler:
    return lambda request: (status, body, headers)


def test_upsert_sends_uuid_and_key_and_reports_creation() -> None:
    client, transport = client_with(respond(201, {"uuid": "u-1", "status": "new"}))
    check, created = client.upsert_check("u-1", {"name": "ns/x", "timeout": 60})
    assert created and check["uuid"] == "u-1"
    sent = transport.requests[0]
    assert sent.method == "POST" and sent.url == "http://hb.test/api/v3/checks/"
    assert sent.headers["X-Api-Key"] == "secret-api-key"
    assert json.loads(sent.body or b"{}") == {"name": "ns/x", "timeout": 60, "uuid": "u-1"}


def test_upsert_of_an_existing_check_is_not_a_creation() -> None:
    client, _ = client_with(respond(200, {"uuid": "u-1"}))
    assert client.upsert_check("u-1", {})[1] is False


def test_not_found_is_none_not_an_error() -> None:
    client, _ = client_with(respond(404, {"error": "not found"}))
    assert client.get_check("u-1") is None
    assert client.delete_check("u-1") is False
    assert client.get_channel("c-1") is None


def test_validation_error_is_a_rejection_with_the_server_message() -> None:
    client, _ = client_with(respond(400, {"error": "json validation error: tz is not a valid "
                                                   "timezone"}))
    with pytest.raises(PingServerRejected) as info:
        client.upsert_check("u-1", {"tz": "Mars/Olympus"})
    assert info.value.invalid_spec
    assert info.value.status == 400
    assert "tz is not a valid timezone" in info.value.message


def test_an_unknown_channel_id_is_not_the_specs_fault() -> None:
    client, _ = client_with(respond(400, {"error": "invalid channel identifier: 4e8"}))
    with pytest.raises(PingServerRejected) as info:
        client.upsert_check("u-1", {"channels": "4e8"})
    assert info.value.unknown_channel


def test_wrong_key_is_a_rejection_but_not_an_invalid_spec() -> None:
    client, _ = client_with(respond(401, {"error": "wrong api key"}))
    with pytest.raises(PingServerRejected) as info:
        client.list_checks()
    assert not info.value.invalid_spec
    assert "secret-api-key" not in str(info.value)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_temporary(status: int) -> None:
    client, _ = client_with(respond(status, {"error": "storage is not reachable"}))
    with pytest.raises(PingServerUnavailable) as info:
        client.get_check("u-1")
    assert isinstance(info.value, kopf.TemporaryError)
    assert info.value.delay == 10.0


def test_rate_limit_honours_retry_after_within_bounds() -> None:
    client, _ = client_with(respond(429, {"error": "slow down"}, **{"Retry-After": "42"}))
    with pytest.raises(PingServerUnavailable) as info:
        client.list_checks()
    assert info.value.delay == 42.0
    client, _ = client_with(respond(429, None, **{"Retry-After": "86400"}))
    with pytest.raises(PingServerUnavailable) as info:
        client.list_checks()
    assert info.value.delay == 600.0


def test_connection_errors_are_temporary_and_name_no_secret() -> None:
    def refuse(request: requests.PreparedRequest) -> tuple[int, Any, Mapping[str, str]]:
        raise requests.ConnectionError("connection refused")

    client, _ = client_with(refuse)
    with pytest.raises(PingServerUnavailable) as info:
        client.upsert_check("u-1", {"channels": ""})
    assert "hb.test" in str(info.value)
    assert "secret-api-key" not in str(info.value)


def test_timeouts_are_temporary() -> None:
    def slow(request: requests.PreparedRequest) -> tuple[int, Any, Mapping[str, str]]:
        raise requests.ReadTimeout("read timed out")

    client, _ = client_with(slow)
    with pytest.raises(PingServerUnavailable, match="timed out"):
        client.get_check("u-1")


def test_resume_of_a_check_that_is_not_paused_is_a_no_op() -> None:
    def server(request: requests.PreparedRequest) -> tuple[int, Any, Mapping[str, str]]:
        if (request.url or "").endswith("/resume"):
            return 409, {"error": "check is not paused"}, {}
        return 200, {"uuid": "u-1", "status": "up"}, {}

    client, _ = client_with(server)
    assert client.resume_check("u-1") == {"uuid": "u-1", "status": "up"}


def test_flips_feed_passes_the_cursor_back() -> None:
    seen: list[str] = []

    def server(request: requests.PreparedRequest) -> tuple[int, Any, Mapping[str, str]]:
        seen.append(request.url or "")
        return 200, {"flips": [{"check": "u-1", "old": "up", "new": "down"}], "cursor": "c2"}, {}

    client, _ = client_with(server)
    flips, cursor = client.flips("c1", limit=10)
    assert cursor == "c2" and flips[0]["new"] == "down"
    assert "cursor=c1" in seen[0] and "limit=10" in seen[0]
    client.flips("")
    assert "cursor" not in seen[1]


def test_a_server_without_the_feed_says_so() -> None:
    client, _ = client_with(respond(404, {"error": "not found"}))
    with pytest.raises(PingServerRejected, match="no flips feed"):
        client.flips("")


def test_ping_sends_the_signal_rid_and_body_without_the_api_key() -> None:
    client, transport = client_with(respond(200))
    rid = "7d1c7e5e-8d0b-5f57-9d65-6f1f1f2b3c4d"
    assert client.ping("u-1", "fail", rid=rid, body="Job x failed: BackoffLimitExceeded")
    assert client.ping("u-1", "success")
    sent, plain = transport.requests
    assert sent.method == "POST"
    assert sent.url == f"http://hb.test/ping/u-1/fail?rid={rid}"
    assert sent.body == b"Job x failed: BackoffLimitExceeded"
    assert "X-Api-Key" not in sent.headers
    assert sent.headers["User-Agent"] == "heartbeat-operator"
    assert plain.url == "http://hb.test/ping/u-1"


def test_ping_of_a_missing_check_and_server_trouble() -> None:
    client, _ = client_with(respond(404))
    assert client.ping("u-1", "start") is False
    client, _ = client_with(respond(503, None, **{"Retry-After": "3"}))
    with pytest.raises(PingServerUnavailable) as info:
        client.ping("u-1", "start")
    assert info.value.delay == 3
    client, _ = client_with(respond(400))
    with pytest.raises(PingServerRejected):
        client.ping("u-1", "start", rid="not-a-uuid")


def test_pings_lists_the_ping_log() -> None:
    client, transport = client_with(respond(200, {"pings": [{"type": "start", "rid": "r"}]}))
    assert client.pings("u-1") == [{"type": "start", "rid": "r"}]
    assert transport.requests[0].url == "http://hb.test/api/v3/checks/u-1/pings/"
    client, _ = client_with(respond(404))
    assert client.pings("u-1") == []


def test_no_netrc_lookup(tmp_path: Any, monkeypatch: Any) -> None:
    """The API key is the session's auth: requests neither reads ~/.netrc per request (CPU at
    start-up) nor sends what a netrc file holds for the ping server's host."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine hb.test login someone password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    client, transport = client_with(respond(200, {"uuid": "u-1"}))
    client.upsert_check("u-1", {"name": "ns/x"})
    assert client.ping("u-1", "success")
    upsert, ping = transport.requests
    assert upsert.headers["X-Api-Key"] == "secret-api-key"
    assert "Authorization" not in upsert.headers
    assert "Authorization" not in ping.headers and "X-Api-Key" not in ping.headers


def test_an_unknown_dependency_may_just_not_be_registered_yet() -> None:
    client, _ = client_with(respond(400, {"error": "json validation error: depends_on names "
                                                   "an unknown check: 'ns_db'"}))
    with pytest.raises(PingServerRejected) as info:
        client.upsert_check("u-1", {"depends_on": ["ns_db"]})
    assert info.value.unknown_dependency and not info.value.unknown_channel
    cycle = PingServerRejected(400, "json validation error: depends_on would create a cycle: "
                                    "ns_a -> ns_b -> ns_a")
    assert cycle.invalid_spec and not cycle.unknown_dependency


def test_silence_upsert_sends_the_id_and_expire_deletes() -> None:
    client, transport = client_with(respond(201, {"id": "s-1", "state": "active"}))
    silence, created = client.upsert_silence("s-1", {"matchers": ["tag=db"], "duration": 60})
    assert created and silence["state"] == "active"
    sent = transport.requests[0]
    assert (sent.method, sent.url) == ("POST", "http://hb.test/api/v3/silences/")
    assert json.loads(sent.body or b"{}") == {"matchers": ["tag=db"], "duration": 60,
                                              "id": "s-1"}
    replaced, _ = client_with(respond(200, {"id": "s-1"}))
    assert replaced.upsert_silence("s-1", {})[1] is False

    expire, transport = client_with(respond(200, {"id": "s-1", "state": "expired"}))
    assert expire.expire_silence("s-1") is True
    assert (transport.requests[0].method, transport.requests[0].url) == (
        "DELETE", "http://hb.test/api/v3/silences/s-1")
    gone, _ = client_with(respond(404, {"error": "not found"}))
    assert gone.expire_silence("s-1") is False
    assert gone.get_silence("s-1") is None
