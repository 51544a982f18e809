"""HeartbeatSilence and HeartbeatCheck.spec.dependsOn against a real control plane, a real
ping server, `hb worker` and a real webhook receiver: a silence mutes the checks of its own
namespace only, counts them and is expired when deleted (the held alert then goes out); a
dependency that is down holds its dependent's alert, and `kubectl get hbc` says why."""

from __future__ import annotations

import re
import uuid as uuidlib
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from hb_controlplane.cluster import ControlPlane
from hb_controlplane.wait import wait_for
from heartbeat_operator import constants
from heartbeat_operator.identity import silence_uuid
from tests.k8s.conftest import delete_namespace
from tests.k8s.test_operator_harness import (
    CLUSTER_SECRET,
    Batch,
    Kube,
    Stack,
    StartOperator,
    condition,
    crds,
    cronjob_body,
    expected_uuid,
    is_ready,
    minutes_ago,
    stack,
    start_operator,
)

__all__ = ["crds", "stack", "start_operator"]

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(240)]

CHECKS, CHANNELS = constants.CHECK_PLURAL, constants.CHANNEL_PLURAL
SILENCES = constants.SILENCE_PLURAL


# -- admission: the schema and its CEL rules ----------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"matchers": ["tag=db"]}, "set endsAt, duration or schedule"),
        ({"schedule": "0 2 * * 0"}, "schedule needs duration"),
        ({"endsAt": "2026-12-06T04:00:00Z", "duration": "2h"},
         "endsAt and duration exclude each other"),
        ({"duration": "2h", "timeZone": "Europe/Berlin"}, "timeZone applies to schedule only"),
        ({"startsAt": "2026-12-06T04:00:00Z", "endsAt": "2026-12-06T02:00:00Z"},
         "endsAt must be after startsAt"),
        ({"endsAt": "tomorrow"}, "endsAt in body must be of type date-time"),
        ({"duration": "2d"}, "should match"),
        ({"duration": "0s"}, "must be longer than 0s"),
        ({"duration": "1h", "matchers": ["namespace=other"]}, "no namespace matchers"),
        ({"duration": "1h", "matchers": ["just words"]}, "should match"),
        ({"duration": "1h", "matchers": ["tag=a"] * 20}, "must have at most 19 items"),
    ],
)
def test_heartbeatsilence_admission_refuses(crds: ControlPlane, kube_api: client.ApiClient,
                                            namespace: str, spec: dict[str, Any],
                                            message: str) -> None:
    with pytest.raises(client.ApiException) as info:
        Kube(kube_api, namespace).create(SILENCES, "bad", spec)
    assert info.value.status == 422, info.value.body
    assert message in str(info.value.body)


def test_heartbeatsilence_is_explained_and_listed(crds: ControlPlane, kube_api: client.ApiClient,
                                                  namespace: str) -> None:
    Kube(kube_api, namespace).create(SILENCES, "window", {
        "schedule": "0 2 * * 0", "duration": "2h", "timeZone": "Europe/Berlin",
        "matchers": ['name=~"etl-.*"', "label:app!=web"], "comment": "weekly maintenance"})
    # Discovery and OpenAPI publish a new CRD a moment after it is established.
    explained = wait_for(lambda: crds.kubectl("explain", "hbs.spec.matchers", check=False),
                         30, 0.5, "kubectl explain hbs")
    assert "amtool" in explained
    header = crds.kubectl("get", "hbs", "-n", namespace).splitlines()[0].split()
    assert header == ["NAME", "STATE", "MATCHED", "STARTS", "ENDS", "SCHEDULE", "AGE"]


# -- silences -----------------------------------------------------------------------------------


@pytest.fixture
def other_namespace(start_operator: StartOperator, kube_api: client.ApiClient
                    ) -> Iterator[str]:
    """A second namespace; its objects are deleted while the operator still runs (this
    fixture ends before start_operator's), then the namespace goes."""
    name = f"t-{uuidlib.uuid4().hex[:10]}"
    core = client.CoreV1Api(kube_api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
        name=name, labels={"hb-test": "true"})))
    yield name
    kube = Kube(kube_api, name)
    kube.delete_all_and_wait(timeout=30)
    kube.strip_finalizers()
    delete_namespace(core, name, timeout=0)


def hook_channel(kube: Kube, stack: Stack, token: str) -> None:
    """An AlertChannel posting to the receiver under /hook/<token>."""
    kube.secret("hooks", {"url": f"{stack.receiver.url}/hook/{token}"})
    kube.create(CHANNELS, "hook", {"kind": "webhook", "webhook": {"down": {
        "url": {"secretKeyRef": {"name": "hooks", "key": "url"}},
        "body": "$NAME is $STATUS"}}})


def go_down(kube: Kube, stack: Stack, name: str) -> str:
    """Ping the check up, then make its last ping 117 s old: it goes down in seconds."""
    uuid = expected_uuid(kube.ns, name)
    assert stack.http.get(f"{stack.url}/ping/{uuid}", timeout=10).text == "OK"
    kube.wait_status(CHECKS, name, lambda s: s.get("state") == "up", "up")
    stack.ping_at(uuid, minutes_ago(117 / 60))
    kube.wait_status(CHECKS, name, lambda s: s.get("state") == "down", "down")
    return uuid


