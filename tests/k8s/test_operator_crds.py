"""The CRDs on a real kube-apiserver: what admission refuses (schema, patterns, CEL rules),
what it defaults, what `kubectl explain` says and which printer columns `kubectl get` shows.
No operator runs here: all of this is the API server's doing."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from hb_controlplane.cluster import ControlPlane
from heartbeat_operator import constants
from tests.k8s.test_operator_harness import Kube, crds

__all__ = ["crds"]

pytestmark = pytest.mark.k8s

CHECKS, CHANNELS = constants.CHECK_PLURAL, constants.CHANNEL_PLURAL
SECRET_REF = {"secretKeyRef": {"name": "hooks", "key": "url"}}


def refused(kube: Kube, plural: str, spec: dict[str, Any]) -> str:
    with pytest.raises(client.ApiException) as info:
        kube.create(plural, "bad", spec)
    assert info.value.status == 422, info.value.body
    return str(info.value.body)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "exactly one of schedule and period must be set"),
        ({"schedule": "0 3 * * *", "period": "1h"}, "exactly one of schedule and period"),
        ({"period": "30s"}, "must be between 1m and 8760h"),
        ({"period": "1d"}, "should match"),
        ({"period": "5m", "grace": "soon"}, "should match"),
        ({"period": "5m", "grace": "9000h"}, "must be between 1m and 8760h"),
        ({"period": "5m", "maxRuntime": "10s"}, "must be 0s, or between 1m and 8760h"),
        ({"period": "5m", "repeatEvery": "5min"}, "should match"),
        ({"period": "5m", "timeZone": "Europe/Berlin"}, "timeZone applies to schedule only"),
        ({"schedule": "0 3 * * *", "timeZone": "not a zone"}, "should match"),
        ({"schedule": "@often"}, "unknown macro"),
        ({"period": "5m", "defaultFail": True}, "defaultFail needs filterBody"),
        ({"period": "5m", "deletionPolicy": "Orphan"}, "Unsupported value"),
        ({"period": "5m", "methods": "GET"}, "Unsupported value"),
        ({"period": "5m", "tags": ["two words"]}, "should match"),
        ({"period": "5m", "tags": ["x" * 100] * 6}, "at most 500 characters"),
        ({"period": "5m", "failureKeywords": ["a,b"]}, "should match"),
        ({"period": "5m", "startKeywords": ["x" * 150, "y" * 60]}, "at most 200 characters"),
        ({"period": "5m", "failureThreshold": 0}, "should be greater than or equal to 1"),
        ({"period": "5m", "channels": ["Not_A_Name"]}, "should match"),
        ({"period": "5m", "channelSelector": {"matchExpressions": [
            {"key": "a", "operator": "Near"}]}}, "Unsupported value"),
    ],
)
def test_heartbeatcheck_admission_refuses(crds: ControlPlane, kube_api: client.ApiClient,
                                          namespace: str, spec: dict[str, Any],
                                          message: str) -> None:
    assert message in refused(Kube(kube_api, namespace), CHECKS, spec)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "webhook"}, "webhook must be set exactly when kind is webhook"),
        ({"kind": "email", "webhook": {"down": {"url": SECRET_REF}}},
         "email must be set exactly when kind is email"),
        ({"kind": "webhook", "webhook": {}}, "set down, up or both"),
        ({"kind": "webhook", "webhook": {"down": {"url": "https://hooks.example/x"}}},
         "must be of type object"),
        ({"kind": "webhook", "webhook": {"down": {"url": {"secretKeyRef": {"name": "x"}}}}},
         "Required value"),
        ({"kind": "webhook", "webhook": {"down": {"url": SECRET_REF, "headers": [
            {"name": "X-Token", "value": "plain"}]}}}, "Required value"),
        ({"kind": "email", "email": {"to": "not an address"}}, "should match"),
        ({"kind": "apprise", "apprise": {"urls": []}}, "should have at least 1 items"),
        ({"kind": "pigeon"}, "Unsupported value"),
    ],
)
def test_alertchannel_admission_refuses(crds: ControlPlane, kube_api: client.ApiClient,
                                        namespace: str, spec: dict[str, Any],
                                        message: str) -> None:
    assert message in refused(Kube(kube_api, namespace), CHANNELS, spec)


def test_valid_objects_are_accepted_with_defaults(crds: ControlPlane, kube_api: client.ApiClient,
                                                  namespace: str) -> None:
    kube = Kube(kube_api, namespace)
    check = kube.create(CHECKS, "full", {
        "schedule": "30 2 * * 1-5", "timeZone": "America/Argentina/Buenos_Aires",
        "maxRuntime": "45m", "channels": ["ops", "pager.v2"],
        "channelSelector": {"matchLabels": {"team": "a"}}, "tags": ["prod"],
        "description": "ETL", "paused": False, "manualResume": True, "methods": "POST",
        "filterBody": True, "defaultFail": True, "startKeywords": ["begin"],
        "successKeywords": ["ok"], "failureKeywords": ["ERROR", "FATAL"],
        "alertOnLate": True, "repeatEvery": "1h", "failureThreshold": 3,
        "deletionPolicy": "Retain"})
    assert check["spec"]["grace"] == "1h"  # defaulted
    minimal = kube.create(CHECKS, "minimal", {"period": "1h30m"})
    assert minimal["spec"] == {"period": "1h30m", "grace": "1h", "deletionPolicy": "Delete"}
    zero = kube.create(CHECKS, "zero", {"period": "5m", "maxRuntime": "0s",
                                        "repeatEvery": "0s"})
    assert zero["spec"]["maxRuntime"] == "0s"
    email = kube.create(CHANNELS, "mail", {"kind": "email", "email": {
        "to": "ops@example.com, oncall@example.com"}})
    assert email["spec"]["email"] == {"to": "ops@example.com, oncall@example.com",
                                      "up": True, "down": True}
    hook = kube.create(CHANNELS, "hook", {"kind": "webhook", "webhook": {"up": {
        "url": SECRET_REF, "headers": [{"name": "Authorization", **SECRET_REF}]}}})
    assert hook["spec"]["webhook"]["up"]["method"] == "POST"
    kube.strip_finalizers()


def test_status_is_a_subresource(crds: ControlPlane, kube_api: client.ApiClient,
                                 namespace: str) -> None:
    """A user's update of the main resource cannot set status."""
    kube = Kube(kube_api, namespace)
    kube.create(CHECKS, "s", {"period": "5m"})
    kube.custom.patch_namespaced_custom_object(
        constants.GROUP, constants.VERSION, namespace, CHECKS, "s",
        {"status": {"state": "up"}}, _content_type="application/merge-patch+json")
    assert kube.status(CHECKS, "s") == {}


