"""Two operator replicas with Kopf peering; the active one is killed with SIGKILL in the middle
of a batch: the standby takes over within the peering lifetime, every HeartbeatCheck becomes
Ready, no check is duplicated, every CheckUp Event comes exactly once, and the CronJob run in
flight is reported as its ledger allows (each signal once, or twice when the kill fell between
the ping and the ledger write).

The takeover time (the kill -> the standby's first handled object) is printed:
`.venv/bin/python -m pytest tests/k8s/test_operator_ha.py -s -q` (docs/operator.md, "High
availability", has the figures)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
import requests
from kubernetes import client

from hb_controlplane.wait import wait_for
from heartbeat_operator import constants
from tests.k8s.test_operator_cronjobs import pings
from tests.k8s.test_operator_harness import (
    Batch,
    Kube,
    OperatorProcess,
    Stack,
    StartOperator,
    crds,
    cronjob_body,
    expected_uuid,
    is_ready,
    stack,
    start_operator,
)

__all__ = ["crds", "stack", "start_operator"]

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(300)]

CHECKS = constants.CHECK_PLURAL
LIFETIME = 10  # HB_PEERING_LIFETIME: the longest a dead replica is taken for alive
BATCH = 40
P = constants.ANNOTATION_PREFIX


def handled(operator: OperatorProcess, namespace: str, prefix: str) -> int:
    """How many objects named `prefix`* the replica has handled (its --verbose log)."""
    needle = f"[{namespace}/{prefix}"
    return sum(1 for line in operator.output().splitlines()
               if needle in line and "Handler 'check_upsert' succeeded" in line)


def peers(kube_api: client.ApiClient, namespace: str) -> dict[str, dict[str, Any]]:
    """The replicas' records in the peering object: identity -> {priority, lifetime, ...}."""
    body: dict[str, Any] = client.CustomObjectsApi(  # type: ignore[assignment]
        kube_api).get_namespaced_custom_object(
        constants.PEERING_GROUP, constants.PEERING_VERSION, namespace,
        constants.PEERING_PLURAL, constants.PEERING_NAME)
    return dict(body.get("status") or {})


def test_kill_9_of_the_active_replica_mid_batch(
        start_operator: StartOperator, stack: Stack, kube_api: client.ApiClient,
        namespace: str) -> None:
    kube, batch = Kube(kube_api, namespace), Batch(kube_api, namespace)
    env = {"HB_PEERING_LIFETIME": f"{LIFETIME}s"}
    active = start_operator("--priority=100", "--verbose", name="active", **env)
    active.wait_log("Resuming operations after the pause")
    standby = start_operator("--priority=50", "--verbose", name="standby", wait_feed=False,
                             **env)
    wait_for(lambda: len(peers(kube_api, namespace)) == 2, 30, 0.3, "both replicas peering")
    # Each replica announces the configured lifetime: the others take it over that long after
    # its last keep-alive (Kopf's default is 60 s).
    assert sorted((p["priority"], p["lifetime"]) for p in peers(kube_api, namespace).values()
                  ) == [(50, LIFETIME), (100, LIFETIME)]

    # Before the kill: a monitored CronJob with a run in flight, and checks whose first ping
    # (new -> up, a CheckUp Event each) is being reported around the kill.
    batch.create_cronjob(cronjob_body("nightly", annotations={f"{P}monitor": "true"}))
    pinged = [f"up-{i}" for i in range(3)]
    for name in pinged:
        kube.create(CHECKS, name, {"period": "1h"})
    urls = {name: kube.wait_status(CHECKS, name, is_ready, "Ready")["pingURL"]
            for name in pinged}
    kube.wait_status(CHECKS, "nightly", is_ready, "the generated check Ready")
    job = str(batch.run("nightly").metadata.name)  # type: ignore[union-attr]
    for name in pinged[:2]:
        assert requests.get(urls[name], timeout=10).text == "OK"

    for i in range(BATCH):
        kube.create(CHECKS, f"b-{i}", {"period": "1h"})
    wait_for(lambda: handled(active, namespace, "b-") >= 3, 60, 0.02,
             "the active replica in the middle of the batch")
    active.proc.kill()
    killed_at = time.monotonic()
    active.proc.wait(10)
    done_before = handled(active, namespace, "b-")
    assert done_before < BATCH, "the batch was finished before the kill: nothing to take over"
    assert requests.get(urls[pinged[2]], timeout=10).text == "OK"  # while nobody acts

    # The standby takes over: it resumes every object, the rest of the batch included.
    # Within the lifetime of the dead replica's last keep-alive, plus the standby's resync.
    wait_for(lambda: handled(standby, namespace, "") > 0, LIFETIME + 30, 0.05,
             "the standby's first handled object")
    takeover = time.monotonic() - killed_at
    print(f"\ntakeover: {takeover:.1f} s after kill -9 (HB_PEERING_LIFETIME={LIFETIME}s; "
          f"{done_before}/{BATCH} of the batch done before the kill)")
    assert "Resuming operations after the pause" in standby.output()
    for i in range(BATCH):
        kube.wait_status(CHECKS, f"b-{i}", is_ready, "Ready after the takeover")
    for name in pinged:
        kube.wait_status(CHECKS, name, lambda s: s.get("state") == "up", "up")

    # No duplicates on the ping server.
    slugs = Counter(c["slug"] for c in stack.checks())
    assert {s: n for s, n in slugs.items() if n > 1} == {}
    assert sum(1 for s in slugs if s.startswith(f"{namespace}_b-")) == BATCH

    # The run in flight: reported by whichever replica saw it, as the ledger allows.
    batch.wait_ledger(job, "start,success")
    kinds = Counter(p["type"] for p in pings(stack, expected_uuid(namespace, "nightly")))
    assert 1 <= kinds["start"] <= 2 and 1 <= kinds["success"] <= 2, kinds

    # Every CheckUp exactly once: wait for all, then for a later flip handled by the standby
    # (the feed is read in order), then count.
    for name in pinged:
        kube.wait_event(name, "CheckUp")
    kube.create(CHECKS, "marker", {"period": "1h"})
    marker = kube.wait_status(CHECKS, "marker", is_ready, "Ready")
    assert requests.get(marker["pingURL"], timeout=10).text == "OK"
    kube.wait_event("marker", "CheckUp")
    assert {name: kube.event_reasons(name).count("CheckUp") for name in pinged} == {
        name: 1 for name in pinged}