def held_down_flip(stack: Stack, uuid: str) -> dict[str, Any] | None:
    """The check's latest down flip once the notifier has held its alert."""
    flips = stack.api("GET", f"/checks/{uuid}/flips/").json()["flips"]
    down = [f for f in flips if f["up"] == 0]
    return down[0] if down and down[0].get("held") else None


def test_a_silence_mutes_its_own_namespace_only_and_deleting_it_expires_it(
        start_operator: StartOperator, other_namespace: str, stack: Stack, crds: ControlPlane,
        kube_api: client.ApiClient, namespace: str) -> None:
    start_operator("--standalone", HB_NAMESPACES=f"{namespace},{other_namespace}")
    here, there = Kube(kube_api, namespace), Kube(kube_api, other_namespace)
    token_here, token_there = uuidlib.uuid4().hex, uuidlib.uuid4().hex
    for kube, token in ((here, token_here), (there, token_there)):
        hook_channel(kube, stack, token)
        kube.create(CHECKS, "pg-backup", {"period": "1m", "grace": "1m", "channels": ["hook"],
                                          "tags": ["db"]}, labels={"app": "pg"})
    here.create(CHECKS, "web", {"period": "1m", "tags": ["web"]})
    for kube, name in ((here, "pg-backup"), (there, "pg-backup"), (here, "web")):
        kube.wait_status(CHECKS, name, lambda s: is_ready(s) and s.get("channels") is not None,
                         "Ready")

    # The other namespace's pg-backup has the same tag and label: only the namespace differs.
    here.create(SILENCES, "pg-upgrade", {"matchers": ["tag=db", "label:app=pg"],
                                         "duration": "1h", "comment": "pg upgrade"})
    silence = here.wait_status(SILENCES, "pg-upgrade", lambda s: is_ready(s)
                               and s.get("state") == "active", "Ready and active")
    sid = silence_uuid(CLUSTER_SECRET, namespace, "pg-upgrade")
    assert silence["silenceID"] == sid
    assert silence["matchedChecks"] == 1  # pg-backup here; not web, not the other namespace
    assert silence["matchers"] == ['tag="db"', 'label:app="pg"', f'namespace="{namespace}"']
    assert silence["startsAt"] and silence["endsAt"]
    server = stack.api("GET", f"/silences/{sid}").json()
    assert (server["comment"], server["state"], server["duration"]) == ("pg upgrade", "active",
                                                                        3600)
    created = str((here.get(SILENCES, "pg-upgrade") or {})["metadata"]["creationTimestamp"])
    assert server["starts_at"].startswith(created.removesuffix("Z"))  # not "now" per upsert

    # kubectl get hbc shows the silenced check as such; the other namespace's is not.
    muted = here.wait_status(CHECKS, "pg-backup", lambda s: s.get("muted"), "muted")
    assert muted["muted"] == f'silenced by "pg upgrade" ({sid})'
    assert "muted" not in there.status(CHECKS, "pg-backup")
    assert "muted" not in here.status(CHECKS, "web")
    table = crds.kubectl("get", "hbc", "-n", namespace)
    assert "MUTED" in table.splitlines()[0] and 'silenced by "pg upgrade"' in table

    # Both go down: the other namespace alerts, this one's alert is held.
    uuid_here = go_down(here, stack, "pg-backup")
    go_down(there, stack, "pg-backup")
    alert = stack.receiver.wait_for(1, f"/hook/{token_there}", timeout=30)[0]
    assert alert.body.decode() == f"{other_namespace}/pg-backup is down"
    flip = wait_for(lambda: held_down_flip(stack, uuid_here), 30, 0.2, "held down flip")
    assert "pg upgrade" in flip["held"]
    assert stack.receiver.received(f"/hook/{token_here}") == []

    # Deleted: the silence is expired on the ping server, and the held alert goes out.
    here.delete(SILENCES, "pg-upgrade")
    here.wait_gone(SILENCES, "pg-upgrade")
    expired = stack.api("GET", f"/silences/{sid}").json()
    assert expired["state"] == "expired"
    alert = stack.receiver.wait_for(1, f"/hook/{token_here}", timeout=30)[0]
    assert alert.body.decode() == f"{namespace}/pg-backup is down"
    here.wait_status(CHECKS, "pg-backup", lambda s: "muted" not in s, "no longer muted")
    assert len(stack.receiver.received(f"/hook/{token_there}")) == 1