@pytest.mark.parametrize(
    ("path", "words"),
    [("heartbeatcheck", ["dead man's switch", "status.pingURL"]),
     ("hbc.spec.schedule", ["cron", "OnCalendar", "timeZone"]),
     ("hbc.spec.period", ["90s", "5m", "1h30m"]),
     ("hbc.spec.deletionPolicy", ["Retain"]),
     ("hbc.status.slugURL", ["heartbeat-ping-key"]),
     ("hbc.status.conditions", ["Ready", "Healthy"]),
     ("alertchannel.spec.webhook.down.url", ["Secret"]),
     ("hbac.spec.kind", ["webhook", "email", "apprise"])],
)
def test_kubectl_explain_describes_the_fields(crds: ControlPlane, path: str,
                                              words: list[str]) -> None:
    text = " ".join(crds.kubectl("explain", path).split())
    for word in words:
        assert word in text


def test_printer_columns(crds: ControlPlane, kube_api: client.ApiClient,
                         namespace: str) -> None:
    kube = Kube(kube_api, namespace)
    kube.create(CHECKS, "cols", {"period": "5m"})
    kube.create(CHANNELS, "hook", {"kind": "webhook", "webhook": {"down": {"url": SECRET_REF}}})
    narrow = crds.kubectl("get", "hbc", "-n", namespace).splitlines()[0].split()
    assert narrow == ["NAME", "STATE", "SCHEDULE", "LAST", "PING", "MUTED", "AGE"]
    wide = crds.kubectl("get", "heartbeatchecks", "-n", namespace, "-o", "wide").splitlines()[0]
    for column in ("NEXT DEADLINE", "LAST DURATION", "READY", "PING URL"):
        assert column in wide
    channels = crds.kubectl("get", "hbac", "-n", namespace, "-o", "wide").splitlines()[0]
    assert channels.split()[:4] == ["NAME", "KIND", "READY", "AGE"]
    assert "CHANNEL ID" in channels and "LAST ERROR" in channels
    both = crds.kubectl("get", "heartbeat", "-n", namespace)  # the category
    assert "heartbeatcheck.heartbeat.dev/cols" in both
    assert "alertchannel.heartbeat.dev/hook" in both
