"""AlertChannel payloads for the Alertmanager kind and signed webhooks: Secrets resolved by
reference, errors naming the field (never a value), and the drift comparison's view of
credentials matching the ping server's."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from heartbeat_operator import spec
from pingserver.api import serialize
from pingserver.engine.channels import validation

WHSEC = "whsec_" + base64.b64encode(b"k" * 32).decode()
SECRETS = {("am", "password"): "pw", ("am", "token"): "t0k", ("hook", "url"): "https://h.test",
           ("hook", "old"): WHSEC, ("hook", "new"): WHSEC.replace("whsec_a", "whsec_b"),
           ("hook", "plain"): "not-prefixed-s3cret"}


class Missing(LookupError):
    pass


def resolve(name: str, key: str) -> str:
    try:
        return SECRETS[(name, key)]
    except KeyError:
        raise Missing(f"Secret ns/{name} has no key {key!r}") from None


def ref(name: str, key: str) -> dict[str, Any]:
    return {"secretKeyRef": {"name": name, "key": key}}


def payload(body: dict[str, Any]) -> dict[str, Any]:
    return spec.channel_payload(body, namespace="ns", name="c", resolve=resolve)


def test_alertmanager_payload() -> None:
    got = payload({"kind": "alertmanager", "alertmanager": {
        "urls": ["http://am-0:9093", "http://am-1:9093"], "severity": "page",
        "labels": {"team": "data"},
        "basicAuth": {"username": "hb", "password": ref("am", "password")}}})
    assert got["config"] == {"urls": ["http://am-0:9093", "http://am-1:9093"],
                             "severity": "page", "labels": {"team": "data"},
                             "username": "hb", "password": "pw"}
    validation.validate("alertmanager", got["config"])  # what the ping server accepts
    bearer = payload({"kind": "alertmanager", "alertmanager": {
        "urls": ["https://am"], "bearerToken": ref("am", "token")}})
    assert bearer["config"] == {"urls": ["https://am"], "severity": "critical",
                                "bearer_token": "t0k"}


def test_signed_webhook_payload() -> None:
    got = payload({"kind": "webhook", "webhook": {
        "down": {"url": ref("hook", "url")},
        "signingSecrets": [ref("hook", "old"), ref("hook", "new")]}})
    assert got["config"]["secrets"] == [SECRETS[("hook", "old")], SECRETS[("hook", "new")]]
    validation.validate("webhook", got["config"])


@pytest.mark.parametrize(("body", "message"), [
    ({"kind": "alertmanager", "alertmanager": {}}, "spec.alertmanager.urls: at least one"),
    ({"kind": "alertmanager", "alertmanager": {"urls": ["am:9093"]}},
     "spec.alertmanager.urls[0]: not an http or https URL"),
    ({"kind": "alertmanager", "alertmanager": {"urls": ["http://am"],
                                               "basicAuth": {"username": "u"}}},
     "spec.alertmanager.basicAuth.password: needs secretKeyRef"),
    ({"kind": "webhook", "webhook": {"down": {"url": ref("hook", "url")},
                                     "signingSecrets": [ref("hook", "plain")]}},
     "spec.webhook.signingSecrets[0]: the Secret's value must start with whsec_"),
])
def test_bad_specs_name_the_field(body: dict[str, Any], message: str) -> None:
    with pytest.raises(spec.SpecError) as failed:
        payload(body)
    assert str(failed.value).startswith(message)
    assert "s3cret" not in str(failed.value)


def test_a_missing_secret_names_the_field_and_keeps_its_type() -> None:
    with pytest.raises(Missing, match=r"^spec\.alertmanager\.bearerToken: Secret ns/am has "
                                      r"no key 'nope'$"):
        payload({"kind": "alertmanager", "alertmanager": {
            "urls": ["http://am"], "bearerToken": ref("am", "nope")}})


@pytest.mark.parametrize("kind", ["webhook", "alertmanager", "email"])
def test_drift_view_matches_the_ping_servers_answer(kind: str) -> None:
    config = {"urls": ["http://am"], "password": "pw", "bearer_token": "t", "secrets": [WHSEC],
              "to": "a@b", "labels": {"é": "x"}}
    assert spec.config_digest("k", config) == serialize.config_digest("k", config)
    assert spec.config_digest("k", config) != serialize.config_digest("other key", config)
