"""Defects of issue #15 on the real control plane: Ready only once every channel is attached,
a first start reports the flips of its first seconds, and Kopf's routine lines are DEBUG."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import requests
from kubernetes import client

from hb_controlplane.cluster import ControlPlane
from hb_controlplane.wait import wait_for
from heartbeat_operator import constants
from heartbeat_operator import kube as operator_kube
from tests.k8s.test_operator_harness import (
    Kube,
    Stack,
    StartOperator,
    condition,
    crds,
    is_ready,
    stack,
    start_operator,
    write_yaml,
)

__all__ = ["crds", "stack", "start_operator"]

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(240)]

CHECKS, CHANNELS = constants.CHECK_PLURAL, constants.CHANNEL_PLURAL
PAIRS = 6  # check + channel pairs per apply, each a chance for the race; before the fix
ROUNDS = 5  # it was hit in about half of the applies, so in nearly every run of the test


def test_ready_only_once_every_channel_is_attached(
        start_operator: StartOperator, stack: Stack, crds: ControlPlane,
        kube_api: client.ApiClient, namespace: str, tmp_path: Path) -> None:
    """`kubectl apply` of checks and their channels at once: a check is never Ready while the
    ping server's check lacks the channel, and ends Ready with it."""
    kube = Kube(kube_api, namespace)
    start_operator("--standalone")
    for round_ in range(ROUNDS):
        names = [f"r{round_}-{i}" for i in range(PAIRS)]
        docs: list[dict[str, Any]] = []
        for name in names:
            docs += [
                {"apiVersion": "heartbeat.dev/v1alpha1", "kind": "AlertChannel",
                 "metadata": {"name": f"mail-{name}"},
                 "spec": {"kind": "email", "email": {"to": f"ops-{name}@example.com"}}},
                {"apiVersion": "heartbeat.dev/v1alpha1", "kind": "HeartbeatCheck",
                 "metadata": {"name": f"job-{name}"},
                 "spec": {"period": "1h", "channels": [f"mail-{name}"]}}]
        manifest = write_yaml(tmp_path / f"round-{round_}.yaml", *docs)
        crds.kubectl("apply", "-n", namespace, "-f", str(manifest))
        wait_for(partial(watch_ready, kube, stack, namespace, names), 60, 0.05,
                 f"round {round_}: every check Ready with its channel")
        for name in names:
            assert kube.status(CHECKS, f"job-{name}")["channels"] == [f"mail-{name}"]
    # And it stays so: no older upsert without the channel lands later.
    assert watch_ready(kube, stack, namespace, [f"r{r}-{i}" for r in range(ROUNDS)
                                                for i in range(PAIRS)])


def watch_ready(kube: Kube, stack: Stack, namespace: str, names: list[str]) -> bool:
    """True once all `job-<name>` are Ready; fails at a Ready one whose ping server check
    lacks the channel `mail-<name>`."""
    statuses = {name: kube.status(CHECKS, f"job-{name}") for name in names}
    # The ping server's channels by name (an AlertChannel's status may lag behind them), read
    # after the statuses: a check Ready then had its channel created before.
    channel_ids = {c["name"]: c["id"] for c in stack.api("GET", "/channels/").json()[
        "channels"]}
    ready = 0
    for name, status in statuses.items():
        if not is_ready(status):
            continue
        server = stack.check(status["checkID"]) or {}
        wanted = channel_ids.get(f"k8s:{namespace}/mail-{name}")
        served = str(server.get("channels") or "").split(",")
        assert wanted and wanted in served, (
            f"job-{name} is Ready, but the ping server's check has channels {served!r}, not "
            f"{wanted!r}; status: {status}")
        ready += 1
    return ready == len(names)


def test_not_ready_names_the_reason_until_the_channel_exists(
        start_operator: StartOperator, stack: Stack, kube_api: client.ApiClient,
        namespace: str) -> None:
    kube = Kube(kube_api, namespace)
    start_operator("--standalone")
    kube.create(CHECKS, "sync", {"period": "1h", "channels": ["later"]})
    status = kube.wait_status(CHECKS, "sync", lambda s: condition(s, "Ready").get("reason")
                              == constants.REASON_CHANNELS_PENDING, "ChannelsNotReady")
    assert condition(status, "Ready")["status"] == "False"
    assert "later" in condition(status, "Ready")["message"]
    assert (stack.check(status["checkID"]) or {}).get("channels") == ""  # pings work already
    kube.create(CHANNELS, "later", {"kind": "email", "email": {"to": "ops@example.com"}})
    channel = kube.wait_status(CHANNELS, "later", lambda s: s.get("channelID"), "registered")
    kube.wait_status(CHECKS, "sync", is_ready, "Ready once the channel exists", timeout=20)
    assert (stack.check(status["checkID"]) or {})["channels"] == channel["channelID"]