def test_a_refused_silence_names_the_field(start_operator: StartOperator, stack: Stack,
                                           kube_api: client.ApiClient, namespace: str) -> None:
    """An invalid regex passes the schema; the ping server refuses it (400) and the Ready
    condition names the field, with the server's message; a fix makes it Ready."""
    kube = Kube(kube_api, namespace)
    start_operator("--standalone")
    kube.create(SILENCES, "broken", {"matchers": ["tag=db", 'name=~"etl-("'],
                                     "duration": "1h"})
    status = kube.wait_status(SILENCES, "broken", lambda s: condition(s, "Ready").get(
        "reason") == "InvalidSpec", "Ready=False InvalidSpec")
    message = condition(status, "Ready")["message"]
    assert message.startswith("spec.matchers[1]: the ping server refused the spec: ")
    assert "invalid regex" in message
    assert "silenceID" not in status
    sid = silence_uuid(CLUSTER_SECRET, namespace, "broken")
    assert stack.api("GET", f"/silences/{sid}").status_code == 404
    assert kube.wait_event("broken", "InvalidSpec").type == "Warning"

    kube.patch_spec(SILENCES, "broken", {"matchers": ["tag=db", 'name=~"etl-.*"']})
    status = kube.wait_status(SILENCES, "broken", is_ready, "Ready after the fix")
    assert status["state"] == "active" and status["matchedChecks"] == 0
    server = stack.api("GET", f"/silences/{sid}").json()
    assert server["matchers"][1] == {"name": "name",
                                     "value": re.escape(f"{namespace}/") + "(?:etl-.*)",
                                     "isRegex": True, "isEqual": True}


# -- dependencies -----------------------------------------------------------------------------


def test_depends_on_holds_the_dependents_alert(start_operator: StartOperator, stack: Stack,
                                               crds: ControlPlane, kube_api: client.ApiClient,
                                               namespace: str) -> None:
    kube = Kube(kube_api, namespace)
    start_operator("--standalone")
    token = uuidlib.uuid4().hex
    hook_channel(kube, stack, token)
    kube.create(CHECKS, "etl", {"period": "1m", "grace": "1m", "channels": ["hook"],
                                "dependsOn": ["db"]})
    # Its dependency is not there yet: retried, not refused for good.
    waiting = kube.wait_status(CHECKS, "etl", lambda s: condition(s, "Ready").get("reason")
                               == "DependenciesNotReady", "waiting for db")
    assert condition(waiting, "Ready")["message"].startswith("spec.dependsOn: ")
    kube.create(CHECKS, "db", {"period": "1m", "grace": "1m", "channels": ["hook"]})
    db = kube.wait_status(CHECKS, "db", is_ready, "Ready")
    etl = kube.wait_status(CHECKS, "etl", is_ready, "Ready once db is registered")
    server = stack.check(etl["checkID"])
    assert server is not None
    assert server["depends_on"] == [db["checkID"]]
    assert (server["namespace"], server["labels"]) == (namespace, {})

    # db goes down and alerts; etl goes down meanwhile: held, no webhook, and kubectl says why.
    go_down(kube, stack, "db")
    stack.receiver.wait_for(1, f"/hook/{token}", timeout=30)
    uuid = go_down(kube, stack, "etl")
    flip = wait_for(lambda: held_down_flip(stack, uuid), 30, 0.2, "held down flip")
    assert flip["held"] == f"dependency {namespace}_db is down"
    assert [r.body.decode() for r in stack.receiver.received(f"/hook/{token}")] == [
        f"{namespace}/db is down"]
    status = kube.wait_status(CHECKS, "etl", lambda s: s.get("muted"), "muted")
    assert status["muted"] == f"dependency {namespace}_db is down"
    row = next(line for line in crds.kubectl("get", "hbc", "-n", namespace).splitlines()
               if line.startswith("etl "))
    assert "dependency" in row and f"{namespace}_db" in row

    # A cycle is refused for good, naming the field; the ping server keeps the old graph.
    kube.patch_spec(CHECKS, "db", {"dependsOn": ["etl"]})
    refused = kube.wait_status(CHECKS, "db", lambda s: condition(s, "Ready").get("reason")
                               == "InvalidSpec", "cycle refused")
    message = condition(refused, "Ready")["message"]
    assert message.startswith("spec.dependsOn: the ping server refused the spec: ")
    assert "cycle" in message
    server_db = stack.check(db["checkID"])
    assert server_db is not None and server_db["depends_on"] == []


def test_cronjob_annotation_depends_on(start_operator: StartOperator, stack: Stack,
                                       kube_api: client.ApiClient, namespace: str) -> None:
    kube = Kube(kube_api, namespace)
    start_operator("--standalone")
    kube.create(CHECKS, "bucket", {"period": "1h"})
    bucket = kube.wait_status(CHECKS, "bucket", is_ready, "Ready")
    Batch(kube_api, namespace).create_cronjob(cronjob_body("nightly", annotations={
        f"{constants.ANNOTATION_PREFIX}monitor": "true",
        f"{constants.ANNOTATION_PREFIX}depends-on": "bucket"}))
    generated = wait_for(lambda: kube.get(CHECKS, "nightly"), 30, 0.2, "generated check")
    assert generated["spec"]["dependsOn"] == ["bucket"]
    status = kube.wait_status(CHECKS, "nightly", is_ready, "Ready")
    server = stack.check(status["checkID"])
    assert server is not None and server["depends_on"] == [bucket["checkID"]]
    assert server["labels"][constants.LABEL_MANAGED_BY] == constants.MANAGED_BY
