"""AlertChannels of the kinds added for on-call tools, against the real control plane and a
real ping server: an Alertmanager channel whose token Secret key is missing is Ready=False
naming the field, then Ready once the key exists (the ping server answers the token
redacted); a signing secret that is not a whsec_ value is Ready=False naming the
field, without its value in status or Events."""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from heartbeat_operator import constants
from tests.k8s.test_operator_harness import (
    Kube,
    Stack,
    StartOperator,
    condition,
    crds,
    stack,
    start_operator,
)

__all__ = ["crds", "stack", "start_operator"]

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(240)]

CHANNELS = constants.CHANNEL_PLURAL


def test_alertmanager_channel_waits_for_its_token(start_operator: StartOperator, stack: Stack,
                                                  kube_api: client.ApiClient,
                                                  namespace: str) -> None:
    kube = Kube(kube_api, namespace)
    start_operator("--standalone")
    kube.secret("am", {"other": "x"})
    kube.create(CHANNELS, "am", {"kind": "alertmanager", "alertmanager": {
        "urls": ["http://alertmanager-0.monitoring:9093", "http://alertmanager-1.monitoring:9093"],
        "severity": "page", "labels": {"team": "data"},
        "bearerToken": {"secretKeyRef": {"name": "am", "key": "token"}}}})
    status = kube.wait_status(CHANNELS, "am", lambda s: condition(s, "Ready").get("reason")
                              == "SecretNotFound", "Ready=False SecretNotFound")
    assert condition(status, "Ready")["message"].startswith(
        f"spec.alertmanager.bearerToken: Secret {namespace}/am has no key 'token'")

    client.CoreV1Api(kube_api).patch_namespaced_secret(
        "am", namespace, {"stringData": {"token": "t0ken-value"}})
    status = kube.wait_status(CHANNELS, "am", lambda s: s.get("ready") is True, "Ready")
    served = stack.channel(status["channelID"])
    assert served is not None and served["kind"] == "alertmanager"
    assert served["config"]["urls"][1] == "<redacted>"
    assert served["config"]["labels"] == {"team": "<redacted>"}
    assert served["config"]["bearer_token"] == "<redacted>"
    assert "t0ken-value" not in json.dumps(served)


def test_a_bad_signing_secret_is_ready_false_naming_the_field(
        start_operator: StartOperator, stack: Stack, kube_api: client.ApiClient,
        namespace: str) -> None:
    kube = Kube(kube_api, namespace)
    start_operator("--standalone")
    kube.secret("hook", {"url": "http://127.0.0.1:9/hook", "signing": "plain-s3cret"})
    kube.create(CHANNELS, "signed", {"kind": "webhook", "webhook": {
        "down": {"url": {"secretKeyRef": {"name": "hook", "key": "url"}}},
        "signingSecrets": [{"secretKeyRef": {"name": "hook", "key": "signing"}}]}})
    status = kube.wait_status(CHANNELS, "signed", lambda s: condition(s, "Ready").get("reason")
                              == "InvalidSpec", "Ready=False InvalidSpec")
    assert "spec.webhook.signingSecrets[0]" in condition(status, "Ready")["message"]
    assert "plain-s3cret" not in json.dumps(status)
    assert all("plain-s3cret" not in (e.message or "") for e in kube.events("signed"))