def test_a_first_start_reports_the_flips_of_its_first_seconds(
        start_operator: StartOperator, stack: Stack, kube_api: client.ApiClient,
        namespace: str) -> None:
    """No stored cursor: a check registered and pinged before the background loop first reads
    the feed still gets its CheckUp Event, once; a restart replays nothing. The loop is held
    back by creating the state ConfigMap without the labels its daemon is bound to."""
    kube = Kube(kube_api, namespace)
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=constants.STATE_CONFIGMAP)))
    first = start_operator("--standalone", name="first", wait_feed=False)
    kube.create(CHECKS, "early", {"period": "1h"})
    status = kube.wait_status(CHECKS, "early", is_ready, "Ready")
    assert requests.get(status["pingURL"], timeout=10).text == "OK"
    wait_for(lambda: (stack.check(status["checkID"]) or {}).get("status") == "up", 30, 0.2,
             "the check up on the ping server")
    assert "flips feed" not in first.output()  # the flip is older than the loop's first read

    core.patch_namespaced_config_map(constants.STATE_CONFIGMAP, namespace, {
        "metadata": {"labels": operator_kube.state_labels()}})
    first.wait_log("flips feed: ready")
    assert kube.wait_event("early", "CheckUp").type == "Normal"
    kube.wait_status(CHECKS, "early", lambda s: s.get("state") == "up", "up")
    assert first.stop() == 0

    second = start_operator("--standalone", name="second")
    assert "resumed from the stored cursor" in second.output()
    kube.create(CHECKS, "marker", {"period": "1h"})  # a later handled object: the replay is done
    kube.wait_status(CHECKS, "marker", is_ready, "Ready")
    second.wait_log("flips feed: ready")
    assert kube.event_reasons("early").count("CheckUp") == 1


ROUTINE = re.compile(r"\[INFO\s*\].*(Handler '[^']+' succeeded\.|is processed: )")
OBJECTS = 20


def test_kopf_routine_lines_are_debug_and_warnings_stay(
        start_operator: StartOperator, kube_api: client.ApiClient, namespace: str) -> None:
    kube = Kube(kube_api, namespace)
    for i in range(OBJECTS):
        kube.create(CHECKS, f"c-{i}", {"period": "1h"})
    kube.create(CHECKS, "broken", {"period": "1h", "dependsOn": ["nope"]})
    operator = start_operator("--standalone")
    for i in range(OBJECTS):
        kube.wait_status(CHECKS, f"c-{i}", is_ready, "Ready")
    kube.wait_status(CHECKS, "broken", lambda s: condition(s, "Ready").get("reason")
                     == constants.REASON_DEPENDENCIES_PENDING, "DependenciesNotReady")
    # A failing handler keeps its level.
    operator.wait_log(f"[{namespace}/broken] Handler 'check_upsert' failed temporarily")
    assert operator.stop() == 0
    lines = operator.output().splitlines()
    assert [line for line in lines if ROUTINE.search(line)] == []
    per_object = [line for line in lines if "[INFO" in line and f"[{namespace}/" in line]
    assert per_object == [], "INFO lines per object:\n" + "\n".join(per_object)
    assert any("[ERROR" in line and "failed temporarily" in line for line in lines)


def test_verbose_shows_the_routine_lines_as_debug(
        start_operator: StartOperator, kube_api: client.ApiClient, namespace: str) -> None:
    kube = Kube(kube_api, namespace)
    kube.create(CHECKS, "one", {"period": "1h"})
    operator = start_operator("--standalone", "--verbose")
    kube.wait_status(CHECKS, "one", is_ready, "Ready")
    operator.wait_log(f"[{namespace}/one] Handler 'check_upsert' succeeded.")
    line = next(line for line in operator.output().splitlines()
                if f"[{namespace}/one] Handler 'check_upsert' succeeded." in line)
    assert "[DEBUG" in line
