"""Webhook placeholders: healthchecks' rules (single pass, URL-encoding in the URL, $BODY
only in POST/PUT bodies, latin-1 safe headers) and the idempotency headers."""

from __future__ import annotations

import json

import pytest

from pingserver.engine.channels import Alert, PermanentError
from pingserver.engine.channels.webhook import context, prepare, render, spec_for
from pingserver.model import Check

UUID = "0b0c1e3a-2d4f-4a5b-9c6d-7e8f90a1b2c3"
FLIP = "1700000000000-3"


def make_alert(*, name: str = "db backup", tags: str = "prod db", kind: str = "down",
               body: bytes = b"", exitstatus: int = -1, downtime_ms: int = 0) -> Alert:
    check = Check.from_hash(UUID, {
        "project": "p1", "name": name, "slug": "db-backup", "tags": tags, "status": "down",
        "timeout": "3600", "grace": "300", "kind": "simple", "last_ping": "1699990000000",
        "n_pings": "7"})
    return Alert(flip_id=FLIP, kind=kind, reason="timeout", ts=1700000000000,
                 downtime_ms=downtime_ms, rid="", check=check, last_ping_body=body,
                 last_exitstatus=exitstatus)


def test_render_is_single_pass() -> None:
    # A value that looks like a placeholder is not expanded again.
    assert render("$NAME/$TAGS", {"$NAME": "$TAGS", "$TAGS": "x"}) == "$TAGS/x"


def test_longer_placeholders_win() -> None:
    ctx = {f"$TAG{i}": f"t{i}" for i in range(1, 13)}
    ctx.update({"$NAME": "n", "$NAME_JSON": '"n"'})
    assert render("$TAG12 $TAG1 $NAME_JSON $NAME", ctx) == 't12 t1 "n" n'


def test_placeholder_values() -> None:
    ctx = context(make_alert(exitstatus=3, downtime_ms=90_500), now_ms=1700000001000)
    assert ctx["$CODE"] == UUID
    assert ctx["$STATUS"] == "down"
    assert ctx["$NOW"] == "2023-11-14T22:13:20+00:00"  # the flip time, no microseconds
    assert ctx["$NAME"] == "db backup"
    assert ctx["$NAME_JSON"] == '"db backup"'
    assert ctx["$SLUG"] == "db-backup"
    assert ctx["$TAGS"] == "prod db"
    assert (ctx["$TAG1"], ctx["$TAG2"]) == ("prod", "db")
    assert "$TAG3" not in ctx
    assert ctx["$EXITSTATUS"] == "3"
    assert ctx["$DOWNTIME"] == "90"
    assert "$BODY" not in ctx  # only with_body=True (POST/PUT bodies)
    data = json.loads(ctx["$JSON"])
    assert data["uuid"] == UUID
    assert data["name"] == "db backup"
    assert data["tags"] == "prod db"
    assert data["status"] == "down"
    assert data["last_ping"] == "2023-11-14T19:26:40+00:00"
    assert data["timeout"] == 3600


def test_exit_status_defaults_to_minus_one() -> None:
    assert context(make_alert())["$EXITSTATUS"] == "-1"


def test_url_values_are_encoded() -> None:
    alert = make_alert(name="a/b & c?d=1", tags="x#y")
    spec = {"url": "https://example.com/hook/$NAME?tags=$TAGS&s=$STATUS&n=$NAME_JSON"}
    request = prepare(spec, alert)
    assert request.url == ("https://example.com/hook/a%2Fb%20%26%20c%3Fd%3D1?tags=x%23y&s=down"
                           "&n=%22a%2Fb%20%26%20c%3Fd%3D1%22")
    assert request.method == "GET"
    assert request.body == b""


def test_body_only_in_post_and_put_bodies() -> None:
    alert = make_alert(body=b'{"rows": 12}\n\xff')
    spec = {"method": "POST", "url": "https://example.com/$BODY",
            "headers": {"X-Body": "$BODY"}, "body": "raw=$BODY json=$BODY_JSON name=$NAME"}
    request = prepare(spec, alert)
    assert request.url == "https://example.com/$BODY"
    assert request.headers["X-Body"] == "$BODY"
    assert request.body == ('raw={"rows": 12}\n\ufffd json="{\\"rows\\": 12}\\n\\ufffd" '
                            'name=db backup').encode()
    get = prepare({**spec, "method": "GET"}, alert)
    assert get.body == b""


def test_put_renders_body() -> None:
    request = prepare({"method": "put", "url": "https://e.com/", "body": "$STATUS $NAME"},
                      make_alert(kind="up"))
    assert (request.method, request.body) == ("PUT", b"up db backup")


def test_headers_are_latin1_and_single_line() -> None:
    alert = make_alert(name="Ωmega\r\nX-Injected: 1")
    request = prepare({"url": "https://e.com/", "headers": {"X-Name": "$NAME", "X-Tag": "$TAG1"}},
                      alert)
    assert request.headers["X-Name"] == "&#937;mega  X-Injected: 1"
    request.headers["X-Name"].encode("latin-1")
    assert request.headers["X-Tag"] == "prod"


def test_idempotency_headers_carry_the_flip_id() -> None:
    request = prepare({"url": "https://e.com/", "headers": {"Idempotency-Key": "mine"}},
                      make_alert())
    assert request.headers["Idempotency-Key"] == FLIP
    assert request.headers["X-Heartbeat-Flip-Id"] == FLIP


def test_unsupported_method_is_permanent() -> None:
    with pytest.raises(PermanentError):
        prepare({"method": "DELETE", "url": "https://e.com/"}, make_alert())


@pytest.mark.parametrize("config,kind,wanted", [
    ({"down": {"url": "https://e.com/"}}, "down", True),
    ({"down": {"url": "https://e.com/"}}, "up", False),
    ({"down": {"url": ""}, "up": {"url": "https://e.com/"}}, "down", False),
    ({"down": {"url": "   "}}, "down", False),
    ({"late": {"url": "https://e.com/late"}}, "late", True),
    ({"down": "https://e.com/"}, "down", False),
    ({}, "down", False),
])
def test_empty_url_is_a_noop(config: dict[str, object], kind: str, wanted: bool) -> None:
    assert (spec_for(config, kind) is not None) is wanted
